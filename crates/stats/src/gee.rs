//! Generalized estimating equations (Liang & Zeger, *Biometrika* 73:13–22, 1986)
//! for clustered data, with the estimator, starting values and stopping rule of
//! statsmodels 0.15 `GEE.fit` (which equals R `gee`, Carey's port of the
//! Liang–Zeger code).
//!
//! # The estimator
//!
//! For cluster i with design rows Xᵢ, means μᵢ = g⁻¹(Xᵢβ), Dᵢ = ∂μᵢ/∂β =
//! diag(dμ/dη) Xᵢ, Aᵢ = diag(v(μᵢ)) and working covariance Vᵢ = Aᵢ^½ R(α) Aᵢ^½
//! (the scale φ left out), β solves Σ Dᵢᵀ Vᵢ⁻¹ (yᵢ − μᵢ) = 0 by Fisher scoring:
//!
//! 1. start from the GLM (independence) fit;
//! 2. each iteration computes B = Σ DᵢᵀVᵢ⁻¹Dᵢ and the score s = Σ DᵢᵀVᵢ⁻¹rᵢ at
//!    the current β, sets β ← β + B⁻¹s, and then re-estimates α from the Pearson
//!    residuals at the new β;
//! 3. it stops when ‖s‖₂ < `ctol` (default 1e-6) once α has been updated at least
//!    once (for independence too, where the update is empty), or after `max_iter` (60) iterations, which is
//!    reported as `converged = false`, not as an error.
//!
//! Moment estimators (ddof = p, the number of mean parameters, as statsmodels'
//! `ddof_scale` default; the same as R `gee`), with Pearson residuals
//! eᵢⱼ = (yᵢⱼ − μᵢⱼ)/√v(μᵢⱼ) and N observations:
//!
//! * scale φ = Σ e²/(N − p) (Gaussian; fixed at 1 for binomial and Poisson);
//! * exchangeable α = Σᵢ Σ_{j<k} eᵢⱼeᵢₖ / (φ' (Σᵢ nᵢ(nᵢ−1)/2 − p)) with φ' = Σe²/(N − p)
//!   for every family;
//! * AR(1): corr(yᵢⱼ, yᵢₖ) = α^|tᵢⱼ − tᵢₖ|; α minimizes the weighted least squares
//!   Σ w_d (ẽᵢₖ − α^d ẽᵢⱼ)² over all within-cluster pairs j earlier than k at
//!   distance d = |tᵢₖ − tᵢⱼ|, ẽ = e/√φ, weights w_d ∝ (1 − α₀²)/(1 − α₀^{2d}) at the
//!   previous α₀ (Rosner & Muñoz, *Stat Med* 7:59–71, 1988; statsmodels
//!   `Autoregressive(grid=False)`), by Brent's method on the statsmodels bracket;
//! * unstructured: R_jk = Ĉ_jk/√(Ĉ_jj Ĉ_kk) with Ĉ_jk = Σᵢ eᵢⱼeᵢₖ/(n_jk − p), n_jk
//!   the clusters observed at both times j and k.
//!
//! Times: rows are ordered by the time vector within each cluster (by their order
//! in the data when no time is given, the times then being 0, 1, 2, …). The AR(1)
//! working correlation uses the time distances, so a missing visit is a gap of two.
//! statsmodels' `Autoregressive` uses the distances only to estimate α and solves
//! with α^|position difference|; the two agree when no visit is missing.
//!
//! # Covariance of β̂
//!
//! With B = Σ DᵢᵀVᵢ⁻¹Dᵢ and uᵢ = DᵢᵀVᵢ⁻¹rᵢ:
//!
//! * naive (model-based): φ B⁻¹;
//! * robust (Liang & Zeger 1986): B⁻¹ (Σ uᵢuᵢᵀ) B⁻¹;
//! * Mancl–DeRouen (*Biometrics* 57:126–134, 2001; statsmodels `bias_reduced`):
//!   rᵢ replaced by (I − Hᵢ)⁻¹rᵢ, Hᵢ = Dᵢ B⁻¹ DᵢᵀVᵢ⁻¹;
//! * Kauermann–Carroll (*JASA* 96:1387–1396, 2001): rᵢ replaced by
//!   Vᵢ^½ (I − H̃ᵢ)^{−½} Vᵢ^{−½} rᵢ with the symmetric H̃ᵢ = Vᵢ^{−½}DᵢB⁻¹DᵢᵀVᵢ^{−½} and
//!   symmetric (eigen-decomposition) square roots;
//! * Fay–Graubard (*Biometrics* 57:1198–1206, 2001): uᵢ replaced by Gᵢuᵢ with
//!   Gᵢ = diag{(1 − min(b, [DᵢᵀVᵢ⁻¹Dᵢ B⁻¹]_jj))^{−½}}, b = 0.75 by default.
//!
//! z statistics and normal p-values and intervals, as statsmodels (`use_t=False`).
//! Joint Wald tests give χ²(q) and, on request, F = W/q on (q, G − p) degrees of
//! freedom, G the number of clusters (the cluster-based denominator recommended
//! with the small-sample corrections; statsmodels' own F uses N − p).

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use serde::Serialize;

use crate::design::{Coding, Column, Design, Frame, build_design};
use crate::distributions::{Alternative, chi2_sf, f_sf, normal_quantile, z_p_value};
use crate::error::{Result, StatsError, check_unit_interval};
use crate::formula::Formula;
use crate::glm::{Coefficient, Family, WaldTest};
use crate::linalg::{cholesky, spd_inverse};

/// Working correlation structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CorrStructure {
    /// No within-cluster correlation (the GLM estimates, cluster-robust SEs).
    #[default]
    Independence,
    /// One common correlation (compound symmetry).
    Exchangeable,
    /// First-order autoregressive in the time distance.
    Ar1,
    /// A free correlation for every pair of times.
    Unstructured,
}

impl std::str::FromStr for CorrStructure {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "independence" | "ind" => Ok(CorrStructure::Independence),
            "exchangeable" | "exch" | "cs" => Ok(CorrStructure::Exchangeable),
            "ar1" | "ar(1)" | "autoregressive" => Ok(CorrStructure::Ar1),
            "unstructured" | "un" | "us" => Ok(CorrStructure::Unstructured),
            _ => Err(StatsError::invalid(
                "working correlation",
                s,
                "expected independence, exchangeable, ar1 or unstructured",
            )),
        }
    }
}

/// Covariance estimator of the GEE coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GeeCovariance {
    /// Liang–Zeger sandwich.
    #[default]
    Robust,
    /// Model-based φB⁻¹.
    Naive,
    /// Mancl–DeRouen bias-reduced sandwich (statsmodels `bias_reduced`).
    ManclDerouen,
    /// Kauermann–Carroll sandwich.
    KauermannCarroll,
    /// Fay–Graubard sandwich.
    FayGraubard,
}

