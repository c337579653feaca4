//! r×c contingency tables: Pearson's chi-square (with Yates' correction for 2×2 as
//! an option), the likelihood-ratio G², expected counts with the "more than 20% of
//! cells below 5" warning, Fisher's exact test for 2×2 tables (with the conditional odds
//! ratio) and the Fisher–Freeman–Halton exact test for r×c tables.

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use crate::distributions::{Alternative, chi2_sf};
use crate::error::{Result, StatsError, check_unit_interval};

/// A table of counts with the labels of its rows and columns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContingencyTable {
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    /// counts[i][j]: observations in row i, column j.
    pub counts: Vec<Vec<u64>>,
}

impl ContingencyTable {
    /// Builds a table from counts, checking that it is rectangular and at least 2×2.
    pub fn new(counts: Vec<Vec<u64>>) -> Result<Self> {
        let r = counts.len();
        let c = counts.first().map_or(0, Vec::len);
        if r < 2 || c < 2 {
            return Err(StatsError::invalid(
                "table",
                format!("{r}×{c}"),
                "a contingency table needs at least 2 rows and 2 columns",
            ));
        }
        if let Some(i) = counts.iter().position(|row| row.len() != c) {
            return Err(StatsError::invalid(
                "table",
                format!("row {} has {} cells", i + 1, counts[i].len()),
                &format!("every row must have {c} cells"),
            ));
        }
        Ok(ContingencyTable {
            row_labels: (1..=r).map(|i| i.to_string()).collect(),
            col_labels: (1..=c).map(|j| j.to_string()).collect(),
            counts,
        })
    }

    /// Cross-tabulates two label columns; levels are taken in sorted order.
    pub fn from_labels<S: AsRef<str>>(rows: &[S], cols: &[S]) -> Result<Self> {
        if rows.len() != cols.len() {
            return Err(StatsError::invalid(
                "crosstab",
                format!("{} and {} labels", rows.len(), cols.len()),
                "both columns must have the same length",
            ));
        }
        let levels = |v: &[S]| {
            let mut l: Vec<String> = v.iter().map(|s| s.as_ref().to_string()).collect();
            l.sort();
            l.dedup();
            l
        };
        let (rl, cl) = (levels(rows), levels(cols));
        for (name, l) in [("rows", &rl), ("columns", &cl)] {
            if l.len() < 2 {
                return Err(StatsError::invalid(
                    name,
                    format!("{} level(s): {}", l.len(), l.join(", ")),
                    "a contingency table needs at least two levels on each side",
                ));
            }
        }
        let mut counts = vec![vec![0u64; cl.len()]; rl.len()];
        for (r, c) in rows.iter().zip(cols) {
            // Both searches succeed: the levels were built from these very labels.
            let i = rl.binary_search_by(|l| l.as_str().cmp(r.as_ref()));
            let j = cl.binary_search_by(|l| l.as_str().cmp(c.as_ref()));
            if let (Ok(i), Ok(j)) = (i, j) {
                counts[i][j] += 1;
            }
        }
        Ok(ContingencyTable {
            row_labels: rl,
            col_labels: cl,
            counts,
        })
    }

    fn row_sums(&self) -> Vec<f64> {
        self.counts
            .iter()
            .map(|r| r.iter().map(|&v| v as f64).sum())
            .collect()
    }

    fn col_sums(&self) -> Vec<f64> {
        (0..self.counts[0].len())
            .map(|j| self.counts.iter().map(|r| r[j] as f64).sum())
            .collect()
    }

    /// Whether the table is 2×2.
    pub fn is_2x2(&self) -> bool {
        self.counts.len() == 2 && self.counts[0].len() == 2
    }

    /// Expected counts under independence, E_ij = R_i C_j / N; errors if a margin is zero.
    pub fn expected(&self) -> Result<Vec<Vec<f64>>> {
        let (rs, cs) = (self.row_sums(), self.col_sums());
        let n: f64 = rs.iter().sum();
        for (what, sums, labels) in [
            ("row", &rs, &self.row_labels),
            ("column", &cs, &self.col_labels),
        ] {
            if let Some(i) = sums.iter().position(|&s| s == 0.0) {
                return Err(StatsError::invalid(
                    &format!("{what} '{}'", labels[i]),
                    "0 observations",
                    "every row and column of the table needs at least one observation",
                ));
            }
        }
        Ok(rs
            .iter()
            .map(|r| cs.iter().map(|c| r * c / n).collect())
            .collect())
    }
}

