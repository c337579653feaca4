//! The MMRM and multiple-imputation paths of `evidentia stats model`:
//! `--mmrm --subject COL --visit COL [--cov-structure us|cs|ar1|toeplitz]` (REML,
//! Satterthwaite df, least-squares means) and `--impute m=20,seed=S[,iterations=10]`
//! (chained equations on the numeric formula columns, the chosen model fitted on each
//! completed dataset, pooled by Rubin's rules with Barnard–Rubin df).

use evidentia_stats::design::{Column, Frame, build_design};
use evidentia_stats::formula::Formula;
use evidentia_stats::gee::{self, GeeOptions};
use evidentia_stats::glm::{self, GlmOptions};
use evidentia_stats::imputation::{PooledEstimate, PoolingDf};
use evidentia_stats::mice::{ImputeMethod, MiceColumn, MiceOptions, PooledParameter, mice};
use evidentia_stats::mmrm::{self, CovStructure, Estimate, FTest, LsMean, MmrmFit, MmrmOptions};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::model_cmd::ModelArgs;

/// The MMRM result as printed.
#[derive(Debug, Serialize)]
pub struct MmrmOutput {
    model: &'static str,
    formula: String,
    response: String,
    covariance_structure: CovStructure,
    method: mmrm::Method,
    /// Each with `term, estimate, se, df, statistic, p_value, ci` (Satterthwaite df, t test).
    coefficients: Vec<EstOut>,
    /// Type III F tests of the terms (or the `--test` terms), Satterthwaite denominators.
    tests: Vec<FTest>,
    visits: Vec<String>,
    /// Estimated covariance of the residuals across visits.
    covariance: Vec<Vec<f64>>,
    /// The same as a correlation matrix.
    correlation: Vec<Vec<f64>>,
    log_likelihood: f64,
    aic: f64,
    bic: f64,
    iterations: usize,
    converged: bool,
    n_obs: usize,
    /// Subjects.
    n_groups: usize,
    n_dropped: usize,
    /// Least-squares means by arm × visit and their differences from the reference arm
    /// (with `--lsmeans ARM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    lsmeans: Option<Vec<LsMean>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lsmean_differences: Option<Vec<LsMean>>,
    confidence: f64,
}

/// A coefficient with its Satterthwaite df.
#[derive(Debug, Serialize)]
pub struct EstOut {
    term: String,
    estimate: f64,
    se: f64,
    df: f64,
    statistic: f64,
    p_value: f64,
    ci: [f64; 2],
}

fn est(e: &Estimate) -> EstOut {
    EstOut {
        term: e.name.clone(),
        estimate: e.estimate,
        se: e.std_error,
        df: e.df,
        statistic: e.statistic,
        p_value: e.p_value,
        ci: e.ci,
    }
}

fn mmrm_options(a: &ModelArgs) -> CliResult<MmrmOptions> {
    let structure = match &a.cov_structure {
        Some(s) => s.parse().map_err(CliError::stats("--cov-structure"))?,
        None => CovStructure::Unstructured,
    };
    Ok(MmrmOptions {
        structure,
        confidence: a.confidence,
        ..MmrmOptions::default()
    })
}

fn mmrm_fit(a: &ModelArgs, frame: &Frame) -> CliResult<MmrmFit> {
    let (subject, visit) = match (&a.subject, &a.visit) {
        (Some(s), Some(v)) => (s, v),
        _ => {
            return Err(CliError::Usage(
                "--mmrm needs --subject COL and --visit COL".into(),
            ));
        }
    };
    mmrm::fit_formula(
        &a.formula,
        frame,
        subject,
        visit,
        a.coding,
        &mmrm_options(a)?,
    )
    .map_err(CliError::stats(format!(
        "{}: MMRM {}",
        a.data.display(),
        a.formula
    )))
}

