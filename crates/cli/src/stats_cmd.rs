//! `evidentia stats ...`: argument parsing and wiring for the statistics core.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use evidentia_stats::Alternative;
use evidentia_stats::contingency::{self, ContingencyTable};
use evidentia_stats::descriptive::{self, DescribeOptions, QuantileMethod};
use evidentia_stats::effect_size::{self, EffectSizeCi};
use evidentia_stats::normality::{self, LillieforsPValue, NormalityResult, NormalityTest};
use evidentia_stats::power::{self, EffectSizeSpec, RmAnovaDesign, RmEffect};
use evidentia_stats::ranks::{
    self, MannWhitneyOptions, MannWhitneyResult, RankMethod, WilcoxonOptions, WilcoxonResult,
    ZeroMethod,
};
use evidentia_stats::rm_anova::{self, HuynhFeldt, RmAnovaOptions};
use evidentia_stats::ttest::{
    self, GroupSummary, LeveneCenter, LeveneResult, TTestResult, Variance,
};
use serde::Serialize;

use crate::error::{CliError, CliResult};
use crate::output::emit;
use crate::provenance::Provenance;
use crate::table::Table;

/// The statistics subcommands.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// n, mean, SD, SEM, median, quartiles, IQR, range and the t-based CI of the mean.
    #[command(
        after_help = "Example:\n  evidentia stats describe --data trial.csv --value age --group arm"
    )]
    Describe(DescribeArgs),
    /// Normality per group: Shapiro–Wilk (AS R94) or Lilliefors-corrected Kolmogorov–Smirnov.
    #[command(
        after_help = "Examples:\n  evidentia stats normality --data trial.csv --value gmfm --group arm --test shapiro\n  evidentia stats normality --data trial.csv --value gmfm --test lilliefors\n\nReferences: Royston (1995) AS R94; Lilliefors (1967); Dallal & Wilkinson (1986).\nThe Lilliefors p-value is interpolated in a table simulated for Evidentia (200,000\nreplicates per n, seeded ChaCha8); SPSS prints .200 as a lower bound above that value,\nreported here as spss_p_display and p_is_lower_bound."
    )]
    Normality(NormalityArgs),
    /// Independent (Student or Welch), paired or one-sample t test, with Cohen's d and Hedges' g.
    #[command(
        after_help = "Examples:\n  evidentia stats ttest --data trial.csv --value age --group arm [--welch]\n  evidentia stats ttest --data trial.csv --value fa_12m --paired-with fa_0m\n  evidentia stats ttest --summary 102.5,29.9,36 101.7,32.1,36\n\nReferences: Welch (1947); Hedges (1981) for the exact J of g; Steiger & Fouladi (1997)\nfor the noncentral-t CI of d; Hedges & Olkin (1985) for the normal-approximation CI."
    )]
    Ttest(TtestArgs),
    /// Wilcoxon signed-rank test of paired columns (exact, exact with ties, or normal).
    #[command(
        after_help = "Example:\n  evidentia stats wilcoxon --data trial.csv --value day14 --paired-with day0 --method auto\n\nstatistic is W+ (as R's V); statistic_min is min(W+, W-) (scipy's two-sided statistic).\nmethod auto follows scipy 1.17: exact if n <= 50 without ties or zeros, the exact\npermutation distribution with ties or zeros if n <= 13, else normal. exact works for any n.\nReferences: Wilcoxon (1945); Pratt (1959) for zero_method pratt."
    )]
    Wilcoxon(WilcoxonArgs),
    /// Mann–Whitney U test of two groups (exact, exact with ties, or normal).
    #[command(
        after_help = "Example:\n  evidentia stats mannwhitney --data trial.csv --value mas --group arm\n\nstatistic is U of the first group in sorted label order (scipy's U1, R's W).\nmethod auto follows scipy 1.17: exact if min(n1, n2) <= 8 and no ties, else normal.\nThe continuity correction is off unless --continuity (scipy and pingouin default to on).\nReference: Mann & Whitney (1947)."
    )]
    Mannwhitney(MannWhitneyArgs),
    /// Repeated-measures ANOVA (one within factor, optional between factor) with Mauchly's
    /// test, Greenhouse–Geisser / Huynh–Feldt / lower-bound corrections and η² (long format).
    #[command(
        name = "rm-anova",
        after_help = "Example:\n  evidentia stats rm-anova --data long.csv --subject id --within day --between arm --value il6\n\nIncomplete subjects are excluded listwise and listed in `excluded`. Huynh–Feldt is\nreported in both variants; p_hf uses Lecoutre's (R car) unless --huynh-feldt original.\nReferences: Greenhouse & Geisser (1959); Huynh & Feldt (1976); Lecoutre (1991);\nMauchly (1940); Olejnik & Algina (2003) for generalized eta squared."
    )]
    RmAnova(RmAnovaArgs),
    /// Linear model, GLM or GEE from a formula, with Wald tests of terms (long-format data).
    #[command(
        after_help = "Examples:\n  evidentia stats model --data trial.csv --formula \"gmfm ~ arm * C(visit) + age\"\n  evidentia stats model --data trial.csv --formula \"gmfm ~ arm * C(visit) + age + weight + C(gmfcs)\" \\\n      --gee --groups id --time visit --corr exchangeable --cov robust --test \"arm:visit\"\n\nGEE follows statsmodels 0.15 (start from the GLM, maxiter 60, stop when the score norm\n< 1e-6). Covariances: robust (Liang & Zeger 1986), naive, mancl-derouen (Mancl & DeRouen\n2001; statsmodels bias_reduced), kauermann-carroll (Kauermann & Carroll 2001),\nfay-graubard (Fay & Graubard 2001, b = 0.75). --f-test adds F on (q, clusters - p) df.\n--mmrm and --impute are reserved and answer \"not yet available\"."
    )]
    Model(crate::model_cmd::ModelArgs),
    /// Levene's test of equal variances (mean-centred as SPSS, or median-centred Brown–Forsythe).
    #[command(
        after_help = "Example:\n  evidentia stats levene --data trial.csv --value age --group arm --center mean"
    )]
    Levene(LeveneArgs),
    /// Pearson chi-square test of independence (optional Yates correction), with G² and expected counts.
    #[command(
        after_help = "Examples:\n  evidentia stats chisq --data trial.csv --rows arm --cols sex\n  evidentia stats chisq --table \"17,19;15,21\" --yates"
    )]
    Chisq(ChisqArgs),
    /// Fisher's exact test: for a 2×2 table with the sample and conditional-MLE odds
    /// ratios; for a larger r×c table the two-sided Fisher–Freeman–Halton test.
    #[command(
        after_help = "Examples:\n  evidentia stats fisher --table \"3,1;1,3\"\n  evidentia stats fisher --table \"5,8,6,3;9,4,7,2\"\n\nReferences: Fisher (1935); Freeman & Halton (1951); Mehta & Patel (1983); R fisher.test for the conditional MLE and its CI."
    )]
    Fisher(FisherArgs),
    /// Power and sample size: the two-sample t test and G*Power's repeated-measures ANOVA.
    /// Multiple imputation by chained equations (predictive mean matching or Bayesian
    /// regression draws; logistic draws for 0/1 columns), seeded: writes m completed tables.
    #[command(
        after_help = "Example:\n  evidentia stats impute --data wide.csv --columns gmfm0,gmfm1,gmfm3,gmfm6,gmfm12,age --m 20 --iterations 10 --seed 7 --out imputed\n\nReferences: van Buuren & Groothuis-Oudshoorn (2011) mice; Rubin (1987);\nSchenker & Taylor (1996) predictive mean matching."
    )]
    Impute(crate::impute_cmd::ImputeArgs),
    #[command(subcommand)]
    Power(PowerCommand),
}

