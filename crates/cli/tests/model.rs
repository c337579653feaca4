//! `evidentia stats model` end to end against the statsmodels fixtures of
//! crates/stats/tests/fixtures/stats/gee_generated.json (made by
//! tools/reference/make_gee.py, which also wrote the CSVs used here).

mod common;

use std::path::PathBuf;

use common::{evidentia, fails_with, json};
use serde_json::Value;

fn cli_fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn case(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../stats/tests/fixtures/stats/gee_generated.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("case {name}"))
        .clone()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn check(out: &Value, want: &Value, se_key: &str, tol: f64) {
    let coefs = out["coefficients"].as_array().unwrap();
    assert_eq!(coefs.len(), want["params"].as_object().unwrap().len());
    for c in coefs {
        let term = c["term"].as_str().unwrap();
        let est = c["estimate"].as_f64().unwrap();
        let se = c["se"].as_f64().unwrap();
        let w = want["params"][term].as_f64().unwrap();
        let ws = want[se_key][term].as_f64().unwrap();
        assert!(rel(est, w) < tol, "{term}: {est} vs {w}");
        assert!(rel(se, ws) < tol, "{term} se: {se} vs {ws}");
        let z = c["statistic"].as_f64().unwrap();
        assert!((z - est / se).abs() < 1e-9 * z.abs().max(1.0));
        let ci = c["ci"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() < est && est < ci[1].as_f64().unwrap());
        assert!(c["p_value"].as_f64().unwrap() > 0.0);
    }
}

const EPIL_FORMULA: &str = "y ~ C(trt, Treatment('placebo')) * C(period) + base + age";

#[test]
fn gee_exchangeable_poisson_matches_statsmodels() {
    let data = cli_fixture("gee_epil_missing.csv");
    let out = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        EPIL_FORMULA,
        "--family",
        "poisson",
        "--gee",
        "--groups",
        "subject",
        "--corr",
        "exchangeable",
        "--cov",
        "mancl-derouen",
        "--test",
        "trt:period",
    ]);
    let want = case("epil_miss_poisson_exch");
    check(&out, &want, "bse_mancl_derouen", 1e-8);
    assert_eq!(out["model"], "gee");
    assert_eq!(out["n_obs"].as_u64(), want["n_obs"].as_u64());
    assert_eq!(out["n_groups"].as_u64(), want["n_groups"].as_u64());
    assert_eq!(out["n_dropped"], 0);
    assert_eq!(out["converged"], true);
    assert_eq!(out["iterations"].as_u64(), want["iterations"].as_u64());
    let rho = out["correlation"]["rho"].as_f64().unwrap();
    assert!(rel(rho, want["dep_params"].as_f64().unwrap()) < 1e-8);
    assert_eq!(out["correlation"]["structure"], "exchangeable");
    let t = &out["tests"][0];
    let chi2 = t["chi2"].as_f64().unwrap();
    assert!(
        rel(
            chi2,
            want["wald"]["mancl_derouen"]["chi2"].as_f64().unwrap()
        ) < 1e-8
    );
    assert_eq!(t["df"], 3);
    assert!(out["provenance"]["inputs"][0]["sha256"].is_string());
}

#[test]
fn gee_unstructured_and_ar1_with_time() {
    let data = cli_fixture("gee_epil_missing.csv");
    let out = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        EPIL_FORMULA,
        "--gee",
        "--groups",
        "subject",
        "--time",
        "visit",
        "--corr",
        "unstructured",
        "--cov",
        "kauermann-carroll",
        "--test",
        "C(trt, Treatment('placebo')):C(period)",
        "--f-test",
    ]);
    let want = case("epil_miss_gaussian_unstructured");
    check(&out, &want, "bse_kauermann_carroll_numpy", 1e-8);
    let m = out["correlation"]["matrix"].as_array().unwrap();
    assert_eq!(m.len(), 4);
    let f = &out["tests"][0];
    assert_eq!(f["df_denom"].as_f64().unwrap(), 59.0 - 10.0);

    let out = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        EPIL_FORMULA,
        "--gee",
        "--groups",
        "subject",
        "--time",
        "period",
        "--corr",
        "ar1",
        "--cov",
        "fay-graubard",
    ]);
    check(
        &out,
        &case("epil_miss_gaussian_ar1_time"),
        "bse_fay_graubard_numpy",
        1e-7,
    );
    // Without --test every term is tested.
    assert_eq!(out["tests"].as_array().unwrap().len(), 6);
}

#[test]
fn gee_binomial_counts_dropped_rows() {
    let data = cli_fixture("gee_binary_trial.csv");
    let out = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        "responder ~ arm * C(visit) + age",
        "--family",
        "binomial",
        "--gee",
        "--groups",
        "subject",
        "--corr",
        "exchangeable",
    ]);
    check(&out, &case("binary_exch"), "bse_robust", 1e-8);
    assert_eq!(out["n_dropped"], 3);
    assert_eq!(out["scale"], 1.0);
}

#[test]
fn glm_without_gee_and_text_output() {
    let data = cli_fixture("gee_binary_trial.csv");
    let out = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        "responder ~ arm + age",
        "--family",
        "binomial",
    ]);
    assert_eq!(out["model"], "glm");
    assert_eq!(out["statistic"], "z");
    assert!(out["n_groups"].is_null());
    // GEE independence = GLM estimates.
    let indep = case("binary_indep");
    let _ = indep;
    let ols = json(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        "responder ~ arm",
    ]);
    assert_eq!(ols["model"], "ols");
    assert_eq!(ols["statistic"], "t");
    assert!(ols["tests"][1]["f"].is_number());
    let text = evidentia(&[
        "stats",
        "model",
        "--data",
        &data,
        "--formula",
        "responder ~ arm * C(visit)",
        "--gee",
        "--groups",
        "subject",
        "--corr",
        "ar1",
        "--time",
        "visit",
    ]);
    assert!(text.status.success());
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("GEE, Gaussian family") && s.contains("AR(1), rho ="),
        "{s}"
    );
    assert!(
        s.contains("Wald tests") && s.contains("arm:C(visit)"),
        "{s}"
    );
}

#[test]
fn model_errors_are_clear() {
    let data = cli_fixture("gee_binary_trial.csv");
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            &data,
            "--formula",
            "responder ~ arm",
            "--mmrm",
        ],
        &["--mmrm needs --subject COL and --visit COL"],
    );
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            &data,
            "--formula",
            "responder ~ arm",
            "--impute",
            "m=20",
        ],
        &["a seed is required"],
    );
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            &data,
            "--formula",
            "responder ~ arm",
            "--gee",
            "--groups",
            "nosuch",
        ],
        &["nosuch"],
    );
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            &data,
            "--formula",
            "responder ~ arm",
            "--test",
            "visit",
        ],
        &["no such term", "arm"],
    );
    fails_with(
        &[
            "stats",
            "model",
            "--data",
            &data,
            "--formula",
            "responder ~ arm",
            "--gee",
            "--groups",
            "subject",
            "--corr",
            "banded",
        ],
        &["banded"],
    );
}
