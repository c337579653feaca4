//! Fixed- and random-effects meta-analysis and meta-regression: the
//! equivalent of metafor's `rma.uni` (Viechtbauer 2010), with the τ²
//! estimators, inference variants, prediction intervals, heterogeneity
//! statistics and subgroup analysis.
//!
//! Conventions follow metafor 5.1 exactly unless stated: τ² is truncated at 0;
//! Q always uses the inverse-variance weights 1/vᵢ; ML/REML/EB use Fisher
//! scoring from max(0, HE) with step halving; I² is computed from τ² for
//! random-effects models and from Q for equal-effects models.

use std::fmt;
use std::str::FromStr;

use evidentia_stats::distributions::{chi2_sf, f_sf, normal_quantile, normal_sf, t_quantile, t_sf};
use serde::Serialize;

use crate::error::{MetaError, Result};
use crate::heterogeneity::{HeterogeneityCi, q_generalized, q_profile_ci};
use crate::linalg::{Design, dot, projection, trace, wls};

/// The τ² estimator (metafor's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Equal-effects (common-effect) model, inverse-variance weights; τ² = 0.
    Ee,
    /// Fixed-effects model (numerically identical to `Ee`).
    Fe,
    /// DerSimonian & Laird (1986) method-of-moments estimator.
    Dl,
    /// Hedges (1983) unweighted method-of-moments (variance-component) estimator.
    He,
    /// Hunter & Schmidt (2004) estimator.
    Hs,
    /// Sidik & Jonkman (2005) two-step estimator.
    Sj,
    /// Maximum likelihood by Fisher scoring (Viechtbauer 2005).
    Ml,
    /// Restricted maximum likelihood by Fisher scoring (Viechtbauer 2005).
    Reml,
    /// Paule & Mandel (1982) generalized-Q estimator (root of Q(τ²) = k − p).
    Pm,
    /// Empirical Bayes estimator (Morris 1983) by Fisher scoring.
    Eb,
}

impl Method {
    /// Whether the model has no heterogeneity component (EE/FE).
    pub fn is_equal_effects(self) -> bool {
        matches!(self, Method::Ee | Method::Fe)
    }

    /// metafor's spelling of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ee => "EE",
            Method::Fe => "FE",
            Method::Dl => "DL",
            Method::He => "HE",
            Method::Hs => "HS",
            Method::Sj => "SJ",
            Method::Ml => "ML",
            Method::Reml => "REML",
            Method::Pm => "PM",
            Method::Eb => "EB",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "ee" | "ce" => Method::Ee,
            "fe" => Method::Fe,
            "dl" => Method::Dl,
            "he" | "co" | "vc" => Method::He,
            "hs" => Method::Hs,
            "sj" => Method::Sj,
            "ml" => Method::Ml,
            "reml" => Method::Reml,
            "pm" | "mp" => Method::Pm,
            "eb" => Method::Eb,
            _ => {
                return Err(MetaError::invalid(
                    "method",
                    s,
                    "one of ee, fe, dl, he, hs, sj, ml, reml, pm, eb",
                ));
            }
        })
    }
}

/// How the coefficients are tested (metafor's `test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Test {
    /// Wald z test and normal-based CI (metafor's default).
    Z,
    /// t test with k − p df, unscaled variance.
    T,
    /// Knapp & Hartung (2003) / HKSJ: variance scaled by s²_w, t with k − p df.
    Knha,
    /// Knapp–Hartung with the ad hoc floor max(1, s²_w) (Röver et al. 2015).
    Adhoc,
}

impl Test {
    /// Whether t/F reference distributions are used.
    pub fn uses_t(self) -> bool {
        !matches!(self, Test::Z)
    }
}

impl FromStr for Test {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "z" => Test::Z,
            "t" => Test::T,
            "knha" | "hksj" | "kh" => Test::Knha,
            "adhoc" => Test::Adhoc,
            _ => {
                return Err(MetaError::invalid(
                    "test",
                    s,
                    "one of z, t, knha (hksj), adhoc",
                ));
            }
        })
    }
}

/// Which prediction interval to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PiType {
    /// No prediction interval (RevMan 5).
    Off,
    /// metafor's default: `z` under the z test, `t1` under t/knha/adhoc.
    Auto,
    /// Normal critical value.
    Z,
    /// t with k − p df (k − 1 without moderators).
    T1,
    /// t with k − p − 1 df (k − 2 without moderators): Higgins et al. 2009 /
    /// Riley et al. 2011, metafor `predtype = "Riley"`.
    T2,
}

impl FromStr for PiType {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "no" => PiType::Off,
            "auto" | "metafor" => PiType::Auto,
            "z" => PiType::Z,
            "t1" | "t" => PiType::T1,
            "t2" | "riley" | "hts" => PiType::T2,
            _ => {
                return Err(MetaError::invalid(
                    "prediction interval",
                    s,
                    "one of off, auto, z, t1, t2 (riley)",
                ));
            }
        })
    }
}

/// Which I² (and H²) is the headline value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum I2Definition {
    /// metafor: 100·τ²/(τ² + s²) from τ² for random-effects models, and the
    /// conventional (Q − df)/Q for equal-effects models.
    Metafor,
    /// Higgins & Thompson: max(0, (Q − df)/Q), H² = Q/df (RevMan 5).
    Conventional,
}

impl FromStr for I2Definition {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "metafor" | "tau2" | "from_tau2" => I2Definition::Metafor,
            "conventional" | "q" | "from_q" | "higgins" => I2Definition::Conventional,
            _ => {
                return Err(MetaError::invalid(
                    "i2 definition",
                    s,
                    "one of metafor (from tau2), conventional (from Q)",
                ));
            }
        })
    }
}

/// A named set of defaults; explicit options override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// metafor `rma()` defaults: REML, z test, PI by the test's distribution, I² from τ².
    #[default]
    Metafor,
    /// RevMan 5.4: DerSimonian–Laird, Wald z, I² from Q, no prediction interval.
    Revman5,
    /// Cochrane 2025 (RevMan Web): REML, HKSJ (knha) with t(k − 1), prediction
    /// interval t with k − 1 df (`t1`, as metafor under knha), I² from τ²,
    /// Q-profile CI for τ², fallback to DL when REML does not converge.
    Cochrane2025,
}

