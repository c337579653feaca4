//! `evidentia meta pool`: effect sizes from a study table, the fixed- or random-effects
//! model, subgroups, meta-regression, leave-one-out and small-study bias, with the JSON
//! keys of issue 7 and forest/funnel figures into `--out`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use evidentia_meta::bias::{
    self, BeggTest, EggerModel, EggerTest, Side, TrimFill, TrimFillEstimator,
};
use evidentia_meta::conversion::{
    CiCritical, Converted, MedianSummary, mean_luo2018, mean_sd_from_median, sd_from_ci, sd_from_se,
};
use evidentia_meta::effect_size::{
    self, BinaryStudy, ContinuousArm, ContinuousStudy, EffectFlag, EffectSize, EscalcOptions,
    Measure, SmdConvention,
};
use evidentia_meta::heterogeneity::HeterogeneityCi;
use evidentia_meta::influence::{self, LeaveOneOut};
use evidentia_meta::model::{
    self, FitOptions, MetaData, MetaFit, Method, ModeratorResults, PiType, PooledSummary, Profile,
    SubgroupAnalysis, Test,
};
use evidentia_meta::rob::{self, RobOptions, RobTool};
use evidentia_report::{ArmData, ForestOptions};
use evidentia_stats::design::{Coding, Column, Frame, build_design};
use evidentia_stats::formula::Formula;
use serde::Serialize;

use crate::error::{CliError, CliResult, meta_err};
use crate::output::emit;
use crate::provenance::Provenance;
use crate::table::{Table, typed_column};

/// Effect measure of `meta pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MeasureArg {
    /// Standardized mean difference, Hedges' g (from means).
    Smd,
    /// Raw mean difference (from means).
    Md,
    /// Log odds ratio (from 2×2 cells or events).
    Or,
    /// Log risk ratio (from 2×2 cells or events).
    Rr,
    /// Risk difference (from 2×2 cells or events).
    Rd,
    /// Precomputed effect sizes (--yi with --vi or --sei).
    Generic,
}

/// τ² estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Equal (common) effect.
    Ee,
    /// DerSimonian–Laird.
    Dl,
    /// Hedges.
    He,
    /// Hunter–Schmidt.
    Hs,
    /// Sidik–Jonkman.
    Sj,
    /// Maximum likelihood.
    Ml,
    /// Restricted maximum likelihood.
    Reml,
    /// Paule–Mandel.
    Pm,
    /// Empirical Bayes.
    Eb,
}

/// Prediction-interval convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PiArg {
    /// Normal quantile (metafor's default).
    Z,
    /// t with k − 1 df.
    T1,
    /// t with k − 2 df (Higgins, Thompson & Spiegelhalter 2009; Riley et al. 2011).
    T2,
}

/// Named profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// metafor's defaults (REML, z, I² from τ²).
    Metafor,
    /// RevMan 5 (DL, Wald z, I² from Q, approximate J, RevMan variance, no PI).
    Revman5,
    /// Cochrane 2025 / RevMan Web (REML, HKSJ, prediction interval, I² from τ²).
    Cochrane2025,
}

/// Egger regression model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EggerArg {
    /// metafor's default: mixed-effects meta-regression on the SE, z test.
    Rma,
    /// Classical Egger: weighted least squares with multiplicative dispersion, t test.
    Lm,
}

/// Trim-and-fill estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrimfillArg {
    /// Duval & Tweedie's L0.
    #[value(name = "L0", alias = "l0")]
    L0,
    /// Duval & Tweedie's R0.
    #[value(name = "R0", alias = "r0")]
    R0,
}

