//! The gradient table on known truth: layouts, NaN rows, jittered shells, frames, errors.

use evidentia_dti::gradients::{BvecLayout, Frame, GradientOptions, GradientTable};
use proptest::prelude::*;

fn table(bvals: &str, bvecs: &str) -> GradientTable {
    GradientTable::from_fsl_text(bvals, bvecs, &GradientOptions::default()).expect("valid table")
}

#[test]
fn both_bvec_layouts_give_the_same_table() {
    let bvals = "0 1000 1000 1000 2000";
    let three_by_n = "0 1 0 0 0.6\n0 0 1 0 0.8\n0 0 0 1 0";
    let n_by_three = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n0.6 0.8 0";
    let a = table(bvals, three_by_n);
    let b = table(bvals, n_by_three);
    assert_eq!(a.layout(), BvecLayout::ThreeByN);
    assert_eq!(b.layout(), BvecLayout::NByThree);
    assert_eq!(a.bvecs(), b.bvecs());
    assert_eq!(a.frame(), Frame::FslImage);
}

#[test]
fn dipy_small_dataset_quirks() {
    // As DIPY's small_64D: N×3 bvecs with a NaN row for the b0, and a lowest b of 15
    // (a b0 under the 50 s/mm² threshold), commas and blank lines tolerated.
    let bvals = "15\n1000\n1000\n";
    let bvecs = "nan nan nan\n\n1,0,0\n0,0.7071067811865476,0.7071067811865476\n";
    let g = table(bvals, bvecs);
    assert_eq!(g.b0_mask(), vec![true, false, false]);
    assert_eq!(g.bvecs()[0], [0.0; 3]);
    assert!(g.warnings().iter().any(|w| w.contains("NaN")));
}

#[test]
fn jittered_b_values_form_one_shell() {
    let bvals = "0 990 1001 995 2000 2010 5 3000";
    let bvecs = "0 1 0 0 1 0 0 1\n0 0 1 0 0 1 0 0\n0 0 0 1 0 0 0 0";
    let g = table(bvals, bvecs);
    let shells = g.shells();
    assert_eq!(shells.len(), 3);
    assert_eq!(shells[0].volumes, vec![1, 2, 3]);
    assert_eq!(shells[0].range, [990.0, 1001.0]);
    assert!((shells[0].bvalue - 995.3333333333334).abs() < 1e-12);
    assert_eq!(shells[1].volumes, vec![4, 5]);
    assert_eq!(shells[2].volumes, vec![7]);
    assert_eq!(g.b0_indices(), vec![0, 6]);
}

#[test]
fn far_from_unit_vectors_are_normalized_with_a_warning() {
    let g = table("0 1000 1000", "0 2 0.995\n0 0 0\n0 0 0");
    assert_eq!(g.bvecs()[1], [1.0, 0.0, 0.0]);
    assert_eq!(g.bvecs()[2], [1.0, 0.0, 0.0]);
    assert_eq!(g.warnings().len(), 1, "{:?}", g.warnings());
    assert!(g.warnings()[0].contains("volume 1"));
}

#[test]
fn b_matrix_rows() {
    let s = 0.5f64.sqrt();
    let g = table("0 1000", &format!("0 {s}\n0 {s}\n0 0"));
    let m = g.b_matrix();
    assert_eq!(m[0], [0.0; 6]);
    let want = [500.0, 500.0, 0.0, 1000.0, 0.0, 0.0];
    for (a, b) in m[1].iter().zip(want) {
        assert!((a - b).abs() < 1e-9, "{:?}", m[1]);
    }
}