impl Profile {
    /// The profile's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Metafor => "metafor",
            Profile::Revman5 => "revman5",
            Profile::Cochrane2025 => "cochrane2025",
        }
    }
}

impl FromStr for Profile {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "metafor" => Profile::Metafor,
            "revman5" | "revman" => Profile::Revman5,
            "cochrane2025" | "cochrane" | "revmanweb" => Profile::Cochrane2025,
            _ => {
                return Err(MetaError::invalid(
                    "profile",
                    s,
                    "one of metafor, revman5, cochrane2025",
                ));
            }
        })
    }
}

/// Options of [`fit`]; `None` fields take the profile's default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitOptions {
    /// The profile whose defaults fill the unset options.
    pub profile: Profile,
    /// τ² estimator.
    pub method: Option<Method>,
    /// Inference for the coefficients.
    pub test: Option<Test>,
    /// Prediction-interval convention.
    pub pi: Option<PiType>,
    /// Headline I² definition.
    pub i2: Option<I2Definition>,
    /// Confidence level of the CI, PI and τ² CI.
    pub level: f64,
    /// Convergence threshold on |Δτ²| for ML/REML/EB (metafor: 1e-5).
    pub threshold: f64,
    /// Maximum Fisher-scoring iterations (metafor: 100).
    pub max_iter: usize,
    /// Refit with DL (recorded in the result) when ML/REML/EB do not converge.
    pub fallback_to_dl: Option<bool>,
    /// Compute the Q-profile CI for τ² (and I², H²).
    pub tau2_ci: bool,
    /// Tolerance of the Brent root finder for PM and the Q-profile bounds
    /// (R `uniroot`, metafor default ε^0.25 ≈ 1.2e-4).
    pub root_tol: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            profile: Profile::Metafor,
            method: None,
            test: None,
            pi: None,
            i2: None,
            level: 0.95,
            threshold: 1e-5,
            max_iter: 100,
            fallback_to_dl: None,
            tau2_ci: true,
            root_tol: f64::EPSILON.powf(0.25),
        }
    }
}

impl FitOptions {
    /// Default options of a profile.
    pub fn profile(profile: Profile) -> Self {
        FitOptions {
            profile,
            ..FitOptions::default()
        }
    }

    /// The same options with an explicit method.
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// The same options with an explicit test.
    pub fn with_test(mut self, test: Test) -> Self {
        self.test = Some(test);
        self
    }

    /// The same options with a convergence threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// The same options with tight convergence everywhere: Fisher-scoring
    /// threshold `tol` and root-finding tolerance `tol`.
    pub fn with_tight(mut self, tol: f64) -> Self {
        self.threshold = tol;
        self.root_tol = tol;
        self
    }

    /// Fill unset options from the profile and check the numeric ones.
    pub fn resolve(&self) -> Result<Settings> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(MetaError::invalid(
                "level",
                self.level,
                "must lie strictly between 0 and 1",
            ));
        }
        if !(self.threshold > 0.0 && self.threshold.is_finite()) {
            return Err(MetaError::invalid(
                "threshold",
                self.threshold,
                "must be a positive number",
            ));
        }
        if !(self.root_tol > 0.0 && self.root_tol.is_finite()) {
            return Err(MetaError::invalid(
                "root_tol",
                self.root_tol,
                "must be a positive number",
            ));
        }
        if self.max_iter == 0 {
            return Err(MetaError::invalid("max_iter", 0, "must be at least 1"));
        }
        let (method, test, pi, i2, fallback) = match self.profile {
            Profile::Metafor => (
                Method::Reml,
                Test::Z,
                PiType::Auto,
                I2Definition::Metafor,
                false,
            ),
            Profile::Revman5 => (
                Method::Dl,
                Test::Z,
                PiType::Off,
                I2Definition::Conventional,
                false,
            ),
            Profile::Cochrane2025 => (
                Method::Reml,
                Test::Knha,
                PiType::T1,
                I2Definition::Metafor,
                true,
            ),
        };
        Ok(Settings {
            profile: self.profile,
            method: self.method.unwrap_or(method),
            test: self.test.unwrap_or(test),
            pi: self.pi.unwrap_or(pi),
            i2_definition: self.i2.unwrap_or(i2),
            level: self.level,
            threshold: self.threshold,
            max_iter: self.max_iter,
            fallback_to_dl: self.fallback_to_dl.unwrap_or(fallback),
            tau2_ci: self.tau2_ci,
            root_tol: self.root_tol,
        })
    }
}

/// Options after the profile's defaults were applied (recorded in results).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Profile name.
    pub profile: Profile,
    /// τ² estimator asked for.
    pub method: Method,
    /// Inference for the coefficients.
    pub test: Test,
    /// Prediction-interval convention asked for.
    pub pi: PiType,
    /// Headline I² definition.
    pub i2_definition: I2Definition,
    /// Confidence level.
    pub level: f64,
    /// Fisher-scoring threshold on |Δτ²|.
    pub threshold: f64,
    /// Fisher-scoring iteration limit.
    pub max_iter: usize,
    /// Whether ML/REML/EB non-convergence falls back to DL.
    pub fallback_to_dl: bool,
    /// Whether the Q-profile τ² CI is computed.
    pub tau2_ci: bool,
    /// Root-finding tolerance for PM and the Q-profile CI.
    pub root_tol: f64,
}

/// Moderators of a meta-regression: one row per study (no intercept column;
/// the intercept is added by [`fit`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moderators {
    /// Column names.
    pub names: Vec<String>,
    /// Rows (studies) × columns (moderators).
    pub rows: Vec<Vec<f64>>,
}

/// The studies to pool: effect sizes, sampling variances, labels, moderators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaData {
    /// Study labels.
    pub labels: Vec<String>,
    /// Effect sizes yᵢ.
    pub yi: Vec<f64>,
    /// Sampling variances vᵢ.
    pub vi: Vec<f64>,
    /// Optional moderators (rows = studies).
    pub moderators: Option<Moderators>,
}

