//! Small-study effects: Egger's regression test (Egger et al. 1997), Begg &
//! Mazumdar's rank correlation test (Begg & Mazumdar 1994) and trim-and-fill
//! (Duval & Tweedie 2000), following metafor's `regtest`, `ranktest` and
//! `trimfill`.

use std::str::FromStr;

use evidentia_stats::distributions::normal_sf;
use serde::Serialize;

use crate::error::{MetaError, Result};
use crate::linalg::{Design, wls};
use crate::model::{
    FitOptions, MetaData, Method, PiType, PooledSummary, Profile, Settings, Test, critical,
    fit_with, two_sided_p,
};

/// Which regression Egger's test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EggerModel {
    /// Classical Egger test: weighted least squares of yᵢ on SEᵢ with weights
    /// 1/vᵢ and a multiplicative dispersion, t test with k − 2 df (`model = "lm"`).
    Lm,
    /// metafor's default: mixed-effects meta-regression on SEᵢ with the fit's
    /// τ² method and test (z unless t/knha) (`model = "rma"`).
    #[default]
    Rma,
}

impl FromStr for EggerModel {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lm" | "classic" | "classical" => Ok(EggerModel::Lm),
            "rma" => Ok(EggerModel::Rma),
            _ => Err(MetaError::invalid("egger model", s, "one of lm, rma")),
        }
    }
}

/// Result of Egger's regression test (predictor: the standard error).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EggerTest {
    /// `lm` or `rma`.
    pub model: EggerModel,
    /// τ² method of the `rma` model (None for `lm`).
    pub method: Option<Method>,
    /// Slope on SEᵢ (the asymmetry coefficient).
    pub slope: f64,
    /// Its standard error.
    pub slope_se: f64,
    /// t or z statistic of the slope.
    pub statistic: f64,
    /// "t" or "z".
    pub statistic_kind: String,
    /// df of the t statistic (None for z).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Intercept: the "limit estimate" as SE → 0.
    pub limit_estimate: f64,
    /// Its confidence interval.
    pub limit_ci: [f64; 2],
    /// Residual τ² of the `rma` model (None for `lm`).
    pub tau2: Option<f64>,
}

/// Egger's regression test for funnel-plot asymmetry (needs k ≥ 3).
pub fn egger_test(data: &MetaData, options: &FitOptions, model: EggerModel) -> Result<EggerTest> {
    let s = options.resolve()?;
    egger_with(data, &s, model)
}

fn plain(data: &MetaData) -> Result<MetaData> {
    if data.moderators.is_some() {
        return Err(MetaError::invalid(
            "moderators",
            "given",
            "small-study tests are for models without moderators",
        ));
    }
    data.validate()?;
    Ok(data.clone())
}

fn egger_with(data: &MetaData, s: &Settings, model: EggerModel) -> Result<EggerTest> {
    let data = plain(data)?;
    let k = data.k();
    if k < 3 {
        return Err(MetaError::TooFewStudies {
            what: "Egger's test".to_string(),
            needed: 3,
            got: k,
        });
    }
    let sei: Vec<f64> = data.vi.iter().map(|v| v.sqrt()).collect();
    match model {
        EggerModel::Lm => {
            let mut x = Vec::with_capacity(2 * k);
            for &se in &sei {
                x.push(1.0);
                x.push(se);
            }
            let d = Design { k, p: 2, x };
            if !d.full_rank() {
                return Err(MetaError::invalid(
                    "sampling variances",
                    "all equal",
                    "Egger's test needs studies of different precision",
                ));
            }
            let w: Vec<f64> = data.vi.iter().map(|v| 1.0 / v).collect();
            let f = wls(&d, &data.yi, &w).ok_or_else(|| {
                MetaError::invalid("model matrix", "singular", "Egger regression failed")
            })?;
            let df = (k - 2) as f64;
            let sigma2 = f.rss / df;
            let se0 = (sigma2 * f.inv[0]).sqrt();
            let se1 = (sigma2 * f.inv[3]).sqrt();
            let t = f.beta[1] / se1;
            let crit = critical(1.0 - s.level, Some(df))?;
            Ok(EggerTest {
                model,
                method: None,
                slope: f.beta[1],
                slope_se: se1,
                statistic: t,
                statistic_kind: "t".to_string(),
                df: Some(df),
                p_value: two_sided_p(t, Some(df))?,
                limit_estimate: f.beta[0],
                limit_ci: [f.beta[0] - crit * se0, f.beta[0] + crit * se0],
                tau2: None,
            })
        }
        EggerModel::Rma => {
            let rows: Vec<Vec<f64>> = sei.iter().map(|&x| vec![x]).collect();
            let md = data.clone().with_moderators(&["sei"], rows);
            let mut s2 = *s;
            s2.tau2_ci = false;
            s2.pi = PiType::Off;
            let f = fit_with(&md, &s2, false)?;
            let m = f.moderators.as_ref().expect("moderators were given");
            let (b0, b1) = (&m.coefficients[0], &m.coefficients[1]);
            Ok(EggerTest {
                model,
                method: Some(f.method),
                slope: b1.estimate,
                slope_se: b1.se,
                statistic: b1.statistic,
                statistic_kind: f.statistic_kind.clone(),
                df: f.df,
                p_value: b1.p_value,
                limit_estimate: b0.estimate,
                limit_ci: b0.ci,
                tau2: Some(f.tau2),
            })
        }
    }
}

