//! Adapters from the results of `evidentia-meta` to the figure specifications: a RevMan-style
//! forest plot of a fitted model (with subgroups), a funnel plot (with trim-and-fill's filled
//! studies hollow), risk-of-bias traffic-light and summary plots, and the PRISMA 2020 flow.
//!
//! Text lines follow RevMan 5's wording ("Heterogeneity: Tau² = …; Chi² = …, df = … (P = …);
//! I² = …%", "Test for overall effect: Z = … (P = …)").

use evidentia_meta::bias::TrimFill;
use evidentia_meta::effect_size::Measure;
use evidentia_meta::model::{MetaFit, SubgroupAnalysis};
use evidentia_meta::prisma::{ExclusionReason, PrismaFlow as MetaPrismaFlow};
use evidentia_meta::rob::{Judgement as MetaJudgement, RobTable, RobTool as MetaRobTool};
use evidentia_stats::distributions::normal_quantile;

use crate::{
    ArmData, ForestPlot, ForestRow, ForestSection, FunnelPlot, FunnelPoint, Judgement, NamedCount,
    PooledRow, PrismaFlow, ReportError, RobStudy, RobSummary, RobTool, RobTrafficLight,
};

/// A p-value written the RevMan way ("P < 0.00001", "P = 0.002", "P = 0.32").
pub fn revman_p(p: f64) -> String {
    if p < 0.00001 {
        "P < 0.00001".into()
    } else if p < 0.0001 {
        "P < 0.0001".into()
    } else if p < 0.001 {
        format!("P = {p:.4}")
    } else if p < 0.01 {
        format!("P = {p:.3}")
    } else {
        format!("P = {p:.2}")
    }
}

/// The forest-plot column title of an effect measure ("Std. Mean Difference", "Risk Ratio", …).
pub fn measure_label(measure: Option<Measure>) -> &'static str {
    match measure {
        Some(Measure::MD) => "Mean Difference",
        Some(Measure::SMD) | Some(Measure::SMDChange) => "Std. Mean Difference",
        Some(Measure::SMCC) => "Std. Mean Change",
        Some(Measure::OR) => "Odds Ratio",
        Some(Measure::RR) => "Risk Ratio",
        Some(Measure::RD) => "Risk Difference",
        None => "Effect Size",
    }
}

/// Whether a measure is a log ratio (drawn on a log axis, null value 1).
pub fn is_ratio(measure: Option<Measure>) -> bool {
    matches!(measure, Some(Measure::OR) | Some(Measure::RR))
}

/// The heterogeneity line of a fit, RevMan 5 wording (τ² omitted for a common-effect fit).
pub fn heterogeneity_text(fit: &MetaFit) -> String {
    let tau = if fit.method.is_equal_effects() {
        String::new()
    } else {
        format!("Tau\u{b2} = {:.2}; ", fit.tau2)
    };
    format!(
        "Heterogeneity: {tau}Chi\u{b2} = {:.2}, df = {} ({}); I\u{b2} = {:.0}%",
        fit.q,
        fit.q_df,
        revman_p(fit.q_p),
        fit.i2
    )
}

/// The overall-effect line of a fit: Z (or t with its df under HKSJ/t tests) and its p-value.
pub fn overall_effect_text(fit: &MetaFit) -> String {
    match fit.df {
        Some(df) => format!(
            "Test for overall effect: t = {:.2}, df = {} ({})",
            fit.statistic.abs(),
            fmt_df(df),
            revman_p(fit.p_value)
        ),
        None => format!(
            "Test for overall effect: Z = {:.2} ({})",
            fit.statistic.abs(),
            revman_p(fit.p_value)
        ),
    }
}

fn fmt_df(df: f64) -> String {
    if df.fract() == 0.0 {
        format!("{df:.0}")
    } else {
        format!("{df:.2}")
    }
}

/// What a forest plot needs beyond the fit: labels and, per study, the arm data shown in the
/// left-hand columns (aligned with `fit.studies`).
#[derive(Debug, Clone, Default)]
pub struct ForestOptions {
    /// Effect measure (None for generic precomputed effects).
    pub measure: Option<Measure>,
    /// Optional title.
    pub title: Option<String>,
    /// Experimental arm label.
    pub experimental_label: Option<String>,
    /// Control arm label.
    pub control_label: Option<String>,
    /// Per-study arm data (experimental, control), aligned with the fit's studies.
    pub arms: Vec<Option<(ArmData, ArmData)>>,
    /// Per-study subgroup labels, aligned with the fit's studies (with `subgroups`).
    pub groups: Vec<String>,
    /// Text of the left "favours" label.
    pub favours_left: Option<String>,
    /// Text of the right "favours" label.
    pub favours_right: Option<String>,
    /// Risk-of-bias judgements drawn as columns (RevMan's A, B, … and overall), matched to
    /// the studies by label; every study must be in the table.
    pub rob: Option<RobTable>,
}