/// Fits the MMRM the arguments describe.
pub fn run_mmrm(a: &ModelArgs, frame: &Frame) -> CliResult<MmrmOutput> {
    let fit = mmrm_fit(a, frame)?;
    let tests = if a.test.is_empty() {
        fit.test_terms()
    } else {
        a.test.iter().map(|t| fit.test_term(t)).collect()
    }
    .map_err(CliError::stats("MMRM F tests"))?;
    let (lsmeans, diffs) = match (&a.lsmeans, &a.visit) {
        (Some(arm), Some(visit)) => (
            Some(
                fit.lsmeans(&[arm.as_str(), visit.as_str()])
                    .map_err(CliError::stats("least-squares means"))?,
            ),
            Some(
                fit.lsmean_differences(arm, visit)
                    .map_err(CliError::stats("least-squares mean differences"))?,
            ),
        ),
        _ => (None, None),
    };
    Ok(MmrmOutput {
        model: "mmrm",
        formula: a.formula.clone(),
        response: fit.response.clone(),
        covariance_structure: fit.structure,
        method: fit.method,
        coefficients: fit.coefficients.iter().map(est).collect(),
        tests,
        visits: fit.visits.clone(),
        covariance: fit.covariance.clone(),
        correlation: fit.correlation.clone(),
        log_likelihood: fit.log_likelihood,
        aic: fit.aic,
        bic: fit.bic,
        iterations: fit.iterations,
        converged: fit.converged,
        n_obs: fit.n_obs,
        n_groups: fit.n_subjects,
        n_dropped: fit.n_dropped,
        lsmeans,
        lsmean_differences: diffs,
        confidence: fit.confidence,
    })
}

/// `--impute m=..,seed=..[,iterations=..]`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ImputeSpec {
    m: usize,
    seed: u64,
    iterations: usize,
}

fn parse_spec(spec: &str) -> CliResult<ImputeSpec> {
    let bad = |msg: &str| CliError::Usage(format!("--impute \"{spec}\": {msg}"));
    let mut out = ImputeSpec {
        m: 20,
        seed: 0,
        iterations: 10,
    };
    let mut seed = None;
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad("expected key=value pairs such as m=20,seed=7"))?;
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| bad(&format!("'{v}' is not a whole number")))?;
        match k.trim() {
            "m" => out.m = n as usize,
            "seed" => seed = Some(n),
            "iterations" | "maxit" => out.iterations = n as usize,
            other => return Err(bad(&format!("unknown key '{other}' (m, seed, iterations)"))),
        }
    }
    out.seed =
        seed.ok_or_else(|| bad("a seed is required (seed=S) so that results can be reproduced"))?;
    if out.m < 2 {
        return Err(bad("m must be at least 2"));
    }
    Ok(out)
}

/// One imputed column and how many cells were filled.
#[derive(Debug, Serialize)]
struct ImputedColumn {
    column: String,
    method: ImputeMethod,
    missing: usize,
}

/// One completed dataset's fit: (term, estimate, SE) triples, rows used, complete-data df.
type OneFit = (Vec<(String, f64, f64)>, usize, Option<f64>);

/// A pooled coefficient.
#[derive(Debug, Serialize)]
pub struct PooledOut {
    term: String,
    #[serde(flatten)]
    pooled: PooledEstimate,
}

/// The pooled result of `--impute`.
#[derive(Debug, Serialize)]
pub struct ImputedOutput {
    model: &'static str,
    formula: String,
    imputation: ImputeSpec,
    pooling: &'static str,
    imputed_columns: Vec<ImputedColumn>,
    /// Pooled coefficients: `term, estimate, se, df, statistic, p_value, ci`, plus the
    /// fraction of missing information and the variance components.
    coefficients: Vec<PooledOut>,
    n_obs: usize,
    confidence: f64,
}

