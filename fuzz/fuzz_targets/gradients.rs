//! Fuzzes the FSL bval/bvec parser (body: `evidentia_dti::fuzz_harness::gradient_texts`,
//! also run in smoke mode by the stable tests). Run with `cargo +nightly fuzz run gradients`
//! from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| evidentia_dti::fuzz_harness::gradient_texts(data));
