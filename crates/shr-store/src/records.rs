//! Demo scenario runs and executed rebalances.

use sqlx::Row;

use crate::{Result, Store, q};

/// One scenario run: public steps in plain JSON, the private half sealed at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Run id (`<scenario>-<n>`).
    pub id: String,
    /// Scenario name (`small-deficit`, `large-deficit`, `darkpool-failure`).
    pub scenario: String,
    /// `running`, `passed`, `failed` or `error`.
    pub status: String,
    /// Start, unix milliseconds.
    pub started_at: u64,
    /// End, unix milliseconds (0 while running).
    pub finished_at: u64,
    /// The public view of the run (JSON text): step names, timings, gas, hashes, public fields.
    pub public_json: String,
    /// The private view (figures), sealed (HPKE: X25519 + ChaCha20-Poly1305) by the server's key.
    pub sealed_private: Vec<u8>,
}

/// One executed rebalance of a lending vault (all public on chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceRow {
    /// Event id (the transaction hash and the vault).
    pub id: String,
    /// Vault id.
    pub vault_id: String,
    /// Execution time, unix seconds (chain time).
    pub executed_at: u64,
    /// Transaction hash.
    pub tx: String,
    /// Gas used.
    pub gas: u64,
    /// Health factor before, wad decimal.
    pub hf_before_wad: String,
    /// Projected health factor, wad decimal.
    pub hf_projected_wad: String,
    /// Health factor read back from chain after execution, wad decimal.
    pub hf_onchain_after_wad: String,
}

fn run_row(r: sqlx::any::AnyRow) -> RunRow {
    RunRow {
        id: r.get(0),
        scenario: r.get(1),
        status: r.get(2),
        started_at: r.get::<i64, _>(3) as u64,
        finished_at: r.get::<i64, _>(4) as u64,
        public_json: r.get(5),
        sealed_private: r.get(6),
    }
}

const RUN_COLS: &str =
    "id, scenario, status, started_at, finished_at, public_json, sealed_private FROM scenario_runs";

impl Store {
    /// Inserts or replaces a scenario run.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn put_run(&self, r: &RunRow) -> Result<()> {
        sqlx::query("INSERT INTO scenario_runs (id, scenario, status, started_at, finished_at, public_json, sealed_private) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, public_json = excluded.public_json, sealed_private = excluded.sealed_private")
            .bind(&r.id)
            .bind(&r.scenario)
            .bind(&r.status)
            .bind(r.started_at as i64)
            .bind(r.finished_at as i64)
            .bind(&r.public_json)
            .bind(&r.sealed_private)
            .execute(&self.pool)
            .await
            .map_err(q("write scenario run"))?;
        Ok(())
    }

    /// The latest run of `scenario`.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn latest_run(&self, scenario: &str) -> Result<Option<RunRow>> {
        let sql = format!(
            "SELECT {RUN_COLS} WHERE scenario = $1 ORDER BY started_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scenario)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read scenario run"))?;
        Ok(row.map(run_row))
    }

    /// The last `limit` runs, newest first.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn runs(&self, limit: u32) -> Result<Vec<RunRow>> {
        let sql = format!("SELECT {RUN_COLS} ORDER BY started_at DESC, id DESC LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list scenario runs"))?;
        Ok(rows.into_iter().map(run_row).collect())
    }

    /// Records an executed rebalance (idempotent on `id`).
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn put_rebalance(&self, r: &RebalanceRow) -> Result<()> {
        sqlx::query("INSERT INTO rebalance_events (id, vault_id, executed_at, tx, gas, hf_before_wad, hf_projected_wad, hf_onchain_after_wad) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT(id) DO NOTHING")
            .bind(&r.id)
            .bind(&r.vault_id)
            .bind(r.executed_at as i64)
            .bind(&r.tx)
            .bind(r.gas as i64)
            .bind(&r.hf_before_wad)
            .bind(&r.hf_projected_wad)
            .bind(&r.hf_onchain_after_wad)
            .execute(&self.pool)
            .await
            .map_err(q("write rebalance event"))?;
        Ok(())
    }

    /// Every executed rebalance, oldest first.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn rebalances(&self) -> Result<Vec<RebalanceRow>> {
        let rows = sqlx::query("SELECT id, vault_id, executed_at, tx, gas, hf_before_wad, hf_projected_wad, hf_onchain_after_wad FROM rebalance_events ORDER BY executed_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(q("list rebalance events"))?;
        Ok(rows
            .into_iter()
            .map(|r| RebalanceRow {
                id: r.get(0),
                vault_id: r.get(1),
                executed_at: r.get::<i64, _>(2) as u64,
                tx: r.get(3),
                gas: r.get::<i64, _>(4) as u64,
                hf_before_wad: r.get(5),
                hf_projected_wad: r.get(6),
                hf_onchain_after_wad: r.get(7),
            })
            .collect())
    }
}
