//! The database: SQLite (embedded, the default) or PostgreSQL through the same queries
//! (sqlx's `Any` driver, `$N` placeholders, which both engines accept), versioned
//! migrations, and write transactions that serialize where they must.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::error::{ServerError, ServerResult};

/// Which engine a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and the engine behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Training mode (`evidentia serve --training`): dates after today are accepted with
    /// a warning instead of refused, so that a whole follow-up can be rehearsed (and
    /// tested) in one day. Every page shows a banner in this mode.
    pub training: bool,
}

/// A write transaction.
pub type Tx = Transaction<'static, Any>;

/// Turns `--db` into a connection URL: `postgres://` and `sqlite:` URLs pass through, a
/// plain path becomes a SQLite file created on first use.
pub fn database_url(db: &str) -> ServerResult<(String, Backend)> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        return Ok((db.to_string(), Backend::Postgres));
    }
    if db.starts_with("sqlite:") {
        return Ok((db.to_string(), Backend::Sqlite));
    }
    if db.is_empty() {
        return Err(ServerError::Config("--db is empty".into()));
    }
    if db.contains('?') || db.contains('#') {
        return Err(ServerError::Config(format!(
            "--db {db:?}: a SQLite path may not contain '?' or '#' (use a sqlite: URL)"
        )));
    }
    Ok((format!("sqlite://{db}?mode=rwc"), Backend::Sqlite))
}

/// One migration: a version, a name, and its SQL for each engine.
struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// The tables common to both engines; `{ID}` is the engine's auto-increment key.
const V1_TABLES: &str = include_str!("../migrations/0001_schema.sql");

const V1_AUDIT_SQLITE: &str = "
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END;
";

const V1_AUDIT_POSTGRES: &str = "
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP; END $f$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
";

fn migrations() -> Vec<Migration> {
    vec![Migration {
        version: 1,
        name: "schema and append-only audit trail",
        sqlite: V1_AUDIT_SQLITE,
        postgres: V1_AUDIT_POSTGRES,
    }]
}

impl Db {
    /// Connects (creating a SQLite file if needed) and applies pending migrations.
    pub async fn open(db: &str) -> ServerResult<Db> {
        sqlx::any::install_default_drivers();
        let (url, backend) = database_url(db)?;
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| ServerError::Config(format!("--db {db:?}: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Durable on kill and power loss; writers wait rather than fail.
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| ServerError::Config(format!("cannot open database {db:?}: {e}")))?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_all(&pool)
                .await?;
        }
        let db = Db {
            pool,
            backend,
            training: false,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Applies every migration newer than the database's version, each in one transaction.
    async fn migrate(&self) -> ServerResult<()> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
                 name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .await?;
        let mut tx = self.begin_write().await?;
        let current: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")
            .ok();
        let current = current.unwrap_or(0);
        let known = migrations();
        let newest = known.last().map(|m| m.version).unwrap_or(0);
        if current > newest {
            return Err(ServerError::Config(format!(
                "the database is at schema version {current}, newer than this program ({newest}); \
                 use a newer evidentia"
            )));
        }
        for m in known.into_iter().filter(|m| m.version > current) {
            let id = match self.backend {
                Backend::Sqlite => "INTEGER PRIMARY KEY",
                Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            };
            let mut sql = String::new();
            if m.version == 1 {
                sql.push_str(&V1_TABLES.replace("{ID}", id));
            }
            sql.push_str(match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            });
            sqlx::raw_sql(&sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(crate::clock::now().iso)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken at
    /// once, so two writers never interleave), a plain `BEGIN` on PostgreSQL, where the
    /// statements take row locks (`FOR UPDATE`) on what they serialize on.
    pub async fn begin_write(&self) -> ServerResult<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (whose write transactions are
    /// already exclusive).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The schema version.
    pub async fn schema_version(&self) -> ServerResult<i64> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v").unwrap_or(0))
    }
}

/// Reads a setting inside a transaction.
pub async fn get_setting(tx: &mut Tx, key: &str) -> ServerResult<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("value")?),
        None => None,
    })
}

/// Writes a setting inside a transaction.
pub async fn set_setting(tx: &mut Tx, key: &str, value: &str) -> ServerResult<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reads a setting outside a transaction.
pub async fn read_setting(db: &Db, key: &str) -> ServerResult<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("value")?),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            database_url("trial.db").unwrap(),
            ("sqlite://trial.db?mode=rwc".to_string(), Backend::Sqlite)
        );
        assert_eq!(
            database_url("postgres://u@h/db").unwrap().1,
            Backend::Postgres
        );
        assert!(database_url("").is_err());
        assert!(database_url("a?b").is_err());
    }
}
