//! The statistical analysis plan (`plan.toml`): arms, visits, outcomes and how each is
//! analysed, covariates, missing-data handling, α, effect size, profile and outputs.
//!
//! Unknown keys are errors, reported with their line; the plan is then checked for
//! consistency (one control arm, one baseline visit, increasing visit times, ranges with
//! low < high, outcome visits that exist, ...). See `docs/trial-dataset.md`.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{TrialError, TrialResult};

/// The whole plan, as written in `plan.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisPlan {
    /// Identification of the trial.
    pub trial: TrialInfo,
    /// Global analysis settings.
    pub analysis: AnalysisSettings,
    /// The arms; exactly one is the control.
    pub arms: Vec<Arm>,
    /// The visits in chronological order; exactly one is the baseline.
    pub visits: Vec<Visit>,
    /// Baseline covariates the models adjust for (columns of `participants.csv`).
    #[serde(default)]
    pub covariates: Vec<Covariate>,
    /// How missing outcome values are handled.
    pub missing_data: MissingData,
    /// The outcomes and the analysis of each.
    pub outcomes: Vec<Outcome>,
}

/// Identification of the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialInfo {
    /// Short title.
    pub name: String,
    /// Registry number (ClinicalTrials.gov, IRCT, ...), if any.
    #[serde(default)]
    pub registration: Option<String>,
    /// Unit of visit times and of `time` in `measurements.csv` (e.g. "months", "days").
    pub time_unit: String,
}

/// Settings that apply to every outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Two-sided significance level.
    pub alpha: f64,
    /// Standardized effect size reported beside each between-arm difference.
    pub effect_size: EffectSizeMethod,
    /// Which package's conventions the statistics follow where they differ.
    pub profile: Profile,
    /// Output formats of the report.
    pub output_formats: Vec<OutputFormat>,
}

/// Standardized mean difference used for effect sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectSizeMethod {
    /// Cohen's d with the pooled SD (Cohen 1988).
    CohenD,
    /// Hedges' g, small-sample corrected (Hedges 1981).
    HedgesG,
}

/// Statistics profile: whose defaults to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// IBM SPSS conventions.
    Spss,
    /// R conventions.
    R,
}

/// A report output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Html,
    Markdown,
    Csv,
    Json,
    Svg,
}

/// One arm of the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Name as written in `participants.csv`.
    pub name: String,
    /// Longer description for reports.
    #[serde(default)]
    pub label: Option<String>,
    /// True for the comparator arm.
    #[serde(default)]
    pub control: bool,
}

/// One scheduled visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// Label as written in `measurements.csv`.
    pub label: String,
    /// Nominal time since treatment, in the trial's time unit.
    pub time: f64,
    /// True for the visit changes are measured from.
    #[serde(default)]
    pub baseline: bool,
}

/// A baseline covariate (a column of `participants.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Covariate {
    /// Column name in `participants.csv`.
    pub name: String,
    /// Continuous or categorical.
    pub kind: CovariateKind,
    /// Allowed levels of a categorical covariate (any level when absent).
    #[serde(default)]
    pub levels: Option<Vec<String>>,
}

/// Measurement level of a covariate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovariateKind {
    Continuous,
    Categorical,
}

/// How missing outcome values are handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum MissingData {
    /// Analyse the observed values only.
    CompleteCase,
    /// Multiple imputation with `m` imputations from a seeded stream, pooled by Rubin's rules.
    MultipleImputation {
        /// Number of imputed datasets.
        m: u32,
        /// Seed of the imputation stream.
        seed: u64,
    },
}

/// Which way of an outcome is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Benefit {
    Higher,
    Lower,
}

/// Primary or secondary endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

