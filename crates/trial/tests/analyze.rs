//! `analysis::analyze` on simulated trials: effect recovery and agreement with the
//! statistics crate called directly.

use std::path::PathBuf;

use evidentia_stats::Alternative;
use evidentia_stats::design::Coding;
use evidentia_stats::gee::{self, CorrStructure, GeeOptions};
use evidentia_stats::ttest::{self, Variance};
use evidentia_trial::analysis::{self, TrialResults, arm_contrast, gee_formula_text};
use evidentia_trial::plan::MissingData;
use evidentia_trial::simulate::{Design, simulate};
use evidentia_trial::{AnalysisPlan, TrialDataset};

fn plan(name: &str) -> AnalysisPlan {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}/plan.toml"));
    AnalysisPlan::load(&p).unwrap()
}

fn cp(missing: MissingData) -> (TrialDataset, AnalysisPlan, TrialResults) {
    let mut plan = plan("cp-rct");
    plan.missing_data = missing;
    let ds = simulate(Design::CpRct, 11).unwrap();
    let res = analysis::analyze(&ds, &plan).unwrap();
    (ds, plan, res)
}

#[test]
fn complete_case_recovers_the_gmfm_effect() {
    let (_, _, res) = cp(MissingData::CompleteCase);
    let g = res.endpoints.iter().find(|o| o.name == "gmfm66").unwrap();
    let t4 = g.visits.iter().find(|v| v.visit == "T4").unwrap();
    println!("{:?}", t4.between);
    // Design: treated +9.2 vs control +1.2 at 12 months.
    assert!(
        (t4.between.estimate - 8.0).abs() < 3.0,
        "{}",
        t4.between.estimate
    );
    assert!(t4.between.ci[0] < 8.0 && t4.between.ci[1] > 8.0);
    assert!(t4.between.p_value < 0.01);
    assert!((t4.within[1].change.estimate - 9.2).abs() < 3.0);
    assert!((t4.within[0].change.estimate - 1.2).abs() < 3.0);
    let d = t4.effect_size.as_ref().unwrap();
    assert!(d.value > 0.5 && d.ci[0] < d.value && d.value < d.ci[1]);
}

#[test]
fn multiple_imputation_recovers_the_gmfm_effect_and_is_deterministic() {
    let mi = MissingData::MultipleImputation { m: 5, seed: 3 };
    let (_, _, res) = cp(mi.clone());
    let (_, _, again) = cp(mi);
    let g = res.endpoints.iter().find(|o| o.name == "gmfm66").unwrap();
    let t4 = g.visits.iter().find(|v| v.visit == "T4").unwrap();
    assert!(
        (t4.between.estimate - 8.0).abs() < 3.0,
        "{}",
        t4.between.estimate
    );
    assert!(t4.between.test.contains("Rubin"));
    assert_eq!(
        serde_json::to_string(&res).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    // Intention to treat: every randomized participant is analysed.
    assert_eq!(res.consort.arms[0].analysed, res.consort.arms[0].randomized);
}

#[test]
fn table_numbers_equal_the_stats_crate_called_directly() {
    let (ds, plan, res) = cp(MissingData::CompleteCase);
    // Table 1: age by arm, t test or Mann–Whitney as recorded.
    let age = res.table1.iter().find(|v| v.name == "age_months").unwrap();
    let xs = |arm: &str| -> Vec<f64> {
        ds.arm_participants(arm)
            .map(|p| p.attributes["age_months"].parse().unwrap())
            .collect()
    };
    let (c, t) = (xs("Control"), xs("UCT-MSC"));
    let test = age.test.as_ref().unwrap();
    let p = if test.test.contains("t test") {
        ttest::independent(&c, &t, Variance::Pooled, Alternative::TwoSided, 0.95)
            .unwrap()
            .p_value
    } else {
        evidentia_stats::ranks::mann_whitney(&c, &t, &Default::default())
            .unwrap()
            .p_value
    };
    assert_eq!(test.p_value, p);
    assert!((age.summaries[0].mean - evidentia_stats::descriptive::mean(&c)).abs() < 1e-12);

    // Endpoint: the GEE β of GMFM-66 at T2 (third visit) from gee_formula on the same frame.
    let (ids, treated, values, covs) = analysis::outcome_table(&ds, &plan, "gmfm66").unwrap();
    let frame = analysis::change_frame(&ids, &treated, &values, &covs).unwrap();
    let options = GeeOptions {
        correlation: CorrStructure::Exchangeable,
        ..GeeOptions::default()
    };
    let (design, fit) = gee::gee_formula(
        &gee_formula_text(4, covs[0].len()),
        &frame,
        "id",
        Some("time"),
        Coding::First,
        &options,
    )
    .unwrap();
    let l = arm_contrast(&design.column_names, 2).unwrap();
    let beta: f64 = l
        .iter()
        .zip(&fit.coefficients)
        .map(|(a, c)| a * c.estimate)
        .sum();
    let g = res.endpoints.iter().find(|o| o.name == "gmfm66").unwrap();
    assert_eq!(g.visits[1].visit, "T2");
    assert!((g.visits[1].between.estimate - beta).abs() < 1e-12);

    // Paired-by-visit endpoint: within-arm paired t of CST FA equals ttest::paired.
    let (_, treated, values, _) = analysis::outcome_table(&ds, &plan, "cst_fa").unwrap();
    let (mut base, mut t4) = (Vec::new(), Vec::new());
    for (r, &tr) in values.iter().zip(&treated) {
        if tr && !r[0].is_nan() && !r[1].is_nan() {
            base.push(r[0]);
            t4.push(r[1]);
        }
    }
    let pt = ttest::paired(&t4, &base, Alternative::TwoSided, 0.95).unwrap();
    let fa = res.endpoints.iter().find(|o| o.name == "cst_fa").unwrap();
    assert!((fa.visits[0].within[1].change.p_value - pt.p_value).abs() < 1e-12);
    assert!((fa.visits[0].within[1].change.estimate - pt.estimate).abs() < 1e-12);
}

#[test]
fn safety_and_consort_count_the_dataset() {
    let (ds, _, res) = cp(MissingData::CompleteCase);
    let n: u64 = res.safety.n_per_arm.iter().sum();
    assert_eq!(n as usize, ds.participants.len());
    let any: u64 = res.safety.any_event.participants.iter().sum();
    let mut who: Vec<&str> = ds
        .adverse_events
        .iter()
        .map(|e| e.participant_id.as_str())
        .collect();
    who.sort_unstable();
    who.dedup();
    assert_eq!(any as usize, who.len());
    assert_eq!(res.consort.randomized, ds.participants.len());
    let left = ds
        .participants
        .iter()
        .filter(|p| p.disposition != evidentia_trial::dataset::Disposition::Completed)
        .count();
    let counted: usize = res
        .consort
        .arms
        .iter()
        .map(|a| a.lost_to_follow_up + a.discontinued)
        .sum();
    assert_eq!(counted, left);
    if let Some(s) = &ds.screening {
        assert_eq!(res.consort.assessed, Some(s.len()));
    }
}

#[test]
fn the_ards_trial_analyses_too() {
    let plan = plan("ards");
    let ds = simulate(Design::Ards, 5).unwrap();
    let res = analysis::analyze(&ds, &plan).unwrap();
    assert_eq!(res.endpoints.len(), plan.outcomes.len());
    assert!(res.endpoints.iter().all(|o| !o.visits.is_empty()));
}