impl std::str::FromStr for ContingencyTable {
    type Err = StatsError;
    /// Parses rows separated by `;` and cells by `,`, e.g. `"17,19;15,21"`.
    fn from_str(s: &str) -> Result<Self> {
        let mut counts = Vec::new();
        for row in s.split(';') {
            let mut r = Vec::new();
            for cell in row.split(',') {
                let cell = cell.trim();
                let v: u64 = cell.parse().map_err(|_| {
                    StatsError::invalid(
                        "table cell",
                        cell,
                        "expected a non-negative whole count, as in \"17,19;15,21\"",
                    )
                })?;
                r.push(v);
            }
            counts.push(r);
        }
        ContingencyTable::new(counts)
    }
}

/// A chi-square-distributed statistic with its df and p-value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChiSquareStatistic {
    pub statistic: f64,
    pub df: f64,
    pub p_value: f64,
}

/// Result of [`chi_square`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChiSquareResult {
    /// Pearson's X² (with Yates' correction when `yates_applied`).
    pub statistic: f64,
    pub df: f64,
    pub p_value: f64,
    /// Whether Yates' continuity correction was applied (asked for, and the table is 2×2).
    pub yates_applied: bool,
    /// Expected counts under independence.
    pub expected: Vec<Vec<f64>>,
    /// Likelihood-ratio G² = 2 Σ O ln(O/E) (never continuity-corrected, as SPSS prints it).
    pub likelihood_ratio: ChiSquareStatistic,
    /// Number and fraction of cells whose expected count is below 5.
    pub cells_expected_below_5: usize,
    pub fraction_expected_below_5: f64,
    /// Smallest expected count.
    pub min_expected: f64,
    /// Human-readable warnings (e.g. more than 20% of expected counts below 5).
    pub warnings: Vec<String>,
    pub n: u64,
}

/// Pearson chi-square test of independence (`scipy.stats.chi2_contingency`; Yates'
/// correction, |O−E| reduced by min(0.5, |O−E|), only for 2×2 tables and only when asked).
pub fn chi_square(table: &ContingencyTable, yates: bool) -> Result<ChiSquareResult> {
    let e = table.expected()?;
    let r = table.counts.len();
    let c = table.counts[0].len();
    let df = ((r - 1) * (c - 1)) as f64;
    let yates_applied = yates && table.is_2x2();
    let (mut x2, mut g2) = (0.0, 0.0);
    for (orow, erow) in table.counts.iter().zip(&e) {
        for (&o, &ex) in orow.iter().zip(erow) {
            let o = o as f64;
            let mut d = (o - ex).abs();
            if yates_applied {
                d -= d.min(0.5);
            }
            x2 += d * d / ex;
            if o > 0.0 {
                g2 += o * (o / ex).ln();
            }
        }
    }
    g2 *= 2.0;
    let cells = (r * c) as f64;
    let below = e.iter().flatten().filter(|&&v| v < 5.0).count();
    let frac = below as f64 / cells;
    let min_expected = e.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let mut warnings = Vec::new();
    if frac > 0.2 {
        warnings.push(format!(
            "{below} of {} cells ({:.1}%) have expected counts below 5 (minimum {:.2}); \
             the chi-square approximation may be poor, consider Fisher's exact test",
            r * c,
            100.0 * frac,
            min_expected
        ));
    }
    let n = table.counts.iter().flatten().sum();
    Ok(ChiSquareResult {
        statistic: x2,
        df,
        p_value: chi2_sf(x2, df)?,
        yates_applied,
        expected: e,
        likelihood_ratio: ChiSquareStatistic {
            statistic: g2,
            df,
            p_value: chi2_sf(g2, df)?,
        },
        cells_expected_below_5: below,
        fraction_expected_below_5: frac,
        min_expected,
        warnings,
        n,
    })
}

