//! Boxes, wrapped text and arrows shared by the flow diagrams (PRISMA, CONSORT).

use crate::svg::{Svg, TextStyle};

/// "3838" → "3,838".
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Splits `text` into lines no wider than `width` at ASCII spaces (no-break spaces hold).
pub(crate) fn wrap(text: &str, style: TextStyle, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let trial = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if style.width(&trial) <= width || cur.is_empty() {
            cur = trial;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A box's text: (line, indented).
pub(crate) type BoxText = Vec<(String, bool)>;

/// Baseline-to-baseline distance of box text.
pub(crate) const LINE_H: f64 = 14.0;
/// Padding between a box's border and its text.
pub(crate) const BOX_PAD: f64 = 8.0;
/// Extra left indent of an indented line.
pub(crate) const INDENT: f64 = 10.0;

/// Height of a box holding `lines`.
pub(crate) fn box_height(lines: &BoxText) -> f64 {
    lines.len() as f64 * LINE_H + 2.0 * BOX_PAD - 3.0
}

/// A box at `(x, y, w, h)` with its lines centred vertically; `class` marks it for tests.
pub(crate) fn draw_box(
    svg: &mut Svg,
    (x, y, w, h): (f64, f64, f64, f64),
    fill: &str,
    lines: &BoxText,
    style: TextStyle,
    class: &str,
) {
    svg.rect(x, y, w, h, fill, Some(("#000000", 0.8)), Some(class));
    let text_h = lines.len() as f64 * LINE_H;
    let mut ty = y + (h - text_h) / 2.0 + 11.0;
    for (line, indent) in lines {
        svg.text(
            x + BOX_PAD + if *indent { INDENT } else { 0.0 },
            ty,
            line,
            style,
        );
        ty += LINE_H;
    }
}

/// A horizontal or vertical arrow from `from` to `to` with a filled head; `class` marks the head.
pub(crate) fn arrow(svg: &mut Svg, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
    let head = 6.0;
    // f64::signum(0.0) is 1.0, so take the sign by hand: arrows are horizontal or vertical.
    let sign = |d: f64| {
        if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let (dx, dy) = (sign(x2 - x1), sign(y2 - y1));
    svg.line(x1, y1, x2 - dx * head, y2 - dy * head, "#000000", 0.9, None);
    let (bx, by) = (x2 - dx * head, y2 - dy * head);
    let (px, py) = (-dy * 3.5, dx * 3.5);
    svg.polygon(
        &[(x2, y2), (bx + px, by + py), (bx - px, by - py)],
        "#000000",
        None,
        Some(class),
    );
}