impl MetaData {
    /// Effect sizes and variances, labelled "Study 1" … "Study k".
    pub fn new(yi: &[f64], vi: &[f64]) -> Self {
        MetaData {
            labels: (1..=yi.len()).map(|i| format!("Study {i}")).collect(),
            yi: yi.to_vec(),
            vi: vi.to_vec(),
            moderators: None,
        }
    }

    /// The same data with study labels.
    pub fn with_labels<S: ToString>(mut self, labels: &[S]) -> Self {
        self.labels = labels.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The same data with moderators (rows = studies, no intercept column).
    pub fn with_moderators<S: ToString>(mut self, names: &[S], rows: Vec<Vec<f64>>) -> Self {
        self.moderators = Some(Moderators {
            names: names.iter().map(|s| s.to_string()).collect(),
            rows,
        });
        self
    }

    /// Number of studies.
    pub fn k(&self) -> usize {
        self.yi.len()
    }

    /// The studies listed in `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> MetaData {
        MetaData {
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            yi: idx.iter().map(|&i| self.yi[i]).collect(),
            vi: idx.iter().map(|&i| self.vi[i]).collect(),
            moderators: self.moderators.as_ref().map(|m| Moderators {
                names: m.names.clone(),
                rows: idx.iter().map(|&i| m.rows[i].clone()).collect(),
            }),
        }
    }

    /// Check the data and build the design matrix (intercept first).
    pub(crate) fn validate(&self) -> Result<(Design, Vec<String>)> {
        let k = self.yi.len();
        if self.vi.len() != k {
            return Err(MetaError::invalid(
                "vi",
                format!("{} values", self.vi.len()),
                &format!("must have as many values as yi ({k})"),
            ));
        }
        if self.labels.len() != k {
            return Err(MetaError::invalid(
                "labels",
                format!("{} labels", self.labels.len()),
                &format!("must have one label per study ({k})"),
            ));
        }
        for i in 0..k {
            if !self.yi[i].is_finite() {
                return Err(study_err(
                    &self.labels[i],
                    "yi",
                    self.yi[i],
                    "must be finite",
                ));
            }
            if !(self.vi[i].is_finite() && self.vi[i] > 0.0) {
                return Err(study_err(
                    &self.labels[i],
                    "vi",
                    self.vi[i],
                    "must be a finite positive sampling variance",
                ));
            }
        }
        let mut names = vec!["intrcpt".to_string()];
        let design = match &self.moderators {
            None => Design::intercept(k),
            Some(m) => {
                if m.rows.len() != k {
                    return Err(MetaError::invalid(
                        "moderators",
                        format!("{} rows", m.rows.len()),
                        &format!("must have one row per study ({k})"),
                    ));
                }
                let q = m.names.len();
                let p = q + 1;
                let mut x = Vec::with_capacity(k * p);
                for (i, row) in m.rows.iter().enumerate() {
                    if row.len() != q {
                        return Err(study_err(
                            &self.labels[i],
                            "moderators",
                            format!("{} values", row.len()),
                            &format!("must have one value per moderator ({q})"),
                        ));
                    }
                    x.push(1.0);
                    for (j, &v) in row.iter().enumerate() {
                        if !v.is_finite() {
                            return Err(study_err(
                                &self.labels[i],
                                &m.names[j],
                                v,
                                "moderator values must be finite",
                            ));
                        }
                        x.push(v);
                    }
                }
                names.extend(m.names.iter().cloned());
                Design { k, p, x }
            }
        };
        if k > 0 && k >= design.p && !design.full_rank() {
            return Err(MetaError::invalid(
                "moderators",
                names.join(", "),
                "rank-deficient: the columns (with the intercept) must be linearly independent",
            ));
        }
        Ok((design, names))
    }
}

fn study_err(study: &str, field: &str, value: impl ToString, expected: &str) -> MetaError {
    MetaError::Study {
        study: study.to_string(),
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// A prediction interval with its convention.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PredictionInterval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// `z`, `t1` (t, k − p df) or `t2` (t, k − p − 1 df).
    pub convention: PiType,
    /// Degrees of freedom of the t critical value (None for z).
    pub df: Option<f64>,
}

/// A visible fallback from one estimator to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fallback {
    /// The estimator asked for.
    pub from: Method,
    /// The estimator used instead.
    pub to: Method,
    /// Why.
    pub reason: String,
}

/// One model coefficient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    /// Name ("intrcpt" for the intercept).
    pub name: String,
    /// Estimate.
    pub estimate: f64,
    /// Standard error (Knapp–Hartung scaled under knha/adhoc).
    pub se: f64,
    /// z or t statistic.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Confidence interval.
    pub ci: [f64; 2],
}

/// Meta-regression output: coefficients, omnibus and residual tests, R².
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeratorResults {
    /// All coefficients, intercept first.
    pub coefficients: Vec<Coefficient>,
    /// Omnibus test of the moderators (all but the intercept): χ², or F under t/knha/adhoc.
    pub qm: f64,
    /// Numerator df of QM (number of moderators).
    pub qm_df: f64,
    /// Denominator df of the F test (None for χ²).
    pub qm_df2: Option<f64>,
    /// "chi2" or "F".
    pub qm_distribution: String,
    /// p-value of QM.
    pub qm_p: f64,
    /// Residual heterogeneity test QE (inverse-variance weights).
    pub qe: f64,
    /// df of QE (k − p).
    pub qe_df: f64,
    /// p-value of QE.
    pub qe_p: f64,
    /// Pseudo-R² (%) = 100·max(0, (τ²₀ − τ²)/τ²₀) against the intercept-only
    /// model with the same method; for EE/FE metafor's adjusted R² of the weighted lm.
    pub r2: Option<f64>,
}

/// Study-level output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyRow {
    /// Study label.
    pub study: String,
    /// Effect size.
    pub yi: f64,
    /// Sampling variance.
    pub vi: f64,
    /// Weight in percent: 100·wᵢ/Σw with wᵢ = 1/(vᵢ + τ²).
    pub weight: f64,
    /// Fitted value xᵢᵀβ̂.
    pub fitted: f64,
}

