//! `evidentia stats model`: linear models, GLMs and GEEs from a formula.
//!
//! Without `--gee` the formula is fitted by OLS (no `--family`) or as a GLM, with
//! Wald tests of every term (type III). With `--gee --groups COL` it is a GEE
//! (statsmodels' estimator; see `evidentia_stats::gee`). `--mmrm` and
//! `--impute m=..,seed=..` are served by [`crate::model_more`].

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use evidentia_stats::design::{Coding, Design, Frame, build_design};
use evidentia_stats::formula::Formula;
use evidentia_stats::gee::{self, CorrStructure, CorrelationEstimate, GeeCovariance, GeeOptions};
use evidentia_stats::glm::{self, Family, GlmOptions, WaldTest};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::output::{emit, fmt_num};
use crate::provenance::Provenance;
use crate::table::{Columns, Table, typed_column};

/// Arguments of `stats model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// CSV or TSV file in long format (one row per observation), with a header row.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Model formula, e.g. "value ~ arm * C(visit) + age + C(gmfcs)".
    #[arg(long)]
    pub(crate) formula: String,
    /// gaussian, binomial or poisson (canonical links). Without it and without
    /// --gee: ordinary least squares.
    #[arg(long)]
    pub(crate) family: Option<Family>,
    /// Fit a generalized estimating equation (needs --groups).
    #[arg(long, requires = "groups")]
    pub(crate) gee: bool,
    /// GEE cluster column (the participant id).
    #[arg(long)]
    pub(crate) groups: Option<String>,
    /// GEE numeric time column: orders the rows in each cluster; AR(1) uses its
    /// distances and unstructured its distinct values (needed with missing visits).
    #[arg(long)]
    pub(crate) time: Option<String>,
    /// GEE working correlation: independence, exchangeable, ar1 or unstructured.
    #[arg(long, default_value = "independence")]
    pub(crate) corr: CorrStructure,
    /// GEE covariance: robust, naive, mancl-derouen, kauermann-carroll or fay-graubard.
    #[arg(long, default_value = "robust")]
    pub(crate) cov: GeeCovariance,
    /// Joint Wald test of a term's columns, e.g. "arm:visit" (repeatable). Without
    /// it every term is tested.
    #[arg(long)]
    pub(crate) test: Vec<String>,
    /// GEE: also give F = W/q on (q, clusters − p) df for the Wald tests.
    #[arg(long)]
    pub(crate) f_test: bool,
    /// Reference level: first (R/patsy, default) or spss (last level).
    #[arg(long, default_value = "first")]
    pub(crate) coding: Coding,
    /// Coverage of the coefficient intervals.
    #[arg(long, default_value_t = 0.95)]
    pub(crate) confidence: f64,
    /// Mixed model for repeated measures (REML, Satterthwaite df): needs --subject and --visit.
    #[arg(long, conflicts_with = "gee")]
    pub(crate) mmrm: bool,
    /// MMRM subject column (with --mmrm).
    #[arg(long)]
    pub(crate) subject: Option<String>,
    /// MMRM visit column (with --mmrm).
    #[arg(long)]
    pub(crate) visit: Option<String>,
    /// MMRM covariance: us, cs, ar1 or toeplitz (with --mmrm).
    #[arg(long)]
    pub(crate) cov_structure: Option<String>,
    /// MMRM: least-squares means by this arm column × visit and their differences from
    /// the arm's reference level.
    #[arg(long, requires = "mmrm")]
    pub(crate) lsmeans: Option<String>,
    /// Impute the numeric formula columns by chained equations, fit the model on each
    /// completed dataset and pool by Rubin's rules, e.g. "m=20,seed=7[,iterations=10]".
    #[arg(long)]
    pub(crate) impute: Option<String>,
}

/// One coefficient as printed.
#[derive(Debug, Serialize)]
struct CoefOut {
    term: String,
    estimate: f64,
    se: f64,
    statistic: f64,
    p_value: f64,
    ci: [f64; 2],
}

/// The result of `stats model`.
#[derive(Debug, Serialize)]
struct ModelOutput {
    /// ols, glm or gee.
    model: &'static str,
    formula: String,
    response: String,
    family: Family,
    link: &'static str,
    /// t (OLS) or z.
    statistic: &'static str,
    /// GEE covariance estimator (null otherwise).
    covariance: Option<GeeCovariance>,
    coefficients: Vec<CoefOut>,
    tests: Vec<WaldTest>,
    /// GEE working correlation estimate (null otherwise).
    correlation: Option<CorrelationEstimate>,
    scale: f64,
    iterations: usize,
    converged: bool,
    n_obs: usize,
    /// Clusters (GEE; null otherwise).
    n_groups: Option<usize>,
    n_dropped: usize,
    confidence: f64,
    coding: Coding,
    /// Factors with their levels and reference levels.
    factors: Vec<evidentia_stats::design::FactorInfo>,
}

