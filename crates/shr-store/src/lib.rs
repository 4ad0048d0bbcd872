//! Persistence of Self-Healing Reserve (sqlx): a SQLite file by default, PostgreSQL when the
//! URL says `postgres://` (one migration set, portable SQL, through sqlx's `Any` driver).
//!
//! Holds what must survive a crash: the agent's log cursors, its incidents (public status in a
//! plain column, private state only as a sealed blob the agent's key opens), and the sealed
//! deficit notices the DON hands off to the agent; the demo server's scenario runs (public steps
//! in JSON, the private half sealed) and the vault desk's rebalance events (plan and execution). Amounts never sit
//! here in plaintext.

mod records;

pub use records::{RebalancePlanRow, RunRow};
use sqlx::{AnyPool, Row, any::AnyPoolOptions};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An invalid database URL.
    #[error("invalid database URL {url:?}")]
    Url {
        /// The URL.
        url: String,
        /// The parse error.
        #[source]
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("database query {what} failed")]
    Query {
        /// Which operation.
        what: &'static str,
        /// The database error.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// An incident row: public status, private state sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    /// Idempotency key: one per insolvent report (receiver and observation time).
    pub id: String,
    /// Observation time of the insolvent report, unix seconds.
    pub observed_at: u64,
    /// Public status (`detected`, `decided`, `swap_confirmed`, `restored`, `needs_dark_pool`, `failed`).
    pub status: String,
    /// The agent's private state, sealed at rest.
    pub sealed_state: Vec<u8>,
    /// Last update, unix seconds.
    pub updated_at: u64,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Query { what, source }
}

