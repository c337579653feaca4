//! Linear models by least squares (QR) and generalized linear models by
//! iteratively reweighted least squares (McCullagh & Nelder, *Generalized Linear
//! Models*, 2nd ed., 1989, §2.5), with Wald tests of blocks of coefficients.
//!
//! Conventions follow statsmodels: `OLS` reports t statistics on n − p df;
//! `GLM` reports z statistics, with the scale estimated by Pearson χ²/(n − p) for
//! the Gaussian family and fixed at 1 for binomial and Poisson; AIC = −2ℓ + 2p.

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use crate::design::{Coding, Design, build_design};
use crate::distributions::{
    Alternative, chi2_sf, f_sf, normal_quantile, t_p_value, t_quantile, z_p_value,
};
use crate::error::{Result, StatsError, check_unit_interval};
use crate::formula::Formula;
use crate::linalg::{Qr, RANK_TOL, chol_quadratic_form, cholesky};

/// Error distribution (with its canonical link) of a generalized linear model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Normal errors, identity link.
    #[default]
    Gaussian,
    /// Bernoulli (0/1) response, logit link.
    Binomial,
    /// Counts, log link.
    Poisson,
}

impl std::str::FromStr for Family {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gaussian" | "normal" => Ok(Family::Gaussian),
            "binomial" | "logit" | "logistic" => Ok(Family::Binomial),
            "poisson" => Ok(Family::Poisson),
            _ => Err(StatsError::invalid(
                "family",
                s,
                "expected gaussian, binomial or poisson",
            )),
        }
    }
}

impl Family {
    /// Name of the (canonical) link function.
    pub fn link(self) -> &'static str {
        match self {
            Family::Gaussian => "identity",
            Family::Binomial => "logit",
            Family::Poisson => "log",
        }
    }

    pub(crate) fn linkfun(self, mu: f64) -> f64 {
        match self {
            Family::Gaussian => mu,
            Family::Binomial => (mu / (1.0 - mu)).ln(),
            Family::Poisson => mu.ln(),
        }
    }

    pub(crate) fn inverse(self, eta: f64) -> f64 {
        match self {
            Family::Gaussian => eta,
            Family::Binomial => 1.0 / (1.0 + (-eta).exp()),
            Family::Poisson => eta.exp(),
        }
    }

    /// dη/dμ.
    pub(crate) fn deriv(self, mu: f64) -> f64 {
        match self {
            Family::Gaussian => 1.0,
            Family::Binomial => 1.0 / (mu * (1.0 - mu)),
            Family::Poisson => 1.0 / mu,
        }
    }

    pub(crate) fn variance(self, mu: f64) -> f64 {
        match self {
            Family::Gaussian => 1.0,
            Family::Binomial => mu * (1.0 - mu),
            Family::Poisson => mu,
        }
    }

    /// Unit deviance contribution d(y, μ).
    pub(crate) fn unit_deviance(self, y: f64, mu: f64) -> f64 {
        let xlogy = |x: f64, r: f64| if x == 0.0 { 0.0 } else { x * r.ln() };
        match self {
            Family::Gaussian => (y - mu) * (y - mu),
            Family::Binomial => 2.0 * (xlogy(y, y / mu) + xlogy(1.0 - y, (1.0 - y) / (1.0 - mu))),
            Family::Poisson => 2.0 * (xlogy(y, y / mu) - (y - mu)),
        }
    }
}

/// Which model a fit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Ordinary least squares (statsmodels `OLS`).
    Ols,
    /// Generalized linear model by IRLS (statsmodels `GLM`).
    Glm,
}

/// Options of [`glm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GlmOptions {
    pub family: Family,
    /// Maximum IRLS iterations.
    pub max_iter: usize,
    /// Convergence when |D − D_old| / (|D| + 0.1) < tol (R's `glm.control`).
    pub tol: f64,
    /// Confidence level of the coefficient intervals.
    pub confidence: f64,
}

impl Default for GlmOptions {
    fn default() -> Self {
        GlmOptions {
            family: Family::Gaussian,
            max_iter: 100,
            tol: 1e-12,
            confidence: 0.95,
        }
    }
}

/// One estimated coefficient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    /// patsy's column name.
    pub name: String,
    pub estimate: f64,
    pub std_error: f64,
    /// t (OLS) or z (GLM) statistic.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    pub ci: [f64; 2],
}

/// A joint Wald test that a block of coefficients is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaldTest {
    /// Term name (or the tested column names joined by `, `).
    pub term: String,
    /// Tested columns.
    pub columns: Vec<String>,
    /// Number of constraints.
    pub df: usize,
    /// W = bᵀ V⁻¹ b.
    pub chi2: f64,
    pub p_chi2: f64,
    /// W / df on (df, n − p) degrees of freedom (OLS only).
    pub f: Option<f64>,
    pub df_denom: Option<f64>,
    pub p_f: Option<f64>,
}

