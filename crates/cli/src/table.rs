//! Reading a CSV or TSV table (chosen by extension) with a header row, and pulling
//! typed columns out of it with errors that point at the offending cell.

use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};

/// Cells read as missing in numeric columns: empty, `NA`, `NaN`, `.` (SPSS system-missing).
pub fn is_missing(cell: &str) -> bool {
    matches!(cell.trim(), "" | "NA" | "NaN" | "nan" | ".")
}

/// A whole table held as strings, with the file it came from.
#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// Each record with its 1-based line number in the file.
    pub rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    /// Reads a table; `.tsv` and `.tab` are tab-separated, anything else comma-separated.
    pub fn read(path: &Path) -> CliResult<Table> {
        let bytes = std::fs::read(path).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses table bytes read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> CliResult<Table> {
        let mut rows = Vec::new();
        let (header, ()) = each_record(
            path,
            bytes,
            |_| (),
            |_, line, record| rows.push((line, record.iter().map(str::to_string).collect())),
        )?;
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// Reads only the columns `names` (those the header has) of a table, each into
    /// one text buffer: the same checks and errors as [`Table::read`] without a
    /// string per cell.
    pub fn read_columns(path: &Path, names: &[String]) -> CliResult<Columns> {
        let bytes = std::fs::read(path).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = Vec::new();
        let (header, (_, cols)) = each_record(
            path,
            &bytes,
            |header| {
                let mut picked: Vec<usize> = Vec::new();
                let mut cols: Vec<(String, String, Vec<usize>)> = Vec::new();
                for name in names {
                    if let Some(j) = header.iter().position(|h| h == name)
                        && !cols.iter().any(|(n, _, _)| n == name)
                    {
                        picked.push(j);
                        cols.push((name.clone(), String::new(), Vec::new()));
                    }
                }
                (picked, cols)
            },
            |(picked, cols), line, record| {
                lines.push(line);
                for (&j, (_, text, ends)) in picked.iter().zip(cols.iter_mut()) {
                    text.push_str(record.get(j).unwrap_or_default());
                    ends.push(text.len());
                }
            },
        )?;
        Ok(Columns {
            path: path.to_path_buf(),
            header,
            lines,
            cols,
        })
    }

    /// Index of a named column, or an error listing the columns there are.
    pub fn column(&self, name: &str) -> CliResult<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CliError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                available: self.header.join(", "),
            })
    }

    /// Parses one numeric cell; `None` when missing.
    fn number(&self, line: u64, column: &str, cell: &str) -> CliResult<Option<f64>> {
        number(&self.path, line, column, cell)
    }

    /// A numeric column with missing cells dropped; also returns how many were missing.
    pub fn numeric(&self, name: &str) -> CliResult<(Vec<f64>, usize)> {
        let j = self.column(name)?;
        let mut out = Vec::with_capacity(self.rows.len());
        let mut missing = 0;
        for (line, row) in &self.rows {
            match self.number(*line, name, &row[j])? {
                Some(v) => out.push(v),
                None => missing += 1,
            }
        }
        Ok((out, missing))
    }

    /// A numeric column row by row, missing cells as NaN (for methods that handle
    /// missingness themselves, such as listwise deletion of incomplete subjects).
    pub fn numeric_with_nan(&self, name: &str) -> CliResult<Vec<f64>> {
        let j = self.column(name)?;
        self.rows
            .iter()
            .map(|(line, row)| Ok(self.number(*line, name, &row[j])?.unwrap_or(f64::NAN)))
            .collect()
    }

    /// A label column row by row, trimmed.
    pub fn strings(&self, name: &str) -> CliResult<Vec<String>> {
        let j = self.column(name)?;
        Ok(self
            .rows
            .iter()
            .map(|(_, row)| row[j].trim().to_string())
            .collect())
    }

    /// Two numeric columns row by row, keeping only rows where both are present.
    pub fn numeric_pairs(&self, a: &str, b: &str) -> CliResult<(Vec<f64>, Vec<f64>, usize)> {
        let (ja, jb) = (self.column(a)?, self.column(b)?);
        let (mut x, mut y, mut dropped) = (Vec::new(), Vec::new(), 0);
        for (line, row) in &self.rows {
            match (
                self.number(*line, a, &row[ja])?,
                self.number(*line, b, &row[jb])?,
            ) {
                (Some(u), Some(v)) => {
                    x.push(u);
                    y.push(v);
                }
                _ => dropped += 1,
            }
        }
        Ok((x, y, dropped))
    }

    /// A numeric column split by the levels of a grouping column (levels in sorted order).
    /// Rows with a missing value or an empty group label are skipped and counted.
    pub fn grouped(&self, value: &str, group: &str) -> CliResult<Grouped> {
        let (jv, jg) = (self.column(value)?, self.column(group)?);
        let mut groups: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        let mut missing = 0;
        for (line, row) in &self.rows {
            let label = row[jg].trim();
            match self.number(*line, value, &row[jv])? {
                Some(v) if !label.is_empty() => {
                    groups.entry(label.to_string()).or_default().push(v)
                }
                _ => missing += 1,
            }
        }
        Ok(Grouped {
            groups: groups.into_iter().collect(),
            missing,
        })
    }

    /// Two label columns (for cross-tabulation), skipping rows where either is empty.
    pub fn labels(&self, a: &str, b: &str) -> CliResult<(Vec<String>, Vec<String>, usize)> {
        let (ja, jb) = (self.column(a)?, self.column(b)?);
        let (mut x, mut y, mut dropped) = (Vec::new(), Vec::new(), 0);
        for (_, row) in &self.rows {
            let (u, v) = (row[ja].trim(), row[jb].trim());
            if u.is_empty() || v.is_empty() {
                dropped += 1;
            } else {
                x.push(u.to_string());
                y.push(v.to_string());
            }
        }
        Ok((x, y, dropped))
    }
}