/// Result of Fisher's exact test on a 2×2 table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FisherResult {
    pub p_value: f64,
    /// Sample odds ratio ad/bc (`scipy.stats.fisher_exact`); infinite (null in JSON) when bc = 0.
    pub odds_ratio: f64,
    /// Conditional maximum-likelihood odds ratio (R `fisher.test` estimate).
    pub odds_ratio_conditional_mle: f64,
    /// Exact conditional confidence interval of the odds ratio (R `fisher.test` conf.int).
    pub odds_ratio_ci: [f64; 2],
    pub confidence: f64,
    pub alternative: Alternative,
}

/// Support and log-weights of the hypergeometric law of cell a given the margins.
struct Hypergeometric {
    lo: u64,
    /// log P(X = lo + i) under the null (odds ratio 1).
    log_p: Vec<f64>,
}

impl Hypergeometric {
    fn new(row1: u64, col1: u64, n: u64) -> Self {
        let row2 = n - row1;
        let lo = col1.saturating_sub(row2);
        let hi = row1.min(col1);
        let lc = |n: u64, k: u64| {
            ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
        };
        let total = lc(n, col1);
        let log_p = (lo..=hi)
            .map(|x| lc(row1, x) + lc(row2, col1 - x) - total)
            .collect();
        Hypergeometric { lo, log_p }
    }

    /// Probabilities under odds ratio ψ (Fisher's noncentral hypergeometric), normalized.
    fn probs(&self, log_psi: f64) -> Vec<f64> {
        let w: Vec<f64> = self
            .log_p
            .iter()
            .enumerate()
            .map(|(i, lp)| lp + log_psi * (self.lo + i as u64) as f64)
            .collect();
        let m = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = w.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect()
    }

    fn mean(&self, log_psi: f64) -> f64 {
        self.probs(log_psi)
            .iter()
            .enumerate()
            .map(|(i, p)| p * (self.lo + i as u64) as f64)
            .sum()
    }

    /// P(X ≤ x) and P(X ≥ x) under odds ratio ψ.
    fn tails(&self, x: u64, log_psi: f64) -> (f64, f64) {
        let p = self.probs(log_psi);
        let k = (x - self.lo) as usize;
        let lower: f64 = p[..=k].iter().sum();
        let upper: f64 = p[k..].iter().sum();
        (lower.min(1.0), upper.min(1.0))
    }
}

/// Solves f(log ψ) = target for an increasing f on [−50, 50] by Brent's method
/// (f is smooth and monotone in log ψ; the bracket holds every estimable odds ratio).
fn solve_log_psi(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let g = |lp: f64| -> Result<f64> { Ok(f(lp) - target) };
    let (a, b) = (-50.0, 50.0);
    let (ga, gb) = (f(a) - target, f(b) - target);
    if ga >= 0.0 {
        return a;
    }
    if gb <= 0.0 {
        return b;
    }
    crate::noncentral::brent(g, a, b, ga, gb, 1e-15, 1e-15, "odds ratio").unwrap_or(f64::NAN)
}

