//! What users do, independent of HTTP: every operation checks the role, the site and the
//! trial's state on the server, writes in one transaction with its audit rows, and never
//! returns an arm except on the pharmacist and emergency paths.

use std::collections::BTreeMap;

use evidentia_trial::AnalysisPlan;
use evidentia_trial::dataset::Date;
use evidentia_trial::plan::CovariateKind;
use evidentia_trial::randomize::{LIST_COLUMNS, stratum_label};
use rand::seq::SliceRandom;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::{self, Entry, hex};
use crate::auth::{self, Role, User};
use crate::clock;
use crate::db::{self, Db, Tx};
use crate::error::{ServerError, ServerResult, bad};

/// The trial's settings keys.
mod key {
    pub const PLAN: &str = "plan_toml";
    pub const PLAN_HASH: &str = "plan_sha256";
    pub const LIST_HASH: &str = "list_sha256";
    pub const LIST_STATUS: &str = "list_status";
    pub const LIST_VERSION: &str = "list_version";
    pub const ARM_CODES: &str = "arm_codes";
    pub const FACTORS: &str = "list_factors";
    pub const LOCKED: &str = "database_locked";
    pub const UNBLINDED: &str = "unblinded";
    pub const SETUP: &str = "setup_token_sha256";
}

fn actor(u: &User) -> &str {
    &u.username
}

/// Checks an identifier typed by a user (site codes, participant and screening ids).
pub fn check_id(what: &str, s: &str) -> ServerResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what} {s:?}: use 1 to 40 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn check_text(what: &str, s: &str, required: bool) -> ServerResult<()> {
    if required && s.trim().is_empty() {
        return Err(bad(format!("{what} is required")));
    }
    if s.len() > 2000 {
        return Err(bad(format!("{what} is longer than 2000 characters")));
    }
    Ok(())
}

fn parse_date(what: &str, s: &str) -> ServerResult<Date> {
    Date::parse(s.trim()).ok_or_else(|| bad(format!("{what} {s:?} is not a date (YYYY-MM-DD)")))
}

// ---------------------------------------------------------------- set-up

/// Creates the one-time set-up token when the database has no user yet; returns it (to
/// print) or `None` when users exist.
pub async fn ensure_setup_token(db: &Db) -> ServerResult<Option<String>> {
    let mut tx = db.begin_write().await?;
    let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    if users > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let token = auth::random_token();
    db::set_setting(&mut tx, key::SETUP, &auth::token_hash(&token)).await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// Creates the first manager with the one-time set-up token.
pub async fn setup_first_manager(
    db: &Db,
    token: &str,
    username: &str,
    password: &str,
) -> ServerResult<()> {
    check_id("user name", username)?;
    let hash = auth::hash_password(password)?;
    let mut tx = db.begin_write().await?;
    let stored = db::get_setting(&mut tx, key::SETUP).await?;
    let valid = stored
        .as_deref()
        .is_some_and(|s| !s.is_empty() && auth::constant_time_eq(s, &auth::token_hash(token)));
    if !valid {
        return Err(ServerError::Forbidden(
            "the set-up link is invalid or was already used".into(),
        ));
    }
    db::set_setting(&mut tx, key::SETUP, "").await?;
    sqlx::query(
        "INSERT INTO users (username, password_hash, role, site_id, can_unblind, active, created_at) \
         VALUES ($1, $2, 'manager', NULL, 0, 1, $3)",
    )
    .bind(username)
    .bind(&hash)
    .bind(clock::now().iso)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: username,
            action: "setup",
            entity: &format!("user:{username}"),
            new_value: "role=manager",
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- sites and users

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub code: String,
    pub name: String,
}

pub async fn create_site(db: &Db, u: &User, code: &str, name: &str) -> ServerResult<Site> {
    u.require(&[Role::Manager])?;
    check_id("site code", code)?;
    check_text("site name", name, true)?;
    let mut tx = db.begin_write().await?;
    let exists = sqlx::query("SELECT id FROM sites WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(ServerError::Conflict(format!("site {code} exists already")));
    }
    sqlx::query("INSERT INTO sites (code, name, created_at) VALUES ($1, $2, $3)")
        .bind(code)
        .bind(name)
        .bind(clock::now().iso)
        .execute(&mut *tx)
        .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "create_site",
            entity: &format!("site:{code}"),
            new_value: &format!("name={name}"),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Site {
        code: code.into(),
        name: name.into(),
    })
}

pub async fn sites(db: &Db) -> ServerResult<Vec<Site>> {
    let rows = sqlx::query("SELECT code, name FROM sites ORDER BY code")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Site {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub username: String,
    pub role: String,
    pub site: Option<String>,
    pub can_unblind: bool,
    pub active: bool,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: &'a str,
    pub site: Option<&'a str>,
    pub can_unblind: bool,
}

pub async fn create_user(db: &Db, u: &User, n: NewUser<'_>) -> ServerResult<UserInfo> {
    u.require(&[Role::Manager])?;
    check_id("user name", n.username)?;
    let role = Role::parse(n.role)?;
    let site = n.site.filter(|s| !s.is_empty());
    if role.site_bound() && site.is_none() {
        return Err(bad(format!("a {} needs a site", role.as_str())));
    }
    if !role.site_bound() && site.is_some() {
        return Err(bad(format!(
            "a {} works for every site: leave the site empty",
            role.as_str()
        )));
    }
    if n.can_unblind && role != Role::Investigator {
        return Err(bad(
            "only investigators can be delegated for emergency unblinding",
        ));
    }
    let hash = auth::hash_password(n.password)?;
    let mut tx = db.begin_write().await?;
    let site_id: Option<i64> = match site {
        Some(code) => Some(
            sqlx::query("SELECT id FROM sites WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| bad(format!("no site {code}")))?
                .try_get("id")?,
        ),
        None => None,
    };
    let exists = sqlx::query("SELECT id FROM users WHERE username = $1")
        .bind(n.username)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(ServerError::Conflict(format!(
            "user {} exists already",
            n.username
        )));
    }
    sqlx::query(
        "INSERT INTO users (username, password_hash, role, site_id, can_unblind, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6)",
    )
    .bind(n.username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(site_id)
    .bind(i64::from(n.can_unblind))
    .bind(clock::now().iso)
    .execute(&mut *tx)
    .await?;
    let desc = format!(
        "role={}; site={}; can_unblind={}",
        role.as_str(),
        site.unwrap_or(""),
        n.can_unblind
    );
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "create_user",
            entity: &format!("user:{}", n.username),
            new_value: &desc,
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(UserInfo {
        username: n.username.into(),
        role: role.as_str().into(),
        site: site.map(str::to_string),
        can_unblind: n.can_unblind,
        active: true,
    })
}

pub async fn users(db: &Db, u: &User) -> ServerResult<Vec<UserInfo>> {
    u.require(&[Role::Manager])?;
    let rows = sqlx::query(
        "SELECT u.username, u.role, s.code, u.can_unblind, u.active FROM users u \
         LEFT JOIN sites s ON s.id = u.site_id ORDER BY u.username",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UserInfo {
                username: r.try_get("username")?,
                role: r.try_get("role")?,
                site: r.try_get("code")?,
                can_unblind: r.try_get::<i64, _>("can_unblind")? != 0,
                active: r.try_get::<i64, _>("active")? != 0,
            })
        })
        .collect()
}

/// Checks a password the signed-in user re-entered against their stored hash
/// (`wrong` is the message when it does not match).
async fn reverify_password(db: &Db, u: &User, password: &str, wrong: &str) -> ServerResult<()> {
    let phc: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(u.id)
        .fetch_one(&db.pool)
        .await?
        .try_get("password_hash")?;
    if auth::verify_password(password, &phc) {
        Ok(())
    } else {
        Err(ServerError::Forbidden(wrong.into()))
    }
}