#[test]
fn world_directions_do_not_depend_on_the_storage_orientation() {
    // The same physical acquisition stored neurologically (det > 0, FSL flips x) and
    // radiologically (det < 0): FSL writes the same bvecs, and both must map to the
    // same world direction.
    let g = table("0 1000 1000", "0 1 0.6\n0 0 0.8\n0 0 0");
    let neuro = [
        [2.0, 0.0, 0.0, -90.0],
        [0.0, 2.0, 0.0, -120.0],
        [0.0, 0.0, 2.0, -60.0],
    ];
    let radio = [
        [-2.0, 0.0, 0.0, 90.0],
        [0.0, 2.0, 0.0, -120.0],
        [0.0, 0.0, 2.0, -60.0],
    ];
    let a = g.to_world(&neuro).unwrap();
    let b = g.to_world(&radio).unwrap();
    assert_eq!(a.frame(), Frame::WorldRas);
    for (u, v) in a.bvecs().iter().zip(b.bvecs()) {
        for k in 0..3 {
            assert!((u[k] - v[k]).abs() < 1e-15);
        }
    }
    assert_eq!(a.bvecs()[1], [-1.0, 0.0, 0.0]);
    // A 90° rotation about z moves image x to world y.
    let rot = [
        [0.0, -2.0, 0.0, 0.0],
        [2.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
    ];
    let c = g.to_world(&rot).unwrap();
    let v = c.bvecs()[1];
    assert!(
        (v[0]).abs() < 1e-15 && (v[1] + 1.0).abs() < 1e-15 && v[2].abs() < 1e-15,
        "{v:?}"
    );
}

#[test]
fn bad_input_names_the_problem() {
    let opts = GradientOptions::default();
    let err = |bvals: &str, bvecs: &str| {
        GradientTable::from_fsl_text(bvals, bvecs, &opts)
            .unwrap_err()
            .to_string()
    };
    assert!(err("0 1000 x", "0 1 0\n0 0 1\n0 0 0").contains("line 1: 'x' is not a number"));
    assert!(err("0 1000 1000", "0 1\n0 0\n0 0").contains("expected 3 rows of 3 values"));
    assert!(err("0 0 10", "0 0 0\n0 0 0\n0 0 0").contains("no diffusion weighting"));
    assert!(err("0 -5 1000", "0 1 0\n0 0 1\n0 0 0").contains("non-negative"));
    assert!(err("0 1000", "0 0\n0 0\n0 0").contains("zero-length"));
    assert!(err("0 1000", "0 nan\n0 0\n0 0").contains("NaN direction"));
    assert!(err("", "").contains("no b-values"));
    let g = GradientTable::from_fsl_text("0 1000", "0 1\n0 0\n0 0", &opts).unwrap();
    let singular = [
        [1.0, 1.0, 0.0, 0.0],
        [1.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    assert!(
        g.to_world(&singular)
            .unwrap_err()
            .to_string()
            .contains("not invertible")
    );
}

proptest! {
    #[test]
    fn parser_never_panics(a in "[0-9 .,\\-nae\n]{0,60}", b in "[0-9 .,\\-nae\n]{0,120}") {
        let _ = GradientTable::from_fsl_text(&a, &b, &GradientOptions::default());
        // Smoke mode of the cargo-fuzz target `gradients` (same body).
        evidentia_dti::fuzz_harness::gradient_texts(format!("{a}\0{b}").as_bytes());
    }

    #[test]
    fn fuzz_target_gradients_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        evidentia_dti::fuzz_harness::gradient_texts(&bytes);
    }

    #[test]
    fn directions_are_unit_or_zero(v in prop::collection::vec((-2.0f64..2.0, -2.0f64..2.0, -2.0f64..2.0), 1..20)) {
        let n = v.len() + 1;
        let bvals = std::iter::once("0".to_string()).chain((1..n).map(|_| "1000".to_string())).collect::<Vec<_>>().join(" ");
        let rows: Vec<String> = std::iter::once("0 0 0".to_string()).chain(v.iter().map(|(x, y, z)| format!("{x} {y} {z}"))).collect();
        if let Ok(g) = GradientTable::from_fsl_text(&bvals, &rows.join("\n"), &GradientOptions::default()) {
            for (i, d) in g.bvecs().iter().enumerate().skip(1) {
                let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                prop_assert!((len - 1.0).abs() < 1e-12, "volume {i}: {d:?}");
            }
        }
    }
}

#[test]
fn motion_rotation_rotates_the_b_matrix() {
    use evidentia_dti::gradients::{GradientOptions, GradientTable};
    let g = GradientTable::from_fsl_text(
        "0 1000 1000",
        "0 1 0\n0 0 1\n0 0 0",
        &GradientOptions::default(),
    )
    .unwrap();
    // 90° about z for volume 1, identity elsewhere.
    let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let rz = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
    let r = g.rotated(&[id, rz, id]).unwrap();
    let v = r.bvecs();
    assert!(
        (v[1][0]).abs() < 1e-15 && (v[1][1] - 1.0).abs() < 1e-15,
        "{:?}",
        v[1]
    );
    assert_eq!(v[2], g.bvecs()[2]);
    // B' = R B Rᵀ: the (Dyy) entry of volume 1 carries the whole b-value.
    let b = r.b_matrix();
    assert!((b[1][1] - 1000.0).abs() < 1e-9 && b[1][0].abs() < 1e-9);
    // Wrong count and improper rotations are errors.
    assert!(g.rotated(&[id, id]).is_err());
    let reflect = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let e = g.rotated(&[id, reflect, id]).unwrap_err().to_string();
    assert!(
        e.contains("volume 1") && e.contains("not a proper rotation"),
        "{e}"
    );
}

#[test]
fn in_memory_arrays_equal_the_same_files() {
    let bvals = [0.0, 1000.0, 995.0, 1005.0, 0.0];
    let bvecs = [
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [
            0.0,
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
        ],
        [0.1, -0.2, 0.974_679_434_480_896_4],
        [0.0, 0.0, 0.0],
    ];
    let opts = GradientOptions::default();
    let a = GradientTable::from_arrays(&bvals, &bvecs, &opts).unwrap();
    let b = table(
        "0 1000 995 1005 0",
        "0 1 0 0.1 0\n0 0 0.7071067811865476 -0.2 0\n0 0 0.7071067811865476 0.9746794344808964 0",
    );
    assert_eq!(a.bvals(), b.bvals());
    assert_eq!(a.bvecs(), b.bvecs());
    assert_eq!(a.b0_indices(), vec![0, 4]);
    // The same checks as the file path: a count mismatch is an error, not a panic.
    assert!(GradientTable::from_arrays(&bvals, &bvecs[..4], &opts).is_err());
}