/// The pooled result of one fit as the sensitivity and small-study analyses report it
/// (flattened into their JSON rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PooledSummary {
    /// Pooled estimate.
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// z or t statistic (t undefined, NaN/null, with one study).
    pub statistic: f64,
    /// p-value.
    pub p_value: f64,
    /// Confidence interval.
    pub ci: [f64; 2],
    /// τ².
    pub tau2: f64,
    /// Headline I² (%).
    pub i2: f64,
    /// H².
    pub h2: f64,
    /// Cochran's Q.
    pub q: f64,
    /// df of Q.
    pub q_df: f64,
    /// p-value of Q.
    pub q_p: f64,
}

impl PooledSummary {
    /// The summary of a fit.
    pub fn of(f: &MetaFit) -> Self {
        PooledSummary {
            estimate: f.estimate,
            se: f.se,
            statistic: f.statistic,
            p_value: f.p_value,
            ci: f.ci,
            tau2: f.tau2,
            i2: f.i2,
            h2: f.h2,
            q: f.q,
            q_df: f.q_df,
            q_p: f.q_p,
        }
    }
}

/// Result of [`fit`]: the metafor `rma.uni` equivalent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaFit {
    /// Profile whose defaults were used.
    pub profile: Profile,
    /// All options after resolution.
    pub settings: Settings,
    /// τ² estimator actually used (differs from `settings.method` after a fallback).
    pub method: Method,
    /// Inference used.
    pub test: Test,
    /// Number of studies.
    pub k: usize,
    /// Number of coefficients (1 without moderators).
    pub p: usize,
    /// Pooled estimate (the intercept in a meta-regression).
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// z or t statistic of the estimate.
    pub statistic: f64,
    /// "z" or "t".
    pub statistic_kind: String,
    /// df of the t statistic (None for z).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Confidence interval of the estimate.
    pub ci: [f64; 2],
    /// Prediction interval (None when switched off).
    pub pi: Option<PredictionInterval>,
    /// Between-study variance τ² (truncated at 0).
    pub tau2: f64,
    /// τ.
    pub tau: f64,
    /// Standard error of τ² as metafor reports it (None for EE/FE).
    pub tau2_se: Option<f64>,
    /// Q-profile CI for τ², τ, I², H² (Viechtbauer 2007).
    pub tau2_ci: Option<HeterogeneityCi>,
    /// Headline I² (%), per `i2_definition`.
    pub i2: f64,
    /// Headline H².
    pub h2: f64,
    /// Which definition the headline I²/H² follow.
    pub i2_definition: I2Definition,
    /// Conventional I² = max(0, 100·(Q − df)/Q).
    pub i2_from_q: f64,
    /// Conventional H² = Q/df.
    pub h2_from_q: f64,
    /// I² = 100·τ²/(τ² + s²) with s² the typical within-study variance.
    pub i2_from_tau2: f64,
    /// H² = (τ² + s²)/s².
    pub h2_from_tau2: f64,
    /// Typical within-study variance s² = (k − p)/tr(P) ((k−1)Σw/((Σw)² − Σw²) without moderators).
    pub typical_vi: f64,
    /// Cochran's Q (QE with moderators), inverse-variance weights.
    pub q: f64,
    /// df of Q (k − p).
    pub q_df: f64,
    /// p-value of Q.
    pub q_p: f64,
    /// Knapp–Hartung scale s²_w actually applied (after the ad hoc floor); None for z/t.
    pub knha_scale: Option<f64>,
    /// Whether the τ² estimation converged.
    pub converged: bool,
    /// Fisher-scoring iterations (ML/REML/EB only).
    pub iterations: Option<usize>,
    /// A fallback to DL, if one happened.
    pub fallback: Option<Fallback>,
    /// Non-fatal remarks.
    pub warnings: Vec<String>,
    /// Meta-regression output (None without moderators).
    pub moderators: Option<ModeratorResults>,
    /// Study-level output.
    pub studies: Vec<StudyRow>,
}

/// Fit a fixed- or random-effects model (with optional moderators), as
/// metafor's `rma.uni`. Needs k ≥ 2 and k > p.
pub fn fit(data: &MetaData, options: &FitOptions) -> Result<MetaFit> {
    let settings = options.resolve()?;
    fit_with(data, &settings, false)
}

