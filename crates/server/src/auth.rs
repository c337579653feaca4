//! Accounts, passwords (Argon2id, RFC 9106, with the OWASP-recommended parameters of the
//! `argon2` crate's defaults), sessions (random 256-bit tokens stored only as their SHA-256,
//! rotated at login, idle and absolute timeouts), CSRF tokens, roles and rate limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::{self, hex};
use crate::db::Db;
use crate::error::{ServerError, ServerResult, bad};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Trial manager: sites, users, lists, lock and unblinding; blinded to arms.
    Manager,
    /// Site investigator: screening, enrolment, randomization, data entry; blinded.
    Investigator,
    /// Unblinded pharmacist (cell preparation): the arms of their own site only.
    Pharmacist,
    /// Statistician: exports; blinded until database lock and unblinding.
    Statistician,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Manager,
        Role::Investigator,
        Role::Pharmacist,
        Role::Statistician,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Investigator => "investigator",
            Role::Pharmacist => "pharmacist",
            Role::Statistician => "statistician",
        }
    }

    pub fn parse(s: &str) -> ServerResult<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                bad(format!(
                    "unknown role {s:?} (manager, investigator, pharmacist, statistician)"
                ))
            })
    }

    /// Whether the role works at one site.
    pub fn site_bound(self) -> bool {
        matches!(self, Role::Investigator | Role::Pharmacist)
    }
}

/// A signed-in user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub site_id: Option<i64>,
    pub site_code: Option<String>,
    /// Delegated for emergency unblinding.
    pub can_unblind: bool,
}

impl User {
    /// Refuses unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> ServerResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServerError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }

    /// The user's site, for site-bound roles.
    pub fn site(&self) -> ServerResult<i64> {
        self.site_id
            .ok_or_else(|| ServerError::Forbidden("this account has no site".into()))
    }
}

/// Session and rate-limit settings.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, whatever happens.
    pub absolute_timeout: Duration,
    /// Failed-or-not login attempts per username and per client address, per minute.
    pub login_per_minute: usize,
    /// Randomizations per user per minute.
    pub randomize_per_minute: usize,
    /// Emergency unblindings per user per hour.
    pub unblind_per_hour: usize,
    /// Set the `Secure` attribute on the session cookie (browsers accept it on
    /// http://localhost; behind TLS it is required).
    pub secure_cookie: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            login_per_minute: 10,
            randomize_per_minute: 30,
            unblind_per_hour: 5,
            secure_cookie: true,
        }
    }
}

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> ServerResult<String> {
    check_password_strength(password)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| bad(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| bad(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// ASVS 2.1: at least 12 characters, at most 128.
pub fn check_password_strength(password: &str) -> ServerResult<()> {
    let n = password.chars().count();
    if n < 12 {
        return Err(bad("the password must have at least 12 characters"));
    }
    if n > 128 {
        return Err(bad("the password must have at most 128 characters"));
    }
    Ok(())
}

/// A random 256-bit token, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex(&b)
}

/// SHA-256 of a token, hex (what the database stores).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Equality that takes the same time wherever the strings differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A live session: the user and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
}

const USER_COLUMNS: &str =
    "u.id, u.username, u.role, u.site_id, u.can_unblind, s.code AS site_code";

fn user_from_row(r: &sqlx::any::AnyRow) -> ServerResult<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        role: Role::parse(&role)?,
        site_id: r.try_get("site_id")?,
        site_code: r.try_get("site_code")?,
        can_unblind: r.try_get::<i64, _>("can_unblind")? != 0,
    })
}

/// Checks a user name and password; on success opens a new session (any session the
/// client presented is ended first: rotation) and returns its token.
pub async fn login(
    db: &Db,
    username: &str,
    password: &str,
    previous_token: Option<&str>,
) -> ServerResult<(String, Session)> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, u.password_hash, u.active FROM users u \
         LEFT JOIN sites s ON s.id = u.site_id WHERE u.username = $1"
    ))
    .bind(username)
    .fetch_optional(&db.pool)
    .await?;
    let failed = || ServerError::Forbidden("wrong user name or password".into());
    let Some(row) = row else {
        // Same work as a real check, so timing does not reveal which names exist.
        let _ = verify_password(password, DUMMY_HASH);
        record_login(db, username, false).await?;
        return Err(failed());
    };
    let phc: String = row.try_get("password_hash")?;
    let active: i64 = row.try_get("active")?;
    if !verify_password(password, &phc) || active == 0 {
        record_login(db, username, false).await?;
        return Err(failed());
    }
    let user = user_from_row(&row)?;
    if let Some(old) = previous_token {
        end_session(db, old).await?;
    }
    let token = random_token();
    let csrf = random_token();
    let now = crate::clock::now().unix;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf, created_unix, seen_unix) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user.id)
    .bind(&csrf)
    .bind(now)
    .bind(now)
    .execute(&db.pool)
    .await?;
    record_login(db, username, true).await?;
    Ok((token, Session { user, csrf }))
}

/// A fixed Argon2id hash of a random password, checked when the user name is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Vh1lJb9SXmL8n0vS7zXuD2aSaGyjRB6QhXzGAUBuIk";

async fn record_login(db: &Db, username: &str, ok: bool) -> ServerResult<()> {
    let mut tx = db.begin_write().await?;
    audit::append(
        db,
        &mut tx,
        audit::Entry {
            actor: username,
            action: if ok { "login" } else { "login_failed" },
            entity: &format!("user:{username}"),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a session.
pub async fn end_session(db: &Db, token: &str) -> ServerResult<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The session of a token, if it is live; expired sessions are deleted.
pub async fn session(db: &Db, token: &str, cfg: &SecurityConfig) -> ServerResult<Option<Session>> {
    let th = token_hash(token);
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, u.active, x.csrf, x.created_unix, x.seen_unix FROM sessions x \
         JOIN users u ON u.id = x.user_id LEFT JOIN sites s ON s.id = u.site_id \
         WHERE x.token_hash = $1"
    ))
    .bind(&th)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = crate::clock::now().unix;
    let created: i64 = row.try_get("created_unix")?;
    let seen: i64 = row.try_get("seen_unix")?;
    let active: i64 = row.try_get("active")?;
    if active == 0
        || now - seen > cfg.idle_timeout.as_secs() as i64
        || now - created > cfg.absolute_timeout.as_secs() as i64
    {
        end_session(db, token).await?;
        return Ok(None);
    }
    if now - seen >= 30 {
        sqlx::query("UPDATE sessions SET seen_unix = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(&th)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some(Session {
        user: user_from_row(&row)?,
        csrf: row.try_get("csrf")?,
    }))
}

/// Sliding-window counters keyed by action and subject.
#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Counts one attempt; refuses when `limit` attempts were already made within `window`.
    pub fn check(&self, key: &str, limit: usize, window: Duration) -> ServerResult<()> {
        let now = Instant::now();
        let mut map = self
            .hits
            .lock()
            .map_err(|_| ServerError::Config("rate limiter poisoned".into()))?;
        if map.len() > 100_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = map.entry(key.to_string()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= limit {
            return Err(ServerError::RateLimited(
                key.split(':').next().unwrap_or("requests").to_string(),
            ));
        }
        q.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(hash_password("short").is_err());
        // The dummy hash parses, so unknown users cost a real verification.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn rate_limit_window() {
        let rl = RateLimiter::default();
        for _ in 0..3 {
            rl.check("login:a", 3, Duration::from_secs(60)).unwrap();
        }
        assert!(matches!(
            rl.check("login:a", 3, Duration::from_secs(60)),
            Err(ServerError::RateLimited(_))
        ));
        rl.check("login:b", 3, Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
