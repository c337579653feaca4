//! The meta-analysis part of `evidentia demo`: the cerebral-palsy trial's arm-level
//! GMFM-66 change at 12 months (seed paper 000, Table 2: mean change and 95% CI per arm,
//! n = 36 each; SDs recovered from the CIs with t on n − 1 df and flagged as converted)
//! joins four illustrative studies with invented numbers (labelled as such). Hedges' g,
//! REML with Hartung–Knapp–Sidik–Jonkman and a prediction interval (the `cochrane2025`
//! profile), forest and funnel plots when `--out` is given.

use std::path::Path;

use evidentia_meta::conversion::{CiCritical, sd_from_ci};
use evidentia_meta::effect_size::{
    ContinuousArm, ContinuousStudy, EscalcOptions, Measure, continuous_effect_sizes,
};
use evidentia_meta::model::{self, FitOptions, MetaData, Profile};
use evidentia_report::{ArmData, ForestOptions, forest_plot, forest_svg, funnel_plot, funnel_svg};
use serde::Serialize;

use crate::error::{CliError, CliResult, meta_err};
use crate::provenance::Provenance;
use crate::table::Table;

const STUDIES: &str = include_str!("../data/demo_meta_gmfm.csv");
const STUDIES_NAME: &str = "embedded:demo_meta_gmfm.csv";

/// One study of the demo meta-analysis.
#[derive(Debug, Serialize)]
pub struct DemoStudy {
    study: String,
    source: String,
    g: f64,
    ci: [f64; 2],
    weight: f64,
    /// Whether the SDs were recovered from published CIs.
    sd_from_ci: bool,
}

/// The pooled result shown by the demo.
#[derive(Debug, Serialize)]
pub struct DemoMeta {
    outcome: &'static str,
    measure: &'static str,
    profile: &'static str,
    studies: Vec<DemoStudy>,
    estimate: f64,
    ci: [f64; 2],
    pi: Option<[f64; 2]>,
    p_value: f64,
    tau2: f64,
    i2: f64,
    figures: Vec<String>,
}