/// [`fit`] with resolved settings; `allow_single` permits k = 1 (used by
/// cumulative analysis, subgroups and trim-and-fill).
pub(crate) fn fit_with(data: &MetaData, s: &Settings, allow_single: bool) -> Result<MetaFit> {
    let (design, names) = data.validate()?;
    let k = design.k;
    let p = design.p;
    let needed = if allow_single { p } else { p + 1 };
    if k < needed.max(1) {
        return Err(MetaError::TooFewStudies {
            what: if p > 1 {
                "meta-regression".to_string()
            } else {
                "meta-analysis".to_string()
            },
            needed: needed.max(1),
            got: k,
        });
    }
    let y = &data.yi;
    let v = &data.vi;
    let mut warnings = Vec::new();

    // τ² estimation, with the optional visible fallback to DL.
    let mut method = s.method;
    let mut fallback = None;
    let est = if k == p {
        Tau2Estimate {
            tau2: 0.0,
            iterations: None,
            se: None,
        }
    } else {
        match estimate_tau2(y, v, &design, method, s) {
            Ok(e) => e,
            Err(MetaError::NoConvergence { what, iterations })
                if s.fallback_to_dl && matches!(method, Method::Ml | Method::Reml | Method::Eb) =>
            {
                let reason = format!("{what} did not converge after {iterations} iterations");
                warnings.push(format!("{reason}; fell back to DL"));
                fallback = Some(Fallback {
                    from: method,
                    to: Method::Dl,
                    reason,
                });
                method = Method::Dl;
                estimate_tau2(y, v, &design, method, s)?
            }
            Err(e) => return Err(e),
        }
    };
    let tau2 = est.tau2;

    // Model fit with w = 1/(v + τ²).
    let w: Vec<f64> = v.iter().map(|&vi| 1.0 / (vi + tau2)).collect();
    let f = wls(&design, y, &w).ok_or_else(singular)?;
    let mut scale = 1.0;
    let mut knha_scale = None;
    if matches!(s.test, Test::Knha | Test::Adhoc) {
        if method.is_equal_effects() {
            warnings.push(format!(
                "the Knapp-Hartung method is not meant for {} models",
                method
            ));
        }
        let mut s2w = if k > p && f.rss > f64::EPSILON {
            f.rss / (k - p) as f64
        } else {
            0.0
        };
        if s.test == Test::Adhoc && s2w < 1.0 {
            s2w = 1.0;
        }
        scale = s2w;
        knha_scale = Some(s2w);
    }
    let ddf = if s.test.uses_t() {
        Some((k - p) as f64)
    } else {
        None
    };
    let alpha = 1.0 - s.level;
    let crit = critical(alpha, ddf)?;
    let mut coefficients = Vec::with_capacity(p);
    for (j, name) in names.iter().enumerate() {
        let b = f.beta[j];
        let se = (scale * f.inv[j * p + j]).sqrt();
        let stat = b / se;
        coefficients.push(Coefficient {
            name: name.clone(),
            estimate: b,
            se,
            statistic: stat,
            p_value: two_sided_p(stat, ddf)?,
            ci: [b - crit * se, b + crit * se],
        });
    }

    // Heterogeneity: Q with FE weights, I², H².
    let het = heterogeneity(y, v, &design)?;
    let (i2_from_tau2, h2_from_tau2) = if het.vt > 0.0 {
        (100.0 * tau2 / (het.vt + tau2), tau2 / het.vt + 1.0)
    } else {
        (0.0, 1.0)
    };
    let (i2, h2) = match s.i2_definition {
        I2Definition::Conventional => (het.i2_q, het.h2_q),
        I2Definition::Metafor if method.is_equal_effects() => (het.i2_q, het.h2_q),
        I2Definition::Metafor => (i2_from_tau2, h2_from_tau2),
    };

    // Prediction interval for the intercept-only / x = (1, 0, …) prediction.
    let c0 = &coefficients[0];
    let pi = prediction_interval(s.pi, s.test, c0.estimate, c0.se, tau2, k, p, alpha)?;

    // τ² CI by Q-profile.
    let tau2_ci = if s.tau2_ci && !method.is_equal_effects() && k > p {
        Some(q_profile_ci(
            y, v, &design, s.level, het.vt, tau2, s.root_tol,
        )?)
    } else {
        None
    };

    // Meta-regression summaries.
    let moderators = if p > 1 {
        Some(moderator_results(
            data,
            &design,
            &f,
            scale,
            ddf,
            coefficients.clone(),
            &het,
            tau2,
            method,
            s,
        )?)
    } else {
        None
    };

    let sw: f64 = w.iter().sum();
    let studies = (0..k)
        .map(|i| StudyRow {
            study: data.labels[i].clone(),
            yi: y[i],
            vi: v[i],
            weight: 100.0 * w[i] / sw,
            fitted: dot(design.row(i), &f.beta),
        })
        .collect();

    let c0 = coefficients[0].clone();
    Ok(MetaFit {
        profile: s.profile,
        settings: *s,
        method,
        test: s.test,
        k,
        p,
        estimate: c0.estimate,
        se: c0.se,
        statistic: c0.statistic,
        statistic_kind: if ddf.is_some() { "t" } else { "z" }.to_string(),
        df: ddf,
        p_value: c0.p_value,
        ci: c0.ci,
        pi,
        tau2,
        tau: tau2.sqrt(),
        tau2_se: est.se,
        tau2_ci,
        i2,
        h2,
        i2_definition: s.i2_definition,
        i2_from_q: het.i2_q,
        h2_from_q: het.h2_q,
        i2_from_tau2,
        h2_from_tau2,
        typical_vi: het.vt,
        q: het.q,
        q_df: (k - p) as f64,
        q_p: het.q_p,
        knha_scale,
        converged: true,
        iterations: est.iterations,
        fallback,
        warnings,
        moderators,
        studies,
    })
}

fn singular() -> MetaError {
    MetaError::invalid(
        "model matrix",
        "singular",
        "X'WX must be invertible (check the moderators)",
    )
}

/// Critical value for a two-sided interval: z, or t with `df`.
pub(crate) fn critical(alpha: f64, df: Option<f64>) -> Result<f64> {
    Ok(match df {
        None => normal_quantile(1.0 - alpha / 2.0),
        Some(d) if d > 0.0 => t_quantile(1.0 - alpha / 2.0, d)?,
        Some(_) => f64::NAN,
    })
}

/// Two-sided p-value of a z (df None) or t statistic.
pub(crate) fn two_sided_p(stat: f64, df: Option<f64>) -> Result<f64> {
    if stat.is_nan() {
        return Ok(f64::NAN);
    }
    Ok(match df {
        None => (2.0 * normal_sf(stat.abs())).min(1.0),
        Some(d) if d > 0.0 => (2.0 * t_sf(stat.abs(), d)?).min(1.0),
        Some(_) => f64::NAN,
    })
}

#[allow(clippy::too_many_arguments)]
fn prediction_interval(
    kind: PiType,
    test: Test,
    est: f64,
    se: f64,
    tau2: f64,
    k: usize,
    p: usize,
    alpha: f64,
) -> Result<Option<PredictionInterval>> {
    let resolved = match kind {
        PiType::Off => return Ok(None),
        PiType::Auto if test.uses_t() => PiType::T1,
        PiType::Auto => PiType::Z,
        other => other,
    };
    let df = match resolved {
        PiType::T1 => Some(k as f64 - p as f64),
        PiType::T2 => Some(k as f64 - p as f64 - 1.0),
        _ => None,
    };
    let crit = critical(alpha, df)?;
    let half = crit * (se * se + tau2).sqrt();
    Ok(Some(PredictionInterval {
        lower: est - half,
        upper: est + half,
        convention: resolved,
        df,
    }))
}

/// Q and the heterogeneity summaries that do not depend on τ².
pub(crate) struct Het {
    pub q: f64,
    pub q_p: f64,
    pub i2_q: f64,
    pub h2_q: f64,
    pub vt: f64,
}

