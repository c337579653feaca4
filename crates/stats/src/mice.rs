//! Multiple imputation by chained equations (fully conditional specification; van
//! Buuren & Groothuis-Oudshoorn 2011, *J. Stat. Softw.* 45(3), the R package `mice`;
//! what SPSS calls MCMC imputation), and pooling of any analysis over the imputed
//! datasets by Rubin's rules ([`crate::imputation::pool_rubin`]).
//!
//! Each incomplete column is imputed in turn from all other columns (or those of a
//! predictor matrix) with an intercept, for a number of iterations, in m independent
//! chains. Methods, after `mice`'s `norm`, `pmm` and `logreg`:
//!
//! * **norm** (Bayesian linear regression, Rubin 1987 p. 167): β̂ = (XᵀX + κ diag XᵀX)⁻¹Xᵀy
//!   (ridge κ = 1e-5 as mice), σ*² = RSS/g with g ~ χ²(max(n_obs − p, 1)),
//!   β* = β̂ + σ* L z with L Lᵀ = (XᵀX + κ diag XᵀX)⁻¹, imputation X_mis β* + σ* ε;
//! * **pmm** (predictive mean matching, type-1 matching): the same draw β*, then for each
//!   missing row the `donors` observed rows whose X β̂ is closest to X_mis β* are found
//!   and one of them, chosen at random, gives its observed value;
//! * **logreg** (binary 0/1 columns): the logistic fit β̂ by IRLS with covariance V,
//!   β* = β̂ + L z with L Lᵀ = V, imputation Bernoulli(logistic(X_mis β*)).
//!
//! Missing values start as random draws from the observed values of their column (as
//! mice). Each chain j uses its own ChaCha20 stream (seed, stream j), so the output is
//! identical for a seed whatever the platform or thread count.

#![allow(clippy::needless_range_loop)] // index loops mirror the matrix formulas

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::Serialize;

use crate::design::{Column, Frame};
use crate::error::{Result, StatsError};
use crate::imputation::{PooledEstimate, PoolingDf, pool_rubin};
use crate::linalg::cholesky;

/// How an incomplete column is imputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ImputeMethod {
    /// Predictive mean matching (mice `pmm`), the default for continuous columns.
    #[default]
    Pmm,
    /// Bayesian linear regression draws (mice `norm`).
    Norm,
    /// Logistic regression draws for a 0/1 column (mice `logreg`).
    LogReg,
}

impl std::str::FromStr for ImputeMethod {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pmm" => Ok(ImputeMethod::Pmm),
            "norm" => Ok(ImputeMethod::Norm),
            "logreg" | "binary" | "logistic" => Ok(ImputeMethod::LogReg),
            _ => Err(StatsError::invalid(
                "imputation method",
                s,
                "expected pmm, norm or logreg",
            )),
        }
    }
}

/// One column of the imputation table (NaN = missing).
#[derive(Debug, Clone, PartialEq)]
pub struct MiceColumn {
    pub name: String,
    pub values: Vec<f64>,
    /// Method used when the column has missing values.
    pub method: ImputeMethod,
}

impl MiceColumn {
    /// A continuous column imputed by `method` (`Pmm` or `Norm`).
    pub fn continuous(name: &str, values: Vec<f64>, method: ImputeMethod) -> MiceColumn {
        MiceColumn {
            name: name.to_string(),
            values,
            method,
        }
    }

    /// A binary (0/1) column imputed by logistic regression draws.
    pub fn binary(name: &str, values: Vec<f64>) -> MiceColumn {
        MiceColumn {
            name: name.to_string(),
            values,
            method: ImputeMethod::LogReg,
        }
    }
}

/// Order in which the incomplete columns are visited within an iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VisitOrder {
    /// Table order (mice `visitSequence = "roman"`).
    #[default]
    LeftToRight,
    /// Increasing number of missing values (mice `"monotone"`).
    Monotone,
    /// Column indices given explicitly (each incomplete column at least once).
    Custom(Vec<usize>),
}

/// Options of [`mice`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiceOptions {
    /// Number of imputed datasets.
    pub m: usize,
    /// Iterations of the chained equations per chain.
    pub iterations: usize,
    pub seed: u64,
    pub visit_order: VisitOrder,
    /// Donor pool size for predictive mean matching (mice: 5).
    pub donors: usize,
    /// Ridge penalty κ of the regression draws (mice: 1e-5).
    pub ridge: f64,
    /// Predictor matrix: `predictors[i][j]` = column j predicts column i (default: all others).
    pub predictors: Option<Vec<Vec<bool>>>,
}