/// The power subcommands.
#[derive(Debug, Subcommand)]
pub enum PowerCommand {
    /// Two-sample t test (noncentral t): power for given n, or n for a target power.
    #[command(
        after_help = "Examples:\n  evidentia stats power ttest --d 0.5 --power 0.8\n  evidentia stats power ttest --d 0.5 --n1 36 --n2 36\n\nReferences: Cohen (1988), ch. 2; statsmodels TTestIndPower."
    )]
    Ttest(PowerTtestArgs),
    /// Repeated-measures ANOVA, within-subject effect (G*Power 3.1).
    #[command(after_help = RM_HELP)]
    RmWithin(RmArgs),
    /// Repeated-measures ANOVA, between-subject effect (G*Power 3.1).
    #[command(after_help = RM_HELP)]
    RmBetween(RmArgs),
    /// Repeated-measures ANOVA, within-between interaction (G*Power 3.1).
    #[command(after_help = RM_HELP)]
    RmInteraction(RmArgs),
}

const RM_HELP: &str = "Examples:\n  evidentia stats power rm-interaction --f 0.25 --groups 2 --measurements 5 --rho 0.5 --power 0.8\n  evidentia stats power rm-within --eta2 0.05 --measurements 3 --spec spss --power 0.8\n\nReferences: Faul et al. (2007) G*Power 3; pwrss::power.f.mixed.anova for the noncentrality.";

