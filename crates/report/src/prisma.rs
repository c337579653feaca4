//! PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71) for a new review: identification via
//! databases and registers on the left, via other methods on the right (drawn when any of its
//! counts is given), screening, retrieval, eligibility and inclusion. Field names follow the
//! PRISMA2020 R package's data template (Haddaway et al. 2022, Campbell Syst Rev 18:e1230).

use serde::{Deserialize, Serialize};

use crate::ReportError;
use crate::flow::{self, BOX_PAD, BoxText, box_height, thousands, wrap};
use crate::svg::{Anchor, Svg, TextStyle, num};

const FIG: &str = "PRISMA flow diagram";

/// A labelled count: a database's results or an exclusion reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCount {
    /// Database name or exclusion reason, e.g. "Wrong population".
    pub name: String,
    /// Number of records or reports.
    pub n: u64,
}

/// The counts of a PRISMA 2020 flow diagram (PRISMA2020 package field names).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrismaFlow {
    /// Records identified from databases.
    pub database_results: u64,
    /// Per-database breakdown (optional; must sum to `database_results`).
    pub database_specific_results: Vec<NamedCount>,
    /// Records identified from registers (`None`: no registers searched).
    pub register_results: Option<u64>,
    /// Per-register breakdown (optional; must sum to `register_results`).
    pub register_specific_results: Vec<NamedCount>,
    /// Duplicate records removed before screening.
    pub duplicates: u64,
    /// Records marked as ineligible by automation tools.
    pub excluded_automatic: u64,
    /// Records removed for other reasons.
    pub excluded_other: u64,
    /// Records screened (title and abstract).
    pub records_screened: u64,
    /// Records excluded at screening.
    pub records_excluded: u64,
    /// Reports sought for retrieval (databases and registers).
    pub dbr_sought_reports: u64,
    /// Reports not retrieved (databases and registers).
    pub dbr_notretrieved_reports: u64,
    /// Reports assessed for eligibility (databases and registers).
    pub dbr_assessed: u64,
    /// Reports excluded at full text, by reason (databases and registers).
    pub dbr_excluded: Vec<NamedCount>,
    /// Records identified from websites (other methods).
    pub website_results: Option<u64>,
    /// Records identified from organisations (other methods).
    pub organisation_results: Option<u64>,
    /// Records identified by citation searching (other methods).
    pub citations_results: Option<u64>,
    /// Reports sought for retrieval (other methods).
    pub other_sought_reports: u64,
    /// Reports not retrieved (other methods).
    pub other_notretrieved_reports: u64,
    /// Reports assessed for eligibility (other methods).
    pub other_assessed: u64,
    /// Reports excluded at full text, by reason (other methods).
    pub other_excluded: Vec<NamedCount>,
    /// New studies included in the review.
    pub new_studies: u64,
    /// Reports of the new included studies.
    pub new_reports: u64,
    /// Studies included in the meta-analysis (PRISMA2020 `total_studies_ma`), if shown.
    pub total_studies_ma: Option<u64>,
}

fn sum(v: &[NamedCount]) -> u64 {
    v.iter().map(|c| c.n).sum()
}

impl PrismaFlow {
    /// Whether the "other methods" column is drawn.
    pub fn has_other_methods(&self) -> bool {
        self.website_results.is_some()
            || self.organisation_results.is_some()
            || self.citations_results.is_some()
    }

