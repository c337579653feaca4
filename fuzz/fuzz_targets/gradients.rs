//! Fuzzes the FSL bval/bvec parser: the input is split at the first NUL byte into the
//! bval and bvec texts. Run with `cargo +nightly fuzz run gradients` from `fuzz/`.
#![no_main]

use evidentia_dti::gradients::{GradientOptions, GradientTable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (bval, bvec) = text.split_once('\0').unwrap_or((&text, ""));
    if let Ok(g) = GradientTable::from_fsl_text(bval, bvec, &GradientOptions::default()) {
        let _ = g.b0_indices();
        let _ = g.shells();
        let _ = g.b_matrix();
        let affine = [[-2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0]];
        let _ = g.to_world(&affine);
    }
});
