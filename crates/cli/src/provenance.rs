//! The `provenance` object every JSON output carries: tool version, the command,
//! SHA-256 of each input file, and the random seed, so a result can be re-run.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CliError, CliResult};

/// One input file and its digest.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

/// Where a result came from.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub tool: &'static str,
    pub version: &'static str,
    /// The arguments after the program name, as given.
    pub command: Vec<String>,
    pub inputs: Vec<InputFile>,
    /// Seed of any random stream used (null when none was).
    pub seed: Option<u64>,
}

impl Default for Provenance {
    fn default() -> Self {
        Self::new()
    }
}

impl Provenance {
    /// Provenance of the running command, with no inputs yet.
    pub fn new() -> Self {
        Provenance {
            tool: "evidentia",
            version: env!("CARGO_PKG_VERSION"),
            command: std::env::args().skip(1).collect(),
            inputs: Vec::new(),
            seed: None,
        }
    }

    /// Records an input file by its digest.
    pub fn add_input(&mut self, path: &Path) -> CliResult<()> {
        let bytes = std::fs::read(path).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_bytes(&path.display().to_string(), &bytes);
        Ok(())
    }

    /// Records an input already held in memory (embedded data, or a file read once).
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) {
        self.add_digest(name, sha256_hex(bytes));
    }

    /// Records an input whose digest ([`sha256_hex`]) was computed while it was read.
    pub fn add_digest(&mut self, name: &str, sha256: String) {
        self.inputs.push(InputFile {
            path: name.to_string(),
            sha256,
        });
    }
}

/// SHA-256 of bytes as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
