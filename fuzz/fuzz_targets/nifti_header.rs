//! Fuzzes the NIfTI header parser, the affine resolution and a bounded whole-image
//! decode from bytes (plain or gzip): any bytes must give a value or an error, never a
//! panic, and allocation stays bounded by the input. Run with
//! `cargo +nightly fuzz run nifti_header` from `fuzz/`.
#![no_main]

use evidentia_dti::nifti::{self, NiftiHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = NiftiHeader::parse("fuzz.nii", data) {
        let _ = h.affine();
        let _ = h.qform_affine();
        let _ = h.slope_inter();
        let _ = h.n_data_bytes();
    }
    // Inputs are at most a few kB, so the header's claims are bounded by the bytes
    // present (or 1032x that for gzip): the read below cannot allocate much.
    if data.len() <= 1 << 16 {
        let _ = nifti::read_from_bytes("fuzz.nii", data);
    }
});