/// Changes one's own password (the current one re-entered); every session of the user ends.
pub async fn change_password(db: &Db, u: &User, current: &str, new: &str) -> ServerResult<()> {
    reverify_password(db, u, current, "the current password is wrong").await?;
    if current == new {
        return Err(bad("the new password must differ from the current one"));
    }
    let hash = auth::hash_password(new)?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(u.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(u.id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "change_password",
            entity: &format!("user:{}", u.username),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deactivates an account (it can no longer sign in; its sessions end), with a reason.
pub async fn deactivate_user(db: &Db, u: &User, username: &str, reason: &str) -> ServerResult<()> {
    u.require(&[Role::Manager])?;
    check_text("reason", reason, true)?;
    if username == u.username {
        return Err(bad("you cannot deactivate your own account"));
    }
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query("SELECT id FROM users WHERE username = $1 AND active = 1")
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("active user {username}")))?
        .try_get("id")?;
    sqlx::query("UPDATE users SET active = 0 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "deactivate_user",
            entity: &format!("user:{username}"),
            old_value: "active",
            new_value: "inactive",
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- plan and list

/// Days in one of the plan's time units.
pub fn days_per_unit(unit: &str) -> ServerResult<f64> {
    Ok(match unit.trim().to_ascii_lowercase().as_str() {
        "days" | "day" => 1.0,
        "weeks" | "week" => 7.0,
        "months" | "month" => 30.4375,
        "years" | "year" => 365.25,
        other => {
            return Err(bad(format!(
                "time unit {other:?}: the service computes visit windows for days, weeks, months or years"
            )));
        }
    })
}

/// The imported analysis plan.
pub async fn plan(db: &Db) -> ServerResult<AnalysisPlan> {
    let text = db::read_setting(db, key::PLAN)
        .await?
        .ok_or_else(|| ServerError::Conflict("no analysis plan has been imported yet".into()))?;
    AnalysisPlan::from_toml_str(&text, "plan.toml").map_err(|e| bad(e.to_string()))
}

/// A summary of the plan that names no arm.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    pub name: String,
    pub sha256: String,
    pub arms: usize,
    pub time_unit: String,
    pub visits: Vec<String>,
    pub outcomes: Vec<String>,
    pub covariates: Vec<String>,
}

pub async fn plan_summary(db: &Db) -> ServerResult<Option<PlanSummary>> {
    let Some(hash) = db::read_setting(db, key::PLAN_HASH).await? else {
        return Ok(None);
    };
    let p = plan(db).await?;
    Ok(Some(PlanSummary {
        name: p.trial.name.clone(),
        sha256: hash,
        arms: p.arms.len(),
        time_unit: p.trial.time_unit.clone(),
        visits: p.visits.iter().map(|v| v.label.clone()).collect(),
        outcomes: p.outcomes.iter().map(|o| o.name.clone()).collect(),
        covariates: p.covariates.iter().map(|c| c.name.clone()).collect(),
    }))
}

/// Imports the analysis plan (allowed until the first randomization).
pub async fn import_plan(db: &Db, u: &User, text: &str) -> ServerResult<PlanSummary> {
    u.require(&[Role::Manager])?;
    let p = AnalysisPlan::from_toml_str(text, "plan.toml").map_err(|e| bad(e.to_string()))?;
    days_per_unit(&p.trial.time_unit)?;
    let hash = hex(&Sha256::digest(text.as_bytes()));
    let mut tx = db.begin_write().await?;
    if allocated_count(&mut tx).await? > 0 {
        return Err(ServerError::Conflict(
            "participants have been randomized: the plan can no longer be replaced".into(),
        ));
    }
    if let Some(list_arms) = db::get_setting(&mut tx, key::ARM_CODES).await? {
        let codes: BTreeMap<String, String> = serde_json::from_str(&list_arms).unwrap_or_default();
        if codes.keys().any(|a| p.arm(a).is_none()) || codes.len() != p.arms.len() {
            return Err(bad(
                "the plan's arms differ from the randomization list's arms",
            ));
        }
    }
    let old = db::get_setting(&mut tx, key::PLAN_HASH)
        .await?
        .unwrap_or_default();
    db::set_setting(&mut tx, key::PLAN, text).await?;
    db::set_setting(&mut tx, key::PLAN_HASH, &hash).await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "import_plan",
            entity: "plan",
            old_value: &old,
            new_value: &format!("sha256={hash}"),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    plan_summary(db)
        .await?
        .ok_or_else(|| ServerError::Config("plan vanished".into()))
}

async fn allocated_count(tx: &mut Tx) -> ServerResult<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM allocations")
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?)
}

/// One parsed list row.
struct ListRow {
    stratum: String,
    sequence: i64,
    block: i64,
    block_size: i64,
    arm: String,
    number: i64,
}

fn parse_list(text: &str) -> ServerResult<Vec<ListRow>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| bad(format!("list: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            bad(format!(
                "list: column {name:?} missing (expected {})",
                LIST_COLUMNS.join(",")
            ))
        })
    };
    let (cs, cq, cb, cz, ca, cn) = (
        col("stratum")?,
        col("sequence")?,
        col("block")?,
        col("block_size")?,
        col("arm")?,
        col("randomization_number")?,
    );
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| bad(format!("list line {line}: {e}")))?;
        let int = |c: usize, what: &str| -> ServerResult<i64> {
            rec.get(c)
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| {
                    bad(format!(
                        "list line {line}: {what} is not a whole number ≥ 1"
                    ))
                })
        };
        rows.push(ListRow {
            stratum: rec.get(cs).unwrap_or("").to_string(),
            sequence: int(cq, "sequence")?,
            block: int(cb, "block")?,
            block_size: int(cz, "block_size")?,
            arm: rec.get(ca).unwrap_or("").to_string(),
            number: int(cn, "randomization_number")?,
        });
        if rows.len() > 1_000_000 {
            return Err(bad("list: more than 1,000,000 rows"));
        }
    }
    if rows.is_empty() {
        return Err(bad("list: no rows"));
    }
    Ok(rows)
}

/// Factors and levels from stratum labels (`factor=level;factor=level`, or `all`).
fn factors_of(labels: &[&str]) -> ServerResult<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        if *label == "all" {
            if labels.iter().any(|l| *l != "all") {
                return Err(bad("list: stratum 'all' mixed with stratified rows"));
            }
            return Ok(Vec::new());
        }
        let pairs: Vec<(&str, &str)> = label
            .split(';')
            .map(|p| {
                p.split_once('=')
                    .ok_or_else(|| bad(format!("list: stratum {label:?} is not factor=level;...")))
            })
            .collect::<ServerResult<_>>()?;
        if i == 0 {
            out = pairs
                .iter()
                .map(|(f, _)| (f.to_string(), Vec::new()))
                .collect();
        }
        if pairs.len() != out.len() || pairs.iter().zip(&out).any(|((f, _), (g, _))| f != g) {
            return Err(bad(format!(
                "list: stratum {label:?} has other factors than {:?}",
                labels[0]
            )));
        }
        for ((_, l), (_, levels)) in pairs.iter().zip(out.iter_mut()) {
            if l.is_empty() {
                return Err(bad(format!("list: stratum {label:?} has an empty level")));
            }
            if !levels.iter().any(|x| x == l) {
                levels.push(l.to_string());
            }
        }
    }
    Ok(out)
}

/// The list's state, as the manager sees it (no arms).
#[derive(Debug, Clone, Serialize)]
pub struct ListInfo {
    pub sha256: String,
    pub status: String,
    pub version: i64,
    pub rows: i64,
    pub factors: Vec<(String, Vec<String>)>,
}