/// Arguments of `meta pool`.
#[derive(Debug, Args)]
pub struct PoolArgs {
    /// CSV or TSV with one row per study.
    #[arg(long)]
    pub data: PathBuf,
    /// Study label column (default: "Study 1", "Study 2", ...).
    #[arg(long)]
    pub study: Option<String>,
    /// Effect measure (default: smd for means, or for 2×2 data, generic for --yi).
    #[arg(long, value_enum)]
    pub measure: Option<MeasureArg>,
    /// Precomputed effect sizes.
    #[arg(long)]
    pub yi: Option<String>,
    /// Their sampling variances.
    #[arg(long)]
    pub vi: Option<String>,
    /// Their standard errors (instead of --vi).
    #[arg(long, conflicts_with = "vi")]
    pub sei: Option<String>,
    /// Mean of group 1 (experimental).
    #[arg(long)]
    pub m1: Option<String>,
    /// SD of group 1.
    #[arg(long)]
    pub sd1: Option<String>,
    /// Size of group 1 (also the total of group 1 with --events1).
    #[arg(long)]
    pub n1: Option<String>,
    /// Mean of group 2 (control).
    #[arg(long)]
    pub m2: Option<String>,
    /// SD of group 2.
    #[arg(long)]
    pub sd2: Option<String>,
    /// Size of group 2 (also the total of group 2 with --events2).
    #[arg(long)]
    pub n2: Option<String>,
    /// Where a study reports no SD for group 1: the SE of its mean (SD = SE·√n).
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub se1: Option<String>,
    /// Where no SD: the SE of group 2's mean.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub se2: Option<String>,
    /// Where no SD or SE: the lower limit of a CI of group 1's mean (SD = √n·width/(2·t),
    /// t with n − 1 df below n = 100, z above; Cochrane Handbook §6.5.2.2).
    #[arg(
        long,
        requires = "ci1_upper",
        help_heading = "Extraction conversions (means input)"
    )]
    pub ci1_lower: Option<String>,
    /// The upper limit of that CI.
    #[arg(
        long,
        requires = "ci1_lower",
        help_heading = "Extraction conversions (means input)"
    )]
    pub ci1_upper: Option<String>,
    /// Lower limit of a CI of group 2's mean.
    #[arg(
        long,
        requires = "ci2_upper",
        help_heading = "Extraction conversions (means input)"
    )]
    pub ci2_lower: Option<String>,
    /// Upper limit of a CI of group 2's mean.
    #[arg(
        long,
        requires = "ci2_lower",
        help_heading = "Extraction conversions (means input)"
    )]
    pub ci2_upper: Option<String>,
    /// Level of the reported CIs of the means.
    #[arg(
        long,
        default_value_t = 0.95,
        help_heading = "Extraction conversions (means input)"
    )]
    pub reported_ci_level: f64,
    /// Where a study reports a median instead of a mean (and SD) for group 1: the median;
    /// with the quartiles and/or the range the mean is estimated by Luo et al. (2018) and
    /// the SD by Wan et al. (2014), or Shi et al. (2020) with all five numbers (metafor's
    /// `conv.fivenum`).
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub median1: Option<String>,
    /// Group 1's first quartile.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub q1_1: Option<String>,
    /// Group 1's third quartile.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub q3_1: Option<String>,
    /// Group 1's minimum.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub min1: Option<String>,
    /// Group 1's maximum.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub max1: Option<String>,
    /// Group 2's median.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub median2: Option<String>,
    /// Group 2's first quartile.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub q1_2: Option<String>,
    /// Group 2's third quartile.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub q3_2: Option<String>,
    /// Group 2's minimum.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub min2: Option<String>,
    /// Group 2's maximum.
    #[arg(long, help_heading = "Extraction conversions (means input)")]
    pub max2: Option<String>,
    /// 2×2 cell: events in group 1.
    #[arg(long)]
    pub ai: Option<String>,
    /// 2×2 cell: non-events in group 1.
    #[arg(long)]
    pub bi: Option<String>,
    /// 2×2 cell: events in group 2.
    #[arg(long)]
    pub ci: Option<String>,
    /// 2×2 cell: non-events in group 2.
    #[arg(long)]
    pub di: Option<String>,
    /// Events in group 1 (with --n1 as its total).
    #[arg(long)]
    pub events1: Option<String>,
    /// Events in group 2 (with --n2 as its total).
    #[arg(long)]
    pub events2: Option<String>,
    /// τ² estimator (default: the profile's; REML for metafor and cochrane2025, DL for revman5).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Hartung–Knapp–Sidik–Jonkman: t test with the scaled variance.
    #[arg(long)]
    pub knha: bool,
    /// When ML/REML/EB do not converge, fall back to DL visibly (recorded in `warnings`)
    /// instead of failing.
    #[arg(long)]
    pub fallback_dl: bool,
    /// Prediction interval convention (default: the profile's).
    #[arg(long, value_enum)]
    pub pi: Option<PiArg>,
    /// Named profile recorded in the output.
    #[arg(long, value_enum, default_value = "metafor")]
    pub profile: ProfileArg,
    /// Confidence level of the CIs.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Column with subgroup labels: one model per subgroup and the test for differences.
    #[arg(long)]
    pub subgroup: Option<String>,
    /// Meta-regression moderators as a formula right-hand side, e.g. "ablat + year" or
    /// "C(route)" (text columns are factors, first sorted level as reference).
    #[arg(long)]
    pub moderators: Option<String>,
    /// Egger's regression test for funnel-plot asymmetry.
    #[arg(long)]
    pub egger: bool,
    /// Egger model: rma (metafor's default) or lm (classical).
    #[arg(long, value_enum, default_value = "rma", requires = "egger")]
    pub egger_model: EggerArg,
    /// Begg & Mazumdar's rank correlation test.
    #[arg(long)]
    pub begg: bool,
    /// Trim-and-fill with the L0 or R0 estimator.
    #[arg(long, value_enum, ignore_case = true)]
    pub trimfill: Option<TrimfillArg>,
    /// Leave-one-out sensitivity analysis.
    #[arg(long)]
    pub leave_one_out: bool,
    /// Directory for the forest and funnel plots (SVG and PNG).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Risk-of-bias table (Study, D1..Dn, optional Overall) drawn as forest-plot columns.
    #[arg(long)]
    pub rob: Option<PathBuf>,
    /// Tool of the --rob table.
    #[arg(long, value_enum, default_value = "rob2", requires = "rob")]
    pub rob_tool: crate::meta_cmd::ToolArg,
    /// Experimental-arm label for the forest plot.
    #[arg(long, default_value = "Experimental")]
    pub label1: String,
    /// Control-arm label for the forest plot.
    #[arg(long, default_value = "Control")]
    pub label2: String,
}

/// One study as it went into the model.
#[derive(Debug, Serialize)]
struct StudyOut {
    study: String,
    yi: f64,
    vi: f64,
    sei: f64,
    ci: [f64; 2],
    /// Weight in percent.
    weight: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    flags: Vec<EffectFlag>,
}