impl Default for MiceOptions {
    fn default() -> Self {
        MiceOptions {
            m: 5,
            iterations: 10,
            seed: 1,
            visit_order: VisitOrder::LeftToRight,
            donors: 5,
            ridge: 1e-5,
            predictors: None,
        }
    }
}

/// The m completed datasets and the chains' trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiceResult {
    pub names: Vec<String>,
    pub methods: Vec<ImputeMethod>,
    /// Missing values per column.
    pub n_missing: Vec<usize>,
    /// The columns visited, in order.
    pub visit_sequence: Vec<usize>,
    /// `datasets[k][c][i]`: imputation k, column c, row i (observed values unchanged).
    pub datasets: Vec<Vec<Vec<f64>>>,
    /// `chain_means[k][it][c]`: mean of the imputed values of column c after
    /// iteration it of chain k (`None` for complete columns), as mice's `chainMean`.
    pub chain_means: Vec<Vec<Vec<Option<f64>>>>,
    /// Same for the variance (n − 1 denominator; `None` with fewer than two missing).
    pub chain_vars: Vec<Vec<Vec<Option<f64>>>>,
    pub options: MiceOptions,
}

/// A pooled parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PooledParameter {
    pub name: String,
    #[serde(flatten)]
    pub pooled: PooledEstimate,
}