pub async fn list_info(db: &Db) -> ServerResult<Option<ListInfo>> {
    let Some(hash) = db::read_setting(db, key::LIST_HASH).await? else {
        return Ok(None);
    };
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM slots")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    Ok(Some(ListInfo {
        sha256: hash,
        status: db::read_setting(db, key::LIST_STATUS)
            .await?
            .unwrap_or_default(),
        version: db::read_setting(db, key::LIST_VERSION)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        rows,
        factors: factors(db).await?,
    }))
}

/// The stratification factors of the imported list.
pub async fn factors(db: &Db) -> ServerResult<Vec<(String, Vec<String>)>> {
    Ok(match db::read_setting(db, key::FACTORS).await? {
        Some(j) => serde_json::from_str(&j).unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Imports a randomization list made by `evidentia trial randomize` (replacing a draft
/// list; refused once a list is in production). With `production` the list is locked.
pub async fn import_list(
    db: &Db,
    u: &User,
    text: &str,
    production: bool,
) -> ServerResult<ListInfo> {
    u.require(&[Role::Manager])?;
    let locked = || {
        ServerError::Conflict(
            "the list is locked in production: only an append with a reason is possible".into(),
        )
    };
    if db::read_setting(db, key::LIST_STATUS).await?.as_deref() == Some("production") {
        return Err(locked());
    }
    let plan = plan(db).await?;
    let rows = parse_list(text)?;
    let hash = hex(&Sha256::digest(text.as_bytes()));
    let mut tx = db.begin_write().await?;
    if db::get_setting(&mut tx, key::LIST_STATUS).await?.as_deref() == Some("production") {
        return Err(locked());
    }
    check_rows(&rows, &plan, &[])?;
    let labels: Vec<&str> = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.stratum.as_str()).collect();
        v.dedup();
        v
    };
    let factors = factors_of(&labels)?;
    // A draft list may be replaced: nobody can have been randomized from it.
    sqlx::query("DELETE FROM slots").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM strata").execute(&mut *tx).await?;
    insert_rows(&mut tx, &rows, 1).await?;
    // Blinded codes for the arms, in a random order (the statistician's coded export).
    let mut arms: Vec<String> = plan.arms.iter().map(|a| a.name.clone()).collect();
    arms.shuffle(&mut rand::rng());
    let codes: BTreeMap<String, String> = arms
        .into_iter()
        .enumerate()
        .map(|(i, a)| (a, ((b'A' + (i % 26) as u8) as char).to_string()))
        .collect();
    db::set_setting(
        &mut tx,
        key::ARM_CODES,
        &serde_json::to_string(&codes).unwrap_or_default(),
    )
    .await?;
    db::set_setting(
        &mut tx,
        key::FACTORS,
        &serde_json::to_string(&factors).unwrap_or_default(),
    )
    .await?;
    db::set_setting(&mut tx, key::LIST_HASH, &hash).await?;
    db::set_setting(&mut tx, key::LIST_VERSION, "1").await?;
    let status = if production { "production" } else { "draft" };
    db::set_setting(&mut tx, key::LIST_STATUS, status).await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "import_list",
            entity: "randomization_list",
            new_value: &format!("sha256={hash}; rows={}; status={status}", rows.len()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    list_info(db)
        .await?
        .ok_or_else(|| ServerError::Config("list vanished".into()))
}

/// Checks arms against the plan and numbering within the new rows and against `taken`
/// randomization numbers.
fn check_rows(rows: &[ListRow], plan: &AnalysisPlan, taken: &[i64]) -> ServerResult<()> {
    let mut numbers: std::collections::HashSet<i64> = taken.iter().copied().collect();
    let mut seqs: std::collections::HashSet<(&str, i64)> = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let line = i + 2;
        if plan.arm(&r.arm).is_none() {
            // The arm is not echoed: the message goes to a blinded manager.
            return Err(bad(format!(
                "list line {line}: the arm is not one of the plan's arms"
            )));
        }
        if r.stratum.is_empty() {
            return Err(bad(format!("list line {line}: empty stratum")));
        }
        if !numbers.insert(r.number) {
            return Err(bad(format!(
                "list line {line}: randomization number {} used twice",
                r.number
            )));
        }
        if !seqs.insert((r.stratum.as_str(), r.sequence)) {
            return Err(bad(format!(
                "list line {line}: sequence {} repeated in stratum {}",
                r.sequence, r.stratum
            )));
        }
        if r.block_size < 1 || r.block < 1 {
            return Err(bad(format!("list line {line}: bad block")));
        }
    }
    Ok(())
}

async fn insert_rows(tx: &mut Tx, rows: &[ListRow], version: i64) -> ServerResult<()> {
    let mut stratum_ids: BTreeMap<String, i64> = BTreeMap::new();
    for r in rows {
        let sid = match stratum_ids.get(&r.stratum) {
            Some(id) => *id,
            None => {
                let existing = sqlx::query("SELECT id FROM strata WHERE label = $1")
                    .bind(&r.stratum)
                    .fetch_optional(&mut **tx)
                    .await?;
                let id: i64 = match existing {
                    Some(row) => row.try_get("id")?,
                    None => sqlx::query("INSERT INTO strata (label) VALUES ($1) RETURNING id")
                        .bind(&r.stratum)
                        .fetch_one(&mut **tx)
                        .await?
                        .try_get("id")?,
                };
                stratum_ids.insert(r.stratum.clone(), id);
                id
            }
        };
        sqlx::query(
            "INSERT INTO slots (stratum_id, sequence, block, block_size, arm, randomization_number, list_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(sid)
        .bind(r.sequence)
        .bind(r.block)
        .bind(r.block_size)
        .bind(&r.arm)
        .bind(r.number)
        .bind(version)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Locks the list for production use.
pub async fn lock_list(db: &Db, u: &User) -> ServerResult<ListInfo> {
    u.require(&[Role::Manager])?;
    let mut tx = db.begin_write().await?;
    match db::get_setting(&mut tx, key::LIST_STATUS).await?.as_deref() {
        None => {
            return Err(ServerError::Conflict(
                "no randomization list imported".into(),
            ));
        }
        Some("production") => {
            return Err(ServerError::Conflict("the list is already locked".into()));
        }
        _ => {}
    }
    db::set_setting(&mut tx, key::LIST_STATUS, "production").await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "lock_list",
            entity: "randomization_list",
            old_value: "status=draft",
            new_value: "status=production",
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    list_info(db)
        .await?
        .ok_or_else(|| ServerError::Config("list vanished".into()))
}

/// Appends rows to a list in production (new strata or continued sequences), with a reason.
pub async fn append_list(db: &Db, u: &User, text: &str, reason: &str) -> ServerResult<ListInfo> {
    u.require(&[Role::Manager])?;
    check_text("reason", reason, true)?;
    let plan = plan(db).await?;
    let rows = parse_list(text)?;
    let hash = hex(&Sha256::digest(text.as_bytes()));
    let mut tx = db.begin_write().await?;
    if db::get_setting(&mut tx, key::LIST_STATUS).await?.as_deref() != Some("production") {
        return Err(ServerError::Conflict(
            "appending is for a list in production; a draft list is replaced by importing again"
                .into(),
        ));
    }
    let factors: Vec<(String, Vec<String>)> = db::get_setting(&mut tx, key::FACTORS)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let taken: Vec<i64> = sqlx::query("SELECT randomization_number FROM slots")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("randomization_number"))
        .collect::<Result<_, _>>()?;
    check_rows(&rows, &plan, &taken)?;
    // Each appended stratum continues its sequence and keeps the list's factors.
    let mut next: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        let expect = match next.get(&r.stratum) {
            Some(n) => *n,
            None => {
                let max: Option<i64> = sqlx::query(
                    "SELECT MAX(sl.sequence) AS m FROM slots sl JOIN strata st ON st.id = sl.stratum_id WHERE st.label = $1",
                )
                .bind(&r.stratum)
                .fetch_one(&mut *tx)
                .await?
                .try_get("m")?;
                max.unwrap_or(0) + 1
            }
        };
        if r.sequence != expect {
            return Err(bad(format!(
                "append: stratum {} continues at sequence {expect}, not {}",
                r.stratum, r.sequence
            )));
        }
        let labels = [r.stratum.as_str()];
        let f = factors_of(&labels)?;
        let same = f.len() == factors.len()
            && f.iter()
                .zip(&factors)
                .all(|((a, lv), (b, levels))| a == b && lv.iter().all(|l| levels.contains(l)));
        if !same {
            return Err(bad(format!(
                "append: stratum {} does not match the list's factors and levels",
                r.stratum
            )));
        }
        next.insert(r.stratum.clone(), expect + 1);
    }
    let version: i64 = db::get_setting(&mut tx, key::LIST_VERSION)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        + 1;
    insert_rows(&mut tx, &rows, version).await?;
    db::set_setting(&mut tx, key::LIST_VERSION, &version.to_string()).await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "append_list",
            entity: "randomization_list",
            new_value: &format!("sha256={hash}; rows={}; version={version}", rows.len()),
            reason,
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    list_info(db)
        .await?
        .ok_or_else(|| ServerError::Config("list vanished".into()))
}

/// Slots of one stratum.
#[derive(Debug, Clone, Serialize)]
pub struct StratumStatus {
    pub stratum: String,
    pub total: i64,
    pub used: i64,
    pub remaining: i64,
    /// True when the remaining slots are at most the larger of 20% of the stratum and its
    /// largest block: time to append before the stratum runs out.
    pub warning: bool,
}

pub async fn strata_status(db: &Db, u: &User) -> ServerResult<Vec<StratumStatus>> {
    u.require(&[Role::Manager])?;
    let rows = sqlx::query(
        "SELECT st.label, COUNT(sl.id) AS total, COUNT(a.id) AS used, MAX(sl.block_size) AS maxblock \
         FROM strata st JOIN slots sl ON sl.stratum_id = st.id \
         LEFT JOIN allocations a ON a.slot_id = sl.id GROUP BY st.label ORDER BY st.label",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let total: i64 = r.try_get("total")?;
            let used: i64 = r.try_get("used")?;
            let maxblock: i64 = r.try_get("maxblock")?;
            let remaining = total - used;
            Ok(StratumStatus {
                stratum: r.try_get("label")?,
                total,
                used,
                remaining,
                warning: remaining <= ((total + 4) / 5).max(maxblock),
            })
        })
        .collect()
}

// ---------------------------------------------------------------- screening and enrolment

async fn is_locked(tx: &mut Tx) -> ServerResult<bool> {
    Ok(db::get_setting(tx, key::LOCKED).await?.as_deref() == Some("1"))
}

async fn refuse_if_locked(tx: &mut Tx) -> ServerResult<()> {
    if is_locked(tx).await? {
        Err(ServerError::Conflict(
            "the database is locked: no more changes".into(),
        ))
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScreeningInfo {
    pub screening_id: String,
    pub site: String,
    pub eligible: bool,
    pub exclusion_reason: String,
    pub screened_on: String,
    pub participant_id: Option<String>,
}

pub async fn screen(
    db: &Db,
    u: &User,
    screening_id: &str,
    eligible: bool,
    exclusion_reason: &str,
) -> ServerResult<ScreeningInfo> {
    u.require(&[Role::Investigator])?;
    let site = u.site()?;
    check_id("screening id", screening_id)?;
    check_text("exclusion reason", exclusion_reason, !eligible)?;
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    let exists = sqlx::query("SELECT id FROM screening WHERE screening_code = $1")
        .bind(screening_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(ServerError::Conflict(format!(
            "screening id {screening_id} is logged already"
        )));
    }
    sqlx::query(
        "INSERT INTO screening (screening_code, site_id, eligible, exclusion_reason, screened_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(screening_id)
    .bind(site)
    .bind(i64::from(eligible))
    .bind(exclusion_reason.trim())
    .bind(&now.date)
    .bind(&now.iso)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "screen",
            entity: &format!("screening:{screening_id}"),
            new_value: &format!(
                "eligible={}; exclusion_reason={}",
                yes_no(eligible),
                exclusion_reason.trim()
            ),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ScreeningInfo {
        screening_id: screening_id.into(),
        site: u.site_code.clone().unwrap_or_default(),
        eligible,
        exclusion_reason: exclusion_reason.trim().into(),
        screened_on: now.date,
        participant_id: None,
    })
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Screening log of the user's site (managers and statisticians: all sites).
pub async fn screening_log(db: &Db, u: &User) -> ServerResult<Vec<ScreeningInfo>> {
    u.require(&[Role::Investigator, Role::Manager, Role::Statistician])?;
    let rows = sqlx::query(
        "SELECT sc.screening_code, s.code AS site, sc.eligible, sc.exclusion_reason, sc.screened_on, p.code AS pid \
         FROM screening sc JOIN sites s ON s.id = sc.site_id LEFT JOIN participants p ON p.screening_id = sc.id \
         WHERE ($1 < 0 OR sc.site_id = $1) ORDER BY sc.id",
    )
    .bind(site_filter(u)?)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(ScreeningInfo {
            screening_id: r.try_get("screening_code")?,
            site: r.try_get("site")?,
            eligible: r.try_get::<i64, _>("eligible")? != 0,
            exclusion_reason: r.try_get("exclusion_reason")?,
            screened_on: r.try_get("screened_on")?,
            participant_id: r.try_get("pid")?,
        });
    }
    Ok(out)
}

/// The site a listing is limited to: the user's own for site-bound roles, −1 (all sites)
/// for the others.
fn site_filter(u: &User) -> ServerResult<i64> {
    if u.role.site_bound() {
        u.site()
    } else {
        Ok(-1)
    }
}

/// What the investigator enters at enrolment.
pub struct Enrolment<'a> {
    pub participant_id: &'a str,
    pub screening_id: &'a str,
    /// Stratification factor values (the site factor is the user's site).
    pub factors: BTreeMap<String, String>,
    pub covariates: BTreeMap<String, String>,
}

pub async fn enrol(db: &Db, u: &User, e: Enrolment<'_>) -> ServerResult<ParticipantView> {
    u.require(&[Role::Investigator])?;
    let site = u.site()?;
    let site_code = u.site_code.clone().unwrap_or_default();
    check_id("participant id", e.participant_id)?;
    let plan = plan(db).await?;
    let list_factors = factors(db).await?;
    if db::read_setting(db, key::LIST_HASH).await?.is_none() {
        return Err(ServerError::Conflict(
            "no randomization list has been imported yet".into(),
        ));
    }
    let mut factors = BTreeMap::new();
    for (name, levels) in &list_factors {
        let v = if name == "site" {
            site_code.clone()
        } else {
            e.factors
                .get(name)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        if !levels.contains(&v) {
            return Err(bad(format!(
                "stratification factor {name}: {v:?} is not one of {}",
                levels.join(", ")
            )));
        }
        factors.insert(name.clone(), v);
    }
    let mut covariates = BTreeMap::new();
    for c in &plan.covariates {
        let v = e
            .covariates
            .get(&c.name)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if !v.is_empty() {
            match c.kind {
                CovariateKind::Continuous => {
                    if !v.parse::<f64>().is_ok_and(f64::is_finite) {
                        return Err(bad(format!("covariate {}: {v:?} is not a number", c.name)));
                    }
                }
                _ => {
                    if let Some(levels) = &c.levels
                        && !levels.contains(&v)
                    {
                        return Err(bad(format!(
                            "covariate {}: {v:?} is not one of {}",
                            c.name,
                            levels.join(", ")
                        )));
                    }
                }
            }
        }
        covariates.insert(c.name.clone(), v);
    }
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    let sc = sqlx::query("SELECT id, site_id, eligible FROM screening WHERE screening_code = $1")
        .bind(e.screening_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            bad(format!(
                "no screening id {} (log the screening first)",
                e.screening_id
            ))
        })?;
    let sc_id: i64 = sc.try_get("id")?;
    if sc.try_get::<i64, _>("site_id")? != site {
        return Err(ServerError::Forbidden(
            "that screening belongs to another site".into(),
        ));
    }
    if sc.try_get::<i64, _>("eligible")? == 0 {
        return Err(bad(format!(
            "screening {} was not eligible",
            e.screening_id
        )));
    }
    let used = sqlx::query("SELECT code FROM participants WHERE screening_id = $1 OR code = $2")
        .bind(sc_id)
        .bind(e.participant_id)
        .fetch_optional(&mut *tx)
        .await?;
    if used.is_some() {
        return Err(ServerError::Conflict(
            "that participant id or screening is enrolled already".into(),
        ));
    }
    let fj = serde_json::to_string(&factors).unwrap_or_default();
    let cj = serde_json::to_string(&covariates).unwrap_or_default();
    sqlx::query(
        "INSERT INTO participants (code, site_id, screening_id, factors, covariates, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.participant_id)
    .bind(site)
    .bind(sc_id)
    .bind(&fj)
    .bind(&cj)
    .bind(&now.iso)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "enrol",
            entity: &format!("participant:{}", e.participant_id),
            new_value: &format!(
                "screening={}; factors={fj}; covariates={cj}",
                e.screening_id
            ),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    participant(db, u, e.participant_id).await
}

// ---------------------------------------------------------------- participants

/// A visit window, in days from day 0 (the randomization date).
#[derive(Debug, Clone, Serialize)]
pub struct VisitWindow {
    pub visit: String,
    pub target_day: i64,
    pub from_day: i64,
    pub to_day: i64,
    pub target_date: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
}

/// Windows: baseline from day −30 to day 0; later visits at round(time × days per unit)
/// ± max(7 days, 10% of the target day).
pub fn visit_windows(plan: &AnalysisPlan, day0: Option<Date>) -> ServerResult<Vec<VisitWindow>> {
    let dpu = days_per_unit(&plan.trial.time_unit)?;
    Ok(plan
        .visits
        .iter()
        .map(|v| {
            let target = (v.time * dpu).round() as i64;
            let (from, to) = if v.baseline {
                (target - 30, target)
            } else {
                let half = 7.max((target as f64 * 0.1).round() as i64);
                (target - half, target + half)
            };
            let at = |d: i64| day0.and_then(|d0| d0.add_days(d)).map(|x| x.to_string());
            VisitWindow {
                visit: v.label.clone(),
                target_day: target,
                from_day: from,
                to_day: to,
                target_date: at(target),
                from_date: at(from),
                to_date: at(to),
            }
        })
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct MeasurementView {
    pub visit: String,
    pub visit_date: String,
    pub outcome: String,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdverseEventView {
    pub term: String,
    pub onset_date: String,
    pub severity: String,
    pub serious: bool,
    pub related: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusEventView {
    pub kind: String,
    pub reason_code: String,
    pub reason: String,
    pub date: String,
}

/// A participant as a blinded user sees them.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    pub participant_id: String,
    pub site: String,
    pub screening_id: String,
    pub factors: BTreeMap<String, String>,
    pub covariates: BTreeMap<String, String>,
    pub enrolled_at: String,
    pub randomized: bool,
    pub randomization_number: Option<i64>,
    pub randomized_at: Option<String>,
    pub day0: Option<String>,
    pub windows: Vec<VisitWindow>,
    pub measurements: Vec<MeasurementView>,
    pub adverse_events: Vec<AdverseEventView>,
    pub status_events: Vec<StatusEventView>,
}

struct PRow {
    id: i64,
    site_id: i64,
}

async fn find_participant(db: &Db, u: &User, code: &str) -> ServerResult<PRow> {
    let r = sqlx::query("SELECT id, site_id FROM participants WHERE code = $1")
        .bind(code)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("participant {code}")))?;
    let p = PRow {
        id: r.try_get("id")?,
        site_id: r.try_get("site_id")?,
    };
    if u.role.site_bound() && u.site_id != Some(p.site_id) {
        // Same answer as for a missing participant: other sites' ids are not disclosed.
        return Err(ServerError::NotFound(format!("participant {code}")));
    }
    Ok(p)
}

pub async fn participant(db: &Db, u: &User, code: &str) -> ServerResult<ParticipantView> {
    let p = find_participant(db, u, code).await?;
    let r = sqlx::query(
        "SELECT p.code, s.code AS site, sc.screening_code, p.factors, p.covariates, p.enrolled_at, \
         sl.randomization_number, a.randomized_at, a.day0 \
         FROM participants p JOIN sites s ON s.id = p.site_id JOIN screening sc ON sc.id = p.screening_id \
         LEFT JOIN allocations a ON a.participant_id = p.id LEFT JOIN slots sl ON sl.id = a.slot_id \
         WHERE p.id = $1",
    )
    .bind(p.id)
    .fetch_one(&db.pool)
    .await?;
    let day0: Option<String> = r.try_get("day0")?;
    let plan = plan(db).await?;
    let windows = visit_windows(&plan, day0.as_deref().and_then(Date::parse))?;
    let measurements = sqlx::query(
        "SELECT visit, visit_date, outcome, value FROM measurements WHERE participant_id = $1 ORDER BY id",
    )
    .bind(p.id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|m| {
        Ok(MeasurementView {
            visit: m.try_get("visit")?,
            visit_date: m.try_get("visit_date")?,
            outcome: m.try_get("outcome")?,
            value: m.try_get("value")?,
        })
    })
    .collect::<ServerResult<Vec<_>>>()?;
    let adverse_events = sqlx::query(
        "SELECT term, onset_date, severity, serious, related FROM adverse_events WHERE participant_id = $1 ORDER BY id",
    )
    .bind(p.id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|m| {
        Ok(AdverseEventView {
            term: m.try_get("term")?,
            onset_date: m.try_get("onset_date")?,
            severity: m.try_get("severity")?,
            serious: m.try_get::<i64, _>("serious")? != 0,
            related: m.try_get("related")?,
        })
    })
    .collect::<ServerResult<Vec<_>>>()?;
    let status_events = sqlx::query(
        "SELECT kind, reason_code, reason, event_date FROM status_events WHERE participant_id = $1 ORDER BY id",
    )
    .bind(p.id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|m| {
        Ok(StatusEventView {
            kind: m.try_get("kind")?,
            reason_code: m.try_get("reason_code")?,
            reason: m.try_get("reason")?,
            date: m.try_get("event_date")?,
        })
    })
    .collect::<ServerResult<Vec<_>>>()?;
    let number: Option<i64> = r.try_get("randomization_number")?;
    Ok(ParticipantView {
        participant_id: r.try_get("code")?,
        site: r.try_get("site")?,
        screening_id: r.try_get("screening_code")?,
        factors: serde_json::from_str(&r.try_get::<String, _>("factors")?).unwrap_or_default(),
        covariates: serde_json::from_str(&r.try_get::<String, _>("covariates")?)
            .unwrap_or_default(),
        enrolled_at: r.try_get("enrolled_at")?,
        randomized: number.is_some(),
        randomization_number: number,
        randomized_at: r.try_get("randomized_at")?,
        day0,
        windows,
        measurements,
        adverse_events,
        status_events,
    })
}

/// One line of a participant list.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantLine {
    pub participant_id: String,
    pub site: String,
    pub randomization_number: Option<i64>,
    pub randomized_at: Option<String>,
}

pub async fn participants(db: &Db, u: &User) -> ServerResult<Vec<ParticipantLine>> {
    u.require(&[Role::Investigator, Role::Manager, Role::Statistician])?;
    let rows = sqlx::query(
        "SELECT p.code, s.code AS site, sl.randomization_number, a.randomized_at FROM participants p \
         JOIN sites s ON s.id = p.site_id LEFT JOIN allocations a ON a.participant_id = p.id \
         LEFT JOIN slots sl ON sl.id = a.slot_id WHERE ($1 < 0 OR p.site_id = $1) ORDER BY p.id",
    )
    .bind(site_filter(u)?)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(ParticipantLine {
            participant_id: r.try_get("code")?,
            site: r.try_get("site")?,
            randomization_number: r.try_get("randomization_number")?,
            randomized_at: r.try_get("randomized_at")?,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- randomization

/// The receipt of a randomization: number and UTC time, never the arm.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Receipt {
    pub participant_id: String,
    pub site: String,
    pub randomization_number: i64,
    pub randomized_at: String,
    /// False when this request found the participant already randomized (a repeated
    /// submission) and returned the original allocation.
    pub new: bool,
}

/// Randomizes a participant: in one transaction, takes the lowest unused slot of the
/// participant's stratum (SQLite: the transaction holds the write lock; PostgreSQL: the
/// stratum row is locked FOR UPDATE), with unique constraints on slot and participant.
/// `confirmed` must repeat the enrolled stratification factors (the review page).
pub async fn randomize(
    db: &Db,
    u: &User,
    code: &str,
    confirmed: Option<&BTreeMap<String, String>>,
) -> ServerResult<Receipt> {
    u.require(&[Role::Investigator])?;
    let p = find_participant(db, u, code).await?;
    for attempt in 0..3 {
        match try_randomize(db, u, code, p.id, confirmed).await {
            // A unique-constraint race (PostgreSQL, a concurrent double submit): the
            // other request won; read its allocation.
            Err(ServerError::Database(e)) if attempt < 2 && is_unique_violation(&e) => continue,
            other => return other,
        }
    }
    Err(ServerError::Conflict(
        "randomization could not complete; try again".into(),
    ))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.message().contains("UNIQUE")
                || d.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

async fn try_randomize(
    db: &Db,
    u: &User,
    code: &str,
    pid: i64,
    confirmed: Option<&BTreeMap<String, String>>,
) -> ServerResult<Receipt> {
    let now = clock::now();
    let site = u.site_code.clone().unwrap_or_default();
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    if db::get_setting(&mut tx, key::LIST_STATUS).await?.as_deref() != Some("production") {
        return Err(ServerError::Conflict(
            "the randomization list is not locked for production yet".into(),
        ));
    }
    let factors_json: String = sqlx::query("SELECT factors FROM participants WHERE id = $1")
        .bind(pid)
        .fetch_one(&mut *tx)
        .await?
        .try_get("factors")?;
    let factors: BTreeMap<String, String> = serde_json::from_str(&factors_json).unwrap_or_default();
    if let Some(c) = confirmed {
        for (k, v) in &factors {
            if k != "site" && c.get(k).map(|s| s.trim()) != Some(v.as_str()) {
                return Err(bad(format!(
                    "stratification factor {k}: the confirmed value differs from the enrolment ({v}); \
                     check the participant's data before randomizing"
                )));
            }
        }
    }
    let order: Vec<(String, Vec<String>)> = db::get_setting(&mut tx, key::FACTORS)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let levels: Vec<(String, String)> = order
        .iter()
        .map(|(f, _)| (f.clone(), factors.get(f).cloned().unwrap_or_default()))
        .collect();
    let label = stratum_label(&levels);
    let stratum = sqlx::query(&format!(
        "SELECT id FROM strata WHERE label = $1{}",
        db.for_update()
    ))
    .bind(&label)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        ServerError::Conflict(format!("stratum {label} is not in the randomization list"))
    })?;
    let stratum_id: i64 = stratum.try_get("id")?;
    // After the stratum lock: a concurrent submission for the same participant has committed.
    let existing = sqlx::query(
        "SELECT sl.randomization_number, a.randomized_at FROM allocations a JOIN slots sl ON sl.id = a.slot_id \
         WHERE a.participant_id = $1",
    )
    .bind(pid)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = existing {
        tx.rollback().await?;
        return Ok(Receipt {
            participant_id: code.into(),
            site,
            randomization_number: r.try_get("randomization_number")?,
            randomized_at: r.try_get("randomized_at")?,
            new: false,
        });
    }
    let slot = sqlx::query(
        "SELECT sl.id, sl.randomization_number FROM slots sl LEFT JOIN allocations a ON a.slot_id = sl.id \
         WHERE sl.stratum_id = $1 AND a.id IS NULL ORDER BY sl.sequence LIMIT 1",
    )
    .bind(stratum_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        ServerError::Conflict(format!(
            "no slot left in stratum {label}: the trial manager must append to the list"
        ))
    })?;
    let slot_id: i64 = slot.try_get("id")?;
    let number: i64 = slot.try_get("randomization_number")?;
    sqlx::query(
        "INSERT INTO allocations (participant_id, slot_id, randomized_at, day0, randomized_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(pid)
    .bind(slot_id)
    .bind(&now.iso)
    .bind(&now.date)
    .bind(u.id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "randomize",
            entity: &format!("participant:{code}"),
            new_value: &format!(
                "randomization_number={number}; stratum={label}; day0={}",
                now.date
            ),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Receipt {
        participant_id: code.into(),
        site,
        randomization_number: number,
        randomized_at: now.iso,
        new: true,
    })
}

/// A participant with their arm: the pharmacist's view (own site only).
#[derive(Debug, Clone, Serialize)]
pub struct PharmacyLine {
    pub participant_id: String,
    pub randomization_number: i64,
    pub randomized_at: String,
    pub arm: String,
}

pub async fn pharmacy(db: &Db, u: &User) -> ServerResult<Vec<PharmacyLine>> {
    u.require(&[Role::Pharmacist])?;
    let site = u.site()?;
    let rows = sqlx::query(
        "SELECT p.code, sl.randomization_number, a.randomized_at, sl.arm FROM allocations a \
         JOIN participants p ON p.id = a.participant_id JOIN slots sl ON sl.id = a.slot_id \
         WHERE p.site_id = $1 ORDER BY sl.randomization_number",
    )
    .bind(site)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PharmacyLine {
                participant_id: r.try_get("code")?,
                randomization_number: r.try_get("randomization_number")?,
                randomized_at: r.try_get("randomized_at")?,
                arm: r.try_get("arm")?,
            })
        })
        .collect()
}

/// Emergency unblinding of one participant by a delegated investigator who re-entered
/// their password; audited (without the arm) and notified to the managers (without the arm).
pub async fn emergency_unblind(
    db: &Db,
    u: &User,
    code: &str,
    password: &str,
    reason: &str,
) -> ServerResult<String> {
    u.require(&[Role::Investigator])?;
    if !u.can_unblind {
        return Err(ServerError::Forbidden(
            "this account is not delegated for emergency unblinding".into(),
        ));
    }
    check_text("reason", reason, true)?;
    reverify_password(db, u, password, "the password is wrong").await?;
    let p = find_participant(db, u, code).await?;
    let mut tx = db.begin_write().await?;
    let arm: String = sqlx::query(
        "SELECT sl.arm FROM allocations a JOIN slots sl ON sl.id = a.slot_id WHERE a.participant_id = $1",
    )
    .bind(p.id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServerError::Conflict(format!("participant {code} is not randomized")))?
    .try_get("arm")?;
    let now = clock::now();
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "emergency_unblind",
            entity: &format!("participant:{code}"),
            new_value: "arm disclosed to the investigator",
            reason,
            ..Default::default()
        },
    )
    .await?;
    sqlx::query("INSERT INTO notifications (role, message, created_at) VALUES ('manager', $1, $2)")
        .bind(format!(
            "Emergency unblinding of participant {code} (site {}) by {} at {}. Reason: {reason}",
            u.site_code.clone().unwrap_or_default(),
            u.username,
            now.iso
        ))
        .bind(&now.iso)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(arm)
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub message: String,
    pub created_at: String,
}

