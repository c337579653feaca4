//! The report's tables (baseline, endpoints, safety, CONSORT counts) from a trial's results,
//! as Markdown and CSV.

use std::fmt::Write as _;

use evidentia_trial::analysis::{ConsortArm, TrialResults};

/// A table: title, header and rows of text cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// File stem, e.g. `table1_baseline`.
    pub id: String,
    /// Caption, e.g. "Table 1. Baseline characteristics by arm".
    pub title: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Body rows, one cell per heading.
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
    let arm_row = |label: &str, g: &dyn Fn(&ConsortArm) -> String| {
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
