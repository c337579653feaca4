//! Writes the results of [`crate::analysis`] as files: `results.json`, each table as
//! Markdown and CSV, SVG figures (mean ± SEM by visit per outcome, the CONSORT flow)
//! and one self-contained offline `report.html` (inline CSS and SVG, no links).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::analysis::{Consort, Trajectory, TrialResults};
use crate::dataset::write_atomic;
use crate::error::{TrialError, TrialResult};

/// A table: title, header and rows of text cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// File stem, e.g. `table1_baseline`.
    pub id: String,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Footnote (tests used, conventions).
    pub note: String,
}

fn f(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "–".into()
    }
}

fn p(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x < 0.001 {
        "<0.001".into()
    } else {
        format!("{x:.3}")
    }
}

fn ci(e: f64, c: [f64; 2], d: usize) -> String {
    format!("{} [{}, {}]", f(e, d), f(c[0], d), f(c[1], d))
}

/// Decimal places for an outcome from the size of its values.
fn decimals(scale: f64) -> usize {
    if scale.abs() >= 10.0 {
        1
    } else if scale.abs() >= 1.0 {
        2
    } else {
        3
    }
}

/// Every table of the report, in order.
pub fn tables(r: &TrialResults) -> Vec<Table> {
    let arm_names: Vec<String> = r.arms.iter().map(|a| a.name.clone()).collect();
    let mut out = Vec::new();

    // Table 1.
    let mut header = vec!["Characteristic".to_string()];
    header.extend(
        r.arms
            .iter()
            .map(|a| format!("{} (n = {})", a.name, a.randomized)),
    );
    header.extend(["p".into(), "Test".into()]);
    let mut rows = Vec::new();
    let mut reasons = Vec::new();
    for v in &r.table1 {
        let (test, pv) = v
            .test
            .as_ref()
            .map_or(("–".to_string(), "–".to_string()), |t| {
                (t.test.clone(), p(t.p_value))
            });
        if let Some(t) = &v.test {
            reasons.push(format!("{}: {} ({})", v.name, t.test, t.reason));
        }
        if v.kind == "continuous" {
            let mut row = vec![format!("{}, mean (SD)", v.name)];
            row.extend(
                v.summaries
                    .iter()
                    .map(|s| format!("{} ({})", f(s.mean, 1), f(s.sd, 1))),
            );
            row.extend([pv, test]);
            rows.push(row);
        } else {
            let mut row = vec![format!("{}, n (%)", v.name)];
            row.extend(arm_names.iter().map(|_| String::new()));
            row.extend([pv, test]);
            rows.push(row);
            for l in &v.levels {
                let mut row = vec![format!("  {}", l.level)];
                row.extend(
                    l.counts
                        .iter()
                        .zip(&l.percents)
                        .map(|(c, q)| format!("{c} ({})", f(*q, 1))),
                );
                row.extend([String::new(), String::new()]);
                rows.push(row);
            }
        }
    }
    out.push(Table {
        id: "table1_baseline".into(),
        title: "Table 1. Baseline characteristics by arm".into(),
        header,
        rows,
        note: format!(
            "Tests chosen by the plan (α = {}). {}",
            r.alpha,
            reasons.join("; ")
        ),
    });

    // Endpoint tables.
    let mut header = vec!["Outcome".to_string(), "Visit".to_string()];
    header.extend(
        arm_names
            .iter()
            .map(|a| format!("{a}: mean change [95% CI]")),
    );
    header.extend([
        "Difference β [95% CI]".into(),
        "p".into(),
        "Effect size [95% CI]".into(),
    ]);
    let mut rows = Vec::new();
    let mut methods = Vec::new();
    for o in &r.endpoints {
        methods.push(format!("{}: {}", o.label, o.method));
        // Decimals from the size of the outcome's observed means.
        let scale = r
            .trajectories
            .iter()
            .filter(|t| t.outcome == o.name)
            .flat_map(|t| {
                t.arms
                    .iter()
                    .flat_map(|(_, p)| p.iter().map(|q| q.mean.abs()))
            })
            .fold(0.0, f64::max);
        let d = decimals(scale);
        for v in &o.visits {
            let mut row = vec![format!("{} ({})", o.label, o.unit), v.visit.clone()];
            row.extend(v.within.iter().map(|w| {
                format!(
                    "{} (p {})",
                    ci(w.change.estimate, w.change.ci, d),
                    p(w.change.p_value)
                )
            }));
            row.push(ci(v.between.estimate, v.between.ci, d));
            row.push(p(v.between.p_value));
            row.push(
                v.effect_size
                    .as_ref()
                    .map_or("–".into(), |e| ci(e.value, e.ci, 2)),
            );
            rows.push(row);
        }
    }
    out.push(Table {
        id: "table2_endpoints".into(),
        title:
            "Table 2. Change from baseline by arm and between-arm difference (treated − control)"
                .into(),
        header,
        rows,
        note: format!(
            "Missing data: {}. Effect size on observed change scores. {}",
            r.missing_data,
            methods.join("; ")
        ),
    });

    // Safety.
    let s = &r.safety;
    let mut header = vec!["Adverse event".to_string()];
    header.extend(
        s.arms
            .iter()
            .zip(&s.n_per_arm)
            .map(|(a, n)| format!("{a} (n = {n}): participants n (%) / events")),
    );
    header.push("Fisher p".into());
    let mut rows = Vec::new();
    for row in std::iter::once(&s.any_event)
        .chain(std::iter::once(&s.serious))
        .chain(&s.terms)
    {
        let mut cells = vec![row.term.clone()];
        for ((k, e), n) in row.participants.iter().zip(&row.events).zip(&s.n_per_arm) {
            let pct = if *n == 0 {
                0.0
            } else {
                100.0 * *k as f64 / *n as f64
            };
            cells.push(format!("{k} ({}) / {e}", f(pct, 1)));
        }
        cells.push(row.fisher_p.map_or("–".into(), p));
        rows.push(cells);
    }
    out.push(Table {
        id: "table3_safety".into(),
        title: "Table 3. Adverse events by arm".into(),
        header,
        rows,
        note: "Fisher's exact test (two-sided) on participants with at least one event.".into(),
    });

    // CONSORT counts.
    let c = &r.consort;
    let mut header = vec!["Stage".to_string()];
    header.extend(c.arms.iter().map(|a| a.arm.clone()));
    let mut rows = Vec::new();
    let arm_row = |label: &str, g: &dyn Fn(&crate::analysis::ConsortArm) -> String| {
        let mut row = vec![label.to_string()];
        row.extend(c.arms.iter().map(g));
        row
    };
    rows.push(arm_row("Randomized", &|a| a.randomized.to_string()));
    rows.push(arm_row("Received allocated intervention", &|a| {
        a.received.to_string()
    }));
    rows.push(arm_row("Lost to follow-up", &|a| {
        a.lost_to_follow_up.to_string()
    }));
    rows.push(arm_row("Discontinued", &|a| a.discontinued.to_string()));
    rows.push(arm_row("Reasons", &|a| reason_text(&a.reasons)));
    rows.push(arm_row("Analysed", &|a| a.analysed.to_string()));
    let top = match (c.assessed, c.excluded) {
        (Some(a), Some(e)) => format!(
            "Assessed for eligibility: {a}; excluded: {e} ({}); randomized: {}.",
            reason_text(&c.exclusion_reasons),
            c.randomized
        ),
        _ => format!("Randomized: {} (no screening log given).", c.randomized),
    };
    out.push(Table {
        id: "table4_consort".into(),
        title: "Table 4. CONSORT flow counts".into(),
        header,
        rows,
        note: top,
    });
    out
}

