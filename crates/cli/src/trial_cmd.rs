//! `evidentia trial ...`: randomization lists, simulated trials and dataset validation.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use evidentia_report::ReportError;
use evidentia_trial::dataset::{Disposition, TrialDataset};
use evidentia_trial::randomize::{self, RandomizationQc, RandomizationSpec};
use evidentia_trial::simulate::{self, Design};
use evidentia_trial::{AnalysisPlan, TrialError};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CliError, CliResult};
use crate::outdir::OutDir;
use crate::output::{emit, with_provenance};
use crate::provenance::Provenance;

/// The trial subcommands.
#[derive(Debug, Subcommand)]
pub enum TrialCommand {
    /// Stratified permuted-block randomization list with randomly chosen block sizes
    /// (ChaCha20-seeded: the same seed gives the same list on every machine), and its QC
    /// summary written beside the list as <name>.qc.json.
    #[command(
        after_help = "Example:\n  evidentia trial randomize --arms Control,MSC --ratio 1:1 --strata \"site=A,B,C;gmfcs=II-III,IV-V\" --block-sizes 2,4 --per-stratum 40 --seed 20170819 --out list.csv\n\nReferences: Zelen (1974); Rosenberger & Lachin, Randomization in Clinical Trials (2016), ch. 3 and 7."
    )]
    Randomize(RandomizeArgs),
    /// Write a simulated trial dataset shaped like a source trial (cp-rct: the
    /// 72-participant cerebral-palsy RCT; ards: the 20-patient COVID-19 ARDS trial).
    #[command(
        after_help = "Examples:\n  evidentia trial simulate --design cp-rct --seed 1 --out cp-data\n  evidentia trial validate --data cp-data --plan examples/cp-rct/plan.toml\n\nFormats: docs/trial-dataset.md."
    )]
    Simulate(SimulateArgs),
    /// Check a trial dataset against its analysis plan; prints every problem (file, line,
    /// column, value) and exits with status 2 if there is any.
    #[command(
        after_help = "Example:\n  evidentia trial validate --data cp-data --plan examples/cp-rct/plan.toml\n\nFormats: docs/trial-dataset.md."
    )]
    Validate(ValidateArgs),
    /// Analyse a trial dataset by its plan: Table 1, endpoint tables, safety table,
    /// CONSORT counts and flow diagram, mean ± SEM figures (SVG and PNG), results.json and a
    /// self-contained report.html. Invalid data: every problem is listed and nothing is written.
    #[command(
        after_help = "Example:\n  evidentia trial simulate --design cp-rct --seed 1 --out cp-data\n  evidentia trial analyze --data cp-data --plan examples/cp-rct/plan.toml --out cp-report\n\nFormats: docs/trial-dataset.md."
    )]
    Analyze(AnalyzeArgs),
}

/// Arguments of `trial analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Directory holding the dataset's CSV files.
    #[arg(long)]
    data: PathBuf,
    /// The analysis plan (TOML).
    #[arg(long)]
    plan: PathBuf,
    /// Output directory (results.json, tables, figures, report.html).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Serialize)]
struct AnalyzeOutput {
    report: String,
    files: Vec<String>,
    primary: Vec<evidentia_trial::analysis::PrimaryLine>,
}

/// Arguments of `trial randomize`.
#[derive(Debug, Args)]
pub struct RandomizeArgs {
    /// Arm names, comma-separated.
    #[arg(long)]
    arms: String,
    /// Allocation ratio, colon-separated, one weight per arm.
    #[arg(long, default_value = "1:1")]
    ratio: String,
    /// Stratification factors: "factor=level,level;factor=level,level" (none: one stratum).
    #[arg(long, default_value = "")]
    strata: String,
    /// Block sizes to draw from, comma-separated; each a multiple of the ratio sum.
    #[arg(long)]
    block_sizes: String,
    /// List length in each stratum.
    #[arg(long)]
    per_stratum: u32,
    /// Seed of the ChaCha20 stream.
    #[arg(long)]
    seed: u64,
    /// Path of the list CSV; the QC summary goes beside it as <stem>.qc.json.
    #[arg(long)]
    out: PathBuf,
}

/// The design to simulate.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DesignArg {
    /// Cerebral-palsy UCT-MSC RCT (72 participants, 5 visits).
    CpRct,
    /// COVID-19 ARDS UC-MSC trial (20 patients, days 0/5/10/17).
    Ards,
}

/// Arguments of `trial simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[arg(long, value_enum)]
    design: DesignArg,
    /// Seed of the simulation (and of its randomization list).
    #[arg(long)]
    seed: u64,
    /// Directory for participants.csv, measurements.csv, adverse_events.csv, screening.csv.
    #[arg(long)]
    out: PathBuf,
    /// cp-rct: keep the drawn imaging outcomes (cst_fa, cst_md, ptr_fa, ptr_md) instead of
    /// measuring them on simulated scans with the DTI pipeline (the default, as the demo).
    #[arg(long)]
    drawn_imaging: bool,
}

/// Arguments of `trial validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Directory holding the dataset's CSV files.
    #[arg(long)]
    data: PathBuf,
    /// The analysis plan (TOML).
    #[arg(long)]
    plan: PathBuf,
}

fn trial_err(context: &Path) -> impl FnOnce(TrialError) -> CliError + '_ {
    move |e| match e {
        TrialError::Io { path, source } => CliError::Io { path, source },
        TrialError::InvalidArgument { .. } => CliError::Usage(e.to_string()),
        TrialError::Plan { message, .. } => CliError::Data {
            path: context.to_path_buf(),
            message,
        },
        other => CliError::Data {
            path: context.to_path_buf(),
            message: other.to_string(),
        },
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Serialize)]
struct RandomizeOutput {
    list: String,
    list_sha256: String,
    qc_file: String,
    rows: usize,
    qc: RandomizationQc,
}