fn pooled(
    label: &str,
    fit: &MetaFit,
    weight: f64,
    members: &[usize],
    o: &ForestOptions,
) -> PooledRow {
    let mut row = PooledRow::new(label, fit.estimate, fit.ci[0], fit.ci[1]);
    if !fit.method.is_equal_effects() {
        row.prediction = fit.pi.as_ref().map(|p| (p.lower, p.upper));
    }
    row.weight_percent = Some(weight);
    let arms: Vec<&(ArmData, ArmData)> = members
        .iter()
        .filter_map(|&i| o.arms.get(i).and_then(|a| a.as_ref()))
        .collect();
    if !arms.is_empty() && arms.len() == members.len() {
        let mut te = (0u64, 0u64, 0u64, 0u64, true);
        for (e, c) in &arms {
            match (e, c) {
                (ArmData::Continuous { n: n1, .. }, ArmData::Continuous { n: n2, .. }) => {
                    te.0 += n1;
                    te.1 += n2;
                    te.4 = false;
                }
                (
                    ArmData::Dichotomous {
                        events: e1,
                        total: t1,
                    },
                    ArmData::Dichotomous {
                        events: e2,
                        total: t2,
                    },
                ) => {
                    te.0 += t1;
                    te.1 += t2;
                    te.2 += e1;
                    te.3 += e2;
                }
                _ => te.4 = false,
            }
        }
        row.experimental_total = Some(te.0);
        row.control_total = Some(te.1);
        if te.4 {
            row.experimental_events = Some(te.2);
            row.control_events = Some(te.3);
        }
    }
    if fit.k > 1 {
        row.heterogeneity_text = Some(heterogeneity_text(fit));
    } else {
        row.heterogeneity_text = Some("Heterogeneity: Not applicable".into());
    }
    row.overall_effect_text = Some(overall_effect_text(fit));
    row
}

