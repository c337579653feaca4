//! The gradient orientation check on the phantom: the true table scores best, and a table
//! with x negated is detected (the best candidate flips x back). The phantom's smooth
//! orientation field makes the margin small (about 2.5 % in mean length on this grid).

use evidentia_dti::gradcheck::{GradCheckOptions, check_gradients};
use evidentia_dti::gradients::{GradientOptions, GradientTable};
use evidentia_dti::phantom::{PhantomOptions, generate};

fn fsl_text(bvals: &[f64], bvecs: &[[f64; 3]], flip_x: bool) -> (String, String) {
    let bval = bvals
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let rows: Vec<String> = (0..3)
        .map(|k| {
            bvecs
                .iter()
                .map(|g| {
                    let v = if k == 0 && flip_x { -g[0] } else { g[k] };
                    format!("{v:.8}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (bval, rows.join("\n"))
}

#[test]
fn identity_best_and_flipped_x_detected() {
    let ph = generate(&PhantomOptions {
        dims: [48, 48, 30],
        n_dirs: 30,
        n_b0: 3,
        corruptions: vec![],
        ..Default::default()
    })
    .unwrap();
    let opts = GradCheckOptions {
        max_seeds: 400,
        ..Default::default()
    };
    let mut scores = Vec::new();
    for flip in [false, true] {
        let (bval, bvec) = fsl_text(&ph.bvals, &ph.bvecs, flip);
        let g = GradientTable::from_fsl_text(&bval, &bvec, &GradientOptions::default()).unwrap();
        let r = check_gradients(&ph.signals, ph.dims, &ph.affine, &g, &ph.mask, &opts).unwrap();
        assert_eq!(r.combinations.len(), 24);
        assert!(r.seeds > 50, "{} seeds", r.seeds);
        scores.push(r.combinations[r.best].mean_length_mm);
        if flip {
            assert!(!r.given_is_best, "{r:#?}");
            assert_eq!(r.best_label, "xyz, flip -x", "{r:#?}");
            assert!(r.improvement_ratio > 1.01, "{}", r.improvement_ratio);
        } else {
            assert!(r.given_is_best, "{r:#?}");
            assert_eq!(r.best_label, "xyz");
        }
    }
    // Undoing the flip recovers the same tensors, so the same best score.
    assert!(
        (scores[0] - scores[1]).abs() < 1e-3 * scores[0],
        "{scores:?}"
    );
}
