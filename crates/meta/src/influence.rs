//! Sensitivity analyses: leave-one-out (metafor `leave1out`) and cumulative
//! meta-analysis (metafor `cumul`).

use serde::Serialize;

use crate::error::{MetaError, Result};
use crate::model::{FitOptions, MetaData, PiType, PooledSummary, Profile, Settings, fit_with};

/// The pooled result with one study left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaveOneOut {
    /// Label of the omitted study.
    pub omitted: String,
    /// The pooled result without it.
    #[serde(flatten)]
    pub pooled: PooledSummary,
}

/// Leave-one-out analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaveOneOutAnalysis {
    /// Profile used.
    pub profile: Profile,
    /// Settings used for every fit.
    pub settings: Settings,
    /// One row per omitted study, in input order.
    pub leave_one_out: Vec<LeaveOneOut>,
}

/// Refit the model k times, each time without one study (needs k ≥ 3).
pub fn leave_one_out(data: &MetaData, options: &FitOptions) -> Result<LeaveOneOutAnalysis> {
    let mut s = options.resolve()?;
    s.tau2_ci = false;
    s.pi = PiType::Off;
    data.validate()?;
    let k = data.k();
    if k < 3 {
        return Err(MetaError::TooFewStudies {
            what: "leave-one-out analysis".to_string(),
            needed: 3,
            got: k,
        });
    }
    let mut rows = Vec::with_capacity(k);
    for i in 0..k {
        let idx: Vec<usize> = (0..k).filter(|&j| j != i).collect();
        let f = fit_with(&data.subset(&idx), &s, false)?;
        rows.push(LeaveOneOut {
            omitted: data.labels[i].clone(),
            pooled: PooledSummary::of(&f),
        });
    }
    Ok(LeaveOneOutAnalysis {
        profile: s.profile,
        settings: s,
        leave_one_out: rows,
    })
}

/// The pooled result after adding one more study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CumulativeStep {
    /// Label of the study added at this step.
    pub added: String,
    /// Number of studies pooled so far.
    pub k: usize,
    /// The pooled result so far (τ² is 0 at k = 1, the t statistic undefined).
    #[serde(flatten)]
    pub pooled: PooledSummary,
}

/// Cumulative analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CumulativeAnalysis {
    /// Profile used.
    pub profile: Profile,
    /// Settings used for every fit.
    pub settings: Settings,
    /// One row per step, in the given order (the first row is the first study alone).
    pub steps: Vec<CumulativeStep>,
}

/// Cumulative meta-analysis in the order of `data` (sort it first, e.g. by year).
pub fn cumulative(data: &MetaData, options: &FitOptions) -> Result<CumulativeAnalysis> {
    let mut s = options.resolve()?;
    s.tau2_ci = false;
    s.pi = PiType::Off;
    data.validate()?;
    if data.moderators.is_some() {
        return Err(MetaError::invalid(
            "moderators",
            "given",
            "cumulative analysis is for models without moderators",
        ));
    }
    let k = data.k();
    if k < 2 {
        return Err(MetaError::TooFewStudies {
            what: "cumulative analysis".to_string(),
            needed: 2,
            got: k,
        });
    }
    let mut steps = Vec::with_capacity(k);
    for n in 1..=k {
        let idx: Vec<usize> = (0..n).collect();
        let f = fit_with(&data.subset(&idx), &s, true)?;
        steps.push(CumulativeStep {
            added: data.labels[n - 1].clone(),
            k: n,
            pooled: PooledSummary::of(&f),
        });
    }
    Ok(CumulativeAnalysis {
        profile: s.profile,
        settings: s,
        steps,
    })
}
