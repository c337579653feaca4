//! Per-study effect sizes from published summary data: the equivalents of
//! metafor's `escalc` for the measures MD, SMD, SMCC, OR, RR and RD.
//!
//! Sources of the formulas:
//! - SMD (Hedges' g): Hedges (1981) for the exact bias correction
//!   J(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)), m = n₁ + n₂ − 2, and Hedges (1982, eq. 8)
//!   for metafor's default large-sample variance (`vtype = "LS"`)
//!   v = 1/n₁ + 1/n₂ + g²/(2N); Borenstein et al. (2009, ch. 4) for d and the pooled SD.
//! - RevMan 5 convention (Cochrane Handbook 5.1 §9.4.5.2; RevMan 5 statistical
//!   methods): J ≈ 1 − 3/(4N − 9), v = N/(n₁n₂) + g²/(2(N − 3.94)).
//! - MD: Borenstein et al. (2009, eq. 4.5), v = s₁²/n₁ + s₂²/n₂.
//! - SMCC: metafor's standardized mean change with change-score standardization,
//!   g = J(n−1)·(m₁ − m₂)/s_d, v = 1/n + g²/(2n) (Gibbons et al. 1993; Becker 1988).
//! - log OR, log RR, RD: Borenstein et al. (2009, ch. 5) and metafor `escalc`:
//!   v(log OR) = 1/a + 1/b + 1/c + 1/d; v(log RR) = 1/a − 1/n₁ + 1/c − 1/n₂;
//!   v(RD) = p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂ (metafor `vtype = "LS"`).
//!   Zero cells: metafor's defaults `add = 1/2, to = "only0", drop00 = FALSE`.

use crate::error::{MetaError, Result};
use evidentia_stats::effect_size::hedges_j;
use serde::Serialize;

/// Threshold above which |g| triggers the "SE entered as SD" warning.
pub const LARGE_SMD: f64 = 2.0;

/// Text of the warning attached to a study whose |g| exceeds [`LARGE_SMD`].
pub const LARGE_SMD_MESSAGE: &str =
    "|g| > 2 is implausibly large; an SE entered as an SD is the usual cause";

/// Effect-size measure, named as in metafor's `escalc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Measure {
    /// Raw mean difference (metafor "MD").
    MD,
    /// Standardized mean difference, Hedges' g (metafor "SMD").
    SMD,
    /// SMD computed from change-score means and change-score SDs of two groups
    /// (metafor "SMD" applied to change summaries).
    SMDChange,
    /// Single-group standardized mean change, change-score standardization (metafor "SMCC").
    SMCC,
    /// Log odds ratio (metafor "OR").
    OR,
    /// Log risk ratio (metafor "RR").
    RR,
    /// Risk difference (metafor "RD").
    RD,
}

/// Convention for Hedges' g and its variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmdConvention {
    /// metafor default: exact J via log-gamma, `vtype = "LS"` variance with 2N.
    #[default]
    Metafor,
    /// RevMan 5: J ≈ 1 − 3/(4N − 9), variance N/(n₁n₂) + g²/(2(N − 3.94)).
    Revman5,
}

/// To which tables the continuity correction is added (metafor's `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroCellRule {
    /// Only to tables with at least one zero cell (metafor default `"only0"`).
    #[default]
    OnlyZero,
    /// To every table (`"all"`).
    All,
    /// To every table if any table has a zero cell (`"if0all"`).
    IfAnyZeroAll,
    /// Never (`"none"`); tables with a zero cell may then be not estimable.
    None,
}

/// Options of the effect-size computation; recorded in every result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EscalcOptions {
    /// SMD convention (metafor default or RevMan 5).
    pub smd_convention: SmdConvention,
    /// Continuity correction added to the cells (metafor `add`, default 0.5).
    pub add: f64,
    /// Tables receiving the correction (metafor `to`, default only those with a zero).
    pub to: ZeroCellRule,
    /// Drop tables with no events (or only events) in both arms (metafor `drop00`, default false).
    pub drop00: bool,
}

impl Default for EscalcOptions {
    fn default() -> Self {
        EscalcOptions {
            smd_convention: SmdConvention::Metafor,
            add: 0.5,
            to: ZeroCellRule::OnlyZero,
            drop00: false,
        }
    }
}

