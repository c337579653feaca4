//! Stratified permuted-block randomization lists (Zelen 1974; Rosenberger & Lachin,
//! *Randomization in Clinical Trials*, 2nd ed., ch. 3 and 7) with randomly chosen block
//! sizes, and the QC summary a data-safety statistician checks before the list is used.
//!
//! The stream is ChaCha20 (RFC 8439 block function, via `rand_chacha`) keyed by the seed,
//! one stream per stratum, and the integers drawn from it are turned into block sizes and
//! permutations by code in this file (rejection sampling and Fisher–Yates), not by a
//! library's sampling routine, so the list for a seed does not change with a `rand`
//! upgrade or a machine.

use std::collections::BTreeMap;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::error::{TrialError, TrialResult};

/// Largest accepted number of strata, block size and per-stratum list length (guards
/// against lists nobody meant to ask for).
const MAX_STRATA: usize = 10_000;
const MAX_BLOCK: u32 = 1_000;
const MAX_PER_STRATUM: u32 = 1_000_000;

/// An arm and its allocation weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArmRatio {
    pub name: String,
    /// Relative share (1:1 gives 1 and 1, 2:1 gives 2 and 1).
    pub ratio: u32,
}

/// A stratification factor and its levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StratificationFactor {
    pub name: String,
    pub levels: Vec<String>,
}

/// Everything that determines a randomization list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RandomizationSpec {
    pub arms: Vec<ArmRatio>,
    /// Factors whose level combinations (cartesian product) form the strata; none gives a
    /// single stratum `all`.
    pub factors: Vec<StratificationFactor>,
    /// Block sizes to choose from, uniformly at random for each block; each must be a
    /// multiple of the ratio sum.
    pub block_sizes: Vec<u32>,
    /// Length of the list in each stratum.
    pub per_stratum: u32,
    pub seed: u64,
}

/// One stratum: a combination of factor levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stratum {
    /// `factor=level` pairs joined by `;` (`all` when unstratified).
    pub label: String,
    /// The factor levels, in factor order.
    pub levels: Vec<(String, String)>,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllocationRow {
    pub stratum: String,
    /// 1-based position within the stratum.
    pub sequence: u32,
    /// 1-based block number within the stratum.
    pub block: u32,
    pub block_size: u32,
    pub arm: String,
    /// Unique number across the whole list (stratum by stratum, 1-based).
    pub randomization_number: u32,
}

/// QC of one stratum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StratumQc {
    pub stratum: String,
    /// Allocations per arm, in arm order.
    pub counts: Vec<u32>,
    /// Largest deviation, over all list prefixes and arms, of an arm's count from the count
    /// the ratio expects (for 1:1 this is half the difference between the arms).
    pub max_running_imbalance: f64,
    /// Block sizes in list order.
    pub block_sizes: Vec<u32>,
    /// False when the list length is not reachable with whole blocks and the last block
    /// was cut short (the stratum is then not exactly balanced at its end).
    pub last_block_complete: bool,
}

/// QC summary of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RandomizationQc {
    pub arms: Vec<String>,
    pub ratio: Vec<u32>,
    pub seed: u64,
    pub per_stratum: u32,
    /// Allocations per arm over all strata.
    pub totals: Vec<u32>,
    /// Largest running imbalance over all strata.
    pub max_running_imbalance: f64,
    /// How many blocks of each size were used.
    pub block_size_counts: BTreeMap<u32, u32>,
    pub strata: Vec<StratumQc>,
}

/// A randomization list with its QC summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RandomizationList {
    pub spec: RandomizationSpec,
    pub rows: Vec<AllocationRow>,
    pub qc: RandomizationQc,
}

