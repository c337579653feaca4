//! `evidentia meta ...`: evidence synthesis — pooling, risk of bias, PRISMA flow.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use evidentia_meta::prisma;
use evidentia_meta::rob::{self, RobOptions, RobTool};
use serde::Serialize;

use crate::error::{CliError, CliResult, meta_err};
use crate::output::emit;
use crate::provenance::Provenance;

/// The meta-analysis subcommands.
#[derive(Debug, Subcommand)]
pub enum MetaCommand {
    /// Pool studies: effect sizes from summary data, fixed- or random-effects model,
    /// heterogeneity, subgroups, meta-regression, leave-one-out and small-study bias.
    #[command(
        after_help = "Examples:\n  evidentia meta pool --data bcg.csv --study author --ai tpos --bi tneg --ci cpos --di cneg --measure rr --method dl\n  evidentia meta pool --data trials.csv --m1 m1 --sd1 sd1 --n1 n1 --m2 m2 --sd2 sd2 --n2 n2 --profile cochrane2025 --out figs\n  evidentia meta pool --data es.csv --yi yi --vi vi --moderators \"ablat + year\" --json\n\nReferences: Viechtbauer (2010) metafor; Borenstein et al. (2009); Higgins et al.,\nCochrane Handbook ch. 10 (2024); Egger et al. (1997); Begg & Mazumdar (1994); Duval & Tweedie (2000)."
    )]
    Pool(Box<crate::meta_pool::PoolArgs>),
    /// Risk-of-bias table (RoB 2 or ROBINS-I): overall judgements by each tool's rule,
    /// overrides kept with their reason, and the per-domain summary.
    #[command(
        after_help = "Example:\n  evidentia meta rob --data rob.csv --tool rob2 --out figs\n\nColumns: Study, D1..D5 (RoB 2) or D1..D7 (ROBINS-I), optional Overall, Weight, Reason.\nReferences: Sterne et al. (2019) RoB 2; Sterne et al. (2016) ROBINS-I; McGuinness &\nHiggins (2021) robvis."
    )]
    Rob(RobArgs),
    /// PRISMA 2020 flow from counts, with every box's arithmetic checked.
    #[command(
        after_help = "Example:\n  evidentia meta prisma --data prisma.csv --out figs\n\nThe CSV has the PRISMA2020 R package's `data` and `n` columns (database_results,\nduplicates, records_screened, records_excluded, dbr_assessed, dbr_excluded, new_studies, ...).\nReferences: Page et al. (2021) PRISMA 2020; Haddaway et al. (2022) PRISMA2020 package."
    )]
    Prisma(PrismaArgs),
}

/// Which risk-of-bias tool a table uses.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ToolArg {
    /// Cochrane RoB 2 (randomized trials).
    Rob2,
    /// ROBINS-I (non-randomized studies).
    RobinsI,
}

/// Arguments of `meta rob`.
#[derive(Debug, Args)]
pub struct RobArgs {
    /// CSV with Study, D1..Dn, optional Overall / Weight / Reason.
    #[arg(long)]
    data: PathBuf,
    /// rob2 or robins-i.
    #[arg(long, value_enum)]
    tool: ToolArg,
    /// RoB 2 only: this many "Some concerns" domains make the overall judgement High
    /// (the guidance leaves it to the reviewer; off unless given).
    #[arg(long)]
    some_concerns_to_high: Option<usize>,
    /// Weight the summary bars by the Weight column.
    #[arg(long)]
    weighted: bool,
    /// Directory for the figures (traffic-light and summary plots, SVG and PNG).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `meta prisma`.
#[derive(Debug, Args)]
pub struct PrismaArgs {
    /// CSV with the PRISMA2020 package's `data` and `n` columns.
    #[arg(long)]
    data: PathBuf,
    /// Directory for the flow diagram (SVG and PNG).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn read_text(path: &PathBuf, prov: &mut Provenance) -> CliResult<String> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Io {
        path: path.clone(),
        source,
    })?;
    prov.add_bytes(&path.display().to_string(), &bytes);
    String::from_utf8(bytes).map_err(|e| CliError::Table {
        path: path.clone(),
        message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })
}

#[derive(Serialize)]
struct RobOutput {
    #[serde(flatten)]
    table: rob::RobTable,
    summary: rob::RobSummary,
    figures: Vec<String>,
}

#[derive(Serialize)]
struct PrismaOutput {
    #[serde(flatten)]
    flow: prisma::PrismaFlow,
    figures: Vec<String>,
}

/// Runs one meta-analysis subcommand.
pub fn run(cmd: MetaCommand, json: bool) -> CliResult<()> {
    let mut prov = Provenance::new();
    match cmd {
        MetaCommand::Pool(a) => crate::meta_pool::run(*a, &mut prov, json),
        MetaCommand::Rob(a) => {
            let text = read_text(&a.data, &mut prov)?;
            let tool = match a.tool {
                ToolArg::Rob2 => RobTool::Rob2,
                ToolArg::RobinsI => RobTool::RobinsI,
            };
            let options = RobOptions {
                rob2_some_concerns_to_high: a.some_concerns_to_high,
            };
            let ctx = || meta_err(a.data.display().to_string());
            let table = rob::parse_rob_csv(&text, tool, &options).map_err(ctx())?;
            let summary = rob::summarize(&table, a.weighted).map_err(ctx())?;
            let figures = crate::figures::rob(&table, &summary, a.out.as_deref())?;
            emit(
                &RobOutput {
                    table,
                    summary,
                    figures,
                },
                &prov,
                json,
            )
        }
        MetaCommand::Prisma(a) => {
            let text = read_text(&a.data, &mut prov)?;
            let ctx = || meta_err(a.data.display().to_string());
            let counts = prisma::parse_prisma_csv(&text).map_err(ctx())?;
            let flow = counts.check().map_err(ctx())?;
            let figures = crate::figures::prisma(&flow, a.out.as_deref())?;
            emit(&PrismaOutput { flow, figures }, &prov, json)
        }
    }
}