/// A fitted linear or generalized linear model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFit {
    pub kind: ModelKind,
    pub family: Family,
    pub link: &'static str,
    /// `t` (OLS) or `z` (GLM).
    pub statistic_kind: &'static str,
    pub response: String,
    pub coefficients: Vec<Coefficient>,
    /// Covariance of the estimates (scale included), row-major p × p.
    pub cov_params: Vec<Vec<f64>>,
    /// Observations used.
    pub n: usize,
    /// Rows dropped for missing values.
    pub n_dropped: usize,
    /// Residual degrees of freedom n − p.
    pub df_resid: f64,
    /// Deviance (residual sum of squares for OLS and Gaussian).
    pub deviance: f64,
    pub pearson_chi2: f64,
    /// Dispersion: Pearson χ²/(n − p) for OLS/Gaussian, 1 otherwise.
    pub scale: f64,
    pub log_likelihood: f64,
    pub aic: f64,
    /// R² (OLS; centred when there is an intercept), else `None`.
    pub r_squared: Option<f64>,
    /// IRLS iterations (1 for OLS).
    pub iterations: usize,
    pub converged: bool,
    pub confidence: f64,
    /// Reference-level convention of the design.
    pub coding: Coding,
    /// Terms (patsy names) with their column indices.
    pub terms: Vec<(String, Vec<usize>)>,
}

fn check_design(d: &Design) -> Result<Qr> {
    let p = d.p();
    if d.n <= p {
        return Err(StatsError::TooFewObservations {
            what: "model fit (needs more rows than columns)".into(),
            needed: p + 1,
            got: d.n,
        });
    }
    let qr = Qr::new(&d.x, d.n, p, RANK_TOL);
    if !qr.aliased.is_empty() {
        let names: Vec<&str> = qr
            .aliased
            .iter()
            .map(|&j| d.column_names[j].as_str())
            .collect();
        return Err(StatsError::invalid(
            "design",
            names.join(", "),
            "rank-deficient design: aliased with earlier columns",
        ));
    }
    Ok(qr)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    d: &Design,
    kind: ModelKind,
    family: Family,
    beta: Vec<f64>,
    xtx_inv: Vec<f64>,
    scale: f64,
    deviance: f64,
    pearson_chi2: f64,
    log_likelihood: f64,
    r_squared: Option<f64>,
    iterations: usize,
    converged: bool,
    confidence: f64,
) -> Result<ModelFit> {
    let p = d.p();
    let df_resid = (d.n - p) as f64;
    let alpha = 1.0 - confidence;
    let crit = match kind {
        ModelKind::Ols => t_quantile(1.0 - alpha / 2.0, df_resid)?,
        ModelKind::Glm => normal_quantile(1.0 - alpha / 2.0),
    };
    let cov: Vec<Vec<f64>> = (0..p)
        .map(|i| (0..p).map(|j| scale * xtx_inv[i * p + j]).collect())
        .collect();
    let mut coefficients = Vec::with_capacity(p);
    for (j, &b) in beta.iter().enumerate() {
        let se = cov[j][j].sqrt();
        let stat = b / se;
        let p_value = match kind {
            ModelKind::Ols => t_p_value(stat, df_resid, Alternative::TwoSided)?,
            ModelKind::Glm => z_p_value(stat, Alternative::TwoSided),
        };
        coefficients.push(Coefficient {
            name: d.column_names[j].clone(),
            estimate: b,
            std_error: se,
            statistic: stat,
            p_value,
            ci: [b - crit * se, b + crit * se],
        });
    }
    Ok(ModelFit {
        kind,
        family,
        link: family.link(),
        statistic_kind: if kind == ModelKind::Ols { "t" } else { "z" },
        response: d.response.clone(),
        coefficients,
        cov_params: cov,
        n: d.n,
        n_dropped: d.n_dropped,
        df_resid,
        deviance,
        pearson_chi2,
        scale,
        log_likelihood,
        aic: -2.0 * log_likelihood + 2.0 * p as f64,
        r_squared,
        iterations,
        converged,
        confidence,
        coding: d.coding,
        terms: d
            .terms
            .iter()
            .map(|t| (t.name.clone(), t.columns.clone()))
            .collect(),
    })
}

/// Gaussian log-likelihood at the ML scale RSS/n: −n/2 (ln(2π RSS/n) + 1).
fn gaussian_llf(rss: f64, n: usize) -> f64 {
    let n = n as f64;
    -n / 2.0 * ((2.0 * std::f64::consts::PI * rss / n).ln() + 1.0)
}

