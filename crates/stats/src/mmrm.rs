//! Mixed models for repeated measures (MMRM): a linear model for a continuous
//! outcome measured at a fixed set of visits, with a subject-level covariance
//! matrix over the visits (unstructured by default) estimated by REML or ML, and
//! Satterthwaite degrees of freedom for every test (Mallinckrodt et al. 2008,
//! *Drug Inf. J.* 42:303; the model of SAS PROC MIXED `REPEATED / TYPE=UN` and of the
//! R package `mmrm`, Sabanés Bové et al. 2023).
//!
//! # Model and likelihood
//! For subject i with observed visits v_i, y_i = X_i β + ε_i, ε_i ~ N(0, Σ[v_i, v_i]):
//! a subject with missing visits uses the sub-block of Σ for its observed visits.
//! With V = blockdiag(Σ_i), H = Xᵀ V⁻¹ X and β̂(θ) = H⁻¹ Xᵀ V⁻¹ y, the criteria are
//! (Harville 1977, *JASA* 72:320)
//!
//! * REML: −2ℓ_R = (n − p) ln 2π + Σ_i ln|Σ_i| + ln|H| + Σ_i r_iᵀ Σ_i⁻¹ r_i,
//! * ML:   −2ℓ   = n ln 2π + Σ_i ln|Σ_i| + Σ_i r_iᵀ Σ_i⁻¹ r_i,
//!
//! with r_i = y_i − X_i β̂ (the REML constant is SAS's and `mmrm`'s, without ½ ln|XᵀX|).
//! Subjects are grouped by their pattern of observed visits and each pattern keeps
//! the sufficient statistics Σ X_i ⊗ X_i, Σ y_i ⊗ X_i and Σ y_i y_iᵀ, so one evaluation
//! costs O(patterns × visits² × p²), independent of the number of subjects.
//!
//! # Estimation
//! The gradient of −2ℓ with respect to the covariance parameters θ is analytic:
//! ∂/∂θ_k = Σ_i [tr(Σ_i⁻¹ Σ_ik) − tr(Σ_i⁻¹ Σ_ik Σ_i⁻¹ (r_i r_iᵀ + X_i H⁻¹ X_iᵀ))]
//! (the last term only for REML). Newton–Raphson uses the Hessian obtained by central
//! differences of this gradient, with a step-halving line search and Levenberg damping
//! when the Hessian is not positive definite; convergence is declared when the Newton
//! decrement gᵀ H⁻¹ g falls below `tol` (a parametrization-invariant criterion).
//!
//! # Satterthwaite degrees of freedom
//! As in `mmrm` and SAS (Satterthwaite 1946; Kenward & Roger 1997 notation): for a
//! contrast l, v(θ) = lᵀ C(θ) l with C = H⁻¹, the df is 2 v² / (∇vᵀ A ∇v), where
//! ∇v_k = lᵀ C (Σ_i X_iᵀ Σ_i⁻¹ Σ_ik Σ_i⁻¹ X_i) C l is analytic and A, the asymptotic
//! covariance of θ̂, is the inverse of the observed Hessian of −ℓ at θ̂. For a q-row
//! contrast the F test uses the eigen-decomposition of L C Lᵀ as `mmrm::df_md` and
//! `lmerTest::contestMD`: ν_m per eigen-direction, E = Σ_{ν_m>2} ν_m/(ν_m − 2),
//! df = 2E/(E − q) (when E ≤ q the smallest ν_m is used instead, conservatively).
//!
//! # Covariance structures (parametrizations)
//! * `us`: Σ = L Lᵀ, θ = (ln L_11, …, ln L_TT, then L_ij for i > j row by row);
//! * `cs`/`csh`: correlation ρ for every pair, ρ = lo + (1 − lo)/(1 + e^{−η}) with
//!   lo = −1/(T − 1) so that Σ stays positive definite;
//! * `ar1`/`ar1h`: ρ^|a−b| over visit indices, ρ = η/√(1 + η²);
//! * `toep`/`toeph`: ρ_|a−b| from partial autocorrelations φ_k = η_k/√(1 + η_k²) by the
//!   Durbin–Levinson recursion (always positive definite; its derivative is taken by
//!   central differences of the recursion);
//! * homogeneous variants have one ln σ, heterogeneous ones (`h`) one ln σ_t per visit.
//!
//! # Least-squares means
//! As `emmeans`: a reference grid of every level of the factors named, numeric
//! covariates at their means over the rows used (a product term at the product of
//! the means), and every other factor averaged with equal weights over its levels.

#![allow(clippy::needless_range_loop)] // index loops mirror the matrix formulas

use std::collections::BTreeMap;

use serde::Serialize;

use crate::design::{Coding, Column, Design, Frame, build_design};
use crate::distributions::{Alternative, f_sf, t_p_value, t_quantile};
use crate::error::{Result, StatsError, check_unit_interval};
use crate::formula::Formula;
use crate::linalg::{Qr, RANK_TOL, cholesky, spd_inverse_logdet as spd_inverse};

/// Covariance structure of the within-subject errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CovStructure {
    /// Unstructured (SAS `UN`, mmrm `us`): T(T+1)/2 parameters.
    #[default]
    Unstructured,
    /// Compound symmetry: common variance and correlation.
    CompoundSymmetry,
    /// Heterogeneous compound symmetry: a variance per visit, common correlation.
    HeterogeneousCompoundSymmetry,
    /// First-order autoregressive over visit indices, common variance.
    Ar1,
    /// AR(1) correlation with a variance per visit.
    HeterogeneousAr1,
    /// Toeplitz (banded) correlation, common variance.
    Toeplitz,
    /// Toeplitz correlation with a variance per visit.
    HeterogeneousToeplitz,
}

impl std::str::FromStr for CovStructure {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "us" | "un" | "unstructured" => Ok(CovStructure::Unstructured),
            "cs" | "compound-symmetry" => Ok(CovStructure::CompoundSymmetry),
            "csh" => Ok(CovStructure::HeterogeneousCompoundSymmetry),
            "ar1" | "ar(1)" => Ok(CovStructure::Ar1),
            "ar1h" | "arh(1)" => Ok(CovStructure::HeterogeneousAr1),
            "toep" | "toeplitz" => Ok(CovStructure::Toeplitz),
            "toeph" => Ok(CovStructure::HeterogeneousToeplitz),
            _ => Err(StatsError::invalid(
                "covariance structure",
                s,
                "expected us, cs, csh, ar1, ar1h, toep or toeph",
            )),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CorrKind {
    Cs,
    Ar1,
    Toep,
}

impl CovStructure {
    /// (correlation kind, heterogeneous variances) for the non-`us` structures.
    fn parts(self) -> Option<(CorrKind, bool)> {
        match self {
            CovStructure::Unstructured => None,
            CovStructure::CompoundSymmetry => Some((CorrKind::Cs, false)),
            CovStructure::HeterogeneousCompoundSymmetry => Some((CorrKind::Cs, true)),
            CovStructure::Ar1 => Some((CorrKind::Ar1, false)),
            CovStructure::HeterogeneousAr1 => Some((CorrKind::Ar1, true)),
            CovStructure::Toeplitz => Some((CorrKind::Toep, false)),
            CovStructure::HeterogeneousToeplitz => Some((CorrKind::Toep, true)),
        }
    }