    /// Checks that the counts add up from box to box (the PRISMA2020 package does not).
    pub fn check(&self) -> Result<(), ReportError> {
        let bad = |item: &str, message: String| {
            Err(ReportError::Invalid {
                figure: FIG,
                item: item.to_string(),
                message,
            })
        };
        if self.database_results == 0 && self.register_results.unwrap_or(0) == 0 {
            return Err(ReportError::Empty {
                figure: FIG,
                what: "no records identified".into(),
            });
        }
        if !self.database_specific_results.is_empty()
            && sum(&self.database_specific_results) != self.database_results
        {
            return bad(
                "database_specific_results",
                format!(
                    "sum to {}, database_results is {}",
                    sum(&self.database_specific_results),
                    self.database_results
                ),
            );
        }
        if !self.register_specific_results.is_empty()
            && Some(sum(&self.register_specific_results)) != self.register_results
        {
            return bad(
                "register_specific_results",
                format!(
                    "sum to {}, register_results is {:?}",
                    sum(&self.register_specific_results),
                    self.register_results
                ),
            );
        }
        let identified = self.database_results + self.register_results.unwrap_or(0);
        let removed = self.duplicates + self.excluded_automatic + self.excluded_other;
        if identified.checked_sub(removed) != Some(self.records_screened) {
            return bad(
                "records_screened",
                format!(
                    "{identified} identified − {removed} removed before screening ≠ {} screened",
                    self.records_screened
                ),
            );
        }
        if self.records_screened.checked_sub(self.records_excluded) != Some(self.dbr_sought_reports)
        {
            return bad(
                "dbr_sought_reports",
                format!(
                    "{} screened − {} excluded ≠ {} sought",
                    self.records_screened, self.records_excluded, self.dbr_sought_reports
                ),
            );
        }
        if self
            .dbr_sought_reports
            .checked_sub(self.dbr_notretrieved_reports)
            != Some(self.dbr_assessed)
        {
            return bad(
                "dbr_assessed",
                format!(
                    "{} sought − {} not retrieved ≠ {} assessed",
                    self.dbr_sought_reports, self.dbr_notretrieved_reports, self.dbr_assessed
                ),
            );
        }
        let dbr_left = self.dbr_assessed.checked_sub(sum(&self.dbr_excluded));
        let Some(dbr_left) = dbr_left else {
            return bad(
                "dbr_excluded",
                format!(
                    "{} excluded of {} assessed",
                    sum(&self.dbr_excluded),
                    self.dbr_assessed
                ),
            );
        };
        let mut other_left = 0;
        if self.has_other_methods() {
            if self
                .other_sought_reports
                .checked_sub(self.other_notretrieved_reports)
                != Some(self.other_assessed)
            {
                return bad(
                    "other_assessed",
                    format!(
                        "{} sought − {} not retrieved ≠ {} assessed",
                        self.other_sought_reports,
                        self.other_notretrieved_reports,
                        self.other_assessed
                    ),
                );
            }
            match self.other_assessed.checked_sub(sum(&self.other_excluded)) {
                Some(v) => other_left = v,
                None => {
                    return bad(
                        "other_excluded",
                        format!(
                            "{} excluded of {} assessed",
                            sum(&self.other_excluded),
                            self.other_assessed
                        ),
                    );
                }
            }
        } else if self.other_sought_reports + self.other_assessed + sum(&self.other_excluded) > 0 {
            return bad(
                "other methods",
                "reports from other methods without any records identified by them".into(),
            );
        }
        if dbr_left + other_left != self.new_reports {
            return bad(
                "new_reports",
                format!(
                    "{} reports remain after exclusions, new_reports is {}",
                    dbr_left + other_left,
                    self.new_reports
                ),
            );
        }
        if self.new_studies > self.new_reports {
            return bad(
                "new_studies",
                format!(
                    "{} studies from {} reports",
                    self.new_studies, self.new_reports
                ),
            );
        }
        if self.new_studies == 0 {
            return Err(ReportError::Empty {
                figure: FIG,
                what: "no included studies".into(),
            });
        }
        if let Some(ma) = self.total_studies_ma
            && ma > self.new_studies
        {
            return bad(
                "total_studies_ma",
                format!("{ma} in the meta-analysis of {} included", self.new_studies),
            );
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_box(
    svg: &mut Svg,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    fill: &str,
    lines: &BoxText,
    style: TextStyle,
) {
    flow::draw_box(svg, (x, y, w, h), fill, lines, style, "prisma-box");
}

fn arrow(svg: &mut Svg, x1: f64, y1: f64, x2: f64, y2: f64) {
    flow::arrow(svg, (x1, y1), (x2, y2), "prisma-arrow");
}

/// Draws the PRISMA 2020 flow diagram as SVG, after checking its arithmetic.
pub fn prisma_svg(flow: &PrismaFlow) -> Result<String, ReportError> {
    flow.check()?;
    let fs = 10.5;
    let style = TextStyle::new(fs);
    let margin = 12.0;
    let strip = 26.0;
    let main_w = 240.0;
    let side_w = 270.0;
    let gap = 34.0;
    let text_w = |w: f64| w - 2.0 * BOX_PAD - 10.0;
    let other = flow.has_other_methods();
    let n = |v: u64| format!("(n\u{a0}=\u{a0}{})", thousands(v));
    let item = |label: &str, v: u64, w: f64| -> BoxText {
        wrap(&format!("{label} {}", n(v)), style, text_w(w))
            .into_iter()
            .map(|l| (l, true))
            .collect()
    };
    let head = |label: &str| -> BoxText { vec![(label.to_string(), false)] };
    let reasons = |label: &str, list: &[NamedCount], w: f64| -> BoxText {
        let mut b = head(label);
        if list.is_empty() {
            b.push(("(none)".into(), true));
        }
        for r in list {
            b.extend(item(&r.name, r.n, w));
        }
        b
    };
    let single = |label: &str, v: u64, w: f64| -> BoxText {
        wrap(&format!("{label} {}", n(v)), style, text_w(w) + 10.0)
            .into_iter()
            .map(|l| (l, false))
            .collect()
    };

    // Box texts.
    let mut ident = head("Records identified from:");
    ident.extend(item("Databases", flow.database_results, main_w));
    for d in &flow.database_specific_results {
        ident.extend(
            item(&format!("\u{2013} {}", d.name), d.n, main_w)
                .into_iter()
                .map(|(l, _)| (format!("   {l}"), true)),
        );
    }
    if let Some(r) = flow.register_results {
        ident.extend(item("Registers", r, main_w));
        for d in &flow.register_specific_results {
            ident.extend(
                item(&format!("\u{2013} {}", d.name), d.n, main_w)
                    .into_iter()
                    .map(|(l, _)| (format!("   {l}"), true)),
            );
        }
    }
    let mut removed = head("Records removed before screening:");
    removed.extend(item("Duplicate records removed", flow.duplicates, side_w));
    removed.extend(item(
        "Records marked as ineligible by automation tools",
        flow.excluded_automatic,
        side_w,
    ));
    removed.extend(item(
        "Records removed for other reasons",
        flow.excluded_other,
        side_w,
    ));
    let screened = single("Records screened", flow.records_screened, main_w);
    let excluded = single("Records excluded", flow.records_excluded, side_w);
    let sought = single(
        "Reports sought for retrieval",
        flow.dbr_sought_reports,
        main_w,
    );
    let notret = single(
        "Reports not retrieved",
        flow.dbr_notretrieved_reports,
        side_w,
    );
    let assessed = single(
        "Reports assessed for eligibility",
        flow.dbr_assessed,
        main_w,
    );
    let excl_reasons = reasons("Reports excluded:", &flow.dbr_excluded, side_w);
    let mut included = single("Studies included in review", flow.new_studies, main_w);
    included.extend(single(
        "Reports of included studies",
        flow.new_reports,
        main_w,
    ));
    if let Some(ma) = flow.total_studies_ma {
        included.extend(single("Studies included in meta-analysis", ma, main_w));
    }
    let (o_ident, o_sought, o_notret, o_assessed, o_excl) = if other {
        let mut b = head("Records identified from:");
        for (label, v) in [
            ("Websites", flow.website_results),
            ("Organisations", flow.organisation_results),
            ("Citation searching", flow.citations_results),
        ] {
            if let Some(v) = v {
                b.extend(item(label, v, main_w));
            }
        }
        (
            b,
            single(
                "Reports sought for retrieval",
                flow.other_sought_reports,
                main_w,
            ),
            single(
                "Reports not retrieved",
                flow.other_notretrieved_reports,
                side_w,
            ),
            single(
                "Reports assessed for eligibility",
                flow.other_assessed,
                main_w,
            ),
            reasons("Reports excluded:", &flow.other_excluded, side_w),
        )
    } else {
        Default::default()
    };

    // Row heights.
    let stage_min = |label: &str| TextStyle::new(11.0).bold().width(label) + 16.0;
    let mut rows: Vec<f64> = vec![
        [&ident, &removed, &o_ident]
            .iter()
            .map(|b| box_height(b))
            .fold(0.0, f64::max),
        [&screened, &excluded]
            .iter()
            .map(|b| box_height(b))
            .fold(0.0, f64::max),
        [&sought, &notret, &o_sought, &o_notret]
            .iter()
            .map(|b| box_height(b))
            .fold(0.0, f64::max),
        [&assessed, &excl_reasons, &o_assessed, &o_excl]
            .iter()
            .map(|b| box_height(b))
            .fold(0.0, f64::max),
        box_height(&included),
    ];
    // The rotated stage labels must fit their strips.
    rows[0] = rows[0].max(stage_min("Identification"));
    rows[4] = rows[4].max(stage_min("Included"));
    let vgap = 26.0;
    let x_main = margin + strip + 12.0;
    let x_side = x_main + main_w + gap;
    let x_omain = x_side + side_w + 2.0 * gap;
    let x_oside = x_omain + main_w + gap;
    let right = if other {
        x_oside + side_w
    } else {
        x_side + side_w
    };

    let mut svg = Svg::new();
    // Column headers.
    let header_h = 30.0;
    let hy = margin;
    let gold = "#FFC125";
    let header_style = TextStyle::new(11.0).bold();
    let header = |svg: &mut Svg, x: f64, w: f64, text: &str| {
        svg.rect(
            x,
            hy,
            w,
            header_h,
            gold,
            Some(("#000000", 0.8)),
            Some("prisma-header"),
        );
        let lines = wrap(text, header_style, w - 16.0);
        let mut ty = hy + header_h / 2.0 - (lines.len() as f64 - 1.0) * 6.5 + 4.0;
        for l in lines {
            svg.text(x + w / 2.0, ty, &l, header_style.anchor(Anchor::Middle));
            ty += 13.0;
        }
    };
    header(
        &mut svg,
        x_main,
        x_side + side_w - x_main,
        "Identification of new studies via databases and registers",
    );
    if other {
        header(
            &mut svg,
            x_omain,
            x_oside + side_w - x_omain,
            "Identification of new studies via other methods",
        );
    }
    let mut tops = Vec::new();
    let mut y = hy + header_h + 16.0;
    for h in &rows {
        tops.push(y);
        y += h + vgap;
    }
    let bottom = y - vgap;

    // Stage labels in a strip on the left.
    let blue = "#A9C4EB";
    let stages = [
        ("Identification", tops[0], tops[0] + rows[0]),
        ("Screening", tops[1], tops[3] + rows[3]),
        ("Included", tops[4], tops[4] + rows[4]),
    ];
    for (label, a, b) in stages {
        svg.rect(margin, a, strip, b - a, blue, Some(("#000000", 0.6)), None);
        let (cx, cy) = (margin + strip / 2.0 + 4.0, (a + b) / 2.0);
        svg.raw(&format!(
            "<text x=\"{x}\" y=\"{y}\" font-size=\"11\" font-weight=\"bold\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{label}</text>",
            x = num(cx),
            y = num(cy)
        ));
    }

    let white = "#FFFFFF";
    let grey = "#DCDCDC";
    let left_col: [(&BoxText, &BoxText); 4] = [
        (&ident, &removed),
        (&screened, &excluded),
        (&sought, &notret),
        (&assessed, &excl_reasons),
    ];
    for (i, (m, s)) in left_col.iter().enumerate() {
        let (t, h) = (tops[i], rows[i]);
        draw_box(&mut svg, x_main, t, main_w, h, white, m, style);
        draw_box(&mut svg, x_side, t, side_w, h, white, s, style);
        arrow(&mut svg, x_main + main_w, t + h / 2.0, x_side, t + h / 2.0);
        arrow(
            &mut svg,
            x_main + main_w / 2.0,
            t + h,
            x_main + main_w / 2.0,
            tops[i + 1],
        );
    }
    draw_box(
        &mut svg, x_main, tops[4], main_w, rows[4], white, &included, style,
    );
    if other {
        // Other methods skip screening: identification leads straight to retrieval.
        let right_col: [(usize, &BoxText, Option<&BoxText>); 3] = [
            (0, &o_ident, None),
            (2, &o_sought, Some(&o_notret)),
            (3, &o_assessed, Some(&o_excl)),
        ];
        for (row, m, s) in right_col {
            let (t, h) = (tops[row], rows[row]);
            draw_box(&mut svg, x_omain, t, main_w, h, grey, m, style);
            if let Some(s) = s {
                draw_box(&mut svg, x_oside, t, side_w, h, grey, s, style);
                arrow(
                    &mut svg,
                    x_omain + main_w,
                    t + h / 2.0,
                    x_oside,
                    t + h / 2.0,
                );
            }
        }
        let cx = x_omain + main_w / 2.0;
        arrow(&mut svg, cx, tops[0] + rows[0], cx, tops[2]);
        arrow(&mut svg, cx, tops[2] + rows[2], cx, tops[3]);
        // From "assessed" down and across into the included box.
        let iy = tops[4] + rows[4] / 2.0;
        svg.line(cx, tops[3] + rows[3], cx, iy, "#000000", 0.9, None);
        arrow(&mut svg, cx, iy, x_main + main_w, iy);
    }
    Ok(svg.finish(right + margin, bottom + margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stroke review's counts (notes/meta.md), with illustrative exclusion reasons.
    pub(crate) fn stroke() -> PrismaFlow {
        PrismaFlow {
            database_results: 3838,
            duplicates: 1153,
            records_screened: 2685,
            records_excluded: 2579,
            dbr_sought_reports: 106,
            dbr_assessed: 106,
            dbr_excluded: vec![
                NamedCount {
                    name: "Not randomised".into(),
                    n: 40,
                },
                NamedCount {
                    name: "No stroke outcome".into(),
                    n: 36,
                },
            ],
            new_studies: 30,
            new_reports: 30,
            ..PrismaFlow::default()
        }
    }

    #[test]
    fn stroke_counts_draw_and_wrong_sums_are_errors() {
        let svg = prisma_svg(&stroke()).unwrap();
        assert!(svg.contains("(n\u{a0}=\u{a0}3,838)") && svg.contains("(n\u{a0}=\u{a0}30)"));
        assert_eq!(svg.matches("class=\"prisma-box\"").count(), 9);
        let mut f = stroke();
        f.dbr_excluded[0].n = 41;
        assert!(matches!(prisma_svg(&f), Err(ReportError::Invalid { .. })));
        let mut f = stroke();
        f.records_excluded = 9999;
        assert!(prisma_svg(&f).is_err());
        assert!(matches!(
            prisma_svg(&PrismaFlow::default()),
            Err(ReportError::Empty { .. })
        ));
    }

    #[test]
    fn other_methods_column() {
        let mut f = stroke();
        f.citations_results = Some(4);
        f.other_sought_reports = 4;
        f.other_assessed = 4;
        f.other_excluded = vec![NamedCount {
            name: "Review <narrative> & editorial".into(),
            n: 2,
        }];
        assert!(prisma_svg(&f).is_err());
        f.new_reports = 32;
        f.new_studies = 31;
        let svg = prisma_svg(&f).unwrap();
        assert_eq!(svg.matches("class=\"prisma-box\"").count(), 14);
        assert!(svg.contains("&lt;narrative&gt; &amp;"));
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
