//! Simulated trials: valid against the example plans, reproducible, and centred on the
//! design's effects.

use std::collections::BTreeMap;
use std::path::PathBuf;

use evidentia_trial::dataset::{Disposition, TrialDataset};
use evidentia_trial::simulate::{Design, simulate};
use evidentia_trial::{AnalysisPlan, TrialError};

fn plan(design: Design) -> AnalysisPlan {
    let dir = match design {
        Design::CpRct => "cp-rct",
        Design::Ards => "ards",
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(dir)
        .join("plan.toml");
    AnalysisPlan::load(&path).unwrap()
}

#[test]
fn simulated_data_pass_validation_against_the_example_plans() {
    for design in [Design::CpRct, Design::Ards] {
        let plan = plan(design);
        for seed in [1, 2, 20170819] {
            let ds = simulate(design, seed).unwrap();
            let files = ds.to_csv();
            let loaded = match TrialDataset::from_csv(&files, &plan) {
                Ok(d) => d,
                Err(e) => panic!("{design:?} seed {seed}: {e}"),
            };
            // What was written is what is read back.
            assert_eq!(loaded, ds);
        }
    }
}

#[test]
fn cp_design_has_the_published_shape() {
    let ds = simulate(Design::CpRct, 20170819).unwrap();
    assert_eq!(ds.participants.len(), 72);
    let arm_n = |arm: &str| ds.arm_participants(arm).count();
    assert_eq!(arm_n("Control") + arm_n("UCT-MSC"), 72);
    assert!(arm_n("Control").abs_diff(arm_n("UCT-MSC")) <= 6);
    let count = |d: Disposition| {
        ds.participants
            .iter()
            .filter(|p| p.disposition == d)
            .count()
    };
    assert_eq!(count(Disposition::LostToFollowUp), 3);
    assert_eq!(count(Disposition::WithdrewConsent), 2);
    assert_eq!(count(Disposition::Completed), 67);
    // Adverse events as reported: fever 0/2, irritability 3/6, headache 1/5,
    // low back pain 0/8, vomiting 0/1 (control/UCT-MSC), none serious.
    let arm_of: BTreeMap<&str, &str> = ds
        .participants
        .iter()
        .map(|p| (p.id.as_str(), p.arm.as_str()))
        .collect();
    let mut by_term: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for ae in &ds.adverse_events {
        *by_term
            .entry((ae.term.as_str(), arm_of[ae.participant_id.as_str()]))
            .or_default() += 1;
        assert!(!ae.serious);
    }
    let expect = [
        (("fever", "UCT-MSC"), 2),
        (("headache", "Control"), 1),
        (("headache", "UCT-MSC"), 5),
        (("irritability", "Control"), 3),
        (("irritability", "UCT-MSC"), 6),
        (("low back pain", "UCT-MSC"), 8),
        (("vomiting", "UCT-MSC"), 1),
    ];
    assert_eq!(by_term, expect.into_iter().collect());
    let screening = ds.screening.as_ref().unwrap();
    assert_eq!(screening.len(), 321);
    assert_eq!(
        screening
            .iter()
            .filter(|s| s.participant_id.is_some())
            .count(),
        72
    );
    // Two completers have no 12-month MRI; the dropouts have nothing after their last visit.
    let mri_12 = ds
        .measurements
        .iter()
        .filter(|m| m.outcome == "cst_fa" && m.visit == "T4")
        .count();
    assert_eq!(mri_12, 65);
}

#[test]
fn ards_design_has_the_published_shape() {
    let ds = simulate(Design::Ards, 5).unwrap();
    assert_eq!(ds.participants.len(), 20);
    assert_eq!(ds.arm_participants("Control").count(), 10);
    assert_eq!(ds.arm_participants("UC-MSC").count(), 10);
    let died: Vec<&str> = ds
        .participants
        .iter()
        .filter(|p| p.disposition == Disposition::Died)
        .map(|p| p.arm.as_str())
        .collect();
    assert_eq!(died.iter().filter(|a| **a == "UC-MSC").count(), 2);
    assert_eq!(died.len(), 3);
    let outcomes: std::collections::BTreeSet<&str> =
        ds.measurements.iter().map(|m| m.outcome.as_str()).collect();
    assert_eq!(outcomes.len(), 9);
    assert!(ds.screening.is_none());
}

#[test]
fn a_fixed_seed_reproduces_byte_identical_files() {
    for design in [Design::CpRct, Design::Ards] {
        let a = simulate(design, 42).unwrap().to_csv();
        let b = simulate(design, 42).unwrap().to_csv();
        assert_eq!(a, b);
        let c = simulate(design, 43).unwrap().to_csv();
        assert_ne!(a.measurements, c.measurements);
        // Written to disk, the files hold exactly those bytes.
        let dir = std::env::temp_dir().join(format!(
            "evidentia-trial-sim-{}-{design:?}",
            std::process::id()
        ));
        let written = simulate(design, 42).unwrap().write(&dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(&written[1]).unwrap(),
            a.measurements
        );
        let reloaded = TrialDataset::load(&dir, &plan(design)).unwrap();
        assert_eq!(reloaded.to_csv(), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Mean change from the first visit per (outcome, arm, visit) over participants observed
/// at both, pooled over several seeds, with its standard error.
fn mean_changes(
    design: Design,
    seeds: std::ops::Range<u64>,
) -> BTreeMap<(String, String, String), (f64, f64)> {
    let first = design.visits()[0].0;
    let mut acc: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for seed in seeds {
        let ds = simulate(design, seed).unwrap();
        let arm: BTreeMap<&str, &str> = ds
            .participants
            .iter()
            .map(|p| (p.id.as_str(), p.arm.as_str()))
            .collect();
        let mut base: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for m in ds.measurements.iter().filter(|m| m.visit == first) {
            base.insert((m.participant_id.as_str(), m.outcome.as_str()), m.value);
        }
        for m in ds.measurements.iter().filter(|m| m.visit != first) {
            if let Some(b) = base.get(&(m.participant_id.as_str(), m.outcome.as_str())) {
                acc.entry((
                    m.outcome.clone(),
                    arm[m.participant_id.as_str()].to_string(),
                    m.visit.clone(),
                ))
                .or_default()
                .push(m.value - b);
            }
        }
    }
    acc.into_iter()
        .map(|(k, v)| {
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (k, (mean, (var / n).sqrt()))
        })
        .collect()
}

#[test]
fn sample_mean_changes_lie_near_the_design_effects() {
    for design in [Design::CpRct, Design::Ards] {
        let observed = mean_changes(design, 100..120);
        let arms = [design.control_arm(), design.treated_arm()];
        let mut checked = 0;
        for model in design.outcomes() {
            let truth = model.true_changes();
            for (k, visit) in model.visits.iter().enumerate().skip(1) {
                for (a, arm) in arms.iter().enumerate() {
                    let key = (model.name.to_string(), arm.to_string(), visit.to_string());
                    let (mean, se) = observed[&key];
                    // Clipping to the range (MAS near 4, PEDI near 0) biases a little:
                    // allow 4.5 standard errors plus 2 % of the range.
                    let tol = 4.5 * se + 0.02 * (model.range[1] - model.range[0]).min(10.0);
                    assert!(
                        (mean - truth[a][k]).abs() < tol,
                        "{design:?} {key:?}: mean change {mean} vs design {} (tol {tol})",
                        truth[a][k]
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 18);
    }
    // The headline between-arm differences of the CP design, from one trial-sized sample.
    let one = mean_changes(Design::CpRct, 7..8);
    let diff = |o: &str, v: &str| {
        one[&(o.into(), "UCT-MSC".into(), v.into())].0
            - one[&(o.into(), "Control".into(), v.into())].0
    };
    assert!(
        (diff("gmfm66", "T4") - 8.0).abs() < 4.0,
        "{}",
        diff("gmfm66", "T4")
    );
    assert!(
        (diff("gmfm66", "T3") - 11.9).abs() < 4.0,
        "{}",
        diff("gmfm66", "T3")
    );
    assert!(
        (diff("mas", "T4") + 0.72).abs() < 0.3,
        "{}",
        diff("mas", "T4")
    );
}

#[test]
fn unknown_design_is_an_error() {
    let e = Design::parse("sepsis").unwrap_err();
    assert!(matches!(e, TrialError::InvalidArgument { .. }));
    assert!(e.to_string().contains("cp-rct or ards"));
}