impl std::str::FromStr for GeeCovariance {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "robust" | "sandwich" | "liang-zeger" => Ok(GeeCovariance::Robust),
            "naive" | "model" => Ok(GeeCovariance::Naive),
            "mancl-derouen" | "md" | "bias-reduced" | "bias_reduced" => {
                Ok(GeeCovariance::ManclDerouen)
            }
            "kauermann-carroll" | "kc" => Ok(GeeCovariance::KauermannCarroll),
            "fay-graubard" | "fg" => Ok(GeeCovariance::FayGraubard),
            _ => Err(StatsError::invalid(
                "GEE covariance",
                s,
                "expected robust, naive, mancl-derouen, kauermann-carroll or fay-graubard",
            )),
        }
    }
}

/// Options of [`gee`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeeOptions {
    pub family: Family,
    pub correlation: CorrStructure,
    pub covariance: GeeCovariance,
    /// Maximum number of mean updates (statsmodels: 60).
    pub max_iter: usize,
    /// Stop when the L2 norm of the score is below this (statsmodels: 1e-6).
    pub ctol: f64,
    /// Confidence level of the coefficient intervals.
    pub confidence: f64,
    /// Fay–Graubard bound b on the leverage-type diagonal (0.75 in the paper).
    pub fg_bound: f64,
}

impl Default for GeeOptions {
    fn default() -> Self {
        GeeOptions {
            family: Family::Gaussian,
            correlation: CorrStructure::Independence,
            covariance: GeeCovariance::Robust,
            max_iter: 60,
            ctol: 1e-6,
            confidence: 0.95,
            fg_bound: 0.75,
        }
    }
}

/// The estimated working correlation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "structure", rename_all = "kebab-case")]
pub enum CorrelationEstimate {
    Independence,
    Exchangeable {
        rho: f64,
    },
    Ar1 {
        rho: f64,
    },
    Unstructured {
        /// The distinct times, in order; row/column k of `matrix` is `times[k]`.
        times: Vec<f64>,
        matrix: Vec<Vec<f64>>,
    },
}

/// A fitted GEE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeeFit {
    pub family: Family,
    pub link: &'static str,
    pub covariance: GeeCovariance,
    pub response: String,
    pub coefficients: Vec<Coefficient>,
    /// Covariance of the estimates by the chosen estimator, row-major p × p.
    pub cov_params: Vec<Vec<f64>>,
    /// The Liang–Zeger sandwich, whatever was chosen.
    pub cov_robust: Vec<Vec<f64>>,
    /// The model-based φB⁻¹.
    pub cov_naive: Vec<Vec<f64>>,
    pub correlation: CorrelationEstimate,
    /// φ (Pearson χ²/(N − p) for Gaussian, 1 for binomial and Poisson).
    pub scale: f64,
    /// Mean updates performed.
    pub iterations: usize,
    pub converged: bool,
    /// ‖score‖₂ at the last iteration.
    pub score_norm: f64,
    pub n_obs: usize,
    pub n_groups: usize,
    /// Rows dropped for missing values in the formula's columns.
    pub n_dropped: usize,
    pub cluster_size_min: usize,
    pub cluster_size_max: usize,
    pub confidence: f64,
    pub coding: Coding,
    /// Terms (patsy names) with their column indices.
    pub terms: Vec<(String, Vec<usize>)>,
}

/// Data rearranged by cluster (and by time within cluster).
struct Clustered {
    n: usize,
    p: usize,
    /// Row-major n × p design in cluster order.
    x: Vec<f64>,
    y: Vec<f64>,
    t: Vec<f64>,
    /// Index of each row's time among the distinct times (unstructured).
    tix: Vec<usize>,
    times: Vec<f64>,
    /// Cluster boundaries: cluster c is rows starts[c]..starts[c + 1].
    starts: Vec<usize>,
}

impl Clustered {
    fn g(&self) -> usize {
        self.starts.len() - 1
    }
    fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.starts[c]..self.starts[c + 1]
    }
}

/// The working correlation at its current parameters.
#[derive(Clone)]
enum Working {
    Independence,
    Exchangeable(f64),
    Ar1(f64),
    /// q × q row-major.
    Unstructured(Vec<f64>, usize),
}

impl Working {
    /// R_jk for rows j, k of the cluster starting at `k0` (global indices a, b).
    fn corr(&self, data: &Clustered, a: usize, b: usize) -> f64 {
        if a == b {
            return 1.0;
        }
        match self {
            Working::Independence => 0.0,
            Working::Exchangeable(r) => *r,
            Working::Ar1(r) => r.powf((data.t[a] - data.t[b]).abs()),
            Working::Unstructured(m, q) => m[data.tix[a] * q + data.tix[b]],
        }
    }

    /// Overwrites `rhs` (m × ncols, column-major) with V⁻¹ rhs, V = S R S, S = diag(sd),
    /// for the cluster whose rows are `rows`. `scratch` is reused between calls.
    fn solve(
        &self,
        data: &Clustered,
        rows: std::ops::Range<usize>,
        sd: &[f64],
        rhs: &mut [f64],
        ncols: usize,
        scratch: &mut Vec<f64>,
    ) -> Result<()> {
        let m = sd.len();
        match self {
            Working::Independence => {
                for col in rhs.chunks_mut(m).take(ncols) {
                    for (x, s) in col.iter_mut().zip(sd) {
                        *x /= s * s;
                    }
                }
            }
            Working::Exchangeable(r) => {
                let c = r / (1.0 - r) / (1.0 + r * (m as f64 - 1.0));
                for col in rhs.chunks_mut(m).take(ncols) {
                    let mut sum = 0.0;
                    for (x, s) in col.iter_mut().zip(sd) {
                        *x /= s;
                        sum += *x;
                    }
                    for (x, s) in col.iter_mut().zip(sd) {
                        *x = (*x / (1.0 - r) - c * sum) / s;
                    }
                }
            }
            _ => {
                scratch.clear();
                scratch.resize(m * m, 0.0);
                let k0 = rows.start;
                for j in 0..m {
                    for k in 0..=j {
                        let v = self.corr(data, k0 + j, k0 + k) * sd[j] * sd[k];
                        scratch[j * m + k] = v;
                        scratch[k * m + j] = v;
                    }
                }
                let l = cholesky(scratch, m).ok_or_else(|| {
                    StatsError::invalid(
                        "GEE working correlation",
                        format!("cluster of {m} rows"),
                        "is not positive definite (estimated correlations inconsistent; try ar1 or exchangeable)",
                    )
                })?;
                for col in rhs.chunks_mut(m).take(ncols) {
                    chol_solve(&l, m, col);
                }
            }
        }
        Ok(())
    }
}

/// Solves L Lᵀ x = b in place (L lower, row-major m × m).
fn chol_solve(l: &[f64], m: usize, b: &mut [f64]) {
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * m + k] * b[k];
        }
        b[i] = s / l[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in i + 1..m {
            s -= l[k * m + i] * b[k];
        }
        b[i] = s / l[i * m + i];
    }
}