/// A RevMan-style forest plot of a fit; with `subgroups` (and `options.groups`), one section
/// per subgroup with its subtotal and the test for subgroup differences. Study CIs are
/// yᵢ ± z·√vᵢ at the fit's level; weights are the overall fit's.
pub fn forest_plot(
    fit: &MetaFit,
    subgroups: Option<&SubgroupAnalysis>,
    options: &ForestOptions,
) -> Result<ForestPlot, ReportError> {
    let level = fit.settings.level;
    let z = normal_quantile(0.5 + level / 2.0);
    let pct = format!("{:.0}", 100.0 * level);
    let row = |i: usize| {
        let s = &fit.studies[i];
        let se = s.vi.sqrt();
        let (experimental, control) = match options.arms.get(i).and_then(|a| a.as_ref()) {
            Some((e, c)) => (Some(*e), Some(*c)),
            None => (None, None),
        };
        ForestRow {
            experimental,
            control,
            weight_percent: Some(s.weight),
            ..ForestRow::new(&s.study, s.yi, s.yi - z * se, s.yi + z * se)
        }
    };
    let mut plot = ForestPlot::new(measure_label(options.measure));
    plot.title = options.title.clone();
    let model = if fit.method.is_equal_effects() {
        "Fixed"
    } else {
        "Random"
    };
    plot.method_label = format!("IV, {model}, {pct}% CI");
    if let Some(l) = &options.experimental_label {
        plot.experimental_label = l.clone();
    }
    if let Some(l) = &options.control_label {
        plot.control_label = l.clone();
    }
    if let Some(l) = &options.favours_left {
        plot.favours_left = l.clone();
    }
    if let Some(l) = &options.favours_right {
        plot.favours_right = l.clone();
    }
    if is_ratio(options.measure) {
        plot.log_scale = true;
    }
    let rob_rows = match &options.rob {
        Some(table) => {
            let (light, _) = rob_figures(table, false)?;
            let letters = ["A", "B", "C", "D", "E", "F", "G"];
            plot.rob_domains = light
                .domains
                .iter()
                .zip(letters)
                .map(|(d, l)| crate::RobDomain {
                    short: l.to_string(),
                    caption: d.caption.clone(),
                })
                .collect();
            plot.rob_domains.push(crate::RobDomain {
                short: "O".into(),
                caption: "Overall risk of bias".into(),
            });
            let mut rows = Vec::with_capacity(fit.studies.len());
            for s in &fit.studies {
                let st = light
                    .studies
                    .iter()
                    .find(|r| r.name == s.study)
                    .ok_or_else(|| ReportError::Invalid {
                        figure: "forest plot",
                        item: s.study.clone(),
                        message: "study is not in the risk-of-bias table".into(),
                    })?;
                let mut j = st.judgements.clone();
                j.extend(st.overall);
                rows.push(j);
            }
            Some(rows)
        }
        None => None,
    };
    let plot_rows = |mut r: ForestRow, i: usize| {
        if let Some(rr) = &rob_rows {
            r.rob = Some(rr[i].clone());
        }
        r
    };
    match subgroups {
        Some(sg) if options.groups.len() == fit.studies.len() => {
            for g in &sg.subgroups {
                let members: Vec<usize> = (0..fit.studies.len())
                    .filter(|&i| options.groups[i] == g.group)
                    .collect();
                let weight: f64 = members.iter().map(|&i| fit.studies[i].weight).sum();
                plot.sections.push(ForestSection {
                    heading: Some(g.group.clone()),
                    rows: members.iter().map(|&i| plot_rows(row(i), i)).collect(),
                    subtotal: Some(pooled(
                        &format!("Subtotal ({pct}% CI)"),
                        &g.fit,
                        weight,
                        &members,
                        options,
                    )),
                });
            }
            plot.subgroup_test_text = Some(format!(
                "Test for subgroup differences: Chi\u{b2} = {:.2}, df = {} ({}), I\u{b2} = {:.1}%",
                sg.q_between,
                fmt_df(sg.q_between_df),
                revman_p(sg.q_between_p),
                sg.i2_between
            ));
        }
        _ => plot.sections.push(ForestSection {
            heading: None,
            rows: (0..fit.studies.len())
                .map(|i| plot_rows(row(i), i))
                .collect(),
            subtotal: None,
        }),
    }
    let all: Vec<usize> = (0..fit.studies.len()).collect();
    plot.overall = Some(pooled(
        &format!("Total ({pct}% CI)"),
        fit,
        100.0,
        &all,
        options,
    ));
    Ok(plot)
}

/// A contour-enhanced funnel plot (90/95/99%) centred on the fit's estimate, with the
/// trim-and-fill filled studies drawn hollow when given (metafor `funnel(trimfill(...))`).
pub fn funnel_plot(
    fit: &MetaFit,
    trimfill: Option<&TrimFill>,
    measure: Option<Measure>,
) -> FunnelPlot {
    let mut points: Vec<FunnelPoint> = fit
        .studies
        .iter()
        .map(|s| FunnelPoint {
            yi: s.yi,
            sei: s.vi.sqrt(),
            imputed: false,
        })
        .collect();
    let mut center = fit.estimate;
    if let Some(tf) = trimfill {
        points.extend(tf.filled.iter().map(|s| FunnelPoint {
            yi: s.yi,
            sei: s.vi.sqrt(),
            imputed: true,
        }));
        center = tf.pooled.estimate;
    }
    let label = if is_ratio(measure) {
        format!("{} (log scale)", measure_label(measure))
    } else {
        measure_label(measure).to_string()
    };
    let mut plot = FunnelPlot::new(&label, center, points);
    plot.pseudo_ci_level = Some(fit.settings.level);
    plot.contours = vec![0.90, 0.95, 0.99];
    plot.refline = Some(0.0);
    plot.log_scale = is_ratio(measure);
    plot
}

fn judgement(j: MetaJudgement) -> Judgement {
    match j {
        MetaJudgement::Low => Judgement::Low,
        MetaJudgement::SomeConcerns => Judgement::SomeConcerns,
        MetaJudgement::Moderate => Judgement::Moderate,
        MetaJudgement::High => Judgement::High,
        MetaJudgement::Serious => Judgement::Serious,
        MetaJudgement::Critical => Judgement::Critical,
        MetaJudgement::NoInformation => Judgement::NoInformation,
    }
}

