//! The audit trail: append-only rows (who, what, when in UTC, why, old and new value),
//! each carrying the SHA-256 of its content and of the previous row, so that editing or
//! deleting any row breaks the chain (the scheme of RFC 6962-style logs, linear form).
//! The database refuses UPDATE and DELETE on the table (triggers, migration 1); the head
//! row (`audit_head`) holds the last sequence number and hash and serializes appends.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Db, Tx};
use crate::error::ServerResult;

/// One audit entry, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub old_value: String,
    pub new_value: String,
    pub reason: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub old_value: &'a str,
    pub new_value: &'a str,
    pub reason: &'a str,
}

/// The chained hash of a row: SHA-256 over the length-prefixed fields and the previous hash.
pub fn row_hash(seq: i64, at: &str, e: &Entry<'_>, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"evidentia-audit-v1");
    h.update(seq.to_be_bytes());
    for field in [
        at,
        e.actor,
        e.action,
        e.entity,
        e.old_value,
        e.new_value,
        e.reason,
        prev_hash,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex(&h.finalize())
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends an entry inside the caller's transaction (so the audit row commits or rolls
/// back with the change it records).
pub async fn append(db: &Db, tx: &mut Tx, e: Entry<'_>) -> ServerResult<i64> {
    let head = sqlx::query(&format!(
        "SELECT seq, hash FROM audit_head WHERE id = 1{}",
        db.for_update()
    ))
    .fetch_one(&mut **tx)
    .await?;
    let prev_seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let seq = prev_seq + 1;
    let at = crate::clock::now().iso;
    let hash = row_hash(seq, &at, &e, &prev_hash);
    sqlx::query(
        "INSERT INTO audit (seq, at, actor, action, entity, old_value, new_value, reason, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(&at)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.entity)
    .bind(e.old_value)
    .bind(e.new_value)
    .bind(e.reason)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// Every audit row in order.
pub async fn rows(db: &Db) -> ServerResult<Vec<AuditRow>> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, entity, old_value, new_value, reason, prev_hash, hash \
         FROM audit ORDER BY seq",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(AuditRow {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                entity: r.try_get("entity")?,
                old_value: r.try_get("old_value")?,
                new_value: r.try_get("new_value")?,
                reason: r.try_get("reason")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        })
        .collect()
}

/// Result of checking the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub rows: usize,
    /// Every problem found, first row first.
    pub problems: Vec<String>,
}

/// Recomputes the chain: every row's hash from its content and the previous hash, the
/// sequence without gaps from 1, and the last row equal to the head.
pub async fn verify(db: &Db) -> ServerResult<Verification> {
    let all = rows(db).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let mut problems = Vec::new();
    let mut prev = "0".repeat(64);
    for (i, r) in all.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        if r.seq != expected_seq {
            problems.push(format!(
                "row {expected_seq}: missing (next row present has sequence {}): rows were deleted",
                r.seq
            ));
            break;
        }
        if r.prev_hash != prev {
            problems.push(format!(
                "row {}: previous-hash link broken (a row before it was edited or deleted)",
                r.seq
            ));
        }
        let e = Entry {
            actor: &r.actor,
            action: &r.action,
            entity: &r.entity,
            old_value: &r.old_value,
            new_value: &r.new_value,
            reason: &r.reason,
        };
        if row_hash(r.seq, &r.at, &e, &r.prev_hash) != r.hash {
            problems.push(format!(
                "row {}: content does not match its hash (edited)",
                r.seq
            ));
        }
        prev = r.hash.clone();
    }
    let last_seq = all.last().map(|r| r.seq).unwrap_or(0);
    if problems.is_empty() && (last_seq != head_seq || prev != head_hash) {
        problems.push(format!(
            "the trail ends at row {last_seq} but the head records row {head_seq}: rows at the end were deleted or edited"
        ));
    }
    problems.extend(allocation_problems(db, &all).await?);
    Ok(Verification {
        ok: problems.is_empty(),
        rows: all.len(),
        problems,
    })
}

/// Consistency of the allocations with the list and the trail: in every stratum the used
/// slots are the first ones (none skipped), and every allocation has its audit row.
async fn allocation_problems(db: &Db, trail: &[AuditRow]) -> ServerResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT st.label, sl.sequence, a.id AS aid FROM slots sl JOIN strata st ON st.id = sl.stratum_id \
         LEFT JOIN allocations a ON a.slot_id = sl.id ORDER BY st.label, sl.sequence",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut problems = Vec::new();
    let mut current = String::new();
    let mut free_seen: Option<i64> = None;
    let mut used = 0usize;
    for r in &rows {
        let label: String = r.try_get("label")?;
        let seq: i64 = r.try_get("sequence")?;
        let taken = r.try_get::<Option<i64>, _>("aid")?.is_some();
        if label != current {
            current = label.clone();
            free_seen = None;
        }
        if taken {
            used += 1;
            if let Some(free) = free_seen {
                problems.push(format!(
                    "stratum {label}: slot {seq} is used but slot {free} before it was skipped"
                ));
            }
        } else if free_seen.is_none() {
            free_seen = Some(seq);
        }
    }
    let audited = trail.iter().filter(|r| r.action == "randomize").count();
    if audited != used {
        problems.push(format!(
            "{used} allocations but {audited} randomization entries in the audit trail"
        ));
    }
    Ok(problems)
}