/// Parses one numeric cell of `path`; `None` when missing.
fn number(path: &Path, line: u64, column: &str, cell: &str) -> CliResult<Option<f64>> {
    if is_missing(cell) {
        return Ok(None);
    }
    match cell.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(CliError::Cell {
            path: path.to_path_buf(),
            line,
            column: column.to_string(),
            value: cell.to_string(),
            expected: "is not a number (expected a decimal number such as 12.5, or an empty cell / NA for missing)".into(),
        }),
    }
}

/// Reads the header (trimmed; handed to `on_header`) and then every record with its
/// 1-based line number, with the delimiter chosen by the extension of `path`
/// (`.tsv` and `.tab` tab-separated, anything else comma-separated). One record
/// buffer is reused throughout.
fn each_record<S>(
    path: &Path,
    bytes: &[u8],
    on_header: impl FnOnce(&[String]) -> S,
    mut on_record: impl FnMut(&mut S, u64, &csv::StringRecord),
) -> CliResult<(Vec<String>, S)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let delimiter = match ext.as_deref() {
        Some("tsv" | "tab") => b'\t',
        _ => b',',
    };
    let bad = |message: String| CliError::Table {
        path: path.to_path_buf(),
        message,
    };
    // Skip a UTF-8 byte-order mark, which spreadsheet exports often write.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(bad("the file is empty or has no header row".into()));
    }
    let mut state = on_header(&header);
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => bad(format!(
                        "row {}: has {len} fields, but the header has {expected_len}",
                        pos.as_ref().map_or(0, |p| p.line())
                    )),
                    csv::ErrorKind::Utf8 { pos, .. } => bad(format!(
                        "row {}: not valid UTF-8",
                        pos.as_ref().map_or(0, |p| p.line())
                    )),
                    _ => bad(format!("cannot parse: {e}")),
                });
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        on_record(&mut state, line, &record);
    }
    Ok((header, state))
}

/// Some columns of a table, each held as one text buffer with cell end offsets
/// (from [`Table::read_columns`]).
#[derive(Debug)]
pub struct Columns {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// 1-based file line of each record.
    lines: Vec<u64>,
    /// (name, concatenated cells, end offset of each cell).
    cols: Vec<(String, String, Vec<usize>)>,
}

impl Columns {
    /// The cells of column `name`, or the error of [`Table::column`].
    fn cells(&self, name: &str) -> CliResult<impl Iterator<Item = (u64, &str)>> {
        let (_, text, ends) = self
            .cols
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| CliError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                available: self.header.join(", "),
            })?;
        let starts = std::iter::once(0).chain(ends.iter().copied());
        Ok(self
            .lines
            .iter()
            .zip(starts.zip(ends))
            .map(|(&line, (a, &b))| (line, &text[a..b])))
    }

    /// Errors unless the header has column `name` (as [`Table::column`]).
    pub fn column(&self, name: &str) -> CliResult<()> {
        self.cells(name).map(|_| ())
    }

    /// As [`Table::numeric_with_nan`].
    pub fn numeric_with_nan(&self, name: &str) -> CliResult<Vec<f64>> {
        self.cells(name)?
            .map(|(line, cell)| Ok(number(&self.path, line, name, cell)?.unwrap_or(f64::NAN)))
            .collect()
    }

    /// As [`Table::strings`].
    pub fn strings(&self, name: &str) -> CliResult<Vec<String>> {
        Ok(self
            .cells(name)?
            .map(|(_, cell)| cell.trim().to_string())
            .collect())
    }
}