/// Imputes the missing values (NaN) of `columns` by chained equations.
pub fn mice(columns: &[MiceColumn], options: &MiceOptions) -> Result<MiceResult> {
    let nc = columns.len();
    if nc < 2 {
        return Err(StatsError::TooFewObservations {
            what: "chained-equation imputation (columns)".into(),
            needed: 2,
            got: nc,
        });
    }
    if options.m == 0 || options.iterations == 0 {
        return Err(StatsError::invalid(
            "m / iterations",
            format!("{} / {}", options.m, options.iterations),
            "both must be at least 1",
        ));
    }
    if options.donors == 0 {
        return Err(StatsError::invalid("donors", 0, "must be at least 1"));
    }
    if !(options.ridge >= 0.0 && options.ridge.is_finite()) {
        return Err(StatsError::invalid(
            "ridge",
            options.ridge,
            "must be a non-negative number",
        ));
    }
    let n = columns[0].values.len();
    for c in columns {
        if c.values.len() != n {
            return Err(StatsError::invalid(
                "column",
                &c.name,
                &format!("has {} rows, the first column has {n}", c.values.len()),
            ));
        }
        if let Some(i) = c.values.iter().position(|v| v.is_infinite()) {
            return Err(StatsError::NonFinite {
                what: c.name.clone(),
                index: i,
                value: c.values[i],
            });
        }
        if c.method == ImputeMethod::LogReg
            && let Some(v) = c
                .values
                .iter()
                .find(|v| !v.is_nan() && **v != 0.0 && **v != 1.0)
        {
            return Err(StatsError::invalid(
                "binary column",
                &c.name,
                &format!("has the value {v}; a binary column must hold 0, 1 or missing"),
            ));
        }
    }
    let n_missing: Vec<usize> = columns
        .iter()
        .map(|c| c.values.iter().filter(|v| v.is_nan()).count())
        .collect();
    for (c, &nm) in columns.iter().zip(&n_missing) {
        if nm == n {
            return Err(StatsError::invalid(
                "column",
                &c.name,
                "has no observed value to impute from",
            ));
        }
    }
    let predictors: Vec<Vec<bool>> = match &options.predictors {
        Some(p) => {
            if p.len() != nc || p.iter().any(|r| r.len() != nc) {
                return Err(StatsError::invalid(
                    "predictor matrix",
                    format!("{} rows", p.len()),
                    &format!("must be {nc} × {nc}"),
                ));
            }
            (0..nc)
                .map(|i| (0..nc).map(|j| i != j && p[i][j]).collect())
                .collect()
        }
        None => (0..nc).map(|i| (0..nc).map(|j| i != j).collect()).collect(),
    };
    let incomplete: Vec<usize> = (0..nc).filter(|&c| n_missing[c] > 0).collect();
    let visit_sequence: Vec<usize> = match &options.visit_order {
        VisitOrder::LeftToRight => incomplete.clone(),
        VisitOrder::Monotone => {
            let mut v = incomplete.clone();
            v.sort_by_key(|&c| (n_missing[c], c));
            v
        }
        VisitOrder::Custom(seq) => {
            if let Some(&c) = seq.iter().find(|&&c| c >= nc) {
                return Err(StatsError::invalid(
                    "visit order",
                    c,
                    "column index out of range",
                ));
            }
            if let Some(&c) = incomplete.iter().find(|c| !seq.contains(c)) {
                return Err(StatsError::invalid(
                    "visit order",
                    &columns[c].name,
                    "an incomplete column is never visited",
                ));
            }
            seq.iter().copied().filter(|&c| n_missing[c] > 0).collect()
        }
    };
    let observed: Vec<Vec<usize>> = columns
        .iter()
        .map(|c| (0..n).filter(|&i| !c.values[i].is_nan()).collect())
        .collect();
    let missing: Vec<Vec<usize>> = columns
        .iter()
        .map(|c| (0..n).filter(|&i| c.values[i].is_nan()).collect())
        .collect();

    let mut datasets = Vec::with_capacity(options.m);
    let mut chain_means = Vec::with_capacity(options.m);
    let mut chain_vars = Vec::with_capacity(options.m);
    for k in 0..options.m {
        let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
        rng.set_stream(k as u64);
        let mut data: Vec<Vec<f64>> = columns.iter().map(|c| c.values.clone()).collect();
        // Start: random draws from the observed values.
        for &c in &incomplete {
            for &i in &missing[c] {
                let d = observed[c][rng.random_range(0..observed[c].len())];
                data[c][i] = columns[c].values[d];
            }
        }
        let mut means = Vec::with_capacity(options.iterations);
        let mut vars = Vec::with_capacity(options.iterations);
        for _ in 0..options.iterations {
            for &c in &visit_sequence {
                let preds: Vec<usize> = (0..nc).filter(|&j| predictors[c][j]).collect();
                let imputed = impute_column(
                    &data,
                    c,
                    &preds,
                    &observed[c],
                    &missing[c],
                    columns[c].method,
                    options,
                    &mut rng,
                )
                .map_err(|e| match e {
                    StatsError::InvalidArgument { expected, .. } => StatsError::invalid(
                        "imputation model of column",
                        &columns[c].name,
                        &expected,
                    ),
                    other => other,
                })?;
                for (&i, v) in missing[c].iter().zip(imputed) {
                    data[c][i] = v;
                }
            }
            let (m_it, v_it): (Vec<Option<f64>>, Vec<Option<f64>>) = (0..nc)
                .map(|c| {
                    let vals: Vec<f64> = missing[c].iter().map(|&i| data[c][i]).collect();
                    if vals.is_empty() {
                        return (None, None);
                    }
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let var = (vals.len() > 1).then(|| {
                        vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                            / (vals.len() - 1) as f64
                    });
                    (Some(mean), var)
                })
                .unzip();
            means.push(m_it);
            vars.push(v_it);
        }
        datasets.push(data);
        chain_means.push(means);
        chain_vars.push(vars);
    }
    Ok(MiceResult {
        names: columns.iter().map(|c| c.name.clone()).collect(),
        methods: columns.iter().map(|c| c.method).collect(),
        n_missing,
        visit_sequence,
        datasets,
        chain_means,
        chain_vars,
        options: options.clone(),
    })
}

/// Row-major design [1, predictors] over `rows`.
fn design_rows(data: &[Vec<f64>], preds: &[usize], rows: &[usize]) -> Vec<f64> {
    let p = preds.len() + 1;
    let mut x = Vec::with_capacity(rows.len() * p);
    for &i in rows {
        x.push(1.0);
        for &j in preds {
            x.push(data[j][i]);
        }
    }
    x
}