/// Eigen-decomposition of a symmetric m × m matrix (row-major) by cyclic Jacobi
/// rotations (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5): returns the
/// eigenvalues and the eigenvectors as the columns of a row-major matrix.
fn sym_eigen(a: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; m * m];
    for i in 0..m {
        v[i * m + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * m + j] * a[i * m + j])
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (akp, akq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for k in 0..m {
                    let (apk, aqk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for k in 0..m {
                    let (vkp, vkq) = (v[k * m + p], v[k * m + q]);
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..m).map(|i| a[i * m + i]).collect(), v)
}

/// Q f(Λ) Qᵀ for a symmetric matrix with eigen-decomposition (vals, vecs).
fn sym_fn(vals: &[f64], vecs: &[f64], m: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    let fv: Vec<f64> = vals.iter().map(|&l| f(l)).collect();
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            out[i * m + j] = (0..m)
                .map(|k| vecs[i * m + k] * fv[k] * vecs[j * m + k])
                .sum();
        }
    }
    out
}

/// Brent's minimization on a bracket (a < b < c, f(b) < f(a), f(b) < f(c)), as in
/// scipy.optimize.brent (tol 1.48e-8, at most 500 iterations; Brent, *Algorithms
/// for Minimization without Derivatives*, 1973, ch. 5).
fn brent(f: impl Fn(f64) -> f64, xa: f64, xb: f64, xc: f64) -> f64 {
    const TOL: f64 = 1.48e-8;
    const MINTOL: f64 = 1e-11;
    const CG: f64 = 0.381_966_0;
    let fb = f(xb);
    let (mut x, mut w, mut v) = (xb, xb, xb);
    let (mut fx, mut fw, mut fv) = (fb, fb, fb);
    let (mut a, mut b) = if xa < xc { (xa, xc) } else { (xc, xa) };
    let mut deltax: f64 = 0.0;
    let mut rat: f64 = 0.0;
    for _ in 0..500 {
        let tol1 = TOL * x.abs() + MINTOL;
        let tol2 = 2.0 * tol1;
        let xmid = 0.5 * (a + b);
        if (x - xmid).abs() < tol2 - 0.5 * (b - a) {
            break;
        }
        if deltax.abs() <= tol1 {
            deltax = if x >= xmid { a - x } else { b - x };
            rat = CG * deltax;
        } else {
            let tmp1 = (x - w) * (fx - fv);
            let mut tmp2 = (x - v) * (fx - fw);
            let mut p = (x - v) * tmp2 - (x - w) * tmp1;
            tmp2 = 2.0 * (tmp2 - tmp1);
            if tmp2 > 0.0 {
                p = -p;
            }
            tmp2 = tmp2.abs();
            let dx_temp = deltax;
            deltax = rat;
            if p > tmp2 * (a - x) && p < tmp2 * (b - x) && p.abs() < (0.5 * tmp2 * dx_temp).abs() {
                rat = p / tmp2;
                let u = x + rat;
                if (u - a) < tol2 || (b - u) < tol2 {
                    rat = if xmid - x >= 0.0 { tol1 } else { -tol1 };
                }
            } else {
                deltax = if x >= xmid { a - x } else { b - x };
                rat = CG * deltax;
            }
        }
        let u = if rat.abs() < tol1 {
            if rat >= 0.0 { x + tol1 } else { x - tol1 }
        } else {
            x + rat
        };
        let fu = f(u);
        if fu > fx {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                v = w;
                w = u;
                fv = fw;
                fw = fu;
            } else if fu <= fv || v == x || v == w {
                v = u;
                fv = fu;
            }
        } else {
            if u >= x {
                a = x;
            } else {
                b = x;
            }
            v = w;
            w = x;
            x = u;
            fv = fw;
            fw = fx;
            fx = fu;
        }
    }
    x
}

fn check_response(y: &[f64], fam: Family) -> Result<()> {
    match fam {
        Family::Binomial => match y.iter().find(|&&v| v != 0.0 && v != 1.0) {
            Some(v) => Err(StatsError::invalid(
                "binomial response",
                v,
                "must be 0 or 1",
            )),
            None => Ok(()),
        },
        Family::Poisson => match y.iter().find(|&&v| v < 0.0) {
            Some(v) => Err(StatsError::invalid(
                "Poisson response",
                v,
                "must be a non-negative count",
            )),
            None => Ok(()),
        },
        Family::Gaussian => Ok(()),
    }
}

/// The GLM (independence) starting values by IRLS as in [`crate::glm::glm`] (start
/// μ = (y + ȳ)/2, stop when |ΔD|/(|D| + 0.1) < 1e-12), solved by the normal
/// equations accumulated row by row (no n × p copies; the GEE iterations that follow
/// refine the estimates).
fn glm_start(data: &Clustered, fam: Family) -> Result<Vec<f64>> {
    let (n, p) = (data.n, data.p);
    let y = &data.y;
    let ybar = y.iter().sum::<f64>() / n as f64;
    let mut mu: Vec<f64> = y.iter().map(|&v| (v + ybar) / 2.0).collect();
    let mut eta: Vec<f64> = mu.iter().map(|&m| fam.linkfun(m)).collect();
    let deviance = |mu: &[f64]| -> f64 {
        y.iter()
            .zip(mu)
            .map(|(&a, &b)| fam.unit_deviance(a, b))
            .sum()
    };
    let mut dev = deviance(&mu);
    let mut beta = vec![0.0; p];
    for it in 1..=100 {
        let mut xtwx = vec![0.0; p * p];
        let mut xtwz = vec![0.0; p];
        for i in 0..n {
            let g = fam.deriv(mu[i]);
            let w = 1.0 / (g * g * fam.variance(mu[i]));
            let z = eta[i] + (y[i] - mu[i]) * g;
            let xi = &data.x[i * p..(i + 1) * p];
            for j in 0..p {
                let a = w * xi[j];
                if a == 0.0 {
                    continue;
                }
                xtwz[j] += a * z;
                let row = &mut xtwx[j * p..(j + 1) * p];
                for k in j..p {
                    row[k] += a * xi[k];
                }
            }
        }
        for j in 0..p {
            for k in 0..j {
                xtwx[j * p + k] = xtwx[k * p + j];
            }
        }
        let l = cholesky(&xtwx, p).ok_or_else(|| {
            StatsError::invalid(
                "design",
                "GLM starting values",
                "became singular in the IRLS weights (perfect separation or zero fitted counts?)",
            )
        })?;
        chol_solve(&l, p, &mut xtwz);
        beta = xtwz;
        for i in 0..n {
            eta[i] = crate::linalg::dot(&data.x[i * p..(i + 1) * p], &beta);
            mu[i] = fam.inverse(eta[i]);
        }
        let new_dev = deviance(&mu);
        if !new_dev.is_finite() {
            return Err(StatsError::NoConvergence {
                what: "GLM starting values (deviance not finite)".into(),
                iterations: it,
            });
        }
        let change = (new_dev - dev).abs() / (new_dev.abs() + 0.1);
        dev = new_dev;
        if change < 1e-12 {
            break;
        }
    }
    Ok(beta)
}

