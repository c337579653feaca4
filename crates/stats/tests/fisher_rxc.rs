//! Fisher–Freeman–Halton exact test for r×c tables against exact rational p-values from
//! brute-force enumeration (tools/reference/make_fisher_rxc.py) and R's documented `Job`
//! example.

use evidentia_stats::contingency::{ContingencyTable, fisher_exact, fisher_exact_rxc};
use evidentia_stats::distributions::Alternative;
use serde_json::Value;

fn fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/fisher_rxc.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn table(v: &Value) -> ContingencyTable {
    let counts: Vec<Vec<u64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        })
        .collect();
    ContingencyTable::new(counts).unwrap()
}

#[test]
fn matches_brute_force_enumeration() {
    let f = fixture();
    for c in f["cases"].as_array().unwrap() {
        let t = table(&c["table"]);
        let r = fisher_exact_rxc(&t).unwrap();
        let want = c["p_value"].as_f64().unwrap();
        let rel = (r.p_value - want).abs() / want;
        assert!(
            rel < 1e-10,
            "{}: p {} vs {want} (rel {rel:e})",
            c["id"],
            r.p_value
        );
        let want_obs = c["table_probability"].as_f64().unwrap();
        assert!(
            ((r.table_probability - want_obs) / want_obs).abs() < 1e-10,
            "{}: P(table) {} vs {want_obs}",
            c["id"],
            r.table_probability
        );
        // Transposing or permuting rows and columns changes nothing.
        let tt = ContingencyTable::new(
            (0..t.counts[0].len())
                .map(|j| t.counts.iter().rev().map(|row| row[j]).collect())
                .collect(),
        )
        .unwrap();
        let rt = fisher_exact_rxc(&tt).unwrap();
        assert!(
            ((rt.p_value - want) / want).abs() < 1e-10,
            "{} transposed",
            c["id"]
        );
    }
}

#[test]
fn matches_r_documented_job_example() {
    let f = fixture();
    let c = &f["published"][0];
    let r = fisher_exact_rxc(&table(&c["table"])).unwrap();
    let want = c["p_value"].as_f64().unwrap();
    assert!(
        (r.p_value - want).abs() <= 0.5e-4,
        "Job: {} vs R's {want}",
        r.p_value
    );
    assert_eq!((r.rows, r.cols), (4, 4));
}

#[test]
fn equals_the_two_by_two_test() {
    for counts in [
        vec![vec![3, 1], vec![1, 3]],
        vec![vec![10, 2], vec![3, 15]],
        vec![vec![0, 7], vec![5, 1]],
        vec![vec![12, 30], vec![25, 8]],
    ] {
        let t = ContingencyTable::new(counts.clone()).unwrap();
        let a = fisher_exact(&t, Alternative::TwoSided, 0.95)
            .unwrap()
            .p_value;
        let b = fisher_exact_rxc(&t).unwrap().p_value;
        assert!(
            (a - b).abs() <= 1e-12 * a.max(1e-300),
            "{counts:?}: {a} vs {b}"
        );
    }
}

#[test]
fn too_large_a_total_is_a_clear_error() {
    let t = ContingencyTable::new(vec![vec![60_000, 2, 5], vec![50_000, 3, 1]]).unwrap();
    let e = fisher_exact_rxc(&t).unwrap_err().to_string();
    assert!(e.contains("chi-square"), "{e}");
}

#[test]
fn degenerate_tables_give_one() {
    // One non-empty row: a single possible table.
    let t = ContingencyTable::new(vec![vec![3, 4, 5], vec![0, 0, 0]]).unwrap();
    let r = fisher_exact_rxc(&t).unwrap();
    assert_eq!(r.p_value, 1.0);
    assert_eq!(r.rows, 1);
}