/// Arguments of `stats power ttest`.
#[derive(Debug, Args)]
pub struct PowerTtestArgs {
    /// Cohen's d to detect.
    #[arg(long, allow_hyphen_values = true)]
    d: f64,
    /// Significance level.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Target power: solve for the sample size.
    #[arg(long, conflicts_with_all = ["n1", "n2"], required_unless_present = "n1")]
    power: Option<f64>,
    /// Size of group 1: compute the power.
    #[arg(long, requires = "n2")]
    n1: Option<f64>,
    /// Size of group 2.
    #[arg(long)]
    n2: Option<f64>,
    /// n2/n1 when solving for the sample size.
    #[arg(long, default_value_t = 1.0)]
    ratio: f64,
    /// two-sided, less or greater.
    #[arg(long, default_value = "two-sided")]
    alternative: Alternative,
}

/// Arguments of the repeated-measures power subcommands.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Cohen's f.
    #[arg(
        long,
        required_unless_present = "eta2",
        conflicts_with = "eta2",
        allow_hyphen_values = true
    )]
    f: Option<f64>,
    /// Partial eta squared (converted to f = √(η²/(1−η²))).
    #[arg(long)]
    eta2: Option<f64>,
    /// Number of groups k.
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Number of measurements m.
    #[arg(long)]
    measurements: usize,
    /// Correlation among the repeated measures.
    #[arg(long, default_value_t = 0.5)]
    rho: f64,
    /// Nonsphericity correction ε (1 = sphericity).
    #[arg(long, default_value_t = 1.0)]
    epsilon: f64,
    /// G*Power's effect-size specification: default, spss or cohen.
    #[arg(long, default_value = "default")]
    spec: EffectSizeSpec,
    /// Significance level.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Target power: solve for the total sample size.
    #[arg(long, conflicts_with = "n", required_unless_present = "n")]
    power: Option<f64>,
    /// Total sample size: compute the power.
    #[arg(long)]
    n: Option<usize>,
    /// Allow any N (G*Power rounds N up to a multiple of the groups; this does not).
    #[arg(long)]
    any_n: bool,
}

/// Where a table comes from and how to describe a numeric column.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// CSV or TSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// Numeric column to describe.
    #[arg(long)]
    value: String,
    /// Optional grouping column; groups are reported in sorted order.
    #[arg(long)]
    group: Option<String>,
    /// Quartile definition: type7 (R, numpy) or type6 (SPSS weighted average).
    #[arg(long, default_value = "type7")]
    quantiles: QuantileMethod,
    /// Coverage of the CI of the mean.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
}

/// Arguments of `stats normality`.
#[derive(Debug, Args)]
pub struct NormalityArgs {
    /// CSV or TSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// Numeric column to test.
    #[arg(long)]
    value: String,
    /// Optional grouping column; each group is tested separately, in sorted order.
    #[arg(long)]
    group: Option<String>,
    /// shapiro (Shapiro–Wilk) or lilliefors (Kolmogorov–Smirnov with Lilliefors' correction).
    #[arg(long)]
    test: NormalityTest,
    /// Lilliefors p-value: table (simulated; default) or approx (Dallal–Wilkinson, valid for p < 0.1).
    #[arg(long, default_value = "table")]
    lilliefors_p: LillieforsPValue,
}

/// Arguments of `stats ttest`.
#[derive(Debug, Args)]
pub struct TtestArgs {
    /// CSV or TSV file with a header row.
    #[arg(long, required_unless_present = "summary")]
    data: Option<PathBuf>,
    /// Numeric column (the first of a pair with --paired-with).
    #[arg(long, required_unless_present = "summary")]
    value: Option<String>,
    /// Grouping column with exactly two levels (difference = first − second in sorted order).
    #[arg(long, conflicts_with_all = ["paired_with", "summary"])]
    group: Option<String>,
    /// Second column of a paired test (difference = value − paired-with).
    #[arg(long, conflicts_with = "summary")]
    paired_with: Option<String>,
    /// Two groups given as MEAN,SD,N MEAN,SD,N (a published table).
    #[arg(long, num_args = 2, value_names = ["MEAN,SD,N", "MEAN,SD,N"])]
    summary: Option<Vec<GroupSummary>>,
    /// Welch's test (unequal variances) instead of Student's.
    #[arg(long)]
    welch: bool,
    /// Null value of the mean for a one-sample test (no --group, no --paired-with).
    #[arg(long, default_value_t = 0.0)]
    mu: f64,
    /// two-sided, less or greater.
    #[arg(long, default_value = "two-sided")]
    alternative: Alternative,
    /// Coverage of the confidence intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// CI of Cohen's d: noncentral-t, hedges-olkin or hedges-olkin-t.
    #[arg(long, default_value = "noncentral-t")]
    ci_method: EffectSizeCi,
}

