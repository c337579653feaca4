//! Renders the example figures under `docs/figures/` (SVG and PNG at 2×):
//! `cargo run -p evidentia-report --example figures`.
//!
//! - BCG vaccine trials (metafor's `dat.bcg`, Colditz et al. 1994, JAMA 271:698): log risk
//!   ratios pooled by DerSimonian–Laird; forest, funnel and contour-enhanced funnel plots.
//! - An illustrative stroke-review-style SMD forest with two subgroups and RoB 2 columns, a RoB 2
//!   traffic-light and summary plot of eight studies (invented study names and judgements).
//! - The PRISMA 2020 flow of the stroke review in `seeds/` (3,838 → 2,685 → 106 → 30; the
//!   exclusion reasons are illustrative, only their total, 76, is the review's).
//! - The trial report's figures for the simulated cerebral-palsy trial (`evidentia trial simulate
//!   --design cp-rct --seed 11`, imaging outcomes drawn, not measured) analysed by
//!   `examples/cp-rct/plan.toml`: the CONSORT flow and the GMFM-66 mean ± SEM by visit.

use std::path::PathBuf;

use evidentia_report::*;

/// dat.bcg: author, year, tpos, tneg, cpos, cneg.
const BCG: [(&str, u32, u64, u64, u64, u64); 13] = [
    ("Aronson", 1948, 4, 119, 11, 128),
    ("Ferguson & Simes", 1949, 6, 300, 29, 274),
    ("Rosenthal et al", 1960, 3, 228, 11, 209),
    ("Hart & Sutherland", 1977, 62, 13536, 248, 12619),
    ("Frimodt-Moller et al", 1973, 33, 5036, 47, 5761),
    ("Stein & Aronson", 1953, 180, 1361, 372, 1079),
    ("Vandiviere et al", 1973, 8, 2537, 10, 619),
    ("TPT Madras", 1980, 505, 87886, 499, 87892),
    ("Coetzee & Berjak", 1968, 29, 7470, 45, 7232),
    ("Rosenthal et al", 1961, 17, 1699, 65, 1600),
    ("Comstock et al", 1974, 186, 50448, 141, 27197),
    ("Comstock & Webster", 1969, 5, 2493, 3, 2338),
    ("Comstock et al", 1976, 27, 16886, 29, 17825),
];

const Z: f64 = 1.959963984540054;

/// DerSimonian–Laird pooling: (mu, se, tau2, Q, I² in %, weights in %).
struct Dl {
    mu: f64,
    se: f64,
    tau2: f64,
    q: f64,
    i2: f64,
    weights: Vec<f64>,
}

fn dl(y: &[f64], v: &[f64]) -> Dl {
    let w: Vec<f64> = v.iter().map(|v| 1.0 / v).collect();
    let sw: f64 = w.iter().sum();
    let fe = w.iter().zip(y).map(|(w, y)| w * y).sum::<f64>() / sw;
    let q: f64 = w.iter().zip(y).map(|(w, y)| w * (y - fe).powi(2)).sum();
    let df = y.len() as f64 - 1.0;
    let c = sw - w.iter().map(|w| w * w).sum::<f64>() / sw;
    let tau2 = ((q - df) / c).max(0.0);
    let ws: Vec<f64> = v.iter().map(|v| 1.0 / (v + tau2)).collect();
    let sws: f64 = ws.iter().sum();
    let mu = ws.iter().zip(y).map(|(w, y)| w * y).sum::<f64>() / sws;
    let i2 = if q > 0.0 {
        ((q - df) / q).max(0.0) * 100.0
    } else {
        0.0
    };
    Dl {
        mu,
        se: (1.0 / sws).sqrt(),
        tau2,
        q,
        i2,
        weights: ws.iter().map(|w| 100.0 * w / sws).collect(),
    }
}

/// Two-sided normal p-value of |z|.
fn p_text(z: f64) -> String {
    revman_p(erfc(z.abs() / std::f64::consts::SQRT_2))
}