/// A study left out, with why.
#[derive(Debug, Serialize)]
struct DroppedOut {
    study: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct PiOut {
    lower: f64,
    upper: f64,
    convention: PiType,
    df: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SubgroupOut {
    group: String,
    k: usize,
    #[serde(flatten)]
    pooled: PooledSummary,
    pi: Option<[f64; 2]>,
}

#[derive(Debug, Default, Serialize)]
struct BiasOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    egger: Option<EggerTest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    begg: Option<BeggTest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trimfill: Option<TrimFill>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// The JSON of `meta pool` (keys as issue 7 writes them; extras documented in the README).
#[derive(Debug, Serialize)]
struct PoolOutput {
    measure: String,
    scale: &'static str,
    estimate: f64,
    se: f64,
    statistic: f64,
    statistic_kind: String,
    df: Option<f64>,
    p_value: f64,
    ci: [f64; 2],
    pi: Option<[f64; 2]>,
    pi_detail: Option<PiOut>,
    tau2: f64,
    tau: f64,
    tau2_se: Option<f64>,
    tau2_ci: Option<[f64; 2]>,
    heterogeneity_ci: Option<HeterogeneityCi>,
    i2: f64,
    h2: f64,
    i2_definition: String,
    i2_from_q: f64,
    i2_from_tau2: f64,
    q: f64,
    q_df: f64,
    q_p: f64,
    k: usize,
    method: Method,
    test: Test,
    profile: Profile,
    level: f64,
    converged: bool,
    iterations: Option<usize>,
    /// Ratio measures: estimate and CI back-transformed (exp).
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<ExpOut>,
    studies: Vec<StudyOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dropped: Vec<DroppedOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    moderators: Option<ModeratorResults>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subgroups: Option<Vec<SubgroupOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q_between: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q_between_df: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q_between_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    leave_one_out: Option<Vec<LeaveOneOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bias: Option<BiasOut>,
    warnings: Vec<String>,
    figures: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ExpOut {
    estimate: f64,
    ci: [f64; 2],
    pi: Option<[f64; 2]>,
}

/// The studies after effect-size computation, ready for the model.
pub struct PoolData {
    /// Effect measure (None = generic).
    pub measure: Option<Measure>,
    /// Data for the model (estimable studies only).
    pub data: MetaData,
    /// Table row of each study in `data`.
    pub rows: Vec<usize>,
    /// Arm data for the forest plot, aligned with `data`.
    pub arms: Vec<Option<(ArmData, ArmData)>>,
    /// Flags of each study in `data`.
    pub flags: Vec<Vec<EffectFlag>>,
    /// Studies that could not be used, with the reason.
    dropped: Vec<DroppedOut>,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

fn col(table: &Table, name: &Option<String>) -> CliResult<Option<Vec<f64>>> {
    name.as_deref()
        .map(|n| table.numeric_with_nan(n))
        .transpose()
}

fn count(v: f64) -> u64 {
    if v.is_finite() && v >= 0.0 {
        v.round() as u64
    } else {
        0
    }
}

/// The column names of one arm's continuous summaries: reported mean and SD, and what
/// the conversions start from.
struct ArmColumns<'a> {
    mean: &'a Option<String>,
    sd: &'a Option<String>,
    n: &'a Option<String>,
    se: &'a Option<String>,
    ci: (&'a Option<String>, &'a Option<String>),
    median: &'a Option<String>,
    q1: &'a Option<String>,
    q3: &'a Option<String>,
    min: &'a Option<String>,
    max: &'a Option<String>,
}

impl ArmColumns<'_> {
    fn has_conversion(&self) -> bool {
        self.se.is_some() || self.ci.0.is_some() || self.median.is_some()
    }

    /// Whether some column can give the SD.
    fn has_spread(&self) -> bool {
        self.sd.is_some()
            || self.se.is_some()
            || self.ci.0.is_some()
            || (self.median.is_some()
                && ((self.q1.is_some() && self.q3.is_some())
                    || (self.min.is_some() && self.max.is_some())))
    }
}

fn arm_columns(a: &PoolArgs, arm: u8) -> ArmColumns<'_> {
    if arm == 1 {
        ArmColumns {
            mean: &a.m1,
            sd: &a.sd1,
            n: &a.n1,
            se: &a.se1,
            ci: (&a.ci1_lower, &a.ci1_upper),
            median: &a.median1,
            q1: &a.q1_1,
            q3: &a.q3_1,
            min: &a.min1,
            max: &a.max1,
        }
    } else {
        ArmColumns {
            mean: &a.m2,
            sd: &a.sd2,
            n: &a.n2,
            se: &a.se2,
            ci: (&a.ci2_lower, &a.ci2_upper),
            median: &a.median2,
            q1: &a.q1_2,
            q3: &a.q3_2,
            min: &a.min2,
            max: &a.max2,
        }
    }
}

/// One arm's columns read from the table (NaN where a column is absent or a cell empty).
struct ArmValues {
    mean: Vec<f64>,
    sd: Vec<f64>,
    n: Vec<f64>,
    se: Vec<f64>,
    ci: (Vec<f64>, Vec<f64>),
    median: Vec<f64>,
    q1: Vec<f64>,
    q3: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl ArmValues {
    fn read(table: &Table, c: &ArmColumns) -> CliResult<Self> {
        let rows = table.rows.len();
        let get = |name: &Option<String>| -> CliResult<Vec<f64>> {
            Ok(col(table, name)?.unwrap_or_else(|| vec![f64::NAN; rows]))
        };
        Ok(ArmValues {
            mean: get(c.mean)?,
            sd: get(c.sd)?,
            n: get(c.n)?,
            se: get(c.se)?,
            ci: (get(c.ci.0)?, get(c.ci.1)?),
            median: get(c.median)?,
            q1: get(c.q1)?,
            q3: get(c.q3)?,
            min: get(c.min)?,
            max: get(c.max)?,
        })
    }

    /// Row `i`'s mean, SD and n, with a flag for each derived value: the reported mean and
    /// SD where given; else the SD from the SE, then from the CI, then from the median's
    /// quartiles and/or range; the mean from the median summary. `None` when the row lacks
    /// what any of these needs; an error when the reported values are inconsistent.
    fn resolve(
        &self,
        i: usize,
        arm: u8,
        ci_level: f64,
    ) -> Result<Option<(ContinuousArm, Vec<EffectFlag>)>, String> {
        let n = self.n[i];
        if n.is_nan() {
            return Ok(None);
        }
        let opt = |v: f64| (!v.is_nan()).then_some(v);
        let flag = |quantity: &str, c: Converted| EffectFlag::Converted {
            arm,
            quantity: quantity.into(),
            value: c.value,
            method: c.method,
        };
        let err = |e: evidentia_meta::MetaError| e.to_string();
        let median = opt(self.median[i]).map(|m| MedianSummary {
            min: opt(self.min[i]),
            q1: opt(self.q1[i]),
            median: m,
            q3: opt(self.q3[i]),
            max: opt(self.max[i]),
            n,
        });
        let mut flags = Vec::new();
        let mean = match (opt(self.mean[i]), &median) {
            (Some(m), _) => m,
            (None, Some(s)) => {
                let c = mean_luo2018(s).map_err(err)?;
                flags.push(flag("mean", c));
                c.value
            }
            (None, None) => return Ok(None),
        };
        let sd = if let Some(sd) = opt(self.sd[i]) {
            sd
        } else {
            let c = if let Some(se) = opt(self.se[i]) {
                sd_from_se(se, n).map_err(err)?
            } else if let (Some(lo), Some(hi)) = (opt(self.ci.0[i]), opt(self.ci.1[i])) {
                sd_from_ci(lo, hi, n, ci_level, CiCritical::Auto).map_err(err)?
            } else if let Some(s) = &median {
                if s.q1.is_none() && s.min.is_none() {
                    return Ok(None);
                }
                mean_sd_from_median(s).map_err(err)?.sd
            } else {
                return Ok(None);
            };
            flags.push(flag("sd", c));
            c.value
        };
        Ok(Some((ContinuousArm { mean, sd, n }, flags)))
    }
}

/// Which kind of input the options describe.
enum Input {
    Generic,
    Means,
    Cells,
    Events,
}

fn input_kind(a: &PoolArgs) -> CliResult<Input> {
    let generic = a.yi.is_some() || a.vi.is_some() || a.sei.is_some();
    let means = a.m1.is_some()
        || a.sd1.is_some()
        || a.m2.is_some()
        || a.sd2.is_some()
        || arm_columns(a, 1).has_conversion()
        || arm_columns(a, 2).has_conversion();
    let cells = a.ai.is_some() || a.bi.is_some() || a.ci.is_some() || a.di.is_some();
    let events = a.events1.is_some() || a.events2.is_some();
    let kinds = [generic, means, cells, events]
        .iter()
        .filter(|&&b| b)
        .count();
    if kinds != 1 {
        return Err(usage(
            "give exactly one kind of input: --yi with --vi or --sei; means --m1 --sd1 --n1 --m2 --sd2 --n2; \
             2×2 cells --ai --bi --ci --di; or events --events1 --n1 --events2 --n2",
        ));
    }
    let need = |opts: &[(&str, bool)]| -> CliResult<()> {
        let missing: Vec<&str> = opts.iter().filter(|(_, b)| !b).map(|(n, _)| *n).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(usage(format!("missing {}", missing.join(", "))))
        }
    };
    Ok(if generic {
        need(&[
            ("--yi", a.yi.is_some()),
            ("--vi or --sei", a.vi.is_some() || a.sei.is_some()),
        ])?;
        Input::Generic
    } else if means {
        let (g1, g2) = (arm_columns(a, 1), arm_columns(a, 2));
        need(&[
            (
                "--m1 (or --median1)",
                g1.mean.is_some() || g1.median.is_some(),
            ),
            (
                "--sd1 (or --se1, --ci1-lower/--ci1-upper, --median1 with quartiles or range)",
                g1.has_spread(),
            ),
            ("--n1", a.n1.is_some()),
            (
                "--m2 (or --median2)",
                g2.mean.is_some() || g2.median.is_some(),
            ),
            (
                "--sd2 (or --se2, --ci2-lower/--ci2-upper, --median2 with quartiles or range)",
                g2.has_spread(),
            ),
            ("--n2", a.n2.is_some()),
        ])?;
        if !(a.reported_ci_level > 0.0 && a.reported_ci_level < 1.0) {
            return Err(usage(format!(
                "--reported-ci-level {}: must lie strictly between 0 and 1",
                a.reported_ci_level
            )));
        }
        Input::Means
    } else if cells {
        need(&[
            ("--ai", a.ai.is_some()),
            ("--bi", a.bi.is_some()),
            ("--ci", a.ci.is_some()),
            ("--di", a.di.is_some()),
        ])?;
        Input::Cells
    } else {
        need(&[
            ("--events1", a.events1.is_some()),
            ("--n1", a.n1.is_some()),
            ("--events2", a.events2.is_some()),
            ("--n2", a.n2.is_some()),
        ])?;
        Input::Events
    })
}

/// Reads the study table into effect sizes (issue 7's input modes).
pub fn pool_data(a: &PoolArgs, table: &Table) -> CliResult<PoolData> {
    let n = table.rows.len();
    let labels: Vec<String> = match &a.study {
        Some(c) => table.strings(c)?,
        None => (1..=n).map(|i| format!("Study {i}")).collect(),
    };
    let kind = input_kind(a)?;
    let measure = match (&kind, a.measure) {
        (Input::Generic, None | Some(MeasureArg::Generic)) => None,
        (Input::Generic, Some(m)) => Some(measure_of(m)),
        (Input::Means, None) => Some(Measure::SMD),
        (Input::Means, Some(m @ (MeasureArg::Smd | MeasureArg::Md))) => Some(measure_of(m)),
        (Input::Cells | Input::Events, None) => Some(Measure::OR),
        (
            Input::Cells | Input::Events,
            Some(m @ (MeasureArg::Or | MeasureArg::Rr | MeasureArg::Rd)),
        ) => Some(measure_of(m)),
        (_, Some(m)) => {
            return Err(usage(format!(
                "--measure {}: does not fit the input columns (means give smd or md; 2×2 data give or, rr or rd; --yi gives generic)",
                m.to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            )));
        }
    };
    let convention = if a.profile == ProfileArg::Revman5 {
        SmdConvention::Revman5
    } else {
        SmdConvention::Metafor
    };
    let escalc = EscalcOptions {
        smd_convention: convention,
        ..EscalcOptions::default()
    };
    let mut effects: Vec<EffectSize> = Vec::with_capacity(n);
    let mut arms: Vec<Option<(ArmData, ArmData)>> = vec![None; n];
    let mut dropped = Vec::new();
    let mut usable = vec![true; n];
    let mut missing = |i: usize, what: &str, usable: &mut Vec<bool>| {
        if usable[i] {
            dropped.push(DroppedOut {
                study: labels[i].clone(),
                reason: format!("missing {what}"),
            });
            usable[i] = false;
        }
    };
    let ctx = || meta_err(a.data.display().to_string());
    match kind {
        Input::Generic => {
            let yi = col(table, &a.yi)?.unwrap_or_default();
            let vi = match (&a.vi, &a.sei) {
                (Some(_), _) => col(table, &a.vi)?.unwrap_or_default(),
                _ => col(table, &a.sei)?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s * s)
                    .collect(),
            };
            for i in 0..n {
                if yi[i].is_nan() || vi[i].is_nan() {
                    missing(i, "effect size or variance", &mut usable);
                }
                if usable[i] && vi[i] <= 0.0 {
                    return Err(CliError::Data {
                        path: a.data.clone(),
                        message: format!(
                            "study '{}': sampling variance {} must be positive",
                            labels[i], vi[i]
                        ),
                    });
                }
                effects.push(EffectSize {
                    study: labels[i].clone(),
                    yi: Some(yi[i]),
                    vi: Some(vi[i]),
                    sei: Some(vi[i].sqrt()),
                    correction_j: None,
                    flags: Vec::new(),
                });
            }
        }
        Input::Means => {
            let g1 = ArmValues::read(table, &arm_columns(a, 1))?;
            let g2 = ArmValues::read(table, &arm_columns(a, 2))?;
            let mut studies = Vec::new();
            let mut idx = Vec::new();
            let mut conversions = Vec::new();
            for i in 0..n {
                let resolved = [(&g1, 1u8), (&g2, 2u8)].map(|(g, arm)| {
                    g.resolve(i, arm, a.reported_ci_level)
                        .map_err(|e| CliError::Data {
                            path: a.data.clone(),
                            message: format!("study '{}', group {arm}: {e}", labels[i]),
                        })
                });
                let [r1, r2] = resolved;
                let (Some((t, f1)), Some((c, f2))) = (r1?, r2?) else {
                    missing(i, "mean, SD or n", &mut usable);
                    continue;
                };
                studies.push(ContinuousStudy {
                    study: labels[i].clone(),
                    treatment: t,
                    control: c,
                });
                arms[i] = Some((
                    ArmData::Continuous {
                        mean: t.mean,
                        sd: t.sd,
                        n: count(t.n),
                    },
                    ArmData::Continuous {
                        mean: c.mean,
                        sd: c.sd,
                        n: count(c.n),
                    },
                ));
                idx.push(i);
                conversions.push(f1.into_iter().chain(f2).collect::<Vec<_>>());
            }
            let es = effect_size::continuous_effect_sizes(
                measure.unwrap_or(Measure::SMD),
                &studies,
                &escalc,
            )
            .map_err(ctx())?;
            let mut es = es.studies;
            for (e, f) in es.iter_mut().zip(conversions) {
                e.flags.extend(f);
            }
            effects = merge(n, &labels, &idx, es);
        }
        Input::Cells | Input::Events => {
            let cells = matches!(kind, Input::Cells);
            let names = if cells {
                [&a.ai, &a.bi, &a.ci, &a.di]
            } else {
                [&a.events1, &a.n1, &a.events2, &a.n2]
            };
            let c: Vec<Vec<f64>> = names
                .into_iter()
                .map(|name| col(table, name).map(|v| v.unwrap_or_default()))
                .collect::<CliResult<_>>()?;
            let mut studies = Vec::new();
            let mut idx = Vec::new();
            for i in 0..n {
                if (0..4).any(|j| c[j][i].is_nan()) {
                    missing(i, "cell counts", &mut usable);
                    continue;
                }
                let (e1, t1, e2, t2) = if cells {
                    (c[0][i], c[0][i] + c[1][i], c[2][i], c[2][i] + c[3][i])
                } else {
                    (c[0][i], c[1][i], c[2][i], c[3][i])
                };
                studies.push(BinaryStudy {
                    study: labels[i].clone(),
                    events_treatment: e1,
                    total_treatment: t1,
                    events_control: e2,
                    total_control: t2,
                });
                arms[i] = Some((
                    ArmData::Dichotomous {
                        events: count(e1),
                        total: count(t1),
                    },
                    ArmData::Dichotomous {
                        events: count(e2),
                        total: count(t2),
                    },
                ));
                idx.push(i);
            }
            let es =
                effect_size::binary_effect_sizes(measure.unwrap_or(Measure::OR), &studies, &escalc)
                    .map_err(ctx())?;
            effects = merge(n, &labels, &idx, es.studies);
        }
    }
    let mut keep = Vec::new();
    for (i, e) in effects.iter().enumerate() {
        if !usable[i] {
            continue;
        }
        if e.is_dropped() {
            let reason = e
                .flags
                .iter()
                .find_map(|f| match f {
                    EffectFlag::Dropped { reason } => Some(reason.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "not estimable".into());
            dropped.push(DroppedOut {
                study: labels[i].clone(),
                reason,
            });
        } else {
            keep.push(i);
        }
    }
    let yi: Vec<f64> = keep
        .iter()
        .map(|&i| effects[i].yi.unwrap_or(f64::NAN))
        .collect();
    let vi: Vec<f64> = keep
        .iter()
        .map(|&i| effects[i].vi.unwrap_or(f64::NAN))
        .collect();
    let kept_labels: Vec<&String> = keep.iter().map(|&i| &labels[i]).collect();
    let data = MetaData::new(&yi, &vi).with_labels(&kept_labels);
    Ok(PoolData {
        measure,
        data,
        arms: keep.iter().map(|&i| arms[i]).collect(),
        flags: keep.iter().map(|&i| effects[i].flags.clone()).collect(),
        rows: keep,
        dropped,
    })
}

/// Places the effect sizes of the studies at `idx` back into table order.
fn merge(n: usize, labels: &[String], idx: &[usize], es: Vec<EffectSize>) -> Vec<EffectSize> {
    let mut out: Vec<EffectSize> = labels
        .iter()
        .take(n)
        .map(|l| EffectSize {
            study: l.clone(),
            yi: None,
            vi: None,
            sei: None,
            correction_j: None,
            flags: Vec::new(),
        })
        .collect();
    for (&i, e) in idx.iter().zip(es) {
        out[i] = e;
    }
    out
}

fn measure_of(m: MeasureArg) -> Measure {
    match m {
        MeasureArg::Smd => Measure::SMD,
        MeasureArg::Md => Measure::MD,
        MeasureArg::Or => Measure::OR,
        MeasureArg::Rr => Measure::RR,
        MeasureArg::Rd | MeasureArg::Generic => Measure::RD,
    }
}

fn method_of(m: MethodArg) -> Method {
    match m {
        MethodArg::Ee => Method::Ee,
        MethodArg::Dl => Method::Dl,
        MethodArg::He => Method::He,
        MethodArg::Hs => Method::Hs,
        MethodArg::Sj => Method::Sj,
        MethodArg::Ml => Method::Ml,
        MethodArg::Reml => Method::Reml,
        MethodArg::Pm => Method::Pm,
        MethodArg::Eb => Method::Eb,
    }
}

/// The model options the arguments describe.
pub fn fit_options(a: &PoolArgs) -> CliResult<FitOptions> {
    let profile = match a.profile {
        ProfileArg::Metafor => Profile::Metafor,
        ProfileArg::Revman5 => Profile::Revman5,
        ProfileArg::Cochrane2025 => Profile::Cochrane2025,
    };
    if !(a.level > 0.0 && a.level < 1.0) {
        return Err(usage(format!(
            "--level {}: must be between 0 and 1",
            a.level
        )));
    }
    let mut o = FitOptions::profile(profile);
    o.level = a.level;
    if let Some(m) = a.method {
        o.method = Some(method_of(m));
    }
    if a.knha {
        o.test = Some(Test::Knha);
    }
    if a.fallback_dl {
        o.fallback_to_dl = Some(true);
    }
    if let Some(p) = a.pi {
        o.pi = Some(match p {
            PiArg::Z => PiType::Z,
            PiArg::T1 => PiType::T1,
            PiArg::T2 => PiType::T2,
        });
    }
    Ok(o)
}

/// Moderator columns of the studies, coded by the statistics core's formula language.
fn moderators(
    a: &PoolArgs,
    table: &Table,
    rhs: &str,
    rows: &[usize],
) -> CliResult<(Vec<String>, Vec<Vec<f64>>)> {
    let ctx = CliError::stats(format!("{}: --moderators \"{rhs}\"", a.data.display()));
    let formula = Formula::parse(&format!("__yi ~ {rhs}")).map_err(ctx)?;
    let mut frame = Frame::new();
    let nrows = rows.len();
    frame
        .insert("__yi", Column::Numeric(vec![0.0; nrows]))
        .map_err(CliError::stats("moderators"))?;
    for name in formula.columns() {
        if name == "__yi" || frame.get(&name).is_some() {
            continue;
        }
        let column = match typed_column(table.numeric_with_nan(&name), || table.strings(&name))? {
            Column::Numeric(v) => Column::Numeric(rows.iter().map(|&i| v[i]).collect()),
            Column::Text(v) => Column::Text(rows.iter().map(|&i| v[i].clone()).collect()),
        };
        frame
            .insert(&name, column)
            .map_err(CliError::stats("moderators"))?;
    }
    let design = build_design(&formula, &frame, Coding::First).map_err(CliError::stats(
        format!("{}: --moderators", a.data.display()),
    ))?;
    if design.n_dropped > 0 {
        return Err(CliError::Data {
            path: a.data.clone(),
            message: format!(
                "--moderators: {} studies have a missing moderator value; remove them or fill the value",
                design.n_dropped
            ),
        });
    }
    let first = usize::from(design.intercept);
    let names: Vec<String> = design.column_names[first..].to_vec();
    let out = (0..design.n)
        .map(|i| {
            (first..design.p())
                .map(|j| design.x[i + j * design.n])
                .collect()
        })
        .collect();
    Ok((names, out))
}

/// Runs `meta pool`.
pub fn run(a: PoolArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    prov.add_input(&a.data)?;
    let table = Table::read(&a.data)?;
    let mut pd = pool_data(&a, &table)?;
    let options = fit_options(&a)?;
    let ctx = || meta_err(a.data.display().to_string());
    if let Some(rhs) = &a.moderators {
        let (names, rows) = moderators(&a, &table, rhs, &pd.rows)?;
        pd.data = pd.data.clone().with_moderators(&names, rows);
    }
    let fit = model::fit(&pd.data, &options).map_err(ctx())?;
    let mut warnings = fit.warnings.clone();
    for (i, f) in pd.flags.iter().enumerate() {
        for flag in f {
            if let EffectFlag::LargeSmd { g, message } = flag {
                warnings.push(format!("{}: g = {g:.3}: {message}", pd.data.labels[i]));
            }
        }
    }
    for d in &pd.dropped {
        warnings.push(format!("{} left out: {}", d.study, d.reason));
    }
    let mut seen = std::collections::BTreeMap::new();
    for l in &pd.data.labels {
        *seen.entry(l.as_str()).or_insert(0usize) += 1;
    }
    let repeated: Vec<&str> = seen
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(l, _)| *l)
        .collect();
    if !repeated.is_empty() {
        warnings.push(format!(
            "study labels used more than once: {} (add the year to tell them apart; --rob joins by label)",
            repeated.join(", ")
        ));
    }
    let plain = MetaData {
        moderators: None,
        ..pd.data.clone()
    };

    let groups: Option<Vec<String>> = match &a.subgroup {
        Some(c) => {
            let all = table.strings(c)?;
            Some(pd.rows.iter().map(|&i| all[i].clone()).collect())
        }
        None => None,
    };
    let sub: Option<SubgroupAnalysis> = match &groups {
        Some(g) => Some(model::subgroups(&plain, g, &options).map_err(ctx())?),
        None => None,
    };
    let loo = if a.leave_one_out {
        Some(influence::leave_one_out(&pd.data, &options).map_err(ctx())?)
    } else {
        None
    };
    let mut bias_out = BiasOut::default();
    if a.egger {
        let model = match a.egger_model {
            EggerArg::Rma => EggerModel::Rma,
            EggerArg::Lm => EggerModel::Lm,
        };
        bias_out.egger = Some(bias::egger_test(&plain, &options, model).map_err(ctx())?);
    }
    if a.begg {
        bias_out.begg = Some(bias::begg_test(&plain).map_err(ctx())?);
    }
    if let Some(t) = a.trimfill {
        let est = match t {
            TrimfillArg::L0 => TrimFillEstimator::L0,
            TrimfillArg::R0 => TrimFillEstimator::R0,
        };
        bias_out.trimfill =
            Some(bias::trim_and_fill(&plain, &options, est, None::<Side>).map_err(ctx())?);
    }
    let any_bias = a.egger || a.begg || a.trimfill.is_some();
    if any_bias && plain.k() < 10 {
        bias_out.warnings.push(format!(
            "only {} studies: tests for funnel-plot asymmetry have low power below 10 (Cochrane Handbook 13.3.5.4)",
            plain.k()
        ));
    }

    let rob_table = match &a.rob {
        Some(path) => {
            prov.add_input(path)?;
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
                path: path.clone(),
                source,
            })?;
            let tool = match a.rob_tool {
                crate::meta_cmd::ToolArg::Rob2 => RobTool::Rob2,
                crate::meta_cmd::ToolArg::RobinsI => RobTool::RobinsI,
            };
            let t = rob::parse_rob_csv(&text, tool, &RobOptions::default())
                .map_err(meta_err(path.display().to_string()))?;
            if let Some(missing) = pd
                .data
                .labels
                .iter()
                .find(|l| !t.studies.iter().any(|s| &s.study == *l))
            {
                return Err(CliError::Data {
                    path: path.clone(),
                    message: format!(
                        "study '{missing}' of {} has no row in the risk-of-bias table",
                        a.data.display()
                    ),
                });
            }
            Some(t)
        }
        None => None,
    };
    let figures = match &a.out {
        Some(dir) => {
            let forest = ForestOptions {
                measure: pd.measure,
                experimental_label: Some(a.label1.clone()),
                control_label: Some(a.label2.clone()),
                favours_left: Some(format!("Favours {}", a.label1.to_lowercase())),
                favours_right: Some(format!("Favours {}", a.label2.to_lowercase())),
                arms: pd.arms.clone(),
                groups: groups.clone().unwrap_or_default(),
                rob: rob_table,
                ..ForestOptions::default()
            };
            // A meta-regression's intercept is not a pooled effect: draw the model without moderators.
            let drawn = if pd.data.moderators.is_some() {
                model::fit(&plain, &options).map_err(ctx())?
            } else {
                fit.clone()
            };
            crate::figures::pool(
                dir,
                &drawn,
                sub.as_ref(),
                bias_out.trimfill.as_ref(),
                &forest,
            )?
        }
        None => Vec::new(),
    };
    let output = build_output(
        &fit,
        &pd,
        sub.as_ref(),
        loo,
        any_bias.then_some(bias_out),
        warnings,
        figures,
    );
    emit(&output, prov, json)
}