/// Imputes the numeric formula columns, fits the model on each completed dataset and pools.
pub fn run_imputed(a: &ModelArgs, frame: &Frame, spec: &str) -> CliResult<ImputedOutput> {
    let spec = parse_spec(spec)?;
    let formula = Formula::parse(&a.formula).map_err(CliError::stats("formula"))?;
    let mut names: Vec<String> = formula.columns();
    names.extend(a.time.iter().cloned());
    names.dedup();
    let mut columns = Vec::new();
    for n in &names {
        if let Some(Column::Numeric(v)) = frame.get(n) {
            let binary = v.iter().all(|x| x.is_nan() || *x == 0.0 || *x == 1.0);
            columns.push(if binary {
                MiceColumn::binary(n, v.clone())
            } else {
                MiceColumn::continuous(n, v.clone(), ImputeMethod::Pmm)
            });
        }
    }
    let result = mice(
        &columns,
        &MiceOptions {
            m: spec.m,
            iterations: spec.iterations,
            seed: spec.seed,
            ..MiceOptions::default()
        },
    )
    .map_err(CliError::stats(format!("{}: imputation", a.data.display())))?;
    let imputed_columns = result
        .names
        .iter()
        .enumerate()
        .filter(|(j, _)| result.n_missing[*j] > 0)
        .map(|(j, n)| ImputedColumn {
            column: n.clone(),
            method: result.methods[j],
            missing: result.n_missing[j],
        })
        .collect();
    let model: &'static str = if a.mmrm {
        "mmrm"
    } else if a.gee {
        "gee"
    } else if a.family.is_some() {
        "glm"
    } else {
        "ols"
    };
    let mut n_obs = 0;
    let mut df_complete = None;
    let fit_one = |f: &Frame| -> CliResult<OneFit> {
        let triples = |c: &[glm::Coefficient]| {
            c.iter()
                .map(|c| (c.name.clone(), c.estimate, c.std_error))
                .collect::<Vec<_>>()
        };
        Ok(match model {
            "mmrm" => {
                let fit = mmrm_fit(a, f)?;
                let t = fit
                    .coefficients
                    .iter()
                    .map(|e| (e.name.clone(), e.estimate, e.std_error))
                    .collect();
                (t, fit.n_obs, None)
            }
            "gee" => {
                let options = GeeOptions {
                    family: a.family.unwrap_or_default(),
                    correlation: a.corr,
                    covariance: a.cov,
                    confidence: a.confidence,
                    ..GeeOptions::default()
                };
                let (_, fit) = gee::gee_formula(
                    &a.formula,
                    f,
                    a.groups.as_deref().unwrap_or_default(),
                    a.time.as_deref(),
                    a.coding,
                    &options,
                )
                .map_err(CliError::stats("GEE"))?;
                (triples(&fit.coefficients), fit.n_obs, None)
            }
            _ => {
                let design =
                    build_design(&formula, f, a.coding).map_err(CliError::stats("design"))?;
                let fit = match a.family {
                    None => glm::ols(&design, a.confidence),
                    Some(family) => glm::glm(
                        &design,
                        &GlmOptions {
                            family,
                            confidence: a.confidence,
                            ..GlmOptions::default()
                        },
                    ),
                }
                .map_err(CliError::stats("model"))?;
                let df = a.family.is_none().then(|| (fit.n - design.p()) as f64);
                (triples(&fit.coefficients), fit.n, df)
            }
        })
    };
    // Fit each completed dataset once (errors keep their CLI context), then pool.
    let mut fits = Vec::with_capacity(spec.m);
    for k in 0..spec.m {
        let c = result
            .completed(k)
            .ok_or_else(|| CliError::Output(format!("imputation {k} missing")))?;
        let f = c.to_frame(frame).map_err(CliError::stats("imputed data"))?;
        let (t, n, df) = fit_one(&f)?;
        n_obs = n;
        df_complete = df;
        fits.push(t);
    }
    let mut it = fits.into_iter();
    let coefficients = result
        .fit_and_pool(
            |_| Ok(it.next().unwrap_or_default()),
            df_complete,
            PoolingDf::BarnardRubin,
            a.confidence,
        )
        .map_err(CliError::stats("pooling by Rubin's rules"))?;
    Ok(ImputedOutput {
        model,
        formula: a.formula.clone(),
        imputation: spec,
        pooling: "Rubin's rules, Barnard–Rubin df (complete-data df n − p for OLS, large-sample otherwise)",
        imputed_columns,
        coefficients: coefficients
            .into_iter()
            .map(|p: PooledParameter| PooledOut {
                term: p.name,
                pooled: p.pooled,
            })
            .collect(),
        n_obs,
        confidence: a.confidence,
    })
}