/// (XᵀX + κ diag XᵀX)⁻¹ and its Cholesky factor, or an error naming the problem.
fn penalized_inverse(
    x: &[f64],
    w: Option<&[f64]>,
    p: usize,
    ridge: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = x.len() / p;
    let mut xtx = vec![0.0; p * p];
    for i in 0..n {
        let wi = w.map_or(1.0, |w| w[i]);
        let row = &x[i * p..(i + 1) * p];
        for a in 0..p {
            for b in 0..p {
                xtx[a * p + b] += wi * row[a] * row[b];
            }
        }
    }
    for a in 0..p {
        // mice: diag(xtx) * ridge; a zero diagonal (an all-zero predictor) gets κ.
        let d = xtx[a * p + a];
        xtx[a * p + a] += ridge * if d > 0.0 { d } else { 1.0 };
    }
    let l = cholesky(&xtx, p).ok_or_else(|| {
        StatsError::invalid(
            "imputation model",
            "predictors",
            "the predictors are collinear (XᵀX is singular); raise the ridge or drop a predictor",
        )
    })?;
    // Inverse from L: solve column by column.
    let mut inv = vec![0.0; p * p];
    for c in 0..p {
        let mut z = vec![0.0; p];
        for i in 0..p {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in 0..i {
                s -= l[i * p + k] * z[k];
            }
            z[i] = s / l[i * p + i];
        }
        for i in (0..p).rev() {
            let mut s = z[i];
            for k in i + 1..p {
                s -= l[k * p + i] * inv[k * p + c];
            }
            inv[i * p + c] = s / l[i * p + i];
        }
    }
    for a in 0..p {
        for b in 0..a {
            let v = 0.5 * (inv[a * p + b] + inv[b * p + a]);
            inv[a * p + b] = v;
            inv[b * p + a] = v;
        }
    }
    let linv = cholesky(&inv, p).ok_or_else(|| {
        StatsError::invalid(
            "imputation model",
            "predictors",
            "the coefficient covariance is not positive definite",
        )
    })?;
    Ok((inv, linv))
}

fn mat_vec(a: &[f64], v: &[f64], p: usize) -> Vec<f64> {
    (0..a.len() / p)
        .map(|i| (0..p).map(|j| a[i * p + j] * v[j]).sum())
        .collect()
}

/// β + scale · L z with z standard normal.
fn draw_beta(beta: &[f64], l: &[f64], scale: f64, rng: &mut ChaCha20Rng) -> Vec<f64> {
    let p = beta.len();
    let z: Vec<f64> = (0..p).map(|_| rng.sample(StandardNormal)).collect();
    (0..p)
        .map(|i| beta[i] + scale * (0..=i).map(|k| l[i * p + k] * z[k]).sum::<f64>())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn impute_column(
    data: &[Vec<f64>],
    c: usize,
    preds: &[usize],
    obs: &[usize],
    mis: &[usize],
    method: ImputeMethod,
    options: &MiceOptions,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<f64>> {
    let p = preds.len() + 1;
    let xo = design_rows(data, preds, obs);
    let xm = design_rows(data, preds, mis);
    let yo: Vec<f64> = obs.iter().map(|&i| data[c][i]).collect();
    match method {
        ImputeMethod::Norm | ImputeMethod::Pmm => {
            let (inv, l) = penalized_inverse(&xo, None, p, options.ridge)?;
            let mut xty = vec![0.0; p];
            for (i, &y) in yo.iter().enumerate() {
                for a in 0..p {
                    xty[a] += xo[i * p + a] * y;
                }
            }
            let beta = mat_vec(&inv, &xty, p);
            let fitted = mat_vec(&xo, &beta, p);
            let rss: f64 = yo.iter().zip(&fitted).map(|(y, f)| (y - f).powi(2)).sum();
            let df = (obs.len() as f64 - p as f64).max(1.0);
            let g: f64 = ChiSquared::new(df)
                .map_err(|_| StatsError::invalid("df", df, "must be positive"))?
                .sample(rng);
            let sigma = (rss / g).sqrt();
            let beta_star = draw_beta(&beta, &l, sigma, rng);
            let pred_mis = mat_vec(&xm, &beta_star, p);
            if method == ImputeMethod::Norm {
                return Ok(pred_mis
                    .iter()
                    .map(|m| m + sigma * rng.sample::<f64, _>(StandardNormal))
                    .collect());
            }
            // Type-1 matching: observed rows predicted with β̂, missing ones with β*.
            let d = options.donors.min(obs.len());
            let mut order: Vec<usize> = (0..obs.len()).collect();
            order.sort_by(|&a, &b| fitted[a].total_cmp(&fitted[b]).then(a.cmp(&b)));
            let sorted: Vec<f64> = order.iter().map(|&i| fitted[i]).collect();
            Ok(pred_mis
                .iter()
                .map(|&target| {
                    // The d nearest in the sorted predictions: expand a window around
                    // the insertion point.
                    let pos = sorted.partition_point(|v| *v < target);
                    let (mut lo, mut hi) = (pos, pos); // window [lo, hi)
                    while hi - lo < d {
                        let take_lo = if lo == 0 {
                            false
                        } else if hi == sorted.len() {
                            true
                        } else {
                            target - sorted[lo - 1] <= sorted[hi] - target
                        };
                        if take_lo {
                            lo -= 1;
                        } else {
                            hi += 1;
                        }
                    }
                    let pick = lo + rng.random_range(0..d);
                    yo[order[pick]]
                })
                .collect())
        }
        ImputeMethod::LogReg => {
            let mut beta = vec![0.0; p];
            let mut l = Vec::new();
            for _ in 0..30 {
                let eta = mat_vec(&xo, &beta, p);
                let mu: Vec<f64> = eta
                    .iter()
                    .map(|e| (1.0 / (1.0 + (-e).exp())).clamp(1e-10, 1.0 - 1e-10))
                    .collect();
                let w: Vec<f64> = mu.iter().map(|m| m * (1.0 - m)).collect();
                let (vi, li) = penalized_inverse(&xo, Some(&w), p, options.ridge)?;
                // Newton step: β += (XᵀWX)⁻¹ Xᵀ(y − μ).
                let mut score = vec![0.0; p];
                for i in 0..yo.len() {
                    for a in 0..p {
                        score[a] += xo[i * p + a] * (yo[i] - mu[i]);
                    }
                }
                let step = mat_vec(&vi, &score, p);
                l = li;
                let size = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
                for a in 0..p {
                    beta[a] += step[a];
                }
                if size < 1e-8 || beta.iter().any(|b| b.abs() > 30.0) {
                    // Converged, or (quasi-)separation: stop before the estimates run off.
                    break;
                }
            }
            let beta_star = draw_beta(&beta, &l, 1.0, rng);
            Ok(mat_vec(&xm, &beta_star, p)
                .iter()
                .map(|e| {
                    let prob = 1.0 / (1.0 + (-e).exp());
                    f64::from(u8::from(rng.random::<f64>() < prob))
                })
                .collect())
        }
    }
}

/// One completed dataset of a [`MiceResult`].
#[derive(Debug, Clone, Copy)]
pub struct Completed<'a> {
    pub names: &'a [String],
    pub columns: &'a [Vec<f64>],
    /// Which imputation (0-based).
    pub index: usize,
}

impl Completed<'_> {
    /// The completed column called `name`.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.columns[i].as_slice())
    }

    /// `base` with the imputed columns inserted (replacing columns of the same name).
    pub fn to_frame(&self, base: &Frame) -> Result<Frame> {
        let mut f = base.clone();
        for (name, col) in self.names.iter().zip(self.columns) {
            f.insert(name, Column::Numeric(col.clone()))?;
        }
        Ok(f)
    }
}