/// The traffic-light plot and the summary plot (weighted by the table's weights when asked)
/// of a checked risk-of-bias table.
pub fn rob_figures(
    table: &RobTable,
    weighted: bool,
) -> Result<(RobTrafficLight, RobSummary), ReportError> {
    let tool = match table.tool {
        MetaRobTool::Rob2 => RobTool::Rob2,
        MetaRobTool::RobinsI => RobTool::RobinsI,
    };
    let mut domains = tool.default_domains();
    for (d, name) in domains.iter_mut().zip(&table.domain_names) {
        d.short = name.clone();
    }
    let light = RobTrafficLight {
        title: None,
        tool,
        domains,
        studies: table
            .studies
            .iter()
            .map(|s| RobStudy {
                name: s.study.clone(),
                judgements: s.domains.iter().map(|&j| judgement(j)).collect(),
                overall: Some(judgement(s.overall)),
            })
            .collect(),
    };
    let weights: Option<Vec<f64>> = if weighted {
        table
            .studies
            .iter()
            .map(|s| s.weight)
            .collect::<Option<Vec<f64>>>()
    } else {
        None
    };
    if weighted && weights.is_none() {
        return Err(ReportError::Invalid {
            figure: "risk-of-bias summary",
            item: "Weight".into(),
            message: "a weighted summary needs a weight for every study".into(),
        });
    }
    let summary = RobSummary::from_traffic_light(&light, weights.as_deref())?;
    Ok((light, summary))
}

fn named(v: &[ExclusionReason]) -> Vec<NamedCount> {
    v.iter()
        .map(|r| NamedCount {
            name: r.reason.clone(),
            n: r.n,
        })
        .collect()
}

/// The PRISMA 2020 diagram of a checked flow; boxes left out of the counts are derived from
/// their neighbours (sought = screened − excluded, assessed = sought − not retrieved, reports of included
/// studies = assessed − excluded) or drawn as 0.
pub fn prisma_flow(flow: &MetaPrismaFlow) -> PrismaFlow {
    let c = &flow.counts;
    let z = |v: Option<u64>| v.unwrap_or(0);
    let mut dbr_excluded = named(&c.dbr_excluded.reasons);
    if dbr_excluded.is_empty()
        && let Some(t) = c.dbr_excluded.total
    {
        dbr_excluded.push(NamedCount {
            name: "Reports excluded".into(),
            n: t,
        });
    }
    let mut other_excluded = named(&c.other_excluded.reasons);
    if other_excluded.is_empty()
        && let Some(t) = c.other_excluded.total
    {
        other_excluded.push(NamedCount {
            name: "Reports excluded".into(),
            n: t,
        });
    }
    let database_results = c
        .database_results
        .unwrap_or_else(|| c.database_specific_results.iter().map(|r| r.n).sum());
    let sought = c
        .dbr_sought_reports
        .unwrap_or_else(|| z(c.records_screened).saturating_sub(z(c.records_excluded)));
    let assessed = c
        .dbr_assessed
        .unwrap_or_else(|| sought.saturating_sub(z(c.dbr_notretrieved_reports)));
    let other_assessed = c.other_assessed.unwrap_or_else(|| {
        z(c.other_sought_reports).saturating_sub(z(c.other_notretrieved_reports))
    });
    let excluded = |e: &evidentia_meta::prisma::Exclusions| {
        e.total
            .unwrap_or_else(|| e.reasons.iter().map(|r| r.n).sum())
    };
    let included_reports = assessed.saturating_sub(excluded(&c.dbr_excluded))
        + other_assessed.saturating_sub(excluded(&c.other_excluded));
    PrismaFlow {
        database_results,
        database_specific_results: named(&c.database_specific_results),
        register_results: c.register_results,
        register_specific_results: named(&c.register_specific_results),
        duplicates: z(c.duplicates),
        excluded_automatic: z(c.excluded_automatic),
        excluded_other: z(c.excluded_other),
        records_screened: z(c.records_screened),
        records_excluded: z(c.records_excluded),
        dbr_sought_reports: sought,
        dbr_notretrieved_reports: z(c.dbr_notretrieved_reports),
        dbr_assessed: assessed,
        dbr_excluded,
        website_results: c.website_results,
        organisation_results: c.organisation_results,
        citations_results: c.citations_results,
        other_sought_reports: z(c.other_sought_reports),
        other_notretrieved_reports: z(c.other_notretrieved_reports),
        other_assessed,
        other_excluded,
        new_studies: c.new_studies.unwrap_or(included_reports),
        new_reports: c.new_reports.unwrap_or(included_reports),
        total_studies_ma: c.total_studies_ma,
    }
}