pub(crate) fn heterogeneity(y: &[f64], v: &[f64], d: &Design) -> Result<Het> {
    let (k, p) = (d.k, d.p);
    if k <= p {
        return Ok(Het {
            q: 0.0,
            q_p: 1.0,
            i2_q: 0.0,
            h2_q: 1.0,
            vt: 0.0,
        });
    }
    let w: Vec<f64> = v.iter().map(|&vi| 1.0 / vi).collect();
    let f = wls(d, y, &w).ok_or_else(singular)?;
    let q = f.rss.max(0.0);
    let df = (k - p) as f64;
    let trp = if p == 1 {
        let sw: f64 = w.iter().sum();
        let sw2: f64 = w.iter().map(|x| x * x).sum();
        sw - sw2 / sw
    } else {
        trace(&projection(d, &w, &f.inv), k)
    };
    let i2_q = if q > 0.0 {
        (100.0 * (q - df) / q).max(0.0)
    } else {
        0.0
    };
    Ok(Het {
        q,
        q_p: chi2_sf(q, df)?,
        i2_q,
        h2_q: q / df,
        vt: df / trp,
    })
}

/// A τ² estimate with its iteration count and metafor's standard error.
pub(crate) struct Tau2Estimate {
    pub tau2: f64,
    pub iterations: Option<usize>,
    pub se: Option<f64>,
}

/// Estimate τ² by `method` (truncated at 0) with metafor's SE formula.
pub(crate) fn estimate_tau2(
    y: &[f64],
    v: &[f64],
    d: &Design,
    method: Method,
    s: &Settings,
) -> Result<Tau2Estimate> {
    let (k, p) = (d.k, d.p);
    let kp = (k - p) as f64;
    let wfe: Vec<f64> = v.iter().map(|&x| 1.0 / x).collect();
    let sum_pp = |pm: &[f64]| pm.iter().map(|x| x * x).sum::<f64>();
    match method {
        Method::Ee | Method::Fe => Ok(Tau2Estimate {
            tau2: 0.0,
            iterations: None,
            se: None,
        }),
        Method::Hs | Method::Dl => {
            // Hunter & Schmidt (2004); DerSimonian & Laird (1986).
            let f = wls(d, y, &wfe).ok_or_else(singular)?;
            let pm = projection(d, &wfe, &f.inv);
            let trp = trace(&pm, k);
            let sw: f64 = wfe.iter().sum();
            let raw = if method == Method::Hs {
                (f.rss - k as f64) / sw
            } else {
                (f.rss - kp) / trp
            };
            let t = raw.max(0.0);
            let inner = 2.0 * kp + 4.0 * t * trp + 2.0 * t * t * sum_pp(&pm);
            let se = if method == Method::Hs {
                (inner / (sw * sw)).sqrt()
            } else {
                (inner / (trp * trp)).sqrt()
            };
            Ok(Tau2Estimate {
                tau2: t,
                iterations: None,
                se: Some(se),
            })
        }
        Method::He => {
            // Hedges (1983).
            let (t, pm) = hedges_raw(y, v, d)?;
            let t = t.max(0.0);
            let trpv: f64 = (0..k).map(|i| pm[i * k + i] * v[i]).sum();
            let pvpv: f64 = (0..k)
                .flat_map(|i| (0..k).map(move |j| (i, j)))
                .map(|(i, j)| pm[i * k + j] * pm[i * k + j] * v[i] * v[j])
                .sum();
            let se = ((2.0 * pvpv + 4.0 * t * trpv + 2.0 * t * t * kp) / (kp * kp)).sqrt();
            Ok(Tau2Estimate {
                tau2: t,
                iterations: None,
                se: Some(se),
            })
        }
        Method::Sj => {
            // Sidik & Jonkman (2005): τ₀² = Σ(yᵢ − ȳ)²/k, one weighted step.
            let ybar = y.iter().sum::<f64>() / k as f64;
            let t0 = y.iter().map(|x| (x - ybar).powi(2)).sum::<f64>() / k as f64;
            let w0: Vec<f64> = v.iter().map(|&x| 1.0 / (x + t0)).collect();
            let f = wls(d, y, &w0).ok_or_else(singular)?;
            let t = (t0 * f.rss / kp).max(0.0);
            let pm = projection(d, &w0, &f.inv);
            let mut pvpv = 0.0;
            let mut pvp = 0.0;
            for i in 0..k {
                for j in 0..k {
                    let p2 = pm[i * k + j] * pm[i * k + j];
                    pvpv += p2 * v[i] * v[j];
                    pvp += p2 * v[j];
                }
            }
            let se = (t0 * t0 / (kp * kp)
                * (2.0 * pvpv + 4.0 * t * pvp + 2.0 * t * t * sum_pp(&pm)))
            .sqrt();
            Ok(Tau2Estimate {
                tau2: t,
                iterations: None,
                se: Some(se),
            })
        }
        Method::Pm => {
            // Paule & Mandel (1982): root of Q_gen(τ²) = k − p.
            let t = pm_root(y, v, d, s.root_tol)?;
            let sw: f64 = v.iter().map(|&x| 1.0 / (x + t)).sum();
            let se = (2.0 * (k as f64).powi(2) / kp / (sw * sw)).sqrt();
            Ok(Tau2Estimate {
                tau2: t,
                iterations: None,
                se: Some(se),
            })
        }
        Method::Ml | Method::Reml | Method::Eb => fisher_scoring(y, v, d, method, s),
    }
}

/// Hedges' unweighted estimate (untruncated) and the OLS residual projector.
fn hedges_raw(y: &[f64], v: &[f64], d: &Design) -> Result<(f64, Vec<f64>)> {
    let k = d.k;
    let ones = vec![1.0; k];
    let f = wls(d, y, &ones).ok_or_else(singular)?;
    let pm = projection(d, &ones, &f.inv);
    let trpv: f64 = (0..k).map(|i| pm[i * k + i] * v[i]).sum();
    Ok(((f.rss - trpv) / (k - d.p) as f64, pm))
}

/// Paule–Mandel root of Q_gen(τ²) = k − p by Brent (R `uniroot`), as metafor.
fn pm_root(y: &[f64], v: &[f64], d: &Design, tol: f64) -> Result<f64> {
    let target = (d.k - d.p) as f64;
    let g = |t: f64| -> Result<f64> { Ok(q_generalized(y, v, d, t)? - target) };
    let g0 = g(0.0)?;
    if g0 < 0.0 {
        return Ok(0.0);
    }
    // metafor's interval [0, max(100, 10·mad(y)²)], widened if needed
    let mut hi = 100.0_f64.max(10.0 * mad(y).powi(2));
    let mut ghi = g(hi)?;
    let mut n = 0;
    while ghi > 0.0 {
        hi *= 10.0;
        ghi = g(hi)?;
        n += 1;
        if n > 30 {
            return Err(MetaError::NoConvergence {
                what: "Paule-Mandel root search".to_string(),
                iterations: n,
            });
        }
    }
    crate::heterogeneity::zeroin(g, 0.0, hi, g0, ghi, tol, 100, "Paule-Mandel root search")
}