    /// Number of covariance parameters for `t` visits.
    pub fn n_theta(self, t: usize) -> usize {
        match self.parts() {
            None => t * (t + 1) / 2,
            Some((kind, het)) => {
                let sd = if het { t } else { 1 };
                let corr = match kind {
                    CorrKind::Cs | CorrKind::Ar1 => 1,
                    CorrKind::Toep => t - 1,
                };
                sd + corr
            }
        }
    }
}

/// Which likelihood is maximized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Restricted (residual) maximum likelihood.
    #[default]
    Reml,
    /// Maximum likelihood.
    Ml,
}

impl std::str::FromStr for Method {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "reml" => Ok(Method::Reml),
            "ml" => Ok(Method::Ml),
            _ => Err(StatsError::invalid("method", s, "expected reml or ml")),
        }
    }
}

/// Options of [`mmrm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MmrmOptions {
    pub structure: CovStructure,
    pub method: Method,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Maximum Newton iterations.
    pub max_iter: usize,
    /// Convergence when the Newton decrement gᵀH⁻¹g of −2ℓ is below this.
    pub tol: f64,
}

impl Default for MmrmOptions {
    fn default() -> Self {
        MmrmOptions {
            structure: CovStructure::Unstructured,
            method: Method::Reml,
            confidence: 0.95,
            max_iter: 200,
            tol: 1e-12,
        }
    }
}

/// One fixed-effect coefficient (or any single-row contrast) with its Satterthwaite test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Column name, least-squares-mean cell or contrast label.
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    /// Satterthwaite degrees of freedom (infinite when the variance does not depend on θ).
    pub df: f64,
    /// t = estimate / SE.
    pub statistic: f64,
    pub p_value: f64,
    pub ci: [f64; 2],
}

/// A joint F test of several contrasts with Satterthwaite denominator df.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FTest {
    pub label: String,
    /// Number of contrast rows.
    pub df_num: usize,
    pub df_denom: f64,
    pub f: f64,
    pub p_value: f64,
}

/// Least-squares mean of one reference-grid cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LsMean {
    /// (factor column, level) of the cell.
    pub levels: Vec<(String, String)>,
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// A fitted MMRM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MmrmFit {
    pub structure: CovStructure,
    pub method: Method,
    pub response: String,
    pub coefficients: Vec<Estimate>,
    /// Covariance of β̂, (Xᵀ V̂⁻¹ X)⁻¹, row-major p × p.
    pub cov_params: Vec<Vec<f64>>,
    /// Visit levels in order (the rows and columns of `covariance`).
    pub visits: Vec<String>,
    /// Estimated within-subject covariance matrix Σ̂ over all visits.
    pub covariance: Vec<Vec<f64>>,
    /// The corresponding correlation matrix.
    pub correlation: Vec<Vec<f64>>,
    /// Covariance parameters θ̂ in the parametrization of the module documentation.
    pub theta: Vec<f64>,
    /// Asymptotic covariance of θ̂: inverse observed Hessian of −ℓ.
    pub theta_cov: Vec<Vec<f64>>,
    /// REML or ML log-likelihood at the estimate.
    pub log_likelihood: f64,
    /// −2ℓ + 2k, k = covariance parameters (REML) or covariance + fixed parameters (ML), as SAS.
    pub aic: f64,
    /// −2ℓ + k ln(number of subjects), as SAS and `mmrm`.
    pub bic: f64,
    pub n_obs: usize,
    pub n_subjects: usize,
    /// Rows dropped for a missing value (formula columns, subject or visit).
    pub n_dropped: usize,
    /// Distinct patterns of observed visits.
    pub n_patterns: usize,
    pub iterations: usize,
    pub converged: bool,
    /// Largest absolute gradient component of −2ℓ at the estimate.
    pub gradient_max: f64,
    pub confidence: f64,
    /// Terms (patsy names) with their column indices.
    pub terms: Vec<(String, Vec<usize>)>,
    /// ∂C/∂θ_k, the derivatives of `cov_params` (row-major p × p each).
    #[serde(skip)]
    cov_params_grad: Vec<Vec<f64>>,
    #[serde(skip)]
    grid: Option<RefGrid>,
}

// ------------------------------------------------------------ small matrices

/// The sub-matrix of a t × t matrix at rows and columns `idx`.
fn sub_block(m: &[f64], idx: &[usize], t: usize) -> Vec<f64> {
    idx.iter()
        .flat_map(|&a| idx.iter().map(move |&b| m[a * t + b]))
        .collect()
}

fn matmul(a: &[f64], b: &[f64], n: usize, m: usize, q: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * q];
    for i in 0..n {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..q {
                out[i * q + j] += aik * b[k * q + j];
            }
        }
    }
    out
}

/// Eigen-decomposition of a symmetric k × k matrix by cyclic Jacobi rotations:
/// (eigenvalues, eigenvectors as columns, row-major).
fn sym_eigen(a: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j] * a[i * k + j])
            .sum();
        let diag: f64 = (0..k).map(|i| a[i * k + i] * a[i * k + i]).sum();
        if off <= 1e-30 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let arp = a[r * k + p];
                    let arq = a[r * k + q];
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let apr = a[p * k + r];
                    let aqr = a[q * k + r];
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let vrp = v[r * k + p];
                    let vrq = v[r * k + q];
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    ((0..k).map(|i| a[i * k + i]).collect(), v)
}

// ------------------------------------------------------- covariance structures

/// Correlation matrix R(η) (t × t row-major) of a structured covariance.
fn correlation(kind: CorrKind, eta: &[f64], t: usize) -> Vec<f64> {
    let mut r = vec![0.0; t * t];
    let lag_rho: Vec<f64> = match kind {
        CorrKind::Cs => {
            let lo = -1.0 / (t as f64 - 1.0);
            let rho = lo + (1.0 - lo) / (1.0 + (-eta[0]).exp());
            (0..t).map(|d| if d == 0 { 1.0 } else { rho }).collect()
        }
        CorrKind::Ar1 => {
            let rho = eta[0] / (1.0 + eta[0] * eta[0]).sqrt();
            (0..t).map(|d| rho.powi(d as i32)).collect()
        }
        CorrKind::Toep => {
            // Durbin–Levinson: partial autocorrelations → autocorrelations.
            let pacf: Vec<f64> = eta.iter().map(|e| e / (1.0 + e * e).sqrt()).collect();
            let mut rho = vec![1.0];
            let mut phi: Vec<f64> = Vec::new(); // φ_{k−1, 1..k−1}
            for (k, &pk) in pacf.iter().enumerate() {
                let k = k + 1;
                let mut s1 = 0.0;
                let mut s2 = 0.0;
                for j in 1..k {
                    s1 += phi[j - 1] * rho[k - j];
                    s2 += phi[j - 1] * rho[j];
                }
                rho.push(s1 + pk * (1.0 - s2));
                let mut next: Vec<f64> = (1..k).map(|j| phi[j - 1] - pk * phi[k - j - 1]).collect();
                next.push(pk);
                phi = next;
            }
            rho
        }
    };
    for a in 0..t {
        for b in 0..t {
            r[a * t + b] = lag_rho[a.abs_diff(b)];
        }
    }
    r
}