/// Result of Begg & Mazumdar's rank correlation test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeggTest {
    /// Kendall's τ (τ_b) between the standardized effects and the variances.
    pub tau: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Whether the exact null distribution was used (k < 50 and no ties, as R's
    /// `cor.test`); otherwise the normal approximation with tie corrections.
    pub exact: bool,
    /// The test statistic: T (concordant pairs) when exact, else z.
    pub statistic: f64,
    /// Number of studies.
    pub k: usize,
}

/// Begg & Mazumdar (1994) rank test: Kendall's τ between
/// (yᵢ − μ̂_FE)/√(vᵢ − 1/Σw) and vᵢ, as metafor's `ranktest` (needs k ≥ 3).
pub fn begg_test(data: &MetaData) -> Result<BeggTest> {
    let data = plain(data)?;
    let k = data.k();
    if k < 3 {
        return Err(MetaError::TooFewStudies {
            what: "Begg's rank test".to_string(),
            needed: 3,
            got: k,
        });
    }
    let w: Vec<f64> = data.vi.iter().map(|v| 1.0 / v).collect();
    let sw: f64 = w.iter().sum();
    let theta: f64 = w.iter().zip(&data.yi).map(|(a, b)| a * b).sum::<f64>() / sw;
    let vb = 1.0 / sw;
    let ystar: Vec<f64> = data
        .yi
        .iter()
        .zip(&data.vi)
        .map(|(y, v)| (y - theta) / (v - vb).sqrt())
        .collect();
    kendall_test(&ystar, &data.vi, k)
}

