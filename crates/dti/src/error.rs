//! The one error type of the diffusion crate.

use thiserror::Error;

/// What can make a diffusion routine refuse its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DtiError {
    /// A gradient file that cannot be read as numbers; names the file, line and value.
    #[error("{file}: line {line}: '{value}' {expected}")]
    Parse {
        file: String,
        line: usize,
        value: String,
        expected: String,
    },
    /// Gradient files whose shapes do not fit together or with the image.
    #[error("{what}: {message}")]
    Shape { what: String, message: String },
    /// Values that are readable but unusable.
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// A file that could not be opened, read, written or renamed (the OS error is in `message`).
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    /// A file whose contents are malformed: bad magic, truncated or corrupt data, sizes
    /// that disagree, unsupported data types.
    #[error("{file}: {message}")]
    Format { file: String, message: String },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, DtiError>;