/// ∂R/∂η_k for each correlation parameter.
fn correlation_grad(kind: CorrKind, eta: &[f64], t: usize) -> Vec<Vec<f64>> {
    match kind {
        CorrKind::Cs => {
            let lo = -1.0 / (t as f64 - 1.0);
            let s = 1.0 / (1.0 + (-eta[0]).exp());
            let d = (1.0 - lo) * s * (1.0 - s);
            let mut g = vec![d; t * t];
            for a in 0..t {
                g[a * t + a] = 0.0;
            }
            vec![g]
        }
        CorrKind::Ar1 => {
            let e = eta[0];
            let rho = e / (1.0 + e * e).sqrt();
            let drho = (1.0 + e * e).powf(-1.5);
            let mut g = vec![0.0; t * t];
            for a in 0..t {
                for b in 0..t {
                    let d = a.abs_diff(b);
                    if d > 0 {
                        g[a * t + b] = d as f64 * rho.powi(d as i32 - 1) * drho;
                    }
                }
            }
            vec![g]
        }
        CorrKind::Toep => (0..eta.len())
            .map(|k| {
                let h = 1e-6 * (1.0 + eta[k].abs());
                let mut up = eta.to_vec();
                let mut dn = eta.to_vec();
                up[k] += h;
                dn[k] -= h;
                let ru = correlation(kind, &up, t);
                let rd = correlation(kind, &dn, t);
                ru.iter()
                    .zip(&rd)
                    .map(|(u, d)| (u - d) / (2.0 * h))
                    .collect()
            })
            .collect(),
    }
}

/// Σ(θ) (t × t row-major) and ∂Σ/∂θ_k.
fn sigma(structure: CovStructure, theta: &[f64], t: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    match structure.parts() {
        None => {
            let mut l = vec![0.0; t * t];
            for i in 0..t {
                l[i * t + i] = theta[i].exp();
            }
            let mut idx = t;
            let mut pos = Vec::new(); // (i, j) of each θ
            for i in 0..t {
                pos.push((i, i));
            }
            for i in 1..t {
                for j in 0..i {
                    l[i * t + j] = theta[idx];
                    pos.push((i, j));
                    idx += 1;
                }
            }
            let mut s = vec![0.0; t * t];
            for a in 0..t {
                for b in 0..t {
                    s[a * t + b] = (0..t).map(|m| l[a * t + m] * l[b * t + m]).sum();
                }
            }
            let grads = pos
                .iter()
                .map(|&(i, j)| {
                    // ∂Σ/∂L_ij = E_ij Lᵀ + L E_ji, times L_ii for a log diagonal.
                    let f = if i == j { l[i * t + i] } else { 1.0 };
                    let mut g = vec![0.0; t * t];
                    for b in 0..t {
                        g[i * t + b] += f * l[b * t + j];
                        g[b * t + i] += f * l[b * t + j];
                    }
                    g
                })
                .collect();
            (s, grads)
        }
        Some((kind, het)) => {
            let nsd = if het { t } else { 1 };
            let sd: Vec<f64> = (0..t)
                .map(|a| theta[if het { a } else { 0 }].exp())
                .collect();
            let eta = &theta[nsd..];
            let r = correlation(kind, eta, t);
            let mut s = vec![0.0; t * t];
            for a in 0..t {
                for b in 0..t {
                    s[a * t + b] = sd[a] * sd[b] * r[a * t + b];
                }
            }
            let mut grads = Vec::with_capacity(nsd + eta.len());
            if het {
                for c in 0..t {
                    let mut g = vec![0.0; t * t];
                    for a in 0..t {
                        for b in 0..t {
                            let m = f64::from(u8::from(a == c)) + f64::from(u8::from(b == c));
                            g[a * t + b] = m * s[a * t + b];
                        }
                    }
                    grads.push(g);
                }
            } else {
                grads.push(s.iter().map(|v| 2.0 * v).collect());
            }
            for dr in correlation_grad(kind, eta, t) {
                let mut g = vec![0.0; t * t];
                for a in 0..t {
                    for b in 0..t {
                        g[a * t + b] = sd[a] * sd[b] * dr[a * t + b];
                    }
                }
                grads.push(g);
            }
            (s, grads)
        }
    }
}

/// Starting θ from a covariance matrix estimate `s0` (t × t).
fn start_theta(structure: CovStructure, s0: &[f64], t: usize) -> Vec<f64> {
    let var: Vec<f64> = (0..t).map(|a| s0[a * t + a].max(1e-8)).collect();
    match structure.parts() {
        None => {
            let l = cholesky(s0, t).unwrap_or_else(|| {
                let mut d = vec![0.0; t * t];
                for a in 0..t {
                    d[a * t + a] = var[a].sqrt();
                }
                d
            });
            let mut th: Vec<f64> = (0..t).map(|i| l[i * t + i].ln()).collect();
            for i in 1..t {
                for j in 0..i {
                    th.push(l[i * t + j]);
                }
            }
            th
        }
        Some((kind, het)) => {
            let mut th: Vec<f64> = if het {
                var.iter().map(|v| 0.5 * v.ln()).collect()
            } else {
                vec![0.5 * (var.iter().sum::<f64>() / t as f64).ln()]
            };
            let corr = |a: usize, b: usize| s0[a * t + b] / (var[a] * var[b]).sqrt();
            let mean_corr = |lag: usize| {
                let v: Vec<f64> = (0..t - lag).map(|a| corr(a, a + lag)).collect();
                (v.iter().sum::<f64>() / v.len() as f64).clamp(-0.3, 0.9)
            };
            match kind {
                CorrKind::Cs => {
                    let mut all = Vec::new();
                    for a in 0..t {
                        for b in a + 1..t {
                            all.push(corr(a, b));
                        }
                    }
                    let lo = -1.0 / (t as f64 - 1.0);
                    let rho = (all.iter().sum::<f64>() / all.len() as f64)
                        .clamp(lo + 0.05 * (1.0 - lo), 0.9);
                    let s = (rho - lo) / (1.0 - lo);
                    th.push((s / (1.0 - s)).ln());
                }
                CorrKind::Ar1 => {
                    let rho = mean_corr(1);
                    th.push(rho / (1.0 - rho * rho).sqrt());
                }
                CorrKind::Toep => {
                    let rho = mean_corr(1);
                    th.push(rho / (1.0 - rho * rho).sqrt());
                    th.extend(std::iter::repeat_n(0.0, t - 2));
                }
            }
            th
        }
    }
}

// ------------------------------------------------------------- the problem

/// Sufficient statistics of the subjects sharing one pattern of observed visits.
struct Pattern {
    visits: Vec<usize>,
    n_subjects: usize,
    /// Σ X_i ⊗ X_i: element ((a, j), (b, l)) at (a p + j) k p + b p + l.
    gxx: Vec<f64>,
    /// Σ y_i[a] X_i[b, j] at a k p + b p + j.
    sxy: Vec<f64>,
    /// Σ y_i y_iᵀ, k × k.
    syy: Vec<f64>,
}

struct Problem {
    patterns: Vec<Pattern>,
    p: usize,
    t: usize,
    n_obs: usize,
    structure: CovStructure,
    method: Method,
}

struct Eval {
    /// −2ℓ.
    obj: f64,
    grad: Vec<f64>,
    beta: Vec<f64>,
    /// C = (Xᵀ V⁻¹ X)⁻¹, p × p.
    c: Vec<f64>,
}

