//! # evidentia-cli
//!
//! The thin layer behind the `evidentia` binary: argument definitions, reading
//! tables with errors that name the file, row, column and value, the provenance
//! record, and output formatting. All statistics live in `evidentia-stats`.
//!
//! The library target exists so that the table reader can be fuzzed and the
//! commands tested without spawning processes.

pub mod demo;
pub mod demo_meta;
pub mod dti_cmd;
pub mod error;
pub mod figures;
pub mod impute_cmd;
pub mod meta_cmd;
pub mod meta_pool;
pub mod model_cmd;
pub mod model_more;
pub mod outdir;
pub mod output;
pub mod provenance;
pub mod serve_cmd;
pub mod stats_cmd;
pub mod table;
pub mod trial_cmd;
pub mod trial_imaging;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Evidentia: reproducible statistics for cell-therapy clinical research.
#[derive(Debug, Parser)]
#[command(
    name = "evidentia",
    version,
    about = "Evidentia: reproducible statistics and evidence synthesis for cell-therapy clinical research.",
    after_help = "Examples:\n  evidentia demo\n  evidentia stats ttest --data trial.csv --value age --group arm\n  evidentia stats chisq --table \"17,19;15,21\" --json"
)]
pub struct Cli {
    /// Print one JSON object (with a `provenance` key) instead of readable text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Recompute the baseline table (Table 1) of the cerebral-palsy UCT-MSC trial from its
    /// published summary statistics, and flag rows whose p-values cannot be reproduced.
    /// Then pools the trial's 12-month GMFM-66 change with illustrative studies in a
    /// random-effects meta-analysis (forest and funnel plots with --out).
    #[command(
        after_help = "Examples:\n  evidentia demo\n  evidentia demo --out demo-figures --json"
    )]
    Demo(demo::DemoArgs),
    /// Statistical tests, effect sizes and power.
    #[command(subcommand)]
    Stats(stats_cmd::StatsCommand),
    /// Evidence synthesis: meta-analysis, risk of bias, PRISMA flow.
    #[command(subcommand)]
    Meta(meta_cmd::MetaCommand),
    /// Trial data: randomization lists, simulated trials, dataset validation.
    #[command(subcommand)]
    Trial(trial_cmd::TrialCommand),
    /// Diffusion MRI: tensor fitting, masks, gradient checks, BIDS App, tractography.
    #[command(subcommand)]
    Dti(dti_cmd::DtiCommand),
    /// The trial conduct service: web randomization (IWRS) with concealment and blinding,
    /// visit and adverse-event capture, audit trail (browser pages and a JSON API).
    #[command(
        after_help = "Examples:\n  evidentia serve --db trial.db --listen 127.0.0.1:8080\n  evidentia serve verify-audit --db trial.db\n\nAPI: docs/api.md."
    )]
    Serve(serve_cmd::ServeArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(a) => demo::run(a, cli.json),
        Command::Stats(cmd) => stats_cmd::run(cmd, cli.json),
        Command::Meta(cmd) => meta_cmd::run(cmd, cli.json),
        Command::Trial(cmd) => trial_cmd::run(cmd, cli.json),
        Command::Dti(cmd) => dti_cmd::run(cmd, cli.json),
        Command::Serve(a) => serve_cmd::run(a, cli.json),
    }
}
