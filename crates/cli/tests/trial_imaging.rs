//! The simulated CP trial's imaging outcomes come from simulated scans measured by the DTI
//! pipeline (`crates/cli/src/trial_imaging.rs`): close to the drawn truth, identical on any
//! thread count, and named as such in the outputs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{dir, s};
use serde_json::Value;

/// `trial simulate --design cp-rct --seed 9` with RAYON_NUM_THREADS = `threads`.
fn simulate(out: &Path, threads: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "trial",
        "simulate",
        "--design",
        "cp-rct",
        "--seed",
        "9",
        "--out",
        s(out),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = Command::new(env!("CARGO_BIN_EXE_evidentia"))
        .args(&args)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// (participant, visit, outcome) → value.
fn values(path: &Path) -> BTreeMap<(String, String, String), f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("participant_id,visit,time,outcome,value")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[0].to_string(), f[1].to_string(), f[3].to_string()),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn imaging_outcomes_are_measured_on_simulated_scans() {
    let root = dir("trial-imaging");
    let (one, two, drawn) = (root.join("t1"), root.join("t2"), root.join("drawn"));
    let v1 = simulate(&one, "1", &[]);
    simulate(&two, "2", &[]);
    let vd = simulate(&drawn, "2", &["--drawn-imaging"]);
    // Identical on 1 and 2 threads, byte for byte.
    for f in ["participants.csv", "measurements.csv", "adverse_events.csv"] {
        assert!(
            std::fs::read(one.join(f)).unwrap() == std::fs::read(two.join(f)).unwrap(),
            "{f} differs between 1 and 2 threads"
        );
    }
    let im = &v1["imaging"];
    assert!(
        im["source"].as_str().unwrap().contains("DTI pipeline"),
        "{im}"
    );
    assert_eq!(vd["imaging"], Value::Null);
    assert_eq!(im["side_mismatches"], 0);
    assert_eq!(im["missing_values"], 0);
    let (measured, truth) = (
        values(&one.join("measurements.csv")),
        values(&drawn.join("measurements.csv")),
    );
    // The same rows; only the imaging values differ.
    assert_eq!(
        measured.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>()
    );
    let imaging = ["cst_fa", "cst_md", "ptr_fa", "ptr_md"];
    let (mut n, mut changed, mut worst_fa, mut worst_md) = (0, 0, 0.0f64, 0.0f64);
    for (k, &m) in &measured {
        let t = truth[k];
        if !imaging.contains(&k.2.as_str()) {
            assert_eq!(m, t, "{k:?} is not an imaging outcome and must not change");
            continue;
        }
        n += 1;
        changed += usize::from(m != t);
        if k.2.ends_with("_fa") {
            worst_fa = worst_fa.max((m - t).abs());
            // Stated tolerance of the pipeline on these scans: |ΔFA| ≤ 0.015.
            assert!((m - t).abs() <= 0.015, "{k:?}: measured {m}, simulated {t}");
        } else {
            worst_md = worst_md.max((m - t).abs() / t);
            // |ΔMD| ≤ 1.5 % (MD in 10⁻³ mm²/s).
            assert!(
                (m - t).abs() <= 0.015 * t,
                "{k:?}: measured {m}, simulated {t}"
            );
        }
    }
    // Two imaging visits for most of the 72 participants, four outcomes each.
    assert_eq!(n, 4 * im["scans"].as_u64().unwrap() as usize);
    assert!(n > 4 * 120, "{n}");
    // Measured, not copied: (nearly) every value differs from the drawn one.
    assert!(changed * 10 > n * 9, "{changed} of {n} changed");
    eprintln!("largest |dFA| {worst_fa:.4}, largest relative |dMD| {worst_md:.4}");
    assert!((im["max_abs_fa_error"].as_f64().unwrap() - worst_fa).abs() < 1e-3);
    std::fs::remove_dir_all(&root).unwrap();
}
