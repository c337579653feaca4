//! `evidentia demo`: recomputes the baseline comparisons of the cerebral-palsy UCT-MSC
//! trial (seed paper 000, Table 1; n = 36 per arm) from its published summary
//! statistics, and sets each reported p-value beside the recomputed one.
//!
//! Continuous rows: Student's t test from mean, SD and n (the paper's "independent
//! sample t test"), with the range of p that the rounding of the printed numbers
//! allows. Categorical rows: Pearson's chi-square (the paper's test), with Yates and
//! Fisher shown for comparison. A row is reproduced when the reported p, itself
//! rounded as printed, overlaps what the published numbers allow.
//!
//! It then simulates the trial (its imaging outcomes measured by the DTI pipeline on
//! simulated scans, see [`crate::trial_imaging`]) and analyses it.

use std::path::{Path, PathBuf};

use clap::Args;

use evidentia_stats::Alternative;
use evidentia_stats::contingency::{ContingencyTable, chi_square, fisher_exact, fisher_exact_rxc};
use evidentia_stats::ttest::{RoundedSummary, Variance, summary_p_range};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::output::emit;
use crate::provenance::Provenance;
use crate::table::Table;

const TABLE1: &str = include_str!("../data/cp_trial_table1.csv");
const TABLE1_NAME: &str = "embedded:cp_trial_table1.csv";
const N_PER_ARM: usize = 36;

/// One recomputed row of Table 1.
#[derive(Debug, Serialize)]
struct Row {
    row: String,
    test: &'static str,
    control: String,
    uct_msc: String,
    reported_p: f64,
    /// The reported p exactly as printed in the paper.
    reported_p_text: String,
    recomputed_p: f64,
    /// Range of p compatible with the rounding of the printed summaries (t tests).
    p_range: Option<[f64; 2]>,
    /// Other tests' p for the same table (categorical rows): Yates and Fisher.
    yates_p: Option<f64>,
    fisher_p: Option<f64>,
    reproduced: bool,
    note: Option<String>,
}

/// Options of `evidentia demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's outputs: the simulated trial (data/, plan.toml), its
    /// analysis (report/report.html, tables, figures) and the meta-analysis figures
    /// (default: evidentia-demo in the system's temporary directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the simulated trial.
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
}

#[derive(Debug, Serialize)]
struct Demo {
    source: &'static str,
    n_per_arm: usize,
    rows: Vec<Row>,
    reproduced: usize,
    not_reproduced: usize,
    meta_analysis: crate::demo_meta::DemoMeta,
    simulated_trial: SimulatedTrial,
}

/// The simulate → analyze part of the demo.
#[derive(Debug, Serialize)]
struct SimulatedTrial {
    design: &'static str,
    seed: u64,
    data: String,
    plan: String,
    report: String,
    /// The primary endpoint's between-arm difference at each visit.
    primary: Vec<evidentia_trial::analysis::PrimaryLine>,
    /// How the imaging outcomes were obtained: simulated scans measured by the DTI pipeline.
    imaging: crate::trial_imaging::ImagingSummary,
}

/// Simulates the CP trial, writes it with its plan, analyses it and writes the report.
fn simulated_trial(out: &Path, seed: u64, prov: &mut Provenance) -> CliResult<SimulatedTrial> {
    use evidentia_trial::simulate::{Design, simulate};
    let fail = |what: &'static str| {
        move |e: evidentia_trial::TrialError| CliError::Output(format!("demo ({what}): {e}"))
    };
    let data = out.join("data");
    let mut ds = simulate(Design::CpRct, seed).map_err(fail("simulating the trial"))?;
    // The imaging outcomes are measured on simulated scans, not drawn.
    let imaging = crate::trial_imaging::measure_imaging(&mut ds, seed)?;
    ds.write(&data)
        .map_err(fail("writing the simulated data"))?;
    let plan = crate::outdir::OutDir::create(out)?
        .write("plan.toml", Design::CpRct.example_plan().as_bytes())?;
    prov.seed = Some(seed);
    let res = evidentia_trial::analysis::analyze_files(&data, &plan)
        .map_err(fail("analysing the simulated trial"))?;
    let report_dir = out.join("report");
    evidentia_report::trial::write_report(&res, &report_dir)
        .map_err(|e| CliError::Output(format!("demo (writing the report): {e}")))?;
    let primary = res.primary_lines();
    Ok(SimulatedTrial {
        design: "cp-rct",
        seed,
        data: data.display().to_string(),
        plan: plan.display().to_string(),
        report: report_dir.join("report.html").display().to_string(),
        primary,
        imaging,
    })
}

fn decimals(s: &str) -> u32 {
    s.split_once('.').map_or(0, |(_, f)| f.len() as u32)
}