/// State of the fit: the data, the family and the current means.
struct State<'a> {
    data: &'a Clustered,
    family: Family,
    mu: Vec<f64>,
    /// dμ/dη per row.
    dmu: Vec<f64>,
    /// √v(μ) per row.
    sd: Vec<f64>,
    /// The fixed sums of the Gaussian family (exchangeable and independence only).
    gauss: Option<GaussianSums>,
}

/// With the Gaussian family (identity link, unit variance) Dᵢ = Xᵢ does not change
/// between iterations, so XᵀX and, per cluster size m, Σ sᵢsᵢᵀ (sᵢ the column sums
/// of cluster i) are summed once; then B(ρ) = XᵀX/(1 − ρ) − Σ_m c_m(ρ) Σ sᵢsᵢᵀ, from
/// R⁻¹ = I/(1 − ρ) − c_m 11ᵀ with c_m = ρ/((1 − ρ)(1 + ρ(m − 1))).
struct GaussianSums {
    /// XᵀX, row-major p × p, upper triangle.
    gram: Vec<f64>,
    /// Xᵀy.
    xty: Vec<f64>,
    /// (m, Σ sᵢsᵢᵀ over the clusters of size m, upper triangle), by increasing m.
    by_size: Vec<(usize, Vec<f64>)>,
}

impl GaussianSums {
    fn new(d: &Clustered) -> GaussianSums {
        let p = d.p;
        let mut gram = vec![0.0; p * p];
        let mut xty = vec![0.0; p];
        let mut by_size: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
        let mut s = vec![0.0; p];
        for c in 0..d.g() {
            let rows = d.range(c);
            let m = rows.len();
            s.iter_mut().for_each(|v| *v = 0.0);
            for i in rows {
                let xi = &d.x[i * p..(i + 1) * p];
                add_row_outer(&mut gram, xi);
                for j in 0..p {
                    s[j] += xi[j];
                    xty[j] += xi[j] * d.y[i];
                }
            }
            let acc = by_size.entry(m).or_insert_with(|| vec![0.0; p * p]);
            add_row_outer(acc, &s);
        }
        GaussianSums {
            gram,
            xty,
            by_size: by_size.into_iter().collect(),
        }
    }
}

/// Adds the upper triangle of x xᵀ to `acc` (row-major), skipping zeros of x.
fn add_row_outer(acc: &mut [f64], x: &[f64]) {
    let p = x.len();
    for j in 0..p {
        let a = x[j];
        if a == 0.0 {
            continue;
        }
        let row = &mut acc[j * p..(j + 1) * p];
        for k in j..p {
            row[k] += a * x[k];
        }
    }
}

/// Copies the upper triangle of a row-major p × p matrix to its lower triangle.
fn symmetrize(a: &mut [f64], p: usize) {
    for j in 0..p {
        for k in 0..j {
            a[j * p + k] = a[k * p + j];
        }
    }
}

