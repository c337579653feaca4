//! # evidentia-stats
//!
//! The statistics core of Evidentia: descriptives, normality tests, contingency
//! tables, t tests, rank tests, effect sizes with confidence intervals, the
//! noncentral distributions behind them, and power analysis.
//!
//! Every routine takes plain slices and typed options and returns a
//! `Serialize` result that records the options used, so that the same numbers
//! can be traced back to the convention (SPSS, R, scipy) that produced them.
//!
//! ```
//! use evidentia_stats::Alternative;
//! use evidentia_stats::effect_size::{self, EffectSizeCi};
//! use evidentia_stats::ttest::{self, GroupSummary, Variance};
//!
//! // Recheck a published baseline row: age 102.5 (29.9) vs 101.7 (32.1), n = 36 per arm.
//! let control: GroupSummary = "102.5,29.9,36".parse().unwrap();
//! let treated: GroupSummary = "101.7,32.1,36".parse().unwrap();
//! let t = ttest::independent_from_summary(control, treated, Variance::Pooled, Alternative::TwoSided, 0.95)
//!     .unwrap();
//! assert!((t.p_value - 0.9132).abs() < 1e-4);
//! let d = effect_size::independent(control, treated, EffectSizeCi::NoncentralT, 0.95).unwrap();
//! assert!(d.cohens_d_ci[0] < 0.0 && d.cohens_d_ci[1] > 0.0);
//! ```
//!

pub mod contingency;
pub mod descriptive;
pub mod design;
pub mod distributions;
pub mod effect_size;
pub mod error;
pub mod formula;
pub mod gee;
pub mod glm;
pub mod imputation;
pub mod linalg;
pub mod mice;
pub mod mmrm;
pub mod noncentral;
pub mod normality;
pub mod power;
pub mod ranks;
pub mod rm_anova;
mod special;
pub mod ttest;

pub use distributions::Alternative;
pub use error::{Result, StatsError};