fn kendall_test(x: &[f64], y: &[f64], k: usize) -> Result<BeggTest> {
    let n = x.len();
    let (mut s, mut tx, mut ty) = (0.0_f64, 0.0_f64, 0.0_f64);
    for i in 0..n {
        for j in (i + 1)..n {
            let a = (x[i] - x[j]).partial_cmp(&0.0).map_or(0.0, sign);
            let b = (y[i] - y[j]).partial_cmp(&0.0).map_or(0.0, sign);
            s += a * b;
            if a == 0.0 {
                tx += 1.0;
            }
            if b == 0.0 {
                ty += 1.0;
            }
        }
    }
    let n0 = (n * (n - 1)) as f64 / 2.0;
    let tau = s / ((n0 - tx) * (n0 - ty)).sqrt();
    if !tau.is_finite() {
        return Err(MetaError::invalid(
            "Begg's test",
            "constant input",
            "Kendall's tau is undefined",
        ));
    }
    let ties = tx > 0.0 || ty > 0.0;
    if n < 50 && !ties {
        // R: q = round((r + 1) n (n − 1)/4), exact distribution of T.
        let q = ((tau + 1.0) * (n * (n - 1)) as f64 / 4.0).round();
        let cdf = kendall_cdf(n);
        let pk = |q: f64| -> f64 {
            if q < 0.0 {
                0.0
            } else {
                cdf[(q as usize).min(cdf.len() - 1)]
            }
        };
        let p = if q > (n * (n - 1)) as f64 / 4.0 {
            1.0 - pk(q - 1.0)
        } else {
            pk(q)
        };
        return Ok(BeggTest {
            tau,
            p_value: (2.0 * p).min(1.0),
            exact: true,
            statistic: q,
            k,
        });
    }
    // Normal approximation with tie corrections (R's cor.test, no continuity correction).
    let groups = |v: &[f64]| -> Vec<f64> {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            let mut j = i + 1;
            while j < s.len() && s[j] == s[i] {
                j += 1;
            }
            if j - i > 1 {
                out.push((j - i) as f64);
            }
            i = j;
        }
        out
    };
    let (xt, yt) = (groups(x), groups(y));
    let nf = n as f64;
    let t1: f64 = xt.iter().map(|t| t * (t - 1.0)).sum::<f64>() / 2.0;
    let t2: f64 = yt.iter().map(|t| t * (t - 1.0)).sum::<f64>() / 2.0;
    let st = tau * ((n0 - t1) * (n0 - t2)).sqrt();
    let v0 = nf * (nf - 1.0) * (2.0 * nf + 5.0);
    let vt: f64 = xt.iter().map(|t| t * (t - 1.0) * (2.0 * t + 5.0)).sum();
    let vu: f64 = yt.iter().map(|t| t * (t - 1.0) * (2.0 * t + 5.0)).sum();
    let v1 = xt.iter().map(|t| t * (t - 1.0)).sum::<f64>()
        * yt.iter().map(|t| t * (t - 1.0)).sum::<f64>();
    let v2 = xt.iter().map(|t| t * (t - 1.0) * (t - 2.0)).sum::<f64>()
        * yt.iter().map(|t| t * (t - 1.0) * (t - 2.0)).sum::<f64>();
    let var_s = (v0 - vt - vu) / 18.0
        + v1 / (2.0 * nf * (nf - 1.0))
        + v2 / (9.0 * nf * (nf - 1.0) * (nf - 2.0));
    let z = st / var_s.sqrt();
    Ok(BeggTest {
        tau,
        p_value: (2.0 * normal_sf(z.abs())).min(1.0),
        exact: false,
        statistic: z,
        k,
    })
}

fn sign(o: std::cmp::Ordering) -> f64 {
    match o {
        std::cmp::Ordering::Less => -1.0,
        std::cmp::Ordering::Equal => 0.0,
        std::cmp::Ordering::Greater => 1.0,
    }
}

/// CDF of the number of concordant pairs (= inversions) of a random
/// permutation of n: P(T ≤ q) for q = 0..n(n−1)/2.
fn kendall_cdf(n: usize) -> Vec<f64> {
    let mut dist = vec![1.0];
    for m in 2..=n {
        let len = dist.len() + m - 1;
        let mut next = vec![0.0; len];
        // next[j] = (1/m) Σ_{i=0}^{m−1} dist[j − i], by a running window sum.
        let mut window = 0.0;
        for (j, slot) in next.iter_mut().enumerate() {
            if j < dist.len() {
                window += dist[j];
            }
            if j >= m && j - m < dist.len() {
                window -= dist[j - m];
            }
            *slot = window / m as f64;
        }
        dist = next;
    }
    let mut acc = 0.0;
    dist.iter()
        .map(|p| {
            acc += p;
            acc.min(1.0)
        })
        .collect()
}

/// Trim-and-fill estimator of the number of missing studies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum TrimFillEstimator {
    /// L0 (metafor's default).
    #[default]
    L0,
    /// R0.
    R0,
}

impl FromStr for TrimFillEstimator {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "L0" => Ok(TrimFillEstimator::L0),
            "R0" => Ok(TrimFillEstimator::R0),
            _ => Err(MetaError::invalid(
                "trim-and-fill estimator",
                s,
                "one of L0, R0",
            )),
        }
    }
}