/// A numeric column split into groups, in the sorted order of their labels.
#[derive(Debug)]
pub struct Grouped {
    pub groups: Vec<(String, Vec<f64>)>,
    pub missing: usize,
}

impl Grouped {
    /// Exactly two groups (first − second is the direction of every difference), or an error.
    pub fn two(&self, path: &Path, group: &str) -> CliResult<[(&str, &[f64]); 2]> {
        match self.groups.as_slice() {
            [(a, x), (b, y)] => Ok([(a.as_str(), x.as_slice()), (b.as_str(), y.as_slice())]),
            g => Err(CliError::Data {
                path: path.to_path_buf(),
                message: format!(
                    "column '{group}' must have exactly two groups, found {}{}",
                    g.len(),
                    if g.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}",
                            g.iter()
                                .map(|(l, _)| l.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> CliResult<Table> {
        Table::parse(Path::new("x.csv"), s.as_bytes())
    }

    #[test]
    fn names_the_row_and_column_of_a_bad_cell() {
        let tab = t("id,y\n1,2.5\n2,abc\n").unwrap();
        let e = tab.numeric("y").unwrap_err().to_string();
        assert!(
            e.contains("row 3") && e.contains("'y'") && e.contains("'abc'"),
            "{e}"
        );
    }

    #[test]
    fn missing_cells_are_counted_not_read_as_zero() {
        let tab = t("y,g\n1,a\n,a\nNA,b\n4,b\n").unwrap();
        let (v, m) = tab.numeric("y").unwrap();
        assert_eq!((v, m), (vec![1.0, 4.0], 2));
    }

    #[test]
    fn unknown_column_lists_the_header() {
        let e = t("a,b\n1,2\n")
            .unwrap()
            .column("c")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column named 'c'") && e.contains("a, b"),
            "{e}"
        );
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let e = t("a,b\n1,2\n3\n").unwrap_err().to_string();
        assert!(e.contains("row 3"), "{e}");
    }

    #[test]
    fn groups_come_in_sorted_order() {
        let tab = t("y,g\n1,b\n2,a\n3,b\n4,a\n").unwrap();
        let g = tab.grouped("y", "g").unwrap();
        let [(a, x), (b, y)] = g.two(Path::new("x.csv"), "g").unwrap();
        assert_eq!((a, b), ("a", "b"));
        assert_eq!((x, y), (&[2.0, 4.0][..], &[1.0, 3.0][..]));
    }
}

#[cfg(test)]
mod fuzz_like {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Arbitrary bytes never make the reader panic (the fuzz target in `fuzz/` goes further).
        #[test]
        fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(t) = Table::parse(Path::new("f.csv"), &bytes)
                && let Some(first) = t.header.first().cloned()
            {
                let _ = t.numeric(&first);
                let _ = t.grouped(&first, &first);
                let _ = t.labels(&first, &first);
            }
        }

        /// Text shaped like a table (commas, newlines, numbers, junk) never panics either.
        #[test]
        fn table_like_text_never_panics(s in "[a-c0-9.,\n\"NA -]{0,200}") {
            for name in ["f.csv", "f.tsv"] {
                if let Ok(t) = Table::parse(Path::new(name), s.as_bytes()) {
                    for h in t.header.clone() {
                        let _ = t.numeric(&h);
                        let _ = t.numeric_pairs(&h, &h);
                    }
                }
            }
        }
    }
}

/// A column for the statistics core's frames: numeric when every present cell is a number
/// (`numeric` succeeds), text otherwise (missing cells as `None`); shared by every command
/// that reads formula columns.
pub fn typed_column(
    numeric: CliResult<Vec<f64>>,
    strings: impl FnOnce() -> CliResult<Vec<String>>,
) -> CliResult<evidentia_stats::design::Column> {
    use evidentia_stats::design::Column;
    match numeric {
        Ok(v) => Ok(Column::Numeric(v)),
        Err(CliError::Cell { .. }) => Ok(Column::Text(
            strings()?
                .into_iter()
                .map(|s| (!is_missing(&s)).then_some(s))
                .collect(),
        )),
        Err(e) => Err(e),
    }
}
