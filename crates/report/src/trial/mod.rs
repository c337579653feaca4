//! The report of a trial analysis ([`evidentia_trial::analysis::TrialResults`]): its tables as
//! Markdown and CSV, the figures (mean ± SEM by visit per outcome, the CONSORT flow) as SVG and
//! PNG, and one self-contained offline `report.html` (inline CSS and SVG, no links).
//!
//! ```no_run
//! use std::path::Path;
//!
//! use evidentia_trial::analysis::analyze_files;
//!
//! let results = analyze_files(Path::new("trial-data"), Path::new("plan.toml")).unwrap();
//! let files = evidentia_report::trial::write_report(&results, Path::new("report")).unwrap();
//! assert!(files.iter().any(|f| f.ends_with("report.html")));
//! ```

mod consort;
mod tables;
mod trajectory;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use evidentia_trial::TrialError;
use evidentia_trial::analysis::TrialResults;
use evidentia_trial::dataset::write_atomic;

pub use consort::consort_svg;
pub use tables::{Table, tables, to_csv, to_markdown};
pub use trajectory::trajectory_svg;

use crate::svg::escape as xml;
use crate::{ReportError, svg_to_png};

/// Pixels per SVG unit of the PNG copies (2× for print, as the meta-analysis figures).
pub const PNG_SCALE: f32 = 2.0;

fn table_html(t: &Table) -> String {
    let mut s = format!(
        "<section id=\"{}\">\n<h2>{}</h2>\n<table>\n<thead><tr>",
        xml(&t.id),
        xml(&t.title)
    );
    for h in &t.header {
        let _ = write!(s, "<th>{}</th>", xml(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", xml(c));
        }
        s.push_str("</tr>\n");
    }
    let _ = write!(
        s,
        "</tbody>\n</table>\n<p class=\"note\">{}</p>\n</section>\n",
        xml(&t.note)
    );
    s
}

/// The figures of the report: (file stem, SVG), the CONSORT flow first.
fn figures(r: &TrialResults) -> Result<Vec<(String, String)>, ReportError> {
    let mut out = vec![("figure_consort".to_string(), consort_svg(&r.consort)?)];
    for t in &r.trajectories {
        out.push((
            format!("figure_{}", file_stem(&t.outcome)),
            trajectory_svg(t)?,
        ));
    }
    Ok(out)
}

fn html(r: &TrialResults, figures: &[(String, String)]) -> String {
    let mut s =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(s, "<title>{}</title>", xml(&r.trial));
    s.push_str(
        "<style>\nbody{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\ntable{border-collapse:collapse;margin:1em 0;font-size:13px}\nth,td{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\nthead th{border-bottom:2px solid #222}\n.note{font-size:12px;color:#555}\nfigure{display:inline-block;margin:0.5em}\nfigure svg{max-width:100%;height:auto}\n</style>\n</head>\n<body>\n",
    );
    let _ = writeln!(s, "<h1>{}</h1>", xml(&r.trial));
    let _ = writeln!(
        s,
        "<p class=\"note\">Evidentia {}; plan SHA-256 {}; {}</p>",
        xml(&r.provenance.evidentia_version),
        xml(&r.provenance.plan_sha256),
        r.provenance
            .inputs
            .iter()
            .map(|i| format!("{} {}", xml(&i.file), xml(&i.sha256)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for t in &tables(r) {
        s.push_str(&table_html(t));
    }
    s.push_str(
        "<section id=\"figures\">\n<h2>Figures</h2>\n<h3>Figure 1. CONSORT flow diagram</h3>\n",
    );
    let mut rest = figures.iter();
    if let Some((_, consort)) = rest.next() {
        s.push_str("<figure>\n");
        s.push_str(consort);
        s.push_str("</figure>\n");
    }
    s.push_str("<h3>Figure 2. Outcomes by visit and arm (mean ± SEM, observed values)</h3>\n");
    for (_, svg) in rest {
        s.push_str("<figure>\n");
        s.push_str(svg);
        s.push_str("</figure>\n");
    }
    s.push_str("</section>\n</body>\n</html>\n");
    // The SVG namespace is an identifier, not a link: inline SVG in HTML needs none.
    s.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

/// One self-contained HTML page with every table and figure (inline CSS and SVG).
pub fn report_html(r: &TrialResults) -> Result<String, ReportError> {
    Ok(html(r, &figures(r)?))
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `results.json`, the tables (`.md`, `.csv`), the figures (`figure_consort` and
/// `figure_<outcome>`, each as `.svg` and `.png`) and `report.html` into `out` (created if
/// needed); returns the paths written. Every file is made before the first is written, and each
/// is written under a temporary name and renamed.
pub fn write_report(r: &TrialResults, out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let json = serde_json::to_string_pretty(r).map_err(|e| ReportError::Invalid {
        figure: "trial report",
        item: "results.json".into(),
        message: format!("could not be serialized: {e}"),
    })? + "\n";
    let mut files: Vec<(String, Vec<u8>)> = vec![("results.json".into(), json.into_bytes())];
    for t in tables(r) {
        files.push((format!("{}.md", t.id), to_markdown(&t).into_bytes()));
        files.push((format!("{}.csv", t.id), to_csv(&t).into_bytes()));
    }
    let figures = figures(r)?;
    for (stem, svg) in &figures {
        let png = svg_to_png(svg, PNG_SCALE)?;
        files.push((format!("{stem}.svg"), svg.clone().into_bytes()));
        files.push((format!("{stem}.png"), png));
    }
    files.push(("report.html".into(), html(r, &figures).into_bytes()));

    std::fs::create_dir_all(out).map_err(|source| TrialError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in &files {
        written.push(write_atomic(&out.join(name), bytes)?);
    }
    Ok(written)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use evidentia_trial::AnalysisPlan;
    use evidentia_trial::analysis::{self, TrialResults};
    use evidentia_trial::simulate::{Design, simulate};
    use resvg::usvg;

    /// The simulated cerebral-palsy trial (seed 11) analysed by its example plan.
    pub fn cp_results() -> TrialResults {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/cp-rct/plan.toml");
        let plan = AnalysisPlan::load(&p).unwrap();
        let ds = simulate(Design::CpRct, 11).unwrap();
        analysis::analyze(&ds, &plan).unwrap()
    }

    /// Every text element of `svg` as laid out by usvg with the bundled font: (text, [left, top,
    /// right, bottom]) in canvas units.
    pub fn text_boxes(svg: &str) -> Vec<(String, [f64; 4])> {
        fn walk(g: &usvg::Group, out: &mut Vec<(String, [f64; 4])>) {
            for node in g.children() {
                match node {
                    usvg::Node::Group(g) => walk(g, out),
                    usvg::Node::Text(t) => {
                        let b = t.abs_bounding_box();
                        let text = t.chunks().iter().map(|c| c.text()).collect();
                        out.push((
                            text,
                            [b.left(), b.top(), b.right(), b.bottom()].map(f64::from),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let tree = usvg::Tree::from_str(svg, &crate::png::options()).unwrap();
        let mut out = Vec::new();
        walk(tree.root(), &mut out);
        out
    }

    /// `(x, y, width, height)` of the rectangles with `class`.
    pub fn rects(svg: &str, class: &str) -> Vec<[f64; 4]> {
        let attr = |a| crate::forest::attrs_of(svg, class, a);
        let (x, y, w, h) = (attr("x"), attr("y"), attr("width"), attr("height"));
        assert_eq!(x.len(), w.len());
        (0..x.len()).map(|i| [x[i], y[i], w[i], h[i]]).collect()
    }
}
