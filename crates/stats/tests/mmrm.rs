//! Tests of `evidentia_stats::mmrm` against `tools/reference/make_mmrm.py`: an
//! independent numpy/scipy REML maximization (unstructured, CS, AR(1), Toeplitz; ML for
//! unstructured) with numerically differentiated Satterthwaite df, and statsmodels
//! MixedLM (random intercept, REML) for compound symmetry.

use std::path::PathBuf;

use evidentia_stats::StatsError;
use evidentia_stats::design::{Coding, Column, Frame};
use evidentia_stats::mmrm::{self, CovStructure, Method, MmrmFit, MmrmOptions};
use serde_json::Value;

fn fixture() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stats/mmrm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn frame_of(fx: &Value) -> Frame {
    let mut f = Frame::new();
    for (name, col) in fx["data"].as_object().unwrap() {
        let vals = col["values"].as_array().unwrap();
        let c = if col["type"] == "text" {
            Column::Text(vals.iter().map(|v| v.as_str().map(String::from)).collect())
        } else {
            Column::Numeric(
                vals.iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        };
        f.insert(name, c).unwrap();
    }
    f
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn fit(fx: &Value, structure: CovStructure, method: Method) -> MmrmFit {
    let options = MmrmOptions {
        structure,
        method,
        ..MmrmOptions::default()
    };
    mmrm::fit_formula(
        fx["formula"].as_str().unwrap(),
        &frame_of(fx),
        "subject",
        "visit",
        Coding::First,
        &options,
    )
    .unwrap()
}

/// Compares one model with the numpy REML reference. Tolerances: the reference is
/// polished by Newton steps (|∇(−2ℓ)| ≤ 1e-6); differences seen are ≤ 5e-9 (β, in SE
/// units), ≤ 1.2e-8 (SE, relative), ≤ 3e-7 (df, relative: the reference differentiates
/// numerically twice), so the tolerances are 1e-7, 1e-7 and 1e-5.
fn check_model(fit: &MmrmFit, want: &Value, tol_beta: f64) {
    assert!(fit.converged, "{:?} did not converge", fit.structure);
    let beta = floats(&want["coefficients"]);
    let se = floats(&want["std_errors"]);
    let df = floats(&want["df"]);
    let scale = se.iter().fold(0.0f64, |m, v| m.max(*v));
    for (j, c) in fit.coefficients.iter().enumerate() {
        assert!(
            (c.estimate - beta[j]).abs() < tol_beta * scale,
            "{:?} {}: {} vs {}",
            fit.structure,
            c.name,
            c.estimate,
            beta[j]
        );
        assert!(
            rel(c.std_error, se[j]) < 1e-7,
            "{} se {} vs {}",
            c.name,
            c.std_error,
            se[j]
        );
        assert!(
            rel(c.df, df[j]) < 1e-5,
            "{} df {} vs {}",
            c.name,
            c.df,
            df[j]
        );
    }
    let cov = want["covariance"].as_array().unwrap();
    for (a, row) in cov.iter().enumerate() {
        for (b, v) in floats(row).iter().enumerate() {
            assert!(
                (fit.covariance[a][b] - v).abs() < 1e-7 * fit.covariance[a][a],
                "{:?} Σ[{a}][{b}] {} vs {v}",
                fit.structure,
                fit.covariance[a][b]
            );
        }
    }
    let ll = want["log_likelihood"].as_f64().unwrap();
    // Both optima agree to ~1e-12 in ℓ.
    assert!(
        fit.log_likelihood - ll > -1e-8 && fit.log_likelihood - ll < 1e-7,
        "{:?} ℓ {} vs {ll}",
        fit.structure,
        fit.log_likelihood
    );
}

#[test]
fn design_and_counts_match_the_reference() {
    let fx = fixture();
    let f = fit(&fx, CovStructure::Unstructured, Method::Reml);
    let names: Vec<&str> = fx["column_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let got: Vec<&str> = f.coefficients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(got, names);
    assert_eq!(f.n_obs as u64, fx["n_obs"].as_u64().unwrap());
    assert_eq!(f.n_subjects as u64, fx["n_subjects"].as_u64().unwrap());
    assert_eq!(f.n_dropped as u64, fx["n_dropped"].as_u64().unwrap());
    assert_eq!(f.visits, ["1", "2", "3", "4"]);
    assert!(f.n_patterns > 2, "the data must include missing visits");
}

#[test]
fn unstructured_reml_matches_numerical_reml() {
    let fx = fixture();
    let f = fit(&fx, CovStructure::Unstructured, Method::Reml);
    check_model(&f, &fx["models"]["us_reml"], 1e-7);
    assert_eq!(f.theta.len(), 10);
    // AIC/BIC as SAS: k = 10 covariance parameters, BIC on the number of subjects.
    assert!((f.aic - (-2.0 * f.log_likelihood + 20.0)).abs() < 1e-9);
    assert!((f.bic - (-2.0 * f.log_likelihood + 10.0 * (f.n_subjects as f64).ln())).abs() < 1e-9);
}

#[test]
fn unstructured_ml_matches_numerical_ml() {
    let fx = fixture();
    let f = fit(&fx, CovStructure::Unstructured, Method::Ml);
    check_model(&f, &fx["models"]["us_ml"], 1e-7);
}

#[test]
fn structured_covariances_match_numerical_reml() {
    let fx = fixture();
    for (st, key) in [
        (CovStructure::CompoundSymmetry, "cs_reml"),
        (CovStructure::Ar1, "ar1_reml"),
        (CovStructure::Toeplitz, "toep_reml"),
    ] {
        let f = fit(&fx, st, Method::Reml);
        check_model(&f, &fx["models"][key], 1e-7);
    }
}

#[test]
fn compound_symmetry_equals_statsmodels_random_intercept() {
    let fx = fixture();
    let f = fit(&fx, CovStructure::CompoundSymmetry, Method::Reml);
    let m = &fx["mixedlm_cs"];
    let beta = floats(&m["fe_params"]);
    let se = floats(&m["se_gls_at_mixedlm"]);
    let bse = floats(&m["bse_fe"]);
    for (j, c) in f.coefficients.iter().enumerate() {
        assert!((c.estimate - beta[j]).abs() < 1e-7 * se[j], "{}", c.name);
        // (XᵀV⁻¹X)⁻¹ at MixedLM's variance components.
        assert!(rel(c.std_error, se[j]) < 1e-6, "{}", c.name);
        // statsmodels' own bse_fe come from the Hessian of its profiled likelihood
        // in (β, θ), which is not block-diagonal under REML: close, not equal.
        assert!(rel(c.std_error, bse[j]) < 1e-3, "{}", c.name);
    }
    // Σ = τ² J + σ² I.
    let tau2 = m["cov_re"].as_f64().unwrap();
    let s2 = m["scale"].as_f64().unwrap();
    assert!(
        rel(f.covariance[0][1], tau2) < 1e-6,
        "{} vs {tau2}",
        f.covariance[0][1]
    );
    assert!(rel(f.covariance[0][0] - f.covariance[0][1], s2) < 1e-6);
    assert!((f.log_likelihood - m["llf"].as_f64().unwrap()).abs() < 1e-7);
}

#[test]
fn lsmeans_differences_and_f_test_match_the_reference() {
    let fx = fixture();
    let want = &fx["models"]["us_reml"];
    let f = fit(&fx, CovStructure::Unstructured, Method::Reml);
    let ls = f.lsmeans(&["arm", "visit"]).unwrap();
    let wl = want["lsmeans"].as_array().unwrap();
    assert_eq!(ls.len(), wl.len());
    for w in wl {
        let cell = ls
            .iter()
            .find(|l| {
                l.levels[0].1 == w["arm"].as_str().unwrap()
                    && l.levels[1].1 == w["visit"].as_str().unwrap()
            })
            .unwrap();
        let e = &cell.estimate;
        assert!(
            (e.estimate - w["estimate"].as_f64().unwrap()).abs() < 1e-7,
            "{}",
            e.name
        );
        assert!(
            rel(e.std_error, w["se"].as_f64().unwrap()) < 1e-7,
            "{}",
            e.name
        );
        assert!(
            rel(e.df, w["df"].as_f64().unwrap()) < 1e-5,
            "{} df {}",
            e.name,
            e.df
        );
        assert!(e.ci[0] < e.estimate && e.estimate < e.ci[1]);
    }
    let diffs = f.lsmean_differences("arm", "visit").unwrap();
    let wd = want["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 4);
    for (d, w) in diffs.iter().zip(wd) {
        assert_eq!(d.levels[0], ("arm".to_string(), "Placebo".to_string()));
        // The reference reports Active − Placebo; arm's reference level is Active (first sorted).
        assert_eq!(d.levels[1].1, w["visit"].as_str().unwrap());
        let e = &d.estimate;
        assert!(
            (e.estimate + w["estimate"].as_f64().unwrap()).abs() < 1e-7,
            "{}",
            e.name
        );
        assert!(rel(e.std_error, w["se"].as_f64().unwrap()) < 1e-7);
        assert!(
            rel(e.df, w["df"].as_f64().unwrap()) < 1e-5,
            "{} df {}",
            e.name,
            e.df
        );
    }
    let t = f.test_term("arm:C(visit)").unwrap();
    let wf = &want["f_test"];
    assert_eq!(t.df_num, 3);
    assert!(rel(t.f, wf["f"].as_f64().unwrap()) < 1e-7, "F {}", t.f);
    assert!(
        rel(t.df_denom, wf["df_denom"].as_f64().unwrap()) < 1e-5,
        "df {}",
        t.df_denom
    );
    assert!(rel(t.p_value, wf["p_value"].as_f64().unwrap()) < 1e-4);
    assert_eq!(f.test_terms().unwrap().len(), 4);
}

#[test]
fn heterogeneous_structures_fit_and_nest() {
    let fx = fixture();
    let cs = fit(&fx, CovStructure::CompoundSymmetry, Method::Reml);
    let csh = fit(
        &fx,
        CovStructure::HeterogeneousCompoundSymmetry,
        Method::Reml,
    );
    let us = fit(&fx, CovStructure::Unstructured, Method::Reml);
    for f in [&cs, &csh, &us] {
        assert!(f.converged);
    }
    // Nested models: the richer structure's likelihood is at least as high.
    assert!(csh.log_likelihood >= cs.log_likelihood - 1e-8);
    assert!(us.log_likelihood >= csh.log_likelihood - 1e-8);
    let ar1h = fit(&fx, CovStructure::HeterogeneousAr1, Method::Reml);
    let toeph = fit(&fx, CovStructure::HeterogeneousToeplitz, Method::Reml);
    assert!(toeph.log_likelihood >= ar1h.log_likelihood - 1e-8);
    assert!(us.log_likelihood >= toeph.log_likelihood - 1e-8);
}

fn small_frame(visits: Vec<f64>) -> Frame {
    let n = visits.len();
    Frame::new()
        .with(
            "y",
            Column::Numeric(
                (0..n)
                    .map(|i| (i * 7 % 5) as f64 + 0.1 * i as f64)
                    .collect(),
            ),
        )
        .unwrap()
        .with(
            "id",
            Column::Numeric((0..n).map(|i| (i / 2) as f64).collect()),
        )
        .unwrap()
        .with(
            "x",
            Column::Numeric((0..n).map(|i| (i % 3) as f64).collect()),
        )
        .unwrap()
        .with("visit", Column::Numeric(visits))
        .unwrap()
}

#[test]
fn bad_input_gets_clear_errors() {
    let opts = MmrmOptions::default();
    // One visit only.
    let f = small_frame(vec![1.0; 12]);
    match mmrm::fit_formula("y ~ x", &f, "id", "visit", Coding::First, &opts) {
        Err(StatsError::InvalidArgument { expected, .. }) => {
            assert!(expected.contains("two visits"), "{expected}")
        }
        other => panic!("{other:?}"),
    }
    // Subject 1 has visit 1 twice.
    let mut v: Vec<f64> = (0..12).map(|i| (i % 2 + 1) as f64).collect();
    v[3] = 1.0;
    match mmrm::fit_formula(
        "y ~ x",
        &small_frame(v),
        "id",
        "visit",
        Coding::First,
        &opts,
    ) {
        Err(StatsError::InvalidArgument {
            value, expected, ..
        }) => {
            assert_eq!(value, "1");
            assert!(
                expected.contains("more than one row at visit 1"),
                "{expected}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Singular design: x2 = 2x.
    let v: Vec<f64> = (0..12).map(|i| (i % 2 + 1) as f64).collect();
    let f = small_frame(v)
        .with(
            "x2",
            Column::Numeric((0..12).map(|i| 2.0 * (i % 3) as f64).collect()),
        )
        .unwrap();
    match mmrm::fit_formula("y ~ x + x2", &f, "id", "visit", Coding::First, &opts) {
        Err(StatsError::InvalidArgument {
            value, expected, ..
        }) => {
            assert_eq!(value, "x2");
            assert!(expected.contains("rank-deficient"), "{expected}");
        }
        other => panic!("{other:?}"),
    }
    // Unknown subject column.
    assert!(mmrm::fit_formula("y ~ x", &f, "nope", "visit", Coding::First, &opts).is_err());
    // Unknown factor for least-squares means.
    let fx = fixture();
    let fit = fit(&fx, CovStructure::CompoundSymmetry, Method::Reml);
    assert!(fit.lsmeans(&["sex"]).is_err());
    assert!(fit.test_term("nope").is_err());
}

#[test]
fn fits_are_deterministic() {
    let fx = fixture();
    let a = fit(&fx, CovStructure::Unstructured, Method::Reml);
    let b = fit(&fx, CovStructure::Unstructured, Method::Reml);
    assert_eq!(a, b);
}
