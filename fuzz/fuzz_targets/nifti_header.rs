//! Fuzzes the NIfTI header parser, the affine resolution and a bounded whole-image decode
//! (body: `evidentia_dti::fuzz_harness::nifti_bytes`, also run in smoke mode by the stable
//! tests). Run with `cargo +nightly fuzz run nifti_header` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| evidentia_dti::fuzz_harness::nifti_bytes(data));
