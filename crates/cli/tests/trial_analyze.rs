//! End-to-end tests of `evidentia trial analyze`.

mod common;

use common::{dir, evidentia, plan, s};
use serde_json::Value;

#[test]
fn simulate_then_analyze_writes_the_report() {
    let d = dir("ok");
    let data = d.join("data");
    let out = d.join("report");
    let sim = evidentia(&[
        "trial",
        "simulate",
        "--design",
        "cp-rct",
        "--seed",
        "11",
        "--out",
        s(&data),
    ]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let res = evidentia(&[
        "trial",
        "analyze",
        "--data",
        s(&data),
        "--plan",
        &plan("cp-rct"),
        "--out",
        s(&out),
        "--json",
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(v["report"].as_str().unwrap().ends_with("report.html"));
    assert!(html.contains("<svg") && !html.contains("http"));
    // The primary endpoint at 12 months (T4): the simulated difference is 8 points.
    let t4 = v["primary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["visit"] == "T4")
        .unwrap();
    let b = t4["estimate"].as_f64().unwrap();
    assert!((b - 8.0).abs() < 3.0, "{b}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["provenance"]["inputs"].as_array().unwrap().len(), 4);
    assert_eq!(
        results["provenance"]["plan_sha256"].as_str().unwrap().len(),
        64
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn invalid_data_lists_the_problems_and_writes_nothing() {
    let d = dir("invalid");
    let data = d.join("data");
    let out = d.join("report");
    let sim = evidentia(&[
        "trial",
        "simulate",
        "--design",
        "ards",
        "--seed",
        "9",
        "--out",
        s(&data),
    ]);
    assert!(sim.status.success());
    let m = data.join("measurements.csv");
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("ARDS-99,day5,5,crp,10\nARDS-01,day0,0,crp,-4\n");
    std::fs::write(&m, text).unwrap();
    let res = evidentia(&[
        "trial",
        "analyze",
        "--data",
        s(&data),
        "--plan",
        &plan("ards"),
        "--out",
        s(&out),
    ]);
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("unknown participant id"), "{err}");
    assert!(
        err.contains("outside the range declared for 'crp'"),
        "{err}"
    );
    assert!(!out.exists(), "nothing may be written for invalid data");
    std::fs::remove_dir_all(&d).unwrap();
}
