//! A minimal data frame and the design matrix of a [`Formula`], built the way
//! patsy builds it for statsmodels: treatment (dummy) coding, terms grouped by
//! their numeric factors and ordered by degree, and the full-rank choice of
//! contrasts for interactions (patsy's `pick_contrasts_for_term`, after
//! Hastie & Chambers' rules in *Statistical Models in S*, 1992, ch. 2).

use serde::Serialize;

use crate::error::{Result, StatsError};
use crate::formula::{Formula, Term, Variable};
use crate::linalg::{Qr, RANK_TOL};

/// One column of a [`Frame`].
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN marks a missing value.
    Numeric(Vec<f64>),
    /// Text (always a factor); `None` marks a missing value.
    Text(Vec<Option<String>>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_missing(&self, i: usize) -> bool {
        match self {
            Column::Numeric(v) => v[i].is_nan(),
            Column::Text(v) => v[i].is_none(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    names: Vec<String>,
    columns: Vec<Column>,
}

impl Frame {
    /// An empty frame.
    pub fn new() -> Frame {
        Frame::default()
    }

    /// Adds (or replaces) a column; all columns must have the same length.
    pub fn insert(&mut self, name: &str, column: Column) -> Result<()> {
        if let Some(first) = self.columns.first()
            && first.len() != column.len()
            && !(self.names.len() == 1 && self.names[0] == name)
        {
            return Err(StatsError::invalid(
                "column",
                name,
                &format!("has {} rows, the frame has {}", column.len(), first.len()),
            ));
        }
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.columns[i] = column,
            None => {
                self.names.push(name.to_string());
                self.columns.push(column);
            }
        }
        Ok(())
    }

    /// Builder form of [`Frame::insert`].
    pub fn with(mut self, name: &str, column: Column) -> Result<Frame> {
        self.insert(name, column)?;
        Ok(self)
    }

    /// The column called `name`.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
    }

    /// Column names in insertion order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of rows (0 for an empty frame).
    pub fn nrows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }
}

/// Which level of a factor is the reference (omitted) level of its treatment coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Coding {
    /// First level in sorted order (R `contr.treatment`, patsy `Treatment`).
    #[default]
    First,
    /// Last level in sorted order (SPSS `GLM`/`UNIANOVA` `/DESIGN` default).
    Spss,
}

impl std::str::FromStr for Coding {
    type Err = StatsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "first" | "r" | "patsy" | "treatment" => Ok(Coding::First),
            "spss" | "last" => Ok(Coding::Spss),
            _ => Err(StatsError::invalid(
                "coding",
                s,
                "expected first (R/patsy, default) or spss (last level as reference)",
            )),
        }
    }
}

/// The levels of one factor as coded in a design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorInfo {
    /// The factor's label in the formula, e.g. `C(period)`.
    pub label: String,
    /// The data column.
    pub column: String,
    /// Sorted levels present in the rows used.
    pub levels: Vec<String>,
    /// The reference level.
    pub reference: String,
}

/// The columns of one formula term in a design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignTerm {
    /// patsy's term name (`Intercept`, `age`, `C(arm):C(visit)`).
    pub name: String,
    /// Indices of the term's columns in the design matrix.
    pub columns: Vec<usize>,
}

/// A design matrix with its response, ready for fitting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Design {
    /// Response column name.
    pub response: String,
    /// Response values of the rows used.
    pub y: Vec<f64>,
    /// Design matrix, column-major: element (i, j) is `x[i + j * n]`.
    pub x: Vec<f64>,
    /// Rows used.
    pub n: usize,
    /// Column names as patsy gives them (e.g. `C(arm)[T.UCT-MSC]:C(visit)[T.3]`).
    pub column_names: Vec<String>,
    /// Terms in patsy order with their columns.
    pub terms: Vec<DesignTerm>,
    /// Factors with their levels and reference level.
    pub factors: Vec<FactorInfo>,
    /// Indices (in the frame) of the rows used.
    pub rows: Vec<usize>,
    /// Rows dropped for a missing value in a used column.
    pub n_dropped: usize,
    /// The reference-level convention used.
    pub coding: Coding,
    /// Whether the design has an intercept column.
    pub intercept: bool,
}

impl Design {
    /// Number of columns.
    pub fn p(&self) -> usize {
        self.column_names.len()
    }

    /// Column `j` of the design matrix.
    pub fn column(&self, j: usize) -> &[f64] {
        &self.x[j * self.n..(j + 1) * self.n]
    }
}