impl Store {
    /// Opens the database at `url` and runs the migrations: `sqlite:shr.db` (created if
    /// missing), `sqlite::memory:`, or `postgres://user@host:port/db` (PostgreSQL).
    ///
    /// # Errors
    /// [`Error::Url`] for another scheme, [`Error::Query`] when it cannot connect,
    /// [`Error::Migrate`].
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, connections) = if url.starts_with("sqlite:") {
            // One connection: SQLite serialises writers anyway; create the file if missing.
            let create = if url.contains("mode=") || url.contains(":memory:") {
                url.to_string()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (create, 1)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), 4)
        } else {
            return Err(Error::Url {
                url: url.to_string(),
                source: sqlx::Error::Configuration(
                    "expected sqlite:PATH or postgres://... (DATABASE_URL)".into(),
                ),
            });
        };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .connect(&url)
            .await
            .map_err(q("connect"))?;
        sqlx::migrate!("./migrations").run(&pool).await.map_err(Error::Migrate)?;
        Ok(Self { pool })
    }

    /// The next block of cursor `name`.
    pub async fn cursor(&self, name: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT next_block FROM cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read cursor"))?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Persists cursor `name` at `next_block`.
    pub async fn set_cursor(&self, name: &str, next_block: u64) -> Result<()> {
        sqlx::query("INSERT INTO cursors (name, next_block) VALUES ($1, $2) ON CONFLICT(name) DO UPDATE SET next_block = excluded.next_block")
            .bind(name)
            .bind(next_block as i64)
            .execute(&self.pool)
            .await
            .map_err(q("write cursor"))?;
        Ok(())
    }

    /// The incident `id`.
    pub async fn incident(&self, id: &str) -> Result<Option<IncidentRow>> {
        let row = sqlx::query(
            "SELECT id, observed_at, status, sealed_state, updated_at FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read incident"))?;
        Ok(row.map(|r| IncidentRow {
            id: r.get(0),
            observed_at: r.get::<i64, _>(1) as u64,
            status: r.get(2),
            sealed_state: r.get(3),
            updated_at: r.get::<i64, _>(4) as u64,
        }))
    }

    /// Inserts or replaces an incident.
    pub async fn put_incident(&self, i: &IncidentRow) -> Result<()> {
        sqlx::query("INSERT INTO incidents (id, observed_at, status, sealed_state, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT(id) DO UPDATE SET status = excluded.status, sealed_state = excluded.sealed_state, updated_at = excluded.updated_at")
            .bind(&i.id)
            .bind(i.observed_at as i64)
            .bind(&i.status)
            .bind(&i.sealed_state)
            .bind(i.updated_at as i64)
            .execute(&self.pool)
            .await
            .map_err(q("write incident"))?;
        Ok(())
    }

    /// Every incident, oldest first.
    pub async fn incidents(&self) -> Result<Vec<IncidentRow>> {
        let rows = sqlx::query("SELECT id, observed_at, status, sealed_state, updated_at FROM incidents ORDER BY observed_at")
            .fetch_all(&self.pool)
            .await
            .map_err(q("list incidents"))?;
        Ok(rows
            .into_iter()
            .map(|r| IncidentRow {
                id: r.get(0),
                observed_at: r.get::<i64, _>(1) as u64,
                status: r.get(2),
                sealed_state: r.get(3),
                updated_at: r.get::<i64, _>(4) as u64,
            })
            .collect())
    }

    /// Adds a DON node's sealed deficit notice for the report observed at `observed_at` (unix
    /// seconds). Append-only: a notice already there is kept, none is ever replaced.
    pub async fn put_sealed_deficit(&self, observed_at: u64, sealed: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO deficit_notices (observed_at, sealed) VALUES ($1, $2) ON CONFLICT(observed_at, sealed) DO NOTHING")
            .bind(observed_at as i64)
            .bind(sealed)
            .execute(&self.pool)
            .await
            .map_err(q("write sealed deficit"))?;
        Ok(())
    }

    /// Stores a sealed hand-off (`kind` e.g. `order` or `fill`, `key` a public identifier such
    /// as a request id); replaces an earlier one with the same kind and key.
    pub async fn put_sealed(&self, kind: &str, key: &str, sealed: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO sealed_messages (kind, key, sealed) VALUES ($1, $2, $3) ON CONFLICT(kind, key) DO UPDATE SET sealed = excluded.sealed")
            .bind(kind)
            .bind(key)
            .bind(sealed)
            .execute(&self.pool)
            .await
            .map_err(q("write sealed message"))?;
        Ok(())
    }

    /// The sealed hand-off of `kind` under `key`.
    pub async fn sealed(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT sealed FROM sealed_messages WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read sealed message"))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Every sealed hand-off of `kind`, as `(key, sealed)`, ordered by key (e.g. the makers'
    /// sealed commitments the matcher admits).
    pub async fn sealed_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let rows =
            sqlx::query("SELECT key, sealed FROM sealed_messages WHERE kind = $1 ORDER BY key")
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .map_err(q("list sealed messages"))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Removes the sealed hand-off of `kind` under `key` (no error when there is none).
    pub async fn delete_sealed(&self, kind: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sealed_messages WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(q("delete sealed message"))?;
        Ok(())
    }

    /// Every sealed deficit notice handed off for `observed_at` (unix seconds), in the order
    /// stored rows come back (no order is promised).
    pub async fn sealed_deficits(&self, observed_at: u64) -> Result<Vec<Vec<u8>>> {
        let rows = sqlx::query("SELECT sealed FROM deficit_notices WHERE observed_at = $1")
            .bind(observed_at as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read sealed deficits"))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("shr.db").display());
        {
            let s = Store::open(&url).await.unwrap();
            s.set_cursor("agent", 7).await.unwrap();
            s.put_incident(&IncidentRow {
                id: "a".into(),
                observed_at: 5,
                status: "detected".into(),
                sealed_state: vec![1, 2],
                updated_at: 6,
            })
            .await
            .unwrap();
            s.put_sealed_deficit(5, &[9]).await.unwrap();
        }
        let s = Store::open(&url).await.unwrap();
        assert_eq!(s.cursor("agent").await.unwrap(), Some(7));
        assert_eq!(s.incident("a").await.unwrap().unwrap().status, "detected");
        assert_eq!(s.sealed_deficits(5).await.unwrap(), vec![vec![9]]);
        s.put_sealed("order", "1", &[4]).await.unwrap();
        assert_eq!(s.sealed("order", "1").await.unwrap(), Some(vec![4]));
        assert_eq!(s.sealed("fill", "1").await.unwrap(), None);
        s.put_sealed("maker", "b", &[2]).await.unwrap();
        s.put_sealed("maker", "a", &[1]).await.unwrap();
        let all = s.sealed_all("maker").await.unwrap();
        assert_eq!(all, vec![("a".to_string(), vec![1]), ("b".to_string(), vec![2])]);
        s.delete_sealed("maker", "a").await.unwrap();
        assert_eq!(s.sealed_all("maker").await.unwrap().len(), 1);
        assert!(Store::open("nonsense://x").await.is_err());
    }
}
