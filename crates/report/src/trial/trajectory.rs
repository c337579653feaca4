//! Observed mean ± SEM of one outcome by visit and arm: a line chart with error bars, the visits
//! on a time axis, nice ticks on the value axis and a legend of the arms.

use evidentia_trial::analysis::Trajectory;

use crate::scale::{self, Axis};
use crate::svg::{Anchor, Svg, TextStyle, escape, num};
use crate::{ReportError, finite};

const FIG: &str = "trajectory figure";

/// Arm colours in order (control first): dark grey, then the tab10 blue, red, green, purple, brown.
const ARM_COLOURS: [&str; 6] = [
    "#4D4D4D", "#1F77B4", "#D62728", "#2CA02C", "#9467BD", "#8C564B",
];

const MARGIN: f64 = 12.0;
const PLOT_W: f64 = 360.0;
const PLOT_H: f64 = 220.0;
/// Horizontal offset between arms at one visit, so that their error bars stay apart.
const DODGE: f64 = 5.0;

/// Checks the points: finite time, mean and SEM, SEM not negative.
fn check(t: &Trajectory) -> Result<(), ReportError> {
    for (arm, points) in &t.arms {
        for q in points {
            let item = format!("{}, {}, {}", t.outcome, arm, q.visit);
            finite(FIG, &item, "time", q.time)?;
            finite(FIG, &item, "mean", q.mean)?;
            finite(FIG, &item, "sem", q.sem)?;
            if q.sem < 0.0 {
                return Err(ReportError::Invalid {
                    figure: FIG,
                    item,
                    message: format!("sem is {}, expected a value ≥ 0", q.sem),
                });
            }
        }
    }
    Ok(())
}

/// The visits on the time axis: (time, label), by time, one label per time.
fn visits(t: &Trajectory) -> Vec<(f64, String)> {
    let mut v: Vec<(f64, String)> = t
        .arms
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| (q.time, q.visit.clone())))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    v.dedup_by(|b, a| a.0 == b.0);
    v
}