/// Formats a numeric factor level as pandas/patsy print an integer column's
/// values (`2`, not `2.0`); other values use Rust's shortest round-trip form.
fn numeric_level(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// How one variable enters the design.
enum Coded {
    Numeric(Vec<f64>),
    /// Level index of each used row, and the factor's levels and reference index.
    Factor {
        codes: Vec<usize>,
        levels: Vec<String>,
        reference: usize,
    },
}

fn code_variable(
    v: &Variable,
    col: &Column,
    rows: &[usize],
    coding: Coding,
    n_dropped: usize,
) -> Result<Coded> {
    // Level index of each row and the sorted distinct levels: numerically for
    // numeric columns, by text otherwise.
    let (codes, levels): (Vec<usize>, Vec<String>) = match col {
        Column::Numeric(x) => {
            let vals: Vec<f64> = rows.iter().map(|&i| x[i]).collect();
            if !v.forced_factor {
                return Ok(Coded::Numeric(vals));
            }
            let mut u = vals.clone();
            u.sort_by(f64::total_cmp);
            u.dedup();
            let codes = vals
                .iter()
                .map(|&a| u.partition_point(|b| *b < a))
                .collect();
            (codes, u.into_iter().map(numeric_level).collect())
        }
        Column::Text(x) => {
            let vals: Vec<&str> = rows
                .iter()
                .map(|&i| x[i].as_deref().unwrap_or_default())
                .collect();
            let mut u = vals.clone();
            u.sort_unstable();
            u.dedup();
            let codes = vals.iter().map(|a| u.partition_point(|b| b < a)).collect();
            (codes, u.into_iter().map(str::to_string).collect())
        }
    };
    if levels.len() < 2 {
        return Err(StatsError::invalid(
            "factor",
            &v.label,
            &format!(
                "has only one level ({}) in the {} rows used (after dropping {} with missing values); a factor needs at least two",
                levels.first().map_or("none", String::as_str),
                rows.len(),
                n_dropped
            ),
        ));
    }
    let reference = match &v.reference {
        Some(r) => levels.iter().position(|l| l == r).ok_or_else(|| {
            StatsError::invalid(
                "reference level",
                r,
                &format!(
                    "is not a level of {}; levels: {}",
                    v.column,
                    levels.join(", ")
                ),
            )
        })?,
        None => match coding {
            Coding::First => 0,
            Coding::Spss => levels.len() - 1,
        },
    };
    Ok(Coded::Factor {
        codes,
        levels,
        reference,
    })
}

/// patsy's `_subsets_sorted`: all subsets of `0..k`, by size, then generation order.
fn subsets_sorted(k: usize) -> Vec<Vec<usize>> {
    fn helper(items: &[usize]) -> Vec<Vec<usize>> {
        match items.split_first() {
            None => vec![vec![]],
            Some((&first, rest)) => {
                let mut out = Vec::new();
                for s in helper(rest) {
                    let mut with = vec![first];
                    with.extend(&s);
                    out.push(s);
                    out.push(with);
                }
                out
            }
        }
    }
    let items: Vec<usize> = (0..k).collect();
    let mut all: Vec<(usize, Vec<usize>)> = helper(&items).into_iter().enumerate().collect();
    all.sort_by_key(|(i, s)| (s.len(), *i));
    all.into_iter().map(|(_, s)| s).collect()
}

/// A subterm: categorical factors (by label) with "full" (all levels) or reduced coding.
type Subterm = Vec<(String, bool)>;

fn same_subterm(a: &Subterm, b: &Subterm) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// patsy's `pick_contrasts_for_term`: which categorical factors of a term are
/// coded with all their levels, subterm by subterm, to keep the design full rank.
fn pick_contrasts(categorical: &[String], used: &mut Vec<Subterm>) -> Vec<Subterm> {
    let mut subterms: Vec<Subterm> = Vec::new();
    for subset in subsets_sorted(categorical.len()) {
        let st: Subterm = subset
            .iter()
            .map(|&i| (categorical[i].clone(), false))
            .collect();
        if !used.iter().any(|u| same_subterm(u, &st)) {
            subterms.push(st);
        }
    }
    used.extend(subterms.iter().cloned());
    // _simplify_subterms: greedily let a longer subterm absorb a shorter one.
    'outer: loop {
        for short_i in 0..subterms.len() {
            for long_i in short_i + 1..subterms.len() {
                let (short, long) = (&subterms[short_i], &subterms[long_i]);
                if long.len() == short.len() + 1 && short.iter().all(|x| long.contains(x)) {
                    let diff = long.iter().find(|x| !short.contains(x)).unwrap().0.clone();
                    let mut new = short.clone();
                    new.push((diff, true));
                    subterms[long_i] = new;
                    subterms.remove(short_i);
                    continue 'outer;
                }
            }
        }
        break;
    }
    subterms
}