impl RandomizationSpec {
    /// Builds a spec from command-line spellings: arms `Control,MSC`, ratio `1:1`,
    /// strata `site=A,B,C;gmfcs=II-III,IV-V` (empty for none), block sizes `2,4`.
    pub fn parse(
        arms: &str,
        ratio: &str,
        strata: &str,
        block_sizes: &str,
        per_stratum: u32,
        seed: u64,
    ) -> TrialResult<Self> {
        let names: Vec<String> = arms.split(',').map(|s| s.trim().to_string()).collect();
        let weights = ratio
            .split(':')
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| {
                    TrialError::invalid(
                        "ratio",
                        ratio,
                        "expected whole numbers separated by ':' (e.g. 1:1 or 2:1)",
                    )
                })
            })
            .collect::<TrialResult<Vec<u32>>>()?;
        if weights.len() != names.len() {
            return Err(TrialError::invalid(
                "ratio",
                ratio,
                format!(
                    "has {} parts but {} arms were given ({arms})",
                    weights.len(),
                    names.len()
                ),
            ));
        }
        let mut factors = Vec::new();
        for part in strata.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, levels)) = part.split_once('=') else {
                return Err(TrialError::invalid(
                    "strata",
                    part,
                    "expected factor=level1,level2 (factors separated by ';')",
                ));
            };
            factors.push(StratificationFactor {
                name: name.trim().to_string(),
                levels: levels.split(',').map(|l| l.trim().to_string()).collect(),
            });
        }
        let block_sizes = block_sizes
            .split(',')
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| {
                    TrialError::invalid(
                        "block sizes",
                        block_sizes,
                        "expected whole numbers separated by ',' (e.g. 2,4)",
                    )
                })
            })
            .collect::<TrialResult<Vec<u32>>>()?;
        let spec = RandomizationSpec {
            arms: names
                .into_iter()
                .zip(weights)
                .map(|(name, ratio)| ArmRatio { name, ratio })
                .collect(),
            factors,
            block_sizes,
            per_stratum,
            seed,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Sum of the ratio weights: every block size must be a multiple of it.
    pub fn ratio_sum(&self) -> u32 {
        self.arms.iter().map(|a| a.ratio).sum()
    }

    /// Checks the spec; the message names the option and the value.
    pub fn check(&self) -> TrialResult<()> {
        if self.arms.len() < 2 {
            return Err(TrialError::invalid(
                "arms",
                self.arms.len(),
                "at least 2 arms are needed",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.arms {
            if a.name.is_empty() {
                return Err(TrialError::invalid("arms", "", "an arm name is empty"));
            }
            if !names.insert(a.name.as_str()) {
                return Err(TrialError::invalid("arms", &a.name, "arm named twice"));
            }
            if a.ratio == 0 || a.ratio > MAX_BLOCK {
                return Err(TrialError::invalid(
                    "ratio",
                    a.ratio,
                    format!("each weight must be between 1 and {MAX_BLOCK}"),
                ));
            }
        }
        let sum = self.ratio_sum();
        if self.block_sizes.is_empty() {
            return Err(TrialError::invalid(
                "block sizes",
                "",
                "give at least one block size",
            ));
        }
        for &b in &self.block_sizes {
            if b == 0 || b > MAX_BLOCK || b % sum != 0 {
                let ratio: Vec<String> = self.arms.iter().map(|a| a.ratio.to_string()).collect();
                return Err(TrialError::invalid(
                    "block size",
                    b,
                    format!(
                        "must be a positive multiple of the ratio sum {sum} (ratio {}), at most {MAX_BLOCK}",
                        ratio.join(":")
                    ),
                ));
            }
        }
        let mut sorted = self.block_sizes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.block_sizes.len() {
            return Err(TrialError::invalid(
                "block sizes",
                join_u32(&self.block_sizes),
                "a block size is listed twice",
            ));
        }
        if self.per_stratum == 0 || self.per_stratum > MAX_PER_STRATUM {
            return Err(TrialError::invalid(
                "per-stratum",
                self.per_stratum,
                format!("the list length per stratum must be between 1 and {MAX_PER_STRATUM}"),
            ));
        }
        let mut n_strata: usize = 1;
        let mut fnames = std::collections::BTreeSet::new();
        for f in &self.factors {
            if f.name.is_empty() || !fnames.insert(f.name.as_str()) {
                return Err(TrialError::invalid(
                    "strata",
                    &f.name,
                    "factor names must be non-empty and distinct",
                ));
            }
            let mut levels = std::collections::BTreeSet::new();
            for l in &f.levels {
                if l.is_empty() || !levels.insert(l.as_str()) {
                    return Err(TrialError::invalid(
                        "strata",
                        format!("{}={}", f.name, f.levels.join(",")),
                        "levels must be non-empty and distinct",
                    ));
                }
            }
            n_strata = n_strata.saturating_mul(f.levels.len());
        }
        if n_strata > MAX_STRATA {
            return Err(TrialError::invalid(
                "strata",
                n_strata,
                format!("at most {MAX_STRATA} strata"),
            ));
        }
        Ok(())
    }

    /// The strata: the cartesian product of the factors' levels, first factor slowest.
    pub fn strata(&self) -> Vec<Stratum> {
        let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for f in &self.factors {
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    f.levels.iter().map(move |l| {
                        let mut p = prefix.clone();
                        p.push((f.name.clone(), l.clone()));
                        p
                    })
                })
                .collect();
        }
        out.into_iter()
            .map(|levels| Stratum {
                label: stratum_label(&levels),
                levels,
            })
            .collect()
    }
}

/// The label of a stratum from its `(factor, level)` pairs.
pub fn stratum_label(levels: &[(String, String)]) -> String {
    if levels.is_empty() {
        "all".to_string()
    } else {
        levels
            .iter()
            .map(|(f, l)| format!("{f}={l}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

fn join_u32(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The 256-bit ChaCha20 key for a seed: the seed's little-endian bytes, then zeros.
fn rng_for(seed: u64, stream: u64) -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// A uniform integer in `0..n` (n ≥ 1) by rejection sampling on 32-bit words.
fn uniform_below(rng: &mut ChaCha20Rng, n: u32) -> u32 {
    // Accept only words below the largest multiple of n, so every residue is equally likely.
    let zone = u32::MAX - (u32::MAX - n + 1) % n;
    loop {
        let x = rng.next_u32();
        if x <= zone {
            return x % n;
        }
    }
}

/// Generates the list: for each stratum, blocks whose size is drawn uniformly from the
/// sizes that still fit in the stratum's list, each holding every arm in proportion to
/// its ratio, in an order from a Fisher–Yates shuffle.
pub fn generate(spec: &RandomizationSpec) -> TrialResult<RandomizationList> {
    spec.check()?;
    let sum = spec.ratio_sum();
    let n_arms = spec.arms.len();
    let mut rows = Vec::new();
    let mut strata_qc = Vec::new();
    let mut block_size_counts: BTreeMap<u32, u32> = BTreeMap::new();
    let mut number = 0u32;
    for (si, stratum) in spec.strata().into_iter().enumerate() {
        let mut rng = rng_for(spec.seed, si as u64);
        let mut counts = vec![0u32; n_arms];
        let mut imbalance = 0.0f64;
        let mut sizes_used = Vec::new();
        let mut last_block_complete = true;
        let mut filled = 0u32;
        let mut block_id = 0u32;
        while filled < spec.per_stratum {
            let remaining = spec.per_stratum - filled;
            let fitting: Vec<u32> = spec
                .block_sizes
                .iter()
                .copied()
                .filter(|&b| b <= remaining)
                .collect();
            let choices = if fitting.is_empty() {
                &spec.block_sizes
            } else {
                &fitting
            };
            let size = choices[uniform_below(&mut rng, choices.len() as u32) as usize];
            let mut block: Vec<usize> = Vec::with_capacity(size as usize);
            for (ai, a) in spec.arms.iter().enumerate() {
                block.extend(std::iter::repeat_n(ai, (size / sum * a.ratio) as usize));
            }
            for i in (1..block.len()).rev() {
                let j = uniform_below(&mut rng, i as u32 + 1) as usize;
                block.swap(i, j);
            }
            block_id += 1;
            sizes_used.push(size);
            *block_size_counts.entry(size).or_insert(0) += 1;
            let take = size.min(remaining);
            if take < size {
                last_block_complete = false;
            }
            for &ai in &block[..take as usize] {
                filled += 1;
                number += 1;
                counts[ai] += 1;
                for (k, a) in spec.arms.iter().enumerate() {
                    let expected = f64::from(filled) * f64::from(a.ratio) / f64::from(sum);
                    imbalance = imbalance.max((f64::from(counts[k]) - expected).abs());
                }
                rows.push(AllocationRow {
                    stratum: stratum.label.clone(),
                    sequence: filled,
                    block: block_id,
                    block_size: size,
                    arm: spec.arms[ai].name.clone(),
                    randomization_number: number,
                });
            }
        }
        strata_qc.push(StratumQc {
            stratum: stratum.label,
            counts,
            max_running_imbalance: imbalance,
            block_sizes: sizes_used,
            last_block_complete,
        });
    }
    let totals = (0..n_arms)
        .map(|k| strata_qc.iter().map(|s| s.counts[k]).sum())
        .collect();
    let max_running_imbalance = strata_qc
        .iter()
        .map(|s| s.max_running_imbalance)
        .fold(0.0, f64::max);
    Ok(RandomizationList {
        qc: RandomizationQc {
            arms: spec.arms.iter().map(|a| a.name.clone()).collect(),
            ratio: spec.arms.iter().map(|a| a.ratio).collect(),
            seed: spec.seed,
            per_stratum: spec.per_stratum,
            totals,
            max_running_imbalance,
            block_size_counts,
            strata: strata_qc,
        },
        spec: spec.clone(),
        rows,
    })
}

/// Columns of the list CSV.
pub const LIST_COLUMNS: [&str; 6] = [
    "stratum",
    "sequence",
    "block",
    "block_size",
    "arm",
    "randomization_number",
];

impl RandomizationList {
    /// The list as CSV text (header [`LIST_COLUMNS`]), identical for identical specs.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        // Writing into a Vec cannot fail.
        let _ = w.write_record(LIST_COLUMNS);
        for r in &self.rows {
            let _ = w.write_record([
                r.stratum.as_str(),
                &r.sequence.to_string(),
                &r.block.to_string(),
                &r.block_size.to_string(),
                &r.arm,
                &r.randomization_number.to_string(),
            ]);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The rows of one stratum, in sequence order.
    pub fn stratum_rows<'a>(&'a self, label: &'a str) -> impl Iterator<Item = &'a AllocationRow> {
        self.rows.iter().filter(move |r| r.stratum == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_below_covers_every_value() {
        let mut rng = rng_for(1, 0);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[uniform_below(&mut rng, 5) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (900..1100).contains(&c)), "{seen:?}");
        assert_eq!(uniform_below(&mut rng, 1), 0);
    }

    #[test]
    fn strata_are_the_cartesian_product() {
        let spec = RandomizationSpec::parse("A,B", "1:1", "site=A,B,C;g=x,y", "2", 4, 1).unwrap();
        let labels: Vec<String> = spec.strata().into_iter().map(|s| s.label).collect();
        assert_eq!(
            labels,
            [
                "site=A;g=x",
                "site=A;g=y",
                "site=B;g=x",
                "site=B;g=y",
                "site=C;g=x",
                "site=C;g=y"
            ]
        );
        let spec = RandomizationSpec::parse("A,B", "1:1", "", "2", 4, 1).unwrap();
        assert_eq!(spec.strata()[0].label, "all");
    }
}
