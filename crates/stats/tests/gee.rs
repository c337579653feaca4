//! Tests of `evidentia_stats::gee` against statsmodels 0.15 (no Python needed here):
//!
//! * `gee_shared.json`: the committed reference results of
//!   ../shared/reference/stats/gee_reference.json with their data (epil, R `gee`'s
//!   gee_linear_1, the pingouin mixed-ANOVA data);
//! * `gee_generated.json`: `tools/reference/make_gee.py` (missing visits, AR(1),
//!   unstructured, binomial, the Mancl–DeRouen covariance, and Kauermann–Carroll /
//!   Fay–Graubard from the script's numpy implementation of the papers).

use std::path::Path;

use evidentia_stats::StatsError;
use evidentia_stats::design::{Coding, Column, Frame};
use evidentia_stats::gee::{
    CorrStructure, CorrelationEstimate, GeeCovariance, GeeFit, GeeOptions, gee_formula,
};
use evidentia_stats::glm::Family;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stats")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn frame(cols: &Value) -> Frame {
    let mut f = Frame::new();
    for (name, c) in cols.as_object().unwrap() {
        let vals = c["values"].as_array().unwrap();
        let col = if c["type"] == "numeric" {
            Column::Numeric(
                vals.iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        } else {
            Column::Text(
                vals.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect(),
            )
        };
        f.insert(name, col).unwrap();
    }
    f
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// Tracks the largest relative difference and fails on any above `tol`.
struct Check {
    what: String,
    worst: f64,
}

impl Check {
    fn new(what: &str) -> Check {
        Check {
            what: what.into(),
            worst: 0.0,
        }
    }
    fn close(&mut self, got: f64, want: f64, tol: f64, label: &str) {
        let r = if want.abs() < 1e-12 {
            (got - want).abs()
        } else {
            rel(got, want)
        };
        self.worst = self.worst.max(r);
        assert!(
            r <= tol,
            "{} {label}: got {got:.15e}, want {want:.15e} (rel {r:.2e} > {tol:.0e})",
            self.what
        );
    }
    fn named(&mut self, fit: &GeeFit, want: &Value, se: Option<&GeeFit>, tol: f64, key: &str) {
        let obj = want.as_object().unwrap();
        assert_eq!(obj.len(), fit.coefficients.len(), "{} {key}", self.what);
        for (name, v) in obj {
            let c = se
                .unwrap_or(fit)
                .coefficient(name)
                .unwrap_or_else(|| panic!("{}: no coefficient {name}", self.what));
            let got = if se.is_some() {
                c.std_error
            } else {
                c.estimate
            };
            self.close(got, v.as_f64().unwrap(), tol, &format!("{key} {name}"));
        }
    }
}

fn options(family: Family, corr: CorrStructure, cov: GeeCovariance) -> GeeOptions {
    GeeOptions {
        family,
        correlation: corr,
        covariance: cov,
        ..GeeOptions::default()
    }
}

fn fit(frame: &Frame, formula: &str, groups: &str, time: Option<&str>, o: GeeOptions) -> GeeFit {
    gee_formula(formula, frame, groups, time, Coding::First, &o)
        .unwrap_or_else(|e| panic!("{formula}: {e}"))
        .1
}

fn family(s: &str) -> Family {
    s.to_ascii_lowercase().parse().unwrap()
}

fn corr(s: &str) -> CorrStructure {
    match s {
        "Exchangeable" => CorrStructure::Exchangeable,
        "Independence" => CorrStructure::Independence,
        other => other.parse().unwrap(),
    }
}

fn rho(fit: &GeeFit) -> Option<f64> {
    match &fit.correlation {
        CorrelationEstimate::Exchangeable { rho } | CorrelationEstimate::Ar1 { rho } => Some(*rho),
        _ => None,
    }
}

#[test]
fn shared_statsmodels_cases() {
    let fx = fixture("gee_shared.json");
    let epil = frame(&fx["datasets"]["epil"]);
    let mixed = frame(&fx["datasets"]["mixed_anova"]);
    let mut worst = 0.0f64;
    for (name, case) in fx["cases"].as_object().unwrap() {
        if name == "gee_linear_1_vs_R_gee" {
            continue;
        }
        let (data, groups) = if name.starts_with("epil") {
            (&epil, "subject")
        } else {
            (&mixed, "Subject")
        };
        let ar1 = name.contains("ar1");
        let formula = if ar1 {
            fx["cases"]["epil_gaussian_exch_trtXperiod"]["formula"]
                .as_str()
                .unwrap()
        } else {
            case["formula"].as_str().unwrap()
        };
        let (fam, cs) = if ar1 {
            (Family::Gaussian, CorrStructure::Ar1)
        } else {
            (
                family(case["family"].as_str().unwrap()),
                corr(case["cov_struct"].as_str().unwrap()),
            )
        };
        // Brent's α in AR(1) is only determined to ~1e-8 relative: 1e-7 there.
        let tol = if ar1 { 1e-7 } else { 1e-8 };
        let mut ck = Check::new(name);
        let robust = fit(
            data,
            formula,
            groups,
            None,
            options(fam, cs, GeeCovariance::Robust),
        );
        ck.named(&robust, &case["params"], None, tol, "params");
        ck.named(&robust, &case["params"], None, tol, "params");
        ck.named(
            &robust,
            &case["bse_robust"],
            Some(&robust),
            tol,
            "bse_robust",
        );
        ck.close(robust.scale, case["scale"].as_f64().unwrap(), tol, "scale");
        if let Some(d) = case["dep_params"].as_f64() {
            ck.close(rho(&robust).unwrap(), d, tol, "dep_params");
        }
        assert!(robust.converged, "{name}");
        if !ar1 {
            assert_eq!(
                robust.iterations as u64,
                case["n_iterations_fit_history"].as_u64().unwrap(),
                "{name} iterations"
            );
            assert_eq!(robust.n_obs as u64, case["n_obs"].as_u64().unwrap());
            assert_eq!(robust.n_groups as u64, case["n_groups"].as_u64().unwrap());
            let naive = fit(
                data,
                formula,
                groups,
                None,
                options(fam, cs, GeeCovariance::Naive),
            );
            ck.named(&naive, &case["bse_naive"], Some(&naive), tol, "bse_naive");
            let md = fit(
                data,
                formula,
                groups,
                None,
                options(fam, cs, GeeCovariance::ManclDerouen),
            );
            ck.named(
                &md,
                &case["bse_bias_reduced_mancl_derouen"],
                Some(&md),
                tol,
                "bse_md",
            );
            // Joint Wald test of the interaction block, robust χ².
            let w = &case["wald_interaction_robust"];
            let cols: Vec<usize> = w["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    robust
                        .coefficients
                        .iter()
                        .position(|c| c.name == t.as_str().unwrap())
                        .unwrap()
                })
                .collect();
            let t = robust.wald_test(&cols, "interaction", false).unwrap();
            ck.close(t.chi2, w["chi2"].as_f64().unwrap(), tol, "wald chi2");
            ck.close(t.p_chi2, w["p"].as_f64().unwrap(), 1e-7, "wald p");
            for (cname, z) in case["z_robust"].as_object().unwrap() {
                let c = robust.coefficient(cname).unwrap();
                ck.close(c.statistic, z.as_f64().unwrap(), tol, "z");
                let p = case["p_robust_normal"][cname].as_f64().unwrap();
                ck.close(c.p_value, p, 1e-7, "p");
            }
        }
        eprintln!("{name}: largest relative difference {:.2e}", ck.worst);
        worst = worst.max(ck.worst);
    }
    eprintln!("shared cases: largest relative difference {worst:.2e}");
}