/// Arguments of `stats wilcoxon`.
#[derive(Debug, Args)]
pub struct WilcoxonArgs {
    /// CSV or TSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// First column (differences are value − paired-with).
    #[arg(long)]
    value: String,
    /// Second column.
    #[arg(long)]
    paired_with: String,
    /// auto, exact or normal.
    #[arg(long, default_value = "auto")]
    method: RankMethod,
    /// wilcox (drop zeros), pratt (rank zeros, then drop) or zsplit (split their ranks).
    #[arg(long, default_value = "wilcox")]
    zero_method: ZeroMethod,
    /// Continuity correction of the normal approximation (R's default; off as scipy).
    #[arg(long)]
    continuity: bool,
    /// two-sided, less or greater.
    #[arg(long, default_value = "two-sided")]
    alternative: Alternative,
}

/// Arguments of `stats mannwhitney`.
#[derive(Debug, Args)]
pub struct MannWhitneyArgs {
    /// CSV or TSV file with a header row.
    #[arg(long)]
    data: PathBuf,
    /// Numeric column.
    #[arg(long)]
    value: String,
    /// Grouping column with exactly two levels (first in sorted order is the U group).
    #[arg(long)]
    group: String,
    /// auto, exact or normal.
    #[arg(long, default_value = "auto")]
    method: RankMethod,
    /// Continuity correction of the normal approximation.
    #[arg(long)]
    continuity: bool,
    /// two-sided, less or greater.
    #[arg(long, default_value = "two-sided")]
    alternative: Alternative,
}

/// Arguments of `stats rm-anova`.
#[derive(Debug, Args)]
pub struct RmAnovaArgs {
    /// CSV or TSV file in long format (one row per subject and level).
    #[arg(long)]
    data: PathBuf,
    /// Subject identifier column.
    #[arg(long)]
    subject: String,
    /// Within-subject factor column (e.g. the visit).
    #[arg(long)]
    within: String,
    /// Optional between-subject factor column (e.g. the arm).
    #[arg(long)]
    between: Option<String>,
    /// Outcome column.
    #[arg(long)]
    value: String,
    /// Huynh–Feldt variant used for p_hf: lecoutre (R car) or original (Huynh & Feldt 1976).
    #[arg(long, default_value = "lecoutre")]
    huynh_feldt: HuynhFeldt,
    /// Also run Friedman's test (one-way designs only).
    #[arg(long)]
    friedman: bool,
}

/// Arguments of `stats levene`.
#[derive(Debug, Args)]
pub struct LeveneArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    value: String,
    #[arg(long)]
    group: String,
    /// mean (Levene, SPSS) or median (Brown–Forsythe, scipy's default).
    #[arg(long, default_value = "mean")]
    center: LeveneCenter,
}

/// A contingency table from a file or typed in.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// CSV or TSV file with a header row.
    #[arg(long, requires_all = ["rows", "cols"], conflicts_with = "table")]
    data: Option<PathBuf>,
    /// Column whose levels are the table's rows.
    #[arg(long)]
    rows: Option<String>,
    /// Column whose levels are the table's columns.
    #[arg(long)]
    cols: Option<String>,
    /// Counts typed in: rows separated by ';', cells by ',' (e.g. "17,19;15,21").
    #[arg(long, required_unless_present = "data")]
    table: Option<ContingencyTable>,
}

/// Arguments of `stats chisq`.
#[derive(Debug, Args)]
pub struct ChisqArgs {
    #[command(flatten)]
    table: TableArgs,
    /// Apply Yates' continuity correction (2×2 tables only; SPSS's "Continuity Correction" row).
    #[arg(long)]
    yates: bool,
}