impl Problem {
    fn eval(&self, theta: &[f64], want_grad: bool) -> Option<Eval> {
        let (p, t) = (self.p, self.t);
        let (s, ds) = sigma(self.structure, theta, t);
        if !s.iter().all(|v| v.is_finite()) {
            return None;
        }
        let mut h = vec![0.0; p * p];
        let mut u = vec![0.0; p];
        let mut logdet_sum = 0.0;
        let mut sinvs = Vec::with_capacity(self.patterns.len());
        for pat in &self.patterns {
            let k = pat.visits.len();
            let kp = k * p;
            let sub = sub_block(&s, &pat.visits, t);
            let (si, ld) = spd_inverse(&sub, k)?;
            logdet_sum += pat.n_subjects as f64 * ld;
            for a in 0..k {
                for b in 0..k {
                    let w = si[a * k + b];
                    for j in 0..p {
                        let row = &pat.gxx[(a * p + j) * kp + b * p..(a * p + j) * kp + b * p + p];
                        let hr = &mut h[j * p..j * p + p];
                        for l in 0..p {
                            hr[l] += w * row[l];
                        }
                        u[j] += w * pat.sxy[b * kp + a * p + j];
                    }
                }
            }
            sinvs.push(si);
        }
        let (c, logdet_h) = spd_inverse(&h, p)?;
        let beta: Vec<f64> = (0..p)
            .map(|j| (0..p).map(|l| c[j * p + l] * u[l]).sum())
            .collect();
        let mut quad = 0.0;
        let nth = theta.len();
        let mut grad = vec![0.0; if want_grad { nth } else { 0 }];
        for (pat, si) in self.patterns.iter().zip(&sinvs) {
            let k = pat.visits.len();
            let kp = k * p;
            // Residual cross-products R and (REML) W = Σ X_i C X_iᵀ.
            let mut m = vec![0.0; k * k];
            for a in 0..k {
                for b in 0..k {
                    let mut r = pat.syy[a * k + b];
                    for j in 0..p {
                        r -= beta[j] * (pat.sxy[a * kp + b * p + j] + pat.sxy[b * kp + a * p + j]);
                    }
                    let mut bgb = 0.0;
                    let mut cg = 0.0;
                    for j in 0..p {
                        let row = &pat.gxx[(a * p + j) * kp + b * p..(a * p + j) * kp + b * p + p];
                        let mut acc = 0.0;
                        for l in 0..p {
                            acc += row[l] * beta[l];
                        }
                        bgb += beta[j] * acc;
                        if want_grad && self.method == Method::Reml {
                            let crow = &c[j * p..j * p + p];
                            cg += (0..p).map(|l| crow[l] * row[l]).sum::<f64>();
                        }
                    }
                    r += bgb;
                    quad += si[a * k + b] * r;
                    m[a * k + b] = r + cg;
                }
            }
            if want_grad {
                for (kk, d) in ds.iter().enumerate() {
                    let sub = sub_block(d, &pat.visits, t);
                    let sd = matmul(si, &sub, k, k, k);
                    let tr1: f64 = (0..k).map(|a| sd[a * k + a]).sum();
                    let b = matmul(&sd, si, k, k, k);
                    let tr2: f64 = (0..k * k).map(|i| b[i] * m[i]).sum();
                    grad[kk] += pat.n_subjects as f64 * tr1 - tr2;
                }
            }
        }
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        let obj = match self.method {
            Method::Reml => (self.n_obs - p) as f64 * ln2pi + logdet_sum + logdet_h + quad,
            Method::Ml => self.n_obs as f64 * ln2pi + logdet_sum + quad,
        };
        obj.is_finite().then_some(Eval { obj, grad, beta, c })
    }

    /// Hessian of −2ℓ by central differences of the analytic gradient.
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let n = theta.len();
        let mut hs = vec![0.0; n * n];
        for k in 0..n {
            let h = 1e-5 * (1.0 + theta[k].abs());
            let mut up = theta.to_vec();
            let mut dn = theta.to_vec();
            up[k] += h;
            dn[k] -= h;
            let gu = self.eval(&up, true)?.grad;
            let gd = self.eval(&dn, true)?.grad;
            for l in 0..n {
                hs[k * n + l] = (gu[l] - gd[l]) / (2.0 * h);
            }
        }
        for k in 0..n {
            for l in 0..k {
                let v = 0.5 * (hs[k * n + l] + hs[l * n + k]);
                hs[k * n + l] = v;
                hs[l * n + k] = v;
            }
        }
        Some(hs)
    }

    /// ∂C/∂θ_k = C (Σ_i X_iᵀ Σ_i⁻¹ Σ_k Σ_i⁻¹ X_i) C.
    fn cov_params_grad(&self, theta: &[f64], c: &[f64]) -> Option<Vec<Vec<f64>>> {
        let (p, t) = (self.p, self.t);
        let (s, ds) = sigma(self.structure, theta, t);
        let mut out = Vec::with_capacity(ds.len());
        let mut sinvs = Vec::new();
        for pat in &self.patterns {
            let k = pat.visits.len();
            let sub = sub_block(&s, &pat.visits, t);
            sinvs.push(spd_inverse(&sub, k)?.0);
        }
        for d in &ds {
            let mut g = vec![0.0; p * p];
            for (pat, si) in self.patterns.iter().zip(&sinvs) {
                let k = pat.visits.len();
                let kp = k * p;
                let sub = sub_block(d, &pat.visits, t);
                let b = matmul(&matmul(si, &sub, k, k, k), si, k, k, k);
                for a in 0..k {
                    for bb in 0..k {
                        let w = b[a * k + bb];
                        for j in 0..p {
                            let row =
                                &pat.gxx[(a * p + j) * kp + bb * p..(a * p + j) * kp + bb * p + p];
                            for l in 0..p {
                                g[j * p + l] += w * row[l];
                            }
                        }
                    }
                }
            }
            out.push(matmul(&matmul(c, &g, p, p, p), c, p, p, p));
        }
        Some(out)
    }
}

/// Formats a numeric level like patsy (`2`, not `2.0`).
fn level_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Sorted distinct levels of a column over `rows` and the level index of each row.
fn levels_of(col: &Column, rows: &[usize]) -> (Vec<String>, Vec<usize>) {
    match col {
        Column::Numeric(v) => {
            let mut u: Vec<f64> = rows.iter().map(|&i| v[i]).collect();
            u.sort_by(f64::total_cmp);
            u.dedup();
            let idx = rows
                .iter()
                .map(|&i| u.partition_point(|x| x.total_cmp(&v[i]).is_lt()))
                .collect();
            (u.into_iter().map(level_text).collect(), idx)
        }
        Column::Text(v) => {
            let mut u: Vec<String> = rows.iter().filter_map(|&i| v[i].clone()).collect();
            u.sort();
            u.dedup();
            let idx = rows
                .iter()
                .map(|&i| {
                    let s = v[i].as_deref().unwrap_or("");
                    u.partition_point(|x| x.as_str() < s)
                })
                .collect();
            (u, idx)
        }
    }
}