/// Draws the observed mean ± SEM by visit per arm of `t` as SVG.
pub fn trajectory_svg(t: &Trajectory) -> Result<String, ReportError> {
    check(t)?;
    let title_style = TextStyle::new(13.0).bold();
    let tick_style = TextStyle::new(10.5);
    let label_style = TextStyle::new(11.0);

    // Value range: every mean ± SEM; a flat or empty range gets room around it.
    let points = || t.arms.iter().flat_map(|(_, p)| p);
    let (mut lo, mut hi) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), q| {
        (l.min(q.mean - q.sem), h.max(q.mean + q.sem))
    });
    // With no points the fold leaves lo = +inf (every value was checked finite).
    let empty = !lo.is_finite();
    if empty {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * lo.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo, hi) = (lo - d, hi + d);
    }
    let (y_min, y_max, y_ticks) = scale::linear_ticks(lo, hi);

    let visits = visits(t);
    let (t_lo, t_hi) = match (visits.first(), visits.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        (Some(a), _) => (a.0 - 1.0, a.0 + 1.0),
        _ => (0.0, 1.0),
    };
    let pad = 0.06 * (t_hi - t_lo);

    // Left: the unit (rotated), then the tick labels.
    let tick_w = y_ticks
        .iter()
        .map(|v| tick_style.width(&scale::tick_label(*v)))
        .fold(0.0, f64::max);
    let unit_w = if t.unit.is_empty() { 0.0 } else { 18.0 };
    // The first visit label, centred on its visit, must not stick out to the left.
    let first_overhang = visits.first().map_or(0.0, |(time, l)| {
        let inset = PLOT_W * (time - (t_lo - pad)) / (t_hi - t_lo + 2.0 * pad);
        label_style.width(l) / 2.0 - inset
    });
    let plot_x = (MARGIN + unit_w + tick_w + 8.0).max(MARGIN + first_overhang);
    let title_y = MARGIN + 13.0;
    let plot_y = title_y + 16.0;
    let x_axis = Axis {
        min: t_lo - pad,
        max: t_hi + pad,
        x0: plot_x,
        x1: plot_x + PLOT_W,
    };
    // The value axis runs upwards: min at the bottom.
    let y_axis = Axis {
        min: y_min,
        max: y_max,
        x0: plot_y + PLOT_H,
        x1: plot_y,
    };
    let bottom = plot_y + PLOT_H;

    // Visit labels below the axis; a label that would touch its left neighbour drops a line.
    let mut row_ends: Vec<f64> = Vec::new();
    let mut placed: Vec<(f64, usize, &str)> = Vec::new();
    for (time, label) in &visits {
        let x = x_axis.px(*time);
        let w = label_style.width(label);
        let row = row_ends
            .iter()
            .position(|end| x - w / 2.0 >= end + 6.0)
            .unwrap_or(row_ends.len());
        if row == row_ends.len() {
            row_ends.push(x + w / 2.0);
        } else {
            row_ends[row] = x + w / 2.0;
        }
        placed.push((x, row, label));
    }
    let label_rows = row_ends.len().max(1) as f64;
    let x_title_y = bottom + 18.0 + 13.0 * label_rows + 4.0;

    // Legend to the right of the plot.
    let legend_x = plot_x + PLOT_W + 18.0;
    let legend_w = t
        .arms
        .iter()
        .map(|(a, _)| label_style.width(a))
        .fold(0.0, f64::max)
        + 26.0;
    let right = (legend_x + legend_w)
        .max(row_ends.iter().copied().fold(0.0, f64::max))
        .max(MARGIN + title_style.width(&title(t)));
    let width = right + MARGIN;
    let height = x_title_y + MARGIN;

    let mut svg = Svg::new();
    svg.text(MARGIN, title_y, &title(t), title_style);

    // Axes, value ticks and light grid lines.
    for v in &y_ticks {
        let y = y_axis.px(*v);
        svg.line(plot_x, y, plot_x + PLOT_W, y, "#E5E5E5", 0.8, None);
        svg.line(plot_x - 4.0, y, plot_x, y, "#000000", 0.8, None);
        svg.text(
            plot_x - 6.0,
            y + 3.7,
            &scale::tick_label(*v),
            tick_style.anchor(Anchor::End),
        );
    }
    svg.line(plot_x, plot_y, plot_x, bottom, "#000000", 0.8, None);
    svg.line(
        plot_x,
        bottom,
        plot_x + PLOT_W,
        bottom,
        "#000000",
        0.8,
        None,
    );
    for (x, row, label) in &placed {
        svg.line(*x, bottom, *x, bottom + 4.0, "#000000", 0.8, None);
        svg.text(
            *x,
            bottom + 18.0 + 13.0 * *row as f64,
            label,
            label_style.anchor(Anchor::Middle),
        );
    }
    // Visits stand at their planned times: say in what unit.
    let x_title = if t.time_unit.trim().is_empty() {
        "Visit".to_string()
    } else {
        format!("Visit ({} from baseline)", t.time_unit.trim())
    };
    svg.text(
        plot_x + PLOT_W / 2.0,
        x_title_y,
        &x_title,
        label_style.anchor(Anchor::Middle),
    );
    if !t.unit.is_empty() {
        let (cx, cy) = (MARGIN + 9.0, plot_y + PLOT_H / 2.0);
        svg.raw(&format!(
            "<text x=\"{x}\" y=\"{y}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
            escape(&t.unit),
            x = num(cx + 4.0),
            y = num(cy)
        ));
    }
    if empty {
        svg.text(
            plot_x + PLOT_W / 2.0,
            plot_y + PLOT_H / 2.0,
            "No observed values",
            label_style.anchor(Anchor::Middle),
        );
    }

    // Arms: line through the means, SEM bars with caps, a dot per visit, a legend entry.
    let n_arms = t.arms.len();
    for (a, (arm, points)) in t.arms.iter().enumerate() {
        let colour = ARM_COLOURS[a % ARM_COLOURS.len()];
        let dodge = DODGE * (a as f64 - (n_arms as f64 - 1.0) / 2.0);
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|q| (x_axis.px(q.time) + dodge, y_axis.px(q.mean)))
            .collect();
        for w in xy.windows(2) {
            svg.line(w[0].0, w[0].1, w[1].0, w[1].1, colour, 1.8, None);
        }
        for (q, (x, y)) in points.iter().zip(&xy) {
            let (y1, y2) = (y_axis.px(q.mean - q.sem), y_axis.px(q.mean + q.sem));
            svg.line(*x, y1, *x, y2, colour, 1.2, None);
            svg.line(x - 3.0, y1, x + 3.0, y1, colour, 1.2, None);
            svg.line(x - 3.0, y2, x + 3.0, y2, colour, 1.2, None);
            svg.circle(*x, *y, 3.5, colour, None, Some("trajectory-point"));
        }
        let ly = plot_y + 10.0 + 18.0 * a as f64;
        svg.line(legend_x, ly, legend_x + 20.0, ly, colour, 1.8, None);
        svg.circle(legend_x + 10.0, ly, 3.5, colour, None, None);
        svg.text(legend_x + 26.0, ly + 3.9, arm, label_style);
    }
    Ok(svg.finish(width, height))
}

fn title(t: &Trajectory) -> String {
    format!("{} (mean ± SEM)", t.label)
}

#[cfg(test)]
mod tests {
    use evidentia_trial::analysis::TrajectoryPoint;

    use super::*;
    use crate::trial::test_support::{cp_results, text_boxes};

