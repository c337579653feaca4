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
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}/plan.toml"));
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
    assert!((t4.between.estimate - 8.0).abs() < 3.0, "{}", t4.between.estimate);
    assert!(t4.between.ci[0] < 8.0 && t4.between.ci[1] > 8.0);
    assert!(t4.between.p_value < 0.01);
    assert!((t4.within[1].change.estimate - 9.2).abs() < 3.0);
    assert!((t4.within[0].change.estimate - 1.2).abs() < 3.0);
    let d = t4.effect_size.as_ref().unwrap();
    assert!(d.value > 0.5 && d.ci[0] < d.value && d.value < d.ci[1]);
}