/// Runs the demo meta-analysis; writes the forest and funnel plots into `out` if given.
pub fn run(prov: &mut Provenance, out: Option<&Path>) -> CliResult<DemoMeta> {
    prov.add_bytes(STUDIES_NAME, STUDIES.as_bytes());
    let table = Table::parse(Path::new(STUDIES_NAME), STUDIES.as_bytes())?;
    let ctx = || meta_err(STUDIES_NAME);
    let (js, jsrc) = (table.column("study")?, table.column("source")?);
    let mut studies = Vec::new();
    let mut converted = Vec::new();
    let mut arms = Vec::new();
    // Columns through the shared table reader (errors name row, column and value; empty = NaN).
    let mut cols = std::collections::BTreeMap::new();
    for k in ["1", "2"] {
        for c in ["m", "sd", "n", "ci_low", "ci_high"] {
            let name = match c {
                "ci_low" => format!("ci{k}_low"),
                "ci_high" => format!("ci{k}_high"),
                _ => format!("{c}{k}"),
            };
            cols.insert(name.clone(), table.numeric_with_nan(&name)?);
        }
    }
    for (i, (line, r)) in table.rows.iter().enumerate() {
        let get = |name: String| Some(cols[&name][i]).filter(|v| !v.is_nan());
        let arm = |k: &str| -> CliResult<(ContinuousArm, bool)> {
            let need = |v: Option<f64>, what: &str| {
                v.ok_or_else(|| CliError::Data {
                    path: table.path.clone(),
                    message: format!("row {line}: {what}{k} is empty"),
                })
            };
            let m = need(get(format!("m{k}")), "m")?;
            let n = need(get(format!("n{k}")), "n")?;
            match get(format!("sd{k}")) {
                Some(sd) => Ok((ContinuousArm { mean: m, sd, n }, false)),
                None => {
                    let lo = need(get(format!("ci{k}_low")), "ci_low")?;
                    let hi = need(get(format!("ci{k}_high")), "ci_high")?;
                    let sd = sd_from_ci(lo, hi, n, 0.95, CiCritical::T).map_err(ctx())?;
                    Ok((
                        ContinuousArm {
                            mean: m,
                            sd: sd.value,
                            n,
                        },
                        true,
                    ))
                }
            }
        };
        let (t, c1) = arm("1")?;
        let (c, c2) = arm("2")?;
        arms.push(Some((
            ArmData::Continuous {
                mean: t.mean,
                sd: t.sd,
                n: t.n as u64,
            },
            ArmData::Continuous {
                mean: c.mean,
                sd: c.sd,
                n: c.n as u64,
            },
        )));
        converted.push((r[jsrc].clone(), c1 || c2));
        studies.push(ContinuousStudy {
            study: r[js].clone(),
            treatment: t,
            control: c,
        });
    }
    let es =
        continuous_effect_sizes(Measure::SMD, &studies, &EscalcOptions::default()).map_err(ctx())?;
    let yi: Vec<f64> = es
        .studies
        .iter()
        .map(|e| e.yi.unwrap_or(f64::NAN))
        .collect();
    let vi: Vec<f64> = es
        .studies
        .iter()
        .map(|e| e.vi.unwrap_or(f64::NAN))
        .collect();
    let labels: Vec<&String> = studies.iter().map(|s| &s.study).collect();
    let data = MetaData::new(&yi, &vi).with_labels(&labels);
    let fit = model::fit(&data, &FitOptions::profile(Profile::Cochrane2025)).map_err(ctx())?;
    let mut figures = Vec::new();
    if let Some(dir) = out {
        let options = ForestOptions {
            measure: Some(Measure::SMD),
            title: Some("GMFM-66 change at 12 months: MSC vs control".into()),
            experimental_label: Some("MSC".into()),
            control_label: Some("Control".into()),
            favours_left: Some("Favours control".into()),
            favours_right: Some("Favours MSC".into()),
            arms,
            ..ForestOptions::default()
        };
        let fail = |what: &'static str| move |e| CliError::Output(format!("{what}: {e}"));
        let forest = forest_plot(&fit, None, &options).map_err(fail("forest plot"))?;
        let forest = forest_svg(&forest).map_err(fail("forest plot"))?;
        let funnel = funnel_svg(&funnel_plot(&fit, None, Some(Measure::SMD)))
            .map_err(fail("funnel plot"))?;
        figures =
            crate::figures::write_all(dir, vec![("demo_forest", forest), ("demo_funnel", funnel)])?;
    }
    let z = 1.959_963_984_540_054;
    Ok(DemoMeta {
        outcome: "GMFM-66 change from baseline to 12 months",
        measure: "SMD (Hedges' g, metafor's large-sample variance)",
        profile: "cochrane2025 (REML, HKSJ, prediction interval with t on k − 2 df)",
        studies: fit
            .studies
            .iter()
            .zip(&converted)
            .map(|(s, (source, conv))| DemoStudy {
                study: s.study.clone(),
                source: source.clone(),
                g: s.yi,
                ci: [s.yi - z * s.vi.sqrt(), s.yi + z * s.vi.sqrt()],
                weight: s.weight,
                sd_from_ci: *conv,
            })
            .collect(),
        estimate: fit.estimate,
        ci: fit.ci,
        pi: fit.pi.as_ref().map(|p| [p.lower, p.upper]),
        p_value: fit.p_value,
        tau2: fit.tau2,
        i2: fit.i2,
        figures,
    })
}

/// The demo meta-analysis as text.
pub fn render(m: &DemoMeta) -> String {
    let mut s = format!(
        "\nMeta-analysis demo: {}\n{}; {}.\nThe trial's SDs come from its published 95% CIs (t, n − 1 df); studies A–D are invented for the demo.\n\n",
        m.outcome, m.measure, m.profile
    );
    s.push_str(&format!(
        "{:<32} {:>7} {:>19} {:>8}\n",
        "study", "g", "95% CI", "weight"
    ));
    s.push_str(&format!("{}\n", "-".repeat(70)));
    for st in &m.studies {
        s.push_str(&format!(
            "{:<32} {:>7.2} {:>19} {:>7.1}%{}\n",
            st.study,
            st.g,
            format!("[{:.2}, {:.2}]", st.ci[0], st.ci[1]),
            st.weight,
            if st.sd_from_ci { "  (SD from CI)" } else { "" }
        ));
    }
    s.push_str(&format!(
        "{:<32} {:>7.2} {:>19}  p = {:.3}\n",
        "Pooled (REML, HKSJ)",
        m.estimate,
        format!("[{:.2}, {:.2}]", m.ci[0], m.ci[1]),
        m.p_value
    ));
    if let Some(pi) = m.pi {
        s.push_str(&format!(
            "{:<32} {:>7} {:>19}\n",
            "Prediction interval",
            "",
            format!("[{:.2}, {:.2}]", pi[0], pi[1])
        ));
    }
    s.push_str(&format!("tau² = {:.3}, I² = {:.0}%\n", m.tau2, m.i2));
    for f in &m.figures {
        s.push_str(&format!("wrote {f}\n"));
    }
    s
}