/// Arguments of `stats fisher`.
#[derive(Debug, Args)]
pub struct FisherArgs {
    #[command(flatten)]
    table: TableArgs,
    /// two-sided, less or greater.
    #[arg(long, default_value = "two-sided")]
    alternative: Alternative,
    /// Coverage of the CI of the odds ratio.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
}

/// The r×c exact test's result, named.
#[derive(Serialize)]
struct FfhOutput {
    test: &'static str,
    #[serde(flatten)]
    result: contingency::FisherRxcResult,
}

/// Reads a table and records it in the provenance.
fn read_table(path: &Path, prov: &mut Provenance) -> CliResult<Table> {
    let table = Table::read(path)?;
    prov.add_input(path)?;
    Ok(table)
}

/// Runs one statistics subcommand.
pub fn run(cmd: StatsCommand, json: bool) -> CliResult<()> {
    let mut prov = Provenance::new();
    match cmd {
        StatsCommand::Describe(a) => describe(a, &mut prov, json),
        StatsCommand::Normality(a) => normality_cmd(a, &mut prov, json),
        StatsCommand::Ttest(a) => ttest_cmd(a, &mut prov, json),
        StatsCommand::Wilcoxon(a) => wilcoxon_cmd(a, &mut prov, json),
        StatsCommand::Mannwhitney(a) => mannwhitney_cmd(a, &mut prov, json),
        StatsCommand::RmAnova(a) => rm_anova_cmd(a, &mut prov, json),
        StatsCommand::Levene(a) => levene(a, &mut prov, json),
        StatsCommand::Model(a) => crate::model_cmd::run(a, &mut prov, json),
        StatsCommand::Chisq(a) => {
            let (table, missing) = contingency_table(&a.table, &mut prov)?;
            let r = contingency::chi_square(&table, a.yates)
                .map_err(CliError::stats("chi-square test"))?;
            emit(
                &TableOutput {
                    table,
                    missing,
                    result: r,
                },
                &prov,
                json,
            )
        }
        StatsCommand::Fisher(a) => {
            let (table, missing) = contingency_table(&a.table, &mut prov)?;
            if !table.is_2x2() {
                if a.alternative != Alternative::TwoSided {
                    return Err(CliError::Usage(
                        "--alternative less/greater needs a 2×2 table; larger tables get the \
                         two-sided Fisher–Freeman–Halton test"
                            .into(),
                    ));
                }
                let r = contingency::fisher_exact_rxc(&table)
                    .map_err(CliError::stats("Fisher–Freeman–Halton exact test"))?;
                return emit(
                    &TableOutput {
                        table,
                        missing,
                        result: FfhOutput {
                            test: "Fisher–Freeman–Halton exact test (two-sided)",
                            result: r,
                        },
                    },
                    &prov,
                    json,
                );
            }
            let r = contingency::fisher_exact(&table, a.alternative, a.confidence)
                .map_err(CliError::stats("Fisher's exact test"))?;
            emit(
                &TableOutput {
                    table,
                    missing,
                    result: r,
                },
                &prov,
                json,
            )
        }
        StatsCommand::Impute(a) => crate::impute_cmd::run(a, &mut prov, json),
        StatsCommand::Power(p) => power_cmd(p, &prov, json),
    }
}

fn power_cmd(cmd: PowerCommand, prov: &Provenance, json: bool) -> CliResult<()> {
    let (effect, a) = match cmd {
        PowerCommand::Ttest(a) => {
            let r = match (a.power, a.n1, a.n2) {
                (Some(target), _, _) => {
                    power::two_sample_t_sample_size(a.d, target, a.alpha, a.alternative, a.ratio)
                }
                (None, Some(n1), Some(n2)) => {
                    power::two_sample_t_power(a.d, n1, n2, a.alpha, a.alternative)
                }
                _ => {
                    return Err(CliError::Usage(
                        "stats power ttest needs --power, or --n1 and --n2".into(),
                    ));
                }
            }
            .map_err(CliError::stats("two-sample t test power"))?;
            return emit(&r, prov, json);
        }
        PowerCommand::RmWithin(a) => (RmEffect::Within, a),
        PowerCommand::RmBetween(a) => (RmEffect::Between, a),
        PowerCommand::RmInteraction(a) => (RmEffect::Interaction, a),
    };
    let ctx = || CliError::stats("repeated-measures ANOVA power");
    let f = match (a.f, a.eta2) {
        (Some(f), _) => f,
        (None, Some(e)) => power::f_from_partial_eta_squared(e).map_err(ctx())?,
        (None, None) => return Err(CliError::Usage("give --f or --eta2".into())),
    };
    let design = RmAnovaDesign {
        effect,
        effect_size_spec: a.spec,
        groups: a.groups,
        measurements: a.measurements,
        rho: a.rho,
        epsilon: a.epsilon,
        alpha: a.alpha,
    };
    let r = match (a.power, a.n) {
        (Some(target), _) => power::rm_anova_sample_size(&design, f, target, !a.any_n),
        (None, Some(n)) => power::rm_anova_power(&design, f, n),
        (None, None) => return Err(CliError::Usage("give --power or --n".into())),
    }
    .map_err(ctx())?;
    emit(&r, prov, json)
}

