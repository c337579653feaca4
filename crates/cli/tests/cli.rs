//! End-to-end tests of the `evidentia` binary: JSON keys, exit codes and messages.

mod common;

use common::{evidentia, fails_with, file, json, meta_fixture};

const TRIAL: &str = "id,arm,age,sex,pre,post\n\
1,UCT-MSC,10.5,F,3,5\n2,UCT-MSC,12.0,M,4,4.5\n3,UCT-MSC,9.5,F,2,6\n4,UCT-MSC,11.0,M,5,7\n\
5,Control,8.0,F,3,3.5\n6,Control,9.0,M,4,4\n7,Control,,F,2,2.5\n8,Control,7.5,M,5,5.5\n";

#[test]
fn demo_recomputes_table_1() {
    let out = evidentia(&["demo"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Age (months)") && text.contains("0.186"),
        "{text}"
    );
    assert!(
        text.contains(
            "Imaging outcomes: cst_fa, cst_md, ptr_fa, ptr_md measured by the DTI pipeline"
        ),
        "{text}"
    );
    let v = json(&["demo"]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    // Age: Student t from 102.5 (29.9) vs 101.7 (32.1), n = 36 each; scipy
    // ttest_ind_from_stats gives p = 0.9131835243701334.
    let age = &rows[1];
    assert_eq!(age["row"], "Age (months)");
    assert!((age["recomputed_p"].as_f64().unwrap() - 0.9131835243701334).abs() < 1e-9);
    assert_eq!(age["reproduced"], false);
    // Gender 17/19 vs 15/21: scipy chi2_contingency(correction=False) p = 0.6352562959972484.
    assert!((rows[0]["recomputed_p"].as_f64().unwrap() - 0.6352562959972484).abs() < 1e-10);
    // GMFCS II-V, 4/4/11/17 vs 5/7/10/14: the exact Fisher–Freeman–Halton p by enumeration
    // (tools/reference/make_fisher_rxc.py, "cp_trial_gmfcs").
    let gmfcs = &rows[4];
    assert_eq!(gmfcs["row"], "GMFCS");
    assert!((gmfcs["fisher_p"].as_f64().unwrap() - 0.788951915856).abs() < 1e-11);
    assert_eq!(
        v["provenance"]["inputs"][0]["path"],
        "embedded:cp_trial_table1.csv"
    );
}

#[test]
fn ttest_from_summary_has_the_documented_keys() {
    let v = json(&[
        "stats",
        "ttest",
        "--summary",
        "102.5,29.9,36",
        "101.7,32.1,36",
    ]);
    for key in [
        "statistic",
        "df",
        "p_value",
        "estimate",
        "ci",
        "cohens_d",
        "cohens_d_ci",
        "hedges_g",
        "provenance",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}: {v}");
    }
    assert_eq!(v["df"], 70.0);
    assert!((v["p_value"].as_f64().unwrap() - 0.9131835243701334).abs() < 1e-9);
    assert!((v["estimate"].as_f64().unwrap() - 0.8).abs() < 1e-12);
}

#[test]
fn ttest_on_a_file_takes_groups_in_sorted_order() {
    let p = file("ttest", "trial.csv", TRIAL);
    let v = json(&[
        "stats",
        "ttest",
        "--data",
        p.to_str().unwrap(),
        "--value",
        "age",
        "--group",
        "arm",
    ]);
    assert_eq!(v["groups"][0]["label"], "Control");
    assert_eq!(v["groups"][1]["label"], "UCT-MSC");
    assert_eq!(v["missing"], 1);
    // Control (8, 9, 7.5) − UCT-MSC (10.5, 12, 9.5, 11).
    assert!((v["estimate"].as_f64().unwrap() - (24.5 / 3.0 - 43.0 / 4.0)).abs() < 1e-12);
    let sha = v["provenance"]["inputs"][0]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    let w = json(&[
        "stats",
        "ttest",
        "--data",
        p.to_str().unwrap(),
        "--value",
        "age",
        "--group",
        "arm",
        "--welch",
    ]);
    assert_eq!(w["test"], "welch");
    assert!(w["df"].as_f64().unwrap() < 5.0);
}

#[test]
fn paired_and_one_sample_ttests() {
    let p = file("paired", "trial.csv", TRIAL);
    let f = p.to_str().unwrap();
    let v = json(&[
        "stats",
        "ttest",
        "--data",
        f,
        "--value",
        "post",
        "--paired-with",
        "pre",
    ]);
    assert_eq!(v["test"], "paired");
    assert_eq!(v["cohens_d_kind"], "d_z");
    assert_eq!(v["df"], 7.0);
    let o = json(&["stats", "ttest", "--data", f, "--value", "age", "--mu", "9"]);
    assert_eq!(o["test"], "one-sample");
    assert_eq!(o["df"], 6.0);
}

#[test]
fn chisq_from_data_equals_typed_table() {
    let p = file("chisq", "trial.csv", TRIAL);
    let v = json(&[
        "stats",
        "chisq",
        "--data",
        p.to_str().unwrap(),
        "--rows",
        "arm",
        "--cols",
        "sex",
    ]);
    let t = json(&["stats", "chisq", "--table", "2,2;2,2"]);
    assert_eq!(v["statistic"], t["statistic"]);
    for key in ["statistic", "df", "p_value", "expected", "likelihood_ratio"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(
        !v["warnings"].as_array().unwrap().is_empty(),
        "expected counts are all 2"
    );
    let f = json(&["stats", "fisher", "--table", "3,1;1,3"]);
    for key in ["p_value", "odds_ratio"] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    // scipy.stats.fisher_exact([[3,1],[1,3]]) = (9.0, 0.48571428571428527)
    assert!((f["p_value"].as_f64().unwrap() - 0.48571428571428527).abs() < 1e-12);
    // r×c: Fisher–Freeman–Halton; the exact rational p of tools/reference/make_fisher_rxc.py.
    let g = json(&["stats", "fisher", "--table", "5,8,6,3;9,4,7,2"]);
    assert!((g["p_value"].as_f64().unwrap() - 0.470107555317).abs() < 1e-11);
    assert!(g["test"].as_str().unwrap().contains("Freeman"));
    fails_with(
        &[
            "stats",
            "fisher",
            "--table",
            "5,8,6;9,4,7",
            "--alternative",
            "less",
        ],
        &["2×2"],
    );
}

#[test]
fn bad_input_gives_one_clear_message_and_exit_2() {
    let p = file("bad", "trial.csv", TRIAL);
    let f = p.to_str().unwrap();
    fails_with(
        &["stats", "describe", "--data", f, "--value", "weight"],
        &["trial.csv", "no column named 'weight'", "age"],
    );
    let bad = file("bad", "cells.csv", "arm,y\nA,1\nA,2\nB,three\nB,4\n");
    fails_with(
        &[
            "stats",
            "ttest",
            "--data",
            bad.to_str().unwrap(),
            "--value",
            "y",
            "--group",
            "arm",
        ],
        &["cells.csv", "row 4", "'y'", "'three'"],
    );
    let one = file("bad", "one.csv", "arm,y\nA,1\nA,2\nA,4\n");
    fails_with(
        &[
            "stats",
            "ttest",
            "--data",
            one.to_str().unwrap(),
            "--value",
            "y",
            "--group",
            "arm",
        ],
        &["one.csv", "exactly two groups", "found 1"],
    );
    let few = file("bad", "few.csv", "arm,y\nA,1\nB,2\nB,4\n");
    fails_with(
        &[
            "stats",
            "ttest",
            "--data",
            few.to_str().unwrap(),
            "--value",
            "y",
            "--group",
            "arm",
        ],
        &["few.csv", "at least 2"],
    );
    let flat = file("bad", "flat.csv", "arm,y\nA,1\nA,1\nB,1\nB,1\n");
    fails_with(
        &[
            "stats",
            "ttest",
            "--data",
            flat.to_str().unwrap(),
            "--value",
            "y",
            "--group",
            "arm",
        ],
        &["flat.csv", "zero variance"],
    );
    let ragged = file("bad", "ragged.tsv", "arm\ty\nA\t1\nB\n");
    fails_with(
        &[
            "stats",
            "describe",
            "--data",
            ragged.to_str().unwrap(),
            "--value",
            "y",
        ],
        &["ragged.tsv", "row 3"],
    );
    fails_with(
        &[
            "stats",
            "describe",
            "--data",
            "/nonexistent/x.csv",
            "--value",
            "y",
        ],
        &["x.csv", "cannot read"],
    );
    fails_with(&["stats", "chisq", "--table", "1,2;x,4"], &["'x'"]);
    fails_with(
        &["stats", "ttest", "--summary", "1,2,1", "3,4,5"],
        &["at least 2"],
    );
}

#[test]
fn tsv_is_read_by_extension() {
    let p = file("tsv", "trial.tsv", &TRIAL.replace(',', "\t"));
    let v = json(&[
        "stats",
        "describe",
        "--data",
        p.to_str().unwrap(),
        "--value",
        "age",
        "--group",
        "arm",
    ]);
    let g = v["groups"].as_array().unwrap();
    assert_eq!(g.len(), 2);
    for key in [
        "n", "mean", "sd", "sem", "median", "q1", "q3", "min", "max", "ci",
    ] {
        assert!(g[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(g[0]["n"], 3);
    assert_eq!(g[1]["n"], 4);
}

#[test]
fn same_input_gives_byte_identical_json() {
    let p = file("det", "trial.csv", TRIAL);
    let args = [
        "stats",
        "ttest",
        "--data",
        p.to_str().unwrap(),
        "--value",
        "age",
        "--group",
        "arm",
        "--json",
    ];
    assert_eq!(evidentia(&args).stdout, evidentia(&args).stdout);
}

#[test]
fn power_reproduces_the_published_gpower_check() {
    // One-way RM, 3 levels, partial eta² = .05, alpha = .05, power .80 (G*Power, as
    // reported in the PAMLj documentation): N = 33, 95 (as in SPSS), 185 (as in Cohen).
    for (spec, n) in [("default", 33), ("spss", 95), ("cohen", 185)] {
        let v = json(&[
            "stats",
            "power",
            "rm-within",
            "--eta2",
            "0.05",
            "--measurements",
            "3",
            "--spec",
            spec,
            "--power",
            "0.8",
        ]);
        assert_eq!(v["n_total"], n, "{spec}");
        for key in ["power", "noncentrality", "df1", "df2", "critical_value"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }
    let t = json(&["stats", "power", "ttest", "--d", "0.5", "--power", "0.8"]);
    assert_eq!(t["n_total"], 128.0);
    let i = json(&[
        "stats",
        "power",
        "rm-interaction",
        "--f",
        "0.25",
        "--groups",
        "2",
        "--measurements",
        "5",
        "--rho",
        "0.5",
        "--power",
        "0.8",
    ]);
    assert_eq!(i["n_total"], 22);
    fails_with(
        &[
            "stats",
            "power",
            "rm-within",
            "--f",
            "-1",
            "--measurements",
            "3",
            "--n",
            "20",
        ],
        &["effect size f"],
    );
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn normality_per_group_matches_the_shared_reference() {
    // shared/reference/stats/tests_reference.json, normality "Control|June" and
    // "Meditation|June": scipy.stats.shapiro and statsmodels lilliefors.
    let f = fixture("june_scores.csv");
    let v = json(&[
        "stats",
        "normality",
        "--data",
        &f,
        "--value",
        "Scores",
        "--group",
        "Group",
        "--test",
        "shapiro",
    ]);
    let (c, m) = (&v["groups"][0], &v["groups"][1]);
    assert_eq!(
        (c["group"].as_str(), m["group"].as_str()),
        (Some("Control"), Some("Meditation"))
    );
    assert_eq!(c["n"], 30);
    assert!((c["statistic"].as_f64().unwrap() - 0.9219438465705352).abs() < 1e-12);
    assert!((c["p_value"].as_f64().unwrap() - 0.03013202537376993).abs() < 1e-12);
    assert!((m["p_value"].as_f64().unwrap() - 0.9977216414900176).abs() < 1e-12);
    let l = json(&[
        "stats",
        "normality",
        "--data",
        &f,
        "--value",
        "Scores",
        "--group",
        "Group",
        "--test",
        "lilliefors",
        "--lilliefors-p",
        "approx",
    ]);
    let c = &l["groups"][0];
    assert!((c["statistic"].as_f64().unwrap() - 0.15395020381404817).abs() < 1e-12);
    assert!((c["p_value"].as_f64().unwrap() - 0.06749584998476661).abs() < 1e-9);
    let t = json(&[
        "stats",
        "normality",
        "--data",
        &f,
        "--value",
        "Scores",
        "--group",
        "Group",
        "--test",
        "lilliefors",
    ]);
    // statsmodels' table gives 0.0663; ours is simulated independently (see normality.rs).
    assert!((t["groups"][0]["p_value"].as_f64().unwrap() - 0.06633296716672399).abs() < 0.01);
    fails_with(
        &[
            "stats",
            "normality",
            "--data",
            &f,
            "--value",
            "Scores",
            "--test",
            "anderson",
        ],
        &["anderson", "shapiro or lilliefors"],
    );
}

#[test]
fn rank_tests_match_scipy_and_the_shared_reference() {
    // shared/reference/stats/tests_reference.json, paired_Meditation_June_vs_August:
    // scipy wilcoxon min(W+, W-) = 67, exact p = 0.0003449581563472748; pingouin RBC 0.7118279569892474.
    let f = fixture("meditation_wide.csv");
    let w = json(&[
        "stats",
        "wilcoxon",
        "--data",
        &f,
        "--value",
        "June",
        "--paired-with",
        "August",
    ]);
    assert_eq!(w["statistic_min"], 67.0);
    assert_eq!(w["statistic"], 398.0);
    assert_eq!(w["method"], "exact");
    assert!((w["p_value"].as_f64().unwrap() - 0.0003449581563472748).abs() < 1e-15);
    assert!((w["rbc"].as_f64().unwrap() - 0.7118279569892474).abs() < 1e-14);
    let n = json(&[
        "stats",
        "wilcoxon",
        "--data",
        &f,
        "--value",
        "June",
        "--paired-with",
        "August",
        "--method",
        "normal",
        "--continuity",
    ]);
    // ... wilcoxon_p_asymptotic_cc_(R/pingouin default) = 0.0006893605573928746
    assert!((n["p_value"].as_f64().unwrap() - 0.0006893605573928746).abs() < 1e-14);
    // scipy 1.17.1 mannwhitneyu(Control, Meditation) on June: U = 289,
    // p = 0.017298900960363246 (use_continuity=False), 0.017649028129173842 (True).
    let j = fixture("june_scores.csv");
    let m = json(&[
        "stats",
        "mannwhitney",
        "--data",
        &j,
        "--value",
        "Scores",
        "--group",
        "Group",
    ]);
    assert_eq!(m["statistic"], 289.0);
    assert_eq!(m["groups"][0], "Control");
    assert!((m["p_value"].as_f64().unwrap() - 0.017298900960363246).abs() < 1e-13);
    let mc = json(&[
        "stats",
        "mannwhitney",
        "--data",
        &j,
        "--value",
        "Scores",
        "--group",
        "Group",
        "--continuity",
    ]);
    assert!((mc["p_value"].as_f64().unwrap() - 0.017649028129173842).abs() < 1e-13);
    fails_with(
        &[
            "stats",
            "wilcoxon",
            "--data",
            &f,
            "--value",
            "June",
            "--paired-with",
            "June",
        ],
        &["meditation_wide.csv", "Wilcoxon"],
    );
}

#[test]
fn rm_anova_matches_pingouin_mixed_anova() {
    // shared/reference/stats/tests_reference.json, mixed_anova_pingouin (pingouin 0.7.0,
    // printed to 10 decimals): Group F = 5.0517087861, Time F = 4.0273941911 with
    // p_GG = 0.020437657, Interaction F = 2.7279955868; W = 0.9981167307, p = 0.9476938442.
    let f = fixture("mixed_anova.csv");
    let v = json(&[
        "stats",
        "rm-anova",
        "--data",
        &f,
        "--subject",
        "Subject",
        "--within",
        "Time",
        "--between",
        "Group",
        "--value",
        "Scores",
    ]);
    let e = v["effects"].as_array().unwrap();
    let get = |i: usize, k: &str| e[i][k].as_f64().unwrap();
    assert_eq!(e[0]["effect"], "between");
    assert!((get(0, "f") - 5.0517087861).abs() < 1e-9);
    assert!((get(1, "f") - 4.0273941911).abs() < 1e-9);
    assert!((get(1, "p_gg") - 0.020437657).abs() < 1e-9);
    assert!((get(2, "f") - 2.7279955868).abs() < 1e-9);
    for k in [
        "f",
        "df1",
        "df2",
        "p_value",
        "p_gg",
        "p_hf",
        "partial_eta2",
        "generalized_eta2",
    ] {
        assert!(e[1].get(k).is_some(), "missing {k}");
    }
    let s = &v["sphericity"];
    assert!((s["mauchly_w"].as_f64().unwrap() - 0.9981167307).abs() < 1e-9);
    assert!((s["p_value"].as_f64().unwrap() - 0.9476938442).abs() < 1e-9);
    for k in ["epsilon_gg", "epsilon_hf", "epsilon_lb"] {
        assert!(s.get(k).is_some(), "missing {k}");
    }
    fails_with(
        &[
            "stats",
            "rm-anova",
            "--data",
            &f,
            "--subject",
            "Subject",
            "--within",
            "Group",
            "--value",
            "Scores",
        ],
        &["mixed_anova.csv", "repeated-measures"],
    );
}

#[test]
fn levene_and_spss_quartiles_from_the_command_line() {
    // shared/reference/stats/tests_reference.json, independent_t_June_Meditation_vs_Control:
    // Levene mean-centred (SPSS) F = 0.329433603682064, p = 0.5682120445640497;
    // median-centred (Brown–Forsythe, scipy's default) F = 0.17235417181452495.
    let f = fixture("june_scores.csv");
    let l = json(&[
        "stats", "levene", "--data", &f, "--value", "Scores", "--group", "Group",
    ]);
    assert!((l["statistic"].as_f64().unwrap() - 0.329433603682064).abs() < 1e-12);
    assert!((l["p_value"].as_f64().unwrap() - 0.5682120445640497).abs() < 1e-12);
    let m = json(&[
        "stats", "levene", "--data", &f, "--value", "Scores", "--group", "Group", "--center",
        "median",
    ]);
    assert!((m["statistic"].as_f64().unwrap() - 0.17235417181452495).abs() < 1e-12);
    // The same comparison as a t test: Student t = -2.7442905633452983 for Control - Meditation.
    let t = json(&[
        "stats", "ttest", "--data", &f, "--value", "Scores", "--group", "Group",
    ]);
    assert!((t["statistic"].as_f64().unwrap() + 2.7442905633452983).abs() < 1e-12);
    assert!((t["levene"]["statistic"].as_f64().unwrap() - 0.329433603682064).abs() < 1e-12);
    // Quartiles: type 7 (R, numpy) by default, type 6 (SPSS) on request; they differ here.
    let d7 = json(&["stats", "describe", "--data", &f, "--value", "Scores"]);
    let d6 = json(&[
        "stats",
        "describe",
        "--data",
        &f,
        "--value",
        "Scores",
        "--quantiles",
        "spss",
    ]);
    assert_eq!(d7["groups"][0]["options"]["quantile_method"], "type7");
    assert_eq!(d6["groups"][0]["options"]["quantile_method"], "type6");
    assert_ne!(d7["groups"][0]["q1"], d6["groups"][0]["q1"]);
    assert_eq!(d7["groups"][0]["median"], d6["groups"][0]["median"]);
    fails_with(
        &[
            "stats",
            "describe",
            "--data",
            &f,
            "--value",
            "Scores",
            "--quantiles",
            "type9",
        ],
        &["type9"],
    );
}

#[test]
fn meta_rob_and_prisma() {
    let r = json(&[
        "meta",
        "rob",
        "--data",
        &meta_fixture("rob_rob2.csv"),
        "--tool",
        "rob2",
    ]);
    assert_eq!(r["tool"], "RoB 2");
    assert!(!r["studies"].as_array().unwrap().is_empty());
    assert!(r["summary"]["domains"].as_array().unwrap().len() == 6);
    fails_with(
        &[
            "meta",
            "rob",
            "--data",
            &meta_fixture("rob_unknown_level.csv"),
            "--tool",
            "rob2",
        ],
        &["rob_unknown_level.csv", "unknown judgement 'Unclear'"],
    );
    // The stroke review's flow: 3,838 identified, 1,153 duplicates, 2,685 screened,
    // 106 assessed, 30 included.
    let p = json(&[
        "meta",
        "prisma",
        "--data",
        &meta_fixture("prisma_stroke2025.csv"),
    ]);
    assert_eq!(p["identified_dbr"], 3838);
    assert_eq!(p["included_dbr"], 30);
    let text = std::fs::read_to_string(meta_fixture("prisma_stroke2025.csv")).unwrap();
    let broken = file("prisma", "broken.csv", &text.replacen("3838", "3839", 1));
    fails_with(
        &["meta", "prisma", "--data", broken.to_str().unwrap()],
        &["broken.csv", "records_screened", "2686"],
    );
    // --out naming an existing file: a clear error, nothing written.
    fails_with(
        &[
            "meta",
            "prisma",
            "--data",
            &meta_fixture("prisma_stroke2025.csv"),
            "--out",
            broken.to_str().unwrap(),
        ],
        &["cannot create directory", "broken.csv"],
    );
}
