//! Loading a trial dataset: every problem is reported at once with file, line, column
//! and value; nothing is returned from invalid data.

use std::path::PathBuf;

use evidentia_trial::dataset::{CsvFiles, Disposition, TrialDataset};
use evidentia_trial::{AnalysisPlan, TrialError, ValidationErrors};

fn cp_plan() -> AnalysisPlan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/cp-rct/plan.toml");
    AnalysisPlan::load(&path).unwrap()
}

const PARTICIPANTS: &str = "\
participant_id,arm,site,randomization_date,disposition,last_visit,disposition_reason,gmfcs,sex,cp_type,age_months,weight_kg
CP-001,Control,A,2017-08-19,completed,T4,,IV,F,spastic_quadriplegia,101.5,16.2
CP-002,UCT-MSC,B,2017-08-21,lost_to_follow_up,T1,moved away,V,M,spastic_diplegia,88,NA
CP-003,UCT-MSC,C,2017-09-02,completed,T4,,II,M,spastic_quadriplegia,130,22.5
";

const MEASUREMENTS: &str = "\
participant_id,visit,time,outcome,value
CP-001,baseline,0,gmfm66,40.5
CP-001,T4,12,gmfm66,44
CP-001,T4,12,mas,2.5
CP-002,baseline,0,gmfm66,30
CP-002,T1,1,gmfm66,31
CP-003,baseline,0,cst_fa,0.45
CP-003,T4,12.2,cst_fa,0.47
";

const AES: &str = "\
participant_id,term,onset_day,severity,serious,related
CP-002,fever,0,mild,no,yes
";

const SCREENING: &str = "\
screening_id,eligible,exclusion_reason,participant_id
S1,yes,,CP-001
S2,no,did not meet inclusion criteria,
S3,yes,,CP-002
S4,yes,,CP-003
";

fn files() -> CsvFiles {
    CsvFiles {
        participants: PARTICIPANTS.into(),
        measurements: MEASUREMENTS.into(),
        adverse_events: AES.into(),
        screening: Some(SCREENING.into()),
    }
}

fn errors(f: &CsvFiles) -> ValidationErrors {
    match TrialDataset::from_csv(f, &cp_plan()) {
        Err(TrialError::Invalid(e)) => e,
        Err(other) => panic!("expected validation errors, got {other}"),
        Ok(_) => panic!("invalid data was accepted"),
    }
}

#[test]
fn a_valid_dataset_loads() {
    let ds = TrialDataset::from_csv(&files(), &cp_plan()).unwrap();
    assert_eq!(ds.participants.len(), 3);
    assert_eq!(ds.participants[1].disposition, Disposition::LostToFollowUp);
    assert_eq!(ds.participants[1].attributes["weight_kg"], "NA");
    assert_eq!(ds.measurements.len(), 7);
    assert_eq!(ds.measurements[6].time, 12.2);
    assert_eq!(
        ds.attribute_columns,
        ["gmfcs", "sex", "cp_type", "age_months", "weight_kg"]
    );
    assert_eq!(ds.screening.as_ref().unwrap().len(), 4);
    // Round trip through the writer.
    let again = TrialDataset::from_csv(&ds.to_csv(), &cp_plan()).unwrap();
    assert_eq!(again, ds);
    // Without screening.csv the dataset still loads.
    let mut f = files();
    f.screening = None;
    assert!(
        TrialDataset::from_csv(&f, &cp_plan())
            .unwrap()
            .screening
            .is_none()
    );
}

