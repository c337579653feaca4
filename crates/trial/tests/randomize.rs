//! Properties of stratified permuted-block randomization lists.

use evidentia_trial::randomize::{RandomizationSpec, generate};
use sha2::{Digest, Sha256};

fn spec(ratio: &str, arms: &str, blocks: &str, per: u32, seed: u64) -> RandomizationSpec {
    RandomizationSpec::parse(
        arms,
        ratio,
        "site=A,B,C;gmfcs=II-III,IV-V",
        blocks,
        per,
        seed,
    )
    .unwrap()
}

/// Running counts per arm within each stratum, checked at every row.
fn walk(spec: &RandomizationSpec, check: &mut dyn FnMut(&[u32], bool, u32)) {
    let list = generate(spec).unwrap();
    let arms: Vec<&str> = spec.arms.iter().map(|a| a.name.as_str()).collect();
    for stratum in spec.strata() {
        let rows: Vec<_> = list.stratum_rows(&stratum.label).collect();
        assert_eq!(rows.len(), spec.per_stratum as usize);
        let mut counts = vec![0u32; arms.len()];
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.sequence as usize, i + 1);
            counts[arms.iter().position(|a| *a == r.arm).unwrap()] += 1;
            let end_of_block = rows.get(i + 1).is_none_or(|n| n.block != r.block);
            check(&counts, end_of_block, r.block_size);
        }
    }
}

#[test]
fn balanced_exactly_at_every_block_boundary() {
    for (ratio, arms, blocks) in [
        ("1:1", "Control,MSC", "2,4"),
        ("2:1", "MSC,Control", "3,6,9"),
        ("1:1:2", "A,B,C", "4,8"),
    ] {
        for seed in 0..50 {
            let s = spec(ratio, arms, blocks, 36, seed);
            let weights: Vec<u32> = s.arms.iter().map(|a| a.ratio).collect();
            let sum: u32 = weights.iter().sum();
            let mut boundaries = 0;
            walk(&s, &mut |counts, end, _| {
                if end {
                    boundaries += 1;
                    let n: u32 = counts.iter().sum();
                    for (c, w) in counts.iter().zip(&weights) {
                        assert_eq!(c * sum, n * w, "{ratio} seed {seed}: {counts:?}");
                    }
                }
            });
            assert!(boundaries >= 6 * 4, "{ratio}: too few blocks checked");
        }
    }
}

#[test]
fn running_imbalance_bounded_by_half_the_largest_block() {
    for seed in 0..200 {
        let s = spec("1:1", "Control,MSC", "2,4,6", 40, seed);
        let mut worst = 0u32;
        walk(&s, &mut |counts, _, _| {
            worst = worst.max(counts[0].abs_diff(counts[1]));
        });
        assert!(worst <= 3, "seed {seed}: |nA - nB| reached {worst}");
        let qc = generate(&s).unwrap().qc;
        assert!(qc.max_running_imbalance <= 3.0);
        // For 1:1 the reported deviation is half the difference between arms.
        assert_eq!(qc.max_running_imbalance, f64::from(worst) / 2.0);
        assert!(
            qc.strata
                .iter()
                .all(|st| st.counts == vec![20, 20] && st.last_block_complete)
        );
    }
}