/// A per-study note attached to an effect size.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EffectFlag {
    /// A continuity correction `added` was added to all four cells of the table.
    ContinuityCorrection {
        /// Amount added to each cell.
        added: f64,
    },
    /// No events (or only events) in both arms.
    DoubleZero,
    /// The study gives no effect size; the reason says why.
    Dropped {
        /// Why the study was dropped.
        reason: String,
    },
    /// |g| above [`LARGE_SMD`]: a likely SE-for-SD mix-up.
    LargeSmd {
        /// The value of g.
        g: f64,
        /// The warning text ([`LARGE_SMD_MESSAGE`]).
        message: String,
    },
    /// An arm's mean or SD was derived from what the study reported
    /// ([`crate::conversion`]), not reported itself.
    Converted {
        /// The arm: 1 (group 1, treatment) or 2 (group 2, control).
        arm: u8,
        /// `"mean"` or `"sd"`.
        quantity: String,
        /// The derived value.
        value: f64,
        /// How it was derived.
        method: crate::conversion::ConversionMethod,
    },
}

/// Effect size of one study: yi, vi and sei (None when dropped) with flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectSize {
    /// Study label.
    pub study: String,
    /// Effect estimate (log scale for OR and RR).
    pub yi: Option<f64>,
    /// Sampling variance.
    pub vi: Option<f64>,
    /// Standard error √vi.
    pub sei: Option<f64>,
    /// Bias-correction factor J used for standardized measures.
    pub correction_j: Option<f64>,
    /// Per-study flags and warnings.
    pub flags: Vec<EffectFlag>,
}

impl EffectSize {
    fn estimate(study: &str, yi: f64, vi: f64, j: Option<f64>, flags: Vec<EffectFlag>) -> Self {
        if yi.is_finite() && vi.is_finite() && vi > 0.0 {
            EffectSize {
                study: study.to_string(),
                yi: Some(yi),
                vi: Some(vi),
                sei: Some(vi.sqrt()),
                correction_j: j,
                flags,
            }
        } else {
            let mut flags = flags;
            flags.push(EffectFlag::Dropped {
                reason: format!("not estimable (yi = {yi}, vi = {vi})"),
            });
            EffectSize::dropped_with(study, flags)
        }
    }

    fn dropped_with(study: &str, flags: Vec<EffectFlag>) -> Self {
        EffectSize {
            study: study.to_string(),
            yi: None,
            vi: None,
            sei: None,
            correction_j: None,
            flags,
        }
    }

    /// Whether the study was dropped (no yi).
    pub fn is_dropped(&self) -> bool {
        self.yi.is_none()
    }

    /// Whether the |g| > 2 warning is attached.
    pub fn has_large_smd_warning(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f, EffectFlag::LargeSmd { .. }))
    }
}

/// Effect sizes of a set of studies with the measure and options used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectSizes {
    /// Measure computed.
    pub measure: Measure,
    /// Options in force.
    pub options: EscalcOptions,
    /// One entry per input study, in input order.
    pub studies: Vec<EffectSize>,
}

/// Summary data of one arm of a continuous outcome (mean, SD, n).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ContinuousArm {
    /// Arm mean (or mean change for change scores).
    pub mean: f64,
    /// Arm standard deviation (or SD of the change).
    pub sd: f64,
    /// Number of participants.
    pub n: f64,
}

/// A two-arm study with a continuous outcome; group 1 is the treatment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContinuousStudy {
    /// Study label.
    pub study: String,
    /// Treatment (experimental) arm.
    pub treatment: ContinuousArm,
    /// Control arm.
    pub control: ContinuousArm,
}

/// A single-group pre/post study for SMCC (metafor `m1i, m2i, sd1i, sd2i, ni, ri`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrePostStudy {
    /// Study label.
    pub study: String,
    /// Mean at the later time point (metafor `m1i`).
    pub mean_post: f64,
    /// Mean at the earlier time point (metafor `m2i`).
    pub mean_pre: f64,
    /// SD at the later time point (metafor `sd1i`).
    pub sd_post: f64,
    /// SD at the earlier time point (metafor `sd2i`).
    pub sd_pre: f64,
    /// Number of participants.
    pub n: f64,
    /// Pre-post correlation (metafor `ri`).
    pub correlation: f64,
}