#[test]
fn every_problem_is_reported_with_file_line_column_and_value() {
    let mut f = files();
    f.participants = PARTICIPANTS
        .replace("CP-003,UCT-MSC,C,2017-09-02", "CP-001,Placebo,C,2017-09-31")
        .replace("lost_to_follow_up,T1", "lost,T9")
        .replace("101.5,16.2", "ten,16.2")
        .replace(",IV,F,", ",VI,F,");
    f.measurements = MEASUREMENTS.to_string()
        + "CP-009,T1,1,gmfm66,50\n\
           CP-001,T1,1,gmfm66,101\n\
           CP-001,T4,12,gmfm66,45\n\
           CP-001,T5,13,mas,2\n\
           CP-001,T1,1,cst_fa,0.4\n\
           CP-001,T1,one,mas,x\n\
           CP-001,T1,1,grip,3\n";
    f.adverse_events = AES.to_string() + "CP-404,rash,-1,awful,maybe,perhaps\n";
    let e = errors(&f);
    let text = e.to_string();
    let expect: &[(&str, u64, &str, &str)] = &[
        ("participants.csv", 2, "gmfcs", "VI"),
        ("participants.csv", 2, "age_months", "ten"),
        ("participants.csv", 3, "disposition", "lost"),
        ("participants.csv", 3, "last_visit", "T9"),
        ("participants.csv", 4, "participant_id", "CP-001"),
        ("participants.csv", 4, "arm", "Placebo"),
        ("participants.csv", 4, "randomization_date", "2017-09-31"),
        ("measurements.csv", 9, "participant_id", "CP-009"),
        ("measurements.csv", 10, "value", "101"),
        ("measurements.csv", 11, "", "CP-001,T4,gmfm66"),
        ("measurements.csv", 12, "visit", "T5"),
        ("measurements.csv", 13, "visit", "T1"),
        ("measurements.csv", 14, "time", "one"),
        ("measurements.csv", 14, "value", "x"),
        ("measurements.csv", 15, "outcome", "grip"),
        ("adverse_events.csv", 3, "participant_id", "CP-404"),
        ("adverse_events.csv", 3, "onset_day", "-1"),
        ("adverse_events.csv", 3, "severity", "awful"),
        ("adverse_events.csv", 3, "serious", "maybe"),
        ("adverse_events.csv", 3, "related", "perhaps"),
    ];
    for (file, line, column, value) in expect {
        assert!(
            e.errors.iter().any(|x| x.file == *file
                && x.line == *line
                && x.column == *column
                && x.value == *value),
            "missing {file}:{line} {column}={value} in\n{text}"
        );
    }
    // The duplicate names the first occurrence; out-of-range names the declared range.
    assert!(text.contains("first on line 3"), "{text}");
    assert!(
        text.contains("outside the range declared for 'gmfm66' (0 to 100)"),
        "{text}"
    );
    assert!(
        text.contains("does not measure 'cst_fa' at this visit"),
        "{text}"
    );
    assert!(text.starts_with(&format!("the trial dataset has {} problems:", e.len())));
    // Errors are listed file by file, line by line.
    let files = [
        "participants.csv",
        "measurements.csv",
        "adverse_events.csv",
        "screening.csv",
    ];
    let keys: Vec<(usize, u64)> = e
        .errors
        .iter()
        .map(|x| (files.iter().position(|f| *f == x.file).unwrap(), x.line))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
}

#[test]
fn measurements_after_the_last_visit_attended_are_errors() {
    let mut f = files();
    f.measurements = MEASUREMENTS.to_string() + "CP-002,T3,6,gmfm66,33\n";
    let e = errors(&f);
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!((e.errors[0].line, e.errors[0].value.as_str()), (9, "T3"));
    assert!(e.errors[0].message.contains("last_visit 'T1'"), "{e}");
}

#[test]
fn structural_problems_are_reported() {
    let mut f = files();
    f.measurements = "participant_id,visit,outcome,value\nCP-001,baseline,gmfm66,40\n".into();
    f.adverse_events =
        "participant_id,term,onset_day,severity,serious,related\nCP-001,fever,0\n".into();
    f.participants = PARTICIPANTS.replace(",weight_kg\n", ",weight\n");
    f.screening = Some(
        "screening_id,eligible,exclusion_reason,participant_id\nS1,no,,\nS1,yes,,CP-001\n".into(),
    );
    let e = errors(&f);
    let text = e.to_string();
    for needle in [
        "measurements.csv: line 1, column 'time': value '': required column is missing",
        "participants.csv: line 1, column 'weight_kg': value '': the plan's covariate 'weight_kg' has no column",
        "adverse_events.csv: line 2: value 'CP-001,fever,0': row has 3 fields, the header has 6",
        "screening.csv: line 2, column 'exclusion_reason'",
        "screening.csv: line 3, column 'screening_id': value 'S1': duplicated screening id",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }
}

#[test]
fn screening_must_account_for_every_participant() {
    let mut f = files();
    f.screening = Some(SCREENING.replace("S4,yes,,CP-003\n", "S4,no,too old,CP-003\n"));
    let e = errors(&f);
    assert!(e.to_string().contains("must be eligible"), "{e}");
    f.screening = Some(SCREENING.replace("S4,yes,,CP-003\n", ""));
    let e = errors(&f);
    assert_eq!(e.errors[0].file, "participants.csv");
    assert!(e.to_string().contains("has no row in screening.csv"), "{e}");
}

#[test]
fn loading_from_a_directory_names_a_missing_file() {
    let dir = std::env::temp_dir().join(format!("evidentia-trial-ds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("participants.csv"), PARTICIPANTS).unwrap();
    let e = TrialDataset::load(&dir, &cp_plan()).unwrap_err();
    assert!(matches!(e, TrialError::Io { .. }));
    assert!(e.to_string().contains("measurements.csv"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
