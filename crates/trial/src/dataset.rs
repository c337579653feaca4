//! The trial dataset: `participants.csv`, `measurements.csv` (long format),
//! `adverse_events.csv` and an optional `screening.csv`, read and validated against the
//! analysis plan. Every problem is collected (file, line, column, value) and returned at
//! once; nothing is returned from invalid data. The formats are documented in
//! `docs/trial-dataset.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{TrialError, TrialResult, ValidationErrors};
use crate::plan::{AnalysisPlan, CovariateKind};

/// File name of the participant table.
pub const PARTICIPANTS_FILE: &str = "participants.csv";
/// File name of the long-format measurement table.
pub const MEASUREMENTS_FILE: &str = "measurements.csv";
/// File name of the adverse-event table.
pub const ADVERSE_EVENTS_FILE: &str = "adverse_events.csv";
/// File name of the optional screening log.
pub const SCREENING_FILE: &str = "screening.csv";

/// The dataset's file names, in loading order (the last one is optional).
pub const DATA_FILES: [&str; 4] = [
    PARTICIPANTS_FILE,
    MEASUREMENTS_FILE,
    ADVERSE_EVENTS_FILE,
    SCREENING_FILE,
];

/// Required columns of `participants.csv`; any other column is a stratification factor
/// or baseline covariate kept in [`Participant::attributes`].
pub const PARTICIPANT_COLUMNS: [&str; 7] = [
    "participant_id",
    "arm",
    "site",
    "randomization_date",
    "disposition",
    "last_visit",
    "disposition_reason",
];
/// Columns of `measurements.csv`.
pub const MEASUREMENT_COLUMNS: [&str; 5] = ["participant_id", "visit", "time", "outcome", "value"];
/// Columns of `adverse_events.csv`.
pub const ADVERSE_EVENT_COLUMNS: [&str; 6] = [
    "participant_id",
    "term",
    "onset_day",
    "severity",
    "serious",
    "related",
];
/// Columns of `screening.csv`.
pub const SCREENING_COLUMNS: [&str; 4] = [
    "screening_id",
    "eligible",
    "exclusion_reason",
    "participant_id",
];

/// A calendar date (proleptic Gregorian), written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date, if it exists.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        (day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD` strictly (four-digit year, two-digit month and day).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = &s[r];
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        Date::new(
            digits(0..4)? as i32,
            digits(5..7)? as u8,
            digits(8..10)? as u8,
        )
    }

    /// Days since 1970-01-01 (Hinnant, "chrono-compatible low-level date algorithms").
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (inverse of [`Date::days_since_epoch`]).
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(i32::try_from(year).ok()?, month as u8, day as u8)
    }

    /// This date plus `days` (which may be negative).
    pub fn add_days(self, days: i64) -> Option<Date> {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why and how a participant left the trial (CONSORT dispositions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Completed,
    WithdrewConsent,
    LostToFollowUp,
    Died,
    Other,
}

impl Disposition {
    /// All dispositions, in CONSORT order.
    pub const ALL: [Disposition; 5] = [
        Disposition::Completed,
        Disposition::WithdrewConsent,
        Disposition::LostToFollowUp,
        Disposition::Died,
        Disposition::Other,
    ];

    /// The spelling used in `participants.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Completed => "completed",
            Disposition::WithdrewConsent => "withdrew_consent",
            Disposition::LostToFollowUp => "lost_to_follow_up",
            Disposition::Died => "died",
            Disposition::Other => "other",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Severity grade of an adverse event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
    LifeThreatening,
    Fatal,
}

impl Severity {
    /// All grades, mildest first.
    pub const ALL: [Severity; 5] = [
        Severity::Mild,
        Severity::Moderate,
        Severity::Severe,
        Severity::LifeThreatening,
        Severity::Fatal,
    ];

    /// The spelling used in `adverse_events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::Severe => "severe",
            Severity::LifeThreatening => "life_threatening",
            Severity::Fatal => "fatal",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Whether an adverse event is judged related to the intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relatedness {
    Yes,
    No,
    Unknown,
}

impl Relatedness {
    /// The spelling used in `adverse_events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Relatedness::Yes => "yes",
            Relatedness::No => "no",
            Relatedness::Unknown => "unknown",
        }
    }
}