fn reason_text(reasons: &[(String, usize)]) -> String {
    if reasons.is_empty() {
        return "none".into();
    }
    reasons
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The table as GitHub-flavoured Markdown.
pub fn to_markdown(t: &Table) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut s = format!("### {}\n\n", t.title);
    let _ = writeln!(
        s,
        "| {} |",
        t.header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
    for r in &t.rows {
        let _ = writeln!(
            s,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    let _ = writeln!(s, "\n{}", t.note);
    s
}

/// The table as CSV (RFC 4180 quoting).
pub fn to_csv(t: &Table) -> String {
    let q = |c: &str| {
        if c.contains([',', '"', '\n']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.to_string()
        }
    };
    let mut s = String::new();
    for r in std::iter::once(&t.header).chain(&t.rows) {
        s.push_str(&r.iter().map(|c| q(c)).collect::<Vec<_>>().join(","));
        s.push('\n');
    }
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const ARM_COLOURS: [&str; 2] = ["#4d4d4d", "#1f77b4"];

/// Mean ± SEM by visit per arm (observed values), as an SVG line chart.
pub fn trajectory_svg(t: &Trajectory) -> String {
    let (w, h) = (520.0, 320.0);
    let (l, r, top, b) = (64.0, 130.0, 36.0, 48.0);
    let pts = t.arms.iter().flat_map(|(_, p)| p);
    let (mut tmin, mut tmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for q in pts {
        tmin = tmin.min(q.time);
        tmax = tmax.max(q.time);
        ymin = ymin.min(q.mean - q.sem);
        ymax = ymax.max(q.mean + q.sem);
    }
    if tmin > tmax {
        (tmin, tmax, ymin, ymax) = (0.0, 1.0, 0.0, 1.0);
    }
    if tmax - tmin < 1e-12 {
        tmax = tmin + 1.0;
    }
    let pad = ((ymax - ymin) * 0.1).max(1e-9);
    let (ymin, ymax) = (ymin - pad, ymax + pad);
    let x = |v: f64| l + (v - tmin) / (tmax - tmin) * (w - l - r);
    let y = |v: f64| h - b - (v - ymin) / (ymax - ymin) * (h - top - b);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{} (mean ± SEM)</text>\n",
        l,
        xml(&t.label)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{l}\" y1=\"{top}\" x2=\"{l}\" y2=\"{}\" stroke=\"black\"/>",
        h - b,
        w - r,
        h - b,
        h - b
    );
    // Ticks at round values (1, 2 or 5 × 10^k), about five of them.
    let raw = (ymax - ymin) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|st| *st >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = (ymin / step).ceil() * step;
    while v <= ymax + 1e-9 * step {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><line x1=\"{}\" y1=\"{:.1}\" x2=\"{l}\" y2=\"{:.1}\" stroke=\"black\"/>",
            l - 6.0,
            y(v) + 4.0,
            f(v, (-step.log10().floor()).max(0.0) as usize),
            l - 4.0,
            y(v),
            y(v)
        );
        v += step;
    }
    if let Some((_, p)) = t.arms.first() {
        // Labels closer than 44 px to the previous one drop to a second line.
        let mut last = f64::NEG_INFINITY;
        let mut lower = false;
        for q in p {
            let xq = x(q.time);
            lower = xq - last < 44.0 && !lower;
            last = xq;
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                xq,
                h - b + if lower { 30.0 } else { 16.0 },
                xml(&q.visit)
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"18\" y=\"{:.1}\" transform=\"rotate(-90 18 {:.1})\" text-anchor=\"middle\">{}</text>",
        (top + h - b) / 2.0,
        (top + h - b) / 2.0,
        xml(&t.unit)
    );
    for (a, (arm, p)) in t.arms.iter().enumerate() {
        let c = ARM_COLOURS[a % 2];
        let line: Vec<String> = p
            .iter()
            .map(|q| format!("{:.1},{:.1}", x(q.time), y(q.mean)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
            line.join(" ")
        );
        for q in p {
            let _ = writeln!(
                s,
                "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"{c}\"/><circle cx=\"{0:.1}\" cy=\"{3:.1}\" r=\"3.5\" fill=\"{c}\"/>",
                x(q.time),
                y(q.mean - q.sem),
                y(q.mean + q.sem),
                y(q.mean)
            );
        }
        let ly = top + 10.0 + 18.0 * a as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w - r + 10.0,
            w - r + 30.0,
            w - r + 34.0,
            ly + 4.0,
            xml(arm)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn boxed(s: &mut String, x: f64, y: f64, w: f64, lines: &[String]) -> f64 {
    let h = 10.0 + 16.0 * lines.len() as f64;
    let _ = writeln!(
        s,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"white\" stroke=\"black\"/>"
    );
    for (i, l) in lines.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            x + 8.0,
            y + 18.0 + 16.0 * i as f64,
            xml(l)
        );
    }
    h
}

fn arrow(s: &mut String, x1: f64, y1: f64, x2: f64, y2: f64) {
    let _ = writeln!(
        s,
        "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"black\" marker-end=\"url(#arrow)\"/>"
    );
}

/// Width the diagram needs so that the exclusion box (at centre + 150) fits.
fn w_needed(exw: f64) -> f64 {
    2.0 * (150.0 + exw + 10.0)
}

/// The CONSORT 2010 flow diagram (enrolment, allocation, follow-up, analysis) as SVG.
pub fn consort_svg(c: &Consort) -> String {
    // Box widths follow the longest line (≈ 6.8 px per character at 12 px sans-serif).
    let fit = |lines: &[String], min: f64| {
        lines
            .iter()
            .map(|l| l.chars().count() as f64 * 6.8 + 24.0)
            .fold(min, f64::max)
    };
    let exclusion_lines: Vec<String> = c
        .exclusion_reasons
        .iter()
        .map(|(r, n)| format!("• {r} (n = {n})"))
        .collect();
    let arm_lines: Vec<String> = c
        .arms
        .iter()
        .flat_map(|a| {
            let mut v = vec![format!("Allocated to {} (n = {})", a.arm, a.randomized)];
            v.extend(a.reasons.iter().map(|(r, n)| format!("• {r} (n = {n})")));
            v
        })
        .collect();
    let colw = fit(&arm_lines, 320.0);
    let exw = fit(&exclusion_lines, 210.0);
    let w = (2.0 * colw + 80.0).max(720.0).max(w_needed(exw));
    let mut s = String::new();
    let mut y = 10.0;
    let cx = w / 2.0;
    if let (Some(a), Some(e)) = (c.assessed, c.excluded) {
        let h = boxed(
            &mut s,
            cx - 130.0,
            y,
            260.0,
            &[format!("Assessed for eligibility (n = {a})")],
        );
        let mut lines = vec![format!("Excluded (n = {e})")];
        lines.extend(
            c.exclusion_reasons
                .iter()
                .map(|(r, n)| format!("• {r} (n = {n})")),
        );
        let hx = boxed(&mut s, cx + 150.0, y + h + 10.0, exw, &lines);
        arrow(&mut s, cx, y + h, cx, y + h + hx + 30.0);
        arrow(
            &mut s,
            cx,
            y + h + 10.0 + hx / 2.0,
            cx + 150.0,
            y + h + 10.0 + hx / 2.0,
        );
        y += h + hx + 30.0;
    }
    let h = boxed(
        &mut s,
        cx - 110.0,
        y,
        220.0,
        &[format!("Randomized (n = {})", c.randomized)],
    );
    y += h;
    let x0 = [20.0, w - 20.0 - colw];
    let stages: Vec<Vec<Vec<String>>> = c
        .arms
        .iter()
        .map(|a| {
            let mut fu = vec![
                format!("Lost to follow-up (n = {})", a.lost_to_follow_up),
                format!("Discontinued (n = {})", a.discontinued),
            ];
            if !a.reasons.is_empty() {
                fu.push("Reasons:".to_string());
            }
            fu.extend(a.reasons.iter().map(|(r, n)| format!("• {r} (n = {n})")));
            vec![
                vec![
                    format!("Allocated to {} (n = {})", a.arm, a.randomized),
                    format!("Received allocation (n = {})", a.received),
                ],
                fu,
                vec![format!("Analysed (n = {})", a.analysed)],
            ]
        })
        .collect();
    let mut ys = [y + 30.0; 2];
    for (k, arm) in stages.iter().enumerate().take(2) {
        arrow(&mut s, cx, y, x0[k] + colw / 2.0, ys[k]);
        for (st, lines) in arm.iter().enumerate() {
            let hh = boxed(&mut s, x0[k], ys[k], colw, lines);
            if st + 1 < arm.len() {
                arrow(
                    &mut s,
                    x0[k] + colw / 2.0,
                    ys[k] + hh,
                    x0[k] + colw / 2.0,
                    ys[k] + hh + 24.0,
                );
            }
            ys[k] += hh + 24.0;
        }
    }
    let height = ys[0].max(ys[1]) + 10.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\"/></marker></defs>\n<rect width=\"{w}\" height=\"{height}\" fill=\"white\"/>\n{s}</svg>\n"
    )
}

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

/// One self-contained HTML page with every table and figure (inline CSS and SVG).
pub fn report_html(r: &TrialResults) -> String {
    let mut s =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(s, "<title>{}</title>", xml(&r.trial));
    s.push_str(
        "<style>\nbody{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\ntable{border-collapse:collapse;margin:1em 0;font-size:13px}\nth,td{border-bottom:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\nthead th{border-bottom:2px solid #222}\n.note{font-size:12px;color:#555}\nfigure{display:inline-block;margin:0.5em}\n</style>\n</head>\n<body>\n",
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
    let tabs = tables(r);
    for t in &tabs {
        s.push_str(&table_html(t));
    }
    s.push_str("<section id=\"figures\">\n<h2>Figures</h2>\n<h3>Figure 1. CONSORT flow diagram</h3>\n<figure>\n");
    s.push_str(&consort_svg(&r.consort));
    s.push_str(
        "</figure>\n<h3>Figure 2. Outcomes by visit and arm (mean ± SEM, observed values)</h3>\n",
    );
    for t in &r.trajectories {
        s.push_str("<figure>\n");
        s.push_str(&trajectory_svg(t));
        s.push_str("</figure>\n");
    }
    s.push_str("</section>\n</body>\n</html>\n");
    // The SVG namespace is an identifier, not a link: inline SVG in HTML needs none.
    s.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
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

/// Writes `results.json`, the tables (`.md`, `.csv`), the figures (`.svg`) and
/// `report.html` into `out` (created if needed); returns the paths written.
pub fn write_report(r: &TrialResults, out: &Path) -> TrialResult<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|source| TrialError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(r).map_err(|e| {
        TrialError::invalid("results", "JSON", format!("could not be serialized: {e}"))
    })? + "\n";
    written.push(write_atomic(&out.join("results.json"), json.as_bytes())?);
    for t in tables(r) {
        written.push(write_atomic(
            &out.join(format!("{}.md", t.id)),
            to_markdown(&t).as_bytes(),
        )?);
        written.push(write_atomic(
            &out.join(format!("{}.csv", t.id)),
            to_csv(&t).as_bytes(),
        )?);
    }
    written.push(write_atomic(
        &out.join("figure_consort.svg"),
        consort_svg(&r.consort).as_bytes(),
    )?);
    for t in &r.trajectories {
        written.push(write_atomic(
            &out.join(format!("figure_{}.svg", file_stem(&t.outcome))),
            trajectory_svg(t).as_bytes(),
        )?);
    }
    written.push(write_atomic(
        &out.join("report.html"),
        report_html(r).as_bytes(),
    )?);
    Ok(written)
}
