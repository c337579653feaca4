//! The bodies of the cargo-fuzz targets in `fuzz/fuzz_targets/` (run with a nightly
//! toolchain: `cargo +nightly fuzz run nifti_header`), kept here so that the stable test
//! suite runs the very same code in a short smoke mode on random and mutated inputs
//! (`tests/nifti.rs`, `tests/gradients.rs`). Any input must give a value or an error,
//! never a panic, with allocation bounded by the input.

use crate::gradients::{GradientOptions, GradientTable};
use crate::nifti::{self, NiftiHeader};

/// NIfTI-1/2 header parsing, affine resolution and a bounded whole-image decode (plain or
/// gzip) of arbitrary bytes.
pub fn nifti_bytes(data: &[u8]) {
    if let Ok(h) = NiftiHeader::parse("fuzz.nii", data) {
        let _ = h.affine();
        let _ = h.qform_affine();
        let _ = h.slope_inter();
        let _ = h.n_data_bytes();
    }
    // Inputs of at most 64 kB: the header's claims are bounded by the bytes present (or
    // 1032 times that for gzip), so the read below cannot allocate much.
    if data.len() <= 1 << 16 {
        let _ = nifti::read_from_bytes("fuzz.nii", data);
    }
}

/// FSL bval/bvec parsing of arbitrary bytes, split at the first NUL into the two texts,
/// then every accessor and the conversion to world space.
pub fn gradient_texts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (bval, bvec) = text.split_once('\0').unwrap_or((&text, ""));
    if let Ok(g) = GradientTable::from_fsl_text(bval, bvec, &GradientOptions::default()) {
        let _ = g.b0_indices();
        let _ = g.shells();
        let _ = g.b_matrix();
        let affine = [
            [-2.0, 0.0, 0.0, 1.0],
            [0.0, 2.0, 0.0, 2.0],
            [0.0, 0.0, 2.0, 3.0],
        ];
        let _ = g.to_world(&affine);
    }
}