/// Fits an MMRM to a design whose row r belongs to subject `subjects[r]` and visit
/// `visits[r]` (an index into `visit_levels`).
pub fn mmrm(
    design: &Design,
    subjects: &[String],
    visits: &[usize],
    visit_levels: &[String],
    options: &MmrmOptions,
) -> Result<MmrmFit> {
    check_unit_interval("confidence", options.confidence)?;
    let (n, p, t) = (design.n, design.p(), visit_levels.len());
    if subjects.len() != n || visits.len() != n {
        return Err(StatsError::invalid(
            "subjects/visits",
            format!("{} and {} values", subjects.len(), visits.len()),
            &format!("one per design row ({n})"),
        ));
    }
    if t < 2 {
        return Err(StatsError::invalid(
            "visit",
            visit_levels.join(", "),
            "an MMRM needs at least two visits; with one visit fit a linear model (ANCOVA)",
        ));
    }
    if let Some(&v) = visits.iter().find(|&&v| v >= t) {
        return Err(StatsError::invalid("visit index", v, "out of range"));
    }
    if p == 0 {
        return Err(StatsError::invalid(
            "design",
            "no columns",
            "needs at least one fixed effect",
        ));
    }
    let qr = Qr::new(&design.x, n, p, RANK_TOL);
    if !qr.aliased.is_empty() {
        let names: Vec<&str> = qr
            .aliased
            .iter()
            .map(|&j| design.column_names[j].as_str())
            .collect();
        return Err(StatsError::invalid(
            "design",
            names.join(", "),
            "rank-deficient design: aliased with earlier columns",
        ));
    }
    let nth = options.structure.n_theta(t);
    // Group rows by subject (sorted ids: deterministic).
    let mut by_subject: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (r, s) in subjects.iter().enumerate() {
        by_subject.entry(s.as_str()).or_default().push(r);
    }
    let n_subjects = by_subject.len();
    if n <= p {
        return Err(StatsError::TooFewObservations {
            what: "MMRM (needs more observations than fixed effects)".into(),
            needed: p + 1,
            got: n,
        });
    }
    let mut patterns: BTreeMap<Vec<usize>, Pattern> = BTreeMap::new();
    for (sid, rows) in &by_subject {
        let mut rows = rows.clone();
        rows.sort_by_key(|&r| visits[r]);
        for w in rows.windows(2) {
            if visits[w[0]] == visits[w[1]] {
                return Err(StatsError::invalid(
                    "subject",
                    sid,
                    &format!(
                        "has more than one row at visit {}; each subject may have one observation per visit",
                        visit_levels[visits[w[0]]]
                    ),
                ));
            }
        }
        let key: Vec<usize> = rows.iter().map(|&r| visits[r]).collect();
        let k = key.len();
        let kp = k * p;
        let pat = patterns.entry(key.clone()).or_insert_with(|| Pattern {
            visits: key,
            n_subjects: 0,
            gxx: vec![0.0; kp * kp],
            sxy: vec![0.0; k * kp],
            syy: vec![0.0; k * k],
        });
        pat.n_subjects += 1;
        let xi: Vec<f64> = rows
            .iter()
            .flat_map(|&r| (0..p).map(move |j| design.x[r + j * n]))
            .collect();
        let yi: Vec<f64> = rows.iter().map(|&r| design.y[r]).collect();
        for a in 0..kp {
            let xa = xi[a];
            if xa == 0.0 {
                continue;
            }
            let g = &mut pat.gxx[a * kp..(a + 1) * kp];
            for b in 0..kp {
                g[b] += xa * xi[b];
            }
        }
        for a in 0..k {
            for b in 0..kp {
                pat.sxy[a * kp + b] += yi[a] * xi[b];
            }
            for b in 0..k {
                pat.syy[a * k + b] += yi[a] * yi[b];
            }
        }
    }
    let problem = Problem {
        patterns: patterns.into_values().collect(),
        p,
        t,
        n_obs: n,
        structure: options.structure,
        method: options.method,
    };

    // Start: OLS residuals' pairwise covariance.
    let b_ols = qr.solve(&design.y);
    let resid: Vec<f64> = (0..n)
        .map(|r| design.y[r] - (0..p).map(|j| design.x[r + j * n] * b_ols[j]).sum::<f64>())
        .collect();
    let mut s0 = vec![0.0; t * t];
    let mut cnt = vec![0usize; t * t];
    for rows in by_subject.values() {
        for &r1 in rows {
            for &r2 in rows {
                s0[visits[r1] * t + visits[r2]] += resid[r1] * resid[r2];
                cnt[visits[r1] * t + visits[r2]] += 1;
            }
        }
    }
    for (s, &c) in s0.iter_mut().zip(&cnt) {
        *s = if c > 0 { *s / c as f64 } else { 0.0 };
    }
    let tot_var = resid.iter().map(|r| r * r).sum::<f64>() / n as f64;
    if tot_var.is_nan() || tot_var <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "MMRM residuals of the fixed-effects fit".into(),
        });
    }
    for a in 0..t {
        if s0[a * t + a] <= 1e-8 * tot_var {
            s0[a * t + a] = tot_var;
        }
    }
    if cholesky(&s0, t).is_none() {
        for a in 0..t {
            for b in 0..t {
                if a != b {
                    s0[a * t + b] = 0.0;
                }
            }
        }
    }
    let mut theta = start_theta(options.structure, &s0, t);
    debug_assert_eq!(theta.len(), nth);
    let mut ev = problem.eval(&theta, true).ok_or_else(|| {
        StatsError::invalid(
            "MMRM",
            "starting values",
            "covariance not positive definite at the start",
        )
    })?;

    let mut converged = false;
    let mut iterations = 0;
    let mut lambda = 0.0f64;
    while iterations < options.max_iter {
        iterations += 1;
        let hess = problem.hessian(&theta);
        // Newton direction with Levenberg damping until positive definite.
        let dir = {
            let base = hess.unwrap_or_else(|| {
                let mut id = vec![0.0; nth * nth];
                for k in 0..nth {
                    id[k * nth + k] = 1.0;
                }
                id
            });
            let scale = (0..nth)
                .map(|k| base[k * nth + k].abs())
                .fold(0.0f64, f64::max)
                .max(1e-8);
            let mut lam = lambda;
            let mut out = None;
            for _ in 0..60 {
                let mut m = base.clone();
                for k in 0..nth {
                    m[k * nth + k] += lam * scale;
                }
                if let Some((inv, _)) = spd_inverse(&m, nth) {
                    let d: Vec<f64> = (0..nth)
                        .map(|k| -(0..nth).map(|l| inv[k * nth + l] * ev.grad[l]).sum::<f64>())
                        .collect();
                    out = Some(d);
                    break;
                }
                lam = if lam == 0.0 { 1e-8 } else { lam * 10.0 };
            }
            lambda = lam * 0.1;
            if lambda < 1e-8 {
                lambda = 0.0;
            }
            out
        };
        let Some(dir) = dir else { break };
        let slope: f64 = dir.iter().zip(&ev.grad).map(|(d, g)| d * g).sum();
        let decrement = -slope;
        if decrement.is_finite() && decrement < options.tol {
            converged = true;
            break;
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            let cand: Vec<f64> = theta.iter().zip(&dir).map(|(a, d)| a + step * d).collect();
            if let Some(e) = problem.eval(&cand, true)
                && e.obj <= ev.obj + 1e-4 * step * slope
            {
                theta = cand;
                ev = e;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            // No decrease possible at floating-point resolution: accept as converged
            // when the remaining predicted gain is negligible.
            converged = decrement < 1e-6;
            break;
        }
    }
    let gradient_max = ev.grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let hess = problem.hessian(&theta).ok_or_else(|| {
        StatsError::invalid(
            "MMRM",
            "covariance estimate",
            "covariance matrix is not positive definite near the estimate",
        )
    })?;
    let (hinv, _) = spd_inverse(&hess, nth).ok_or_else(|| {
        StatsError::invalid(
            "MMRM",
            format!("{:?} covariance", options.structure),
            "the Hessian of the likelihood is not positive definite at the estimate (a covariance parameter is on the boundary or not identified); try a simpler covariance structure",
        )
    })?;
    // Cov(θ̂) = (Hessian of −ℓ)⁻¹ = 2 (Hessian of −2ℓ)⁻¹.
    let theta_cov: Vec<f64> = hinv.iter().map(|v| 2.0 * v).collect();
    let cov_params_grad = problem.cov_params_grad(&theta, &ev.c).ok_or_else(|| {
        StatsError::invalid("MMRM", "covariance estimate", "not positive definite")
    })?;
    let (s, _) = sigma(options.structure, &theta, t);
    let covariance: Vec<Vec<f64>> = (0..t).map(|a| s[a * t..(a + 1) * t].to_vec()).collect();
    let correlation = (0..t)
        .map(|a| {
            (0..t)
                .map(|b| s[a * t + b] / (s[a * t + a] * s[b * t + b]).sqrt())
                .collect()
        })
        .collect();
    let log_likelihood = -0.5 * ev.obj;
    let k_par = match options.method {
        Method::Reml => nth,
        Method::Ml => nth + p,
    } as f64;
    let mut fit = MmrmFit {
        structure: options.structure,
        method: options.method,
        response: design.response.clone(),
        coefficients: Vec::new(),
        cov_params: (0..p).map(|i| ev.c[i * p..(i + 1) * p].to_vec()).collect(),
        visits: visit_levels.to_vec(),
        covariance,
        correlation,
        theta: theta.clone(),
        theta_cov: (0..nth)
            .map(|i| theta_cov[i * nth..(i + 1) * nth].to_vec())
            .collect(),
        log_likelihood,
        aic: -2.0 * log_likelihood + 2.0 * k_par,
        bic: -2.0 * log_likelihood + k_par * (n_subjects as f64).ln(),
        n_obs: n,
        n_subjects,
        n_dropped: design.n_dropped,
        n_patterns: problem.patterns.len(),
        iterations,
        converged,
        gradient_max,
        confidence: options.confidence,
        terms: design
            .terms
            .iter()
            .map(|t| (t.name.clone(), t.columns.clone()))
            .collect(),
        cov_params_grad,
        grid: None,
    };
    fit.coefficients = (0..p)
        .map(|j| {
            let mut l = vec![0.0; p];
            l[j] = 1.0;
            fit.contrast_with_beta(&l, &ev.beta, &design.column_names[j])
        })
        .collect::<Result<_>>()?;
    Ok(fit)
}