/// Position-wise allocation over many seeds: at every position in a stratum the share of
/// each arm is the ratio share (Pearson chi-square per position, df = 1).
#[test]
fn assignments_follow_the_ratio_at_every_position() {
    for (ratio, p_first) in [("1:1", 0.5), ("2:1", 2.0 / 3.0)] {
        let seeds = 1500u64;
        let blocks = if ratio == "1:1" { "2,4" } else { "3,6" };
        let per = 12u32;
        let mut first = vec![0u32; per as usize];
        let mut block_sizes = std::collections::BTreeMap::new();
        for seed in 0..seeds {
            let s = RandomizationSpec::parse("X,Y", ratio, "", blocks, per, seed).unwrap();
            let list = generate(&s).unwrap();
            for r in &list.rows {
                if r.arm == "X" {
                    first[(r.sequence - 1) as usize] += 1;
                }
            }
            for (size, n) in list.qc.block_size_counts {
                *block_sizes.entry(size).or_insert(0u32) += n;
            }
        }
        let n = seeds as f64;
        let mut max_chi = 0.0f64;
        for &c in &first {
            let e1 = n * p_first;
            let e2 = n - e1;
            let chi = (f64::from(c) - e1).powi(2) / e1 + (n - f64::from(c) - e2).powi(2) / e2;
            max_chi = max_chi.max(chi);
        }
        // 12 positions, df = 1: P(max > 15.1) < 12 × 1e-4.
        assert!(
            max_chi < 15.1,
            "{ratio}: positions {first:?}, max chi-square {max_chi}"
        );
        // Both block sizes are drawn, neither rarely.
        let sizes: Vec<u32> = block_sizes.values().copied().collect();
        assert_eq!(sizes.len(), 2, "{block_sizes:?}");
        assert!(sizes.iter().all(|&k| k > seeds as u32), "{block_sizes:?}");
    }
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The list for a fixed seed is byte-identical to the one an independent implementation
/// (tools/reference/make_randomization.py, OpenSSL's ChaCha20 keystream via the Python
/// `cryptography` package) makes from the same documented algorithm.
#[test]
fn fixed_seed_gives_the_reference_list_byte_for_byte() {
    let text = include_str!("fixtures/trial/randomization_reference.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let strs = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let nums = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap().to_string())
                .collect()
        };
        let strata: Vec<String> = case["factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}={}", f[0].as_str().unwrap(), strs(&f[1]).join(",")))
            .collect();
        let spec = RandomizationSpec::parse(
            &strs(&case["arms"]).join(","),
            &nums(&case["ratio"]).join(":"),
            &strata.join(";"),
            &nums(&case["block_sizes"]).join(","),
            case["per_stratum"].as_u64().unwrap() as u32,
            case["seed"].as_u64().unwrap(),
        )
        .unwrap();
        let csv = generate(&spec).unwrap().to_csv();
        assert_eq!(csv, generate(&spec).unwrap().to_csv());
        let head: Vec<String> = csv.lines().take(12).map(str::to_string).collect();
        assert_eq!(head, strs(&case["head"]));
        assert_eq!(
            csv.lines().count() - 1,
            case["rows"].as_u64().unwrap() as usize
        );
        assert_eq!(
            sha256(&csv),
            case["sha256"].as_str().unwrap(),
            "seed {}",
            spec.seed
        );
        let other = RandomizationSpec {
            seed: spec.seed ^ 1,
            ..spec
        };
        assert_ne!(generate(&other).unwrap().to_csv(), csv);
    }
}

#[test]
fn bad_specs_get_clear_errors() {
    let e = RandomizationSpec::parse("A,B", "2:1", "", "2,4", 10, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("block size '2'") && e.contains("multiple of the ratio sum 3"),
        "{e}"
    );
    let e = RandomizationSpec::parse("A,B", "1:1:1", "", "3", 10, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 parts but 2 arms"), "{e}");
    let e = RandomizationSpec::parse("A,B", "1:x", "", "2", 10, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ratio '1:x'"), "{e}");
    let e = RandomizationSpec::parse("A,B", "1:1", "site", "2", 10, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("factor=level"), "{e}");
    let e = RandomizationSpec::parse("A,B", "1:1", "", "2", 0, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("per-stratum"), "{e}");
    let e = RandomizationSpec::parse("A,A", "1:1", "", "2", 4, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("arm named twice"), "{e}");
    let e = RandomizationSpec::parse("A,B", "1:1", "s=x,x", "2", 4, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("distinct"), "{e}");
}

#[test]
fn an_unreachable_length_cuts_the_last_block_and_says_so() {
    let s = RandomizationSpec::parse("A,B", "1:1", "", "4", 10, 3).unwrap();
    let list = generate(&s).unwrap();
    assert_eq!(list.rows.len(), 10);
    assert!(!list.qc.strata[0].last_block_complete);
    assert_eq!(list.qc.strata[0].block_sizes, vec![4, 4, 4]);
    // With a size that fits, the list ends on a block boundary and is balanced.
    let s = RandomizationSpec::parse("A,B", "1:1", "", "2,4", 10, 3).unwrap();
    let qc = generate(&s).unwrap().qc;
    assert!(qc.strata[0].last_block_complete);
    assert_eq!(qc.totals, vec![5, 5]);
}