#[derive(Serialize)]
struct GroupDescription {
    group: Option<String>,
    missing: usize,
    #[serde(flatten)]
    description: descriptive::Description,
}

#[derive(Serialize)]
struct GroupsOutput<T: Serialize> {
    groups: Vec<T>,
}

/// One set of values: its group label (if grouped), the values, rows skipped as missing.
type ValueSet = (Option<String>, Vec<f64>, usize);

/// The value column, whole or split by a grouping column (labels in sorted order).
fn value_sets(table: &Table, value: &str, group: Option<&str>) -> CliResult<Vec<ValueSet>> {
    Ok(match group {
        Some(g) => {
            let grouped = table.grouped(value, g)?;
            let missing = grouped.missing;
            grouped
                .groups
                .into_iter()
                .map(|(l, v)| (Some(l), v, missing))
                .collect()
        }
        None => {
            let (v, missing) = table.numeric(value)?;
            vec![(None, v, missing)]
        }
    })
}

fn set_context(path: &Path, value: &str, label: &Option<String>) -> String {
    match label {
        Some(l) => format!("{}: column '{value}', group '{l}'", path.display()),
        None => format!("{}: column '{value}'", path.display()),
    }
}

#[derive(Serialize)]
struct GroupNormality {
    group: Option<String>,
    missing: usize,
    #[serde(flatten)]
    result: NormalityResult,
}

fn normality_cmd(a: NormalityArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let mut groups = Vec::new();
    for (label, values, missing) in value_sets(&table, &a.value, a.group.as_deref())? {
        let ctx = CliError::stats(set_context(&a.data, &a.value, &label));
        let result = match a.test {
            NormalityTest::ShapiroWilk => normality::shapiro_wilk(&values),
            NormalityTest::Lilliefors => normality::lilliefors(&values, a.lilliefors_p),
        }
        .map_err(ctx)?;
        groups.push(GroupNormality {
            group: label,
            missing,
            result,
        });
    }
    emit(&GroupsOutput { groups }, prov, json)
}

fn describe(a: DescribeArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let opts = DescribeOptions {
        quantile_method: a.quantiles,
        confidence: a.confidence,
    };
    let sets = value_sets(&table, &a.value, a.group.as_deref())?;
    let mut groups = Vec::new();
    for (label, values, missing) in sets {
        let what = set_context(&a.data, &a.value, &label);
        let description = descriptive::describe(&values, opts).map_err(CliError::stats(what))?;
        groups.push(GroupDescription {
            group: label,
            missing,
            description,
        });
    }
    emit(&GroupsOutput { groups }, prov, json)
}

/// Label and summary of one group of a t test.
#[derive(Serialize)]
struct GroupInfo {
    label: String,
    n: usize,
    mean: f64,
    sd: f64,
}

#[derive(Serialize)]
struct TtestOutput {
    #[serde(flatten)]
    test: TTestResult,
    /// Which standardized difference `cohens_d` is: "d" (pooled SD), "d_z" (paired) or
    /// "d_one_sample".
    cohens_d_kind: &'static str,
    cohens_d: f64,
    cohens_d_ci: [f64; 2],
    hedges_g: f64,
    effect_size_ci_method: EffectSizeCi,
    /// d_av (paired only): mean difference over the average SD.
    #[serde(skip_serializing_if = "Option::is_none")]
    d_av: Option<f64>,
    groups: Vec<GroupInfo>,
    /// Levene's test (mean-centred, as SPSS prints beside the t test); independent data only.
    #[serde(skip_serializing_if = "Option::is_none")]
    levene: Option<LeveneResult>,
    /// Rows skipped because a value (or its group label) was missing.
    missing: usize,
}

