//! The imaging outcomes of a simulated trial, measured by the DTI pipeline: the bridge
//! between `evidentia-trial` (which draws every outcome) and `evidentia-dti` (which can
//! simulate and measure a scan), kept here because neither domain crate depends on the other.
//!
//! For every participant and visit with the CP trial's imaging outcomes (`cst_fa`, `cst_md`,
//! `ptr_fa`, `ptr_md`, the most affected side's values), the drawn values become the truth of a
//! simulated scan ([`evidentia_dti::scan_sim`]): the most affected side's bundles get them, the
//! other side's get FA + [`CONTRA_FA_GAIN`] and MD − [`CONTRA_MD_DROP`]; the affected side is
//! drawn once per participant. The scan is fitted (WLS), tracked and measured, and the
//! pipeline's most-affected-side `fa_points`/`md_points` (MD in 10⁻³ mm²/s, 4 decimals, as the
//! simulator writes them) replace the drawn values in the dataset. A tract without streamlines
//! makes its value missing (the row is removed), as in `dti run … group`.
//!
//! Scans run in parallel across participants; each scan's noise comes from its own seed, a
//! SHA-256 of (trial seed, participant, visit), so the dataset is identical on any thread count.

use std::collections::BTreeMap;

use evidentia_dti::Hemisphere;
use evidentia_dti::scan_sim::{
    SCAN_SIM_VERSION, ScanOptions, ScanTruth, TractTruth, simulate_scan,
};
use evidentia_trial::TrialDataset;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CliError, CliResult};

/// The imaging outcomes replaced, in the order of a scan's values.
pub const IMAGING_OUTCOMES: [&str; 4] = ["cst_fa", "cst_md", "ptr_fa", "ptr_md"];
/// FA added to the most affected side's value on the other side.
pub const CONTRA_FA_GAIN: f64 = 0.03;
/// MD (10⁻³ mm²/s) taken from the most affected side's value on the other side.
pub const CONTRA_MD_DROP: f64 = 0.03;

/// What [`measure_imaging`] did, for the demo's output.
#[derive(Debug, Clone, Serialize)]
pub struct ImagingSummary {
    /// One sentence naming the source of the values.
    pub source: String,
    /// [`SCAN_SIM_VERSION`].
    pub version: &'static str,
    /// Outcomes whose values were replaced.
    pub outcomes: Vec<&'static str>,
    /// Simulated scans (participant × imaging visit).
    pub scans: usize,
    /// Acquisition and fit options of every scan.
    pub options: ScanOptions,
    /// Values removed because a tract had no streamlines.
    pub missing_values: usize,
    /// Scans whose measured most affected side is not the simulated one.
    pub side_mismatches: usize,
    /// Largest |measured − simulated| FA over the scans' most affected sides.
    pub max_abs_fa_error: f64,
    /// Mean measured − simulated FA.
    pub mean_fa_error: f64,
    /// Largest |measured − simulated| / simulated MD.
    pub max_rel_md_error: f64,
}