/// Reads the table columns the model needs into a frame: numeric when every
/// present cell is a number, text otherwise.
fn frame_of(table: &Columns, names: &[String]) -> CliResult<Frame> {
    let mut frame = Frame::new();
    for name in names {
        if frame.get(name).is_some() {
            continue;
        }
        let column = typed_column(table.numeric_with_nan(name), || table.strings(name))?;
        frame
            .insert(name, column)
            .map_err(CliError::stats("reading the data"))?;
    }
    Ok(frame)
}

/// The variable a formula factor refers to: `C(arm, ...)` → `arm`.
fn base_name(part: &str) -> String {
    let p = part.trim();
    match p.strip_prefix("C(") {
        Some(rest) => rest
            .split([',', ')'])
            .next()
            .unwrap_or(rest)
            .trim()
            .to_string(),
        None => p.to_string(),
    }
}

fn term_key(name: &str) -> Vec<String> {
    let mut k: Vec<String> = name.split(':').map(base_name).collect();
    k.sort();
    k
}

/// Columns of the term named `wanted` ("arm:visit" matches `C(arm):C(visit)`).
fn term_columns(design: &Design, wanted: &str) -> CliResult<(String, Vec<usize>)> {
    let key = term_key(wanted);
    design
        .terms
        .iter()
        .find(|t| t.name == wanted || term_key(&t.name) == key)
        .map(|t| (t.name.clone(), t.columns.clone()))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--test \"{wanted}\": no such term in the model (terms: {})",
                design
                    .terms
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Runs `stats model`.
pub fn run(a: ModelArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    if !a.mmrm && (a.subject.is_some() || a.visit.is_some() || a.cov_structure.is_some()) {
        return Err(CliError::Usage(
            "--subject, --visit and --cov-structure are MMRM options: add --mmrm".into(),
        ));
    }
    if !a.gee && (a.groups.is_some() || a.time.is_some()) {
        return Err(CliError::Usage(
            "--groups and --time are GEE options: add --gee".into(),
        ));
    }
    let ctx = || format!("{}: model {}", a.data.display(), a.formula);
    let formula = Formula::parse(&a.formula);
    let mut names = formula.as_ref().map(Formula::columns).unwrap_or_default();
    names.extend(a.groups.iter().cloned());
    names.extend(a.time.iter().cloned());
    names.extend(a.subject.iter().cloned());
    names.extend(a.visit.iter().cloned());
    // Only the columns the model uses are kept (the whole file is still checked).
    let table = Table::read_columns(&a.data, &names)?;
    prov.add_input(&a.data)?;
    let formula = formula.map_err(CliError::stats(ctx()))?;
    for n in &names {
        table.column(n)?;
    }
    let frame = frame_of(&table, &names)?;
    if let Some(spec) = &a.impute {
        let out = crate::model_more::run_imputed(&a, &frame, spec)?;
        return emit(&out, prov, json);
    }
    if a.mmrm {
        let out = crate::model_more::run_mmrm(&a, &frame)?;
        return emit(&out, prov, json);
    }
    let out = if a.gee {
        let groups = a.groups.as_deref().unwrap_or_default();
        let options = GeeOptions {
            family: a.family.unwrap_or_default(),
            correlation: a.corr,
            covariance: a.cov,
            confidence: a.confidence,
            ..GeeOptions::default()
        };
        let (design, fit) = gee::gee_formula(
            &a.formula,
            &frame,
            groups,
            a.time.as_deref(),
            a.coding,
            &options,
        )
        .map_err(CliError::stats(format!("{}: GEE", ctx())))?;
        let tests = if a.test.is_empty() {
            fit.wald_terms(a.f_test)
                .map_err(CliError::stats("Wald tests"))?
        } else {
            a.test
                .iter()
                .map(|t| {
                    let (name, cols) = term_columns(&design, t)?;
                    fit.wald_test(&cols, &name, a.f_test)
                        .map_err(CliError::stats("Wald test"))
                })
                .collect::<CliResult<_>>()?
        };
        ModelOutput {
            model: "gee",
            formula: a.formula.clone(),
            response: fit.response.clone(),
            family: fit.family,
            link: fit.link,
            statistic: "z",
            covariance: Some(fit.covariance),
            coefficients: coefs(&fit.coefficients),
            tests,
            correlation: Some(fit.correlation.clone()),
            scale: fit.scale,
            iterations: fit.iterations,
            converged: fit.converged,
            n_obs: fit.n_obs,
            n_groups: Some(fit.n_groups),
            n_dropped: fit.n_dropped,
            confidence: fit.confidence,
            coding: fit.coding,
            factors: design.factors,
        }
    } else {
        let design = build_design(&formula, &frame, a.coding).map_err(CliError::stats(ctx()))?;
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
        .map_err(CliError::stats(ctx()))?;
        let tests = if a.test.is_empty() {
            fit.wald_terms().map_err(CliError::stats("Wald tests"))?
        } else {
            a.test
                .iter()
                .map(|t| {
                    let (name, cols) = term_columns(&design, t)?;
                    fit.wald_test(&cols, &name)
                        .map_err(CliError::stats("Wald test"))
                })
                .collect::<CliResult<_>>()?
        };
        ModelOutput {
            model: if a.family.is_none() { "ols" } else { "glm" },
            formula: a.formula.clone(),
            response: fit.response.clone(),
            family: fit.family,
            link: fit.link,
            statistic: fit.statistic_kind,
            covariance: None,
            coefficients: coefs(&fit.coefficients),
            tests,
            correlation: None,
            scale: fit.scale,
            iterations: fit.iterations,
            converged: fit.converged,
            n_obs: fit.n,
            n_groups: None,
            n_dropped: fit.n_dropped,
            confidence: fit.confidence,
            coding: fit.coding,
            factors: design.factors,
        }
    };
    if json {
        emit(&out, prov, true)
    } else {
        let text = render_text(&out);
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::Output(e.to_string()))
    }
}