impl MmrmFit {
    fn beta(&self) -> Vec<f64> {
        self.coefficients.iter().map(|c| c.estimate).collect()
    }

    fn satterthwaite(&self, l: &[f64]) -> (f64, f64) {
        let p = l.len();
        let quad = |m: &[f64]| -> f64 {
            (0..p)
                .map(|i| l[i] * (0..p).map(|j| m[i * p + j] * l[j]).sum::<f64>())
                .sum()
        };
        let c: Vec<f64> = self.cov_params.iter().flatten().copied().collect();
        let v = quad(&c);
        let g: Vec<f64> = self.cov_params_grad.iter().map(|d| quad(d)).collect();
        let nth = g.len();
        let denom: f64 = (0..nth)
            .map(|k| g[k] * (0..nth).map(|m| self.theta_cov[k][m] * g[m]).sum::<f64>())
            .sum();
        let df = 2.0 * v * v / denom;
        let df = if df.is_finite() && df > 0.0 {
            df
        } else {
            f64::INFINITY
        };
        (v, df)
    }

    fn contrast_with_beta(&self, l: &[f64], beta: &[f64], name: &str) -> Result<Estimate> {
        let est: f64 = l.iter().zip(beta).map(|(a, b)| a * b).sum();
        let (v, df) = self.satterthwaite(l);
        let se = v.max(0.0).sqrt();
        let statistic = est / se;
        let crit = t_quantile(0.5 + self.confidence / 2.0, df)?;
        let p_value = if statistic.is_nan() {
            1.0
        } else {
            t_p_value(statistic, df, Alternative::TwoSided)?
        };
        Ok(Estimate {
            name: name.to_string(),
            estimate: est,
            std_error: se,
            df,
            statistic,
            p_value,
            ci: [est - crit * se, est + crit * se],
        })
    }

    /// The estimate lᵀβ̂ with its Satterthwaite t test and confidence interval.
    pub fn contrast(&self, l: &[f64], name: &str) -> Result<Estimate> {
        let p = self.coefficients.len();
        if l.len() != p {
            return Err(StatsError::invalid(
                "contrast",
                format!("{} weights", l.len()),
                &format!("one weight per coefficient ({p})"),
            ));
        }
        self.contrast_with_beta(l, &self.beta(), name)
    }

    /// Joint F test of L β = 0 (rows of `l`) with Satterthwaite denominator df.
    pub fn f_test(&self, l: &[Vec<f64>], label: &str) -> Result<FTest> {
        let p = self.coefficients.len();
        let q = l.len();
        if q == 0 || l.iter().any(|r| r.len() != p) {
            return Err(StatsError::invalid(
                "F test",
                label,
                &format!("needs at least one contrast row of {p} weights"),
            ));
        }
        let beta = self.beta();
        let c: Vec<f64> = self.cov_params.iter().flatten().copied().collect();
        let lc: Vec<f64> = l.iter().flatten().copied().collect();
        let lcl = matmul(&matmul(&lc, &c, q, p, p), &transpose(&lc, q, p), q, p, q);
        let (vals, vecs) = sym_eigen(&lcl, q);
        let max_val = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if vals.iter().any(|&v| v <= 1e-10 * max_val) {
            return Err(StatsError::invalid(
                "F test",
                label,
                "the contrast rows are linearly dependent (L C Lᵀ is singular)",
            ));
        }
        let lb: Vec<f64> = l
            .iter()
            .map(|r| r.iter().zip(&beta).map(|(a, b)| a * b).sum())
            .collect();
        let mut f = 0.0;
        let mut nus = Vec::with_capacity(q);
        for m in 0..q {
            let pm: Vec<f64> = (0..q).map(|i| vecs[i * q + m]).collect();
            let row: Vec<f64> = (0..p)
                .map(|j| (0..q).map(|i| pm[i] * l[i][j]).sum())
                .collect();
            let tm: f64 = pm.iter().zip(&lb).map(|(a, b)| a * b).sum();
            f += tm * tm / vals[m];
            nus.push(self.satterthwaite(&row).1);
        }
        f /= q as f64;
        let df_denom = if q == 1 {
            nus[0]
        } else {
            let e: f64 = nus
                .iter()
                .filter(|&&v| v > 2.0)
                .map(|&v| if v.is_infinite() { 1.0 } else { v / (v - 2.0) })
                .sum();
            if e > q as f64 {
                2.0 * e / (e - q as f64)
            } else {
                nus.iter().copied().fold(f64::INFINITY, f64::min)
            }
        };
        Ok(FTest {
            label: label.to_string(),
            df_num: q,
            df_denom,
            f,
            p_value: if df_denom.is_infinite() {
                crate::distributions::chi2_sf(f * q as f64, q as f64)?
            } else {
                f_sf(f, q as f64, df_denom)?
            },
        })
    }

