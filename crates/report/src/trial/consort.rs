//! The CONSORT 2010 flow diagram (Schulz et al. 2010, BMJ 340:c332): enrolment, allocation,
//! follow-up and analysis, one column per arm, in the boxes and arrows of the PRISMA figure.

use evidentia_trial::analysis::Consort;

use crate::ReportError;
use crate::flow::{BOX_PAD, BoxText, INDENT, arrow, box_height, draw_box, thousands, wrap};
use crate::svg::{Anchor, Svg, TextStyle};

const FIG: &str = "CONSORT flow diagram";

const MARGIN: f64 = 12.0;
/// Vertical gap between rows of boxes (room for an arrow).
const VGAP: f64 = 26.0;
/// Horizontal gap between arm columns.
const COL_GAP: f64 = 40.0;
/// Distance from the main vertical line to the exclusion box.
const SIDE_GAP: f64 = 28.0;
/// Narrowest and widest box; longer lines wrap.
const MIN_W: f64 = 220.0;
const MAX_W: f64 = 330.0;

const BOX_CLASS: &str = "consort-box";
const ARROW_CLASS: &str = "consort-arrow";
const STAGE_CLASS: &str = "consort-stage";

/// "(n = 12)" with no-break spaces, so that a count never wraps away from its sign.
fn n(v: usize) -> String {
    format!("(n\u{a0}=\u{a0}{})", thousands(v as u64))
}

/// Width a box needs for its lines unwrapped, within [`MIN_W`, `MAX_W`].
fn box_width(lines: &BoxText, style: TextStyle) -> f64 {
    lines
        .iter()
        .map(|(l, indent)| style.width(l) + if *indent { INDENT } else { 0.0 } + 2.0 * BOX_PAD)
        .fold(MIN_W, f64::max)
        .min(MAX_W)
}

/// Wraps every line to the box width, continuation lines keeping the line's indent.
fn fit(lines: &BoxText, style: TextStyle, w: f64) -> BoxText {
    lines
        .iter()
        .flat_map(|(l, indent)| {
            let avail = w - 2.0 * BOX_PAD - if *indent { INDENT } else { 0.0 };
            wrap(l, style, avail).into_iter().map(move |l| (l, *indent))
        })
        .collect()
}

/// The reasons with their counts, indented under a heading line.
fn reasons(list: &[(String, usize)]) -> BoxText {
    list.iter()
        .map(|(r, k)| (format!("{r} {}", n(*k)), true))
        .collect()
}