    fn point(visit: &str, time: f64, mean: f64, sem: f64) -> TrajectoryPoint {
        TrajectoryPoint {
            visit: visit.into(),
            time,
            n: 10,
            mean,
            sem,
        }
    }

    /// Visits crowded at the start of follow-up, long labels and three arms.
    fn crowded() -> Trajectory {
        let visits = [
            ("Screening & baseline", 0.0),
            ("Day 7", 0.25),
            ("Month 1", 1.0),
            ("Month 2", 2.0),
            ("Month 12 <final>", 12.0),
        ];
        let arm = |shift: f64| {
            visits
                .iter()
                .enumerate()
                .map(|(i, (v, t))| point(v, *t, 0.41 + shift + 0.01 * i as f64, 0.004))
                .collect::<Vec<_>>()
        };
        Trajectory {
            outcome: "fa".into(),
            label: "Fractional anisotropy of the posterior thalamic radiation".into(),
            unit: "FA".into(),
            time_unit: "months".into(),
            arms: vec![
                ("Control".into(), arm(0.0)),
                ("Low dose".into(), arm(0.02)),
                ("High dose UC-MSC".into(), arm(0.04)),
            ],
        }
    }

    /// No two texts overlap and every text lies inside the canvas.
    fn assert_text_fits(svg: &str) {
        let boxes = text_boxes(svg);
        let attr = |name: &str| -> f64 {
            let key = format!(" {name}=\"");
            let start = svg.find(&key).unwrap() + key.len();
            svg[start..start + svg[start..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        let (w, h) = (attr("width"), attr("height"));
        assert!(!boxes.is_empty());
        for (i, (t, b)) in boxes.iter().enumerate() {
            assert!(
                b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= w && b[3] <= h,
                "{t} {b:?} outside {w} x {h}"
            );
            for (u, c) in &boxes[i + 1..] {
                let apart = b[2] <= c[0] || c[2] <= b[0] || b[3] <= c[1] || c[3] <= b[1];
                assert!(apart, "'{t}' {b:?} overlaps '{u}' {c:?}");
            }
        }
    }

    #[test]
    fn text_fits_and_crowded_visit_labels_drop_a_line() {
        for t in cp_results().trajectories.iter().chain([&crowded()]) {
            let svg = trajectory_svg(t).unwrap();
            assert_text_fits(&svg);
            assert_eq!(
                svg.matches("class=\"trajectory-point\"").count(),
                t.arms.iter().map(|(_, p)| p.len()).sum::<usize>(),
                "{}",
                t.outcome
            );
        }
        let svg = trajectory_svg(&crowded()).unwrap();
        assert!(svg.contains("Month 12 &lt;final&gt;"));
        // The axis says in what unit the visits are placed; without one, just "Visit".
        assert!(svg.contains(">Visit (months from baseline)<"));
        let mut bare = crowded();
        bare.time_unit.clear();
        assert!(trajectory_svg(&bare).unwrap().contains(">Visit<"));
        // Day 7 and Month 1 sit too close to the first label: they drop below it.
        let label_y = |label: &str| -> f64 {
            let line = svg
                .lines()
                .find(|l| l.contains(&format!(">{label}<")))
                .unwrap();
            let start = line.find(" y=\"").unwrap() + 4;
            line[start..start + line[start..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        assert!(label_y("Day 7") > label_y("Screening &amp; baseline"));
        assert_eq!(
            label_y("Month 12 &lt;final&gt;"),
            label_y("Screening &amp; baseline")
        );
    }

    #[test]
    fn value_ticks_are_round_and_cover_every_error_bar() {
        let t = crowded();
        let svg = trajectory_svg(&t).unwrap();
        // Means 0.41 to 0.49 ± 0.004: ticks 0.4 to 0.5 in steps of 0.02.
        for tick in ["0.4", "0.42", "0.44", "0.46", "0.48", "0.5"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}");
        }
        assert!(!svg.contains(">0.38</text>") && !svg.contains(">0.52</text>"));
    }

    #[test]
    fn bad_points_are_errors_and_no_points_draw_an_empty_frame() {
        let mut t = crowded();
        t.arms[1].1[2].mean = f64::NAN;
        assert!(matches!(
            trajectory_svg(&t),
            Err(ReportError::NonFinite { field: "mean", .. })
        ));
        let mut t = crowded();
        t.arms[0].1[0].sem = -1.0;
        assert!(matches!(
            trajectory_svg(&t),
            Err(ReportError::Invalid { .. })
        ));
        let mut t = crowded();
        t.arms.iter_mut().for_each(|(_, p)| p.clear());
        let svg = trajectory_svg(&t).unwrap();
        assert!(svg.contains("No observed values"));
        assert_text_fits(&svg);
        // One visit, one value: a flat range still gets an axis.
        t.arms[0].1.push(point("T0", 0.0, 5.0, 0.0));
        assert_text_fits(&trajectory_svg(&t).unwrap());
    }
}