fn build_output(
    fit: &MetaFit,
    pd: &PoolData,
    sub: Option<&SubgroupAnalysis>,
    loo: Option<influence::LeaveOneOutAnalysis>,
    bias: Option<BiasOut>,
    warnings: Vec<String>,
    figures: Vec<String>,
) -> PoolOutput {
    let level = fit.settings.level;
    let z = evidentia_stats::distributions::normal_quantile(0.5 + level / 2.0);
    let ratio = evidentia_report::is_ratio(pd.measure);
    let pi = fit.pi.as_ref().map(|p| [p.lower, p.upper]);
    PoolOutput {
        measure: match pd.measure {
            Some(m) => format!("{m:?}"),
            None => "generic".into(),
        },
        scale: if ratio { "log" } else { "identity" },
        estimate: fit.estimate,
        se: fit.se,
        statistic: fit.statistic,
        statistic_kind: fit.statistic_kind.clone(),
        df: fit.df,
        p_value: fit.p_value,
        ci: fit.ci,
        pi,
        pi_detail: fit.pi.as_ref().map(|p| PiOut {
            lower: p.lower,
            upper: p.upper,
            convention: p.convention,
            df: p.df,
        }),
        tau2: fit.tau2,
        tau: fit.tau,
        tau2_se: fit.tau2_se,
        tau2_ci: fit.tau2_ci.as_ref().map(|c| c.tau2),
        heterogeneity_ci: fit.tau2_ci.clone(),
        i2: fit.i2,
        h2: fit.h2,
        i2_definition: format!("{:?}", fit.i2_definition).to_lowercase(),
        i2_from_q: fit.i2_from_q,
        i2_from_tau2: fit.i2_from_tau2,
        q: fit.q,
        q_df: fit.q_df,
        q_p: fit.q_p,
        k: fit.k,
        method: fit.method,
        test: fit.test,
        profile: fit.profile,
        level,
        converged: fit.converged,
        iterations: fit.iterations,
        exp: ratio.then(|| ExpOut {
            estimate: fit.estimate.exp(),
            ci: [fit.ci[0].exp(), fit.ci[1].exp()],
            pi: pi.map(|p| [p[0].exp(), p[1].exp()]),
        }),
        studies: fit
            .studies
            .iter()
            .zip(&pd.flags)
            .map(|(s, f)| StudyOut {
                study: s.study.clone(),
                yi: s.yi,
                vi: s.vi,
                sei: s.vi.sqrt(),
                ci: [s.yi - z * s.vi.sqrt(), s.yi + z * s.vi.sqrt()],
                weight: s.weight,
                flags: f.clone(),
            })
            .collect(),
        dropped: pd
            .dropped
            .iter()
            .map(|d| DroppedOut {
                study: d.study.clone(),
                reason: d.reason.clone(),
            })
            .collect(),
        moderators: fit.moderators.clone(),
        subgroups: sub.map(|s| {
            s.subgroups
                .iter()
                .map(|g| SubgroupOut {
                    group: g.group.clone(),
                    k: g.k,
                    pooled: PooledSummary::of(&g.fit),
                    pi: g.fit.pi.as_ref().map(|p| [p.lower, p.upper]),
                })
                .collect()
        }),
        q_between: sub.map(|s| s.q_between),
        q_between_df: sub.map(|s| s.q_between_df),
        q_between_p: sub.map(|s| s.q_between_p),
        leave_one_out: loo.map(|l| l.leave_one_out),
        bias,
        warnings,
        figures,
    }
}