/// The side of the funnel plot on which studies are assumed missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Missing on the left (small effects).
    Left,
    /// Missing on the right (large effects).
    Right,
}

impl FromStr for Side {
    type Err = MetaError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "left" => Ok(Side::Left),
            "right" => Ok(Side::Right),
            _ => Err(MetaError::invalid("side", s, "one of left, right")),
        }
    }
}

/// An imputed (mirror-image) study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilledStudy {
    /// Label "Filled i".
    pub study: String,
    /// Imputed effect 2μ̂ − yⱼ.
    pub yi: f64,
    /// Sampling variance of the mirrored study.
    pub vi: f64,
}

/// Result of trim-and-fill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrimFill {
    /// Profile used.
    pub profile: Profile,
    /// τ² method of the trimmed and filled fits.
    pub method: Method,
    /// Inference of the filled fit.
    pub test: Test,
    /// L0 or R0.
    pub estimator: TrimFillEstimator,
    /// Side on which studies were imputed.
    pub side: Side,
    /// Whether the side was chosen by metafor's rule (sign of the slope of
    /// yᵢ on √vᵢ: negative → right) rather than given.
    pub side_estimated: bool,
    /// Estimated number of missing studies.
    pub k0: usize,
    /// Standard error of k0 (metafor's formula).
    pub se_k0: f64,
    /// Iterations of the trimming loop.
    pub iterations: usize,
    /// Number of studies after filling.
    pub k: usize,
    /// The imputed studies.
    pub filled: Vec<FilledStudy>,
    /// The pooled result of the filled data.
    #[serde(flatten)]
    pub pooled: PooledSummary,
}

