//! Demo scenario runs and the vault desk's rebalance events.

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

/// One `RebalanceEvent` of the vault desk: the plan made at breach and, once there is one, its
/// execution (all public: every figure is on chain or derived from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalancePlanRow {
    /// Event id (`<simulation id>-<vault id>`, or `exec-<ms>-<instance>-<n>-<vault id>` for a
    /// plan made at execute).
    pub id: String,
    /// The vault's reference id (`VAULT-B-WEETH-BETH`).
    pub vault_id: String,
    /// The simulation that made the plan (empty for a plan made at execute).
    pub simulation_id: String,
    /// `planned`, `executed`, `failed`, `superseded`, `infeasible` or `abandoned` (left
    /// `planned` by an earlier process).
    pub status: String,
    /// When the plan was made, unix milliseconds.
    pub planned_at: u64,
    /// Last change, unix milliseconds.
    pub updated_at: u64,
    /// The event as the API serves it (JSON text).
    pub event_json: String,
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

    /// The run with id `id` (a run id as `POST /api/scenarios/{name}` answers it).
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLS} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
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

    /// Records a new rebalance event (idempotent on `id`: a second write of the same id is
    /// ignored, the first one stands).
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn put_rebalance_plan(&self, r: &RebalancePlanRow) -> Result<()> {
        sqlx::query("INSERT INTO rebalance_plans (id, vault_id, simulation_id, status, planned_at, updated_at, event_json) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO NOTHING")
            .bind(&r.id)
            .bind(&r.vault_id)
            .bind(&r.simulation_id)
            .bind(&r.status)
            .bind(r.planned_at as i64)
            .bind(r.updated_at as i64)
            .bind(&r.event_json)
            .execute(&self.pool)
            .await
            .map_err(q("write rebalance plan"))?;
        Ok(())
    }

    /// Moves event `id` from status `from` to `to` with its new JSON; `false` (and nothing
    /// written) when the event is not in status `from` (already executed, failed, unknown).
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn update_rebalance_plan(
        &self,
        id: &str,
        from: &str,
        to: &str,
        updated_at: u64,
        event_json: &str,
    ) -> Result<bool> {
        let r = sqlx::query("UPDATE rebalance_plans SET status = $1, updated_at = $2, event_json = $3 WHERE id = $4 AND status = $5")
            .bind(to)
            .bind(updated_at as i64)
            .bind(event_json)
            .bind(id)
            .bind(from)
            .execute(&self.pool)
            .await
            .map_err(q("update rebalance plan"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Moves every `planned` event to `abandoned` (a new process: the plans were made on an
    /// earlier process's chain); the number moved.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn abandon_planned_rebalances(&self, updated_at: u64) -> Result<u64> {
        let r = sqlx::query("UPDATE rebalance_plans SET status = 'abandoned', updated_at = $1 WHERE status = 'planned'")
            .bind(updated_at as i64)
            .execute(&self.pool)
            .await
            .map_err(q("abandon rebalance plans"))?;
        Ok(r.rows_affected())
    }

    /// The last `limit` rebalance events, oldest plan first.
    ///
    /// # Errors
    /// [`crate::Error::Query`].
    pub async fn rebalance_plans(&self, limit: u32) -> Result<Vec<RebalancePlanRow>> {
        let rows = sqlx::query("SELECT id, vault_id, simulation_id, status, planned_at, updated_at, event_json FROM (SELECT * FROM rebalance_plans ORDER BY planned_at DESC, id DESC LIMIT $1) AS tail ORDER BY planned_at, id")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list rebalance plans"))?;
        Ok(rows
            .into_iter()
            .map(|r| RebalancePlanRow {
                id: r.get(0),
                vault_id: r.get(1),
                simulation_id: r.get(2),
                status: r.get(3),
                planned_at: r.get::<i64, _>(4) as u64,
                updated_at: r.get::<i64, _>(5) as u64,
                event_json: r.get(6),
            })
            .collect())
    }
}