pub async fn notifications(db: &Db, u: &User) -> ServerResult<Vec<Notification>> {
    u.require(&[Role::Manager])?;
    let rows = sqlx::query(
        "SELECT message, created_at FROM notifications WHERE role = 'manager' ORDER BY id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Notification {
                message: r.try_get("message")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- data capture

async fn randomized_participant(db: &Db, u: &User, code: &str) -> ServerResult<(i64, Date)> {
    u.require(&[Role::Investigator])?;
    let p = find_participant(db, u, code).await?;
    let day0: String = sqlx::query("SELECT day0 FROM allocations WHERE participant_id = $1")
        .bind(p.id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ServerError::Conflict(format!("participant {code} is not randomized")))?
        .try_get("day0")?;
    let d0 = Date::parse(&day0).ok_or_else(|| ServerError::Config("bad day 0 stored".into()))?;
    Ok((p.id, d0))
}

async fn ended(tx: &mut Tx, pid: i64) -> ServerResult<Option<(String, String)>> {
    let r = sqlx::query(
        "SELECT kind, event_date FROM status_events WHERE participant_id = $1 \
         AND kind IN ('withdrawal', 'lost_to_follow_up', 'death') ORDER BY id LIMIT 1",
    )
    .bind(pid)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match r {
        Some(r) => Some((r.try_get("kind")?, r.try_get("event_date")?)),
        None => None,
    })
}

/// Refuses a date after today (UTC), or in training mode accepts it with a warning.
fn check_not_future(
    db: &Db,
    what: &str,
    date: Date,
    warnings: &mut Vec<String>,
) -> ServerResult<()> {
    let today = Date::parse(&clock::now().date).unwrap_or(date);
    if date > today {
        if db.training {
            warnings.push(format!(
                "{what} {date} is in the future (accepted in training mode)"
            ));
        } else {
            return Err(bad(format!("{what} {date} is in the future")));
        }
    }
    Ok(())
}

/// The result of a data entry: what was stored and any warnings (e.g. out of window).
#[derive(Debug, Clone, Serialize)]
pub struct EntryResult {
    pub stored: usize,
    pub warnings: Vec<String>,
}

/// Records a visit's outcome values (range, visit, date and follow-up checks).
pub async fn record_visit(
    db: &Db,
    u: &User,
    code: &str,
    visit: &str,
    visit_date: &str,
    values: &BTreeMap<String, String>,
) -> ServerResult<EntryResult> {
    let (pid, day0) = randomized_participant(db, u, code).await?;
    let plan = plan(db).await?;
    let v = plan
        .visit(visit)
        .ok_or_else(|| bad(format!("visit {visit:?} is not in the plan")))?;
    let date = parse_date("visit date", visit_date)?;
    let mut warnings = Vec::new();
    check_not_future(db, "visit date", date, &mut warnings)?;
    let windows = visit_windows(&plan, Some(day0))?;
    let w = windows
        .iter()
        .find(|w| w.visit == v.label)
        .ok_or_else(|| bad("visit window missing"))?;
    let day = date.days_since_epoch() - day0.days_since_epoch();
    if !v.baseline && day < 0 {
        return Err(bad(format!(
            "visit {visit} on {date} is before day 0 ({day0})"
        )));
    }
    if day < w.from_day || day > w.to_day {
        warnings.push(format!(
            "visit {visit} on day {day} is outside its window (days {} to {})",
            w.from_day, w.to_day
        ));
    }
    let mut parsed = Vec::new();
    for (name, raw) in values {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let o = plan
            .outcome(name)
            .ok_or_else(|| bad(format!("outcome {name:?} is not in the plan")))?;
        if !plan.outcome_visits(o).contains(&v.label.as_str()) {
            return Err(bad(format!(
                "outcome {name} is not measured at visit {visit}"
            )));
        }
        let x: f64 = raw
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| bad(format!("{name}: {raw:?} is not a number")))?;
        if x < o.range[0] || x > o.range[1] {
            return Err(bad(format!(
                "{name}: {x} is outside its range [{}, {}]",
                o.range[0], o.range[1]
            )));
        }
        parsed.push((name.clone(), x));
    }
    if parsed.is_empty() {
        return Err(bad("no value entered"));
    }
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    if let Some((kind, when)) = ended(&mut tx, pid).await?
        && date.to_string() > when
    {
        return Err(bad(format!(
            "participant {code} left follow-up ({kind}) on {when}"
        )));
    }
    for (name, x) in &parsed {
        let dup = sqlx::query(
            "SELECT id FROM measurements WHERE participant_id = $1 AND visit = $2 AND outcome = $3",
        )
        .bind(pid)
        .bind(visit)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if dup.is_some() {
            return Err(ServerError::Conflict(format!(
                "{name} at {visit} is recorded already: change it with a correction and a reason"
            )));
        }
        sqlx::query(
            "INSERT INTO measurements (participant_id, visit, visit_date, outcome, value) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(pid)
        .bind(visit)
        .bind(date.to_string())
        .bind(name)
        .bind(*x)
        .execute(&mut *tx)
        .await?;
        audit::append(
            db,
            &mut tx,
            Entry {
                actor: actor(u),
                action: "enter_value",
                entity: &format!("participant:{code}/visit:{visit}/outcome:{name}"),
                new_value: &format!("{x} (visit date {date})"),
                ..Default::default()
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(EntryResult {
        stored: parsed.len(),
        warnings,
    })
}

/// Changes a recorded value, with a reason (old and new value audited).
pub async fn correct_value(
    db: &Db,
    u: &User,
    code: &str,
    visit: &str,
    outcome: &str,
    value: &str,
    reason: &str,
) -> ServerResult<EntryResult> {
    let (pid, _) = randomized_participant(db, u, code).await?;
    check_text("reason", reason, true)?;
    let plan = plan(db).await?;
    let o = plan
        .outcome(outcome)
        .ok_or_else(|| bad(format!("outcome {outcome:?} is not in the plan")))?;
    let x: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| bad(format!("{value:?} is not a number")))?;
    if x < o.range[0] || x > o.range[1] {
        return Err(bad(format!(
            "{outcome}: {x} is outside its range [{}, {}]",
            o.range[0], o.range[1]
        )));
    }
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    let row = sqlx::query("SELECT id, value FROM measurements WHERE participant_id = $1 AND visit = $2 AND outcome = $3")
        .bind(pid)
        .bind(visit)
        .bind(outcome)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("no {outcome} recorded at {visit}")))?;
    let id: i64 = row.try_get("id")?;
    let old: f64 = row.try_get("value")?;
    sqlx::query("UPDATE measurements SET value = $1 WHERE id = $2")
        .bind(x)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "correct_value",
            entity: &format!("participant:{code}/visit:{visit}/outcome:{outcome}"),
            old_value: &old.to_string(),
            new_value: &x.to_string(),
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(EntryResult {
        stored: 1,
        warnings: Vec::new(),
    })
}

pub const SEVERITIES: [&str; 5] = ["mild", "moderate", "severe", "life_threatening", "fatal"];
pub const RELATED: [&str; 3] = ["yes", "no", "unknown"];

pub struct NewAdverseEvent<'a> {
    pub term: &'a str,
    pub onset_date: &'a str,
    pub severity: &'a str,
    pub serious: &'a str,
    pub related: &'a str,
}