    /// F test that all coefficients of the term called `term` (patsy name) are zero.
    pub fn test_term(&self, term: &str) -> Result<FTest> {
        let (_, cols) = self.terms.iter().find(|(n, _)| n == term).ok_or_else(|| {
            StatsError::invalid(
                "term",
                term,
                &format!(
                    "is not a term of the model; terms: {}",
                    self.terms
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let p = self.coefficients.len();
        let rows: Vec<Vec<f64>> = cols
            .iter()
            .map(|&j| {
                let mut r = vec![0.0; p];
                r[j] = 1.0;
                r
            })
            .collect();
        self.f_test(&rows, term)
    }

    /// F tests of every term except the intercept (type III, as `mmrm` / SAS).
    pub fn test_terms(&self) -> Result<Vec<FTest>> {
        self.terms
            .iter()
            .filter(|(n, _)| n != "Intercept")
            .map(|(n, _)| self.test_term(n))
            .collect()
    }

    /// The reference grid, when the fit came from [`fit_formula`].
    pub fn reference_grid(&self) -> Option<&RefGrid> {
        self.grid.as_ref()
    }

    /// Least-squares means for every combination of levels of the factors `by`
    /// (data column names or formula labels), other factors averaged with equal
    /// weights and covariates at their means.
    pub fn lsmeans(&self, by: &[&str]) -> Result<Vec<LsMean>> {
        let grid = self.grid()?;
        let idx: Vec<usize> = by.iter().map(|b| grid.factor(b)).collect::<Result<_>>()?;
        let mut cells: Vec<Vec<usize>> = vec![vec![]];
        for &f in &idx {
            let nl = grid.factors[f].levels.len();
            cells = cells
                .into_iter()
                .flat_map(|c| {
                    (0..nl).map(move |lv| {
                        let mut c = c.clone();
                        c.push(lv);
                        c
                    })
                })
                .collect();
        }
        cells
            .into_iter()
            .map(|cell| {
                let fixed: Vec<(usize, usize)> = idx.iter().copied().zip(cell).collect();
                let l = grid.row(&fixed);
                let levels: Vec<(String, String)> = fixed
                    .iter()
                    .map(|&(f, lv)| {
                        let fi = &grid.factors[f];
                        (fi.column.clone(), fi.levels[lv].clone())
                    })
                    .collect();
                let name = levels
                    .iter()
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(LsMean {
                    levels,
                    estimate: self.contrast(&l, &name)?,
                })
            })
            .collect()
    }

    /// Differences of least-squares means between each level of `arm` and its
    /// reference level, at each level of `at` (e.g. each visit).
    pub fn lsmean_differences(&self, arm: &str, at: &str) -> Result<Vec<LsMean>> {
        let grid = self.grid()?;
        let fa = grid.factor(arm)?;
        let fv = grid.factor(at)?;
        if fa == fv {
            return Err(StatsError::invalid(
                "least-squares mean differences",
                arm,
                "the compared factor and the 'at' factor must differ",
            ));
        }
        let a = &grid.factors[fa];
        let v = &grid.factors[fv];
        let mut out = Vec::new();
        for lv in 0..v.levels.len() {
            let base = grid.row(&[(fa, a.reference), (fv, lv)]);
            for la in (0..a.levels.len()).filter(|&la| la != a.reference) {
                let row = grid.row(&[(fa, la), (fv, lv)]);
                let l: Vec<f64> = row.iter().zip(&base).map(|(x, y)| x - y).collect();
                let name = format!(
                    "{}={} - {}={} at {}={}",
                    a.column, a.levels[la], a.column, a.levels[a.reference], v.column, v.levels[lv]
                );
                out.push(LsMean {
                    levels: vec![
                        (a.column.clone(), a.levels[la].clone()),
                        (v.column.clone(), v.levels[lv].clone()),
                    ],
                    estimate: self.contrast(&l, &name)?,
                });
            }
        }
        Ok(out)
    }

    fn grid(&self) -> Result<&RefGrid> {
        self.grid.as_ref().ok_or_else(|| {
            StatsError::invalid(
                "least-squares means",
                "no reference grid",
                "fit with mmrm::fit_formula, or attach one with with_reference_grid",
            )
        })
    }

    /// Attaches a reference grid (for fits made with [`mmrm`] on a design).
    pub fn with_reference_grid(mut self, grid: RefGrid) -> Result<MmrmFit> {
        if grid.column_parts.len() != self.coefficients.len() {
            return Err(StatsError::invalid(
                "reference grid",
                format!("{} columns", grid.column_parts.len()),
                &format!("must match the {} coefficients", self.coefficients.len()),
            ));
        }
        self.grid = Some(grid);
        Ok(self)
    }
}

fn transpose(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            out[j * n + i] = a[i * m + j];
        }
    }
    out
}

/// One factor of a reference grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridFactor {
    pub label: String,
    pub column: String,
    pub levels: Vec<String>,
    /// Index of the reference level.
    pub reference: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// A numeric variable at its mean.
    Numeric(f64),
    /// Indicator of level `1` of factor `0`.
    Level(usize, usize),
}

/// The emmeans-style reference grid of a design: how each design column is
/// evaluated at a grid cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefGrid {
    pub factors: Vec<GridFactor>,
    /// Numeric variables (formula label) with their means over the rows used.
    pub covariate_means: Vec<(String, f64)>,
    #[serde(skip)]
    column_parts: Vec<Vec<Part>>,
}

impl RefGrid {
    /// Builds the reference grid of `design` (made from `formula` on `frame`).
    pub fn new(formula: &Formula, design: &Design, frame: &Frame) -> Result<RefGrid> {
        let factors: Vec<GridFactor> = design
            .factors
            .iter()
            .map(|f| GridFactor {
                label: f.label.clone(),
                column: f.column.clone(),
                levels: f.levels.clone(),
                reference: f.levels.iter().position(|l| *l == f.reference).unwrap_or(0),
            })
            .collect();
        let mut covariate_means = Vec::new();
        for t in &formula.terms {
            for v in &t.variables {
                if factors.iter().any(|f| f.label == v.label)
                    || covariate_means.iter().any(|(l, _)| *l == v.label)
                {
                    continue;
                }
                let Some(Column::Numeric(x)) = frame.get(&v.column) else {
                    return Err(StatsError::invalid(
                        "reference grid",
                        &v.column,
                        "covariate column not found or not numeric",
                    ));
                };
                let mean = design.rows.iter().map(|&i| x[i]).sum::<f64>() / design.n as f64;
                covariate_means.push((v.label.clone(), mean));
            }
        }
        let mut column_parts = Vec::with_capacity(design.p());
        for name in &design.column_names {
            column_parts.push(parse_column(name, &factors, &covariate_means)?);
        }
        Ok(RefGrid {
            factors,
            covariate_means,
            column_parts,
        })
    }

