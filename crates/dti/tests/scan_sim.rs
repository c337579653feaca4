//! Known-truth test of the simulated scans: the pipeline (WLS fit, tracking with ROIs, tract
//! metrics) measures the bundles' FA and MD close to the values they were built with, the
//! same way on any thread count.

use evidentia_dti::Hemisphere;
use evidentia_dti::scan_sim::{ScanOptions, ScanTruth, TractTruth, simulate_scan};

fn truth(cst: f64, ptr: f64) -> ScanTruth {
    let t = |fa: f64, md: f64| TractTruth { fa, md };
    ScanTruth {
        cst: [t(cst, 0.97e-3), t(cst + 0.03, 0.94e-3)],
        ptr: [t(ptr + 0.03, 1.03e-3), t(ptr, 1.06e-3)],
    }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn measured_tract_values_are_close_to_the_truth() {
    let opts = ScanOptions::default();
    let mut worst = (0.0f64, 0.0f64);
    for (k, (cst, ptr)) in [(0.44, 0.35), (0.36, 0.30), (0.52, 0.40), (0.30, 0.26)]
        .into_iter()
        .enumerate()
    {
        let tr = truth(cst, ptr);
        let m = simulate_scan(&tr, &opts, 100 + k as u64).unwrap();
        let all = [tr.cst[0], tr.cst[1], tr.ptr[0], tr.ptr[1]];
        for (t, want) in m.tracts.iter().zip(all) {
            assert!(
                t.streamlines > 20,
                "{}: {} streamlines",
                t.name,
                t.streamlines
            );
            let fa = t.fa_points.unwrap();
            let md = t.md_points.unwrap();
            eprintln!(
                "{} truth FA {:.4} MD {:.4e}: measured {fa:.4} {md:.4e} ({} streamlines)",
                t.name, want.fa, want.md, t.streamlines
            );
            worst.0 = worst.0.max((fa - want.fa).abs());
            worst.1 = worst.1.max((md - want.md).abs() / want.md);
            // Stated tolerance: |ΔFA| ≤ 0.015 and |ΔMD| ≤ 1.5 % at SNR 30.
            assert!(
                (fa - want.fa).abs() <= 0.015,
                "{}: FA {fa} vs {}",
                t.name,
                want.fa
            );
            assert!(
                (md - want.md).abs() <= 0.015 * want.md,
                "{}: MD {md} vs {}",
                t.name,
                want.md
            );
        }
        // The side built with the lower FA is found as the most affected.
        let (side, fa, _) = m.most_affected("cst").unwrap();
        assert_eq!(side, Hemisphere::Left);
        assert!((fa - cst).abs() <= 0.015);
        let (side, fa, _) = m.most_affected("ptr").unwrap();
        assert_eq!(side, Hemisphere::Right);
        assert!((fa - ptr).abs() <= 0.015);
    }
    eprintln!(
        "largest |dFA| {:.4}, largest relative |dMD| {:.4}",
        worst.0, worst.1
    );
}

#[test]
fn scans_are_identical_on_any_thread_count_and_differ_by_seed() {
    let tr = truth(0.44, 0.35);
    let opts = ScanOptions::default();
    let one = in_pool(1, || simulate_scan(&tr, &opts, 7).unwrap());
    let two = in_pool(2, || simulate_scan(&tr, &opts, 7).unwrap());
    let four = in_pool(4, || simulate_scan(&tr, &opts, 7).unwrap());
    assert_eq!(one, two);
    assert_eq!(one, four);
    let other = simulate_scan(&tr, &opts, 8).unwrap();
    assert_ne!(one.tracts[0].fa_points, other.tracts[0].fa_points);
}

#[test]
fn bad_truth_is_an_error_not_a_panic() {
    let opts = ScanOptions::default();
    let mut tr = truth(0.44, 0.35);
    tr.cst[0].fa = 1.2;
    let e = simulate_scan(&tr, &opts, 1).unwrap_err().to_string();
    assert!(e.contains("cst_left") && e.contains("FA"), "{e}");
    let mut tr = truth(0.44, 0.35);
    tr.ptr[1].md = f64::NAN;
    let e = simulate_scan(&tr, &opts, 1).unwrap_err().to_string();
    assert!(e.contains("ptr_right") && e.contains("MD"), "{e}");
    let bad = ScanOptions {
        snr: 0.0,
        ..ScanOptions::default()
    };
    assert!(simulate_scan(&truth(0.44, 0.35), &bad, 1).is_err());
}