impl State<'_> {
    fn update_means(&mut self, beta: &[f64]) {
        let p = self.data.p;
        for i in 0..self.data.n {
            let eta = crate::linalg::dot(&self.data.x[i * p..(i + 1) * p], beta);
            let mu = self.family.inverse(eta);
            self.mu[i] = mu;
            self.dmu[i] = 1.0 / self.family.deriv(mu);
            self.sd[i] = self.family.variance(mu).sqrt();
        }
    }

    fn pearson(&self, i: usize) -> f64 {
        (self.data.y[i] - self.mu[i]) / self.sd[i]
    }

    /// Σ e² over all rows.
    fn pearson_ss(&self) -> f64 {
        (0..self.data.n).map(|i| self.pearson(i).powi(2)).sum()
    }

    /// statsmodels `estimate_scale`: Σe²/(N − p) for Gaussian, 1 otherwise.
    fn scale(&self) -> f64 {
        match self.family {
            Family::Gaussian => self.pearson_ss() / (self.data.n - self.data.p) as f64,
            _ => 1.0,
        }
    }

    /// Fills `buf` (m × (p + 1), column-major) with [Dᵢ | rᵢ] for cluster c.
    fn cluster_rhs(&self, c: usize, buf: &mut Vec<f64>) -> usize {
        let (d, p) = (self.data, self.data.p);
        let rows = d.range(c);
        let m = rows.len();
        buf.clear();
        buf.resize(m * (p + 1), 0.0);
        for (r, i) in rows.enumerate() {
            let xi = &d.x[i * p..(i + 1) * p];
            for j in 0..p {
                buf[j * m + r] = xi[j] * self.dmu[i];
            }
            buf[p * m + r] = d.y[i] - self.mu[i];
        }
        m
    }

    /// Calls `f(c, uᵢ)` for every cluster with its score uᵢ = DᵢᵀVᵢ⁻¹rᵢ under the
    /// exchangeable correlation ρ (ρ = 0: independence), by the closed form
    /// uᵢ = Σⱼ d̃ⱼẽⱼ/(1 − ρ) − c_m (Σⱼ d̃ⱼ)(Σⱼ ẽⱼ), d̃ = D row/√v, ẽ = r/√v.
    fn exch_cluster_scores(&self, r: f64, mut f: impl FnMut(usize, &[f64])) {
        let d = self.data;
        let p = d.p;
        let inv = 1.0 / (1.0 - r);
        let gaussian = self.family == Family::Gaussian;
        let (mut xs, mut xe, mut u) = (vec![0.0; p], vec![0.0; p], vec![0.0; p]);
        for cl in 0..d.g() {
            let rows = d.range(cl);
            let m = rows.len() as f64;
            let c = r / (1.0 - r) / (1.0 + r * (m - 1.0));
            xs.iter_mut().for_each(|v| *v = 0.0);
            xe.iter_mut().for_each(|v| *v = 0.0);
            let mut se = 0.0;
            for i in rows {
                let xi = &d.x[i * p..(i + 1) * p];
                if gaussian {
                    let e = d.y[i] - self.mu[i];
                    se += e;
                    for j in 0..p {
                        xs[j] += xi[j];
                        xe[j] += xi[j] * e;
                    }
                } else {
                    let fct = self.dmu[i] / self.sd[i];
                    let e = (d.y[i] - self.mu[i]) / self.sd[i];
                    se += e;
                    for j in 0..p {
                        let a = xi[j] * fct;
                        xs[j] += a;
                        xe[j] += a * e;
                    }
                }
            }
            for j in 0..p {
                u[j] = inv * xe[j] - c * xs[j] * se;
            }
            f(cl, &u);
        }
    }

    /// B = Σ DᵀV⁻¹D (row-major p × p, full) and the score Σ DᵀV⁻¹r.
    fn bmat_score(&self, w: &Working) -> Result<(Vec<f64>, Vec<f64>)> {
        let p = self.data.p;
        let mut bmat = vec![0.0; p * p];
        let mut score = vec![0.0; p];
        let rho = match w {
            Working::Independence => Some(0.0),
            Working::Exchangeable(r) => Some(*r),
            _ => None,
        };
        if let (Some(r), Some(gs)) = (rho, &self.gauss) {
            let inv = 1.0 / (1.0 - r);
            for (b, g) in bmat.iter_mut().zip(&gs.gram) {
                *b = inv * g;
            }
            for (m, ss) in &gs.by_size {
                let c = r / (1.0 - r) / (1.0 + r * (*m as f64 - 1.0));
                if c != 0.0 {
                    for j in 0..p {
                        for k in j..p {
                            bmat[j * p + k] -= c * ss[j * p + k];
                        }
                    }
                }
            }
            symmetrize(&mut bmat, p);
            self.exch_cluster_scores(r, |_, u| {
                for (s, v) in score.iter_mut().zip(u) {
                    *s += v;
                }
            });
            return Ok((bmat, score));
        }
        if let Some(r) = rho {
            // R⁻¹ = I/(1 − ρ) − c 11ᵀ, c = ρ/((1 − ρ)(1 + ρ(m − 1))): accumulate row by row.
            let d = self.data;
            let inv = 1.0 / (1.0 - r);
            let (mut xt, mut s) = (vec![0.0; p], vec![0.0; p]);
            for cl in 0..d.g() {
                let rows = d.range(cl);
                let m = rows.len() as f64;
                let c = r / (1.0 - r) / (1.0 + r * (m - 1.0));
                s.iter_mut().for_each(|v| *v = 0.0);
                let mut se = 0.0;
                for i in rows {
                    let f = self.dmu[i] / self.sd[i];
                    let e = (d.y[i] - self.mu[i]) / self.sd[i];
                    for (t, x) in xt.iter_mut().zip(&d.x[i * p..(i + 1) * p]) {
                        *t = x * f;
                    }
                    se += e;
                    for j in 0..p {
                        let a = xt[j];
                        s[j] += a;
                        if a == 0.0 {
                            continue;
                        }
                        score[j] += inv * a * e;
                        let ai = inv * a;
                        let row = &mut bmat[j * p..(j + 1) * p];
                        for k in j..p {
                            row[k] += ai * xt[k];
                        }
                    }
                }
                if c != 0.0 {
                    for j in 0..p {
                        score[j] -= c * s[j] * se;
                        let cs = c * s[j];
                        for k in j..p {
                            bmat[j * p + k] -= cs * s[k];
                        }
                    }
                }
            }
            for j in 0..p {
                for k in 0..j {
                    bmat[j * p + k] = bmat[k * p + j];
                }
            }
            return Ok((bmat, score));
        }
        let (mut buf, mut sol, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..self.data.g() {
            let m = self.cluster_rhs(c, &mut buf);
            let rows = self.data.range(c);
            sol.clone_from(&buf);
            w.solve(
                self.data,
                rows.clone(),
                &self.sd[rows],
                &mut sol,
                p + 1,
                &mut scratch,
            )?;
            for j in 0..p {
                let dj = &buf[j * m..(j + 1) * m];
                for k in j..p {
                    bmat[j * p + k] += crate::linalg::dot(dj, &sol[k * m..(k + 1) * m]);
                }
                score[j] += crate::linalg::dot(dj, &sol[p * m..(p + 1) * m]);
            }
        }
        for j in 0..p {
            for k in 0..j {
                bmat[j * p + k] = bmat[k * p + j];
            }
        }
        Ok((bmat, score))
    }

    /// Re-estimates the dependence parameters from the current means.
    fn update_dependence(&self, w: &mut Working, ar_dist: &[f64]) -> Result<()> {
        let d = self.data;
        let (n, p) = (d.n as f64, d.p as f64);
        match w {
            Working::Independence => {}
            Working::Exchangeable(rho) => {
                let scale = self.pearson_ss() / (n - p);
                let (mut cross, mut pairs) = (0.0, 0.0);
                for c in 0..d.g() {
                    let rows = d.range(c);
                    let m = rows.len() as f64;
                    let (mut s, mut ss) = (0.0, 0.0);
                    for i in rows {
                        let e = self.pearson(i);
                        s += e;
                        ss += e * e;
                    }
                    cross += (s * s - ss) / 2.0;
                    pairs += 0.5 * m * (m - 1.0);
                }
                if pairs - p <= 0.0 {
                    return Err(StatsError::invalid(
                        "exchangeable correlation",
                        format!("{pairs} within-cluster pairs"),
                        &format!("needs more within-cluster pairs than the {p} mean parameters"),
                    ));
                }
                *rho = cross / scale / (pairs - p);
            }
            Working::Ar1(rho) => {
                let scale = self.scale();
                // Pairs (later, earlier) in the order of ar_dist.
                let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(ar_dist.len());
                for c in 0..d.g() {
                    let rows = d.range(c);
                    let e: Vec<f64> = rows.map(|i| self.pearson(i) / scale.sqrt()).collect();
                    for j1 in 0..e.len() {
                        for j2 in 0..j1 {
                            pairs.push((e[j1], e[j2]));
                        }
                    }
                }
                if pairs.is_empty() {
                    return Err(StatsError::invalid(
                        "AR(1) correlation",
                        "no within-cluster pairs",
                        "needs clusters with at least two observations",
                    ));
                }
                let r0 = *rho;
                let mut wts: Vec<f64> = ar_dist
                    .iter()
                    .map(|&dd| (1.0 - r0 * r0) / (1.0 - r0.powf(2.0 * dd)))
                    .collect();
                let tot: f64 = wts.iter().sum();
                wts.iter_mut().for_each(|v| *v /= tot);
                let fit = |a: f64| -> f64 {
                    pairs
                        .iter()
                        .zip(ar_dist)
                        .zip(&wts)
                        .map(|((&(e1, e2), &dd), &wt)| {
                            let dif = e1 - a.powf(dd) * e2;
                            dif * dif * wt
                        })
                        .sum()
                };
                let f_lft = fit(0.0);
                let mut b_ctr = 0.5;
                let mut f_ctr = fit(b_ctr);
                while f_ctr > f_lft {
                    b_ctr /= 2.0;
                    f_ctr = fit(b_ctr);
                    if b_ctr < 1e-8 {
                        *rho = 0.0;
                        return Ok(());
                    }
                }
                let mut b_rgt = 0.75;
                let mut f_rgt = fit(b_rgt);
                while f_rgt < f_ctr {
                    b_rgt += (1.0 - b_rgt) / 2.0;
                    f_rgt = fit(b_rgt);
                    if b_rgt > 1.0 - 1e-6 {
                        return Err(StatsError::invalid(
                            "AR(1) correlation",
                            "estimate",
                            "tends to 1 (no right bracket below 1)",
                        ));
                    }
                }
                if !(f_ctr < f_lft && f_ctr < f_rgt) {
                    // A flat objective: nothing to choose between the bracket points.
                    *rho = b_ctr;
                    return Ok(());
                }
                *rho = brent(fit, 0.0, b_ctr, b_rgt);
            }
            Working::Unstructured(mat, q) => {
                let q = *q;
                let mut cov = vec![0.0; q * q];
                let mut cnt = vec![0.0; q * q];
                for c in 0..d.g() {
                    let rows = d.range(c);
                    for a in rows.clone() {
                        let ea = self.pearson(a);
                        for b in rows.clone() {
                            let k = d.tix[a] * q + d.tix[b];
                            cov[k] += ea * self.pearson(b);
                            cnt[k] += 1.0;
                        }
                    }
                }
                for k in 0..q * q {
                    if cnt[k] > 0.0 && cnt[k] - p <= 0.0 {
                        let (j, l) = (k / q, k % q);
                        return Err(StatsError::invalid(
                            "unstructured correlation",
                            format!("times {} and {}", d.times[j], d.times[l]),
                            &format!(
                                "observed together in {} clusters; needs more than the {p} mean parameters",
                                cnt[k]
                            ),
                        ));
                    }
                    if cnt[k] > 0.0 {
                        cov[k] /= cnt[k] - p;
                    }
                }
                for j in 0..q {
                    for l in 0..q {
                        let den = (cov[j * q + j] * cov[l * q + l]).sqrt();
                        mat[j * q + l] = if cnt[j * q + l] > 0.0 && den > 0.0 {
                            cov[j * q + l] / den
                        } else if j == l {
                            1.0
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

fn to_rows(a: &[f64], p: usize) -> Vec<Vec<f64>> {
    a.chunks(p).map(<[f64]>::to_vec).collect()
}

/// B⁻¹ M B⁻¹ (all p × p row-major).
fn sandwich(binv: &[f64], meat: &[f64], p: usize) -> Vec<f64> {
    let mut tmp = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            tmp[i * p + j] = (0..p).map(|k| binv[i * p + k] * meat[k * p + j]).sum();
        }
    }
    let mut out = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            out[i * p + j] = (0..p).map(|k| tmp[i * p + k] * binv[k * p + j]).sum();
        }
    }
    out
}

fn add_outer(meat: &mut [f64], u: &[f64]) {
    let p = u.len();
    for i in 0..p {
        for j in 0..p {
            meat[i * p + j] += u[i] * u[j];
        }
    }
}

/// Fits a GEE to `design`. `groups` gives each design row's cluster (any integer
/// codes; clusters are taken in increasing code order) and `time`, when given, its
/// time within the cluster (used to order the rows and by AR(1) and unstructured).
pub fn gee(
    design: &Design,
    groups: &[usize],
    time: Option<&[f64]>,
    options: &GeeOptions,
) -> Result<GeeFit> {
    check_unit_interval("confidence", options.confidence)?;
    check_unit_interval("Fay–Graubard bound", options.fg_bound)?;
    if options.ctol.is_nan() || options.ctol <= 0.0 {
        return Err(StatsError::invalid(
            "ctol",
            options.ctol,
            "must be positive",
        ));
    }
    let (n, p) = (design.n, design.p());
    if groups.len() != n {
        return Err(StatsError::invalid(
            "groups",
            groups.len(),
            &format!("needs one cluster id per model row ({n})"),
        ));
    }
    if let Some(t) = time {
        if t.len() != n {
            return Err(StatsError::invalid(
                "time",
                t.len(),
                &format!("needs one time per model row ({n})"),
            ));
        }
        crate::error::check_finite("time", t)?;
    }
    // Order rows by cluster, then time, then data order.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        groups[a].cmp(&groups[b]).then_with(|| match time {
            Some(t) => t[a].total_cmp(&t[b]),
            None => std::cmp::Ordering::Equal,
        })
    });
    let mut starts = vec![0];
    for k in 1..n {
        if groups[order[k]] != groups[order[k - 1]] {
            starts.push(k);
        }
    }
    starts.push(n);
    let n_groups = starts.len() - 1;
    if n_groups < 2 {
        return Err(StatsError::TooFewObservations {
            what: "GEE clusters".into(),
            needed: 2,
            got: n_groups,
        });
    }
    let mut t = vec![0.0; n];
    for c in 0..n_groups {
        for (pos, k) in (starts[c]..starts[c + 1]).enumerate() {
            t[k] = match time {
                Some(tv) => tv[order[k]],
                None => pos as f64,
            };
            if time.is_some()
                && k > starts[c]
                && t[k] == t[k - 1]
                && matches!(
                    options.correlation,
                    CorrStructure::Ar1 | CorrStructure::Unstructured
                )
            {
                return Err(StatsError::invalid(
                    "time",
                    t[k],
                    &format!(
                        "occurs twice in cluster {} (AR(1) and unstructured need distinct times within a cluster)",
                        groups[order[k]]
                    ),
                ));
            }
        }
    }
    let mut times = t.clone();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let tix: Vec<usize> = t.iter().map(|v| times.partition_point(|u| u < v)).collect();
    let mut x = vec![0.0; n * p];
    for (k, &i) in order.iter().enumerate() {
        for j in 0..p {
            x[k * p + j] = design.x[i + j * n];
        }
    }
    let data = Clustered {
        n,
        p,
        x,
        y: order.iter().map(|&i| design.y[i]).collect(),
        t,
        tix,
        times,
        starts,
    };

    // Start: the GLM fit (response checked; the design's rank was checked by build_design).
    check_response(&data.y, options.family)?;
    let gauss = (options.family == Family::Gaussian
        && matches!(
            options.correlation,
            CorrStructure::Independence | CorrStructure::Exchangeable
        ))
    .then(|| GaussianSums::new(&data));
    let mut beta = match &gauss {
        // The Gaussian IRLS converges in one step to the least-squares solution.
        Some(gs) => {
            let mut g = gs.gram.clone();
            symmetrize(&mut g, p);
            let l = cholesky(&g, p).ok_or_else(|| {
                StatsError::invalid(
                    "design",
                    "GLM starting values",
                    "became singular in the IRLS weights (perfect separation or zero fitted counts?)",
                )
            })?;
            let mut b = gs.xty.clone();
            chol_solve(&l, p, &mut b);
            b
        }
        None => glm_start(&data, options.family)?,
    };
    let mut state = State {
        data: &data,
        family: options.family,
        mu: vec![0.0; n],
        dmu: vec![0.0; n],
        sd: vec![0.0; n],
        gauss,
    };
    state.update_means(&beta);

    let q = data.times.len();
    let mut working = match options.correlation {
        CorrStructure::Independence => Working::Independence,
        CorrStructure::Exchangeable => Working::Exchangeable(0.0),
        CorrStructure::Ar1 => Working::Ar1(0.0),
        CorrStructure::Unstructured => {
            let mut m = vec![0.0; q * q];
            for j in 0..q {
                m[j * q + j] = 1.0;
            }
            Working::Unstructured(m, q)
        }
    };
    let ar_dist: Vec<f64> = if options.correlation == CorrStructure::Ar1 {
        let mut dd = Vec::new();
        for c in 0..n_groups {
            let r = data.range(c);
            for j1 in r.clone() {
                for j2 in r.start..j1 {
                    dd.push((data.t[j1] - data.t[j2]).abs());
                }
            }
        }
        dd
    } else {
        Vec::new()
    };
    let mut score_norm = -1.0;
    let mut iterations = 0;
    for n_assoc in 0..options.max_iter {
        let (bmat, score) = state.bmat_score(&working)?;
        let binv = spd_inverse(&bmat, p).ok_or_else(|| {
            StatsError::invalid(
                "GEE",
                "Σ DᵀV⁻¹D",
                "is singular (aliased columns, or a cluster structure that cannot identify them)",
            )
        })?;
        for j in 0..p {
            beta[j] += (0..p).map(|k| binv[j * p + k] * score[k]).sum::<f64>();
        }
        if beta.iter().any(|b| !b.is_finite()) {
            return Err(StatsError::NoConvergence {
                what: "GEE (estimates not finite)".into(),
                iterations: iterations + 1,
            });
        }
        state.update_means(&beta);
        iterations += 1;
        score_norm = score.iter().map(|s| s * s).sum::<f64>().sqrt();
        // statsmodels' `update_dep` is true for every structure, independence
        // included, so at least one (there empty) dependence update comes first.
        if score_norm < options.ctol && n_assoc > 0 {
            break;
        }
        state.update_dependence(&mut working, &ar_dist)?;
    }
    let converged = score_norm >= 0.0 && score_norm < options.ctol;

    // Covariances at the final estimates.
    let scale = state.scale();
    let (bmat, _) = state.bmat_score(&working)?;
    let binv = spd_inverse(&bmat, p).ok_or_else(|| {
        StatsError::invalid("GEE", "Σ DᵀV⁻¹D", "is singular at the final estimates")
    })?;
    let kind = options.covariance;
    let mut meat_lz = vec![0.0; p * p];
    let mut meat_adj = vec![0.0; p * p];
    let (mut buf, mut sol, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    let mut u = vec![0.0; p];
    let exch_rho = match working {
        Working::Independence => Some(0.0),
        Working::Exchangeable(r) => Some(r),
        _ => None,
    };
    let fast_meat = match exch_rho {
        Some(r) if matches!(kind, GeeCovariance::Robust | GeeCovariance::Naive) => {
            state.exch_cluster_scores(r, |_, u| add_row_outer(&mut meat_lz, u));
            symmetrize(&mut meat_lz, p);
            true
        }
        _ => false,
    };
    for c in 0..n_groups {
        if fast_meat {
            break;
        }
        let m = state.cluster_rhs(c, &mut buf);
        let rows = data.range(c);
        sol.clone_from(&buf);
        working.solve(
            &data,
            rows.clone(),
            &state.sd[rows.clone()],
            &mut sol,
            p + 1,
            &mut scratch,
        )?;
        for j in 0..p {
            u[j] = crate::linalg::dot(&buf[j * m..(j + 1) * m], &sol[p * m..(p + 1) * m]);
        }
        add_outer(&mut meat_lz, &u);
        match kind {
            GeeCovariance::Robust | GeeCovariance::Naive => {}
            GeeCovariance::FayGraubard => {
                // diag of Ωᵢ B⁻¹, Ωᵢ = DᵀV⁻¹D.
                let mut g = vec![0.0; p];
                for j in 0..p {
                    let mut s = 0.0;
                    for k in 0..p {
                        let omega_jk =
                            crate::linalg::dot(&buf[j * m..(j + 1) * m], &sol[k * m..(k + 1) * m]);
                        s += omega_jk * binv[k * p + j];
                    }
                    g[j] = 1.0 / (1.0 - s.min(options.fg_bound)).sqrt();
                }
                let ua: Vec<f64> = u.iter().zip(&g).map(|(a, b)| a * b).collect();
                add_outer(&mut meat_adj, &ua);
            }
            GeeCovariance::ManclDerouen | GeeCovariance::KauermannCarroll => {
                // V (m × m), its symmetric inverse square root, X̃ = V^{-1/2} D, ẽ = V^{-1/2} r.
                let k0 = rows.start;
                let mut v = vec![0.0; m * m];
                for j in 0..m {
                    for k in 0..m {
                        v[j * m + k] = working.corr(&data, k0 + j, k0 + k)
                            * state.sd[k0 + j]
                            * state.sd[k0 + k];
                    }
                }
                let (vals, vecs) = sym_eigen(&v, m);
                if vals.iter().any(|&l| l.is_nan() || l <= 0.0) {
                    return Err(StatsError::invalid(
                        "GEE working covariance",
                        format!("cluster {c}"),
                        "is not positive definite",
                    ));
                }
                let vmh = sym_fn(&vals, &vecs, m, |l| 1.0 / l.sqrt());
                let mut xt = vec![0.0; m * (p + 1)]; // column-major [X̃ | ẽ]
                for col in 0..=p {
                    for i in 0..m {
                        xt[col * m + i] = (0..m).map(|k| vmh[i * m + k] * buf[col * m + k]).sum();
                    }
                }
                // I − H̃, H̃ = X̃ B⁻¹ X̃ᵀ.
                let mut ih = vec![0.0; m * m];
                for i in 0..m {
                    for k in 0..m {
                        let mut h = 0.0;
                        for a in 0..p {
                            let xa = xt[a * m + i];
                            if xa == 0.0 {
                                continue;
                            }
                            for b in 0..p {
                                h += xa * binv[a * p + b] * xt[b * m + k];
                            }
                        }
                        ih[i * m + k] = f64::from(u8::from(i == k)) - h;
                    }
                }
                let (hv, hq) = sym_eigen(&ih, m);
                if hv.iter().any(|&l| l.is_nan() || l <= 1e-12) {
                    return Err(StatsError::invalid(
                        "small-sample covariance",
                        format!("cluster {c}"),
                        "has leverage 1 (I − H not invertible); use the robust covariance",
                    ));
                }
                let adj = if kind == GeeCovariance::ManclDerouen {
                    sym_fn(&hv, &hq, m, |l| 1.0 / l)
                } else {
                    sym_fn(&hv, &hq, m, |l| 1.0 / l.sqrt())
                };
                let e = &xt[p * m..];
                let ae: Vec<f64> = (0..m)
                    .map(|i| (0..m).map(|k| adj[i * m + k] * e[k]).sum())
                    .collect();
                let ua: Vec<f64> = (0..p)
                    .map(|j| crate::linalg::dot(&xt[j * m..(j + 1) * m], &ae))
                    .collect();
                add_outer(&mut meat_adj, &ua);
            }
        }
    }
    let cov_robust = sandwich(&binv, &meat_lz, p);
    let cov_naive: Vec<f64> = binv.iter().map(|v| v * scale).collect();
    let chosen = match kind {
        GeeCovariance::Robust => cov_robust.clone(),
        GeeCovariance::Naive => cov_naive.clone(),
        _ => sandwich(&binv, &meat_adj, p),
    };
    let crit = normal_quantile(1.0 - (1.0 - options.confidence) / 2.0);
    let coefficients = beta
        .iter()
        .enumerate()
        .map(|(j, &b)| {
            let se = chosen[j * p + j].sqrt();
            let z = b / se;
            Coefficient {
                name: design.column_names[j].clone(),
                estimate: b,
                std_error: se,
                statistic: z,
                p_value: z_p_value(z, Alternative::TwoSided),
                ci: [b - crit * se, b + crit * se],
            }
        })
        .collect();
    let correlation = match working {
        Working::Independence => CorrelationEstimate::Independence,
        Working::Exchangeable(rho) => CorrelationEstimate::Exchangeable { rho },
        Working::Ar1(rho) => CorrelationEstimate::Ar1 { rho },
        Working::Unstructured(m, q) => CorrelationEstimate::Unstructured {
            times: data.times.clone(),
            matrix: to_rows(&m, q),
        },
    };
    let sizes = (0..n_groups).map(|c| data.range(c).len());
    Ok(GeeFit {
        family: options.family,
        link: options.family.link(),
        covariance: kind,
        response: design.response.clone(),
        coefficients,
        cov_params: to_rows(&chosen, p),
        cov_robust: to_rows(&cov_robust, p),
        cov_naive: to_rows(&cov_naive, p),
        correlation,
        scale,
        iterations,
        converged,
        score_norm,
        n_obs: n,
        n_groups,
        n_dropped: design.n_dropped,
        cluster_size_min: sizes.clone().min().unwrap_or(0),
        cluster_size_max: sizes.max().unwrap_or(0),
        confidence: options.confidence,
        coding: design.coding,
        terms: design
            .terms
            .iter()
            .map(|t| (t.name.clone(), t.columns.clone()))
            .collect(),
    })
}

