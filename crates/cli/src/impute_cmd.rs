//! `evidentia stats impute`: multiple imputation by chained equations (mice-style FCS)
//! of the numeric columns of a table, writing the m completed tables and a JSON summary.

use std::path::PathBuf;

use clap::Args;
use evidentia_stats::mice::{ImputeMethod, MiceColumn, MiceOptions, VisitOrder, mice};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::outdir::OutDir;
use crate::output::emit;
use crate::provenance::Provenance;
use crate::table::{Table, is_missing};

/// Arguments of `stats impute`.
#[derive(Debug, Args)]
pub struct ImputeArgs {
    /// CSV or TSV, one row per participant (wide format: one column per visit).
    #[arg(long)]
    pub data: PathBuf,
    /// Numeric columns that take part in the imputation (imputed where missing and used as
    /// predictors of each other); default: every column whose cells are all numbers or missing.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Number of imputed datasets.
    #[arg(long, default_value_t = 20)]
    pub m: usize,
    /// Iterations of the chained equations.
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Seed of the ChaCha20 generator (the same seed gives the same datasets everywhere).
    #[arg(long)]
    pub seed: u64,
    /// Method for continuous columns: pmm (predictive mean matching, 5 donors) or norm
    /// (Bayesian linear regression draws). Columns holding only 0/1 use logistic draws.
    #[arg(long, default_value = "pmm")]
    pub method: String,
    /// Visit the incomplete columns in increasing order of missingness (mice "monotone").
    #[arg(long)]
    pub monotone: bool,
    /// Directory for imputed_1.csv … imputed_m.csv and imputation.json.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
struct ColumnSummary {
    column: String,
    method: ImputeMethod,
    missing: usize,
    /// Mean of the imputed values per chain after the last iteration (convergence check).
    final_chain_means: Vec<Option<f64>>,
}

#[derive(Debug, Serialize)]
struct ImputeOutput {
    m: usize,
    iterations: usize,
    seed: u64,
    rows: usize,
    columns: Vec<ColumnSummary>,
    files: Vec<String>,
}

fn numeric_column(table: &Table, name: &str) -> CliResult<Vec<f64>> {
    table.numeric_with_nan(name)
}

/// Formats an imputed value without losing precision (shortest round-trip form).
fn cell(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Runs `stats impute`.
pub fn run(a: ImputeArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    prov.add_input(&a.data)?;
    let table = Table::read(&a.data)?;
    let method: ImputeMethod = a.method.parse().map_err(CliError::stats("--method"))?;
    if method == ImputeMethod::LogReg {
        return Err(CliError::Usage(
            "--method: pmm or norm for continuous columns (0/1 columns get logistic draws automatically)".into(),
        ));
    }
    let names: Vec<String> = if a.columns.is_empty() {
        table
            .header
            .iter()
            .filter(|h| numeric_column(&table, h).is_ok())
            .cloned()
            .collect()
    } else {
        a.columns.clone()
    };
    if names.len() < 2 {
        return Err(CliError::Data {
            path: a.data.clone(),
            message: format!(
                "imputation needs at least two numeric columns (found: {})",
                names.join(", ")
            ),
        });
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let v = numeric_column(&table, name)?;
        let binary =
            v.iter().all(|x| x.is_nan() || *x == 0.0 || *x == 1.0) && v.iter().any(|x| !x.is_nan());
        columns.push(if binary {
            MiceColumn::binary(name, v)
        } else {
            MiceColumn::continuous(name, v, method)
        });
    }
    let options = MiceOptions {
        m: a.m,
        iterations: a.iterations,
        seed: a.seed,
        visit_order: if a.monotone {
            VisitOrder::Monotone
        } else {
            VisitOrder::LeftToRight
        },
        ..MiceOptions::default()
    };
    let result = mice(&columns, &options)
        .map_err(CliError::stats(format!("{}: imputation", a.data.display())))?;

    // Render every dataset before writing any, so a failure leaves no partial set.
    let col_of: Vec<Option<usize>> = table
        .header
        .iter()
        .map(|h| names.iter().position(|n| n == h))
        .collect();
    let mut files = Vec::with_capacity(result.datasets.len());
    for (k, data) in result.datasets.iter().enumerate() {
        let mut text = table
            .header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
        for (i, (_, row)) in table.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .zip(&col_of)
                .map(|(raw, c)| match c {
                    Some(j) if is_missing(raw) => cell(data[*j][i]),
                    _ => csv_field(raw),
                })
                .collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        files.push((format!("imputed_{}.csv", k + 1), text));
    }
    let out = OutDir::create(&a.out)?;
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in &files {
        written.push(out.write(name, text.as_bytes())?.display().to_string());
    }
    let summary = ImputeOutput {
        m: a.m,
        iterations: a.iterations,
        seed: a.seed,
        rows: table.rows.len(),
        columns: names
            .iter()
            .enumerate()
            .map(|(j, n)| ColumnSummary {
                column: n.clone(),
                method: result.methods[j],
                missing: result.n_missing[j],
                final_chain_means: result
                    .chain_means
                    .iter()
                    .map(|chain| chain.last().and_then(|it| it.get(j).copied().flatten()))
                    .collect(),
            })
            .collect(),
        files: written,
    };
    let value = crate::output::with_provenance(&summary, prov)?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| CliError::Output(e.to_string()))?;
    out.write("imputation.json", text.as_bytes())?;
    emit(&summary, prov, json)
}
