//! The results section of a trial from a validated dataset and its analysis plan:
//! Table 1 (baseline by arm), endpoint tables (within-arm change, between-arm effect
//! from the plan's model, Cohen's d), the safety table, the CONSORT counts and the
//! mean ± SEM trajectories. Every statistic is computed by `evidentia-stats`; this
//! module only arranges the data and records which test was used and why.
//!
//! Two-arm trials only (the plan's control arm against the other arm).

use std::collections::BTreeMap;
use std::path::Path;

use evidentia_stats::contingency::{self, ContingencyTable};
use evidentia_stats::design::{Coding, Column, Frame};
use evidentia_stats::distributions::{normal_quantile, z_p_value};
use evidentia_stats::effect_size::{self, EffectSizeCi};
use evidentia_stats::gee::{self, CorrStructure, GeeOptions};
use evidentia_stats::imputation::{PoolingDf, pool_rubin};
use evidentia_stats::mice::{self, ImputeMethod, MiceColumn, MiceOptions};
use evidentia_stats::mmrm::{self, MmrmOptions};
use evidentia_stats::normality;
use evidentia_stats::ranks::{self, MannWhitneyOptions, WilcoxonOptions};
use evidentia_stats::rm_anova::{self, RmAnovaOptions, RmAnovaResult};
use evidentia_stats::ttest::{self, GroupSummary, Variance};
use evidentia_stats::{Alternative, StatsError, descriptive};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dataset::{DATA_FILES, Disposition, TrialDataset, is_missing};
use crate::error::{TrialError, TrialResult};
use crate::plan::{
    Analysis, AnalysisPlan, CovStructure, CovariateKind, GeeCovariance, MissingData, PairedTest,
    WorkingCorrelation,
};

/// Everything `trial analyze` computes, written to `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResults {
    pub trial: String,
    pub provenance: Provenance,
    /// Control arm first, then the treated arm.
    pub arms: Vec<ArmInfo>,
    pub alpha: f64,
    /// How missing outcome values were handled, in words.
    pub missing_data: String,
    pub table1: Vec<BaselineVariable>,
    pub endpoints: Vec<OutcomeResult>,
    pub trajectories: Vec<Trajectory>,
    pub safety: SafetyTable,
    pub consort: Consort,
}

/// The primary endpoint's between-arm difference at one visit (the printed summary).
#[derive(Debug, Clone, Serialize)]
pub struct PrimaryLine {
    pub outcome: String,
    pub visit: String,
    pub estimate: f64,
    pub ci: [f64; 2],
    pub p_value: f64,
}

impl TrialResults {
    /// The between-arm difference of every primary outcome at each post-baseline visit.
    pub fn primary_lines(&self) -> Vec<PrimaryLine> {
        self.endpoints
            .iter()
            .filter(|o| o.role == "primary")
            .flat_map(|o| {
                o.visits.iter().map(|v| PrimaryLine {
                    outcome: o.label.clone(),
                    visit: v.visit.clone(),
                    estimate: v.between.estimate,
                    ci: v.between.ci,
                    p_value: v.between.p_value,
                })
            })
            .collect()
    }
}

/// Where the numbers came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Provenance {
    pub evidentia_version: String,
    /// SHA-256 of the plan file's bytes.
    pub plan_sha256: String,
    /// SHA-256 of each data file present, in loading order.
    pub inputs: Vec<InputHash>,
    /// Seed of the multiple imputation (absent for complete-case analyses).
    pub seed: Option<u64>,
}

/// One hashed input file.
#[derive(Debug, Clone, Serialize)]
pub struct InputHash {
    pub file: String,
    pub sha256: String,
}

/// One arm and its size.
#[derive(Debug, Clone, Serialize)]
pub struct ArmInfo {
    pub name: String,
    pub label: String,
    pub control: bool,
    pub randomized: usize,
}

/// A test statistic with the test's name and why it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct TestUsed {
    pub test: String,
    pub statistic: f64,
    pub p_value: f64,
    pub reason: String,
}

/// One row group of Table 1.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineVariable {
    pub name: String,
    /// `continuous` or `categorical`.
    pub kind: String,
    /// Continuous: one summary per arm (control first).
    pub summaries: Vec<ArmSummary>,
    /// Categorical: counts per level, one per arm.
    pub levels: Vec<LevelCounts>,
    pub test: Option<TestUsed>,
}

/// Mean (SD) of a continuous baseline variable in one arm.
#[derive(Debug, Clone, Serialize)]
pub struct ArmSummary {
    pub arm: String,
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub median: f64,
    /// Shapiro–Wilk p (absent when n < 3).
    pub shapiro_wilk_p: Option<f64>,
}

/// Counts of one level, per arm, with the column percentages.
#[derive(Debug, Clone, Serialize)]
pub struct LevelCounts {
    pub level: String,
    pub counts: Vec<u64>,
    pub percents: Vec<f64>,
}

/// An estimate with its interval and test.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub estimate: f64,
    pub std_error: f64,
    pub ci: [f64; 2],
    pub p_value: f64,
    /// Degrees of freedom (absent for z-based estimates).
    pub df: Option<f64>,
    /// Participants contributing.
    pub n: usize,
    pub test: String,
}

/// Within-arm mean change from baseline at one visit.
#[derive(Debug, Clone, Serialize)]
pub struct WithinArm {
    pub arm: String,
    pub change: Estimate,
}

/// Cohen's d (treated − control) of the change scores.
#[derive(Debug, Clone, Serialize)]
pub struct EffectSize {
    /// `cohen_d` or `hedges_g`.
    pub method: String,
    pub value: f64,
    pub ci: [f64; 2],
    pub n_control: usize,
    pub n_treated: usize,
}

/// One post-baseline visit of one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct VisitResult {
    pub visit: String,
    pub time: f64,
    /// Control first.
    pub within: Vec<WithinArm>,
    /// Treated − control difference in change from baseline.
    pub between: Estimate,
    /// On the observed change scores.
    pub effect_size: Option<EffectSize>,
}

/// One endpoint table block.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeResult {
    pub name: String,
    pub label: String,
    pub unit: String,
    /// `primary` or `secondary`.
    pub role: String,
    /// The model or tests, in words.
    pub method: String,
    pub visits: Vec<VisitResult>,
    /// Repeated-measures ANOVA on the complete cases (plans with `rm_anova`).
    pub rm_anova: Option<RmAnovaResult>,
}

/// Mean ± SEM of one arm at one visit (observed values).
#[derive(Debug, Clone, Serialize)]
pub struct TrajectoryPoint {
    pub visit: String,
    pub time: f64,
    pub n: usize,
    pub mean: f64,
    pub sem: f64,
}