/// Fisher's exact test for a 2×2 table (Fisher 1935). The two-sided p sums the tables
/// no more probable than the observed one, with the relative tolerance 1 + 1e-7 that
/// R `fisher.test` and `scipy.stats.fisher_exact` use.
pub fn fisher_exact(
    table: &ContingencyTable,
    alternative: Alternative,
    confidence: f64,
) -> Result<FisherResult> {
    if !table.is_2x2() {
        return Err(StatsError::invalid(
            "table",
            format!("{}×{}", table.counts.len(), table.counts[0].len()),
            "Fisher's exact test is implemented for 2×2 tables",
        ));
    }
    check_unit_interval("confidence", confidence)?;
    let [a, b] = [table.counts[0][0], table.counts[0][1]];
    let [c, d] = [table.counts[1][0], table.counts[1][1]];
    let n = a + b + c + d;
    let odds_ratio = if b * c == 0 {
        if a * d == 0 { f64::NAN } else { f64::INFINITY }
    } else {
        (a * d) as f64 / (b * c) as f64
    };
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        // A zero margin leaves a single possible table: nothing to test.
        return Ok(FisherResult {
            p_value: 1.0,
            odds_ratio,
            odds_ratio_conditional_mle: f64::NAN,
            odds_ratio_ci: [0.0, f64::INFINITY],
            confidence,
            alternative,
        });
    }
    let h = Hypergeometric::new(a + b, a + c, n);
    let p0 = h.probs(0.0);
    let k = (a - h.lo) as usize;
    let p_value = match alternative {
        Alternative::Less => p0[..=k].iter().sum::<f64>(),
        Alternative::Greater => p0[k..].iter().sum::<f64>(),
        Alternative::TwoSided => {
            let cut = p0[k] * (1.0 + 1e-7);
            p0.iter().filter(|&&p| p <= cut).sum::<f64>()
        }
    }
    .min(1.0);
    let hi = h.lo + h.log_p.len() as u64 - 1;
    let mle = if a == h.lo {
        0.0
    } else if a == hi {
        f64::INFINITY
    } else {
        solve_log_psi(|lp| h.mean(lp), a as f64).exp()
    };
    // Exact conditional limits (Cornfield 1956), as R fisher.test computes them.
    let lower_limit = |alpha: f64| {
        if a == h.lo {
            0.0
        } else {
            solve_log_psi(|lp| h.tails(a, lp).1, alpha).exp()
        }
    };
    let upper_limit = |alpha: f64| {
        if a == hi {
            f64::INFINITY
        } else {
            // P(X ≤ a; ψ) decreases in ψ, so solve on its negative.
            solve_log_psi(|lp| -h.tails(a, lp).0, -alpha).exp()
        }
    };
    let alpha = 1.0 - confidence;
    let ci = match alternative {
        Alternative::TwoSided => [lower_limit(alpha / 2.0), upper_limit(alpha / 2.0)],
        Alternative::Less => [0.0, upper_limit(alpha)],
        Alternative::Greater => [lower_limit(alpha), f64::INFINITY],
    };
    Ok(FisherResult {
        p_value,
        odds_ratio,
        odds_ratio_conditional_mle: mle,
        odds_ratio_ci: ci,
        confidence,
        alternative,
    })
}

/// Fisher–Freeman–Halton exact test of an r×c table (Freeman & Halton 1951): the
/// probability, under independence with both margins fixed, of the tables no more probable
/// than the observed one (relative tolerance 1 + 1e-7, as R `fisher.test`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FisherRxcResult {
    pub p_value: f64,
    /// Probability of the observed table under the null.
    pub table_probability: f64,
    /// Rows and columns after dropping empty ones (they carry no information).
    pub rows: usize,
    pub cols: usize,
    /// Partial tables visited by the enumeration (a measure of the work done).
    pub nodes_visited: u64,
}

/// Most partial tables [`fisher_exact_rxc`] visits before giving up with an error (about
/// 15 s of work in a release build; R's `fisher.test(Job)`, 4×4 with n = 96, needs 0.64 M).
pub const FISHER_RXC_MAX_NODES: u64 = 20_000_000;

/// Largest total [`fisher_exact_rxc`] accepts: beyond it the chi-square approximation is
/// good whenever the exact test would still be feasible.
pub const FISHER_RXC_MAX_TOTAL: u64 = 100_000;