/// R's `round()`: half to even.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Trim-and-fill (Duval & Tweedie 2000) as metafor's `trimfill`: the side is
/// estimated unless given; the trimmed and filled models use the fit's method.
/// Deviation: the filled model keeps the fit's test (metafor refits with z).
pub fn trim_and_fill(
    data: &MetaData,
    options: &FitOptions,
    estimator: TrimFillEstimator,
    side: Option<Side>,
) -> Result<TrimFill> {
    let mut s = options.resolve()?;
    s.tau2_ci = false;
    s.pi = PiType::Off;
    let data = plain(data)?;
    let k = data.k();
    if k < 3 {
        return Err(MetaError::TooFewStudies {
            what: "trim-and-fill".to_string(),
            needed: 3,
            got: k,
        });
    }
    let (side, side_estimated) = match side {
        Some(sd) => (sd, false),
        None => {
            let rows: Vec<Vec<f64>> = data.vi.iter().map(|v| vec![v.sqrt()]).collect();
            let md = data.clone().with_moderators(&["sei"], rows);
            let f = fit_with(&md, &s, false)?;
            let slope = f.moderators.as_ref().expect("moderators").coefficients[1].estimate;
            (if slope < 0.0 { Side::Right } else { Side::Left }, true)
        }
    };
    let flip = if side == Side::Right { -1.0 } else { 1.0 };
    let mut idx: Vec<usize> = (0..k).collect();
    let yf: Vec<f64> = data.yi.iter().map(|y| flip * y).collect();
    idx.sort_by(|&a, &b| yf[a].total_cmp(&yf[b]));
    let ys: Vec<f64> = idx.iter().map(|&i| yf[i]).collect();
    let sorted = data.subset(&idx);
    let sorted_flipped = MetaData {
        yi: ys.clone(),
        ..sorted.clone()
    };
    let kf = k as f64;
    let mut k0: usize = 0;
    let mut k0_prev: Option<usize> = None;
    let mut se_k0 = 0.0;
    let mut iter = 0;
    let mut beta = 0.0;
    while k0_prev != Some(k0) {
        k0_prev = Some(k0);
        iter += 1;
        if iter > 100 {
            return Err(MetaError::NoConvergence {
                what: "trim-and-fill".to_string(),
                iterations: 100,
            });
        }
        let keep: Vec<usize> = (0..k - k0).collect();
        let f = fit_with(&sorted_flipped.subset(&keep), &s, true)?;
        beta = f.estimate;
        let c: Vec<f64> = ys.iter().map(|y| y - beta).collect();
        // ranks of |c|, ties broken by position ("first")
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| c[a].abs().total_cmp(&c[b].abs()));
        let mut rank = vec![0.0; k];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = (r + 1) as f64;
        }
        let raw = match estimator {
            TrimFillEstimator::L0 => {
                let sr: f64 = (0..k).filter(|&i| c[i] > 0.0).map(|i| rank[i]).sum();
                let k0r = (4.0 * sr - kf * (kf + 1.0)) / (2.0 * kf - 1.0);
                let var_sr = (kf * (kf + 1.0) * (2.0 * kf + 1.0)
                    + 10.0 * k0r.powi(3)
                    + 27.0 * k0r.powi(2)
                    + 17.0 * k0r
                    - 18.0 * kf * k0r.powi(2)
                    - 18.0 * kf * k0r
                    + 6.0 * kf * kf * k0r)
                    / 24.0;
                se_k0 = (4.0 * var_sr.sqrt() / (2.0 * kf - 1.0)).max(0.0);
                k0r
            }
            TrimFillEstimator::R0 => {
                let maxneg = (0..k)
                    .filter(|&i| c[i] < 0.0)
                    .map(|i| rank[i])
                    .fold(0.0_f64, f64::max);
                let k0r = (kf - maxneg) - 1.0;
                se_k0 = (2.0 * k0r.max(0.0) + 2.0).sqrt();
                k0r
            }
        };
        let r = round_half_even(raw).max(0.0);
        k0 = if r.is_finite() {
            (r as usize).min(k - 1)
        } else {
            0
        };
    }
    let mu = flip * beta;
    let filled: Vec<FilledStudy> = ((k - k0)..k)
        .enumerate()
        .map(|(j, i)| FilledStudy {
            study: format!("Filled {}", j + 1),
            yi: 2.0 * mu - sorted.yi[i],
            vi: sorted.vi[i],
        })
        .collect();
    let mut all = data.clone();
    for fs in &filled {
        all.labels.push(fs.study.clone());
        all.yi.push(fs.yi);
        all.vi.push(fs.vi);
    }
    let f = fit_with(&all, &s, false)?;
    Ok(TrimFill {
        profile: s.profile,
        method: f.method,
        test: f.test,
        estimator,
        side,
        side_estimated,
        k0,
        se_k0,
        iterations: iter,
        k: all.k(),
        filled,
        pooled: PooledSummary::of(&f),
    })
}

/// Options of [`small_study_bias`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BiasOptions {
    /// Egger regression model (default `rma`, as metafor).
    pub egger_model: EggerModel,
    /// Trim-and-fill estimator (default L0).
    pub trimfill_estimator: TrimFillEstimator,
    /// Trim-and-fill side (None: estimated).
    pub side: Option<Side>,
}

/// All small-study tests together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BiasReport {
    /// Profile used.
    pub profile: Profile,
    /// Egger's regression test.
    pub egger: EggerTest,
    /// Begg & Mazumdar's rank test.
    pub begg: BeggTest,
    /// Trim-and-fill.
    pub trimfill: TrimFill,
    /// Remarks, e.g. fewer than 10 studies (Sterne et al. 2011).
    pub warnings: Vec<String>,
}

/// Egger, Begg and trim-and-fill with one set of options (needs k ≥ 3; warns below 10).
pub fn small_study_bias(
    data: &MetaData,
    options: &FitOptions,
    bias: &BiasOptions,
) -> Result<BiasReport> {
    let s = options.resolve()?;
    let mut warnings = Vec::new();
    if data.k() < 10 {
        warnings.push(format!(
            "only {} studies: tests for funnel-plot asymmetry have low power below 10 (Cochrane Handbook 13.3.5.4)",
            data.k()
        ));
    }
    Ok(BiasReport {
        profile: s.profile,
        egger: egger_with(data, &s, bias.egger_model)?,
        begg: begg_test(data)?,
        trimfill: trim_and_fill(data, options, bias.trimfill_estimator, bias.side)?,
        warnings,
    })
}
