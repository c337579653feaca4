//! Accuracy of the fits on the deterministic phantom (known FA/MD/V1) and robustness of
//! RESTORE/IRLS to corrupted slices.

use evidentia_dti::maps;
use evidentia_dti::phantom::{Corruption, PhantomOptions, generate, labels};
use evidentia_dti::tensor::{FitMethod, FitOptions, NoiseSigma, fit_tensors};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

const CORRUPT_Z: usize = 17;

#[test]
fn wls_accuracy_at_snr_20_and_restore_removes_slice_bias() {
    let dims = [48, 48, 30];
    let ph = generate(&PhantomOptions {
        dims,
        // One slice dropped to ×0.4 in three DW volumes.
        corruptions: [10, 30, 45]
            .iter()
            .map(|&volume| Corruption {
                volume,
                z: CORRUPT_Z,
                factor: 0.4,
            })
            .collect(),
        ..Default::default()
    })
    .unwrap();
    let slab = dims[0] * dims[1];
    let n = ph.mask.len();
    let wm: Vec<bool> = (0..n)
        .map(|i| ph.labels[i] >= labels::WM && ph.fa[i] > 0.2)
        .collect();
    let in_bad = |i: usize| i / slab == CORRUPT_Z;
    let mut bias = Vec::new();
    for (name, method, sigma) in [
        ("ols", FitMethod::Ols, NoiseSigma::PerVoxelMad),
        ("wls", FitMethod::Wls, NoiseSigma::PerVoxelMad),
        ("nlls", FitMethod::Nlls, NoiseSigma::PerVoxelMad),
        ("restore", FitMethod::Restore, NoiseSigma::Background),
        ("irls", FitMethod::Irls, NoiseSigma::Background),
    ] {
        let opts = FitOptions {
            sigma,
            ..FitOptions::with_method(method)
        };
        let fit = fit_tensors(&ph.signals, n, &ph.gtab, Some(&ph.mask), &opts).unwrap();
        assert_eq!(fit.voxels_failed, 0, "{name}");
        let fa = maps::fa(&fit);
        let v1 = maps::v1(&fit);
        let good: Vec<usize> = (0..n).filter(|&i| wm[i] && !in_bad(i)).collect();
        let bad: Vec<usize> = (0..n).filter(|&i| wm[i] && in_bad(i)).collect();
        let dfa = median(
            good.iter()
                .map(|&i| (fa[i] - ph.fa[i]).abs() as f64)
                .collect(),
        );
        let ang = median(
            good.iter()
                .map(|&i| {
                    let d: f64 = (0..3).map(|k| (v1[i][k] * ph.v1[i][k]) as f64).sum();
                    d.abs().min(1.0).acos().to_degrees()
                })
                .collect(),
        );
        let mean_bias = |ix: &[usize]| {
            ix.iter().map(|&i| (fa[i] - ph.fa[i]) as f64).sum::<f64>() / ix.len() as f64
        };
        let mean_err = |ix: &[usize]| {
            ix.iter()
                .map(|&i| (fa[i] - ph.fa[i]).abs() as f64)
                .sum::<f64>()
                / ix.len() as f64
        };
        // The dropout's effect: extra mean |dFA| in the corrupted slice over the others.
        let excess = mean_err(&bad) - mean_err(&good);
        eprintln!(
            "{name}: WM median |dFA| {dfa:.4}, median V1 angle {ang:.2} deg, FA bias in the corrupted slice \
             {:+.4} (elsewhere {:+.4}), mean |dFA| there {:.4} (elsewhere {:.4}, excess {excess:+.4}), \
             sigma {:?}, outliers {}",
            mean_bias(&bad),
            mean_bias(&good),
            mean_err(&bad),
            mean_err(&good),
            fit.sigma,
            fit.total_outliers
        );
        if method == FitMethod::Wls {
            // DIPY on the same kind of phantom: 0.0201 and 2.8 degrees.
            assert!((0.012..0.03).contains(&dfa), "WLS median |dFA| {dfa}");
            assert!((1.5..4.0).contains(&ang), "WLS median V1 angle {ang}");
        }
        bias.push((name, excess));
    }
    let get = |n: &str| bias.iter().find(|b| b.0 == n).unwrap().1;
    // Seen: excess mean |dFA| OLS 0.0058, WLS 0.0142, NLLS 0.0077, RESTORE 0.0030, IRLS 0.0036.
    assert!(
        get("wls") > 0.01,
        "the corruption should bias WLS FA: {}",
        get("wls")
    );
    assert!(
        get("restore").abs() < 0.35 * get("wls"),
        "RESTORE {} vs WLS {}",
        get("restore"),
        get("wls")
    );
    assert!(
        get("irls").abs() < 0.35 * get("wls"),
        "IRLS {} vs WLS {}",
        get("irls"),
        get("wls")
    );
    assert!(
        get("restore").abs() < 0.75 * get("ols"),
        "RESTORE {} vs OLS {}",
        get("restore"),
        get("ols")
    );
}