/// R's `mad()`: 1.4826 × median absolute deviation.
fn mad(y: &[f64]) -> f64 {
    let med = median(y);
    let dev: Vec<f64> = y.iter().map(|x| (x - med).abs()).collect();
    1.4826 * median(&dev)
}

fn median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Fisher scoring for ML, REML (Viechtbauer 2005) and EB (Morris 1983), as
/// metafor: start at max(0, HE), step halving at 0, stop at |Δτ²| < threshold.
fn fisher_scoring(
    y: &[f64],
    v: &[f64],
    d: &Design,
    method: Method,
    s: &Settings,
) -> Result<Tau2Estimate> {
    let (k, p) = (d.k, d.p);
    let kp = (k - p) as f64;
    let (he, _) = hedges_raw(y, v, d)?;
    let mut tau2 = he.max(0.0);
    let mut change = s.threshold + 1.0;
    let mut iter = 0usize;
    while change > s.threshold {
        iter += 1;
        let old = tau2;
        let w: Vec<f64> = v.iter().map(|&x| 1.0 / (x + tau2)).collect();
        let f = wls(d, y, &w).ok_or_else(singular)?;
        // P y = W (y − Xβ̂)
        let py: Vec<f64> = (0..k)
            .map(|i| w[i] * (y[i] - dot(d.row(i), &f.beta)))
            .collect();
        let sw: f64 = w.iter().sum();
        let adj = match method {
            Method::Ml => {
                let yppy: f64 = py.iter().map(|x| x * x).sum();
                let sw2: f64 = w.iter().map(|x| x * x).sum();
                (yppy - sw) / sw2
            }
            Method::Reml => {
                let pm = projection(d, &w, &f.inv);
                let yppy: f64 = py.iter().map(|x| x * x).sum();
                let trp = trace(&pm, k);
                let trpp: f64 = pm.iter().map(|x| x * x).sum();
                (yppy - trp) / trpp
            }
            _ => (f.rss * k as f64 / kp - k as f64) / sw,
        };
        let mut adj = if adj.is_nan() { 0.0 } else { adj };
        let mut halvings = 0;
        while tau2 + adj < 0.0 {
            adj /= 2.0;
            halvings += 1;
            if halvings > 2000 {
                adj = -tau2;
                break;
            }
        }
        tau2 += adj;
        change = (old - tau2).abs();
        if iter > s.max_iter {
            return Err(MetaError::NoConvergence {
                what: format!("Fisher scoring ({method})"),
                iterations: iter - 1,
            });
        }
    }
    tau2 = tau2.max(0.0);
    // metafor's ll0check: if the (restricted) log-likelihood is higher at τ² = 0, use 0.
    if matches!(method, Method::Ml | Method::Reml) && tau2 > s.threshold {
        let ll = |t: f64| -> Result<f64> { loglik(y, v, d, t, method == Method::Reml) };
        if ll(0.0)? - ll(tau2)? > f64::EPSILON.powf(0.25) {
            tau2 = 0.0;
        }
    }
    let w: Vec<f64> = v.iter().map(|&x| 1.0 / (x + tau2)).collect();
    let sw: f64 = w.iter().sum();
    let se = match method {
        Method::Ml => (2.0 / w.iter().map(|x| x * x).sum::<f64>()).sqrt(),
        Method::Reml => {
            let f = wls(d, y, &w).ok_or_else(singular)?;
            let pm = projection(d, &w, &f.inv);
            (2.0 / pm.iter().map(|x| x * x).sum::<f64>()).sqrt()
        }
        _ => (2.0 * (k as f64).powi(2) / kp / (sw * sw)).sqrt(),
    };
    Ok(Tau2Estimate {
        tau2,
        iterations: Some(iter),
        se: Some(se),
    })
}

/// The ML or REML log-likelihood at τ² (metafor's `ll.ML` / `ll.REML`).
pub(crate) fn loglik(y: &[f64], v: &[f64], d: &Design, tau2: f64, reml: bool) -> Result<f64> {
    let (k, p) = (d.k, d.p);
    let w: Vec<f64> = v.iter().map(|&x| 1.0 / (x + tau2)).collect();
    let f = wls(d, y, &w).ok_or_else(singular)?;
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let sumlog: f64 = v.iter().map(|&x| (x + tau2).ln()).sum();
    if reml {
        let l = crate::linalg::cholesky(&d.xtwx(&w), p, 0.0).ok_or_else(singular)?;
        let logdet: f64 = (0..p).map(|j| 2.0 * l[j * p + j].ln()).sum();
        Ok(-0.5 * (k - p) as f64 * ln2pi - 0.5 * sumlog - 0.5 * logdet - 0.5 * f.rss)
    } else {
        Ok(-0.5 * k as f64 * ln2pi - 0.5 * sumlog - 0.5 * f.rss)
    }
}