impl GeeFit {
    /// Joint Wald test that the coefficients at `columns` are zero: W = bᵀV⁻¹b ~ χ²(q)
    /// with V from the chosen covariance; with `use_f` also F = W/q on (q, G − p) df.
    pub fn wald_test(&self, columns: &[usize], label: &str, use_f: bool) -> Result<WaldTest> {
        let q = columns.len();
        let p = self.coefficients.len();
        let chi2 = crate::glm::wald_chi2(&self.coefficients, &self.cov_params, columns, label)?;
        let (f, df_denom, p_f) = if use_f {
            if self.n_groups <= p {
                return Err(StatsError::invalid(
                    "F test",
                    label,
                    &format!(
                        "needs more clusters ({}) than coefficients ({p}) for G − p denominator df",
                        self.n_groups
                    ),
                ));
            }
            let df2 = (self.n_groups - p) as f64;
            let f = chi2 / q as f64;
            (Some(f), Some(df2), Some(f_sf(f, q as f64, df2)?))
        } else {
            (None, None, None)
        };
        Ok(WaldTest {
            term: label.to_string(),
            columns: columns
                .iter()
                .map(|&j| self.coefficients[j].name.clone())
                .collect(),
            df: q,
            chi2,
            p_chi2: chi2_sf(chi2, q as f64)?,
            f,
            df_denom,
            p_f,
        })
    }

