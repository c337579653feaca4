//! End-to-end tests of `evidentia trial randomize|simulate|validate`.

mod common;

use common::{dir, evidentia, json as ok_json, plan, s};
use serde_json::Value;

#[test]
fn randomize_writes_the_list_and_its_qc_beside_it() {
    let d = dir("randomize");
    let list = d.join("list.csv");
    let args = [
        "trial",
        "randomize",
        "--arms",
        "Control,MSC",
        "--ratio",
        "1:1",
        "--strata",
        "site=A,B,C;gmfcs=II-III,IV-V",
        "--block-sizes",
        "2,4",
        "--per-stratum",
        "40",
        "--seed",
        "20170819",
        "--out",
        s(&list),
    ];
    let v = ok_json(&args);
    assert_eq!(v["rows"], 240);
    assert_eq!(v["qc"]["totals"], serde_json::json!([120, 120]));
    assert_eq!(v["qc"]["strata"].as_array().unwrap().len(), 6);
    assert_eq!(v["provenance"]["seed"], 20170819);
    // The same list as the independent reference (tools/reference/make_randomization.py).
    assert_eq!(
        v["list_sha256"],
        "d29b3ce94c480958d3c877ac6c0f449126c3235fbcc67c7f5929509c3adafb7e"
    );
    let text = std::fs::read_to_string(&list).unwrap();
    assert!(text.starts_with("stratum,sequence,block,block_size,arm,randomization_number\n"));
    assert_eq!(text.lines().count(), 241);
    let qc: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("list.qc.json")).unwrap()).unwrap();
    assert_eq!(qc["qc"], v["qc"]);
    // Readable output prints the QC summary too.
    let out = evidentia(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("max_running_imbalance") && text.contains("block_size_counts"),
        "{text}"
    );
    // A second run gives the same bytes.
    let before = std::fs::read(&list).unwrap();
    ok_json(&args);
    assert_eq!(std::fs::read(&list).unwrap(), before);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn randomize_refuses_block_sizes_that_do_not_fit_the_ratio() {
    let d = dir("badratio");
    let out = evidentia(&[
        "trial",
        "randomize",
        "--arms",
        "MSC,Control",
        "--ratio",
        "2:1",
        "--block-sizes",
        "2,4",
        "--per-stratum",
        "12",
        "--seed",
        "1",
        "--out",
        s(&d.join("l.csv")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("block size '2'") && err.contains("multiple of the ratio sum 3"),
        "{err}"
    );
    assert!(!d.join("l.csv").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn simulate_then_validate_both_designs() {
    for (design, plan_dir, n) in [("cp-rct", "cp-rct", 72), ("ards", "ards", 20)] {
        let d = dir(&format!("sim-{design}"));
        let v = ok_json(&[
            "trial",
            "simulate",
            "--design",
            design,
            "--seed",
            "3",
            "--out",
            s(&d),
        ]);
        assert_eq!(v["participants"], n);
        let again = dir(&format!("sim2-{design}"));
        ok_json(&[
            "trial",
            "simulate",
            "--design",
            design,
            "--seed",
            "3",
            "--out",
            s(&again),
        ]);
        for f in ["participants.csv", "measurements.csv", "adverse_events.csv"] {
            assert_eq!(
                std::fs::read(d.join(f)).unwrap(),
                std::fs::read(again.join(f)).unwrap()
            );
        }
        let v = ok_json(&[
            "trial",
            "validate",
            "--data",
            s(&d),
            "--plan",
            &plan(plan_dir),
        ]);
        assert_eq!(v["valid"], true);
        assert_eq!(v["participants"], n);
        assert!(v["provenance"]["inputs"].as_array().unwrap().len() >= 4);
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&again).unwrap();
    }
}

#[test]
fn validate_prints_every_problem_and_exits_2() {
    let d = dir("invalid");
    ok_json(&[
        "trial",
        "simulate",
        "--design",
        "ards",
        "--seed",
        "9",
        "--out",
        s(&d),
    ]);
    let m = d.join("measurements.csv");
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("ARDS-99,day5,5,crp,10\nARDS-01,day3,3,crp,10\nARDS-01,day0,0,crp,-4\n");
    std::fs::write(&m, text).unwrap();
    let p = d.join("participants.csv");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen(",Control,", ",Placebo,", 1);
    std::fs::write(&p, text).unwrap();
    let out = evidentia(&[
        "trial",
        "validate",
        "--data",
        s(&d),
        "--plan",
        &plan("ards"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "problems:",
        "participants.csv: line",
        "column 'arm': value 'Placebo': arm not in the plan",
        "column 'participant_id': value 'ARDS-99': unknown participant id",
        "column 'visit': value 'day3': visit not in the plan",
        "column 'value': value '-4': outside the range declared for 'crp'",
        "duplicated (participant, visit, outcome) row",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    assert!(!err.contains("panicked"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn validate_reports_plan_errors_with_the_line() {
    let d = dir("badplan");
    let text = std::fs::read_to_string(plan("ards"))
        .unwrap()
        .replace("alpha = 0.05", "alpha = 0.05\nalfa = 1");
    let p = d.join("plan.toml");
    std::fs::write(&p, text).unwrap();
    let out = evidentia(&["trial", "validate", "--data", s(&d), "--plan", s(&p)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 13") && err.contains("unknown field `alfa`"),
        "{err}"
    );
    assert_eq!(err.matches("plan.toml").count(), 1, "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}