/// Draws the CONSORT flow of `c` as SVG. The enrolment boxes appear when the screening counts
/// (`assessed`, `excluded`) are given.
pub fn consort_svg(c: &Consort) -> Result<String, ReportError> {
    if c.arms.is_empty() {
        return Err(ReportError::Empty {
            figure: FIG,
            what: "no arms".into(),
        });
    }
    let style = TextStyle::new(10.5);
    let stage_style = TextStyle::new(11.0).bold();

    // Box texts, unwrapped.
    let enrol = match (c.assessed, c.excluded) {
        (Some(a), Some(e)) => {
            let assessed: BoxText = vec![(format!("Assessed for eligibility {}", n(a)), false)];
            let mut excluded: BoxText = vec![(format!("Excluded {}", n(e)), false)];
            excluded.extend(reasons(&c.exclusion_reasons));
            Some((assessed, excluded))
        }
        _ => None,
    };
    let randomized: BoxText = vec![(format!("Randomized {}", n(c.randomized)), false)];
    let columns: Vec<[BoxText; 3]> = c
        .arms
        .iter()
        .map(|a| {
            let allocation = vec![
                (format!("Allocated to {} {}", a.arm, n(a.randomized)), false),
                (
                    format!("Received allocated intervention {}", n(a.received)),
                    true,
                ),
            ];
            let mut follow_up = vec![
                (
                    format!("Lost to follow-up {}", n(a.lost_to_follow_up)),
                    false,
                ),
                (format!("Discontinued {}", n(a.discontinued)), false),
            ];
            if !a.reasons.is_empty() {
                follow_up.push(("Reasons:".to_string(), false));
                follow_up.extend(reasons(&a.reasons));
            }
            let analysis = vec![(format!("Analysed {}", n(a.analysed)), false)];
            [allocation, follow_up, analysis]
        })
        .collect();

    // Widths: one for every arm column, one per enrolment box; then wrap to them.
    let col_w = columns
        .iter()
        .flatten()
        .map(|b| box_width(b, style))
        .fold(MIN_W, f64::max);
    let columns: Vec<[BoxText; 3]> = columns
        .iter()
        .map(|col| col.clone().map(|b| fit(&b, style, col_w)))
        .collect();
    let enrol = enrol.map(|(a, e)| {
        let (aw, ew) = (box_width(&a, style), box_width(&e, style));
        ((fit(&a, style, aw), aw), (fit(&e, style, ew), ew))
    });
    let rand_w = box_width(&randomized, style);
    let randomized = fit(&randomized, style, rand_w);

    // Horizontal layout: stage strip on the left, arm columns centred under the main line.
    let stages = ["Enrollment", "Allocation", "Follow-Up", "Analysis"];
    let strip_w = stages
        .iter()
        .map(|s| stage_style.width(s))
        .fold(0.0, f64::max)
        + 16.0;
    let x_body = MARGIN + strip_w + 16.0;
    let n_arms = c.arms.len() as f64;
    let cols_w = n_arms * col_w + (n_arms - 1.0) * COL_GAP;
    let main_w = enrol
        .as_ref()
        .map_or(0.0, |((_, aw), _)| *aw)
        .max(rand_w)
        .max(cols_w);
    let cx = x_body + main_w / 2.0;
    let col_x = |k: usize| cx - cols_w / 2.0 + k as f64 * (col_w + COL_GAP);
    let mut right = col_x(c.arms.len() - 1) + col_w;

    let mut svg = Svg::new();
    let strip = |svg: &mut Svg, label: &str, top: f64, bottom: f64| {
        svg.rect(
            MARGIN,
            top,
            strip_w,
            bottom - top,
            "#A9C4EB",
            Some(("#000000", 0.6)),
            Some(STAGE_CLASS),
        );
        svg.text(
            MARGIN + strip_w / 2.0,
            (top + bottom) / 2.0 + 4.0,
            label,
            stage_style.anchor(Anchor::Middle),
        );
    };

    // Enrolment.
    let white = "#FFFFFF";
    let mut y = MARGIN;
    if let Some(((assessed, aw), (excluded, ew))) = &enrol {
        let ah = box_height(assessed);
        draw_box(
            &mut svg,
            (cx - aw / 2.0, y, *aw, ah),
            white,
            assessed,
            style,
            BOX_CLASS,
        );
        let ex_top = y + ah + VGAP;
        let eh = box_height(excluded);
        let ex_x = cx + SIDE_GAP;
        draw_box(
            &mut svg,
            (ex_x, ex_top, *ew, eh),
            white,
            excluded,
            style,
            BOX_CLASS,
        );
        right = right.max(ex_x + ew);
        let rand_top = ex_top + eh + VGAP;
        arrow(&mut svg, (cx, y + ah), (cx, rand_top), ARROW_CLASS);
        arrow(
            &mut svg,
            (cx, ex_top + eh / 2.0),
            (ex_x, ex_top + eh / 2.0),
            ARROW_CLASS,
        );
        y = rand_top;
    }
    let rh = box_height(&randomized);
    draw_box(
        &mut svg,
        (cx - rand_w / 2.0, y, rand_w, rh),
        white,
        &randomized,
        style,
        BOX_CLASS,
    );
    strip(&mut svg, stages[0], MARGIN, y + rh);

    // Allocation: the main line splits to the arm columns.
    let rand_bottom = y + rh;
    let split = rand_bottom + VGAP / 2.0 + 4.0;
    let mut top = rand_bottom + VGAP + 8.0;
    let centres: Vec<f64> = (0..c.arms.len()).map(|k| col_x(k) + col_w / 2.0).collect();
    if let [only] = centres.as_slice()
        && (only - cx).abs() < 1e-9
    {
        arrow(&mut svg, (cx, rand_bottom), (cx, top), ARROW_CLASS);
    } else {
        svg.line(cx, rand_bottom, cx, split, "#000000", 0.9, None);
        let (first, last) = (centres[0], centres[centres.len() - 1]);
        svg.line(
            first.min(cx),
            split,
            last.max(cx),
            split,
            "#000000",
            0.9,
            None,
        );
        for x in &centres {
            arrow(&mut svg, (*x, split), (*x, top), ARROW_CLASS);
        }
    }

    // Allocation, follow-up and analysis rows: boxes of one row share its height.
    for (stage, label) in stages[1..].iter().enumerate() {
        let h = columns
            .iter()
            .map(|col| box_height(&col[stage]))
            .fold(0.0, f64::max);
        for (k, col) in columns.iter().enumerate() {
            draw_box(
                &mut svg,
                (col_x(k), top, col_w, h),
                white,
                &col[stage],
                style,
                BOX_CLASS,
            );
            if stage < 2 {
                arrow(
                    &mut svg,
                    (centres[k], top + h),
                    (centres[k], top + h + VGAP),
                    ARROW_CLASS,
                );
            }
        }
        strip(&mut svg, label, top, top + h);
        top += h + VGAP;
    }
    let bottom = top - VGAP;
    Ok(svg.finish(right + MARGIN, bottom + MARGIN))
}

#[cfg(test)]
mod tests {
    use evidentia_trial::analysis::ConsortArm;

    use super::*;
    use crate::trial::test_support::{cp_results, rects, text_boxes};