#[test]
fn shared_gee_linear_1_matches_r_gee() {
    let fx = fixture("gee_shared.json");
    let data = frame(&fx["datasets"]["gee_linear_1"]);
    let case = &fx["cases"]["gee_linear_1_vs_R_gee"]["statsmodels"];
    let r = &fx["cases"]["gee_linear_1_vs_R_gee"]["R_gee"];
    for (key, cs) in [
        ("independence", CorrStructure::Independence),
        ("exchangeable", CorrStructure::Exchangeable),
    ] {
        let f = fit(
            &data,
            "Y ~ X1 + X2 + X3",
            "Id",
            None,
            options(Family::Gaussian, cs, GeeCovariance::Robust),
        );
        let mut ck = Check::new(key);
        for (j, c) in f.coefficients.iter().enumerate() {
            ck.close(
                c.estimate,
                case[key]["params"][j].as_f64().unwrap(),
                1e-8,
                "params",
            );
            ck.close(
                c.std_error,
                case[key]["se_robust"][j].as_f64().unwrap(),
                1e-8,
                "se",
            );
            // R gee (tol 1e-8) agrees with statsmodels to ~1e-11.
            ck.close(
                c.estimate,
                r[key]["params"][j].as_f64().unwrap(),
                1e-8,
                "R params",
            );
        }
        if let Some(d) = case[key]["dep_params"].as_f64() {
            ck.close(rho(&f).unwrap(), d, 1e-8, "rho");
        }
        eprintln!(
            "gee_linear_1 {key}: largest relative difference {:.2e}",
            ck.worst
        );
    }
}