fn ttest_cmd(a: TtestArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let variance = if a.welch {
        Variance::Welch
    } else {
        Variance::Pooled
    };
    let st = |what: &str| CliError::stats(what.to_string());
    if let Some(s) = &a.summary {
        let (ga, gb) = (s[0], s[1]);
        let test = ttest::independent_from_summary(ga, gb, variance, a.alternative, a.confidence)
            .map_err(st("t test from summary statistics"))?;
        let es =
            effect_size::independent(ga, gb, a.ci_method, a.confidence).map_err(st("Cohen's d"))?;
        let info = |label: &str, g: GroupSummary| GroupInfo {
            label: label.into(),
            n: g.n,
            mean: g.mean,
            sd: g.sd,
        };
        let out = TtestOutput {
            test,
            cohens_d_kind: "d",
            cohens_d: es.cohens_d,
            cohens_d_ci: es.cohens_d_ci,
            hedges_g: es.hedges_g,
            effect_size_ci_method: a.ci_method,
            d_av: None,
            groups: vec![info("1", ga), info("2", gb)],
            levene: None,
            missing: 0,
        };
        return emit(&out, prov, json);
    }
    let (Some(path), Some(value)) = (&a.data, &a.value) else {
        return Err(CliError::Usage(
            "stats ttest needs --data and --value, or --summary MEAN,SD,N MEAN,SD,N".into(),
        ));
    };
    let table = read_table(path, prov)?;
    let ctx = |what: &str| format!("{}: column '{value}': {what}", path.display());
    let out = if let Some(group) = &a.group {
        let grouped = table.grouped(value, group)?;
        let [(la, x), (lb, y)] = grouped.two(path, group)?;
        let ga =
            GroupSummary::from_data(&format!("group '{la}'"), x).map_err(st(&ctx("t test")))?;
        let gb =
            GroupSummary::from_data(&format!("group '{lb}'"), y).map_err(st(&ctx("t test")))?;
        let test = ttest::independent_from_summary(ga, gb, variance, a.alternative, a.confidence)
            .map_err(st(&ctx("t test")))?;
        let es = effect_size::independent(ga, gb, a.ci_method, a.confidence)
            .map_err(st(&ctx("Cohen's d")))?;
        let levene = ttest::levene(&[x, y], LeveneCenter::Mean).ok();
        let info = |label: &str, g: GroupSummary| GroupInfo {
            label: label.into(),
            n: g.n,
            mean: g.mean,
            sd: g.sd,
        };
        TtestOutput {
            test,
            cohens_d_kind: "d",
            cohens_d: es.cohens_d,
            cohens_d_ci: es.cohens_d_ci,
            hedges_g: es.hedges_g,
            effect_size_ci_method: a.ci_method,
            d_av: None,
            groups: vec![info(la, ga), info(lb, gb)],
            levene,
            missing: grouped.missing,
        }
    } else if let Some(other) = &a.paired_with {
        let (x, y, missing) = table.numeric_pairs(value, other)?;
        let test = ttest::paired(&x, &y, a.alternative, a.confidence)
            .map_err(st(&ctx("paired t test")))?;
        let es = effect_size::paired(&x, &y, a.ci_method, a.confidence).map_err(st(&ctx("d_z")))?;
        let info = |label: &str, v: &[f64]| GroupInfo {
            label: label.into(),
            n: v.len(),
            mean: descriptive::mean(v),
            sd: descriptive::sd(v),
        };
        TtestOutput {
            test,
            cohens_d_kind: "d_z",
            cohens_d: es.d_z,
            cohens_d_ci: es.d_z_ci,
            hedges_g: es.hedges_g_z,
            effect_size_ci_method: a.ci_method,
            d_av: Some(es.d_av),
            groups: vec![info(value, &x), info(other, &y)],
            levene: None,
            missing,
        }
    } else {
        let (x, missing) = table.numeric(value)?;
        let test = ttest::one_sample(&x, a.mu, a.alternative, a.confidence)
            .map_err(st(&ctx("one-sample t test")))?;
        let es = effect_size::one_sample(&x, a.mu, a.ci_method, a.confidence)
            .map_err(st(&ctx("Cohen's d")))?;
        TtestOutput {
            test,
            cohens_d_kind: "d_one_sample",
            cohens_d: es.cohens_d,
            cohens_d_ci: es.cohens_d_ci,
            hedges_g: es.hedges_g,
            effect_size_ci_method: a.ci_method,
            d_av: None,
            groups: vec![GroupInfo {
                label: value.clone(),
                n: x.len(),
                mean: descriptive::mean(&x),
                sd: descriptive::sd(&x),
            }],
            levene: None,
            missing,
        }
    };
    emit(&out, prov, json)
}