/// erfc by Numerical Recipes' `erfcc` (fractional error < 1.2e-7; enough for a label).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Upper tail of chi-squared with integer `df`, by the closed forms for even and odd df.
fn chi2_p_text(q: f64, df: f64) -> String {
    let k = df.round() as u32;
    let h = q / 2.0;
    let p = if k.is_multiple_of(2) {
        let mut term = 1.0;
        let mut sum = 1.0;
        for i in 1..k / 2 {
            term *= h / f64::from(i);
            sum += term;
        }
        (-h).exp() * sum
    } else {
        // erfc(sqrt(h)) + exp(-h) * sum_{i=1}^{(k-1)/2} h^(i-1/2) / Gamma(i + 1/2)
        let mut term = h.sqrt() / (std::f64::consts::PI.sqrt() / 2.0); // h^(1/2) / Gamma(3/2)
        let mut sum = 0.0;
        for i in 1..=(k - 1) / 2 {
            if i > 1 {
                term *= h / (f64::from(i) - 0.5);
            }
            sum += term;
        }
        erfc(h.sqrt()) + (-h).exp() * sum
    };
    revman_p(p)
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/figures");
    std::fs::create_dir_all(&dir).expect("create docs/figures");
    dir
}

fn write(name: &str, svg: &str) {
    let dir = out_dir();
    std::fs::write(dir.join(format!("{name}.svg")), svg).expect("write svg");
    let png = svg_to_png(svg, 2.0).expect("render png");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write png");
    println!("wrote docs/figures/{name}.svg and .png");
}

fn bcg() {
    let mut y = Vec::new();
    let mut v = Vec::new();
    for &(_, _, tp, tn, cp, cn) in &BCG {
        let (tp, tn, cp, cn) = (tp as f64, tn as f64, cp as f64, cn as f64);
        y.push((tp / (tp + tn)).ln() - (cp / (cp + cn)).ln());
        v.push(1.0 / tp - 1.0 / (tp + tn) + 1.0 / cp - 1.0 / (cp + cn));
    }
    let fit = dl(&y, &v);
    assert!((fit.mu + 0.7141).abs() < 5e-4, "DL estimate {}", fit.mu);
    assert!((fit.tau2 - 0.3088).abs() < 5e-4 && (fit.i2 - 92.12).abs() < 0.01);
    let rows = BCG
        .iter()
        .enumerate()
        .map(|(i, &(author, year, tp, tn, cp, cn))| {
            let se = v[i].sqrt();
            ForestRow {
                experimental: Some(ArmData::Dichotomous {
                    events: tp,
                    total: tp + tn,
                }),
                control: Some(ArmData::Dichotomous {
                    events: cp,
                    total: cp + cn,
                }),
                weight_percent: Some(fit.weights[i]),
                ..ForestRow::new(
                    &format!("{author} {year}"),
                    y[i],
                    y[i] - Z * se,
                    y[i] + Z * se,
                )
            }
        })
        .collect();
    let k = BCG.len() as f64;
    let t_crit = 2.200985160082949; // t(0.975, k - 2 = 11), Riley et al.'s prediction interval
    let pi_half = t_crit * (fit.se.powi(2) + fit.tau2).sqrt();
    let mut total = PooledRow::new(
        "Total (95% CI)",
        fit.mu,
        fit.mu - Z * fit.se,
        fit.mu + Z * fit.se,
    );
    total.weight_percent = Some(100.0);
    total.experimental_total = Some(BCG.iter().map(|r| r.2 + r.3).sum());
    total.control_total = Some(BCG.iter().map(|r| r.4 + r.5).sum());
    total.experimental_events = Some(BCG.iter().map(|r| r.2).sum());
    total.control_events = Some(BCG.iter().map(|r| r.4).sum());
    total.prediction = Some((fit.mu - pi_half, fit.mu + pi_half));
    total.heterogeneity_text = Some(format!(
        "Heterogeneity: Tau\u{b2} = {:.2}; Chi\u{b2} = {:.2}, df = {} ({}); I\u{b2} = {:.0}%",
        fit.tau2,
        fit.q,
        k - 1.0,
        chi2_p_text(fit.q, k - 1.0),
        fit.i2
    ));
    let zstat = fit.mu.abs() / fit.se;
    total.overall_effect_text = Some(format!(
        "Test for overall effect: Z = {:.2} ({})",
        zstat,
        p_text(zstat)
    ));
    let mut plot = ForestPlot::new("Risk Ratio");
    plot.title = Some("BCG vaccine and tuberculosis (dat.bcg)".into());
    plot.method_label = "IV, Random, 95% CI".into();
    plot.experimental_label = "BCG".into();
    plot.control_label = "Control".into();
    plot.log_scale = true;
    plot.sections.push(ForestSection {
        heading: None,
        rows,
        subtotal: None,
    });
    plot.overall = Some(total);
    plot.favours_left = "Favours BCG".into();
    plot.favours_right = "Favours control".into();
    write("forest_bcg", &forest_svg(&plot).expect("forest"));

    let points: Vec<FunnelPoint> = y
        .iter()
        .zip(&v)
        .map(|(&yi, &vi)| FunnelPoint {
            yi,
            sei: vi.sqrt(),
            imputed: false,
        })
        .collect();
    let mut funnel = FunnelPlot::new("Log risk ratio", fit.mu, points);
    funnel.title = Some("BCG trials: funnel plot (DL estimate, 95% pseudo-CI)".into());
    write("funnel_bcg", &funnel_svg(&funnel).expect("funnel"));
    funnel.title = Some("BCG trials: contour-enhanced funnel plot".into());
    funnel.pseudo_ci_level = None;
    funnel.contours = vec![0.90, 0.95, 0.99];
    funnel.refline = Some(0.0);
    funnel.x_label = "Risk ratio (log scale)".into();
    funnel.log_scale = true;
    write("funnel_bcg_contour", &funnel_svg(&funnel).expect("funnel"));
}

