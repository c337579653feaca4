//! `stats model --mmrm` and `--impute` end to end, against the MMRM reference fit
//! (crates/stats/tests/fixtures/stats/mmrm_reference.json, tools/reference/make_mmrm.py).

mod common;

use common::{fails_with, file, json};
use serde_json::Value;

fn reference() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../stats/tests/fixtures/stats/mmrm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixture's data as CSV (numbers in shortest round-trip form, NaN as empty).
fn csv(r: &Value) -> String {
    let data = r["data"].as_object().unwrap();
    let cols: Vec<&String> = data.keys().collect();
    let n = data[cols[0]]["values"].as_array().unwrap().len();
    let mut s = cols
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for i in 0..n {
        let row: Vec<String> = cols
            .iter()
            .map(|c| match &data[*c]["values"][i] {
                Value::String(t) => t.clone(),
                Value::Number(x) => {
                    let v = x.as_f64().unwrap();
                    if v.fract() == 0.0 {
                        format!("{}", v as i64)
                    } else {
                        format!("{v}")
                    }
                }
                _ => String::new(),
            })
            .collect();
        s += &(row.join(",") + "\n");
    }
    s
}

#[test]
fn mmrm_unstructured_matches_the_reference_fit() {
    let r = reference();
    let data = file("mmrm", "mmrm.csv", &csv(&r));
    let v = json(&[
        "stats",
        "model",
        "--data",
        data.to_str().unwrap(),
        "--formula",
        r["formula"].as_str().unwrap(),
        "--mmrm",
        "--subject",
        "subject",
        "--visit",
        "visit",
        "--lsmeans",
        "arm",
    ]);
    let m = &r["models"]["us_reml"];
    let coefs = v["coefficients"].as_array().unwrap();
    assert_eq!(coefs.len(), m["coefficients"].as_array().unwrap().len());
    for (i, c) in coefs.iter().enumerate() {
        let se = m["std_errors"][i].as_f64().unwrap();
        let d = (c["estimate"].as_f64().unwrap() - m["coefficients"][i].as_f64().unwrap()).abs();
        assert!(d < 1e-6 * se.max(1.0), "{}: {d}", c["term"]);
        let rel = (c["se"].as_f64().unwrap() / se - 1.0).abs();
        assert!(rel < 1e-6, "{} se: {rel}", c["term"]);
        let df = m["df"][i].as_f64().unwrap();
        assert!(
            (c["df"].as_f64().unwrap() / df - 1.0).abs() < 1e-4,
            "{} df",
            c["term"]
        );
    }
    let ll = m["log_likelihood"].as_f64().unwrap();
    assert!((v["log_likelihood"].as_f64().unwrap() - ll).abs() < 1e-6);
    assert_eq!(v["model"], "mmrm");
    assert_eq!(v["covariance_structure"], "unstructured");
    assert_eq!(v["n_groups"], r["n_subjects"]);
    assert_eq!(v["converged"], true);
    assert_eq!(v["visits"].as_array().unwrap().len(), 4);
    assert!(v["lsmean_differences"].as_array().unwrap().len() == 4);
    assert!(
        v["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["label"].as_str().unwrap().contains("arm:C(visit)"))
    );
    let cs = json(&[
        "stats",
        "model",
        "--data",
        data.to_str().unwrap(),
        "--formula",
        r["formula"].as_str().unwrap(),
        "--mmrm",
        "--subject",
        "subject",
        "--visit",
        "visit",
        "--cov-structure",
        "cs",
    ]);
    let m = &r["models"]["cs_reml"];
    let d = (cs["coefficients"][1]["estimate"].as_f64().unwrap()
        - m["coefficients"][1].as_f64().unwrap())
    .abs();
    assert!(d < 1e-6, "cs arm effect {d}");
}

#[test]
fn imputed_fit_pools_by_rubins_rules_and_is_reproducible() {
    // y depends on x; some x missing. OLS after imputation, m = 5.
    let mut s = String::from("y,x,g\n");
    for i in 0..80u32 {
        let x = f64::from(i % 17) + 0.5 * f64::from(i % 3);
        let y = 2.0 + 0.5 * x + f64::from((i * 7) % 5) - 2.0;
        let xs = if i % 6 == 0 {
            String::new()
        } else {
            format!("{x}")
        };
        let g = if i % 2 == 0 { "a" } else { "b" };
        s += &format!("{y},{xs},{g}\n");
    }
    let data = file("impute-model", "mi.csv", &s);
    let args = [
        "stats",
        "model",
        "--data",
        data.to_str().unwrap(),
        "--formula",
        "y ~ x + C(g)",
        "--impute",
        "m=5,seed=3",
    ];
    let a = json(&args);
    let b = json(&args);
    assert_eq!(
        a["coefficients"], b["coefficients"],
        "same seed, same pooled result"
    );
    let x = a["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["term"] == "x")
        .unwrap();
    assert!((x["estimate"].as_f64().unwrap() - 0.5).abs() < 0.15, "{x}");
    assert!(x["fmi"].as_f64().unwrap() >= 0.0 && x["df"].as_f64().unwrap() > 0.0);
    assert_eq!(a["imputed_columns"][0]["column"], "x");
    assert_eq!(a["imputed_columns"][0]["missing"], 14);
    assert_eq!(a["imputation"]["m"], 5);
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            data.to_str().unwrap(),
            "--formula",
            "y ~ x",
            "--impute",
            "m=5",
        ],
        &["seed"],
    );
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            data.to_str().unwrap(),
            "--formula",
            "y ~ x",
            "--mmrm",
        ],
        &["--subject"],
    );
}