/// One outcome and its analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Name as written in `measurements.csv`.
    pub name: String,
    /// Label for tables and figures.
    pub label: String,
    /// Unit of the values.
    pub unit: String,
    /// Smallest and largest possible value; values outside are errors.
    pub range: [f64; 2],
    /// Which direction is benefit.
    pub benefit: Benefit,
    /// Primary or secondary.
    pub role: Role,
    /// Visits at which it is measured (all plan visits when absent).
    #[serde(default)]
    pub visits: Option<Vec<String>>,
    /// The model or test.
    pub analysis: Analysis,
}

/// The analysis of one outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Analysis {
    /// Generalized estimating equations (Liang & Zeger 1986), arm × visit.
    Gee {
        corr: WorkingCorrelation,
        cov: GeeCovariance,
    },
    /// Mixed model for repeated measures (Mallinckrodt et al. 2008).
    Mmrm { cov_structure: CovStructure },
    /// Repeated-measures ANOVA, arm × visit.
    RmAnova,
    /// Within-arm paired tests against baseline and between-arm tests at each visit.
    PairedByVisit {
        /// Which paired test (chosen by normality when absent).
        #[serde(default)]
        test: Option<PairedTest>,
    },
}

/// GEE working correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkingCorrelation {
    Independence,
    Exchangeable,
    Ar1,
    Unstructured,
}

/// GEE covariance estimator of the coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeeCovariance {
    /// Sandwich (robust) estimator.
    Robust,
    /// Model-based (naive) estimator.
    Naive,
}

/// Residual covariance structure of an MMRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovStructure {
    Unstructured,
    CompoundSymmetry,
    Ar1,
}

/// Paired test used by `paired_by_visit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedTest {
    /// Paired t test.
    T,
    /// Wilcoxon signed-rank test.
    Wilcoxon,
}

impl AnalysisPlan {
    /// Parses and checks a plan; `file` names it in error messages.
    pub fn from_toml_str(text: &str, file: &str) -> TrialResult<Self> {
        let plan: AnalysisPlan = toml::from_str(text).map_err(|e| TrialError::Plan {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        plan.check().map_err(|message| TrialError::Plan {
            file: file.to_string(),
            message,
        })?;
        Ok(plan)
    }

    /// Reads, parses and checks `plan.toml`.
    pub fn load(path: &Path) -> TrialResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TrialError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The control arm (the plan guarantees exactly one).
    pub fn control_arm(&self) -> &Arm {
        // `check` guarantees exactly one control arm; the fallback is never taken.
        self.arms
            .iter()
            .find(|a| a.control)
            .unwrap_or(&self.arms[0])
    }

    /// The baseline visit (the plan guarantees exactly one).
    pub fn baseline_visit(&self) -> &Visit {
        self.visits
            .iter()
            .find(|v| v.baseline)
            .unwrap_or(&self.visits[0])
    }

    /// The arm with this name.
    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.name == name)
    }

    /// The visit with this label.
    pub fn visit(&self, label: &str) -> Option<&Visit> {
        self.visits.iter().find(|v| v.label == label)
    }

    /// Position of a visit in the schedule.
    pub fn visit_index(&self, label: &str) -> Option<usize> {
        self.visits.iter().position(|v| v.label == label)
    }