fn bad(line: u64, column: &str, value: &str, expected: &str) -> CliError {
    CliError::Cell {
        path: TABLE1_NAME.into(),
        line,
        column: column.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

fn parse_f64(line: u64, column: &str, s: &str) -> CliResult<f64> {
    s.trim()
        .parse()
        .map_err(|_| bad(line, column, s, "is not a number"))
}

/// Whether a p-value printed with `d` decimals is compatible with the interval [lo, hi].
fn overlaps(reported: f64, d: u32, lo: f64, hi: f64) -> bool {
    let h = 0.5 * 10f64.powi(-(d as i32));
    reported - h <= hi && reported + h >= lo
}

fn continuous(line: u64, row: &str, c: &str, t: &str, p_text: &str) -> CliResult<Row> {
    let parse = |col: &str, s: &str| -> CliResult<RoundedSummary> {
        let (m, sd) = s
            .split_once('|')
            .ok_or_else(|| bad(line, col, s, "should be MEAN|SD"))?;
        Ok(RoundedSummary {
            mean: parse_f64(line, col, m)?,
            mean_decimals: decimals(m),
            sd: parse_f64(line, col, sd)?,
            sd_decimals: decimals(sd),
            n: N_PER_ARM,
        })
    };
    let (a, b) = (parse("control", c)?, parse("uct_msc", t)?);
    let range = summary_p_range(a, b, Variance::Pooled)
        .map_err(CliError::stats(format!("Table 1, {row}")))?;
    let reported = parse_f64(line, "reported_p", p_text)?;
    let reproduced = overlaps(reported, decimals(p_text), range.p_min, range.p_max);
    let note = if row.starts_with("FA") && (a.sd > 0.2 || b.sd > 0.2) {
        Some("SDs as printed are implausible for FA on [0, 1] (a misplaced decimal?)".into())
    } else {
        None
    };
    let show = |text: &str| {
        let (m, sd) = text.split_once('|').unwrap_or((text, ""));
        format!("{m} ({sd})")
    };
    Ok(Row {
        row: row.into(),
        test: "Student t",
        control: show(c),
        uct_msc: show(t),
        reported_p: reported,
        reported_p_text: p_text.into(),
        recomputed_p: range.p_value,
        p_range: Some([range.p_min, range.p_max]),
        yates_p: None,
        fisher_p: None,
        reproduced,
        note,
    })
}

fn categorical(
    line: u64,
    row: &str,
    levels: &str,
    c: &str,
    t: &str,
    p_text: &str,
) -> CliResult<Row> {
    let counts = |col: &str, s: &str| -> CliResult<Vec<u64>> {
        s.split('|')
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(line, col, v, "is not a whole count"))
            })
            .collect()
    };
    let (cc, tc) = (counts("control", c)?, counts("uct_msc", t)?);
    // Arms are the rows of the table, levels its columns.
    let table = ContingencyTable::new(vec![cc.clone(), tc.clone()])
        .map_err(CliError::stats(format!("Table 1, {row}")))?;
    let ctx = || CliError::stats(format!("Table 1, {row}"));
    let pearson = chi_square(&table, false).map_err(ctx())?;
    // Fisher's exact test for 2×2, Fisher–Freeman–Halton's for larger tables.
    let fisher = if table.is_2x2() {
        Some(
            fisher_exact(&table, Alternative::TwoSided, 0.95)
                .map_err(ctx())?
                .p_value,
        )
    } else {
        Some(fisher_exact_rxc(&table).map_err(ctx())?.p_value)
    };
    let yates = if table.is_2x2() {
        Some(chi_square(&table, true).map_err(ctx())?.p_value)
    } else {
        None
    };
    let reported = parse_f64(line, "reported_p", p_text)?;
    let d = decimals(p_text);
    let reproduced = overlaps(reported, d, pearson.p_value, pearson.p_value);
    let alternatives: Vec<&str> = [("Yates", yates), ("Fisher", fisher)]
        .iter()
        .filter(|(_, p)| p.is_some_and(|p| overlaps(reported, d, p, p)))
        .map(|(n, _)| *n)
        .collect();
    let mut notes = Vec::new();
    if !pearson.warnings.is_empty() {
        notes.push("more than 20% of expected counts below 5".to_string());
    }
    if !reproduced && !alternatives.is_empty() {
        notes.push(format!(
            "reported p matches {} instead",
            alternatives.join(" and ")
        ));
    }
    let fmt = |v: &[u64]| {
        levels
            .split('|')
            .zip(v)
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Row {
        row: row.into(),
        test: "Pearson chi-square",
        control: fmt(&cc),
        uct_msc: fmt(&tc),
        reported_p: reported,
        reported_p_text: p_text.into(),
        recomputed_p: pearson.p_value,
        p_range: None,
        yates_p: yates,
        fisher_p: fisher,
        reproduced,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Recomputes Table 1 and prints it (or its JSON).
pub fn run(args: DemoArgs, json: bool) -> CliResult<()> {
    let mut prov = Provenance::new();
    prov.add_bytes(TABLE1_NAME, TABLE1.as_bytes());
    let table = Table::parse(Path::new(TABLE1_NAME), TABLE1.as_bytes())?;
    let col = |name: &str| table.column(name);
    let (jr, jk, jl, jc, jt, jp) = (
        col("row")?,
        col("kind")?,
        col("levels")?,
        col("control")?,
        col("uct_msc")?,
        col("reported_p")?,
    );
    let mut rows = Vec::new();
    for (line, r) in &table.rows {
        let row = match r[jk].as_str() {
            "continuous" => continuous(*line, &r[jr], &r[jc], &r[jt], &r[jp])?,
            "categorical" => categorical(*line, &r[jr], &r[jl], &r[jc], &r[jt], &r[jp])?,
            other => {
                return Err(bad(
                    *line,
                    "kind",
                    other,
                    "should be continuous or categorical",
                ));
            }
        };
        rows.push(row);
    }
    let reproduced = rows.iter().filter(|r| r.reproduced).count();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("evidentia-demo"));
    let meta_analysis = crate::demo_meta::run(&mut prov, Some(&out.join("meta")))?;
    let simulated_trial = simulated_trial(&out, args.seed, &mut prov)?;
    let demo = Demo {
        simulated_trial,
        meta_analysis,
        source: "Table 1 of the UCT-MSC cerebral palsy RCT (shared/seeds/000_*): control vs UCT-MSC",
        n_per_arm: N_PER_ARM,
        not_reproduced: rows.len() - reproduced,
        reproduced,
        rows,
    };
    if json {
        return emit(&demo, &prov, true);
    }
    print!("{}", render(&demo));
    print!("{}", crate::demo_meta::render(&demo.meta_analysis));
    let t = &demo.simulated_trial;
    print!(
        "\nSimulated CP trial (seed {}): data in {}, analysed with {}.\n",
        t.seed, t.data, t.plan
    );
    for p in &t.primary {
        println!(
            "  {} {}: difference {:.2} [{:.2}, {:.2}], p = {}",
            p.outcome,
            p.visit,
            p.estimate,
            p.ci[0],
            p.ci[1],
            fmt_p(p.p_value)
        );
    }
    let im = &t.imaging;
    println!(
        "Imaging outcomes: {} ({}; SNR {}, {} directions; simulated vs measured FA: largest \
         difference {:.4}, mean {:+.4}).",
        im.source,
        im.version,
        im.options.snr,
        im.options.n_dirs,
        im.max_abs_fa_error,
        im.mean_fa_error
    );
    println!("Report: {}", t.report);
    Ok(())
}

fn render(d: &Demo) -> String {
    let mut s = format!(
        "{}\nn = {} per arm. Continuous rows: Student t from the published mean (SD); the range is\n\
         what the rounding of those numbers allows. Categorical rows: Pearson chi-square.\n\n",
        d.source, d.n_per_arm
    );
    s.push_str(&format!(
        "{:<42} {:<18} {:>10} {:>12} {:>19}  {}\n",
        "row", "test", "reported p", "recomputed p", "p range (rounding)", "verdict"
    ));
    s.push_str(&format!("{}\n", "-".repeat(120)));
    for r in &d.rows {
        let range = r.p_range.map_or(String::new(), |[lo, hi]| {
            format!("{}–{}", fmt_p(lo), fmt_p(hi))
        });
        s.push_str(&format!(
            "{:<42} {:<18} {:>10} {:>12} {:>19}  {}\n",
            r.row,
            r.test,
            r.reported_p_text,
            fmt_p(r.recomputed_p),
            range,
            if r.reproduced {
                "reproduced"
            } else {
                "NOT REPRODUCED"
            }
        ));
        match (r.yates_p, r.fisher_p) {
            (Some(y), Some(f)) => s.push_str(&format!(
                "{:<42} (Yates p = {}, Fisher p = {})\n",
                "",
                fmt_p(y),
                fmt_p(f)
            )),
            (None, Some(f)) => s.push_str(&format!(
                "{:<42} (Fisher–Freeman–Halton exact p = {})\n",
                "",
                fmt_p(f)
            )),
            _ => {}
        }
        if let Some(n) = &r.note {
            s.push_str(&format!("{:<42} note: {n}\n", ""));
        }
    }
    s.push_str(&format!(
        "\n{} of {} rows reproduced; {} cannot be reproduced from the published numbers.\n",
        d.reproduced,
        d.rows.len(),
        d.not_reproduced
    ));
    s
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}