/// Hedges' g with RevMan 5's variance (notes/meta.md §RevMan): (g, variance).
fn hedges_g(m1: f64, s1: f64, n1: f64, m2: f64, s2: f64, n2: f64) -> (f64, f64) {
    let n = n1 + n2;
    let sp = (((n1 - 1.0) * s1 * s1 + (n2 - 1.0) * s2 * s2) / (n - 2.0)).sqrt();
    let g = (m1 - m2) / sp * (1.0 - 3.0 / (4.0 * n - 9.0));
    (g, 1.0 / n1 + 1.0 / n2 + g * g / (2.0 * (n - 3.94)))
}

/// Study, route (0 intravenous, 1 intra-arterial/intracerebral), arm data, RoB 2 domains, overall.
type StrokeStudy = (&'static str, usize, [f64; 6], [Judgement; 5], Judgement);

fn stroke() -> (Vec<RobStudy>, Vec<f64>) {
    use Judgement::*;
    // (study, route, exp mean, sd, n, ctrl mean, sd, n, RoB 2 domains, overall) — illustrative.
    let data: [StrokeStudy; 8] = [
        (
            "Bhasin 2013",
            0,
            [2.1, 1.9, 20.0, 3.4, 2.2, 20.0],
            [Low, SomeConcerns, Low, Low, Low],
            SomeConcerns,
        ),
        (
            "Prasad 2014",
            0,
            [4.4, 3.1, 58.0, 4.6, 3.3, 62.0],
            [Low, Low, Low, Low, Low],
            Low,
        ),
        (
            "Hess 2017",
            0,
            [5.0, 4.6, 65.0, 6.1, 5.2, 61.0],
            [Low, Low, SomeConcerns, Low, Low],
            SomeConcerns,
        ),
        (
            "Savitz 2019",
            0,
            [3.2, 2.6, 39.0, 3.5, 2.9, 37.0],
            [Low, Low, Low, Low, SomeConcerns],
            SomeConcerns,
        ),
        (
            "Lee 2010",
            1,
            [6.2, 3.0, 16.0, 9.1, 3.4, 36.0],
            [SomeConcerns, High, Low, SomeConcerns, Low],
            High,
        ),
        (
            "Jiang 2013",
            1,
            [5.3, 2.7, 8.0, 8.0, 3.1, 8.0],
            [High, SomeConcerns, NoInformation, High, SomeConcerns],
            High,
        ),
        (
            "Chen 2014",
            1,
            [8.9, 4.1, 15.0, 10.7, 4.4, 15.0],
            [Low, SomeConcerns, Low, Low, SomeConcerns],
            SomeConcerns,
        ),
        (
            "Fang 2019 <pilot> & co",
            1,
            [7.1, 3.5, 9.0, 8.0, 3.9, 9.0],
            [SomeConcerns, Low, Low, SomeConcerns, Low],
            SomeConcerns,
        ),
    ];
    let headings = ["1.1.1 Intravenous", "1.1.2 Intra-arterial or intracerebral"];
    let mut sections = Vec::new();
    let (mut all_y, mut all_v) = (Vec::new(), Vec::new());
    let mut per_group = Vec::new();
    for (g, heading) in headings.iter().enumerate() {
        let members: Vec<_> = data.iter().filter(|d| d.1 == g).collect();
        let (ys, vs): (Vec<f64>, Vec<f64>) = members
            .iter()
            .map(|d| hedges_g(d.2[0], d.2[1], d.2[2], d.2[3], d.2[4], d.2[5]))
            .unzip();
        all_y.extend(&ys);
        all_v.extend(&vs);
        per_group.push((members, ys, vs, *heading));
    }
    let overall = dl(&all_y, &all_v);
    let total_w: f64 = all_v.iter().map(|v| 1.0 / (v + overall.tau2)).sum();
    let mut q_between_parts = Vec::new();
    for (members, ys, vs, heading) in &per_group {
        let fit = dl(ys, vs);
        let rows = members
            .iter()
            .zip(ys.iter().zip(vs))
            .map(|(d, (&g, &v))| ForestRow {
                experimental: Some(ArmData::Continuous {
                    mean: d.2[0],
                    sd: d.2[1],
                    n: d.2[2] as u64,
                }),
                control: Some(ArmData::Continuous {
                    mean: d.2[3],
                    sd: d.2[4],
                    n: d.2[5] as u64,
                }),
                weight_percent: Some(100.0 / (v + overall.tau2) / total_w),
                rob: Some(d.3.iter().copied().chain([d.4]).collect()),
                ..ForestRow::new(d.0, g, g - Z * v.sqrt(), g + Z * v.sqrt())
            })
            .collect::<Vec<_>>();
        let mut sub = PooledRow::new(
            "Subtotal (95% CI)",
            fit.mu,
            fit.mu - Z * fit.se,
            fit.mu + Z * fit.se,
        );
        sub.weight_percent = Some(
            rows.iter()
                .filter_map(|r: &ForestRow| r.weight_percent)
                .sum(),
        );
        sub.experimental_total = Some(members.iter().map(|d| d.2[2] as u64).sum());
        sub.control_total = Some(members.iter().map(|d| d.2[5] as u64).sum());
        let df = ys.len() as f64 - 1.0;
        sub.heterogeneity_text = Some(format!(
            "Heterogeneity: Tau\u{b2} = {:.2}; Chi\u{b2} = {:.2}, df = {} ({}); I\u{b2} = {:.0}%",
            fit.tau2,
            fit.q,
            df,
            chi2_p_text(fit.q, df),
            fit.i2
        ));
        let zs = fit.mu.abs() / fit.se;
        sub.overall_effect_text = Some(format!(
            "Test for overall effect: Z = {zs:.2} ({})",
            p_text(zs)
        ));
        q_between_parts.push((fit.mu, fit.se));
        sections.push(ForestSection {
            heading: Some(heading.to_string()),
            rows,
            subtotal: Some(sub),
        });
    }
    let mut total = PooledRow::new(
        "Total (95% CI)",
        overall.mu,
        overall.mu - Z * overall.se,
        overall.mu + Z * overall.se,
    );
    total.weight_percent = Some(100.0);
    total.experimental_total = Some(data.iter().map(|d| d.2[2] as u64).sum());
    total.control_total = Some(data.iter().map(|d| d.2[5] as u64).sum());
    let pi_half = 2.446911851144969 * (overall.se.powi(2) + overall.tau2).sqrt(); // t(0.975, 6)
    total.prediction = Some((overall.mu - pi_half, overall.mu + pi_half));
    total.heterogeneity_text = Some(format!(
        "Heterogeneity: Tau\u{b2} = {:.2}; Chi\u{b2} = {:.2}, df = 7 ({}); I\u{b2} = {:.0}%",
        overall.tau2,
        overall.q,
        chi2_p_text(overall.q, 7.0),
        overall.i2
    ));
    let zs = overall.mu.abs() / overall.se;
    total.overall_effect_text = Some(format!(
        "Test for overall effect: Z = {zs:.2} ({})",
        p_text(zs)
    ));
    let (ys, vs): (Vec<f64>, Vec<f64>) = q_between_parts.iter().map(|(m, s)| (*m, s * s)).unzip();
    let between = dl(&ys, &vs);
    let mut plot = ForestPlot::new("Std. Mean Difference");
    plot.title = Some("Cell therapy vs control: NIHSS at 90 days (illustrative data)".into());
    plot.experimental_label = "Cell therapy".into();
    plot.sections = sections;
    plot.overall = Some(total);
    plot.subgroup_test_text = Some(format!(
        "Test for subgroup differences: Chi\u{b2} = {:.2}, df = 1 ({}), I\u{b2} = {:.1}%",
        between.q,
        chi2_p_text(between.q, 1.0),
        between.i2
    ));
    plot.x_limits = Some((-2.0, 2.0));
    plot.favours_left = "Favours cell therapy".into();
    plot.rob_domains = RobTool::Rob2.default_domains();
    plot.rob_domains.push(RobDomain {
        short: "O".into(),
        caption: "Overall risk of bias".into(),
    });
    for (d, letter) in plot
        .rob_domains
        .iter_mut()
        .zip(["A", "B", "C", "D", "E", "F"])
    {
        d.short = letter.into();
    }
    write("forest_stroke_smd", &forest_svg(&plot).expect("forest"));
    // Study order in the sections is the order of `data`.
    let weights: Vec<f64> = plot
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.weight_percent.unwrap_or(0.0))
        .collect();
    let studies: Vec<RobStudy> = data
        .iter()
        .map(|d| RobStudy {
            name: d.0.to_string(),
            judgements: d.3.to_vec(),
            overall: Some(d.4),
        })
        .collect();
    (studies, weights)
}