/// Ordinary least squares by Householder QR (statsmodels `OLS`; t tests on n − p df).
pub fn ols(design: &Design, confidence: f64) -> Result<ModelFit> {
    check_unit_interval("confidence", confidence)?;
    let qr = check_design(design)?;
    let (n, p) = (design.n, design.p());
    let beta = qr.solve(&design.y);
    let fitted = fitted_values(design, &beta);
    let rss: f64 = design
        .y
        .iter()
        .zip(&fitted)
        .map(|(y, f)| (y - f) * (y - f))
        .sum();
    // Centred R² when the columns span a constant, explicit or implicit (statsmodels' k_constant).
    let ones = vec![1.0; n];
    let c1 = qr.solve(&ones);
    let spans_constant = fitted_values(design, &c1)
        .iter()
        .all(|f| (f - 1.0).abs() < 1e-9);
    let tss: f64 = if design.intercept || spans_constant {
        let m = design.y.iter().sum::<f64>() / n as f64;
        design.y.iter().map(|y| (y - m) * (y - m)).sum()
    } else {
        design.y.iter().map(|y| y * y).sum()
    };
    let scale = rss / (n - p) as f64;
    finish(
        design,
        ModelKind::Ols,
        Family::Gaussian,
        beta,
        qr.xtx_inverse(),
        scale,
        rss,
        rss,
        gaussian_llf(rss, n),
        Some(1.0 - rss / tss),
        1,
        true,
        confidence,
    )
}

fn fitted_values(d: &Design, beta: &[f64]) -> Vec<f64> {
    let mut f = vec![0.0; d.n];
    for (j, b) in beta.iter().enumerate() {
        for (fi, xi) in f.iter_mut().zip(d.column(j)) {
            *fi += b * xi;
        }
    }
    f
}

/// Generalized linear model with a canonical link by IRLS (statsmodels `GLM`;
/// start μ = (y + ȳ)/2, z statistics, Gaussian scale = Pearson χ²/(n − p)).
pub fn glm(design: &Design, options: &GlmOptions) -> Result<ModelFit> {
    check_unit_interval("confidence", options.confidence)?;
    check_design(design)?;
    let fam = options.family;
    let (n, p) = (design.n, design.p());
    let y = &design.y;
    match fam {
        Family::Binomial => {
            if let Some(i) = y.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(StatsError::invalid(
                    "binomial response",
                    y[i],
                    "must be 0 or 1",
                ));
            }
        }
        Family::Poisson => {
            if let Some(i) = y.iter().position(|&v| v < 0.0) {
                return Err(StatsError::invalid(
                    "Poisson response",
                    y[i],
                    "must be a non-negative count",
                ));
            }
        }
        Family::Gaussian => {}
    }
    let ybar = y.iter().sum::<f64>() / n as f64;
    let mut mu: Vec<f64> = y.iter().map(|&v| (v + ybar) / 2.0).collect();
    let mut eta: Vec<f64> = mu.iter().map(|&m| fam.linkfun(m)).collect();
    let deviance_of = |mu: &[f64]| -> f64 {
        y.iter()
            .zip(mu)
            .map(|(&yi, &mi)| fam.unit_deviance(yi, mi))
            .sum()
    };
    let mut dev = deviance_of(&mu);
    let mut beta = vec![0.0; p];
    let mut converged = false;
    let mut iterations = 0;
    let mut xw = vec![0.0; n * p];
    let mut zw = vec![0.0; n];
    while iterations < options.max_iter {
        iterations += 1;
        for i in 0..n {
            let g = fam.deriv(mu[i]);
            let w = 1.0 / (g * g * fam.variance(mu[i]));
            let sw = w.sqrt();
            zw[i] = sw * (eta[i] + (y[i] - mu[i]) * g);
            for j in 0..p {
                xw[i + j * n] = sw * design.x[i + j * n];
            }
        }
        let qr = Qr::new(&xw, n, p, RANK_TOL);
        if qr.rank() < p {
            return Err(StatsError::invalid(
                "design",
                design.column_names[qr.aliased[0]].clone(),
                "became rank-deficient in the IRLS weights (perfect separation or zero fitted counts?)",
            ));
        }
        beta = qr.solve(&zw);
        eta = fitted_values(design, &beta);
        mu = eta.iter().map(|&e| fam.inverse(e)).collect();
        let new_dev = deviance_of(&mu);
        if !new_dev.is_finite() {
            return Err(StatsError::NoConvergence {
                what: "GLM (IRLS, deviance not finite)".into(),
                iterations,
            });
        }
        let change = (new_dev - dev).abs() / (new_dev.abs() + 0.1);
        dev = new_dev;
        if change < options.tol {
            converged = true;
            break;
        }
    }
    // Expected information at the final estimates.
    for i in 0..n {
        let g = fam.deriv(mu[i]);
        let sw = (1.0 / (g * g * fam.variance(mu[i]))).sqrt();
        for j in 0..p {
            xw[i + j * n] = sw * design.x[i + j * n];
        }
    }
    let qr = Qr::new(&xw, n, p, RANK_TOL);
    let pearson: f64 = y
        .iter()
        .zip(&mu)
        .map(|(&yi, &mi)| (yi - mi) * (yi - mi) / fam.variance(mi))
        .sum();
    let scale = match fam {
        Family::Gaussian => pearson / (n - p) as f64,
        _ => 1.0,
    };
    let llf = match fam {
        Family::Gaussian => gaussian_llf(dev, n),
        Family::Binomial => y
            .iter()
            .zip(&mu)
            .map(|(&yi, &mi)| if yi == 1.0 { mi.ln() } else { (1.0 - mi).ln() })
            .sum(),
        Family::Poisson => y
            .iter()
            .zip(&mu)
            .map(|(&yi, &mi)| {
                let a = if yi == 0.0 { 0.0 } else { yi * mi.ln() };
                a - mi - ln_gamma(yi + 1.0)
            })
            .sum(),
    };
    finish(
        design,
        ModelKind::Glm,
        fam,
        beta,
        qr.xtx_inverse(),
        scale,
        dev,
        pearson,
        llf,
        None,
        iterations,
        converged,
        options.confidence,
    )
}

