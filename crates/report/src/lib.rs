//! # evidentia-report
//!
//! Figures (SVG laid out by hand, PNG rendered with a bundled font so that output is
//! byte-identical everywhere) and tables from the results of the domain crates.
//!
//! Each figure has a plain specification struct that holds exactly what is drawn (numbers,
//! labels, pre-formatted statistics text), so that any result type can be adapted to it:
//! [`ForestPlot`], [`FunnelPlot`], [`RobTrafficLight`], [`RobSummary`] and [`PrismaFlow`].
//! The `*_svg` functions lay the figure out with the bundled DejaVu Sans metrics and return
//! the SVG text; [`svg_to_png`] rasterises it with resvg using only that font.
//!
//! The [`trial`] module makes the report of a trial analysis (tables, trajectory and CONSORT
//! figures, an offline `report.html`) from `evidentia_trial::analysis::TrialResults`.
//!
//! ```
//! use evidentia_report::{forest_svg, svg_to_png, ForestPlot, ForestRow, ForestSection};
//!
//! let mut plot = ForestPlot::new("Risk Ratio");
//! plot.log_scale = true;
//! plot.sections.push(ForestSection {
//!     rows: vec![
//!         ForestRow::new("Study A", -0.89, -2.01, 0.23),
//!         ForestRow::new("Study B", -1.59, -2.45, -0.72),
//!     ],
//!     ..ForestSection::default()
//! });
//! let svg = forest_svg(&plot).unwrap();
//! let png = svg_to_png(&svg, 1.0).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//! ```

mod flow;
mod font;
mod forest;
mod from_meta;
mod funnel;
mod png;
mod prisma;
mod rob;
mod scale;
mod svg;
pub mod trial;

pub use font::FONT_FAMILY;
pub use forest::{ArmData, ForestPlot, ForestRow, ForestSection, PooledRow, forest_svg};
pub use from_meta::{
    ForestOptions, forest_plot, funnel_plot, heterogeneity_text, is_ratio, measure_label,
    overall_effect_text, prisma_flow, revman_p, rob_figures,
};
pub use funnel::{FunnelPlot, FunnelPoint, funnel_svg};
pub use png::svg_to_png;
pub use prisma::{NamedCount, PrismaFlow, prisma_svg};
pub use rob::{
    Judgement, RobDomain, RobStudy, RobSummary, RobSummaryRow, RobTool, RobTrafficLight,
    rob_summary_svg, rob_traffic_light_svg,
};

/// Errors from laying out or rendering a figure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The specification has nothing to draw (no studies, no domains).
    #[error("{figure}: nothing to draw: {what}")]
    Empty {
        /// Which figure.
        figure: &'static str,
        /// What is missing.
        what: String,
    },
    /// A number that must be finite is NaN or infinite.
    #[error("{figure}: {item}: {field} is {value}, expected a finite number")]
    NonFinite {
        /// Which figure.
        figure: &'static str,
        /// The study or row.
        item: String,
        /// The field.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A value that is finite but inconsistent or out of range.
    #[error("{figure}: {item}: {message}")]
    Invalid {
        /// Which figure.
        figure: &'static str,
        /// The study, row or field.
        item: String,
        /// What was expected.
        message: String,
    },
    /// The SVG could not be parsed by usvg.
    #[error("SVG could not be parsed: {0}")]
    Svg(String),
    /// The raster could not be allocated or encoded.
    #[error("PNG rendering failed: {0}")]
    Png(String),
    /// A report file could not be written (the trial crate's atomic writer).
    #[error(transparent)]
    Trial(#[from] evidentia_trial::TrialError),
}

/// Rejects a NaN or infinite value with a [`ReportError::NonFinite`].
pub(crate) fn finite(
    figure: &'static str,
    item: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, ReportError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ReportError::NonFinite {
            figure,
            item: item.to_string(),
            field,
            value,
        })
    }
}