#[test]
fn generated_cases_all_covariances() {
    let fx = fixture("gee_generated.json");
    let mut worst = 0.0f64;
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let data = frame(&fx["datasets"][case["dataset"].as_str().unwrap()]);
        let formula = case["formula"].as_str().unwrap();
        let fam = family(case["family"].as_str().unwrap());
        let cs: CorrStructure = case["corr"].as_str().unwrap().parse().unwrap();
        let time = case["time"].as_str();
        // α of AR(1) comes from Brent's method (tolerance 1.48e-8 relative).
        let tol = if cs == CorrStructure::Ar1 { 1e-7 } else { 1e-8 };
        let mut ck = Check::new(name);
        for (cov, key) in [
            (GeeCovariance::Robust, "bse_robust"),
            (GeeCovariance::Naive, "bse_naive"),
            (GeeCovariance::ManclDerouen, "bse_mancl_derouen"),
            (
                GeeCovariance::KauermannCarroll,
                "bse_kauermann_carroll_numpy",
            ),
            (GeeCovariance::FayGraubard, "bse_fay_graubard_numpy"),
        ] {
            let f = fit(&data, formula, "subject", time, options(fam, cs, cov));
            ck.named(&f, &case["params"], None, tol, "params");
            ck.named(&f, &case[key], Some(&f), tol, key);
            if cov != GeeCovariance::Robust {
                continue;
            }
            assert!(f.converged, "{name}");
            assert_eq!(f.n_obs as u64, case["n_obs"].as_u64().unwrap(), "{name}");
            assert_eq!(f.n_groups as u64, case["n_groups"].as_u64().unwrap());
            ck.close(f.scale, case["scale"].as_f64().unwrap(), tol, "scale");
            if cs != CorrStructure::Ar1 {
                assert_eq!(
                    f.iterations as u64,
                    case["iterations"].as_u64().unwrap(),
                    "{name} iterations"
                );
            }
            match (&f.correlation, &case["dep_params"]) {
                (CorrelationEstimate::Unstructured { matrix, .. }, Value::Array(rows)) => {
                    for (j, row) in rows.iter().enumerate() {
                        for (k, v) in row.as_array().unwrap().iter().enumerate() {
                            ck.close(matrix[j][k], v.as_f64().unwrap(), tol, "R_jk");
                        }
                    }
                }
                (_, Value::Null) => assert!(rho(&f).is_none()),
                (_, v) => ck.close(rho(&f).unwrap(), v.as_f64().unwrap(), tol, "rho"),
            }
            if let Some(w) = case.get("wald") {
                let cols: Vec<usize> = w["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        f.coefficients
                            .iter()
                            .position(|c| c.name == t.as_str().unwrap())
                            .unwrap()
                    })
                    .collect();
                let t = f.wald_test(&cols, "interaction", true).unwrap();
                ck.close(t.chi2, w["robust"]["chi2"].as_f64().unwrap(), tol, "chi2");
                ck.close(t.p_chi2, w["robust"]["p"].as_f64().unwrap(), 1e-6, "p");
                let ff = &w["robust_f_cluster_df"];
                assert_eq!(t.df_denom.unwrap(), ff["df2"].as_f64().unwrap());
                ck.close(t.f.unwrap(), ff["f"].as_f64().unwrap(), tol, "F");
                ck.close(t.p_f.unwrap(), ff["p"].as_f64().unwrap(), 1e-6, "p F");
            }
        }
        eprintln!("{name}: largest relative difference {:.2e}", ck.worst);
        worst = worst.max(ck.worst);
    }
    eprintln!("generated cases: largest relative difference {worst:.2e}");
}

#[test]
fn n_dropped_counts_rows_with_missing_covariates() {
    let fx = fixture("gee_generated.json");
    let data = frame(&fx["datasets"]["binary_trial"]);
    let f = fit(
        &data,
        "responder ~ arm * C(visit) + age",
        "subject",
        None,
        options(
            Family::Binomial,
            CorrStructure::Exchangeable,
            GeeCovariance::Robust,
        ),
    );
    assert_eq!(f.n_dropped, 3);
    assert_eq!(f.n_obs + f.n_dropped, data.nrows());
}

