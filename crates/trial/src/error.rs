//! The one error type of the trial crate, and the list of data problems found on load.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

/// One problem in a trial data file: the file, the 1-based line (the header is line 1),
/// the column, the offending value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// File name, e.g. `measurements.csv`.
    pub file: String,
    /// 1-based line in the file; the header row is line 1.
    pub line: u64,
    /// Column the value sits in (empty for whole-row problems).
    pub column: String,
    /// The value as written in the file.
    pub value: String,
    /// What is wrong, or what was expected.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}", self.file, self.line)?;
        if !self.column.is_empty() {
            write!(f, ", column '{}'", self.column)?;
        }
        write!(f, ": value '{}': {}", self.value, self.message)
    }
}

/// Every problem found in a dataset, in file order, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ValidationErrors {
    /// The problems, sorted by file (in loading order), then line.
    pub errors: Vec<ValidationError>,
}

impl ValidationErrors {
    /// Number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Records one problem.
    pub fn push(
        &mut self,
        file: &str,
        line: u64,
        column: &str,
        value: &str,
        message: impl Into<String>,
    ) {
        self.errors.push(ValidationError {
            file: file.to_string(),
            line,
            column: column.to_string(),
            value: value.to_string(),
            message: message.into(),
        });
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "the trial dataset has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Everything that can make a trial routine refuse.
#[derive(Debug, Error)]
pub enum TrialError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The dataset does not agree with itself or with the plan; lists every problem.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The analysis plan is malformed or inconsistent; the message names the key and line.
    #[error("{file}: {message}")]
    Plan { file: String, message: String },
    /// A statistics routine refused; `context` names the table, outcome and visit.
    #[error("{context}: {source}")]
    Stats {
        context: String,
        source: evidentia_stats::StatsError,
    },
    /// An option outside its domain (a block size that is not a multiple of the ratio sum, ...).
    #[error("{name} '{value}': {expected}")]
    InvalidArgument {
        name: String,
        value: String,
        expected: String,
    },
}

impl TrialError {
    /// Shorthand for [`TrialError::InvalidArgument`].
    pub fn invalid(
        name: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        TrialError::InvalidArgument {
            name: name.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Result type of the trial crate.
pub type TrialResult<T> = Result<T, TrialError>;
