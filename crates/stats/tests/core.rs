//! Descriptives, t tests, Levene, contingency tables and effect sizes against
//! scipy / numpy / pingouin values in `fixtures/stats/core_reference.json`
//! (made by `tools/reference/make_core_tests.py`).

use evidentia_stats::Alternative;
use evidentia_stats::contingency::{ContingencyTable, chi_square, fisher_exact, fisher_exact_rxc};
use evidentia_stats::descriptive::{DescribeOptions, QuantileMethod, describe};
use evidentia_stats::effect_size::{self, EffectSizeCi};
use evidentia_stats::ttest::{self, GroupSummary, LeveneCenter, Variance};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/core_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture present"))
        .expect("fixture is JSON")
}

fn sample(f: &Value, name: &str) -> Vec<f64> {
    f["samples"][name]
        .as_array()
        .unwrap_or_else(|| panic!("sample {name}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[track_caller]
fn close(got: f64, want: f64, rel: f64, what: &str) {
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol || (got == want),
        "{what}: got {got:e}, want {want:e} (rel diff {:e}, tol {rel:e})",
        ((got - want) / want).abs()
    );
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn describe_matches_numpy_and_scipy() {
    let f = fixture();
    for (name, want) in f["describe"].as_object().unwrap() {
        let x = sample(&f, name);
        let d = describe(&x, DescribeOptions::default()).unwrap();
        assert_eq!(d.n as u64, want["n"].as_u64().unwrap());
        close(d.mean, num(&want["mean"]), 1e-13, &format!("{name} mean"));
        close(d.sd.unwrap(), num(&want["sd"]), 1e-9, &format!("{name} sd"));
        close(
            d.sem.unwrap(),
            num(&want["sem"]),
            1e-9,
            &format!("{name} sem"),
        );
        close(
            d.median,
            num(&want["median"]),
            1e-14,
            &format!("{name} median"),
        );
        close(d.q1, num(&want["q1_type7"]), 1e-14, &format!("{name} q1"));
        close(d.q3, num(&want["q3_type7"]), 1e-14, &format!("{name} q3"));
        close(d.min, num(&want["min"]), 0.0, &format!("{name} min"));
        close(d.max, num(&want["max"]), 0.0, &format!("{name} max"));
        let ci = d.ci.unwrap();
        close(ci[0], num(&want["ci"][0]), 1e-12, &format!("{name} ci lo"));
        close(ci[1], num(&want["ci"][1]), 1e-12, &format!("{name} ci hi"));
        let spss = describe(
            &x,
            DescribeOptions {
                quantile_method: QuantileMethod::Type6,
                ..Default::default()
            },
        )
        .unwrap();
        close(
            spss.q1,
            num(&want["q1_type6"]),
            1e-14,
            &format!("{name} q1 type 6"),
        );
        close(
            spss.q3,
            num(&want["q3_type6"]),
            1e-14,
            &format!("{name} q3 type 6"),
        );
    }
}

#[test]
fn t_tests_match_scipy() {
    let f = fixture();
    let cases = f["ttests"].as_array().unwrap();
    assert!(cases.len() > 20);
    for c in cases {
        let alt: Alternative = c["alternative"].as_str().unwrap().parse().unwrap();
        let a = sample(&f, c["a"].as_str().unwrap());
        let r = match c["kind"].as_str().unwrap() {
            "student" | "welch" => {
                let b = sample(&f, c["b"].as_str().unwrap());
                let v = if c["kind"] == "welch" {
                    Variance::Welch
                } else {
                    Variance::Pooled
                };
                ttest::independent(&a, &b, v, alt, 0.95).unwrap()
            }
            "one-sample" => ttest::one_sample(&a, num(&c["mu"]), alt, 0.95).unwrap(),
            "paired" => {
                let b = sample(&f, c["b"].as_str().unwrap());
                ttest::paired(&a, &b, alt, 0.95).unwrap()
            }
            k => panic!("unknown kind {k}"),
        };
        let what = format!("{} {} {:?}", c["name"], c["kind"], alt);
        close(
            r.statistic,
            num(&c["statistic"]),
            1e-10,
            &format!("{what} t"),
        );
        close(r.df, num(&c["df"]), 1e-10, &format!("{what} df"));
        close(r.p_value, num(&c["p_value"]), 1e-9, &format!("{what} p"));
        close(
            r.estimate,
            num(&c["estimate"]),
            1e-10,
            &format!("{what} estimate"),
        );
        for (i, bound) in c["ci"].as_array().unwrap().iter().enumerate() {
            match bound.as_f64() {
                Some(v) => close(r.ci[i], v, 1e-9, &format!("{what} ci[{i}]")),
                None => assert!(r.ci[i].is_infinite(), "{what} ci[{i}] should be infinite"),
            }
        }
    }
}

#[test]
fn summary_t_tests_match_scipy_from_stats() {
    let f = fixture();
    for c in f["summary_ttests"].as_array().unwrap() {
        let g = |v: &Value| GroupSummary {
            mean: num(&v[0]),
            sd: num(&v[1]),
            n: v[2].as_u64().unwrap() as usize,
        };
        let var = if c["welch"].as_bool().unwrap() {
            Variance::Welch
        } else {
            Variance::Pooled
        };
        let r = ttest::independent_from_summary(
            g(&c["a"]),
            g(&c["b"]),
            var,
            Alternative::TwoSided,
            0.95,
        )
        .unwrap();
        close(r.statistic, num(&c["statistic"]), 1e-10, "summary t");
        close(r.p_value, num(&c["p_value"]), 1e-9, "summary p");
    }
}

#[test]
fn levene_matches_scipy() {
    let f = fixture();
    for c in f["levene"].as_array().unwrap() {
        let mut groups = vec![sample(&f, c["a"].as_str().unwrap())];
        groups.push(sample(&f, c["b"].as_str().unwrap()));
        if let Some(n) = c["c"].as_str() {
            groups.push(sample(&f, n));
        }
        let refs: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
        let center: LeveneCenter = c["center"].as_str().unwrap().parse().unwrap();
        let r = ttest::levene(&refs, center).unwrap();
        close(r.statistic, num(&c["statistic"]), 1e-10, "levene W");
        close(r.p_value, num(&c["p_value"]), 1e-9, "levene p");
    }
}

fn table_of(v: &Value) -> ContingencyTable {
    let counts = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect()
        })
        .collect();
    ContingencyTable::new(counts).unwrap()
}

#[test]
fn chi_square_matches_scipy() {
    let f = fixture();
    for (name, c) in f["contingency"].as_object().unwrap() {
        let t = table_of(&c["table"]);
        let p = chi_square(&t, false).unwrap();
        close(
            p.statistic,
            num(&c["pearson"]),
            1e-12,
            &format!("{name} X2"),
        );
        close(p.p_value, num(&c["pearson_p"]), 1e-10, &format!("{name} p"));
        assert_eq!(p.df, num(&c["df"]));
        close(
            p.likelihood_ratio.statistic,
            num(&c["g2"]),
            1e-12,
            &format!("{name} G2"),
        );
        close(
            p.likelihood_ratio.p_value,
            num(&c["g2_p"]),
            1e-10,
            &format!("{name} G2 p"),
        );
        for (i, row) in c["expected"].as_array().unwrap().iter().enumerate() {
            for (j, e) in row.as_array().unwrap().iter().enumerate() {
                close(
                    p.expected[i][j],
                    num(e),
                    1e-13,
                    &format!("{name} E[{i}][{j}]"),
                );
            }
        }
        let y = chi_square(&t, true).unwrap();
        close(
            y.statistic,
            num(&c["yates"]),
            1e-12,
            &format!("{name} Yates"),
        );
        close(
            y.p_value,
            num(&c["yates_p"]),
            1e-10,
            &format!("{name} Yates p"),
        );
        assert_eq!(y.yates_applied, t.is_2x2());
    }
}

#[test]
fn fisher_matches_scipy() {
    let f = fixture();
    let mut checked = 0;
    for (name, c) in f["contingency"].as_object().unwrap() {
        let t = table_of(&c["table"]);
        if !t.is_2x2() {
            assert!(fisher_exact(&t, Alternative::TwoSided, 0.95).is_err());
            continue;
        }
        for alt_s in ["two-sided", "less", "greater"] {
            let want = &c[format!("fisher_{alt_s}")];
            let alt: Alternative = alt_s.parse().unwrap();
            let r = fisher_exact(&t, alt, 0.95).unwrap();
            let what = format!("{name} {alt_s}");
            close(
                r.p_value,
                num(&want["p_value"]),
                1e-10,
                &format!("{what} p"),
            );
            match want["odds_ratio"].as_f64() {
                Some(v) => close(r.odds_ratio, v, 1e-14, &format!("{what} OR")),
                None => assert!(!r.odds_ratio.is_finite()),
            }
            match want["conditional_mle"].as_f64() {
                Some(v) => close(
                    r.odds_ratio_conditional_mle,
                    v,
                    1e-6,
                    &format!("{what} MLE"),
                ),
                None => assert!(r.odds_ratio_conditional_mle.is_infinite()),
            }
            for i in 0..2 {
                match want["ci"][i].as_f64() {
                    Some(v) => close(r.odds_ratio_ci[i], v, 1e-6, &format!("{what} CI[{i}]")),
                    None => assert!(r.odds_ratio_ci[i].is_infinite()),
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 15);
}

#[test]
fn reference_chi_square_cells_from_shared_reference() {
    // shared/reference/stats/tests_reference.json, chi_square.sexxtarget (scipy 1.17.1).
    let t: ContingencyTable = "24,72;114,93".parse().unwrap();
    let r = chi_square(&t, false).unwrap();
    close(r.statistic, 23.914383914761988, 1e-12, "X2");
    close(r.p_value, 1.0071642033238865e-06, 1e-9, "p");
    close(r.likelihood_ratio.statistic, 24.84088042987417, 1e-12, "G2");
    let y = chi_square(&t, true).unwrap();
    close(y.statistic, 22.717227046576355, 1e-12, "Yates");
    let fe = fisher_exact(&t, Alternative::TwoSided, 0.95).unwrap();
    close(fe.p_value, 1.0422375771996033e-06, 1e-9, "Fisher p");
    close(fe.odds_ratio, 0.2719298245614035, 1e-14, "OR");
}

#[test]
fn effect_sizes_match_pingouin_and_scipy_nct() {
    let f = fixture();
    for c in f["effect_sizes"].as_array().unwrap() {
        let a = GroupSummary::from_data("a", &sample(&f, c["a"].as_str().unwrap())).unwrap();
        let b = GroupSummary::from_data("b", &sample(&f, c["b"].as_str().unwrap())).unwrap();
        for (method, key, tol) in [
            (EffectSizeCi::NoncentralT, "ci_noncentral_t", 1e-8),
            (EffectSizeCi::HedgesOlkin, "ci_hedges_olkin", 1e-12),
            (EffectSizeCi::HedgesOlkinT, "ci_pingouin_esci", 1e-10),
        ] {
            let e = effect_size::independent(a, b, method, 0.95).unwrap();
            close(e.cohens_d, num(&c["cohens_d"]), 1e-12, "d");
            close(e.hedges_j, num(&c["hedges_j"]), 1e-13, "J");
            close(e.hedges_g, e.hedges_j * e.cohens_d, 1e-15, "g");
            close(e.cohens_d_ci[0], num(&c[key][0]), tol, &format!("{key} lo"));
            close(e.cohens_d_ci[1], num(&c[key][1]), tol, &format!("{key} hi"));
        }
    }
    let p = &f["paired_effect_size"];
    let x = sample(&f, p["a"].as_str().unwrap());
    let y = sample(&f, p["b"].as_str().unwrap());
    let e = effect_size::paired(&x, &y, EffectSizeCi::NoncentralT, 0.95).unwrap();
    close(e.d_z, num(&p["d_z"]), 1e-12, "d_z");
    close(e.d_av, num(&p["d_av_pingouin"]), 1e-12, "d_av");
    close(
        e.d_z_ci[0],
        num(&p["d_z_ci_noncentral_t"][0]),
        1e-8,
        "d_z lo",
    );
    close(
        e.d_z_ci[1],
        num(&p["d_z_ci_noncentral_t"][1]),
        1e-8,
        "d_z hi",
    );
    close(e.hedges_g_z, num(&p["hedges_j"]) * e.d_z, 1e-13, "g_z");
}

#[test]
fn shared_reference_t_test_and_effect_size_cell() {
    // shared/reference/stats/tests_reference.json, independent_t_June_Meditation_vs_Control.
    let a = GroupSummary {
        mean: 6.34532810086618,
        sd: 0.9330342854488121,
        n: 30,
    };
    let b = GroupSummary {
        mean: 5.591623784937004,
        sd: 1.1799725002902195,
        n: 30,
    };
    let s = ttest::independent_from_summary(a, b, Variance::Pooled, Alternative::TwoSided, 0.95)
        .unwrap();
    close(s.statistic, 2.7442905633452983, 1e-12, "student t");
    close(s.p_value, 0.008057640694469794, 1e-9, "student p");
    let w = ttest::independent_from_summary(a, b, Variance::Welch, Alternative::TwoSided, 0.95)
        .unwrap();
    close(w.df, 55.07192305793289, 1e-12, "welch df");
    close(w.p_value, 0.008170659932759759, 1e-9, "welch p");
    let e = effect_size::independent(a, b, EffectSizeCi::NoncentralT, 0.95).unwrap();
    close(e.cohens_d, 0.7085727765993672, 1e-12, "d");
    close(e.cohens_d_ci[0], 0.18354191601205289, 1e-8, "nct lo");
    close(e.cohens_d_ci[1], 1.2278630413965863, 1e-8, "nct hi");
    close(e.hedges_g, 0.6993638679225317, 1e-12, "g exact J");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let one = [1.0];
    let flat = [2.0, 2.0, 2.0];
    let nan = [1.0, f64::NAN, 3.0];
    let ok = [1.0, 2.0, 3.0];
    assert!(ttest::one_sample(&one, 0.0, Alternative::TwoSided, 0.95).is_err());
    assert!(ttest::one_sample(&flat, 0.0, Alternative::TwoSided, 0.95).is_err());
    assert!(ttest::one_sample(&nan, 0.0, Alternative::TwoSided, 0.95).is_err());
    assert!(
        ttest::independent(&flat, &flat, Variance::Pooled, Alternative::TwoSided, 0.95).is_err()
    );
    assert!(ttest::paired(&ok, &one, Alternative::TwoSided, 0.95).is_err());
    assert!(ttest::one_sample(&ok, 0.0, Alternative::TwoSided, 1.5).is_err());
    assert!(ttest::levene(&[&ok], LeveneCenter::Mean).is_err());
    assert!("1,2;3".parse::<ContingencyTable>().is_err());
    assert!("1,-2;3,4".parse::<ContingencyTable>().is_err());
    assert!("1,2".parse::<ContingencyTable>().is_err());
    assert!(chi_square(&"0,0;3,4".parse().unwrap(), false).is_err());
    assert!("1,x,3".parse::<GroupSummary>().is_err());
    assert!("1,2,1".parse::<GroupSummary>().is_err());
    assert!(describe(&[], DescribeOptions::default()).is_err());
}

// ---------------------------------------------------------------------------
// Fisher–Freeman–Halton exact test for r×c tables, against exact rational p-values from
// brute-force enumeration (tools/reference/make_fisher_rxc.py) and R's documented `Job`
// example.

fn fisher_rxc_fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stats/fisher_rxc.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn fisher_rxc_matches_brute_force_enumeration() {
    let f = fisher_rxc_fixture();
    for c in f["cases"].as_array().unwrap() {
        let t = table_of(&c["table"]);
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
fn fisher_rxc_matches_r_documented_job_example() {
    let f = fisher_rxc_fixture();
    let c = &f["published"][0];
    let r = fisher_exact_rxc(&table_of(&c["table"])).unwrap();
    let want = c["p_value"].as_f64().unwrap();
    assert!(
        (r.p_value - want).abs() <= 0.5e-4,
        "Job: {} vs R's {want}",
        r.p_value
    );
    assert_eq!((r.rows, r.cols), (4, 4));
}

#[test]
fn fisher_rxc_equals_the_two_by_two_test() {
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
fn fisher_rxc_too_large_a_total_is_a_clear_error() {
    let t = ContingencyTable::new(vec![vec![60_000, 2, 5], vec![50_000, 3, 1]]).unwrap();
    let e = fisher_exact_rxc(&t).unwrap_err().to_string();
    assert!(e.contains("chi-square"), "{e}");
}

#[test]
fn fisher_rxc_degenerate_tables_give_one() {
    // One non-empty row: a single possible table.
    let t = ContingencyTable::new(vec![vec![3, 4, 5], vec![0, 0, 0]]).unwrap();
    let r = fisher_exact_rxc(&t).unwrap();
    assert_eq!(r.p_value, 1.0);
    assert_eq!(r.rows, 1);
}
