//! The trial dataset in crate `trial`'s format (docs/trial-dataset.md): blinded with arms
//! coded (A, B, ... in an order drawn at list import), or, after database lock and
//! unblinding, with the arm names and the plan, ready for `evidentia trial analyze`.

use std::collections::BTreeMap;

use evidentia_trial::TrialDataset;
use evidentia_trial::dataset::{CsvFiles, Date};
use serde::Serialize;
use sqlx::Row;

use crate::auth::{Role, User};
use crate::db::{self, Db};
use crate::error::{ServerError, ServerResult};
use crate::service;

/// The files of an export, by name.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub unblinded: bool,
    pub files: BTreeMap<String, String>,
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn fmt_num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Builds the export. Blinded: statisticians and managers, any time. Unblinded: after
/// database lock and unblinding, for statisticians and managers.
pub async fn export(db: &Db, u: &User, unblinded: bool) -> ServerResult<Export> {
    u.require(&[Role::Statistician, Role::Manager])?;
    let st = service::state(db).await?;
    if unblinded && !(st.database_locked && st.unblinded) {
        return Err(ServerError::Forbidden(
            "the unblinded export is available after database lock and unblinding".into(),
        ));
    }
    let plan = service::plan(db).await?;
    let dpu = service::days_per_unit(&plan.trial.time_unit)?;
    let codes = service::arm_codes(db).await?;
    let factors = service::factors(db).await?;
    let covariates: Vec<String> = plan.covariates.iter().map(|c| c.name.clone()).collect();
    let factor_cols: Vec<(String, String)> = factors
        .iter()
        .filter(|(f, _)| f != "site")
        .map(|(f, _)| {
            let col = if covariates.contains(f) {
                format!("stratum_{f}")
            } else {
                f.clone()
            };
            (f.clone(), col)
        })
        .collect();

    let prow = sqlx::query(
        "SELECT p.id, p.code, s.code AS site, p.factors, p.covariates, a.day0, sl.arm, sl.randomization_number \
         FROM allocations a JOIN participants p ON p.id = a.participant_id JOIN sites s ON s.id = p.site_id \
         JOIN slots sl ON sl.id = a.slot_id ORDER BY sl.randomization_number",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut header: Vec<String> = [
        "participant_id",
        "arm",
        "site",
        "randomization_date",
        "disposition",
        "last_visit",
        "disposition_reason",
        "randomization_number",
    ]
    .map(String::from)
    .to_vec();
    header.extend(factor_cols.iter().map(|(_, c)| c.clone()));
    header.extend(covariates.iter().cloned());
    let last_plan_visit = plan
        .visits
        .last()
        .map(|v| v.label.clone())
        .unwrap_or_default();

    let mut prows = Vec::new();
    let mut mrows = Vec::new();
    let mut arows = Vec::new();
    for r in &prow {
        let pid: i64 = r.try_get("id")?;
        let code: String = r.try_get("code")?;
        let day0s: String = r.try_get("day0")?;
        let day0 = Date::parse(&day0s).ok_or_else(|| ServerError::Config("bad day 0".into()))?;
        let arm: String = r.try_get("arm")?;
        let arm_out = if unblinded {
            arm
        } else {
            codes.get(&arm).cloned().unwrap_or_else(|| "?".into())
        };
        let fac: BTreeMap<String, String> =
            serde_json::from_str(&r.try_get::<String, _>("factors")?).unwrap_or_default();
        let c: BTreeMap<String, String> =
            serde_json::from_str(&r.try_get::<String, _>("covariates")?).unwrap_or_default();

        let ms = sqlx::query("SELECT visit, visit_date, outcome, value FROM measurements WHERE participant_id = $1 ORDER BY id")
            .bind(pid)
            .fetch_all(&db.pool)
            .await?;
        let mut last_visit: Option<usize> = None;
        for m in &ms {
            let visit: String = m.try_get("visit")?;
            let vd = Date::parse(&m.try_get::<String, _>("visit_date")?).unwrap_or(day0);
            let t = (vd.days_since_epoch() - day0.days_since_epoch()) as f64 / dpu;
            if let Some(i) = plan.visit_index(&visit) {
                last_visit = Some(last_visit.map_or(i, |l| l.max(i)));
            }
            mrows.push(vec![
                code.clone(),
                visit,
                fmt_num(t),
                m.try_get("outcome")?,
                fmt_num(m.try_get("value")?),
            ]);
        }
        let last_visit = last_visit
            .map(|i| plan.visits[i].label.clone())
            .unwrap_or_default();

        let events = sqlx::query("SELECT kind, reason_code, reason FROM status_events WHERE participant_id = $1 ORDER BY id")
            .bind(pid)
            .fetch_all(&db.pool)
            .await?;
        let mut disposition = None;
        for e in &events {
            let kind: String = e.try_get("kind")?;
            let reason = format!(
                "{}{}{}",
                e.try_get::<String, _>("reason_code")?,
                if e.try_get::<String, _>("reason")?.is_empty() {
                    ""
                } else {
                    ": "
                },
                e.try_get::<String, _>("reason")?
            );
            let d = match kind.as_str() {
                "death" => "died",
                "withdrawal" => "withdrew_consent",
                "lost_to_follow_up" => "lost_to_follow_up",
                "completed" => "completed",
                _ => continue,
            };
            disposition = Some((d.to_string(), reason));
            break;
        }
        let (disposition, reason) = disposition.unwrap_or_else(|| {
            if last_visit == last_plan_visit {
                ("completed".into(), String::new())
            } else if st.database_locked {
                (
                    "other".into(),
                    "final visit not recorded at database lock".into(),
                )
            } else {
                ("other".into(), "ongoing".into())
            }
        });
        let mut row = vec![
            code.clone(),
            arm_out,
            r.try_get("site")?,
            day0s.clone(),
            disposition,
            last_visit,
            reason,
            r.try_get::<i64, _>("randomization_number")?.to_string(),
        ];
        row.extend(
            factor_cols
                .iter()
                .map(|(name, _)| fac.get(name).cloned().unwrap_or_default()),
        );
        row.extend(
            covariates
                .iter()
                .map(|cn| c.get(cn).cloned().unwrap_or_default()),
        );
        prows.push(row);

        let aes = sqlx::query("SELECT term, onset_date, severity, serious, related FROM adverse_events WHERE participant_id = $1 ORDER BY id")
            .bind(pid)
            .fetch_all(&db.pool)
            .await?;
        for a in &aes {
            let onset = Date::parse(&a.try_get::<String, _>("onset_date")?).unwrap_or(day0);
            arows.push(vec![
                code.clone(),
                a.try_get("term")?,
                (onset.days_since_epoch() - day0.days_since_epoch())
                    .max(0)
                    .to_string(),
                a.try_get("severity")?,
                if a.try_get::<i64, _>("serious")? != 0 {
                    "yes".into()
                } else {
                    "no".into()
                },
                a.try_get("related")?,
            ]);
        }
    }

    let srows = sqlx::query(
        "SELECT sc.screening_code, sc.eligible, sc.exclusion_reason, p.code, a.id AS aid FROM screening sc \
         LEFT JOIN participants p ON p.screening_id = sc.id LEFT JOIN allocations a ON a.participant_id = p.id ORDER BY sc.id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut screening = Vec::new();
    for s in &srows {
        let randomized = s.try_get::<Option<i64>, _>("aid")?.is_some();
        let eligible = s.try_get::<i64, _>("eligible")? != 0;
        let mut reason: String = s.try_get("exclusion_reason")?;
        if !randomized && reason.is_empty() {
            reason = if s.try_get::<Option<String>, _>("code")?.is_some() {
                "enrolled, not randomized".into()
            } else {
                "eligible, not enrolled".into()
            };
        }
        screening.push(vec![
            s.try_get("screening_code")?,
            if eligible { "yes".into() } else { "no".into() },
            reason,
            if randomized {
                s.try_get::<Option<String>, _>("code")?.unwrap_or_default()
            } else {
                String::new()
            },
        ]);
    }

    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let files = CsvFiles {
        participants: csv_text(&header, &prows),
        measurements: csv_text(
            &s(&["participant_id", "visit", "time", "outcome", "value"]),
            &mrows,
        ),
        adverse_events: csv_text(
            &s(&[
                "participant_id",
                "term",
                "onset_day",
                "severity",
                "serious",
                "related",
            ]),
            &arows,
        ),
        screening: Some(csv_text(
            &s(&[
                "screening_id",
                "eligible",
                "exclusion_reason",
                "participant_id",
            ]),
            &screening,
        )),
    };
    if unblinded {
        // What we hand over must pass the same validation `trial analyze` applies.
        TrialDataset::from_csv(&files, &plan).map_err(|e| {
            ServerError::Conflict(format!(
                "the export does not validate against the plan: {e}"
            ))
        })?;
    }
    let mut out = BTreeMap::new();
    out.insert("participants.csv".into(), files.participants);
    out.insert("measurements.csv".into(), files.measurements);
    out.insert("adverse_events.csv".into(), files.adverse_events);
    if let Some(sc) = files.screening {
        out.insert("screening.csv".into(), sc);
    }
    if unblinded {
        out.insert(
            "plan.toml".into(),
            db::read_setting(db, "plan_toml").await?.unwrap_or_default(),
        );
    }
    service::audit_export(db, u, if unblinded { "unblinded" } else { "blinded" }).await?;
    Ok(Export {
        unblinded,
        files: out,
    })
}