fn hash_u64(text: &str) -> u64 {
    let d = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// One scan to simulate: where its four values are in the dataset and its truth.
struct Job {
    index: [usize; 4],
    affected: Hemisphere,
    truth: ScanTruth,
    seed: u64,
    label: String,
}

/// Replaces the drawn imaging outcomes of `ds` by the pipeline's measurements of simulated
/// scans (see the module docs). A dataset without imaging outcomes is left as it is.
pub fn measure_imaging(ds: &mut TrialDataset, seed: u64) -> CliResult<ImagingSummary> {
    let mut groups: BTreeMap<(String, String), [Option<usize>; 4]> = BTreeMap::new();
    for (i, m) in ds.measurements.iter().enumerate() {
        if let Some(k) = IMAGING_OUTCOMES.iter().position(|o| *o == m.outcome) {
            let slot = &mut groups
                .entry((m.participant_id.clone(), m.visit.clone()))
                .or_default()[k];
            if slot.is_some() {
                return Err(CliError::Output(format!(
                    "simulated imaging: participant {} has two {} values at visit {}",
                    m.participant_id, m.outcome, m.visit
                )));
            }
            *slot = Some(i);
        }
    }
    let mut jobs = Vec::with_capacity(groups.len());
    for ((pid, visit), idx) in groups {
        let label = format!("participant {pid}, visit {visit}");
        let [Some(a), Some(b), Some(c), Some(d)] = idx else {
            return Err(CliError::Output(format!(
                "simulated imaging: {label} has only some of {}",
                IMAGING_OUTCOMES.join(", ")
            )));
        };
        let v = |i: usize| ds.measurements[i].value;
        let affected = if hash_u64(&format!("evidentia imaging side|{seed}|{pid}")) & 1 == 0 {
            Hemisphere::Left
        } else {
            Hemisphere::Right
        };
        let pair = |fa: f64, md: f64| {
            let aff = TractTruth { fa, md: md * 1e-3 };
            let other = TractTruth {
                fa: fa + CONTRA_FA_GAIN,
                md: (md - CONTRA_MD_DROP) * 1e-3,
            };
            match affected {
                Hemisphere::Right => [other, aff],
                _ => [aff, other],
            }
        };
        jobs.push(Job {
            index: [a, b, c, d],
            affected,
            truth: ScanTruth {
                cst: pair(v(a), v(b)),
                ptr: pair(v(c), v(d)),
            },
            seed: hash_u64(&format!("evidentia imaging scan|{seed}|{pid}|{visit}")),
            label,
        });
    }
    let options = ScanOptions::default();
    let measured = jobs
        .par_iter()
        .map(|j| {
            simulate_scan(&j.truth, &options, j.seed)
                .map_err(|e| CliError::Output(format!("simulated imaging, {}: {e}", j.label)))
        })
        .collect::<CliResult<Vec<_>>>()?;
    let mut remove = vec![false; ds.measurements.len()];
    let (mut missing, mut mismatches, mut n_fa) = (0usize, 0usize, 0usize);
    let (mut max_fa, mut sum_fa, mut max_md) = (0.0f64, 0.0f64, 0.0f64);
    for (j, m) in jobs.iter().zip(&measured) {
        for (k, tract) in ["cst", "ptr"].into_iter().enumerate() {
            let (fa_i, md_i) = (j.index[2 * k], j.index[2 * k + 1]);
            match m.most_affected(tract) {
                Some((side, fa, md)) => {
                    let (true_fa, true_md) =
                        (ds.measurements[fa_i].value, ds.measurements[md_i].value);
                    mismatches += usize::from(side != j.affected);
                    max_fa = max_fa.max((fa - true_fa).abs());
                    sum_fa += fa - true_fa;
                    n_fa += 1;
                    max_md = max_md.max((md * 1e3 - true_md).abs() / true_md);
                    ds.measurements[fa_i].value = round4(fa);
                    ds.measurements[md_i].value = round4(md * 1e3);
                }
                None => {
                    remove[fa_i] = true;
                    remove[md_i] = true;
                    missing += 2;
                }
            }
        }
    }
    let mut keep = remove.iter().map(|r| !r);
    ds.measurements.retain(|_| keep.next().unwrap_or(true));
    Ok(ImagingSummary {
        source: format!(
            "{} measured by the DTI pipeline (WLS fit, deterministic tractography with ROIs, \
             tract metrics) on {} simulated scans",
            IMAGING_OUTCOMES.join(", "),
            jobs.len()
        ),
        version: SCAN_SIM_VERSION,
        outcomes: IMAGING_OUTCOMES.to_vec(),
        scans: jobs.len(),
        options,
        missing_values: missing,
        side_mismatches: mismatches,
        max_abs_fa_error: max_fa,
        mean_fa_error: if n_fa > 0 { sum_fa / n_fa as f64 } else { 0.0 },
        max_rel_md_error: max_md,
    })
}