impl MiceResult {
    /// The k-th completed dataset.
    pub fn completed(&self, k: usize) -> Option<Completed<'_>> {
        self.datasets.get(k).map(|d| Completed {
            names: &self.names,
            columns: d,
            index: k,
        })
    }

    /// Fits `analysis` on every completed dataset and pools each returned
    /// (name, estimate, standard error) by Rubin's rules with `df_method` (Barnard–Rubin
    /// with complete-data df `df_complete`, or Rubin 1987), reporting the fraction of
    /// missing information. Every analysis must return the same names in the same order.
    pub fn fit_and_pool<F>(
        &self,
        mut analysis: F,
        df_complete: Option<f64>,
        df_method: PoolingDf,
        confidence: f64,
    ) -> Result<Vec<PooledParameter>>
    where
        F: FnMut(Completed<'_>) -> Result<Vec<(String, f64, f64)>>,
    {
        let mut results: Vec<Vec<(String, f64, f64)>> = Vec::with_capacity(self.datasets.len());
        for k in 0..self.datasets.len() {
            let c = self
                .completed(k)
                .ok_or_else(|| StatsError::invalid("imputation", k, "out of range"))?;
            let r = analysis(c)?;
            if let Some(first) = results.first()
                && (first.len() != r.len() || first.iter().zip(&r).any(|(a, b)| a.0 != b.0))
            {
                return Err(StatsError::invalid(
                    "analysis",
                    format!("imputation {}", k + 1),
                    "returned different parameters than imputation 1",
                ));
            }
            results.push(r);
        }
        let Some(first) = results.first() else {
            return Ok(Vec::new());
        };
        (0..first.len())
            .map(|j| {
                let est: Vec<f64> = results.iter().map(|r| r[j].1).collect();
                let se: Vec<f64> = results.iter().map(|r| r[j].2).collect();
                Ok(PooledParameter {
                    name: first[j].0.clone(),
                    pooled: pool_rubin(&est, &se, df_complete, df_method, confidence)?,
                })
            })
            .collect()
    }
}