/// Fisher–Freeman–Halton exact test for an r×c table (any size ≥ 2×2; for 2×2 it equals
/// [`fisher_exact`]'s two-sided p). Tables are enumerated column by column with fixed
/// margins, pruned with the exact smallest and largest log-weight of every remaining
/// sub-table (memoised on the sorted remaining row sums, as in Mehta & Patel's 1983
/// network algorithm), and whole sub-trees are summed in closed form when all or none of
/// their tables count. Too large a table (over [`FISHER_RXC_MAX_NODES`] nodes) is an error.
pub fn fisher_exact_rxc(table: &ContingencyTable) -> Result<FisherRxcResult> {
    // Drop empty rows and columns; order columns by decreasing total (fewer, wider first
    // levels make the enumeration tree narrower at the top) and rows likewise.
    let r0 = table.counts.len();
    let c0 = table.counts[0].len();
    let row_sum = |i: usize| table.counts[i].iter().sum::<u64>();
    let col_sum = |j: usize| (0..r0).map(|i| table.counts[i][j]).sum::<u64>();
    let mut rows: Vec<usize> = (0..r0).filter(|&i| row_sum(i) > 0).collect();
    let mut cols: Vec<usize> = (0..c0).filter(|&j| col_sum(j) > 0).collect();
    rows.sort_by_key(|&i| std::cmp::Reverse(row_sum(i)));
    cols.sort_by_key(|&j| std::cmp::Reverse(col_sum(j)));
    let n: u64 = rows.iter().map(|&i| row_sum(i)).sum();
    let (r, c) = (rows.len(), cols.len());
    if r < 2 || c < 2 {
        return Ok(FisherRxcResult {
            p_value: 1.0,
            table_probability: 1.0,
            rows: r,
            cols: c,
            nodes_visited: 0,
        });
    }
    if n > FISHER_RXC_MAX_TOTAL {
        return Err(StatsError::invalid(
            "table",
            format!("total {n}"),
            &format!(
                "is above {FISHER_RXC_MAX_TOTAL} for the exact r×c test; use the chi-square test"
            ),
        ));
    }
    let n_us = n as usize;
    let ln_fact: Vec<f64> = (0..=n_us).map(|k| ln_gamma(k as f64 + 1.0)).collect();
    let x: Vec<Vec<u64>> = rows
        .iter()
        .map(|&i| cols.iter().map(|&j| table.counts[i][j]).collect())
        .collect();
    let row_sums: Vec<u64> = rows.iter().map(|&i| row_sum(i)).collect();
    let col_sums: Vec<u64> = cols.iter().map(|&j| col_sum(j)).collect();
    let lf = |k: u64| ln_fact[k as usize];
    // log P(table) = K − Σ ln x_ij!
    let k_const = row_sums.iter().map(|&v| lf(v)).sum::<f64>()
        + col_sums.iter().map(|&v| lf(v)).sum::<f64>()
        - lf(n);
    let w_obs: f64 = x.iter().flatten().map(|&v| lf(v)).sum();
    let mut net = Network {
        ln_fact: &ln_fact,
        col_sums: &col_sums,
        bounds: std::collections::HashMap::new(),
        nodes: 0,
    };
    // Tables with W ≥ W_obs − ln(1 + 1e-7) are no more probable than the observed one.
    let threshold = w_obs - (1e-7f64).ln_1p();
    let mut sorted = row_sums.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let p = net.tail(sorted, threshold, k_const)?;
    Ok(FisherRxcResult {
        p_value: p.min(1.0),
        table_probability: (k_const - w_obs).exp(),
        rows: r,
        cols: c,
        nodes_visited: net.nodes,
    })
}

/// The enumeration of [`fisher_exact_rxc`]: a node is (next column, remaining row sums
/// sorted in decreasing order); a path's weight is Σ ln x_ij! of the cells it fixed.
struct Network<'a> {
    ln_fact: &'a [f64],
    col_sums: &'a [u64],
    /// (column, remaining row sums) → (least, greatest) weight of the rest of a table.
    bounds: std::collections::HashMap<(usize, Vec<u64>), (f64, f64)>,
    nodes: u64,
}