pub async fn add_adverse_event(
    db: &Db,
    u: &User,
    code: &str,
    e: NewAdverseEvent<'_>,
) -> ServerResult<EntryResult> {
    let (pid, day0) = randomized_participant(db, u, code).await?;
    check_text("term", e.term, true)?;
    let onset = parse_date("onset date", e.onset_date)?;
    let mut warnings = Vec::new();
    check_not_future(db, "onset date", onset, &mut warnings)?;
    if onset < day0 {
        return Err(bad(format!("onset {onset} is before day 0 ({day0})")));
    }
    if !SEVERITIES.contains(&e.severity) {
        return Err(bad(format!(
            "severity must be one of {}",
            SEVERITIES.join(", ")
        )));
    }
    let serious = match e.serious {
        "yes" => true,
        "no" => false,
        _ => return Err(bad("serious must be yes or no")),
    };
    if !RELATED.contains(&e.related) {
        return Err(bad("related must be yes, no or unknown"));
    }
    if (e.severity == "fatal" || e.severity == "life_threatening") && !serious {
        return Err(bad(
            "a life-threatening or fatal event is serious by definition (ICH E2A)",
        ));
    }
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    sqlx::query(
        "INSERT INTO adverse_events (participant_id, term, onset_date, severity, serious, related) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(pid)
    .bind(e.term.trim())
    .bind(onset.to_string())
    .bind(e.severity)
    .bind(i64::from(serious))
    .bind(e.related)
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "adverse_event",
            entity: &format!("participant:{code}"),
            new_value: &format!(
                "term={}; onset={onset}; severity={}; serious={}; related={}",
                e.term.trim(),
                e.severity,
                e.serious,
                e.related
            ),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(EntryResult {
        stored: 1,
        warnings,
    })
}

pub const STATUS_KINDS: [&str; 5] = [
    "withdrawal",
    "lost_to_follow_up",
    "discontinuation",
    "death",
    "completed",
];
/// Coded reasons (CDISC-style disposition reasons).
pub const REASON_CODES: [&str; 8] = [
    "adverse_event",
    "withdrawal_by_parent_or_guardian",
    "withdrawal_by_subject",
    "physician_decision",
    "lost_to_follow_up",
    "death",
    "protocol_completed",
    "other",
];

/// Records withdrawal, loss to follow-up, discontinuation of the intervention, death or
/// completion, each separately with a coded reason.
pub async fn record_status(
    db: &Db,
    u: &User,
    code: &str,
    kind: &str,
    reason_code: &str,
    reason: &str,
    date: &str,
) -> ServerResult<EntryResult> {
    let (pid, day0) = randomized_participant(db, u, code).await?;
    if !STATUS_KINDS.contains(&kind) {
        return Err(bad(format!(
            "kind must be one of {}",
            STATUS_KINDS.join(", ")
        )));
    }
    if !REASON_CODES.contains(&reason_code) {
        return Err(bad(format!(
            "reason code must be one of {}",
            REASON_CODES.join(", ")
        )));
    }
    check_text("reason", reason, reason_code == "other")?;
    let d = parse_date("date", date)?;
    let mut warnings = Vec::new();
    check_not_future(db, "date", d, &mut warnings)?;
    if d < day0 {
        return Err(bad(format!("{d} is before day 0 ({day0})")));
    }
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    let dup = sqlx::query("SELECT id FROM status_events WHERE participant_id = $1 AND kind = $2")
        .bind(pid)
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
    if dup.is_some() {
        return Err(ServerError::Conflict(format!(
            "{kind} is recorded already for {code}"
        )));
    }
    if kind != "discontinuation"
        && let Some((k, _)) = ended(&mut tx, pid).await?
    {
        return Err(ServerError::Conflict(format!(
            "{code} already left follow-up ({k})"
        )));
    }
    sqlx::query(
        "INSERT INTO status_events (participant_id, kind, reason_code, reason, event_date) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(pid)
    .bind(kind)
    .bind(reason_code)
    .bind(reason.trim())
    .bind(d.to_string())
    .execute(&mut *tx)
    .await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "status",
            entity: &format!("participant:{code}"),
            new_value: &format!("{kind} on {d} ({reason_code})"),
            reason,
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(EntryResult {
        stored: 1,
        warnings,
    })
}

// ---------------------------------------------------------------- lock and unblinding

/// The trial's state flags.
#[derive(Debug, Clone, Serialize)]
pub struct TrialState {
    pub plan_imported: bool,
    pub list_status: Option<String>,
    pub database_locked: bool,
    pub unblinded: bool,
}

pub async fn state(db: &Db) -> ServerResult<TrialState> {
    Ok(TrialState {
        plan_imported: db::read_setting(db, key::PLAN_HASH).await?.is_some(),
        list_status: db::read_setting(db, key::LIST_STATUS).await?,
        database_locked: db::read_setting(db, key::LOCKED).await?.as_deref() == Some("1"),
        unblinded: db::read_setting(db, key::UNBLINDED).await?.as_deref() == Some("1"),
    })
}

pub async fn lock_database(db: &Db, u: &User, reason: &str) -> ServerResult<TrialState> {
    u.require(&[Role::Manager])?;
    check_text("reason", reason, true)?;
    let mut tx = db.begin_write().await?;
    refuse_if_locked(&mut tx).await?;
    db::set_setting(&mut tx, key::LOCKED, "1").await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "lock_database",
            entity: "database",
            old_value: "open",
            new_value: "locked",
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    state(db).await
}

pub async fn unblind_trial(db: &Db, u: &User, reason: &str) -> ServerResult<TrialState> {
    u.require(&[Role::Manager])?;
    check_text("reason", reason, true)?;
    let mut tx = db.begin_write().await?;
    if !is_locked(&mut tx).await? {
        return Err(ServerError::Conflict(
            "unblinding comes after database lock".into(),
        ));
    }
    if db::get_setting(&mut tx, key::UNBLINDED).await?.as_deref() == Some("1") {
        return Err(ServerError::Conflict(
            "the trial is unblinded already".into(),
        ));
    }
    db::set_setting(&mut tx, key::UNBLINDED, "1").await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "unblind_trial",
            entity: "database",
            old_value: "blinded",
            new_value: "unblinded",
            reason,
        },
    )
    .await?;
    tx.commit().await?;
    state(db).await
}