#[allow(clippy::too_many_arguments)]
fn moderator_results(
    data: &MetaData,
    d: &Design,
    f: &crate::linalg::Wls,
    scale: f64,
    ddf: Option<f64>,
    coefficients: Vec<Coefficient>,
    het: &Het,
    tau2: f64,
    method: Method,
    s: &Settings,
) -> Result<ModeratorResults> {
    let (k, p) = (d.k, d.p);
    let m = p - 1;
    // QM = b' V⁻¹ b over the moderator coefficients.
    let mut sub = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            sub[i * m + j] = scale * f.inv[(i + 1) * p + (j + 1)];
        }
    }
    let b = &f.beta[1..];
    let qm = match crate::linalg::spd_inverse(&sub, m) {
        Some(inv) => {
            let mut q = 0.0;
            for i in 0..m {
                for j in 0..m {
                    q += b[i] * inv[i * m + j] * b[j];
                }
            }
            q
        }
        None => f64::NAN,
    };
    let (qm, qm_df2, qm_distribution, qm_p) = match ddf {
        Some(df2) => {
            let qm = qm / m as f64;
            let pv = if df2 > 0.0 && qm.is_finite() {
                f_sf(qm, m as f64, df2)?
            } else {
                f64::NAN
            };
            (qm, Some(df2), "F", pv)
        }
        None => {
            let pv = if qm.is_finite() {
                chi2_sf(qm, m as f64)?
            } else {
                f64::NAN
            };
            (qm, None, "chi2", pv)
        }
    };
    // Pseudo-R² against the intercept-only model with the same method.
    let r2 = if method.is_equal_effects() {
        let w: Vec<f64> = data.vi.iter().map(|&x| 1.0 / x).collect();
        let sw: f64 = w.iter().sum();
        let ybar = dot(&w, &data.yi) / sw;
        let tss: f64 = (0..k).map(|i| w[i] * (data.yi[i] - ybar).powi(2)).sum();
        if tss > 0.0 {
            let r2 = 1.0 - het.q / tss;
            let adj = 1.0 - (1.0 - r2) * (k as f64 - 1.0) / (k - p) as f64;
            Some((100.0 * adj).max(0.0))
        } else {
            Some(0.0)
        }
    } else {
        let d0 = Design::intercept(k);
        match estimate_tau2(&data.yi, &data.vi, &d0, method, s) {
            Ok(e0) if e0.tau2 > 0.0 => Some((100.0 * (e0.tau2 - tau2) / e0.tau2).max(0.0)),
            Ok(_) => Some(0.0),
            Err(_) => None,
        }
    };
    Ok(ModeratorResults {
        coefficients,
        qm,
        qm_df: m as f64,
        qm_df2,
        qm_distribution: qm_distribution.to_string(),
        qm_p,
        qe: het.q,
        qe_df: (k - p) as f64,
        qe_p: het.q_p,
        r2,
    })
}

// ---------------------------------------------------------------------------
// Subgroups

/// One subgroup's pooled result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubgroupResult {
    /// Subgroup name.
    pub group: String,
    /// Number of studies in it.
    pub k: usize,
    /// The fit within the subgroup (its own τ²).
    pub fit: MetaFit,
}

/// Subgroup analysis: per-group fits and tests for subgroup differences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubgroupAnalysis {
    /// Profile used.
    pub profile: Profile,
    /// Settings used for every fit.
    pub settings: Settings,
    /// Per-group results, in order of first appearance.
    pub subgroups: Vec<SubgroupResult>,
    /// RevMan's test for subgroup differences: Q_between = Σ w_g (μ̂_g − μ̂)²,
    /// w_g = 1/SE_g², μ̂ = Σw_gμ̂_g/Σw_g, χ² with G − 1 df.
    pub q_between: f64,
    /// df of Q_between (G − 1).
    pub q_between_df: f64,
    /// p-value of Q_between.
    pub q_between_p: f64,
    /// I² (%) of the subgroup estimates, max(0, (Q_b − df)/Q_b) as RevMan shows.
    pub i2_between: f64,
    /// Moderator-based test: QM of the meta-regression on subgroup dummies
    /// (common τ², same method and test); None when it cannot be fitted.
    pub moderator_test: Option<ModeratorResults>,
}

/// Fit each subgroup separately (k = 1 subgroups are allowed) and test for
/// differences between them (RevMan's Q_between and the moderator test).
pub fn subgroups<S: AsRef<str>>(
    data: &MetaData,
    groups: &[S],
    options: &FitOptions,
) -> Result<SubgroupAnalysis> {
    let s = options.resolve()?;
    if groups.len() != data.k() {
        return Err(MetaError::invalid(
            "groups",
            format!("{} values", groups.len()),
            &format!("must have one group per study ({})", data.k()),
        ));
    }
    data.validate()?;
    let mut names: Vec<String> = Vec::new();
    for g in groups {
        if !names.iter().any(|n| n == g.as_ref()) {
            names.push(g.as_ref().to_string());
        }
    }
    if names.len() < 2 {
        return Err(MetaError::invalid(
            "groups",
            names.len(),
            "subgroup analysis needs at least 2 subgroups",
        ));
    }
    let mut out = Vec::new();
    for name in &names {
        let idx: Vec<usize> = (0..data.k())
            .filter(|&i| groups[i].as_ref() == name)
            .collect();
        let sub = data.subset(&idx);
        let fit = fit_with(&sub, &s, true)?;
        out.push(SubgroupResult {
            group: name.clone(),
            k: idx.len(),
            fit,
        });
    }
    let w: Vec<f64> = out.iter().map(|g| 1.0 / (g.fit.se * g.fit.se)).collect();
    let sw: f64 = w.iter().sum();
    let mu = out
        .iter()
        .zip(&w)
        .map(|(g, wg)| wg * g.fit.estimate)
        .sum::<f64>()
        / sw;
    let qb: f64 = out
        .iter()
        .zip(&w)
        .map(|(g, wg)| wg * (g.fit.estimate - mu).powi(2))
        .sum();
    let df = (names.len() - 1) as f64;
    let i2b = if qb > 0.0 {
        (100.0 * (qb - df) / qb).max(0.0)
    } else {
        0.0
    };
    // Moderator-based test on dummies for groups 2..G.
    let rows: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            names[1..]
                .iter()
                .map(|n| if n == g.as_ref() { 1.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let mod_names: Vec<String> = names[1..].iter().map(|n| format!("group={n}")).collect();
    let mut md = data.clone();
    md.moderators = Some(Moderators {
        names: mod_names,
        rows,
    });
    let mut s_mod = s;
    s_mod.tau2_ci = false;
    s_mod.pi = PiType::Off;
    let moderator_test = fit_with(&md, &s_mod, false).ok().and_then(|f| f.moderators);
    Ok(SubgroupAnalysis {
        profile: s.profile,
        settings: s,
        subgroups: out,
        q_between: qb,
        q_between_df: df,
        q_between_p: chi2_sf(qb, df)?,
        i2_between: i2b,
        moderator_test,
    })
}
