//! NIfTI reader/writer against nibabel 5.4.2's reading of the fixtures made by
//! `tools/reference/make_nifti_fixtures.py` (affines to 1e-6, data exactly after rounding
//! nibabel's float64 to f32), DIPY's small datasets, round trips, bad input, and a
//! property test that random or truncated bytes give errors, never panics.

use std::path::{Path, PathBuf};

use evidentia_dti::DtiError;
use evidentia_dti::Volume;
use evidentia_dti::gradients::{GradientOptions, GradientTable};
use evidentia_dti::nifti::{self, NiftiHeader, NiftiVersion, WriteOptions};
use proptest::prelude::*;
use serde_json::Value;

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

fn expected(sub: &str) -> Value {
    let text = std::fs::read_to_string(fixtures(sub).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_affine(name: &str, got: &[[f64; 4]; 3], want: &Value, tol: f64) {
    for i in 0..3 {
        let row = f64s(&want[i]);
        for j in 0..4 {
            assert!(
                (got[i][j] - row[j]).abs() <= tol,
                "{name}: affine[{i}][{j}] = {} but nibabel says {}",
                got[i][j],
                row[j]
            );
        }
    }
    assert_eq!(f64s(&want[3]), vec![0.0, 0.0, 0.0, 1.0]);
}

fn dims_of(shape: &[f64]) -> [usize; 4] {
    let mut d = [1usize; 4];
    for (i, &s) in shape.iter().enumerate() {
        d[i] = s as usize;
    }
    d
}

#[test]
fn fixtures_match_nibabel() {
    let exp = expected("nifti");
    assert_eq!(exp["nibabel"], "5.4.2");
    let images = exp["images"].as_object().unwrap();
    assert!(images.len() >= 25, "fixture set is incomplete");
    for (name, e) in images {
        let path = fixtures("nifti").join(name);
        let (hdr, vol) = nifti::read(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        let shape = f64s(&e["shape"]);
        assert_eq!(vol.dims(), dims_of(&shape), "{name}: dims");
        assert_eq!(
            hdr.version,
            if e["version"] == 2 {
                NiftiVersion::Two
            } else {
                NiftiVersion::One
            },
            "{name}"
        );
        assert_eq!(hdr.big_endian, e["big_endian"].as_bool().unwrap(), "{name}");
        assert_eq!(i64::from(hdr.datatype), e["datatype"].as_i64().unwrap());
        assert_eq!(
            i64::from(hdr.effective_sform_code()),
            e["sform_code"].as_i64().unwrap()
        );
        assert_eq!(
            i64::from(hdr.effective_qform_code()),
            e["qform_code"].as_i64().unwrap()
        );
        assert_affine(name, vol.affine(), &e["affine"], 1e-6);
        let want = f64s(&e["data"]);
        assert_eq!(vol.data().len(), want.len(), "{name}: length");
        for (k, (&g, &w)) in vol.data().iter().zip(&want).enumerate() {
            assert!(
                g.to_bits() == (w as f32).to_bits() || (g == 0.0 && w == 0.0),
                "{name}: value {k} is {g}, nibabel gives {w} (f32 {})",
                w as f32
            );
        }
        // The header-only reader sees the same header.
        // (Debug text: NaN scaling fields compare equal there.)
        assert_eq!(
            format!("{:?}", nifti::read_header(&path).unwrap()),
            format!("{hdr:?}"),
            "{name}: header-only read"
        );
    }
}

#[test]
fn complex_and_rgb_are_refused_with_the_file_name() {
    for (file, word) in [
        ("reject_complex64.nii", "complex"),
        ("reject_rgb24.nii", "RGB"),
    ] {
        let err = nifti::read(&fixtures("nifti").join(file))
            .unwrap_err()
            .to_string();
        assert!(err.contains(file) && err.contains(word), "{err}");
    }
}

#[test]
fn dipy_small_datasets_match_nibabel() {
    let exp = expected("dipy");
    assert_eq!(exp["dipy"], "1.12.1");
    for (name, e) in exp["images"].as_object().unwrap() {
        let path = fixtures("dipy").join(name);
        let (hdr, vol) = nifti::read(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(vol.dims(), dims_of(&f64s(&e["shape"])), "{name}");
        assert_eq!(
            i64::from(hdr.effective_sform_code()),
            e["sform_code"].as_i64().unwrap()
        );
        assert_eq!(
            i64::from(hdr.effective_qform_code()),
            e["qform_code"].as_i64().unwrap()
        );
        assert_affine(name, vol.affine(), &e["affine"], 1e-6);
        let idx = f64s(&e["sample_indices"]);
        let vals = f64s(&e["sample_values"]);
        for (&i, &v) in idx.iter().zip(&vals) {
            assert_eq!(vol.data()[i as usize], v as f32, "{name}: voxel {i}");
        }
        // Integer data: every f32 is exact, so the f64 sum is exact too.
        let sum: f64 = vol.data().iter().map(|&v| f64::from(v)).sum();
        assert_eq!(sum, e["sum"].as_f64().unwrap(), "{name}: sum of all values");

        let stem = name.trim_end_matches(".gz").trim_end_matches(".nii");
        let g = GradientTable::from_fsl_files(
            &fixtures("dipy").join(format!("{stem}.bval")),
            &fixtures("dipy").join(format!("{stem}.bvec")),
            &GradientOptions::default(),
        )
        .unwrap();
        assert_eq!(g.len(), vol.n_volumes(), "{name}: gradients vs volumes");
        assert_eq!(g.len() as i64, e["n_bvals"].as_i64().unwrap());
    }
}

#[test]
fn gradient_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bval = dir.path().join("x.bval");
    let bvec = dir.path().join("x.bvec");
    std::fs::write(&bval, "0 1000 abc\n").unwrap();
    std::fs::write(&bvec, "0 1 0\n0 0 1\n0 0 0\n").unwrap();
    let err = GradientTable::from_fsl_files(&bval, &bvec, &GradientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.bval") && err.contains("abc"), "{err}");
    std::fs::write(&bval, "0 1000 1000 1000\n").unwrap();
    let err = GradientTable::from_fsl_files(&bval, &bvec, &GradientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.bvec"), "{err}");
    let missing = dir.path().join("none.bvec");
    let err =
        GradientTable::from_fsl_files(&bval, &missing, &GradientOptions::default()).unwrap_err();
    assert!(matches!(err, DtiError::Io { ref file, .. } if file.contains("none.bvec")));
}

fn oblique() -> [[f64; 4]; 3] {
    let (c, s) = (0.4f64.cos(), 0.4f64.sin());
    [
        [2.0 * c, -2.0 * s, 0.0, -90.5],
        [2.0 * s, 2.0 * c, 0.0, 12.25],
        [0.0, 0.0, -2.5, 30.0],
    ]
}

#[test]
fn writer_round_trips_f32_u8_i16_plain_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let dims = [5, 4, 3, 2];
    let n = 5 * 4 * 3 * 2;
    let f: Vec<f32> = (0..n).map(|i| (i as f32 - 40.0) * 0.37).collect();
    let u: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    let s: Vec<i16> = (0..n).map(|i| (i as i16 - 60) * 311).collect();
    for ext in ["nii", "nii.gz"] {
        let p = dir.path().join(format!("f.{ext}"));
        let vol = Volume::new(dims, oblique(), f.clone()).unwrap();
        nifti::write(&p, &vol, &WriteOptions::default()).unwrap();
        let (hdr, back) = nifti::read(&p).unwrap();
        assert_eq!(back.data(), vol.data());
        assert_eq!(back.dims(), dims);
        assert_eq!(hdr.sform_code, 1);
        assert_eq!(hdr.qform_code, 1);
        for i in 0..3 {
            for j in 0..4 {
                // Stored as f32.
                assert!((back.affine()[i][j] - oblique()[i][j]).abs() < 1e-5);
                // The qform describes the same affine.
                let q = hdr.qform_affine().unwrap();
                assert!((q[i][j] - oblique()[i][j]).abs() < 1e-5, "{q:?}");
            }
        }
        let p = dir.path().join(format!("u.{ext}"));
        let vol = Volume::new(dims, oblique(), u.clone()).unwrap();
        nifti::write(&p, &vol, &WriteOptions::default()).unwrap();
        let (hdr, back) = nifti::read(&p).unwrap();
        assert_eq!(hdr.datatype, 2);
        assert!(back.data().iter().zip(&u).all(|(&a, &b)| a == f32::from(b)));
        let p = dir.path().join(format!("s.{ext}"));
        let vol = Volume::new([5, 4, 3, 1], oblique(), s[..60].to_vec()).unwrap();
        nifti::write(&p, &vol, &WriteOptions::default()).unwrap();
        let (hdr, back) = nifti::read(&p).unwrap();
        assert_eq!((hdr.datatype, hdr.dim[0]), (4, 3));
        assert!(back.data().iter().zip(&s).all(|(&a, &b)| a == f32::from(b)));
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn writer_refuses_a_singular_affine() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = oblique();
    a[2] = [0.0, 0.0, 0.0, 1.0];
    let vol = Volume::new([2, 2, 2, 1], a, vec![0f32; 8]).unwrap();
    let p = dir.path().join("bad.nii");
    assert!(nifti::write(&p, &vol, &WriteOptions::default()).is_err());
    assert!(!p.exists());
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures("nifti").join(name)).unwrap()
}

fn read_err(name: &str, bytes: &[u8]) -> String {
    match nifti::read_from_bytes(name, bytes) {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => {
            let s = e.to_string();
            assert!(s.contains(name), "error does not name the file: {s}");
            s
        }
    }
}

#[test]
fn bad_input_gives_errors_naming_file_and_problem() {
    let good = fixture_bytes("dtype_int16.nii");
    // Truncated data.
    let e = read_err("cut.nii", &good[..good.len() - 3]);
    assert!(e.contains("truncated"), "{e}");
    // Truncated header.
    let e = read_err("cut.nii", &good[..200]);
    assert!(e.contains("truncated header"), "{e}");
    // Bad magic.
    let mut b = good.clone();
    b[344..348].copy_from_slice(b"xyz\0");
    assert!(read_err("magic.nii", &b).contains("magic"));
    // Not NIfTI at all.
    assert!(read_err("text.nii", b"hello world, this is text").contains("sizeof_hdr"));
    // Dimensions out of range.
    let mut b = good.clone();
    b[40..42].copy_from_slice(&9i16.to_le_bytes());
    assert!(read_err("dim.nii", &b).contains("dim[0]"));
    let mut b = good.clone();
    b[44..46].copy_from_slice(&(-3i16).to_le_bytes());
    assert!(read_err("dim.nii", &b).contains("dim[2]"));
    // Header sizes that disagree with the file: a bigger image than the file holds.
    let mut b = good.clone();
    b[42..44].copy_from_slice(&400i16.to_le_bytes());
    assert!(read_err("size.nii", &b).contains("header needs"));
    // vox_offset inside the header.
    let mut b = good.clone();
    b[108..112].copy_from_slice(&100f32.to_le_bytes());
    assert!(read_err("offset.nii", &b).contains("vox_offset"));
    // Non-invertible sform (code 1, all-zero rotation).
    let mut b = good.clone();
    for k in 0..12 {
        b[280 + 4 * k..284 + 4 * k].copy_from_slice(&0f32.to_le_bytes());
    }
    assert!(read_err("affine.nii", &b).contains("not invertible"));

    let gz = fixture_bytes("gz_int16.nii.gz");
    // Truncated gzip.
    let e = read_err("cut.nii.gz", &gz[..gz.len() / 2]);
    assert!(e.contains("gzip") || e.contains("truncated"), "{e}");
    // Corrupt gzip: damage the deflate stream after the header bytes.
    let mut b = gz.clone();
    let mid = b.len() * 2 / 3;
    for v in &mut b[mid..mid + 8] {
        *v ^= 0x5a;
    }
    let e = read_err("bad.nii.gz", &b);
    assert!(e.contains("gzip") || e.contains("truncated"), "{e}");
    // A header claiming far more than the compressed bytes can hold.
    let mut raw = good.clone();
    raw[42..44].copy_from_slice(&32000i16.to_le_bytes());
    raw[44..46].copy_from_slice(&32000i16.to_le_bytes());
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0u8; c.gzip_compress_bound(raw.len())];
    let n = c.gzip_compress(&raw, &mut out).unwrap();
    assert!(read_err("bomb.nii.gz", &out[..n]).contains("more than"));
}

#[test]
fn gzip_with_trailing_bytes_after_the_data_is_read() {
    // One member holding the image plus 1000 extra bytes: libdeflate runs out of room
    // and the streaming fallback takes over.
    let mut raw = fixture_bytes("dtype_float32.nii");
    let (_, want) = nifti::read_from_bytes("x.nii", &raw).unwrap();
    raw.extend(std::iter::repeat_n(7u8, 1000));
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0u8; c.gzip_compress_bound(raw.len())];
    let n = c.gzip_compress(&raw, &mut out).unwrap();
    let (_, got) = nifti::read_from_bytes("x.nii.gz", &out[..n]).unwrap();
    assert_eq!(got, want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Smoke mode of the cargo-fuzz target `nifti_header` (same body).
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        evidentia_dti::fuzz_harness::nifti_bytes(&bytes);
    }

    #[test]
    fn truncations_and_mutations_of_valid_files_never_panic(
        which in 0usize..4,
        cut in 0usize..2000,
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..6),
    ) {
        let name = ["dtype_int16.nii", "nifti2_be_int16_scaled.nii", "gz_int16.nii.gz", "qform_only.nii"][which];
        let mut b = fixture_bytes(name);
        for (pos, v) in flips {
            if pos < b.len() {
                b[pos] ^= v;
            }
        }
        b.truncate(cut.min(b.len()));
        evidentia_dti::fuzz_harness::nifti_bytes(&b);
        if let Ok(h) = NiftiHeader::parse(name, &b) {
            let _ = h.affine();
            let _ = h.slope_inter();
        }
        if let Err(e) = nifti::read_from_bytes(name, &b) {
            prop_assert!(e.to_string().contains(name));
        }
    }
}