/// W = bᵀV⁻¹b for the coefficients at `columns` (b their estimates, V the block of
/// `cov_params`), the statistic of a joint Wald test; shared by the GLM and GEE fits.
pub(crate) fn wald_chi2(
    coefficients: &[Coefficient],
    cov_params: &[Vec<f64>],
    columns: &[usize],
    label: &str,
) -> Result<f64> {
    let q = columns.len();
    if q == 0 {
        return Err(StatsError::invalid(
            "Wald test",
            label,
            "needs at least one column",
        ));
    }
    if let Some(&j) = columns.iter().find(|&&j| j >= coefficients.len()) {
        return Err(StatsError::invalid("Wald test column", j, "out of range"));
    }
    let b: Vec<f64> = columns.iter().map(|&j| coefficients[j].estimate).collect();
    let v: Vec<f64> = columns
        .iter()
        .flat_map(|&i| columns.iter().map(move |&j| (i, j)))
        .map(|(i, j)| cov_params[i][j])
        .collect();
    let l = cholesky(&v, q).ok_or_else(|| {
        StatsError::invalid(
            "Wald test",
            label,
            "covariance block is not positive definite",
        )
    })?;
    Ok(chol_quadratic_form(&l, &b))
}

impl ModelFit {
    /// Joint Wald test that the coefficients at `columns` are all zero
    /// (W = bᵀ V⁻¹ b ~ χ²(q); for OLS also F = W/q on (q, n − p) df).
    pub fn wald_test(&self, columns: &[usize], label: &str) -> Result<WaldTest> {
        let q = columns.len();
        let chi2 = wald_chi2(&self.coefficients, &self.cov_params, columns, label)?;
        let (f, df_denom, p_f) = if self.kind == ModelKind::Ols {
            let f = chi2 / q as f64;
            (
                Some(f),
                Some(self.df_resid),
                Some(f_sf(f, q as f64, self.df_resid)?),
            )
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

    /// Wald test of each term, all its columns jointly ("type III" table, as
    /// statsmodels `wald_test_terms`).
    pub fn wald_terms(&self) -> Result<Vec<WaldTest>> {
        self.terms
            .iter()
            .map(|(name, cols)| self.wald_test(cols, name))
            .collect()
    }

    /// The coefficient called `name`.
    pub fn coefficient(&self, name: &str) -> Option<&Coefficient> {
        self.coefficients.iter().find(|c| c.name == name)
    }
}

/// Parses `formula`, builds its design on `frame` and fits it: OLS when
/// `family` is `None`, else a GLM with default options and that family.
pub fn fit_formula(
    formula: &str,
    frame: &crate::design::Frame,
    coding: Coding,
    family: Option<Family>,
) -> Result<ModelFit> {
    let f = Formula::parse(formula)?;
    let d = build_design(&f, frame, coding)?;
    match family {
        None => ols(&d, 0.95),
        Some(family) => glm(
            &d,
            &GlmOptions {
                family,
                ..GlmOptions::default()
            },
        ),
    }
}