impl Network<'_> {
    fn lf(&self, k: u64) -> f64 {
        self.ln_fact[k as usize]
    }

    fn visit(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > FISHER_RXC_MAX_NODES {
            return Err(StatsError::invalid(
                "table",
                "too many possible tables",
                "is too large for the exact test; use the chi-square test",
            ));
        }
        Ok(())
    }

    /// Σ over the completions of exp(−weight): N'! / (Π r'_i! Π_{j ≥ k} c_j!), as a log.
    fn ln_total(&self, k: usize, rem: &[u64]) -> f64 {
        let n: u64 = rem.iter().sum();
        self.lf(n)
            - rem.iter().map(|&v| self.lf(v)).sum::<f64>()
            - self.col_sums[k..].iter().map(|&v| self.lf(v)).sum::<f64>()
    }

    /// Calls `f` with every way to fill column `k` (cells bounded by the remaining row
    /// sums), its weight Σ ln y_i!, and the remaining row sums after it (sorted).
    fn columns(
        &self,
        k: usize,
        rem: &[u64],
        f: &mut dyn FnMut(f64, Vec<u64>) -> Result<()>,
    ) -> Result<()> {
        let r = rem.len();
        let mut y = vec![0u64; r];
        // Suffix capacities: how much rows i.. can still take.
        let mut cap = vec![0u64; r + 1];
        for i in (0..r).rev() {
            cap[i] = cap[i + 1] + rem[i];
        }
        fn fill(
            net: &Network,
            i: usize,
            left: u64,
            rem: &[u64],
            cap: &[u64],
            y: &mut Vec<u64>,
            f: &mut dyn FnMut(f64, Vec<u64>) -> Result<()>,
        ) -> Result<()> {
            let r = rem.len();
            if i == r - 1 {
                if left > rem[i] {
                    return Ok(());
                }
                y[i] = left;
                let w: f64 = y.iter().map(|&v| net.lf(v)).sum();
                let mut next: Vec<u64> = rem.iter().zip(y.iter()).map(|(a, b)| a - b).collect();
                next.sort_unstable_by(|a, b| b.cmp(a));
                return f(w, next);
            }
            // Row i takes v; rows i+1.. must be able to take the rest.
            let lo = left.saturating_sub(cap[i + 1]);
            let hi = left.min(rem[i]);
            for v in lo..=hi {
                y[i] = v;
                fill(net, i + 1, left - v, rem, cap, y, f)?;
            }
            Ok(())
        }
        fill(self, 0, self.col_sums[k], rem, &cap, &mut y, f)
    }

    /// (least, greatest) weight over the completions from node (k, rem).
    fn bounds(&mut self, k: usize, rem: &[u64]) -> Result<(f64, f64)> {
        let last = self.col_sums.len() - 1;
        if k == last {
            let w: f64 = rem.iter().map(|&v| self.lf(v)).sum();
            return Ok((w, w));
        }
        if let Some(&b) = self.bounds.get(&(k, rem.to_vec())) {
            return Ok(b);
        }
        let mut children = Vec::new();
        self.columns(k, rem, &mut |w, next| {
            children.push((w, next));
            Ok(())
        })?;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (w, next) in children {
            self.visit()?;
            let (a, b) = self.bounds(k + 1, &next)?;
            lo = lo.min(w + a);
            hi = hi.max(w + b);
        }
        self.bounds.insert((k, rem.to_vec()), (lo, hi));
        Ok((lo, hi))
    }

    /// Σ P over the tables whose weight reaches `threshold`, stage by stage (column by
    /// column). Partial tables that reach the same node with the same weight (up to 1e-9,
    /// far below the test's 1e-7 tolerance) are merged and counted, as in the network
    /// algorithm; at each node the bounds decide a path's completions in one step when all
    /// or none of them count. Ordered maps keep the summation order fixed.
    fn tail(&mut self, rows: Vec<u64>, threshold: f64, k_const: f64) -> Result<f64> {
        use std::collections::BTreeMap;
        type Paths = BTreeMap<i64, (f64, f64)>;
        let key = |w: f64| (w * 1e9).round() as i64;
        let mut stage: BTreeMap<Vec<u64>, Paths> = BTreeMap::new();
        stage.entry(rows).or_default().insert(0, (0.0, 1.0));
        let mut p = 0.0;
        for k in 0..self.col_sums.len() {
            let mut next: BTreeMap<Vec<u64>, Paths> = BTreeMap::new();
            for (rem, paths) in stage {
                let (lo, hi) = self.bounds(k, &rem)?;
                let ln_total = self.ln_total(k, &rem);
                let mut open = Vec::new();
                for (w, count) in paths.into_values() {
                    self.visit()?;
                    if w + lo >= threshold {
                        // Every completion counts: their sum is closed-form.
                        p += count * (k_const - w + ln_total).exp();
                    } else if w + hi >= threshold {
                        open.push((w, count));
                    }
                }
                // At the last column lo = hi, so no path stays open there.
                if open.is_empty() {
                    continue;
                }
                let mut children = Vec::new();
                self.columns(k, &rem, &mut |wc, child| {
                    children.push((wc, child));
                    Ok(())
                })?;
                for (wc, child) in children {
                    let slot = next.entry(child).or_default();
                    for &(w, count) in &open {
                        let e = slot.entry(key(w + wc)).or_insert((w + wc, 0.0));
                        e.1 += count;
                    }
                }
            }
            stage = next;
        }
        Ok(p)
    }
}