    fn factor(&self, name: &str) -> Result<usize> {
        self.factors
            .iter()
            .position(|f| f.column == name || f.label == name)
            .ok_or_else(|| {
                StatsError::invalid(
                    "factor",
                    name,
                    &format!(
                        "is not a factor of the model; factors: {}",
                        self.factors
                            .iter()
                            .map(|f| f.column.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Design row averaged over the grid with factor levels `fixed` held.
    fn row(&self, fixed: &[(usize, usize)]) -> Vec<f64> {
        self.column_parts
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|part| match *part {
                        Part::Numeric(m) => m,
                        Part::Level(f, lv) => match fixed.iter().find(|(g, _)| *g == f) {
                            Some(&(_, held)) => f64::from(u8::from(held == lv)),
                            None => 1.0 / self.factors[f].levels.len() as f64,
                        },
                    })
                    .product()
            })
            .collect()
    }
}

/// Splits a patsy column name (`C(arm)[T.b]:age`) into its parts.
fn parse_column(
    name: &str,
    factors: &[GridFactor],
    numeric: &[(String, f64)],
) -> Result<Vec<Part>> {
    if name == "Intercept" {
        return Ok(vec![]);
    }
    let mut parts = Vec::new();
    let mut rest = name;
    'outer: while !rest.is_empty() {
        let mut best: Option<(usize, Part)> = None;
        let ends_ok = |len: usize| rest.len() == len || rest[len..].starts_with(':');
        for (fi, f) in factors.iter().enumerate() {
            for (li, lv) in f.levels.iter().enumerate() {
                for cand in [
                    format!("{}[T.{}]", f.label, lv),
                    format!("{}[{}]", f.label, lv),
                ] {
                    if rest.starts_with(&cand)
                        && ends_ok(cand.len())
                        && best.as_ref().is_none_or(|(l, _)| cand.len() > *l)
                    {
                        best = Some((cand.len(), Part::Level(fi, li)));
                    }
                }
            }
        }
        for (label, mean) in numeric {
            if rest.starts_with(label.as_str())
                && ends_ok(label.len())
                && best.as_ref().is_none_or(|(l, _)| label.len() > *l)
            {
                best = Some((label.len(), Part::Numeric(*mean)));
            }
        }
        if let Some((len, part)) = best {
            parts.push(part);
            rest = &rest[len..];
            if let Some(r) = rest.strip_prefix(':') {
                rest = r;
            }
            continue 'outer;
        }
        return Err(StatsError::invalid(
            "design column",
            name,
            "could not be matched to the model's factors and covariates",
        ));
    }
    Ok(parts)
}

/// Parses `formula`, builds its design on `frame` (rows with a missing value in a
/// formula column, the subject or the visit are dropped) and fits an MMRM with the
/// subjects in column `subject` and the visits (levels sorted as a factor) in
/// column `visit`. The fit carries the reference grid for least-squares means.
pub fn fit_formula(
    formula: &str,
    frame: &Frame,
    subject: &str,
    visit: &str,
    coding: Coding,
    options: &MmrmOptions,
) -> Result<MmrmFit> {
    let f = Formula::parse(formula)?;
    let get = |name: &str| {
        frame.get(name).ok_or_else(|| {
            StatsError::invalid(
                "column",
                name,
                &format!("not in the data; columns: {}", frame.names().join(", ")),
            )
        })
    };
    let scol = get(subject)?;
    let vcol = get(visit)?;
    let missing = |c: &Column, i: usize| match c {
        Column::Numeric(v) => v[i].is_nan(),
        Column::Text(v) => v[i].is_none(),
    };
    let keep: Vec<usize> = (0..frame.nrows())
        .filter(|&i| !missing(scol, i) && !missing(vcol, i))
        .collect();
    let pre_dropped = frame.nrows() - keep.len();
    let filtered = if pre_dropped == 0 {
        frame.clone()
    } else {
        let mut out = Frame::new();
        for name in frame.names() {
            let col = match frame.get(name) {
                Some(Column::Numeric(v)) => Column::Numeric(keep.iter().map(|&i| v[i]).collect()),
                Some(Column::Text(v)) => Column::Text(keep.iter().map(|&i| v[i].clone()).collect()),
                None => continue,
            };
            out.insert(name, col)?;
        }
        out
    };
    let mut design = build_design(&f, &filtered, coding)?;
    design.n_dropped += pre_dropped;
    let scol = filtered
        .get(subject)
        .ok_or_else(|| StatsError::invalid("column", subject, "missing"))?;
    let vcol = filtered
        .get(visit)
        .ok_or_else(|| StatsError::invalid("column", visit, "missing"))?;
    let subjects: Vec<String> = design
        .rows
        .iter()
        .map(|&i| match scol {
            Column::Numeric(v) => level_text(v[i]),
            Column::Text(v) => v[i].clone().unwrap_or_default(),
        })
        .collect();
    let (visit_levels, visit_idx) = levels_of(vcol, &design.rows);
    let grid = RefGrid::new(&f, &design, &filtered)?;
    mmrm(&design, &subjects, &visit_idx, &visit_levels, options)?.with_reference_grid(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_give_positive_definite_sigma_and_correct_gradients() {
        let t = 4;
        for st in [
            CovStructure::Unstructured,
            CovStructure::CompoundSymmetry,
            CovStructure::HeterogeneousCompoundSymmetry,
            CovStructure::Ar1,
            CovStructure::HeterogeneousAr1,
            CovStructure::Toeplitz,
            CovStructure::HeterogeneousToeplitz,
        ] {
            let n = st.n_theta(t);
            let theta: Vec<f64> = (0..n).map(|i| 0.3 - 0.17 * i as f64).collect();
            let (s, ds) = sigma(st, &theta, t);
            assert!(cholesky(&s, t).is_some(), "{st:?}");
            assert_eq!(ds.len(), n);
            for k in 0..n {
                let h = 1e-6;
                let mut up = theta.clone();
                let mut dn = theta.clone();
                up[k] += h;
                dn[k] -= h;
                let (su, _) = sigma(st, &up, t);
                let (sd, _) = sigma(st, &dn, t);
                for i in 0..t * t {
                    let fd = (su[i] - sd[i]) / (2.0 * h);
                    assert!(
                        (fd - ds[k][i]).abs() < 1e-6,
                        "{st:?} θ{k} [{i}]: {fd} vs {}",
                        ds[k][i]
                    );
                }
            }
        }
    }

    #[test]
    fn toeplitz_levinson_matches_known_ar1() {
        // PACF (φ, 0, 0) is an AR(1): ρ_k = φ^k.
        let e = 0.6 / (1.0f64 - 0.36).sqrt();
        let r = correlation(CorrKind::Toep, &[e, 0.0, 0.0], 4);
        for k in 0..4 {
            assert!((r[k] - 0.6f64.powi(k as i32)).abs() < 1e-14);
        }
    }

    #[test]
    fn jacobi_eigen_reconstructs() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0];
        let (vals, v) = sym_eigen(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|m| v[i * 3 + m] * vals[m] * v[j * 3 + m]).sum();
                assert!((s - a[i * 3 + j]).abs() < 1e-12);
            }
        }
    }
}