/// Dot product with four partial sums (vectorizes; used only by the rank screen).
fn dot4(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

/// A cheap screen before the pivoted QR of the rank check: the Cholesky factor of
/// the Gram matrix of the unit-scaled columns gives, for column j, the squared
/// ratio of its residual norm (after projecting out columns 0..j) to its norm,
/// the quantity dqrdc2's rule compares with `RANK_TOL`. When every ratio exceeds
/// 1e-3 (four orders of magnitude above `RANK_TOL`, far beyond the rounding error
/// of the Gram route) the design is full rank and the QR would alias nothing;
/// otherwise the QR decides.
fn clearly_full_rank(x: &[f64], n: usize, p: usize) -> bool {
    const SAFE_RATIO_SQ: f64 = 1e-6;
    let col = |j: usize| &x[j * n..(j + 1) * n];
    let norms: Vec<f64> = (0..p).map(|j| dot4(col(j), col(j)).sqrt()).collect();
    if norms.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
        return false;
    }
    let mut l = vec![0.0; p * p];
    for j in 0..p {
        for k in 0..=j {
            let a = dot4(col(j), col(k)) / (norms[j] * norms[k]);
            let s = a - crate::linalg::dot(&l[j * p..j * p + k], &l[k * p..k * p + k]);
            if k == j {
                if s.is_nan() || s <= SAFE_RATIO_SQ {
                    return false;
                }
                l[j * p + j] = s.sqrt();
            } else {
                l[j * p + k] = s / l[k * p + k];
            }
        }
    }
    true
}

