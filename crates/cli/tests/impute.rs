//! `evidentia stats impute`: determinism, observed cells untouched, PMM donors, errors.

mod common;

use common::{fails_with, file, json};

fn wide() -> String {
    // Deterministic toy data: y1 depends on y0 and arm; some y1/y2 missing.
    let mut s = String::from("id,arm,y0,y1,y2\n");
    for i in 0..40u32 {
        let arm = i % 2;
        let y0 = 40.0 + f64::from((i * 37) % 23);
        let y1 = y0 + 3.0 + 3.0 * f64::from(arm) + f64::from((i * 11) % 7) - 3.0;
        let y2 = y1 + 2.0 + f64::from((i * 5) % 5) - 2.0;
        let c1 = if i % 7 == 3 {
            String::new()
        } else {
            format!("{y1}")
        };
        let c2 = if i % 5 == 4 {
            "NA".to_string()
        } else {
            format!("{y2}")
        };
        s += &format!("P{i},{arm},{y0},{c1},{c2}\n");
    }
    s
}

#[test]
fn imputes_deterministically_and_keeps_observed_cells() {
    let data = file("impute", "wide.csv", &wide());
    let dir = data.parent().unwrap().to_path_buf();
    let run = |out: &str| {
        let o = dir.join(out);
        json(&[
            "stats",
            "impute",
            "--data",
            data.to_str().unwrap(),
            "--m",
            "3",
            "--iterations",
            "5",
            "--seed",
            "11",
            "--out",
            o.to_str().unwrap(),
        ]);
        o
    };
    let a = run("a");
    let b = run("b");
    let original = wide();
    let observed_y1: Vec<String> = original
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    for k in 1..=3 {
        let name = format!("imputed_{k}.csv");
        let ta = std::fs::read_to_string(a.join(&name)).unwrap();
        let tb = std::fs::read_to_string(b.join(&name)).unwrap();
        assert_eq!(ta, tb, "same seed, same dataset {k}");
        for (lo, li) in original.lines().zip(ta.lines()) {
            for (co, ci) in lo.split(',').zip(li.split(',')) {
                if !co.is_empty() && co != "NA" {
                    assert_eq!(co, ci, "observed cells are unchanged");
                } else {
                    assert!(ci.parse::<f64>().is_ok(), "missing cell filled: {li}");
                }
            }
        }
        // Predictive mean matching draws donors' observed values.
        for (lo, li) in original.lines().zip(ta.lines()).skip(1) {
            if lo.split(',').nth(3).unwrap().is_empty() {
                let v = li.split(',').nth(3).unwrap().to_string();
                assert!(observed_y1.contains(&v), "{v} is an observed y1 value");
            }
        }
    }
    let summary = std::fs::read_to_string(a.join("imputation.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["columns"][1]["method"], "pmm");
    assert_eq!(v["columns"][0]["method"], "log-reg");
    assert_eq!(v["columns"][2]["missing"], 6);
    assert!(v["provenance"].is_object());
    let other = dir.join("c");
    json(&[
        "stats",
        "impute",
        "--data",
        data.to_str().unwrap(),
        "--m",
        "3",
        "--iterations",
        "5",
        "--seed",
        "12",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert_ne!(
        std::fs::read_to_string(a.join("imputed_1.csv")).unwrap(),
        std::fs::read_to_string(other.join("imputed_1.csv")).unwrap(),
        "another seed gives other draws"
    );
}

#[test]
fn impute_errors() {
    let data = file("impute-err", "wide.csv", &wide());
    let out = data.parent().unwrap().join("o");
    fails_with(
        &[
            "stats",
            "impute",
            "--data",
            data.to_str().unwrap(),
            "--columns",
            "y1",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &["at least two numeric columns"],
    );
    fails_with(
        &[
            "stats",
            "impute",
            "--data",
            data.to_str().unwrap(),
            "--columns",
            "id,y1",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &["column 'id'", "not a number"],
    );
    fails_with(
        &[
            "stats",
            "impute",
            "--data",
            data.to_str().unwrap(),
            "--method",
            "magic",
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &["magic"],
    );
}