/// One randomized participant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    /// Unique participant id.
    pub id: String,
    /// Arm name (one of the plan's arms).
    pub arm: String,
    /// Recruiting site.
    pub site: String,
    /// Date of randomization.
    pub randomization_date: Date,
    /// How the participant left the trial.
    pub disposition: Disposition,
    /// Last visit attended (`None`: no visit attended).
    pub last_visit: Option<String>,
    /// Free-text reason for the disposition (may be empty).
    pub disposition_reason: String,
    /// Every other column (stratification factors, baseline covariates), by column name.
    pub attributes: BTreeMap<String, String>,
}

/// One value of one outcome at one visit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    pub participant_id: String,
    /// Visit label (one of the plan's visits).
    pub visit: String,
    /// Actual time since treatment, in the plan's time unit.
    pub time: f64,
    /// Outcome name (one of the plan's outcomes).
    pub outcome: String,
    pub value: f64,
}

/// One adverse event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdverseEvent {
    pub participant_id: String,
    /// Event term (MedDRA preferred term or plain words).
    pub term: String,
    /// Days from treatment to onset (0 = day of treatment).
    pub onset_day: u32,
    pub severity: Severity,
    pub serious: bool,
    pub related: Relatedness,
}

/// One screened candidate (top of the CONSORT flow).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreeningRecord {
    pub screening_id: String,
    /// Met the eligibility criteria.
    pub eligible: bool,
    /// Why the candidate was not randomized (required when not eligible).
    pub exclusion_reason: String,
    /// Participant id if randomized.
    pub participant_id: Option<String>,
}

/// A validated trial dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialDataset {
    /// The extra columns of `participants.csv`, in file order.
    pub attribute_columns: Vec<String>,
    pub participants: Vec<Participant>,
    pub measurements: Vec<Measurement>,
    pub adverse_events: Vec<AdverseEvent>,
    /// The screening log, when `screening.csv` was given.
    pub screening: Option<Vec<ScreeningRecord>>,
}

/// The text of the dataset's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFiles {
    pub participants: String,
    pub measurements: String,
    pub adverse_events: String,
    pub screening: Option<String>,
}

/// One CSV file parsed into header and rows, with each row's 1-based line.
struct Table<'a> {
    file: &'a str,
    header: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