    /// Three arms, long reasons that must wrap, markup characters in names.
    fn three_arms() -> Consort {
        let arm = |name: &str, k: usize| ConsortArm {
            arm: name.into(),
            randomized: 20 + k,
            received: 19 + k,
            lost_to_follow_up: k,
            discontinued: 1,
            reasons: vec![
                (
                    "moved abroad and could not be reached by the study team despite three letters"
                        .into(),
                    k,
                ),
                ("withdrew consent <after dosing>".into(), 1),
            ],
            analysed: 18,
        };
        Consort {
            assessed: Some(1200),
            excluded: Some(1137),
            exclusion_reasons: vec![
                ("did not meet inclusion criteria".into(), 1000),
                (
                    "declined to participate after the information visit with the family".into(),
                    137,
                ),
            ],
            randomized: 63,
            arms: vec![
                arm("Control", 0),
                arm("Low dose", 1),
                arm("High dose & co", 2),
            ],
        }
    }

    /// Every text lies inside a box or stage strip; every box holds text; boxes do not overlap.
    fn assert_text_fits(svg: &str) {
        let boxes = rects(svg, BOX_CLASS);
        let frames: Vec<[f64; 4]> = boxes
            .iter()
            .chain(&rects(svg, STAGE_CLASS))
            .copied()
            .collect();
        let inside = |b: &[f64; 4], r: &[f64; 4]| {
            b[0] >= r[0] + 1.0 && b[2] <= r[0] + r[2] - 1.0 && b[1] >= r[1] && b[3] <= r[1] + r[3]
        };
        let texts = text_boxes(svg);
        for (t, b) in &texts {
            assert!(
                frames.iter().any(|r| inside(b, r)),
                "'{t}' {b:?} is in no box"
            );
        }
        for (i, r) in boxes.iter().enumerate() {
            assert!(
                texts.iter().any(|(_, b)| inside(b, r)),
                "box {r:?} is empty"
            );
            for s in &boxes[i + 1..] {
                let apart = r[0] + r[2] <= s[0]
                    || s[0] + s[2] <= r[0]
                    || r[1] + r[3] <= s[1]
                    || s[1] + s[3] <= r[1];
                assert!(apart, "boxes {r:?} and {s:?} overlap");
            }
        }
    }

    /// The text of every line in document order, markup unescaped.
    fn lines(svg: &str) -> Vec<String> {
        text_boxes(svg).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn boxes_hold_the_counts_of_the_consort_struct() {
        let c = cp_results().consort;
        let svg = consort_svg(&c).unwrap();
        let text = lines(&svg);
        let has = |s: String| {
            let s = s.replace("(n = ", "(n\u{a0}=\u{a0}");
            assert!(text.contains(&s), "{s:?} not among {text:?}");
        };
        has(format!(
            "Assessed for eligibility (n = {})",
            c.assessed.unwrap()
        ));
        has(format!("Excluded (n = {})", c.excluded.unwrap()));
        for (r, k) in &c.exclusion_reasons {
            has(format!("{r} (n = {k})"));
        }
        has(format!("Randomized (n = {})", c.randomized));
        for a in &c.arms {
            has(format!("Allocated to {} (n = {})", a.arm, a.randomized));
            has(format!(
                "Received allocated intervention (n = {})",
                a.received
            ));
            has(format!("Lost to follow-up (n = {})", a.lost_to_follow_up));
            has(format!("Discontinued (n = {})", a.discontinued));
            for (r, k) in &a.reasons {
                has(format!("{r} (n = {k})"));
            }
            has(format!("Analysed (n = {})", a.analysed));
        }
        // Two boxes for enrolment, one for randomisation, three per arm.
        assert_eq!(
            svg.matches("class=\"consort-box\"").count(),
            3 + 3 * c.arms.len()
        );
        assert_eq!(svg.matches("class=\"consort-stage\"").count(), 4);
        assert_text_fits(&svg);
    }

    #[test]
    fn long_reasons_wrap_inside_their_boxes() {
        let c = three_arms();
        let svg = consort_svg(&c).unwrap();
        assert_text_fits(&svg);
        assert!(svg.contains("withdrew consent &lt;after dosing&gt;"));
        assert!(svg.contains("High dose &amp; co"));
        // The long reason is split over lines: no single line holds all of it.
        let text = lines(&svg);
        assert!(
            !text
                .iter()
                .any(|l| l.contains("moved abroad") && l.contains("letters"))
        );
        assert!(text.iter().any(|l| l.contains("letters (n\u{a0}=\u{a0}2)")));
        assert!(text.contains(&"Assessed for eligibility (n\u{a0}=\u{a0}1,200)".to_string()));
        assert_eq!(svg.matches("class=\"consort-box\"").count(), 3 + 9);
    }

    #[test]
    fn without_screening_the_flow_starts_at_randomisation() {
        let mut c = three_arms();
        c.assessed = None;
        c.excluded = None;
        let svg = consort_svg(&c).unwrap();
        assert!(!svg.contains("Assessed for eligibility"));
        assert_eq!(svg.matches("class=\"consort-box\"").count(), 1 + 9);
        assert_text_fits(&svg);
        c.arms.truncate(1);
        assert_text_fits(&consort_svg(&c).unwrap());
        c.arms.clear();
        assert!(matches!(consort_svg(&c), Err(ReportError::Empty { .. })));
    }
}