/// A two-arm study with a binary outcome (metafor `ai, n1i, ci, n2i`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BinaryStudy {
    /// Study label.
    pub study: String,
    /// Events in the treatment arm (a).
    pub events_treatment: f64,
    /// Participants in the treatment arm (n₁ = a + b).
    pub total_treatment: f64,
    /// Events in the control arm (c).
    pub events_control: f64,
    /// Participants in the control arm (n₂ = c + d).
    pub total_control: f64,
}

fn study_err(study: &str, field: &str, value: f64, expected: &str) -> MetaError {
    MetaError::Study {
        study: study.to_string(),
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn check_finite(study: &str, field: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(study_err(study, field, v, "must be a finite number"))
    }
}

fn check_arm(study: &str, arm: &str, a: &ContinuousArm) -> Result<()> {
    check_finite(study, &format!("{arm} mean"), a.mean)?;
    check_finite(study, &format!("{arm} sd"), a.sd)?;
    check_finite(study, &format!("{arm} n"), a.n)?;
    if a.n < 2.0 {
        return Err(study_err(
            study,
            &format!("{arm} n"),
            a.n,
            "must be at least 2",
        ));
    }
    if a.sd <= 0.0 {
        return Err(study_err(
            study,
            &format!("{arm} sd"),
            a.sd,
            "must be positive",
        ));
    }
    Ok(())
}

fn large_smd_flags(g: f64) -> Vec<EffectFlag> {
    if g.abs() > LARGE_SMD {
        vec![EffectFlag::LargeSmd {
            g,
            message: LARGE_SMD_MESSAGE.to_string(),
        }]
    } else {
        Vec::new()
    }
}

/// Raw mean difference m₁ − m₂ with v = s₁²/n₁ + s₂²/n₂ (Borenstein 2009, eq. 4.5; metafor "MD").
pub fn mean_difference(s: &ContinuousStudy) -> Result<EffectSize> {
    check_arm(&s.study, "treatment", &s.treatment)?;
    check_arm(&s.study, "control", &s.control)?;
    let (t, c) = (&s.treatment, &s.control);
    let yi = t.mean - c.mean;
    let vi = t.sd * t.sd / t.n + c.sd * c.sd / c.n;
    Ok(EffectSize::estimate(&s.study, yi, vi, None, Vec::new()))
}

/// The RevMan 5 approximation of J, 1 − 3/(4N − 9) = 1 − 3/(4m − 1) (Hedges 1981, eq. 6e).
pub fn hedges_j_approx(total_n: f64) -> f64 {
    1.0 - 3.0 / (4.0 * total_n - 9.0)
}

/// Hedges' g and its variance under the chosen convention (Hedges 1981/1982; RevMan 5).
pub fn standardized_mean_difference(
    s: &ContinuousStudy,
    convention: SmdConvention,
) -> Result<EffectSize> {
    check_arm(&s.study, "treatment", &s.treatment)?;
    check_arm(&s.study, "control", &s.control)?;
    let (t, c) = (&s.treatment, &s.control);
    let big_n = t.n + c.n;
    let m = big_n - 2.0;
    let sp = (((t.n - 1.0) * t.sd * t.sd + (c.n - 1.0) * c.sd * c.sd) / m).sqrt();
    let d = (t.mean - c.mean) / sp;
    let j = match convention {
        SmdConvention::Metafor => hedges_j(m),
        SmdConvention::Revman5 => hedges_j_approx(big_n),
    };
    let g = j * d;
    let vi = match convention {
        SmdConvention::Metafor => 1.0 / t.n + 1.0 / c.n + g * g / (2.0 * big_n),
        SmdConvention::Revman5 => big_n / (t.n * c.n) + g * g / (2.0 * (big_n - 3.94)),
    };
    Ok(EffectSize::estimate(
        &s.study,
        g,
        vi,
        Some(j),
        large_smd_flags(g),
    ))
}

/// SMD of change scores: Hedges' g from the two arms' mean changes and change SDs
/// (metafor "SMD" on change summaries; Cochrane Handbook §10.5.2).
///
/// When only pre and post SDs are reported, derive each change SD first with
/// [`crate::conversion::change_sd`] (Cochrane Handbook §6.5.2.8).
pub fn smd_change_scores(s: &ContinuousStudy, convention: SmdConvention) -> Result<EffectSize> {
    standardized_mean_difference(s, convention)
}

/// Single-group standardized mean change, metafor "SMCC" with `vtype = "LS"`:
/// g = J(n−1)(m₁ − m₂)/s_d with s_d² = s₁² + s₂² − 2r s₁ s₂, v = 1/n + g²/(2n).
pub fn standardized_mean_change(s: &PrePostStudy) -> Result<EffectSize> {
    let st = &s.study;
    check_finite(st, "mean_post", s.mean_post)?;
    check_finite(st, "mean_pre", s.mean_pre)?;
    check_finite(st, "sd_post", s.sd_post)?;
    check_finite(st, "sd_pre", s.sd_pre)?;
    check_finite(st, "n", s.n)?;
    check_finite(st, "correlation", s.correlation)?;
    if s.n < 3.0 {
        // J(n − 1) needs n − 1 > 1.
        return Err(study_err(st, "n", s.n, "must be at least 3 for SMCC"));
    }
    if s.sd_post <= 0.0 {
        return Err(study_err(st, "sd_post", s.sd_post, "must be positive"));
    }
    if s.sd_pre <= 0.0 {
        return Err(study_err(st, "sd_pre", s.sd_pre, "must be positive"));
    }
    if !(-1.0..=1.0).contains(&s.correlation) {
        return Err(study_err(
            st,
            "correlation",
            s.correlation,
            "must lie in [-1, 1]",
        ));
    }
    let var_d =
        s.sd_post * s.sd_post + s.sd_pre * s.sd_pre - 2.0 * s.correlation * s.sd_post * s.sd_pre;
    if var_d <= 0.0 {
        return Err(study_err(st, "change variance", var_d, "must be positive"));
    }
    let j = hedges_j(s.n - 1.0);
    let g = j * (s.mean_post - s.mean_pre) / var_d.sqrt();
    let vi = 1.0 / s.n + g * g / (2.0 * s.n);
    Ok(EffectSize::estimate(st, g, vi, Some(j), large_smd_flags(g)))
}

fn check_binary(s: &BinaryStudy) -> Result<()> {
    let st = &s.study;
    let fields = [
        ("events_treatment", s.events_treatment),
        ("total_treatment", s.total_treatment),
        ("events_control", s.events_control),
        ("total_control", s.total_control),
    ];
    for (f, v) in fields {
        check_finite(st, f, v)?;
        if v < 0.0 {
            return Err(study_err(st, f, v, "counts cannot be negative"));
        }
    }
    for (f, v) in [
        ("total_treatment", s.total_treatment),
        ("total_control", s.total_control),
    ] {
        if v < 1.0 {
            return Err(study_err(st, f, v, "group size must be at least 1"));
        }
    }
    if s.events_treatment > s.total_treatment {
        return Err(study_err(
            st,
            "events_treatment",
            s.events_treatment,
            &format!("cannot exceed total_treatment = {}", s.total_treatment),
        ));
    }
    if s.events_control > s.total_control {
        return Err(study_err(
            st,
            "events_control",
            s.events_control,
            &format!("cannot exceed total_control = {}", s.total_control),
        ));
    }
    Ok(())
}

fn cells(s: &BinaryStudy) -> [f64; 4] {
    [
        s.events_treatment,
        s.total_treatment - s.events_treatment,
        s.events_control,
        s.total_control - s.events_control,
    ]
}

fn has_zero(s: &BinaryStudy) -> bool {
    cells(s).contains(&0.0)
}

fn is_double_zero(s: &BinaryStudy) -> bool {
    let [a, b, c, d] = cells(s);
    (a == 0.0 && c == 0.0) || (b == 0.0 && d == 0.0)
}

/// One 2×2 table's measure (log OR, log RR or RD) given whether the correction applies.
fn binary_one(measure: Measure, s: &BinaryStudy, add: Option<f64>, drop00: bool) -> EffectSize {
    let mut flags = Vec::new();
    let double_zero = is_double_zero(s);
    if double_zero {
        flags.push(EffectFlag::DoubleZero);
        if drop00 {
            flags.push(EffectFlag::Dropped {
                reason: "no events (or only events) in both arms; dropped (drop00)".into(),
            });
            return EffectSize::dropped_with(&s.study, flags);
        }
    }
    let [mut a, mut b, mut c, mut d] = cells(s);
    if let Some(x) = add {
        a += x;
        b += x;
        c += x;
        d += x;
        flags.push(EffectFlag::ContinuityCorrection { added: x });
    }
    let (n1, n2) = (a + b, c + d);
    let (p1, p2) = (a / n1, c / n2);
    let (yi, vi) = match measure {
        Measure::OR => (
            (p1 / (1.0 - p1)).ln() - (p2 / (1.0 - p2)).ln(),
            1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d,
        ),
        Measure::RR => (p1.ln() - p2.ln(), 1.0 / a - 1.0 / n1 + 1.0 / c - 1.0 / n2),
        _ => (p1 - p2, p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2),
    };
    EffectSize::estimate(&s.study, yi, vi, None, flags)
}

/// Effect sizes (log OR, log RR or RD) of 2×2 tables with metafor's zero-cell
/// conventions (`add`, `to`, `drop00`; Borenstein 2009 ch. 5; metafor `escalc`).
pub fn binary_effect_sizes(
    measure: Measure,
    studies: &[BinaryStudy],
    options: &EscalcOptions,
) -> Result<EffectSizes> {
    if !matches!(measure, Measure::OR | Measure::RR | Measure::RD) {
        return Err(MetaError::invalid(
            "measure",
            format!("{measure:?}"),
            "binary data give OR, RR or RD",
        ));
    }
    if !(options.add.is_finite() && options.add >= 0.0) {
        return Err(MetaError::invalid(
            "add",
            options.add,
            "must be a finite non-negative number",
        ));
    }
    for s in studies {
        check_binary(s)?;
    }
    // Tables dropped by drop00 do not trigger "if0all" (metafor sets them to NA first).
    let counts_for_any = |s: &&BinaryStudy| !(options.drop00 && is_double_zero(s));
    let any_zero = studies.iter().filter(counts_for_any).any(has_zero);
    let out = studies
        .iter()
        .map(|s| {
            let add = match options.to {
                ZeroCellRule::OnlyZero if has_zero(s) => Some(options.add),
                ZeroCellRule::All => Some(options.add),
                ZeroCellRule::IfAnyZeroAll if any_zero => Some(options.add),
                _ => None,
            }
            .filter(|&x| x > 0.0);
            binary_one(measure, s, add, options.drop00)
        })
        .collect();
    Ok(EffectSizes {
        measure,
        options: *options,
        studies: out,
    })
}

/// Effect sizes (MD, SMD or SMD of change scores) of two-arm continuous studies.
pub fn continuous_effect_sizes(
    measure: Measure,
    studies: &[ContinuousStudy],
    options: &EscalcOptions,
) -> Result<EffectSizes> {
    let out = studies
        .iter()
        .map(|s| match measure {
            Measure::MD => mean_difference(s),
            Measure::SMD => standardized_mean_difference(s, options.smd_convention),
            Measure::SMDChange => smd_change_scores(s, options.smd_convention),
            _ => Err(MetaError::invalid(
                "measure",
                format!("{measure:?}"),
                "two-arm continuous data give MD, SMD or SMDChange",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EffectSizes {
        measure,
        options: *options,
        studies: out,
    })
}

/// SMCC effect sizes of single-group pre/post studies (metafor "SMCC", `vtype = "LS"`).
pub fn pre_post_effect_sizes(
    studies: &[PrePostStudy],
    options: &EscalcOptions,
) -> Result<EffectSizes> {
    let out = studies
        .iter()
        .map(standardized_mean_change)
        .collect::<Result<Vec<_>>>()?;
    Ok(EffectSizes {
        measure: Measure::SMCC,
        options: *options,
        studies: out,
    })
}