/// Observed means by visit of one outcome, per arm (control first).
#[derive(Debug, Clone, Serialize)]
pub struct Trajectory {
    pub outcome: String,
    pub label: String,
    pub unit: String,
    /// The plan's unit of the visit times (`months`, `weeks`, ...).
    pub time_unit: String,
    pub arms: Vec<(String, Vec<TrajectoryPoint>)>,
}

/// Participants (and events) with one adverse-event term, per arm.
#[derive(Debug, Clone, Serialize)]
pub struct SafetyRow {
    pub term: String,
    /// Participants with at least one event, per arm (control first).
    pub participants: Vec<u64>,
    /// Number of events, per arm.
    pub events: Vec<u64>,
    /// Fisher's exact test on participants with / without, control vs treated.
    pub fisher_p: Option<f64>,
}

/// Adverse events by arm.
#[derive(Debug, Clone, Serialize)]
pub struct SafetyTable {
    pub arms: Vec<String>,
    pub n_per_arm: Vec<u64>,
    pub any_event: SafetyRow,
    pub serious: SafetyRow,
    pub terms: Vec<SafetyRow>,
}

/// One CONSORT arm column.
#[derive(Debug, Clone, Serialize)]
pub struct ConsortArm {
    pub arm: String,
    pub randomized: usize,
    /// Attended at least one visit.
    pub received: usize,
    pub lost_to_follow_up: usize,
    /// Withdrew consent, died or other.
    pub discontinued: usize,
    /// Reasons for loss and discontinuation, with counts.
    pub reasons: Vec<(String, usize)>,
    pub analysed: usize,
}

/// The CONSORT flow counts.
#[derive(Debug, Clone, Serialize)]
pub struct Consort {
    /// Screened (absent without `screening.csv`).
    pub assessed: Option<usize>,
    pub excluded: Option<usize>,
    pub exclusion_reasons: Vec<(String, usize)>,
    pub randomized: usize,
    pub arms: Vec<ConsortArm>,
}