impl<'a> Table<'a> {
    /// Reads the table; structural problems (ragged rows, bad UTF-8) are recorded and the
    /// offending rows skipped.
    fn read(file: &'a str, text: &str, errors: &mut ValidationErrors) -> Option<Table<'a>> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(str::to_string).collect(),
            Err(e) => {
                errors.push(file, 1, "", "", format!("cannot read the header row: {e}"));
                return None;
            }
        };
        if header.iter().all(String::is_empty) {
            errors.push(file, 1, "", "", "the file is empty (no header row)");
            return None;
        }
        let mut seen = BTreeSet::new();
        for h in &header {
            if !seen.insert(h.as_str()) {
                errors.push(file, 1, h, h, "column name appears more than once");
            }
        }
        let mut rows = Vec::new();
        for rec in reader.records() {
            match rec {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line());
                    if r.len() != header.len() {
                        errors.push(
                            file,
                            line,
                            "",
                            &r.iter().collect::<Vec<_>>().join(","),
                            format!(
                                "row has {} fields, the header has {}",
                                r.len(),
                                header.len()
                            ),
                        );
                        continue;
                    }
                    rows.push((line, r.iter().map(str::to_string).collect()));
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    errors.push(file, line, "", "", format!("unreadable row: {e}"));
                }
            }
        }
        Some(Table { file, header, rows })
    }

    /// Positions of the required columns; records each missing one (returns `None` then).
    fn columns<const N: usize>(
        &self,
        required: &[&str; N],
        errors: &mut ValidationErrors,
    ) -> Option<[usize; N]> {
        let mut idx = [0usize; N];
        let mut ok = true;
        for (k, name) in required.iter().enumerate() {
            match self.header.iter().position(|h| h == name) {
                Some(i) => idx[k] = i,
                None => {
                    errors.push(
                        self.file,
                        1,
                        name,
                        "",
                        format!(
                            "required column is missing (the header has: {})",
                            self.header.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(idx)
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn parse_yes_no(s: &str) -> Option<bool> {
    match s {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Is this cell a missing value (empty or `NA`)?
pub fn is_missing(s: &str) -> bool {
    s.is_empty() || s == "NA"
}

impl TrialDataset {
    /// Reads `participants.csv`, `measurements.csv`, `adverse_events.csv` and, if present,
    /// `screening.csv` from `dir` and validates them against `plan`.
    pub fn load(dir: &Path, plan: &AnalysisPlan) -> TrialResult<Self> {
        let read = |name: &str| -> TrialResult<String> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| TrialError::Io { path, source })
        };
        let screening_path = dir.join(SCREENING_FILE);
        let files = CsvFiles {
            participants: read(PARTICIPANTS_FILE)?,
            measurements: read(MEASUREMENTS_FILE)?,
            adverse_events: read(ADVERSE_EVENTS_FILE)?,
            screening: if screening_path.exists() {
                Some(read(SCREENING_FILE)?)
            } else {
                None
            },
        };
        Self::from_csv(&files, plan)
    }

    /// Parses and validates the files' text against `plan`; every problem is reported.
    pub fn from_csv(files: &CsvFiles, plan: &AnalysisPlan) -> TrialResult<Self> {
        let mut errors = ValidationErrors::default();
        let (attribute_columns, participants, participant_lines) =
            read_participants(&files.participants, plan, &mut errors);
        let known: BTreeMap<&str, (usize, u64)> = participants
            .iter()
            .zip(&participant_lines)
            .enumerate()
            .map(|(i, (p, line))| (p.id.as_str(), (i, *line)))
            .collect();
        let measurements = read_measurements(
            &files.measurements,
            plan,
            &participants,
            &known,
            &mut errors,
        );
        let adverse_events = read_adverse_events(&files.adverse_events, &known, &mut errors);
        let screening = files.screening.as_deref().map(|text| {
            read_screening(text, &participants, &participant_lines, &known, &mut errors)
        });
        if !errors.is_empty() {
            let order = |f: &str| DATA_FILES.iter().position(|x| *x == f);
            errors.errors.sort_by_key(|e| (order(&e.file), e.line));
            return Err(TrialError::Invalid(errors));
        }
        Ok(TrialDataset {
            attribute_columns,
            participants,
            measurements,
            adverse_events,
            screening,
        })
    }

    /// The dataset as CSV text, in the documented formats.
    pub fn to_csv(&self) -> CsvFiles {
        let mut header: Vec<&str> = PARTICIPANT_COLUMNS.to_vec();
        header.extend(self.attribute_columns.iter().map(String::as_str));
        let participants = write_rows(
            &header,
            self.participants.iter().map(|p| {
                let mut row = vec![
                    p.id.clone(),
                    p.arm.clone(),
                    p.site.clone(),
                    p.randomization_date.to_string(),
                    p.disposition.as_str().to_string(),
                    p.last_visit.clone().unwrap_or_default(),
                    p.disposition_reason.clone(),
                ];
                row.extend(
                    self.attribute_columns
                        .iter()
                        .map(|c| p.attributes.get(c).cloned().unwrap_or_default()),
                );
                row
            }),
        );
        let measurements = write_rows(
            &MEASUREMENT_COLUMNS,
            self.measurements.iter().map(|m| {
                vec![
                    m.participant_id.clone(),
                    m.visit.clone(),
                    m.time.to_string(),
                    m.outcome.clone(),
                    m.value.to_string(),
                ]
            }),
        );
        let adverse_events = write_rows(
            &ADVERSE_EVENT_COLUMNS,
            self.adverse_events.iter().map(|a| {
                vec![
                    a.participant_id.clone(),
                    a.term.clone(),
                    a.onset_day.to_string(),
                    a.severity.as_str().to_string(),
                    if a.serious { "yes" } else { "no" }.to_string(),
                    a.related.as_str().to_string(),
                ]
            }),
        );
        let screening = self.screening.as_ref().map(|s| {
            write_rows(
                &SCREENING_COLUMNS,
                s.iter().map(|r| {
                    vec![
                        r.screening_id.clone(),
                        if r.eligible { "yes" } else { "no" }.to_string(),
                        r.exclusion_reason.clone(),
                        r.participant_id.clone().unwrap_or_default(),
                    ]
                }),
            )
        });
        CsvFiles {
            participants,
            measurements,
            adverse_events,
            screening,
        }
    }

    /// Writes the CSV files into `dir` (created if needed), each to a temporary name
    /// then renamed, so no partly written file is ever left; returns the paths written.
    pub fn write(&self, dir: &Path) -> TrialResult<Vec<PathBuf>> {
        let files = self.to_csv();
        let mut list = vec![
            (PARTICIPANTS_FILE, files.participants),
            (MEASUREMENTS_FILE, files.measurements),
            (ADVERSE_EVENTS_FILE, files.adverse_events),
        ];
        if let Some(s) = files.screening {
            list.push((SCREENING_FILE, s));
        }
        std::fs::create_dir_all(dir).map_err(|source| TrialError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        list.into_iter()
            .map(|(name, text)| write_atomic(&dir.join(name), text.as_bytes()))
            .collect()
    }

    /// Participants of one arm.
    pub fn arm_participants<'a>(&'a self, arm: &'a str) -> impl Iterator<Item = &'a Participant> {
        self.participants.iter().filter(move |p| p.arm == arm)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> TrialResult<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let io = |source| TrialError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(path.to_path_buf())
}

fn write_rows(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail; errors would only come from the sink.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

type ParticipantsRead = (Vec<String>, Vec<Participant>, Vec<u64>);

fn read_participants(
    text: &str,
    plan: &AnalysisPlan,
    errors: &mut ValidationErrors,
) -> ParticipantsRead {
    let f = PARTICIPANTS_FILE;
    let Some(table) = Table::read(f, text, errors) else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let cols = table.columns(&PARTICIPANT_COLUMNS, errors);
    let mut cov_cols = Vec::new();
    for c in &plan.covariates {
        match table.header.iter().position(|h| *h == c.name) {
            Some(i) => cov_cols.push((c, i)),
            None => errors.push(
                f,
                1,
                &c.name,
                "",
                format!(
                    "the plan's covariate '{}' has no column (the header has: {})",
                    c.name,
                    table.header.join(", ")
                ),
            ),
        }
    }
    let Some([c_id, c_arm, c_site, c_date, c_disp, c_last, c_reason]) = cols else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let attribute_columns: Vec<String> = table
        .header
        .iter()
        .filter(|h| !PARTICIPANT_COLUMNS.contains(&h.as_str()))
        .cloned()
        .collect();
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
    let arms = plan
        .arms
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let visits = plan
        .visits
        .iter()
        .map(|v| v.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for (line, row) in &table.rows {
        let line = *line;
        let before = errors.len();
        let id = &row[c_id];
        if id.is_empty() {
            errors.push(f, line, "participant_id", id, "participant id is empty");
        } else if let Some(prev) = first_line.get(id) {
            errors.push(
                f,
                line,
                "participant_id",
                id,
                format!("duplicated participant id (first on line {prev})"),
            );
        }
        let arm = &row[c_arm];
        if plan.arm(arm).is_none() {
            errors.push(
                f,
                line,
                "arm",
                arm,
                format!("arm not in the plan (the plan's arms: {arms})"),
            );
        }
        let date = Date::parse(&row[c_date]);
        if date.is_none() {
            errors.push(
                f,
                line,
                "randomization_date",
                &row[c_date],
                "not a date in YYYY-MM-DD form",
            );
        }
        let disposition = Disposition::parse(&row[c_disp]);
        if disposition.is_none() {
            errors.push(
                f,
                line,
                "disposition",
                &row[c_disp],
                "expected one of: completed, withdrew_consent, lost_to_follow_up, died, other",
            );
        }
        let last = &row[c_last];
        if !last.is_empty() && plan.visit(last).is_none() {
            errors.push(
                f,
                line,
                "last_visit",
                last,
                format!("visit not in the plan (the plan's visits: {visits})"),
            );
        }
        for (c, i) in &cov_cols {
            let v = &row[*i];
            if is_missing(v) {
                continue;
            }
            match (c.kind, &c.levels) {
                (CovariateKind::Continuous, _) if parse_number(v).is_none() => errors.push(
                    f,
                    line,
                    &c.name,
                    v,
                    "continuous covariate: expected a number (or empty / NA when missing)",
                ),
                (CovariateKind::Categorical, Some(levels)) if !levels.iter().any(|l| l == v) => {
                    errors.push(
                        f,
                        line,
                        &c.name,
                        v,
                        format!(
                            "level not in the plan (expected one of: {})",
                            levels.join(", ")
                        ),
                    )
                }
                _ => {}
            }
        }
        if !id.is_empty() {
            first_line.entry(id.clone()).or_insert(line);
        }
        if errors.len() > before {
            continue;
        }
        let (Some(randomization_date), Some(disposition)) = (date, disposition) else {
            continue;
        };
        let attributes = table
            .header
            .iter()
            .zip(row)
            .filter(|(h, _)| !PARTICIPANT_COLUMNS.contains(&h.as_str()))
            .map(|(h, v)| (h.clone(), v.clone()))
            .collect();
        out.push(Participant {
            id: id.clone(),
            arm: arm.clone(),
            site: row[c_site].clone(),
            randomization_date,
            disposition,
            last_visit: (!last.is_empty()).then(|| last.clone()),
            disposition_reason: row[c_reason].clone(),
            attributes,
        });
        lines.push(line);
    }
    (attribute_columns, out, lines)
}

fn read_measurements(
    text: &str,
    plan: &AnalysisPlan,
    participants: &[Participant],
    known: &BTreeMap<&str, (usize, u64)>,
    errors: &mut ValidationErrors,
) -> Vec<Measurement> {
    let f = MEASUREMENTS_FILE;
    let Some(table) = Table::read(f, text, errors) else {
        return Vec::new();
    };
    let Some([c_id, c_visit, c_time, c_outcome, c_value]) =
        table.columns(&MEASUREMENT_COLUMNS, errors)
    else {
        return Vec::new();
    };
    let outcomes = plan
        .outcomes
        .iter()
        .map(|o| o.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut seen: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (line, row) in &table.rows {
        let line = *line;
        let before = errors.len();
        let (id, visit, outcome) = (&row[c_id], &row[c_visit], &row[c_outcome]);
        let participant = known.get(id.as_str());
        if participant.is_none() {
            errors.push(
                f,
                line,
                "participant_id",
                id,
                format!("unknown participant id (not in {PARTICIPANTS_FILE})"),
            );
        }
        let visit_index = plan.visit_index(visit);
        if visit_index.is_none() {
            errors.push(
                f,
                line,
                "visit",
                visit,
                format!(
                    "visit not in the plan (the plan's visits: {})",
                    plan.visits
                        .iter()
                        .map(|v| v.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let spec = plan.outcome(outcome);
        match spec {
            None => errors.push(
                f,
                line,
                "outcome",
                outcome,
                format!("outcome not in the plan (the plan's outcomes: {outcomes})"),
            ),
            Some(o) if visit_index.is_some() => {
                let vs = plan.outcome_visits(o);
                if !vs.contains(&visit.as_str()) {
                    errors.push(
                        f,
                        line,
                        "visit",
                        visit,
                        format!(
                            "the plan does not measure '{}' at this visit (only at: {})",
                            o.name,
                            vs.join(", ")
                        ),
                    );
                }
            }
            Some(_) => {}
        }
        let time = parse_number(&row[c_time]);
        if time.is_none() {
            errors.push(f, line, "time", &row[c_time], "expected a finite number");
        }
        let value = parse_number(&row[c_value]);
        match (value, spec) {
            (None, _) => errors.push(
                f,
                line,
                "value",
                &row[c_value],
                "expected a finite number (leave the row out when the value is missing)",
            ),
            (Some(v), Some(o)) if v < o.range[0] || v > o.range[1] => errors.push(
                f,
                line,
                "value",
                &row[c_value],
                format!(
                    "outside the range declared for '{}' ({} to {})",
                    o.name, o.range[0], o.range[1]
                ),
            ),
            _ => {}
        }
        if let (Some(&(pi, pline)), Some(vi)) = (participant, visit_index) {
            let p = &participants[pi];
            let last = p.last_visit.as_deref().and_then(|l| plan.visit_index(l));
            if last.is_none_or(|l| vi > l) {
                errors.push(
                    f,
                    line,
                    "visit",
                    visit,
                    format!(
                        "participant '{}' has last_visit '{}' ({PARTICIPANTS_FILE} line {pline}), so no measurement can exist at this visit",
                        p.id,
                        p.last_visit.as_deref().unwrap_or("")
                    ),
                );
            }
        }
        let key = (id.clone(), visit.clone(), outcome.clone());
        if let Some(prev) = seen.get(&key) {
            errors.push(
                f,
                line,
                "",
                &format!("{id},{visit},{outcome}"),
                format!("duplicated (participant, visit, outcome) row (first on line {prev})"),
            );
        } else {
            seen.insert(key, line);
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(time), Some(value)) = (time, value) {
            out.push(Measurement {
                participant_id: id.clone(),
                visit: visit.clone(),
                time,
                outcome: outcome.clone(),
                value,
            });
        }
    }
    out
}

fn read_adverse_events(
    text: &str,
    known: &BTreeMap<&str, (usize, u64)>,
    errors: &mut ValidationErrors,
) -> Vec<AdverseEvent> {
    let f = ADVERSE_EVENTS_FILE;
    let Some(table) = Table::read(f, text, errors) else {
        return Vec::new();
    };
    let Some([c_id, c_term, c_onset, c_sev, c_serious, c_rel]) =
        table.columns(&ADVERSE_EVENT_COLUMNS, errors)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (line, row) in &table.rows {
        let line = *line;
        let id = &row[c_id];
        if !known.contains_key(id.as_str()) {
            errors.push(
                f,
                line,
                "participant_id",
                id,
                format!("unknown participant id (not in {PARTICIPANTS_FILE})"),
            );
        }
        let term = &row[c_term];
        if term.is_empty() {
            errors.push(f, line, "term", term, "the event term is empty");
        }
        let onset = row[c_onset].parse::<u32>().ok();
        if onset.is_none() {
            errors.push(
                f,
                line,
                "onset_day",
                &row[c_onset],
                "expected a whole number of days since treatment (0 or more)",
            );
        }
        let severity = Severity::parse(&row[c_sev]);
        if severity.is_none() {
            errors.push(
                f,
                line,
                "severity",
                &row[c_sev],
                "expected one of: mild, moderate, severe, life_threatening, fatal",
            );
        }
        let serious = parse_yes_no(&row[c_serious]);
        if serious.is_none() {
            errors.push(f, line, "serious", &row[c_serious], "expected yes or no");
        }
        let related = match row[c_rel].as_str() {
            "yes" => Some(Relatedness::Yes),
            "no" => Some(Relatedness::No),
            "unknown" => Some(Relatedness::Unknown),
            _ => None,
        };
        if related.is_none() {
            errors.push(
                f,
                line,
                "related",
                &row[c_rel],
                "expected yes, no or unknown",
            );
        }
        if let (Some(onset_day), Some(severity), Some(serious), Some(related), false) =
            (onset, severity, serious, related, term.is_empty())
        {
            out.push(AdverseEvent {
                participant_id: id.clone(),
                term: term.clone(),
                onset_day,
                severity,
                serious,
                related,
            });
        }
    }
    out
}

fn read_screening(
    text: &str,
    participants: &[Participant],
    participant_lines: &[u64],
    known: &BTreeMap<&str, (usize, u64)>,
    errors: &mut ValidationErrors,
) -> Vec<ScreeningRecord> {
    let f = SCREENING_FILE;
    let Some(table) = Table::read(f, text, errors) else {
        return Vec::new();
    };
    let Some([c_sid, c_elig, c_reason, c_pid]) = table.columns(&SCREENING_COLUMNS, errors) else {
        return Vec::new();
    };
    let mut seen_ids: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen_participants: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (line, row) in &table.rows {
        let line = *line;
        let before = errors.len();
        let sid = &row[c_sid];
        if sid.is_empty() {
            errors.push(f, line, "screening_id", sid, "screening id is empty");
        } else if let Some(prev) = seen_ids.get(sid) {
            errors.push(
                f,
                line,
                "screening_id",
                sid,
                format!("duplicated screening id (first on line {prev})"),
            );
        } else {
            seen_ids.insert(sid.clone(), line);
        }
        let eligible = parse_yes_no(&row[c_elig]);
        if eligible.is_none() {
            errors.push(f, line, "eligible", &row[c_elig], "expected yes or no");
        }
        let reason = &row[c_reason];
        let pid = &row[c_pid];
        if pid.is_empty() {
            if reason.is_empty() {
                errors.push(
                    f,
                    line,
                    "exclusion_reason",
                    reason,
                    "a candidate who was not randomized needs a reason",
                );
            }
        } else {
            if !known.contains_key(pid.as_str()) {
                errors.push(
                    f,
                    line,
                    "participant_id",
                    pid,
                    format!("unknown participant id (not in {PARTICIPANTS_FILE})"),
                );
            }
            if eligible == Some(false) {
                errors.push(
                    f,
                    line,
                    "eligible",
                    "no",
                    "a randomized participant must be eligible",
                );
            }
            if let Some(prev) = seen_participants.get(pid) {
                errors.push(
                    f,
                    line,
                    "participant_id",
                    pid,
                    format!("participant screened twice (first on line {prev})"),
                );
            } else {
                seen_participants.insert(pid.clone(), line);
            }
        }
        if errors.len() > before {
            continue;
        }
        if let Some(eligible) = eligible {
            out.push(ScreeningRecord {
                screening_id: sid.clone(),
                eligible,
                exclusion_reason: reason.clone(),
                participant_id: (!pid.is_empty()).then(|| pid.clone()),
            });
        }
    }
    for (p, line) in participants.iter().zip(participant_lines) {
        if !seen_participants.contains_key(&p.id) {
            errors.push(
                PARTICIPANTS_FILE,
                *line,
                "participant_id",
                &p.id,
                format!("randomized participant has no row in {SCREENING_FILE}"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        let d = Date::parse("2017-08-19").unwrap();
        assert_eq!(d.to_string(), "2017-08-19");
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert_eq!(d.days_since_epoch(), 17_397);
        assert_eq!(Date::from_days_since_epoch(17_397), Some(d));
        assert_eq!(d.add_days(463).unwrap().to_string(), "2018-11-25");
        assert!(Date::parse("2019-02-29").is_none());
        assert!(Date::parse("2020-02-29").is_some());
        assert!(Date::parse("2017-13-01").is_none());
        assert!(Date::parse("2017-8-19").is_none());
        assert!(Date::parse("19/08/2017").is_none());
        for days in (-1000..40_000).step_by(37) {
            let d = Date::from_days_since_epoch(days).unwrap();
            assert_eq!(d.days_since_epoch(), days);
            assert_eq!(Date::parse(&d.to_string()), Some(d));
        }
    }
}