    /// The outcome with this name.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.name == name)
    }

    /// The visit labels at which an outcome is measured.
    pub fn outcome_visits<'a>(&'a self, outcome: &'a Outcome) -> Vec<&'a str> {
        match &outcome.visits {
            Some(v) => v.iter().map(String::as_str).collect(),
            None => self.visits.iter().map(|v| v.label.as_str()).collect(),
        }
    }

    /// Consistency checks the TOML schema cannot express; the message names the key.
    fn check(&self) -> Result<(), String> {
        let a = &self.analysis;
        if !(a.alpha > 0.0 && a.alpha < 0.5) {
            return Err(format!(
                "analysis.alpha = {}: must lie strictly between 0 and 0.5",
                a.alpha
            ));
        }
        if self.arms.len() < 2 {
            return Err(format!(
                "arms: {} arm(s) given, a trial needs at least 2",
                self.arms.len()
            ));
        }
        unique("arms", "name", self.arms.iter().map(|x| x.name.as_str()))?;
        let controls = self.arms.iter().filter(|x| x.control).count();
        if controls != 1 {
            return Err(format!(
                "arms: {controls} arms have control = true, exactly one must"
            ));
        }
        if self.visits.len() < 2 {
            return Err(format!(
                "visits: {} visit(s) given, repeated measures need at least 2",
                self.visits.len()
            ));
        }
        unique(
            "visits",
            "label",
            self.visits.iter().map(|x| x.label.as_str()),
        )?;
        let baselines = self.visits.iter().filter(|v| v.baseline).count();
        if baselines != 1 {
            return Err(format!(
                "visits: {baselines} visits have baseline = true, exactly one must"
            ));
        }
        for (i, v) in self.visits.iter().enumerate() {
            if !v.time.is_finite() {
                return Err(format!(
                    "visits[{}] '{}': time = {} is not a finite number",
                    i + 1,
                    v.label,
                    v.time
                ));
            }
            if i > 0 && v.time <= self.visits[i - 1].time {
                return Err(format!(
                    "visits[{}] '{}': time = {} does not come after the previous visit ({}); list visits in chronological order",
                    i + 1,
                    v.label,
                    v.time,
                    self.visits[i - 1].time
                ));
            }
        }
        unique(
            "covariates",
            "name",
            self.covariates.iter().map(|x| x.name.as_str()),
        )?;
        for c in &self.covariates {
            match (&c.kind, &c.levels) {
                (CovariateKind::Continuous, Some(_)) => {
                    return Err(format!(
                        "covariates '{}': levels are only for categorical covariates",
                        c.name
                    ));
                }
                (CovariateKind::Categorical, Some(levels)) => {
                    if levels.is_empty() {
                        return Err(format!("covariates '{}': levels is empty", c.name));
                    }
                    unique(
                        &format!("covariates '{}'", c.name),
                        "level",
                        levels.iter().map(String::as_str),
                    )?;
                }
                _ => {}
            }
        }
        if let MissingData::MultipleImputation { m, .. } = self.missing_data
            && m < 2
        {
            return Err(format!(
                "missing_data.m = {m}: multiple imputation needs at least 2 imputations"
            ));
        }
        if self.outcomes.is_empty() {
            return Err("outcomes: the plan names no outcome".into());
        }
        unique(
            "outcomes",
            "name",
            self.outcomes.iter().map(|x| x.name.as_str()),
        )?;
        if !self.outcomes.iter().any(|o| o.role == Role::Primary) {
            return Err("outcomes: no outcome has role = \"primary\"".into());
        }
        let labels: BTreeSet<&str> = self.visits.iter().map(|v| v.label.as_str()).collect();
        for o in &self.outcomes {
            let [lo, hi] = o.range;
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(format!(
                    "outcomes '{}': range = [{lo}, {hi}]: needs two finite numbers, low < high",
                    o.name
                ));
            }
            if let Some(vs) = &o.visits {
                unique(
                    &format!("outcomes '{}'", o.name),
                    "visit",
                    vs.iter().map(String::as_str),
                )?;
                for v in vs {
                    if !labels.contains(v.as_str()) {
                        return Err(format!(
                            "outcomes '{}': visit '{v}' is not one of the plan's visits ({})",
                            o.name,
                            join(labels.iter())
                        ));
                    }
                }
                if vs.len() < 2 {
                    return Err(format!(
                        "outcomes '{}': measured at {} visit(s), at least 2 are needed",
                        o.name,
                        vs.len()
                    ));
                }
                if !vs.iter().any(|v| Some(v.as_str()) == self.baseline_label()) {
                    return Err(format!(
                        "outcomes '{}': visits must include the baseline visit '{}'",
                        o.name,
                        self.baseline_label().unwrap_or("")
                    ));
                }
            }
        }
        Ok(())
    }

    fn baseline_label(&self) -> Option<&str> {
        self.visits
            .iter()
            .find(|v| v.baseline)
            .map(|v| v.label.as_str())
    }
}