/// Arm counts of a dataset, in plan or design order.
#[derive(Serialize)]
struct ArmCount {
    arm: String,
    participants: usize,
    completed: usize,
}

#[derive(Serialize)]
struct DatasetSummary {
    participants: usize,
    arms: Vec<ArmCount>,
    measurements: usize,
    adverse_events: usize,
    screened: Option<usize>,
}

#[derive(Serialize)]
struct SimulateOutput {
    design: Design,
    seed: u64,
    #[serde(flatten)]
    summary: DatasetSummary,
    files: Vec<String>,
    /// cp-rct: how the imaging outcomes were obtained (null when drawn).
    imaging: Option<crate::trial_imaging::ImagingSummary>,
}

#[derive(Serialize)]
struct ValidateOutput {
    valid: bool,
    #[serde(flatten)]
    summary: DatasetSummary,
}

fn summarize(ds: &TrialDataset, arms: &[&str]) -> DatasetSummary {
    DatasetSummary {
        participants: ds.participants.len(),
        arms: arms
            .iter()
            .map(|a| ArmCount {
                arm: a.to_string(),
                participants: ds.arm_participants(a).count(),
                completed: ds
                    .arm_participants(a)
                    .filter(|p| p.disposition == Disposition::Completed)
                    .count(),
            })
            .collect(),
        measurements: ds.measurements.len(),
        adverse_events: ds.adverse_events.len(),
        screened: ds.screening.as_ref().map(Vec::len),
    }
}

/// Runs one trial subcommand.
pub fn run(cmd: TrialCommand, json: bool) -> CliResult<()> {
    let mut prov = Provenance::new();
    match cmd {
        TrialCommand::Randomize(a) => {
            let spec = RandomizationSpec::parse(
                &a.arms,
                &a.ratio,
                &a.strata,
                &a.block_sizes,
                a.per_stratum,
                a.seed,
            )
            .map_err(trial_err(&a.out))?;
            let list = randomize::generate(&spec).map_err(trial_err(&a.out))?;
            prov.seed = Some(a.seed);
            let parent = match a.out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = a
                .out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    CliError::Usage(format!("--out {}: not a file path", a.out.display()))
                })?;
            let stem = a
                .out
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.clone());
            let csv = list.to_csv();
            let dir = OutDir::create(&parent)?;
            let qc_name = format!("{stem}.qc.json");
            let output = RandomizeOutput {
                list: a.out.display().to_string(),
                list_sha256: sha256_hex(csv.as_bytes()),
                qc_file: a.out.with_file_name(&qc_name).display().to_string(),
                rows: list.rows.len(),
                qc: list.qc,
            };
            let qc_json = serde_json::to_string_pretty(&with_provenance(&output, &prov)?)
                .map_err(|e| CliError::Output(e.to_string()))?
                + "\n";
            dir.write(&name, csv.as_bytes())?;
            dir.write(&qc_name, qc_json.as_bytes())?;
            emit(&output, &prov, json)
        }
        TrialCommand::Simulate(a) => {
            let design = match a.design {
                DesignArg::CpRct => Design::CpRct,
                DesignArg::Ards => Design::Ards,
            };
            let mut ds = simulate::simulate(design, a.seed).map_err(trial_err(&a.out))?;
            let imaging = match design {
                Design::CpRct if !a.drawn_imaging => {
                    Some(crate::trial_imaging::measure_imaging(&mut ds, a.seed)?)
                }
                _ => None,
            };
            let files = ds.write(&a.out).map_err(trial_err(&a.out))?;
            prov.seed = Some(a.seed);
            let output = SimulateOutput {
                design,
                seed: a.seed,
                summary: summarize(&ds, &[design.control_arm(), design.treated_arm()]),
                files: files.iter().map(|p| p.display().to_string()).collect(),
                imaging,
            };
            emit(&output, &prov, json)
        }
        TrialCommand::Analyze(a) => {
            prov.add_input(&a.plan)?;
            for name in evidentia_trial::dataset::DATA_FILES {
                let p = a.data.join(name);
                if p.exists() {
                    prov.add_input(&p)?;
                }
            }
            let res = evidentia_trial::analysis::analyze_files(&a.data, &a.plan)
                .map_err(trial_err(&a.data))?;
            prov.seed = res.provenance.seed;
            let files =
                evidentia_report::trial::write_report(&res, &a.out).map_err(|e| match e {
                    ReportError::Trial(e) => trial_err(&a.out)(e),
                    other => CliError::Output(format!("writing the report: {other}")),
                })?;
            let primary = res.primary_lines();
            emit(
                &AnalyzeOutput {
                    report: a.out.join("report.html").display().to_string(),
                    files: files.iter().map(|p| p.display().to_string()).collect(),
                    primary,
                },
                &prov,
                json,
            )
        }
        TrialCommand::Validate(a) => {
            prov.add_input(&a.plan)?;
            let plan = AnalysisPlan::load(&a.plan).map_err(trial_err(&a.plan))?;
            for name in evidentia_trial::dataset::DATA_FILES {
                let p = a.data.join(name);
                if p.exists() {
                    prov.add_input(&p)?;
                }
            }
            let ds = TrialDataset::load(&a.data, &plan).map_err(trial_err(&a.data))?;
            let arms: Vec<&str> = plan.arms.iter().map(|x| x.name.as_str()).collect();
            emit(
                &ValidateOutput {
                    valid: true,
                    summary: summarize(&ds, &arms),
                },
                &prov,
                json,
            )
        }
    }
}
