//! `evidentia meta pool` end to end, against metafor's published results
//! (crates/meta/tests/fixtures/meta/expected_metafor_published.json, copied from
//! ../shared/reference/meta with its sources), and the figures of `meta pool/rob/prisma`.

mod common;

use common::{evidentia, fails_with, json, meta_fixture as fixture};
use serde_json::Value;

fn published(id: &str) -> Value {
    let text = std::fs::read_to_string(fixture("expected_metafor_published.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("case {id}"))["expected"]
        .clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// |a − b| within half a unit of the last printed digit (4 decimals unless noted).
fn close(got: &Value, want: &Value, decimals: i32, what: &str) {
    let (g, w) = (f(got), f(want));
    let tol = 0.5 * 10f64.powi(-decimals) + 1e-12;
    assert!((g - w).abs() <= tol, "{what}: got {g}, metafor printed {w}");
}

const BCG_RR: [&str; 12] = [
    "meta", "pool", "--study", "author", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di",
    "cneg",
];

fn bcg(extra: &[&str]) -> Value {
    let data = fixture("dat.bcg.csv");
    let mut args: Vec<&str> = BCG_RR.to_vec();
    args.extend(["--data", &data, "--measure", "rr"]);
    args.extend(extra);
    json(&args)
}

#[test]
fn bcg_reml_matches_metafor() {
    let v = bcg(&[]);
    let e = published("bcg_RE_REML");
    close(&v["estimate"], &e["estimate"], 4, "estimate");
    close(&v["se"], &e["se"], 4, "se");
    close(&v["statistic"], &e["zval"], 4, "z");
    close(&v["ci"][0], &e["ci_lb"], 4, "ci_lb");
    close(&v["ci"][1], &e["ci_ub"], 4, "ci_ub");
    close(&v["tau2"], &e["tau2"], 4, "tau2");
    close(&v["tau2_se"], &e["se_tau2"], 4, "se(tau2)");
    close(&v["i2"], &e["I2_pct"], 2, "I2");
    close(&v["h2"], &e["H2"], 2, "H2");
    close(&v["q"], &e["Q"], 3, "Q");
    assert_eq!(v["q_df"], 12.0);
    assert_eq!(v["k"], 13);
    assert_eq!(v["method"], "REML");
    assert_eq!(v["profile"], "metafor");
    assert_eq!(v["scale"], "log");
    let ci = published("bcg_RE_REML_confint");
    close(&v["tau2_ci"][0], &ci["tau2"][1], 4, "tau2 CI low");
    close(&v["tau2_ci"][1], &ci["tau2"][2], 4, "tau2 CI high");
    let pi = &published("bcg_RE_REML_predict")["log_scale_2dp"];
    close(&v["pi"][0], &pi["pi_lb"], 2, "PI low");
    close(&v["pi"][1], &pi["pi_ub"], 2, "PI high");
    let rr = &published("bcg_RE_REML_predict")["RR_scale"];
    close(&v["exp"]["estimate"], &rr["pred"], 4, "RR");
    // Studies: escalc's yi/vi, weights in percent summing to 100.
    let es = published("bcg_escalc_RR_8dp");
    let studies = v["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 13);
    for (i, s) in studies.iter().enumerate() {
        close(&s["yi"], &es["yi"][i], 8, "yi");
        assert!(s["study"].is_string() && s["weight"].is_f64());
    }
    let w: f64 = studies.iter().map(|s| f(&s["weight"])).sum();
    assert!((w - 100.0).abs() < 1e-9, "weights sum to {w}");
    assert_eq!(studies[0]["study"], "Aronson");
    let w = v["warnings"][0].as_str().unwrap();
    assert!(w.contains("Comstock et al, Rosenthal et al"), "{w}");
}

#[test]
fn bcg_dl_ee_and_generic_input_agree_with_metafor() {
    let dl = bcg(&["--method", "dl"]);
    let e = published("bcg_RE_DL");
    close(&dl["estimate"], &e["estimate"], 4, "DL estimate");
    close(&dl["tau2"], &e["tau2"], 4, "DL tau2");
    close(&dl["statistic"], &e["zval"], 4, "DL z");
    let ee = bcg(&["--method", "ee"]);
    let e = published("bcg_EE");
    close(&ee["estimate"], &e["estimate"], 4, "EE estimate");
    close(&ee["se"], &e["se"], 4, "EE se");
    assert_eq!(ee["tau2"], 0.0);

    // The same studies as precomputed yi and sei give the same model.
    let es = published("bcg_escalc_RR_8dp");
    let mut csv = String::from("study,yi,sei\n");
    for i in 0..13 {
        csv += &format!("S{i},{},{}\n", f(&es["yi"][i]), f(&es["vi"][i]).sqrt());
    }
    let dir = std::env::temp_dir().join(format!("evidentia-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("generic.csv");
    std::fs::write(&p, csv).unwrap();
    let g = json(&[
        "meta",
        "pool",
        "--data",
        p.to_str().unwrap(),
        "--study",
        "study",
        "--yi",
        "yi",
        "--sei",
        "sei",
        "--method",
        "dl",
    ]);
    assert!((f(&g["estimate"]) - f(&dl["estimate"])).abs() < 1e-7);
    assert_eq!(g["measure"], "generic");
    assert!(g.get("exp").is_none());
}

#[test]
fn bcg_bias_trimfill_and_leave_one_out() {
    let v = bcg(&[
        "--method",
        "ee",
        "--trimfill",
        "L0",
        "--begg",
        "--leave-one-out",
    ]);
    let tf = published("bcg_trimfill_EE_L0");
    let t = &v["bias"]["trimfill"];
    assert_eq!(t["k0"], tf["k0"]);
    assert_eq!(t["side"], "right");
    close(&t["estimate"], &tf["estimate"], 4, "trim-and-fill estimate");
    close(&t["se"], &tf["se"], 4, "trim-and-fill se");
    close(&t["ci"][0], &tf["ci_lb"], 3, "trim-and-fill ci");
    assert_eq!(t["tau2"], 0.0);
    // Begg's test is independent of the fit's method.
    let b = published("bcg_ranktest");
    close(
        &v["bias"]["begg"]["tau"],
        &b["kendall_tau"],
        4,
        "Kendall tau",
    );
    close(&v["bias"]["begg"]["p_value"], &b["p"], 4, "Begg p");
    let loo = v["leave_one_out"].as_array().unwrap();
    assert_eq!(loo.len(), 13);
    assert_eq!(loo[0]["omitted"], "Aronson");
    for key in ["estimate", "se", "tau2", "i2", "q"] {
        assert!(loo[0][key].is_f64(), "{key}");
    }
    assert!(loo[0]["ci"].as_array().unwrap().len() == 2);
}

#[test]
fn egger_tests_match_regtest() {
    // dat.egger2001 without ISIS-4 (rows 1-15), log odds ratios.
    let text = std::fs::read_to_string(fixture("dat.egger2001.csv")).unwrap();
    let kept: Vec<&str> = text.lines().take(16).collect();
    let dir = std::env::temp_dir().join(format!("evidentia-egger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("egger15.csv");
    std::fs::write(&p, kept.join("\n") + "\n").unwrap();
    let data = p.to_str().unwrap();
    let base = [
        "meta",
        "pool",
        "--data",
        data,
        "--study",
        "study",
        "--events1",
        "ai",
        "--n1",
        "n1i",
        "--events2",
        "ci",
        "--n2",
        "n2i",
        "--measure",
        "or",
        "--egger",
    ];
    let e = published("egger2001_regtest");
    let v = json(&base);
    close(&v["tau2"], &e["RE_REML"]["tau2"], 4, "tau2");
    close(&v["estimate"], &e["RE_REML"]["estimate"], 4, "estimate");
    let eg = &v["bias"]["egger"];
    assert_eq!(eg["model"], "rma");
    close(
        &eg["statistic"],
        &e["regtest_default_rma"]["z"],
        4,
        "Egger z",
    );
    close(&eg["p_value"], &e["regtest_default_rma"]["p"], 4, "Egger p");
    let mut lm = base.to_vec();
    lm.extend(["--egger-model", "lm"]);
    let v = json(&lm);
    let eg = &v["bias"]["egger"];
    close(
        &eg["statistic"],
        &e["regtest_lm_classic_Egger"]["t"],
        4,
        "Egger t",
    );
    close(
        &eg["p_value"],
        &e["regtest_lm_classic_Egger"]["p"],
        4,
        "Egger lm p",
    );
    assert!(
        v["bias"].get("warnings").is_none(),
        "15 studies: no low-power warning"
    );
    // Below 10 studies the tests are reported with the Cochrane Handbook's caveat.
    let p7 = dir.join("egger7.csv");
    std::fs::write(&p7, kept[..8].join("\n") + "\n").unwrap();
    let mut few = base.to_vec();
    few[3] = p7.to_str().unwrap();
    let v = json(&few);
    let w = v["bias"]["warnings"][0].as_str().unwrap();
    assert!(w.contains("only 7 studies"), "{w}");
}

#[test]
fn normand_smd_warns_about_large_effects() {
    let data = fixture("dat.normand1999.csv");
    let v = json(&[
        "meta", "pool", "--data", &data, "--study", "source", "--m1", "m1i", "--sd1", "sd1i",
        "--n1", "n1i", "--m2", "m2i", "--sd2", "sd2i", "--n2", "n2i",
    ]);
    let e = published("normand1999_SMD_RE_REML");
    assert_eq!(v["measure"], "SMD");
    close(&v["estimate"], &e["estimate"], 4, "SMD estimate");
    close(&v["tau2"], &e["tau2"], 4, "SMD tau2");
    close(&v["p_value"], &e["pval"], 4, "SMD p");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("|g| > 2")),
        "{warnings:?}"
    );
    let md = json(&[
        "meta",
        "pool",
        "--data",
        &data,
        "--m1",
        "m1i",
        "--sd1",
        "sd1i",
        "--n1",
        "n1i",
        "--m2",
        "m2i",
        "--sd2",
        "sd2i",
        "--n2",
        "n2i",
        "--measure",
        "md",
    ]);
    let e = published("normand1999_MD_RE_REML");
    close(&md["estimate"], &e["estimate"], 3, "MD estimate");
    close(&md["tau2"], &e["tau2"], 4, "MD tau2");
    // RevMan 5 profile: DL, no prediction interval, I² from Q.
    let rm = json(&[
        "meta",
        "pool",
        "--data",
        &data,
        "--m1",
        "m1i",
        "--sd1",
        "sd1i",
        "--n1",
        "n1i",
        "--m2",
        "m2i",
        "--sd2",
        "sd2i",
        "--n2",
        "n2i",
        "--profile",
        "revman5",
    ]);
    assert_eq!(rm["method"], "DL");
    assert_eq!(rm["profile"], "revman5");
    assert!(rm["pi"].is_null());
    assert!((f(&rm["i2"]) - f(&rm["i2_from_q"])).abs() < 1e-12);
}

#[test]
fn subgroups_and_moderators() {
    let v = bcg(&["--subgroup", "alloc", "--moderators", "ablat"]);
    let groups = v["subgroups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0]["group"], "random");
    let k: u64 = groups.iter().map(|g| g["k"].as_u64().unwrap()).sum();
    assert_eq!(k, 13);
    // Q_between recomputed from the subgroup estimates (RevMan's formula).
    let w: Vec<f64> = groups.iter().map(|g| f(&g["se"]).powi(-2)).collect();
    let m: Vec<f64> = groups.iter().map(|g| f(&g["estimate"])).collect();
    let mu = w.iter().zip(&m).map(|(w, m)| w * m).sum::<f64>() / w.iter().sum::<f64>();
    let qb: f64 = w.iter().zip(&m).map(|(w, m)| w * (m - mu).powi(2)).sum();
    assert!((qb - f(&v["q_between"])).abs() < 1e-9);
    let mods = &v["moderators"];
    assert_eq!(mods["qm_df"], 1.0);
    assert_eq!(mods["coefficients"][1]["name"], "ablat");
    assert!(f(&mods["coefficients"][1]["estimate"]) < 0.0);
    let r2 = f(&mods["r2"]);
    assert!((0.0..=100.0).contains(&r2));
    // A text moderator is a factor with treatment coding.
    let v = bcg(&["--moderators", "alloc"]);
    let names: Vec<&str> = v["moderators"]["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(v["moderators"]["qm_df"], 2.0);
}

#[test]
fn figures_are_written_for_pool_rob_and_prisma() {
    let dir = std::env::temp_dir().join(format!("evidentia-figs-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let v = bcg(&["--trimfill", "R0", "--subgroup", "alloc", "--out", d]);
    let files: Vec<&str> = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 4);
    for name in ["forest.svg", "forest.png", "funnel.svg", "funnel.png"] {
        let p = dir.join(name);
        let bytes = std::fs::read(&p).unwrap();
        if name.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG"), "{name}");
        } else {
            let s = String::from_utf8(bytes).unwrap();
            assert!(s.starts_with("<svg"), "{name}");
        }
    }
    let forest = std::fs::read_to_string(dir.join("forest.svg")).unwrap();
    assert!(forest.contains("Aronson") && forest.contains("Test for subgroup differences"));
    let rob_dir = dir.join("rob");
    let out = evidentia(&[
        "meta",
        "rob",
        "--data",
        &fixture("rob_rob2.csv"),
        "--tool",
        "rob2",
        "--out",
        rob_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rob_dir.join("rob_traffic_light.png").is_file());
    assert!(rob_dir.join("rob_summary.svg").is_file());
    let pr_dir = dir.join("prisma");
    let out = evidentia(&[
        "meta",
        "prisma",
        "--data",
        &fixture("prisma_stroke2025.csv"),
        "--out",
        pr_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(pr_dir.join("prisma.svg")).unwrap();
    assert!(svg.contains("3,838") && svg.contains("2,685"));
}

#[test]
fn bad_input_gets_clear_errors() {
    let data = fixture("dat.bcg.csv");
    fails_with(
        &[
            "meta", "pool", "--data", &data, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
        ],
        &["missing --di"],
    );
    fails_with(
        &[
            "meta", "pool", "--data", &data, "--yi", "tpos", "--vi", "tneg", "--ai", "tpos",
        ],
        &["exactly one kind of input"],
    );
    fails_with(
        &[
            "meta", "pool", "--data", &data, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
            "--di", "nope",
        ],
        &["no column named 'nope'", "tpos"],
    );
    fails_with(
        &[
            "meta",
            "pool",
            "--data",
            &data,
            "--ai",
            "tpos",
            "--bi",
            "tneg",
            "--ci",
            "cpos",
            "--di",
            "cneg",
            "--measure",
            "smd",
        ],
        &["--measure smd", "does not fit"],
    );
    fails_with(
        &[
            "meta", "pool", "--data", &data, "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
            "--di", "author",
        ],
        &["column 'author'", "not a number"],
    );
    fails_with(
        &[
            "meta",
            "pool",
            "--data",
            &data,
            "--yi",
            "tpos",
            "--vi",
            "ablat",
            "--moderators",
            "zz",
        ],
        &["zz"],
    );
}

#[test]
fn demo_pools_the_trial_with_illustrative_studies() {
    let v = json(&["demo"]);
    let m = &v["meta_analysis"];
    let studies = m["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 5);
    assert_eq!(studies[0]["sd_from_ci"], true);
    // The trial's g from SDs recovered from its CIs: SD = √36·(15.91 − 5.39)/(2·t(0.975, 35)).
    let t: f64 = 2.030_107_928_250_343;
    let sd1 = 6.0 * (15.91 - 5.39) / (2.0 * t);
    let sd2 = 6.0 * (5.80 + 3.33) / (2.0 * t);
    let sp = ((sd1 * sd1 + sd2 * sd2) / 2.0).sqrt();
    let j = 1.0 - 3.0 / (4.0 * 70.0 - 1.0); // metafor's exact J differs below 1e-4 at df = 70
    let g = j * (10.65 - 1.23) / sp;
    assert!(
        (f(&studies[0]["g"]) - g).abs() < 2e-4,
        "g = {}",
        studies[0]["g"]
    );
    let ci = m["ci"].as_array().unwrap();
    assert!(f(&ci[0]) < f(&m["estimate"]) && f(&m["estimate"]) < f(&ci[1]));
    assert!(
        m["pi"].is_array(),
        "cochrane2025 reports a prediction interval"
    );
}

#[test]
fn forest_plot_carries_risk_of_bias_columns() {
    let data = fixture("dat.normand1999.csv");
    let dir = std::env::temp_dir().join(format!("evidentia-robforest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let names = [
        "Edinburgh",
        "Orpington-Mild",
        "Orpington-Moderate",
        "Orpington-Severe",
        "Montreal-Home",
        "Montreal-Transfer",
        "Newcastle",
        "Umea",
        "Uppsala",
    ];
    let mut csv = String::from("Study,D1,D2,D3,D4,D5\n");
    for (i, n) in names.iter().enumerate() {
        let d3 = if i % 3 == 0 { "Some concerns" } else { "Low" };
        let d5 = if i == 4 { "High" } else { "Low" };
        csv += &format!("{n},Low,Low,{d3},Low,{d5}\n");
    }
    let rob = dir.join("rob.csv");
    std::fs::write(&rob, &csv).unwrap();
    let out = dir.join("figs");
    let args = [
        "meta",
        "pool",
        "--data",
        &data,
        "--study",
        "source",
        "--m1",
        "m1i",
        "--sd1",
        "sd1i",
        "--n1",
        "n1i",
        "--m2",
        "m2i",
        "--sd2",
        "sd2i",
        "--n2",
        "n2i",
        "--rob",
        rob.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    json(&args);
    let svg = std::fs::read_to_string(out.join("forest.svg")).unwrap();
    assert!(svg.contains("Risk of bias legend") || svg.contains("Overall risk of bias"));
    // A study missing from the RoB table is an error naming it.
    let short = dir.join("rob_short.csv");
    std::fs::write(
        &short,
        csv.lines().take(9).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let mut bad = args.to_vec();
    let i = bad.iter().position(|a| *a == "--rob").unwrap();
    bad[i + 1] = short.to_str().unwrap();
    fails_with(&bad, &["Uppsala", "risk-of-bias table"]);
}

#[test]
fn demo_simulates_and_analyses_the_cp_trial() {
    let dir = std::env::temp_dir().join(format!("evidentia-demo-test-{}", std::process::id()));
    let v = json(&["demo", "--out", dir.to_str().unwrap(), "--seed", "5"]);
    let t = &v["simulated_trial"];
    assert_eq!(t["design"], "cp-rct");
    let report = std::fs::read_to_string(t["report"].as_str().unwrap()).unwrap();
    assert!(report.contains("<svg") && report.contains("GMFM-66"));
    let primary = t["primary"].as_array().unwrap();
    assert_eq!(primary.len(), 4, "four post-baseline visits");
    // The simulated 12-month difference is about 8 points (seed paper 000, Table 2).
    let t4 = primary[3]["estimate"].as_f64().unwrap();
    assert!((t4 - 8.0).abs() < 5.0, "T4 difference {t4}");
    assert!(dir.join("meta/demo_forest.png").is_file());
    assert!(dir.join("data/participants.csv").is_file());
    // The imaging outcomes come from simulated scans measured by the DTI pipeline.
    let im = &t["imaging"];
    assert!(
        im["source"].as_str().unwrap().contains("DTI pipeline"),
        "{im}"
    );
    assert!(im["scans"].as_u64().unwrap() > 120, "{im}");
    assert_eq!(im["side_mismatches"], 0);
}

/// Normand 1999 with some SDs replaced by what papers often report instead: an SE, a CI of
/// the mean (z and t), a median with quartiles. The converted SDs equal the originals, so
/// the pooled SMD must equal the all-SD run; the median row must equal a run given the
/// Luo/Wan values computed independently with scipy 1.17.1:
/// `w = 0.7 + 0.39/n; w*(q1+q3)/2 + (1-w)*m` and
/// `(q3-q1) / (2*norm.ppf((0.75*n-0.125)/(n+0.25)))`; `t.ppf(0.975, 31) = 2.039513446396408`.
#[test]
fn extraction_conversions_are_applied_and_flagged() {
    let dir = common::dir("meta-conversions");
    let header = "source,n1i,m1i,sd1i,se1,med1,lq1,uq1,n2i,m2i,sd2i,cil2,ciu2";
    let z = 1.959963984540054f64;
    let t31 = 2.039513446396408f64;
    let ci = |m: f64, sd: f64, n: f64, crit: f64| {
        let h = crit * sd / n.sqrt();
        (format!("{:.17}", m - h), format!("{:.17}", m + h))
    };
    let (ul, uh) = ci(31.0, 27.0, 183.0, z);
    let (ol, oh) = ci(29.0, 4.0, 32.0, t31);
    let rows = [
        format!(
            "Edinburgh,155,55,,{:.17},,,,156,75,64,,",
            47.0 / 155f64.sqrt()
        ),
        format!("Orpington-Mild,31,27,7,,,,,32,29,,{ol},{oh}"),
        "Orpington-Moderate,75,64,17,,,,,71,119,29,,".to_string(),
        "Orpington-Severe,18,66,20,,,,,18,137,48,,".to_string(),
        "Montreal-Home,8,,,,13,8,19,13,18,11,,".to_string(),
        "Montreal-Transfer,57,19,7,,,,,52,18,4,,".to_string(),
        "Newcastle,34,52,45,,,,,33,41,34,,".to_string(),
        format!("Umea,110,21,16,,,,,183,31,,{ul},{uh}"),
        "Uppsala,60,30,27,,,,,52,23,20,,".to_string(),
    ];
    let data = dir.join("extracted.csv");
    std::fs::write(&data, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let data = data.to_str().unwrap().to_string();
    // The reference: every SD reported, the median row given the independently computed
    // Luo mean and Wan SD.
    let reference = dir.join("reference.csv");
    let original = std::fs::read_to_string(fixture("dat.normand1999.csv")).unwrap();
    let fixed = original.replace(
        "5,Montreal-Home,8,14,8,",
        "5,Montreal-Home,8,13.374375,9.828584584362327,",
    );
    assert_ne!(fixed, original);
    std::fs::write(&reference, fixed).unwrap();
    let base = |d: &str| -> Vec<String> {
        [
            "meta", "pool", "--data", d, "--study", "source", "--m1", "m1i", "--sd1", "sd1i",
            "--n1", "n1i", "--m2", "m2i", "--sd2", "sd2i", "--n2", "n2i",
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: Vec<String>| json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let want = run(base(reference.to_str().unwrap()));
    let mut args = base(&data);
    args.extend(
        [
            "--se1",
            "se1",
            "--median1",
            "med1",
            "--q1-1",
            "lq1",
            "--q3-1",
            "uq1",
            "--ci2-lower",
            "cil2",
            "--ci2-upper",
            "ciu2",
        ]
        .map(String::from),
    );
    let got = run(args.clone());
    for key in ["estimate", "se", "tau2", "q"] {
        let (g, w) = (f(&got[key]), f(&want[key]));
        assert!((g - w).abs() < 1e-9 * w.abs().max(1.0), "{key}: {g} vs {w}");
    }
    let studies = got["studies"].as_array().unwrap();
    let flags = |name: &str| -> Vec<(u64, String, String, f64)> {
        studies
            .iter()
            .find(|s| s["study"] == name)
            .unwrap_or_else(|| panic!("{name}"))["flags"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|f| f["kind"] == "converted")
            .map(|f| {
                (
                    f["arm"].as_u64().unwrap(),
                    f["quantity"].as_str().unwrap().to_string(),
                    f["method"].as_str().unwrap().to_string(),
                    f["value"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let one = |name: &str, arm: u64, quantity: &str, method: &str, value: f64| {
        let fl = flags(name);
        let hit = fl
            .iter()
            .find(|f| f.0 == arm && f.1 == quantity)
            .unwrap_or_else(|| panic!("{name}: no {quantity} flag for group {arm}: {fl:?}"));
        assert_eq!(hit.2, method, "{name}");
        assert!((hit.3 - value).abs() < 1e-9, "{name}: {} vs {value}", hit.3);
    };
    one("Edinburgh", 1, "sd", "sd_from_se", 47.0);
    one("Umea", 2, "sd", "sd_from_ci_z", 27.0);
    one("Orpington-Mild", 2, "sd", "sd_from_ci_t", 4.0);
    one("Montreal-Home", 1, "mean", "mean_luo2018_s2", 13.374375);
    one("Montreal-Home", 1, "sd", "sd_wan2014_s2", 9.828584584362327);
    assert!(flags("Uppsala").is_empty());

    // A study with neither SD, SE, CI nor quartiles is left out and listed.
    let gap = dir.join("gap.csv");
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replace(&format!("{:.17}", 47.0 / 155f64.sqrt()), "");
    std::fs::write(&gap, text).unwrap();
    args[3] = gap.to_str().unwrap().to_string();
    let v = run(args.clone());
    assert_eq!(v["k"], 8);
    assert_eq!(v["dropped"][0]["study"], "Edinburgh");

    // Quartiles out of order: exit 2 naming the study and the group.
    let bad = dir.join("bad.csv");
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replace("Montreal-Home,8,,,,13,8,19", "Montreal-Home,8,,,,13,19,8");
    std::fs::write(&bad, text).unwrap();
    args[3] = bad.to_str().unwrap().to_string();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&a, &["Montreal-Home", "group 1"]);
}