    /// Wald test of each term (all its columns jointly).
    pub fn wald_terms(&self, use_f: bool) -> Result<Vec<WaldTest>> {
        self.terms
            .iter()
            .map(|(name, cols)| self.wald_test(cols, name, use_f))
            .collect()
    }

    /// The coefficient called `name`.
    pub fn coefficient(&self, name: &str) -> Option<&Coefficient> {
        self.coefficients.iter().find(|c| c.name == name)
    }
}

/// Codes the cluster labels of the rows `rows` of `column` (sorted label order:
/// numerically for numbers, as text otherwise); a missing id is an error.
pub fn cluster_codes(name: &str, column: &Column, rows: &[usize]) -> Result<(Vec<usize>, usize)> {
    let missing = |i: usize| {
        StatsError::invalid(
            "cluster id",
            format!("{name}, data row {}", i + 1),
            "is missing in a row the model uses (every row needs its cluster)",
        )
    };
    match column {
        Column::Numeric(v) => {
            if let Some(&i) = rows.iter().find(|&&i| v[i].is_nan()) {
                return Err(missing(i));
            }
            let mut u: Vec<f64> = rows.iter().map(|&i| v[i]).collect();
            u.sort_by(f64::total_cmp);
            u.dedup();
            let codes = rows
                .iter()
                .map(|&i| u.partition_point(|x| *x < v[i]))
                .collect();
            Ok((codes, u.len()))
        }
        Column::Text(v) => {
            if let Some(&i) = rows.iter().find(|&&i| v[i].is_none()) {
                return Err(missing(i));
            }
            let mut u: Vec<&str> = rows.iter().filter_map(|&i| v[i].as_deref()).collect();
            u.sort_unstable();
            u.dedup();
            let codes = rows
                .iter()
                .map(|&i| {
                    let s = v[i].as_deref().unwrap_or_default();
                    u.partition_point(|x| *x < s)
                })
                .collect();
            Ok((codes, u.len()))
        }
    }
}