fn unique<'a>(
    section: &str,
    key: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for n in names {
        if n.trim().is_empty() {
            return Err(format!("{section}: an empty {key}"));
        }
        if !seen.insert(n) {
            return Err(format!("{section}: {key} '{n}' appears more than once"));
        }
    }
    Ok(())
}

fn join<'a>(items: impl Iterator<Item = &'a &'a str>) -> String {
    items.copied().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[trial]
name = "t"
time_unit = "months"

[analysis]
alpha = 0.05
effect_size = "cohen_d"
profile = "spss"
output_formats = ["html"]

[[arms]]
name = "Control"
control = true

[[arms]]
name = "MSC"

[[visits]]
label = "baseline"
time = 0
baseline = true

[[visits]]
label = "T1"
time = 1

[missing_data]
method = "multiple_imputation"
m = 5
seed = 1

[[outcomes]]
name = "gmfm66"
label = "GMFM-66"
unit = "points"
range = [0, 100]
benefit = "higher"
role = "primary"
analysis = { method = "gee", corr = "exchangeable", cov = "robust" }
"#;

    fn err(text: &str) -> String {
        AnalysisPlan::from_toml_str(text, "plan.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn minimal_plan_parses() {
        let p = AnalysisPlan::from_toml_str(MINIMAL, "plan.toml").unwrap();
        assert_eq!(p.control_arm().name, "Control");
        assert_eq!(p.baseline_visit().label, "baseline");
        assert_eq!(
            p.outcomes[0].analysis,
            Analysis::Gee {
                corr: WorkingCorrelation::Exchangeable,
                cov: GeeCovariance::Robust
            }
        );
        assert_eq!(
            p.missing_data,
            MissingData::MultipleImputation { m: 5, seed: 1 }
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let text = MINIMAL.replace("alpha = 0.05", "alpha = 0.05\nalpah = 0.05");
        let e = err(&text);
        assert!(e.contains("line 8") && e.contains("alpah"), "{e}");
        // Unknown keys inside an internally tagged analysis table are refused too.
        let text = MINIMAL.replace("cov = \"robust\"", "cov = \"robust\", family = \"x\"");
        let e = err(&text);
        assert!(e.contains("family") && e.contains("line 40"), "{e}");
        let text = MINIMAL.replace("seed = 1", "seed = 1\nrounds = 3");
        let e = err(&text);
        assert!(e.contains("rounds"), "{e}");
    }

    #[test]
    fn inconsistent_plans_are_refused_with_the_key() {
        let e = err(&MINIMAL.replace("name = \"MSC\"", "name = \"MSC\"\ncontrol = true"));
        assert!(e.contains("exactly one must"), "{e}");
        let e = err(&MINIMAL.replace("time = 1", "time = 0"));
        assert!(e.contains("visits[2] 'T1'"), "{e}");
        let e = err(&MINIMAL.replace("range = [0, 100]", "range = [100, 0]"));
        assert!(e.contains("range = [100, 0]"), "{e}");
        let e = err(&MINIMAL.replace("m = 5", "m = 1"));
        assert!(e.contains("missing_data.m = 1"), "{e}");
        let e = err(&MINIMAL.replace("alpha = 0.05", "alpha = 5"));
        assert!(e.contains("analysis.alpha"), "{e}");
        let e = err(&MINIMAL.replace("role = \"primary\"", "role = \"secondary\""));
        assert!(e.contains("primary"), "{e}");
        let e = err(&MINIMAL.replace(
            "role = \"primary\"",
            "role = \"primary\"\nvisits = [\"baseline\", \"T9\"]",
        ));
        assert!(e.contains("'T9'"), "{e}");
        let e = err(&MINIMAL.replace("method = \"gee\"", "method = \"anova\""));
        assert!(e.contains("anova"), "{e}");
    }
}