#[derive(Serialize)]
struct WilcoxonOutput {
    #[serde(flatten)]
    result: WilcoxonResult,
    columns: [String; 2],
    /// Rows skipped because either value was missing.
    missing: usize,
}

fn wilcoxon_cmd(a: WilcoxonArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let (x, y, missing) = table.numeric_pairs(&a.value, &a.paired_with)?;
    let options = WilcoxonOptions {
        method: a.method,
        zero_method: a.zero_method,
        continuity: a.continuity,
        alternative: a.alternative,
    };
    let result = ranks::wilcoxon_paired(&x, &y, &options).map_err(CliError::stats(format!(
        "{}: Wilcoxon signed-rank test of '{}' − '{}'",
        a.data.display(),
        a.value,
        a.paired_with
    )))?;
    emit(
        &WilcoxonOutput {
            result,
            columns: [a.value, a.paired_with],
            missing,
        },
        prov,
        json,
    )
}

#[derive(Serialize)]
struct MannWhitneyOutput {
    #[serde(flatten)]
    result: MannWhitneyResult,
    /// Group labels in sorted order; `statistic` is U of the first.
    groups: [String; 2],
    missing: usize,
}

fn mannwhitney_cmd(a: MannWhitneyArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let grouped = table.grouped(&a.value, &a.group)?;
    let [(la, x), (lb, y)] = grouped.two(&a.data, &a.group)?;
    let options = MannWhitneyOptions {
        method: a.method,
        continuity: a.continuity,
        alternative: a.alternative,
    };
    let result = ranks::mann_whitney(x, y, &options).map_err(CliError::stats(format!(
        "{}: Mann–Whitney U test of '{}' by '{}'",
        a.data.display(),
        a.value,
        a.group
    )))?;
    emit(
        &MannWhitneyOutput {
            result,
            groups: [la.to_string(), lb.to_string()],
            missing: grouped.missing,
        },
        prov,
        json,
    )
}

fn rm_anova_cmd(a: RmAnovaArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let subject = table.strings(&a.subject)?;
    let within = table.strings(&a.within)?;
    let between = a.between.as_deref().map(|b| table.strings(b)).transpose()?;
    let value = table.numeric_with_nan(&a.value)?;
    let options = RmAnovaOptions {
        huynh_feldt: a.huynh_feldt,
        friedman: a.friedman,
    };
    let r = rm_anova::rm_anova(&subject, &within, between.as_deref(), &value, options).map_err(
        CliError::stats(format!(
            "{}: repeated-measures ANOVA of '{}'",
            a.data.display(),
            a.value
        )),
    )?;
    emit(&r, prov, json)
}

fn levene(a: LeveneArgs, prov: &mut Provenance, json: bool) -> CliResult<()> {
    let table = read_table(&a.data, prov)?;
    let grouped = table.grouped(&a.value, &a.group)?;
    let refs: Vec<&[f64]> = grouped.groups.iter().map(|(_, v)| v.as_slice()).collect();
    let r = ttest::levene(&refs, a.center).map_err(CliError::stats(format!(
        "{}: Levene's test",
        a.data.display()
    )))?;
    emit(&r, prov, json)
}

#[derive(Serialize)]
struct TableOutput<T: Serialize> {
    #[serde(flatten)]
    result: T,
    table: ContingencyTable,
    missing: usize,
}

fn contingency_table(a: &TableArgs, prov: &mut Provenance) -> CliResult<(ContingencyTable, usize)> {
    if let Some(t) = &a.table {
        return Ok((t.clone(), 0));
    }
    let (Some(path), Some(rows), Some(cols)) = (&a.data, &a.rows, &a.cols) else {
        return Err(CliError::Usage(
            "give either --table \"a,b;c,d\" or --data FILE --rows COL --cols COL".into(),
        ));
    };
    let table = read_table(path, prov)?;
    let (r, c, missing) = table.labels(rows, cols)?;
    let t = ContingencyTable::from_labels(&r, &c).map_err(|e| CliError::Data {
        path: path.clone(),
        message: format!("columns '{rows}' × '{cols}': {e}"),
    })?;
    Ok((t, missing))
}