fn coefs(c: &[glm::Coefficient]) -> Vec<CoefOut> {
    c.iter()
        .map(|c| CoefOut {
            term: c.name.clone(),
            estimate: c.estimate,
            se: c.std_error,
            statistic: c.statistic,
            p_value: c.p_value,
            ci: c.ci,
        })
        .collect()
}

fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// A readable report: header, coefficient table, tests.
fn render_text(o: &ModelOutput) -> String {
    let mut s = String::new();
    let what = match o.model {
        "ols" => "Linear model (OLS)".to_string(),
        "glm" => format!("GLM, {:?} family, {} link", o.family, o.link),
        _ => format!(
            "GEE, {:?} family, {} link, {} covariance",
            o.family,
            o.link,
            serde_json::to_value(o.covariance)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    };
    s.push_str(&format!("{what}\n{}\n", o.formula));
    s.push_str(&format!(
        "n = {} (dropped for missing values: {})",
        o.n_obs, o.n_dropped
    ));
    if let Some(g) = o.n_groups {
        s.push_str(&format!(", clusters = {g}"));
    }
    s.push_str(&format!(
        "; scale = {}; iterations = {}; converged = {}\n",
        fmt_num(o.scale),
        o.iterations,
        o.converged
    ));
    match &o.correlation {
        Some(CorrelationEstimate::Exchangeable { rho }) => s.push_str(&format!(
            "working correlation: exchangeable, rho = {}\n",
            fmt_num(*rho)
        )),
        Some(CorrelationEstimate::Ar1 { rho }) => s.push_str(&format!(
            "working correlation: AR(1), rho = {}\n",
            fmt_num(*rho)
        )),
        Some(CorrelationEstimate::Unstructured { times, matrix }) => {
            s.push_str("working correlation: unstructured\n");
            for (t, row) in times.iter().zip(matrix) {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:7.3}")).collect();
                s.push_str(&format!("  {:>6} {}\n", fmt_num(*t), cells.join(" ")));
            }
        }
        Some(CorrelationEstimate::Independence) => {
            s.push_str("working correlation: independence\n")
        }
        None => {}
    }
    let w = o
        .coefficients
        .iter()
        .map(|c| c.term.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let pct = format!("{}% CI", fmt_num(o.confidence * 100.0));
    s.push_str(&format!(
        "\n{:w$}  {:>12} {:>11} {:>9} {:>10}  {}\n",
        "term", "estimate", "SE", o.statistic, "p", pct
    ));
    for c in &o.coefficients {
        s.push_str(&format!(
            "{:w$}  {:>12} {:>11} {:>9.3} {:>10}  [{}, {}]\n",
            c.term,
            fmt_num(c.estimate),
            fmt_num(c.se),
            c.statistic,
            fmt_p(c.p_value),
            fmt_num(c.ci[0]),
            fmt_num(c.ci[1])
        ));
    }
    s.push_str("\nWald tests\n");
    for t in &o.tests {
        s.push_str(&format!(
            "  {}: chi2({}) = {}, p = {}",
            t.term,
            t.df,
            fmt_num(t.chi2),
            fmt_p(t.p_chi2)
        ));
        if let (Some(f), Some(d2), Some(p)) = (t.f, t.df_denom, t.p_f) {
            s.push_str(&format!(
                "; F({}, {}) = {}, p = {}",
                t.df,
                fmt_num(d2),
                fmt_num(f),
                fmt_p(p)
            ));
        }
        s.push('\n');
    }
    s
}