/// The arm codes of the blinded export.
pub(crate) async fn arm_codes(db: &Db) -> ServerResult<BTreeMap<String, String>> {
    Ok(db::read_setting(db, key::ARM_CODES)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// Records an export in the audit trail.
pub(crate) async fn audit_export(db: &Db, u: &User, kind: &str) -> ServerResult<()> {
    let mut tx = db.begin_write().await?;
    audit::append(
        db,
        &mut tx,
        Entry {
            actor: actor(u),
            action: "export",
            entity: "dataset",
            new_value: kind,
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_from_labels() {
        let f = factors_of(&["site=A;g=x", "site=A;g=y", "site=B;g=x"]).unwrap();
        assert_eq!(
            f,
            vec![
                ("site".to_string(), vec!["A".to_string(), "B".to_string()]),
                ("g".to_string(), vec!["x".to_string(), "y".to_string()])
            ]
        );
        assert!(factors_of(&["all"]).unwrap().is_empty());
        assert!(factors_of(&["site=A", "g=x"]).is_err());
        assert!(factors_of(&["siteA"]).is_err());
    }

    #[test]
    fn ids() {
        assert!(check_id("x", "CP-001").is_ok());
        assert!(check_id("x", "").is_err());
        assert!(check_id("x", "a b").is_err());
        assert!(check_id("x", "<script>").is_err());
    }
}
