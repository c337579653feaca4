//! Writing the figures of `meta pool`, `meta rob` and `meta prisma` into `--out`: the
//! specifications come from `evidentia-report`'s adapters, each figure is written as SVG and
//! as PNG (2× scale), all rendered before anything is written so that a failure leaves no
//! partial set.

use std::path::Path;

use evidentia_meta::bias::TrimFill;
use evidentia_meta::model::{MetaFit, SubgroupAnalysis};
use evidentia_meta::prisma::PrismaFlow;
use evidentia_meta::rob::{RobSummary, RobTable};
use evidentia_report::{
    ForestOptions, ReportError, forest_plot, forest_svg, funnel_plot, funnel_svg, prisma_flow,
    prisma_svg, rob_figures, rob_summary_svg, rob_traffic_light_svg, svg_to_png,
};

use crate::error::{CliError, CliResult};
use crate::outdir::OutDir;

/// PNG scale factor (2× for print).
const PNG_SCALE: f32 = 2.0;

fn report_err(what: &str) -> impl FnOnce(ReportError) -> CliError + '_ {
    move |e| CliError::Output(format!("{what}: {e}"))
}

/// Renders each (name, svg) to PNG, then writes all files; returns the paths written.
pub fn write_all(dir: &Path, figures: Vec<(&str, String)>) -> CliResult<Vec<String>> {
    let mut files = Vec::new();
    for (name, svg) in figures {
        let png = svg_to_png(&svg, PNG_SCALE).map_err(report_err(name))?;
        files.push((format!("{name}.svg"), svg.into_bytes()));
        files.push((format!("{name}.png"), png));
    }
    let out = OutDir::create(dir)?;
    files
        .iter()
        .map(|(name, bytes)| Ok(out.write(name, bytes)?.display().to_string()))
        .collect()
}

/// Writes the forest plot and the contour-enhanced funnel plot of a pooled analysis.
pub fn pool(
    dir: &Path,
    fit: &MetaFit,
    subgroups: Option<&SubgroupAnalysis>,
    trimfill: Option<&TrimFill>,
    options: &ForestOptions,
) -> CliResult<Vec<String>> {
    let forest = forest_plot(fit, subgroups, options).map_err(report_err("forest plot"))?;
    let forest = forest_svg(&forest).map_err(report_err("forest plot"))?;
    let funnel = funnel_plot(fit, trimfill, options.measure);
    let funnel = funnel_svg(&funnel).map_err(report_err("funnel plot"))?;
    write_all(dir, vec![("forest", forest), ("funnel", funnel)])
}

/// Writes the risk-of-bias traffic-light and summary plots; returns the paths written.
pub fn rob(table: &RobTable, summary: &RobSummary, out: Option<&Path>) -> CliResult<Vec<String>> {
    let Some(dir) = out else {
        return Ok(Vec::new());
    };
    let (light, bars) =
        rob_figures(table, summary.weighted).map_err(report_err("risk-of-bias figures"))?;
    let light = rob_traffic_light_svg(&light).map_err(report_err("traffic-light plot"))?;
    let bars = rob_summary_svg(&bars).map_err(report_err("summary plot"))?;
    write_all(
        dir,
        vec![("rob_traffic_light", light), ("rob_summary", bars)],
    )
}

/// Writes the PRISMA 2020 flow diagram; returns the paths written.
pub fn prisma(flow: &PrismaFlow, out: Option<&Path>) -> CliResult<Vec<String>> {
    let Some(dir) = out else {
        return Ok(Vec::new());
    };
    let svg = prisma_svg(&prisma_flow(flow)).map_err(report_err("PRISMA flow diagram"))?;
    write_all(dir, vec![("prisma", svg)])
}