fn rob(studies: Vec<RobStudy>, weights: &[f64]) {
    let table = RobTrafficLight {
        title: Some("RoB 2: NIHSS at 90 days (illustrative judgements)".into()),
        tool: RobTool::Rob2,
        domains: RobTool::Rob2.default_domains(),
        studies,
    };
    write(
        "rob2_traffic_light",
        &rob_traffic_light_svg(&table).expect("traffic light"),
    );
    let mut summary = RobSummary::from_traffic_light(&table, None).expect("summary");
    summary.title = Some("RoB 2 summary (unweighted)".into());
    write("rob2_summary", &rob_summary_svg(&summary).expect("summary"));
    let mut weighted = RobSummary::from_traffic_light(&table, Some(weights)).expect("summary");
    weighted.title = Some("RoB 2 summary (weighted by meta-analysis weight)".into());
    write(
        "rob2_summary_weighted",
        &rob_summary_svg(&weighted).expect("summary"),
    );
}

fn prisma() {
    let flow = PrismaFlow {
        database_results: 3838,
        duplicates: 1153,
        records_screened: 2685,
        records_excluded: 2579,
        dbr_sought_reports: 106,
        dbr_assessed: 106,
        dbr_excluded: vec![
            NamedCount {
                name: "Not a controlled trial".into(),
                n: 31,
            },
            NamedCount {
                name: "Population not ischaemic stroke".into(),
                n: 18,
            },
            NamedCount {
                name: "No functional outcome reported".into(),
                n: 15,
            },
            NamedCount {
                name: "Conference abstract only".into(),
                n: 12,
            },
        ],
        new_studies: 30,
        new_reports: 30,
        ..PrismaFlow::default()
    };
    write("prisma_stroke", &prisma_svg(&flow).expect("prisma"));
    let mut other = flow.clone();
    other.citations_results = Some(7);
    other.website_results = Some(3);
    other.other_sought_reports = 10;
    other.other_notretrieved_reports = 1;
    other.other_assessed = 9;
    other.other_excluded = vec![NamedCount {
        name: "Duplicate report of an included trial".into(),
        n: 7,
    }];
    other.new_studies = 32;
    other.new_reports = 32;
    other.total_studies_ma = Some(24);
    write("prisma_two_columns", &prisma_svg(&other).expect("prisma"));
}

fn main() {
    bcg();
    let (studies, weights) = stroke();
    rob(studies, &weights);
    prisma();
    trial();
}

fn trial() {
    use evidentia_trial::simulate::{Design, simulate};
    let plan = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/cp-rct/plan.toml");
    let plan = evidentia_trial::AnalysisPlan::load(&plan).expect("load the cp-rct plan");
    let ds = simulate(Design::CpRct, 11).expect("simulate the cp-rct trial");
    let res = evidentia_trial::analysis::analyze(&ds, &plan).expect("analyse the trial");
    write(
        "trial_consort_example",
        &trial::consort_svg(&res.consort).expect("consort"),
    );
    let gmfm = res
        .trajectories
        .iter()
        .find(|t| t.outcome == "gmfm66")
        .expect("a GMFM-66 trajectory");
    write(
        "trial_trajectory_example",
        &trial::trajectory_svg(gmfm).expect("trajectory"),
    );
}
