//! # evidentia-trial
//!
//! The clinical-trial layer of Evidentia: the trial dataset (participants, long-format
//! measurements, adverse events, screening) and its validation against the analysis
//! plan, the plan itself (`plan.toml`), stratified permuted-block randomization lists,
//! and simulated trials shaped like the two source trials.
//!
//! ```
//! use evidentia_trial::randomize::{RandomizationSpec, generate};
//!
//! let spec = RandomizationSpec::parse("Control,MSC", "1:1", "site=A,B", "2,4", 12, 7).unwrap();
//! let list = generate(&spec).unwrap();
//! assert_eq!(list.rows.len(), 24);
//! assert!(list.qc.strata.iter().all(|s| s.counts == vec![6, 6]));
//! ```

pub mod analysis;
pub mod dataset;
pub mod error;
pub mod plan;
pub mod randomize;
pub mod simulate;

pub use dataset::TrialDataset;
pub use error::{TrialError, TrialResult, ValidationError, ValidationErrors};
pub use plan::AnalysisPlan;