#[test]
fn rows_out_of_order_give_the_same_fit_given_time() {
    let fx = fixture("gee_generated.json");
    let data = frame(&fx["datasets"]["epil_missing"]);
    let formula = "y ~ C(trt, Treatment('placebo')) * C(period) + base + age";
    let o = options(
        Family::Poisson,
        CorrStructure::Unstructured,
        GeeCovariance::Robust,
    );
    let a = fit(&data, formula, "subject", Some("visit"), o);
    // Reverse the rows.
    let mut rev = Frame::new();
    for name in data.names() {
        let col = match data.get(name).unwrap() {
            Column::Numeric(v) => Column::Numeric(v.iter().rev().copied().collect()),
            Column::Text(v) => Column::Text(v.iter().rev().cloned().collect()),
        };
        rev.insert(name, col).unwrap();
    }
    let b = fit(&rev, formula, "subject", Some("visit"), o);
    for (x, y) in a.coefficients.iter().zip(&b.coefficients) {
        assert!(rel(x.estimate, y.estimate) < 1e-10, "{}", x.name);
        assert!(rel(x.std_error, y.std_error) < 1e-10, "{}", x.name);
    }
}

fn err(frame: &Frame, formula: &str, groups: &str, time: Option<&str>, o: GeeOptions) -> String {
    match gee_formula(formula, frame, groups, time, Coding::First, &o) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{formula}: expected an error"),
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let mut f = Frame::new();
    f.insert("y", Column::Numeric(vec![1.0, 2.0, 3.0, 5.0, 4.0, 6.0]))
        .unwrap();
    f.insert("x", Column::Numeric(vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
        .unwrap();
    f.insert("x2", Column::Numeric(vec![0.0, 2.0, 0.0, 2.0, 0.0, 2.0]))
        .unwrap();
    f.insert(
        "id",
        Column::Text(
            ["a", "a", "b", "b", "c", "c"]
                .iter()
                .map(|s| Some(s.to_string()))
                .collect(),
        ),
    )
    .unwrap();
    f.insert("one", Column::Text(vec![Some("a".into()); 6]))
        .unwrap();
    f.insert(
        "holes",
        Column::Text(vec![
            Some("a".into()),
            None,
            Some("b".into()),
            Some("b".into()),
            Some("c".into()),
            Some("c".into()),
        ]),
    )
    .unwrap();
    f.insert("t", Column::Numeric(vec![1.0, 1.0, 1.0, 2.0, 1.0, 2.0]))
        .unwrap();
    let o = options(
        Family::Gaussian,
        CorrStructure::Exchangeable,
        GeeCovariance::Robust,
    );
    let e = err(&f, "y ~ x", "holes", None, o);
    assert!(e.contains("cluster id") && e.contains("data row 2"), "{e}");
    let e = err(&f, "y ~ x", "one", None, o);
    assert!(
        e.contains("GEE clusters") && e.contains("at least 2"),
        "{e}"
    );
    let e = err(&f, "y ~ x + x2", "id", None, o);
    assert!(e.contains("rank-deficient") && e.contains("x2"), "{e}");
    let e = err(&f, "y ~ x", "nope", None, o);
    assert!(e.contains("nope") && e.contains("not found"), "{e}");
    let ar = options(Family::Gaussian, CorrStructure::Ar1, GeeCovariance::Robust);
    let e = err(&f, "y ~ x", "id", Some("t"), ar);
    assert!(e.contains("occurs twice in cluster"), "{e}");
    let e = err(
        &f,
        "y ~ x",
        "id",
        None,
        options(
            Family::Binomial,
            CorrStructure::Exchangeable,
            GeeCovariance::Robust,
        ),
    );
    assert!(e.contains("must be 0 or 1"), "{e}");
    assert!(matches!(
        "ar2".parse::<CorrStructure>(),
        Err(StatsError::InvalidArgument { .. })
    ));
    assert!("bias-reduced".parse::<GeeCovariance>().unwrap() == GeeCovariance::ManclDerouen);
}

#[test]
fn non_convergence_is_reported_not_an_error() {
    let fx = fixture("gee_generated.json");
    let data = frame(&fx["datasets"]["epil_missing"]);
    let o = GeeOptions {
        max_iter: 2,
        ..options(
            Family::Poisson,
            CorrStructure::Exchangeable,
            GeeCovariance::Robust,
        )
    };
    let f = fit(
        &data,
        "y ~ C(trt, Treatment('placebo')) * C(period) + base + age",
        "subject",
        None,
        o,
    );
    assert!(!f.converged);
    assert_eq!(f.iterations, 2);
    assert!(f.score_norm > 1e-6);
}