fn stats_err(context: impl Into<String>) -> impl FnOnce(StatsError) -> TrialError {
    let context = context.into();
    move |source| TrialError::Stats { context, source }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Loads the plan and the dataset (validated: nothing is computed on invalid data),
/// hashes the inputs and runs [`analyze`].
pub fn analyze_files(data_dir: &Path, plan_path: &Path) -> TrialResult<TrialResults> {
    let plan_bytes = std::fs::read(plan_path).map_err(|source| TrialError::Io {
        path: plan_path.to_path_buf(),
        source,
    })?;
    let plan = AnalysisPlan::load(plan_path)?;
    let ds = TrialDataset::load(data_dir, &plan)?;
    let mut inputs = Vec::new();
    for name in DATA_FILES {
        let p = data_dir.join(name);
        if p.exists() {
            let bytes = std::fs::read(&p).map_err(|source| TrialError::Io {
                path: p.clone(),
                source,
            })?;
            inputs.push(InputHash {
                file: name.to_string(),
                sha256: sha256_hex(&bytes),
            });
        }
    }
    let mut res = analyze(&ds, &plan)?;
    res.provenance.plan_sha256 = sha256_hex(&plan_bytes);
    res.provenance.inputs = inputs;
    Ok(res)
}

/// Control and treated arm names of a two-arm plan.
fn two_arms(plan: &AnalysisPlan) -> TrialResult<[String; 2]> {
    if plan.arms.len() != 2 {
        return Err(TrialError::invalid(
            "arms",
            plan.arms.len(),
            "the analysis handles two-arm trials (a control and one treated arm)",
        ));
    }
    let control = plan.control_arm().name.clone();
    let treated = plan
        .arms
        .iter()
        .find(|a| a.name != control)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    Ok([control, treated])
}

/// Computes every table of the results section (provenance hashes left empty; see
/// [`analyze_files`]).
pub fn analyze(ds: &TrialDataset, plan: &AnalysisPlan) -> TrialResult<TrialResults> {
    let arms = two_arms(plan)?;
    let alpha = plan.analysis.alpha;
    let arm_info = arms
        .iter()
        .map(|a| {
            let pa = plan.arm(a);
            ArmInfo {
                name: a.clone(),
                label: pa
                    .and_then(|x| x.label.clone())
                    .unwrap_or_else(|| a.clone()),
                control: pa.is_some_and(|x| x.control),
                randomized: ds.arm_participants(a).count(),
            }
        })
        .collect();
    let (missing_data, seed) = match plan.missing_data {
        MissingData::CompleteCase => ("complete case (observed values only)".to_string(), None),
        MissingData::MultipleImputation { m, seed } => (
            format!(
                "multiple imputation by chained equations (predictive mean matching), m = {m}, seed {seed}; pooled by Rubin's rules"
            ),
            Some(seed),
        ),
    };
    let table1 = table1(ds, plan, &arms)?;
    let mut endpoints = Vec::new();
    let mut trajectories = Vec::new();
    for k in 0..plan.outcomes.len() {
        let wide = Wide::build(ds, plan, &arms, k)?;
        trajectories.push(trajectory(&wide, plan, &arms, k)?);
        endpoints.push(analyse_outcome(&wide, plan, &arms, k)?);
    }
    let safety = safety(ds, &arms)?;
    let consort = consort(ds, plan, &arms);
    Ok(TrialResults {
        trial: plan.trial.name.clone(),
        provenance: Provenance {
            evidentia_version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            ..Provenance::default()
        },
        arms: arm_info,
        alpha,
        missing_data,
        table1,
        endpoints,
        trajectories,
        safety,
        consort,
    })
}

// ---------------------------------------------------------------------------
// Table 1
// ---------------------------------------------------------------------------

fn table1(
    ds: &TrialDataset,
    plan: &AnalysisPlan,
    arms: &[String; 2],
) -> TrialResult<Vec<BaselineVariable>> {
    let alpha = plan.analysis.alpha;
    let mut out = Vec::new();
    for cov in &plan.covariates {
        let values = |arm: &str| -> Vec<String> {
            ds.arm_participants(arm)
                .filter_map(|p| p.attributes.get(&cov.name))
                .filter(|v| !is_missing(v))
                .cloned()
                .collect()
        };
        let ctx = format!("Table 1, {}", cov.name);
        match cov.kind {
            CovariateKind::Continuous => {
                let mut groups: Vec<Vec<f64>> = Vec::new();
                for arm in arms {
                    let mut xs = Vec::new();
                    for v in values(arm) {
                        let x: f64 = v.trim().parse().map_err(|_| {
                            TrialError::invalid(
                                &cov.name,
                                &v,
                                "a number (continuous covariate in the plan)",
                            )
                        })?;
                        xs.push(x);
                    }
                    groups.push(xs);
                }
                let mut summaries = Vec::new();
                for (arm, xs) in arms.iter().zip(&groups) {
                    let g = GroupSummary::from_data(arm, xs).map_err(stats_err(&ctx))?;
                    summaries.push(ArmSummary {
                        arm: arm.clone(),
                        n: xs.len(),
                        mean: g.mean,
                        sd: g.sd,
                        median: descriptive::median(xs),
                        shapiro_wilk_p: normality::shapiro_wilk(xs).ok().map(|r| r.p_value),
                    });
                }
                let normal = summaries
                    .iter()
                    .all(|s| s.shapiro_wilk_p.is_some_and(|p| p >= alpha));
                let sw = summaries
                    .iter()
                    .map(|s| {
                        s.shapiro_wilk_p
                            .map_or("n < 3".to_string(), |p| format!("{p:.3}"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let test = if normal {
                    let t = ttest::independent(
                        &groups[0],
                        &groups[1],
                        Variance::Pooled,
                        Alternative::TwoSided,
                        1.0 - alpha,
                    )
                    .map_err(stats_err(&ctx))?;
                    TestUsed {
                        test: "Student t test".into(),
                        statistic: t.statistic,
                        p_value: t.p_value,
                        reason: format!(
                            "Shapiro–Wilk p ≥ {alpha} in both arms ({sw}): normality not rejected"
                        ),
                    }
                } else {
                    let u =
                        ranks::mann_whitney(&groups[0], &groups[1], &MannWhitneyOptions::default())
                            .map_err(stats_err(&ctx))?;
                    TestUsed {
                        test: "Mann–Whitney U test".into(),
                        statistic: u.statistic,
                        p_value: u.p_value,
                        reason: format!(
                            "Shapiro–Wilk p < {alpha} (or n < 3) in at least one arm ({sw})"
                        ),
                    }
                };
                out.push(BaselineVariable {
                    name: cov.name.clone(),
                    kind: "continuous".into(),
                    summaries,
                    levels: Vec::new(),
                    test: Some(test),
                });
            }
            CovariateKind::Categorical => {
                let per_arm: Vec<Vec<String>> = arms.iter().map(|a| values(a)).collect();
                let levels = category_levels(cov.levels.as_deref(), per_arm.iter().flatten());
                let counts: Vec<Vec<u64>> = per_arm
                    .iter()
                    .map(|vs| {
                        levels
                            .iter()
                            .map(|l| vs.iter().filter(|v| *v == l).count() as u64)
                            .collect()
                    })
                    .collect();
                let level_rows: Vec<LevelCounts> = levels
                    .iter()
                    .enumerate()
                    .map(|(j, l)| LevelCounts {
                        level: l.clone(),
                        counts: counts.iter().map(|c| c[j]).collect(),
                        percents: counts
                            .iter()
                            .map(|c| {
                                let n: u64 = c.iter().sum();
                                if n == 0 {
                                    0.0
                                } else {
                                    100.0 * c[j] as f64 / n as f64
                                }
                            })
                            .collect(),
                    })
                    .collect();
                out.push(BaselineVariable {
                    name: cov.name.clone(),
                    kind: "categorical".into(),
                    summaries: Vec::new(),
                    test: categorical_test(&counts, alpha, &ctx)?,
                    levels: level_rows,
                });
            }
        }
    }
    Ok(out)
}

/// The plan's levels, then any other observed level in sorted order.
fn category_levels<'a>(
    declared: Option<&[String]>,
    seen: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let mut levels: Vec<String> = declared.map(<[String]>::to_vec).unwrap_or_default();
    let mut extra: Vec<String> = seen.filter(|v| !levels.contains(v)).cloned().collect();
    extra.sort();
    extra.dedup();
    levels.extend(extra);
    levels
}

/// Chi-square, or an exact test when more than 20% of the expected counts are below 5
/// (Cochran 1954): Fisher's for 2×2 tables, Fisher–Freeman–Halton's for larger ones
/// (chi-square again, flagged, if the table is too large to enumerate); levels observed
/// in neither arm are left out.
fn categorical_test(counts: &[Vec<u64>], alpha: f64, ctx: &str) -> TrialResult<Option<TestUsed>> {
    let ncol = counts.first().map_or(0, Vec::len);
    let keep: Vec<usize> = (0..ncol)
        .filter(|&j| counts.iter().any(|c| c[j] > 0))
        .collect();
    if keep.len() < 2 {
        return Ok(None);
    }
    let table: Vec<Vec<u64>> = counts
        .iter()
        .map(|c| keep.iter().map(|&j| c[j]).collect())
        .collect();
    let table = ContingencyTable::new(table).map_err(stats_err(ctx))?;
    let expected = table.expected().map_err(stats_err(ctx))?;
    let cells = expected.iter().flatten().count();
    let small = expected.iter().flatten().filter(|&&e| e < 5.0).count();
    let sparse = small as f64 > 0.2 * cells as f64;
    let why = format!("{small} of {cells} expected counts < 5");
    if sparse && table.is_2x2() {
        let f = contingency::fisher_exact(&table, Alternative::TwoSided, 1.0 - alpha)
            .map_err(stats_err(ctx))?;
        return Ok(Some(TestUsed {
            test: "Fisher's exact test".into(),
            statistic: f.odds_ratio,
            p_value: f.p_value,
            reason: format!("{why} (> 20%)"),
        }));
    }
    let mut too_large = false;
    if sparse {
        match contingency::fisher_exact_rxc(&table) {
            Ok(f) => {
                return Ok(Some(TestUsed {
                    test: "Fisher–Freeman–Halton exact test".into(),
                    statistic: f64::NAN,
                    p_value: f.p_value,
                    reason: format!("{why} (> 20%)"),
                }));
            }
            Err(_) => too_large = true,
        }
    }
    let c = contingency::chi_square(&table, false).map_err(stats_err(ctx))?;
    let reason = if too_large {
        format!(
            "{why} (> 20%), but the table is too large for the exact test: Pearson chi-square reported, interpret with caution"
        )
    } else {
        format!("{why} (≤ 20%)")
    };
    Ok(Some(TestUsed {
        test: "Pearson chi-square test".into(),
        statistic: c.statistic,
        p_value: c.p_value,
        reason,
    }))
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

/// One outcome as a participants × visits table (NaN = missing), with the arm
/// indicator and the numeric covariate columns (dummies for categorical levels).
struct Wide {
    /// Plan indices of the outcome's visits; the first is the baseline.
    visits: Vec<usize>,
    ids: Vec<String>,
    treated: Vec<bool>,
    values: Vec<Vec<f64>>,
    cov_names: Vec<String>,
    covs: Vec<Vec<f64>>,
}

impl Wide {
    fn build(
        ds: &TrialDataset,
        plan: &AnalysisPlan,
        arms: &[String; 2],
        k: usize,
    ) -> TrialResult<Wide> {
        let outcome = &plan.outcomes[k];
        let base = plan.baseline_visit().label.clone();
        let mut visits: Vec<usize> = plan
            .outcome_visits(outcome)
            .iter()
            .filter_map(|v| plan.visit_index(v))
            .collect();
        visits.sort_unstable();
        let Some(bpos) = plan.visit_index(&base) else {
            return Err(TrialError::invalid(
                "baseline visit",
                &base,
                "not in the plan",
            ));
        };
        if visits.first() != Some(&bpos) || visits.len() < 2 {
            return Err(TrialError::invalid(
                "outcome",
                &outcome.name,
                "needs the baseline visit and at least one later visit",
            ));
        }
        let parts: Vec<_> = ds
            .participants
            .iter()
            .filter(|p| arms.contains(&p.arm))
            .collect();
        let row_of: BTreeMap<&str, usize> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let mut values = vec![vec![f64::NAN; visits.len()]; parts.len()];
        for m in ds.measurements.iter().filter(|m| m.outcome == outcome.name) {
            let (Some(&i), Some(vi)) = (
                row_of.get(m.participant_id.as_str()),
                plan.visit_index(&m.visit),
            ) else {
                continue;
            };
            if let Some(j) = visits.iter().position(|&v| v == vi) {
                values[i][j] = m.value;
            }
        }
        let mut cov_names = Vec::new();
        let mut cols: Vec<Vec<f64>> = Vec::new();
        for cov in &plan.covariates {
            let raw: Vec<Option<&String>> = parts
                .iter()
                .map(|p| p.attributes.get(&cov.name).filter(|v| !is_missing(v)))
                .collect();
            match cov.kind {
                CovariateKind::Continuous => {
                    cov_names.push(cov.name.clone());
                    cols.push(
                        raw.iter()
                            .map(|v| v.and_then(|s| s.trim().parse().ok()).unwrap_or(f64::NAN))
                            .collect(),
                    );
                }
                CovariateKind::Categorical => {
                    let levels =
                        category_levels(cov.levels.as_deref(), raw.iter().flatten().copied());
                    for l in levels.iter().skip(1) {
                        let col: Vec<f64> = raw
                            .iter()
                            .map(|v| v.map_or(f64::NAN, |s| f64::from(u8::from(s == l))))
                            .collect();
                        // A dummy that never varies carries no information (and would
                        // make the design singular).
                        let obs: Vec<f64> = col.iter().copied().filter(|x| !x.is_nan()).collect();
                        if obs.iter().any(|&x| x != obs[0]) {
                            cov_names.push(format!("{}={l}", cov.name));
                            cols.push(col);
                        }
                    }
                }
            }
        }
        let covs = (0..parts.len())
            .map(|i| cols.iter().map(|c| c[i]).collect())
            .collect();
        Ok(Wide {
            visits,
            ids: parts.iter().map(|p| p.id.clone()).collect(),
            treated: parts.iter().map(|p| p.arm == arms[1]).collect(),
            values,
            cov_names,
            covs,
        })
    }

    /// Change from baseline at post-baseline visit j (1-based in `visits`), per arm
    /// (control, treated), participants with both values.
    fn changes(&self, j: usize) -> [Vec<f64>; 2] {
        let mut out = [Vec::new(), Vec::new()];
        for (row, &t) in self.values.iter().zip(&self.treated) {
            let d = row[j] - row[0];
            if !d.is_nan() {
                out[usize::from(t)].push(d);
            }
        }
        out
    }
}

/// The participants × visits table of one outcome as the analysis sees it: ids, the
/// treated indicator, values at the outcome's visits (baseline first; NaN = missing)
/// and the numeric covariate columns (dummies for categorical levels).
#[allow(clippy::type_complexity)]
pub fn outcome_table(
    ds: &TrialDataset,
    plan: &AnalysisPlan,
    outcome: &str,
) -> TrialResult<(Vec<String>, Vec<bool>, Vec<Vec<f64>>, Vec<Vec<f64>>)> {
    let arms = two_arms(plan)?;
    let k = plan
        .outcomes
        .iter()
        .position(|o| o.name == outcome)
        .ok_or_else(|| TrialError::invalid("outcome", outcome, "not in the plan"))?;
    let w = Wide::build(ds, plan, &arms, k)?;
    Ok((w.ids, w.treated, w.values, w.covs))
}

fn trajectory(
    wide: &Wide,
    plan: &AnalysisPlan,
    arms: &[String; 2],
    k: usize,
) -> TrialResult<Trajectory> {
    let outcome = &plan.outcomes[k];
    let mut out = Vec::new();
    for (a, arm) in arms.iter().enumerate() {
        let mut pts = Vec::new();
        for (j, &vi) in wide.visits.iter().enumerate() {
            let xs: Vec<f64> = wide
                .values
                .iter()
                .zip(&wide.treated)
                .filter(|(_, t)| usize::from(**t) == a)
                .map(|(r, _)| r[j])
                .filter(|x| !x.is_nan())
                .collect();
            if xs.is_empty() {
                continue;
            }
            let d = descriptive::describe(&xs, Default::default())
                .map_err(stats_err(format!("{} trajectory", outcome.name)))?;
            pts.push(TrajectoryPoint {
                visit: plan.visits[vi].label.clone(),
                time: plan.visits[vi].time,
                n: d.n,
                mean: d.mean,
                sem: d.sem.unwrap_or(0.0),
            });
        }
        out.push((arm.clone(), pts));
    }
    Ok(Trajectory {
        outcome: outcome.name.clone(),
        label: outcome.label.clone(),
        unit: outcome.unit.clone(),
        time_unit: plan.trial.time_unit.clone(),
        arms: out,
    })
}

/// Raw per-visit numbers of one analysis of one (possibly imputed) table.
#[derive(Clone)]
struct VisitStats {
    within: [Estimate; 2],
    between: Estimate,
}

fn t_estimate(t: &ttest::TTestResult, n: usize, test: &str) -> Estimate {
    Estimate {
        estimate: t.estimate,
        std_error: t.std_error,
        ci: t.ci,
        p_value: t.p_value,
        df: Some(t.df),
        n,
        test: test.to_string(),
    }
}

fn method_text(analysis: &Analysis, n_cov: usize) -> String {
    let adj = if n_cov > 0 {
        " adjusted for the plan's covariates"
    } else {
        ""
    };
    match analysis {
        Analysis::Gee { corr, cov } => format!(
            "GEE (Gaussian, identity link) on change from baseline with arm × visit interaction{adj}; {} working correlation, {} covariance; β = treated − control at each visit (contrast of the coefficients, z test)",
            corr_name(*corr),
            match cov {
                GeeCovariance::Robust => "robust (sandwich)",
                GeeCovariance::Naive => "model-based",
            }
        ),
        Analysis::Mmrm { cov_structure } => format!(
            "MMRM (REML) on change from baseline with arm × visit interaction{adj}; {} covariance; β = least-squares mean difference at each visit",
            match cov_structure {
                CovStructure::Unstructured => "unstructured",
                CovStructure::CompoundSymmetry => "compound-symmetry",
                CovStructure::Ar1 => "AR(1)",
            }
        ),
        Analysis::RmAnova => "repeated-measures ANOVA (arm × visit) on complete cases; per visit, Student t test of the change from baseline between arms".to_string(),
        Analysis::PairedByVisit { .. } => "paired test within arm against baseline and two-sample test between arms on the change from baseline, at each visit".to_string(),
    }
}

fn corr_name(c: WorkingCorrelation) -> &'static str {
    match c {
        WorkingCorrelation::Independence => "independence",
        WorkingCorrelation::Exchangeable => "exchangeable",
        WorkingCorrelation::Ar1 => "AR(1)",
        WorkingCorrelation::Unstructured => "unstructured",
    }
}

/// Builds the long frame of change scores used by the GEE and the MMRM:
/// `id`, `arm` (`control`/`treated`), `treated` (0/1), `visit` (`v01`, ...), `time`
/// (visit index), `change`, and covariates `x0`, `x1`, ...
pub fn change_frame(
    ids: &[String],
    treated: &[bool],
    values: &[Vec<f64>],
    covs: &[Vec<f64>],
) -> TrialResult<Frame> {
    let mut id = Vec::new();
    let mut arm = Vec::new();
    let mut tr = Vec::new();
    let mut visit = Vec::new();
    let mut time = Vec::new();
    let mut change = Vec::new();
    let ncov = covs.first().map_or(0, Vec::len);
    let mut xs = vec![Vec::new(); ncov];
    for (i, row) in values.iter().enumerate() {
        for (j, v) in row.iter().enumerate().skip(1) {
            let d = v - row[0];
            if d.is_nan() {
                continue;
            }
            id.push(Some(ids[i].clone()));
            arm.push(Some(
                if treated[i] { "treated" } else { "control" }.to_string(),
            ));
            tr.push(f64::from(u8::from(treated[i])));
            visit.push(Some(format!("v{j:02}")));
            time.push(j as f64);
            change.push(d);
            for (c, x) in xs.iter_mut().enumerate() {
                x.push(covs[i][c]);
            }
        }
    }
    let ctx = stats_err("building the model frame");
    let mut f = Frame::new();
    let r = (|| {
        f.insert("id", Column::Text(id))?;
        f.insert("arm", Column::Text(arm))?;
        f.insert("treated", Column::Numeric(tr))?;
        f.insert("visit", Column::Text(visit))?;
        f.insert("time", Column::Numeric(time))?;
        f.insert("change", Column::Numeric(change))?;
        for (c, x) in xs.into_iter().enumerate() {
            f.insert(&format!("x{c}"), Column::Numeric(x))?;
        }
        Ok(())
    })();
    r.map_err(ctx)?;
    Ok(f)
}

fn covariate_terms(n: usize) -> String {
    (0..n).map(|c| format!(" + x{c}")).collect()
}

/// The GEE formula of the change scores: `change ~ treated + visit + treated:visit + x0 + ...`
/// (without the visit terms when there is one post-baseline visit).
pub fn gee_formula_text(n_post: usize, n_cov: usize) -> String {
    let visit = if n_post > 1 {
        " + visit + treated:visit"
    } else {
        ""
    };
    format!("change ~ treated{visit}{}", covariate_terms(n_cov))
}

fn analyse_once(
    values: &[Vec<f64>],
    wide: &Wide,
    plan: &AnalysisPlan,
    k: usize,
    imputed: bool,
) -> TrialResult<Vec<VisitStats>> {
    let outcome = &plan.outcomes[k];
    let alpha = plan.analysis.alpha;
    let conf = 1.0 - alpha;
    let n_post = wide.visits.len() - 1;
    let ctx = |j: usize| {
        format!(
            "{}, visit {}",
            outcome.name, plan.visits[wide.visits[j]].label
        )
    };
    // Model-based between-arm estimates, one per post-baseline visit.
    let model: Option<Vec<Estimate>> = match &outcome.analysis {
        Analysis::Gee { corr, cov } => {
            let frame = change_frame(&wide.ids, &wide.treated, values, &wide.covs)?;
            let options = GeeOptions {
                correlation: match corr {
                    WorkingCorrelation::Independence => CorrStructure::Independence,
                    WorkingCorrelation::Exchangeable => CorrStructure::Exchangeable,
                    WorkingCorrelation::Ar1 => CorrStructure::Ar1,
                    WorkingCorrelation::Unstructured => CorrStructure::Unstructured,
                },
                covariance: match cov {
                    GeeCovariance::Robust => gee::GeeCovariance::Robust,
                    GeeCovariance::Naive => gee::GeeCovariance::Naive,
                },
                confidence: conf,
                ..GeeOptions::default()
            };
            let formula = gee_formula_text(n_post, wide.cov_names.len());
            let (design, fit) = gee::gee_formula(
                &formula,
                &frame,
                "id",
                Some("time"),
                Coding::First,
                &options,
            )
            .map_err(stats_err(format!("{}: GEE", outcome.name)))?;
            let mut out = Vec::new();
            for j in 1..=n_post {
                let l = arm_contrast(&design.column_names, j)
                    .map_err(stats_err(format!("{}: GEE contrast", ctx(j))))?;
                let n = frame_n(values, &wide.treated, j);
                out.push(z_contrast(&fit.coefficients, &fit.cov_params, &l, alpha, n));
            }
            Some(out)
        }
        Analysis::Mmrm { cov_structure } => {
            let frame = change_frame(&wide.ids, &wide.treated, values, &wide.covs)?;
            let options = MmrmOptions {
                structure: match cov_structure {
                    CovStructure::Unstructured => mmrm::CovStructure::Unstructured,
                    CovStructure::CompoundSymmetry => mmrm::CovStructure::CompoundSymmetry,
                    CovStructure::Ar1 => mmrm::CovStructure::Ar1,
                },
                confidence: conf,
                ..MmrmOptions::default()
            };
            let visit = if n_post > 1 {
                " + visit + arm:visit"
            } else {
                ""
            };
            let formula = format!(
                "change ~ arm{visit}{}",
                covariate_terms(wide.cov_names.len())
            );
            let fit = mmrm::fit_formula(&formula, &frame, "id", "visit", Coding::First, &options)
                .map_err(stats_err(format!("{}: MMRM", outcome.name)))?;
            let mut out = Vec::new();
            if n_post > 1 {
                let diffs = fit
                    .lsmean_differences("arm", "visit")
                    .map_err(stats_err(format!("{}: MMRM lsmeans", outcome.name)))?;
                for j in 1..=n_post {
                    let code = format!("v{j:02}");
                    let d = diffs
                        .iter()
                        .find(|d| d.levels.iter().any(|(_, l)| *l == code))
                        .ok_or_else(|| {
                            TrialError::invalid("MMRM visit", ctx(j), "no least-squares mean")
                        })?;
                    out.push(mmrm_estimate(
                        &d.estimate,
                        frame_n(values, &wide.treated, j),
                    ));
                }
            } else {
                let c = fit
                    .coefficients
                    .iter()
                    .find(|c| c.name == "arm[T.treated]")
                    .ok_or_else(|| {
                        TrialError::invalid("MMRM", &outcome.name, "no arm coefficient")
                    })?;
                out.push(mmrm_estimate(c, frame_n(values, &wide.treated, 1)));
            }
            Some(out)
        }
        _ => None,
    };
    let paired_test = match &outcome.analysis {
        Analysis::PairedByVisit { test } => Some(*test),
        _ => None,
    };
    let mut out = Vec::new();
    for j in 1..=n_post {
        let mut per = [Vec::new(), Vec::new()];
        for (row, &t) in values.iter().zip(&wide.treated) {
            let d = row[j] - row[0];
            if !d.is_nan() {
                per[usize::from(t)].push(d);
            }
        }
        // Nonparametric tests only for complete-case data (their p-values cannot be pooled).
        let nonparametric = !imputed
            && match paired_test {
                Some(Some(PairedTest::Wilcoxon)) => true,
                Some(None) => !per.iter().all(|x| {
                    normality::shapiro_wilk(x)
                        .map(|r| r.p_value >= alpha)
                        .unwrap_or(false)
                }),
                _ => false,
            };
        let mut within = Vec::new();
        for x in &per {
            let t = ttest::one_sample(x, 0.0, Alternative::TwoSided, conf)
                .map_err(stats_err(format!("{}: within-arm change", ctx(j))))?;
            let mut e = t_estimate(&t, x.len(), "paired t test");
            if nonparametric {
                let w = ranks::wilcoxon_differences(x, &WilcoxonOptions::default())
                    .map_err(stats_err(format!("{}: Wilcoxon", ctx(j))))?;
                e.p_value = w.p_value;
                e.test = "Wilcoxon signed-rank test (mean change with t interval)".into();
            }
            within.push(e);
        }
        let between = match &model {
            Some(m) => m[j - 1].clone(),
            None => {
                let t = ttest::independent(
                    &per[1],
                    &per[0],
                    Variance::Pooled,
                    Alternative::TwoSided,
                    conf,
                )
                .map_err(stats_err(format!("{}: between arms", ctx(j))))?;
                let mut e = t_estimate(&t, per[0].len() + per[1].len(), "Student t test");
                if nonparametric {
                    let u = ranks::mann_whitney(&per[1], &per[0], &MannWhitneyOptions::default())
                        .map_err(stats_err(format!("{}: Mann–Whitney", ctx(j))))?;
                    e.p_value = u.p_value;
                    e.test = "Mann–Whitney U test (mean difference with t interval)".into();
                }
                e
            }
        };
        let [w0, w1] = [within[0].clone(), within[1].clone()];
        out.push(VisitStats {
            within: [w0, w1],
            between,
        });
    }
    Ok(out)
}

/// Participants contributing a change score at post-baseline visit j.
fn frame_n(values: &[Vec<f64>], treated: &[bool], j: usize) -> usize {
    values
        .iter()
        .zip(treated)
        .filter(|(r, _)| !(r[j] - r[0]).is_nan())
        .count()
}

fn mmrm_estimate(e: &mmrm::Estimate, n: usize) -> Estimate {
    Estimate {
        estimate: e.estimate,
        std_error: e.std_error,
        ci: e.ci,
        p_value: e.p_value,
        df: Some(e.df),
        n,
        test: "MMRM least-squares mean difference (t test)".into(),
    }
}

/// Contrast vector of the treated − control difference at post-baseline visit j of
/// the GEE `change ~ treated + visit + treated:visit + ...`: the `treated` coefficient
/// plus, after the reference visit `v01`, the `treated:visit[T.vjj]` coefficient.
pub fn arm_contrast(column_names: &[String], j: usize) -> evidentia_stats::Result<Vec<f64>> {
    let mut l = vec![0.0; column_names.len()];
    let find = |name: &str| {
        column_names.iter().position(|c| c == name).ok_or_else(|| {
            StatsError::invalid(
                "model column",
                name,
                &format!("not in the design ({})", column_names.join(", ")),
            )
        })
    };
    l[find("treated")?] = 1.0;
    if j > 1 {
        l[find(&format!("treated:visit[T.v{j:02}]"))?] = 1.0;
    }
    Ok(l)
}

/// Wald z estimate of lᵀβ with variance lᵀVl.
fn z_contrast(
    coefficients: &[evidentia_stats::glm::Coefficient],
    cov: &[Vec<f64>],
    l: &[f64],
    alpha: f64,
    n: usize,
) -> Estimate {
    let est: f64 = l
        .iter()
        .zip(coefficients)
        .map(|(a, c)| a * c.estimate)
        .sum();
    let mut var = 0.0;
    for (i, li) in l.iter().enumerate() {
        for (j, lj) in l.iter().enumerate() {
            var += li * lj * cov[i][j];
        }
    }
    let se = var.max(0.0).sqrt();
    let z = est / se;
    let q = normal_quantile(1.0 - alpha / 2.0);
    Estimate {
        estimate: est,
        std_error: se,
        ci: [est - q * se, est + q * se],
        p_value: z_p_value(z, Alternative::TwoSided),
        df: None,
        n,
        test: "GEE Wald z test of the arm effect at the visit".into(),
    }
}

fn analyse_outcome(
    wide: &Wide,
    plan: &AnalysisPlan,
    arms: &[String; 2],
    k: usize,
) -> TrialResult<OutcomeResult> {
    let outcome = &plan.outcomes[k];
    let alpha = plan.analysis.alpha;
    let n_post = wide.visits.len() - 1;
    let mut method = method_text(&outcome.analysis, wide.cov_names.len());
    let stats: Vec<VisitStats> = match plan.missing_data {
        MissingData::CompleteCase => analyse_once(&wide.values, wide, plan, k, false)?,
        MissingData::MultipleImputation { m, seed } => {
            method.push_str(&format!(
                "; missing values multiply imputed (m = {m}) and estimates pooled by Rubin's rules"
            ));
            let outcome_seed = seed.wrapping_add(k as u64);
            let imputed = impute(wide, m as usize, outcome_seed, &outcome.name)?;
            let per: Vec<Vec<VisitStats>> = imputed
                .iter()
                .map(|v| analyse_once(v, wide, plan, k, true))
                .collect::<TrialResult<_>>()?;
            (0..n_post)
                .map(|j| {
                    let pick = |f: &dyn Fn(&VisitStats) -> &Estimate| {
                        pool(
                            &per.iter().map(|s| f(&s[j]).clone()).collect::<Vec<_>>(),
                            alpha,
                            &outcome.name,
                        )
                    };
                    Ok(VisitStats {
                        within: [pick(&|s| &s.within[0])?, pick(&|s| &s.within[1])?],
                        between: pick(&|s| &s.between)?,
                    })
                })
                .collect::<TrialResult<_>>()?
        }
    };
    let mut visits = Vec::new();
    for (j, s) in stats.into_iter().enumerate() {
        let vi = wide.visits[j + 1];
        let per = wide.changes(j + 1);
        let effect_size = effect(&per, plan, &outcome.name)?;
        visits.push(VisitResult {
            visit: plan.visits[vi].label.clone(),
            time: plan.visits[vi].time,
            within: arms
                .iter()
                .zip(s.within)
                .map(|(a, e)| WithinArm {
                    arm: a.clone(),
                    change: e,
                })
                .collect(),
            between: s.between,
            effect_size,
        });
    }
    let rm_anova = match outcome.analysis {
        Analysis::RmAnova => Some(rm_anova_cc(wide, plan, arms)?),
        _ => None,
    };
    Ok(OutcomeResult {
        name: outcome.name.clone(),
        label: outcome.label.clone(),
        unit: outcome.unit.clone(),
        role: format!("{:?}", outcome.role).to_lowercase(),
        method,
        visits,
        rm_anova,
    })
}

/// Cohen's d (or Hedges' g) of treated vs control change scores, observed values.
fn effect(per: &[Vec<f64>; 2], plan: &AnalysisPlan, name: &str) -> TrialResult<Option<EffectSize>> {
    if per[0].len() < 2 || per[1].len() < 2 {
        return Ok(None);
    }
    let ctx = format!("{name}: effect size");
    let g1 = GroupSummary::from_data("treated", &per[1]).map_err(stats_err(&ctx))?;
    let g0 = GroupSummary::from_data("control", &per[0]).map_err(stats_err(&ctx))?;
    let es = match effect_size::independent(
        g1,
        g0,
        EffectSizeCi::NoncentralT,
        1.0 - plan.analysis.alpha,
    ) {
        Ok(es) => es,
        Err(StatsError::ZeroVariance { .. }) => return Ok(None),
        Err(e) => return Err(stats_err(ctx)(e)),
    };
    let (method, value, ci) = match plan.analysis.effect_size {
        crate::plan::EffectSizeMethod::CohenD => ("cohen_d", es.cohens_d, es.cohens_d_ci),
        crate::plan::EffectSizeMethod::HedgesG => ("hedges_g", es.hedges_g, es.hedges_g_ci),
    };
    Ok(Some(EffectSize {
        method: method.into(),
        value,
        ci,
        n_control: per[0].len(),
        n_treated: per[1].len(),
    }))
}

/// Rubin's rules over the imputations (Barnard–Rubin df when the complete-data
/// analysis has a df, else normal).
fn pool(es: &[Estimate], alpha: f64, name: &str) -> TrialResult<Estimate> {
    let est: Vec<f64> = es.iter().map(|e| e.estimate).collect();
    let se: Vec<f64> = es.iter().map(|e| e.std_error).collect();
    let df = es.first().and_then(|e| e.df);
    let method = if df.is_some() {
        PoolingDf::BarnardRubin
    } else {
        PoolingDf::Normal
    };
    let p = pool_rubin(&est, &se, df, method, 1.0 - alpha)
        .map_err(stats_err(format!("{name}: Rubin's rules")))?;
    let first = es.first();
    Ok(Estimate {
        estimate: p.estimate,
        std_error: p.se,
        ci: p.ci,
        p_value: p.p_value,
        df: df.map(|_| p.df),
        n: first.map_or(0, |e| e.n),
        test: format!(
            "{}, pooled over {} imputations (Rubin's rules)",
            first.map_or("", |e| e.test.as_str()),
            es.len()
        ),
    })
}

/// Imputes the outcome-by-visit table with chained equations (predictive mean
/// matching); arm and covariates are predictors. Returns m completed tables.
fn impute(wide: &Wide, m: usize, seed: u64, name: &str) -> TrialResult<Vec<Vec<Vec<f64>>>> {
    let nv = wide.visits.len();
    let mut cols = Vec::new();
    for j in 0..nv {
        cols.push(MiceColumn::continuous(
            &format!("visit{j}"),
            wide.values.iter().map(|r| r[j]).collect(),
            ImputeMethod::Pmm,
        ));
    }
    cols.push(MiceColumn::binary(
        "treated",
        wide.treated
            .iter()
            .map(|&t| f64::from(u8::from(t)))
            .collect(),
    ));
    for (c, cname) in wide.cov_names.iter().enumerate() {
        cols.push(MiceColumn::continuous(
            cname,
            wide.covs.iter().map(|r| r[c]).collect(),
            ImputeMethod::Pmm,
        ));
    }
    let options = MiceOptions {
        m,
        seed,
        ..MiceOptions::default()
    };
    let res = mice::mice(&cols, &options).map_err(stats_err(format!("{name}: imputation")))?;
    Ok(res
        .datasets
        .iter()
        .map(|d| {
            (0..wide.values.len())
                .map(|i| (0..nv).map(|j| d[j][i]).collect())
                .collect()
        })
        .collect())
}

fn rm_anova_cc(wide: &Wide, plan: &AnalysisPlan, arms: &[String; 2]) -> TrialResult<RmAnovaResult> {
    let mut subject = Vec::new();
    let mut within = Vec::new();
    let mut between = Vec::new();
    let mut value = Vec::new();
    for (i, row) in wide.values.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            subject.push(wide.ids[i].clone());
            within.push(plan.visits[wide.visits[j]].label.clone());
            between.push(arms[usize::from(wide.treated[i])].clone());
            value.push(*v);
        }
    }
    rm_anova::rm_anova(
        &subject,
        &within,
        Some(&between),
        &value,
        RmAnovaOptions::default(),
    )
    .map_err(stats_err("repeated-measures ANOVA"))
}

// ---------------------------------------------------------------------------
// Safety and CONSORT
// ---------------------------------------------------------------------------

fn safety(ds: &TrialDataset, arms: &[String; 2]) -> TrialResult<SafetyTable> {
    let arm_of: BTreeMap<&str, usize> = ds
        .participants
        .iter()
        .filter_map(|p| {
            arms.iter()
                .position(|a| *a == p.arm)
                .map(|a| (p.id.as_str(), a))
        })
        .collect();
    let n: Vec<u64> = arms
        .iter()
        .map(|a| ds.arm_participants(a).count() as u64)
        .collect();
    let row = |term: &str, pick: &dyn Fn(&crate::dataset::AdverseEvent) -> bool| {
        let mut who: [std::collections::BTreeSet<&str>; 2] = Default::default();
        let mut events = vec![0u64; 2];
        for e in ds.adverse_events.iter().filter(|e| pick(e)) {
            if let Some(&a) = arm_of.get(e.participant_id.as_str()) {
                who[a].insert(e.participant_id.as_str());
                events[a] += 1;
            }
        }
        let participants: Vec<u64> = who.iter().map(|s| s.len() as u64).collect();
        let table = ContingencyTable::new(vec![
            vec![participants[0], n[0].saturating_sub(participants[0])],
            vec![participants[1], n[1].saturating_sub(participants[1])],
        ]);
        let fisher_p = table
            .ok()
            .and_then(|t| contingency::fisher_exact(&t, Alternative::TwoSided, 0.95).ok())
            .map(|f| f.p_value);
        SafetyRow {
            term: term.to_string(),
            participants,
            events,
            fisher_p,
        }
    };
    let mut terms: Vec<&str> = ds.adverse_events.iter().map(|e| e.term.as_str()).collect();
    terms.sort_unstable();
    terms.dedup();
    Ok(SafetyTable {
        arms: arms.to_vec(),
        n_per_arm: n.clone(),
        any_event: row("Any adverse event", &|_| true),
        serious: row("Serious adverse event", &|e| e.serious),
        terms: terms.iter().map(|t| row(t, &|e| e.term == *t)).collect(),
    })
}

fn count_reasons<'a>(reasons: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *m.entry(r).or_default() += 1;
    }
    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn consort(ds: &TrialDataset, plan: &AnalysisPlan, arms: &[String; 2]) -> Consort {
    let (assessed, excluded, exclusion_reasons) = match &ds.screening {
        Some(s) => {
            let ex: Vec<&str> = s
                .iter()
                .filter(|r| r.participant_id.is_none())
                .map(|r| {
                    if r.exclusion_reason.trim().is_empty() {
                        "not randomized (no reason given)"
                    } else {
                        r.exclusion_reason.as_str()
                    }
                })
                .collect();
            (Some(s.len()), Some(ex.len()), count_reasons(ex.into_iter()))
        }
        None => (None, None, Vec::new()),
    };
    let primary = plan
        .outcomes
        .iter()
        .find(|o| o.role == crate::plan::Role::Primary)
        .or_else(|| plan.outcomes.first());
    let base = plan.baseline_visit().label.clone();
    let itt = matches!(plan.missing_data, MissingData::MultipleImputation { .. });
    let arms_out = arms
        .iter()
        .map(|arm| {
            let ps: Vec<_> = ds.arm_participants(arm).collect();
            let left: Vec<_> = ps
                .iter()
                .filter(|p| p.disposition != Disposition::Completed)
                .collect();
            let reasons = count_reasons(left.iter().map(|p| {
                if p.disposition_reason.trim().is_empty() {
                    p.disposition.as_str()
                } else {
                    p.disposition_reason.as_str()
                }
            }));
            let analysed = if itt {
                ps.len()
            } else {
                ps.iter()
                    .filter(|p| {
                        let Some(o) = primary else { return false };
                        let has = |post: bool| {
                            ds.measurements.iter().any(|m| {
                                m.participant_id == p.id
                                    && m.outcome == o.name
                                    && ((m.visit == base) != post)
                            })
                        };
                        has(false) && has(true)
                    })
                    .count()
            };
            ConsortArm {
                arm: arm.clone(),
                randomized: ps.len(),
                received: ps.iter().filter(|p| p.last_visit.is_some()).count(),
                lost_to_follow_up: left
                    .iter()
                    .filter(|p| p.disposition == Disposition::LostToFollowUp)
                    .count(),
                discontinued: left
                    .iter()
                    .filter(|p| p.disposition != Disposition::LostToFollowUp)
                    .count(),
                reasons,
                analysed,
            }
        })
        .collect::<Vec<_>>();
    Consort {
        assessed,
        excluded,
        exclusion_reasons,
        randomized: arms_out.iter().map(|a| a.randomized).sum(),
        arms: arms_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_tables_get_an_exact_test() {
        // Expected counts 7, 6, 6.5, 2.5 per arm: 2 of 8 below 5 (> 20%). The exact rational
        // p of tools/reference/make_fisher_rxc.py ("2x4_gmfcs_like").
        let t = categorical_test(&[vec![5, 8, 6, 3], vec![9, 4, 7, 2]], 0.05, "x")
            .unwrap()
            .unwrap();
        assert_eq!(t.test, "Fisher–Freeman–Halton exact test");
        assert!((t.p_value - 0.470107555317).abs() < 1e-11, "{}", t.p_value);
        // 2×2 sparse: Fisher's test; not sparse: chi-square.
        let t = categorical_test(&[vec![3, 1], vec![1, 3]], 0.05, "x")
            .unwrap()
            .unwrap();
        assert_eq!(t.test, "Fisher's exact test");
        let t = categorical_test(&[vec![20, 25, 30], vec![22, 18, 35]], 0.05, "x")
            .unwrap()
            .unwrap();
        assert_eq!(t.test, "Pearson chi-square test");
        // A level seen in neither arm is left out.
        let t = categorical_test(&[vec![5, 0, 8, 6, 3], vec![9, 0, 4, 7, 2]], 0.05, "x")
            .unwrap()
            .unwrap();
        assert!((t.p_value - 0.470107555317).abs() < 1e-11);
    }
}