/// Parses `formula`, builds its design on `frame` and fits a GEE with clusters
/// from column `groups` and optional within-cluster times from numeric column `time`.
pub fn gee_formula(
    formula: &str,
    frame: &Frame,
    groups: &str,
    time: Option<&str>,
    coding: Coding,
    options: &GeeOptions,
) -> Result<(Design, GeeFit)> {
    let f = Formula::parse(formula)?;
    let design = build_design(&f, frame, coding)?;
    let gcol = frame.get(groups).ok_or_else(|| {
        StatsError::invalid(
            "groups column",
            groups,
            &format!("not found (columns: {})", frame.names().join(", ")),
        )
    })?;
    let (codes, _) = cluster_codes(groups, gcol, &design.rows)?;
    let tvals = match time {
        None => None,
        Some(name) => match frame.get(name) {
            Some(Column::Numeric(v)) => {
                let t: Vec<f64> = design.rows.iter().map(|&i| v[i]).collect();
                if let Some(k) = t.iter().position(|x| x.is_nan()) {
                    return Err(StatsError::invalid(
                        "time",
                        format!("{name}, data row {}", design.rows[k] + 1),
                        "is missing in a row the model uses",
                    ));
                }
                Some(t)
            }
            Some(Column::Text(_)) => {
                return Err(StatsError::invalid(
                    "time column",
                    name,
                    "must be numeric (visit number or time)",
                ));
            }
            None => {
                return Err(StatsError::invalid(
                    "time column",
                    name,
                    &format!("not found (columns: {})", frame.names().join(", ")),
                ));
            }
        },
    };
    let fit = gee(&design, &codes, tvals.as_deref(), options)?;
    Ok((design, fit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let (vals, vecs) = sym_eigen(&a, 3);
        let back = sym_fn(&vals, &vecs, 3, |l| l);
        for (x, y) in a.iter().zip(&back) {
            assert!((x - y).abs() < 1e-12);
        }
        let inv_sqrt = sym_fn(&vals, &vecs, 3, |l| 1.0 / l.sqrt());
        // (A^{-1/2})² A = I
        let sq = sym_fn(&vals, &vecs, 3, |l| 1.0 / l);
        let _ = inv_sqrt;
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| sq[i * 3 + k] * a[k * 3 + j]).sum();
                assert!((s - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn brent_finds_parabola_minimum() {
        let x = brent(|a| (a - 0.3) * (a - 0.3) + 1.0, 0.0, 0.5, 0.75);
        assert!((x - 0.3).abs() < 1e-7);
    }
}