/// Builds the design matrix of `formula` on `frame` (patsy's `dmatrices` with
/// `NA_action="drop"` and treatment coding; `coding` picks the default reference
/// level). Fails on unknown columns, one-level factors and rank-deficient designs.
pub fn build_design(formula: &Formula, frame: &Frame, coding: Coding) -> Result<Design> {
    let used = formula.columns();
    let mut cols = Vec::new();
    for name in &used {
        let col = frame.get(name).ok_or_else(|| {
            StatsError::invalid(
                "column",
                name,
                &format!(
                    "not found in the data (columns: {})",
                    frame.names().join(", ")
                ),
            )
        })?;
        if let Column::Numeric(v) = col
            && let Some(i) = v.iter().position(|x| x.is_infinite())
        {
            return Err(StatsError::NonFinite {
                what: name.clone(),
                index: i,
                value: v[i],
            });
        }
        cols.push(col);
    }
    let Column::Numeric(yall) = cols[0] else {
        return Err(StatsError::invalid(
            "response",
            &formula.response.column,
            "must be a numeric column",
        ));
    };
    let nrows = frame.nrows();
    let rows: Vec<usize> = (0..nrows)
        .filter(|&i| cols.iter().all(|c| !c.is_missing(i)))
        .collect();
    let n = rows.len();
    let n_dropped = nrows - n;
    let y: Vec<f64> = rows.iter().map(|&i| yall[i]).collect();

    // Code every distinct variable once.
    let mut vars: Vec<(Variable, Coded)> = Vec::new();
    for t in &formula.terms {
        for v in &t.variables {
            if vars.iter().any(|(w, _)| w.label == v.label) {
                continue;
            }
            let col = frame.get(&v.column).expect("checked above");
            let coded = code_variable(v, col, &rows, coding, n_dropped)?;
            vars.push((v.clone(), coded));
        }
    }
    let coded = |label: &str| &vars.iter().find(|(w, _)| w.label == label).unwrap().1;
    let is_numeric = |label: &str| matches!(coded(label), Coded::Numeric(_));

    // Buckets by the set of numeric factors; the no-numeric bucket first; by degree within.
    let intercept_term = Term { variables: vec![] };
    let all_terms: Vec<&Term> = formula
        .intercept
        .then_some(&intercept_term)
        .into_iter()
        .chain(&formula.terms)
        .collect();
    let mut buckets: Vec<(Vec<String>, Vec<&Term>)> = Vec::new();
    for t in all_terms {
        let mut key: Vec<String> = t
            .variables
            .iter()
            .filter(|v| is_numeric(&v.label))
            .map(|v| v.label.clone())
            .collect();
        key.sort();
        match buckets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ts)) => ts.push(t),
            None => buckets.push((key, vec![t])),
        }
    }
    if let Some(i) = buckets.iter().position(|(k, _)| k.is_empty()) {
        let b = buckets.remove(i);
        buckets.insert(0, b);
    }

    let mut x: Vec<f64> = Vec::new();
    let mut column_names = Vec::new();
    let mut terms = Vec::new();
    for (_, mut bterms) in buckets {
        bterms.sort_by_key(|t| t.variables.len());
        let mut used_subterms: Vec<Subterm> = Vec::new();
        for t in bterms {
            let categorical: Vec<String> = t
                .variables
                .iter()
                .filter(|v| !is_numeric(&v.label))
                .map(|v| v.label.clone())
                .collect();
            let mut term_cols = Vec::new();
            for st in pick_contrasts(&categorical, &mut used_subterms) {
                // Per factor (term order): list of (name, values) columns.
                let mut per_factor: Vec<Vec<(String, Vec<f64>)>> = Vec::new();
                for v in &t.variables {
                    match coded(&v.label) {
                        Coded::Numeric(vals) => {
                            per_factor.push(vec![(v.label.clone(), vals.clone())])
                        }
                        Coded::Factor {
                            codes,
                            levels,
                            reference,
                        } => {
                            let full = st.iter().find(|(l, _)| *l == v.label).map(|(_, f)| *f);
                            let Some(full) = full else {
                                // Factor absent from this subterm: contributes nothing
                                // (patsy never produces this for a categorical factor).
                                continue;
                            };
                            let mut fc = Vec::new();
                            for (li, level) in levels.iter().enumerate() {
                                if !full && li == *reference {
                                    continue;
                                }
                                let name = if full {
                                    format!("{}[{}]", v.label, level)
                                } else {
                                    format!("{}[T.{}]", v.label, level)
                                };
                                let vals = codes
                                    .iter()
                                    .map(|&c| f64::from(u8::from(c == li)))
                                    .collect();
                                fc.push((name, vals));
                            }
                            per_factor.push(fc);
                        }
                    }
                }
                // Left-most factor varies fastest (patsy's _column_combinations).
                let counts: Vec<usize> = per_factor.iter().map(Vec::len).collect();
                let total: usize = counts.iter().product();
                for mut idx in 0..total {
                    let mut name_parts = Vec::new();
                    let mut vals = vec![1.0; n];
                    for (f, &c) in per_factor.iter().zip(&counts) {
                        let (nm, v) = &f[idx % c];
                        idx /= c;
                        name_parts.push(nm.clone());
                        for (a, b) in vals.iter_mut().zip(v) {
                            *a *= b;
                        }
                    }
                    let name = if name_parts.is_empty() {
                        "Intercept".to_string()
                    } else {
                        name_parts.join(":")
                    };
                    term_cols.push(column_names.len());
                    column_names.push(name);
                    x.extend(vals);
                }
            }
            let name = if t.variables.is_empty() {
                "Intercept".to_string()
            } else {
                t.name()
            };
            terms.push(DesignTerm {
                name,
                columns: term_cols,
            });
        }
    }
    let p = column_names.len();
    if n < p.max(1) {
        return Err(StatsError::TooFewObservations {
            what: format!("model {}", formula.text),
            needed: p.max(1),
            got: n,
        });
    }
    let qr = (!clearly_full_rank(&x, n, p)).then(|| Qr::new(&x, n, p, RANK_TOL));
    if let Some(qr) = qr.filter(|qr| !qr.aliased.is_empty()) {
        let names: Vec<&str> = qr
            .aliased
            .iter()
            .map(|&j| column_names[j].as_str())
            .collect();
        return Err(StatsError::invalid(
            "design",
            names.join(", "),
            &format!(
                "rank-deficient design (rank {} of {} columns): aliased with earlier columns",
                qr.rank(),
                p
            ),
        ));
    }
    let factors = vars
        .iter()
        .filter_map(|(v, c)| match c {
            Coded::Factor {
                levels, reference, ..
            } => Some(FactorInfo {
                label: v.label.clone(),
                column: v.column.clone(),
                levels: levels.clone(),
                reference: levels[*reference].clone(),
            }),
            Coded::Numeric(_) => None,
        })
        .collect();
    Ok(Design {
        response: formula.response.column.clone(),
        y,
        x,
        n,
        column_names,
        terms,
        factors,
        rows,
        n_dropped,
        coding,
        intercept: formula.intercept,
    })
}
