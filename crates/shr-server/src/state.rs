//! The server's shared state: the public reserve view, scenario runs, the event bus.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use serde_json::{Value, json};
use shr_agent::{ScenarioReport, Step};
use shr_enclave::{Enclave, Sealed};
use shr_store::{IncidentRow, RunRow, Store};
use tokio::sync::broadcast;
use tracing::{info, warn};
use utoipa::ToSchema;

use crate::{Error, Event, PublicStep, Result, ScenarioRunner};

/// HPKE `info` of sealed run records.
const RUN_INFO: &str = "shr/server/run/v1";

/// Server configuration (the binary merges file, environment and flags into it).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Bearer token of the operator route; `None` disables the route.
    pub operator_token: Option<String>,
    /// Capacity of the SSE broadcast buffer, events (a client further behind skips events).
    pub event_buffer: usize,
    /// Default seed of `POST /api/simulate` (the `SEED` of the reference design).
    pub seed: u64,
    /// Default pause between crash-simulation ticks, ms; `None`: a random 2000-3000 ms
    /// (seeded), as the reference design paces them.
    pub tick_ms: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { operator_token: None, event_buffer: 4096, seed: 1, tick_ms: None }
    }
}

/// One accepted report, as anyone reading the chain sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attestation {
    /// `isSolvent`.
    pub is_solvent: bool,
    /// The report's observation time, unix seconds.
    pub observed_at: u64,
    /// Transmission transaction hash.
    pub tx: String,
    /// Gas used by the transmission.
    pub gas: u64,
}

/// The public attestation state of the live reserve feed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReserveView {
    /// `ReserveAttestation.isSolvent()` as read from chain (`None` before the first report).
    pub is_solvent: Option<bool>,
    /// `ReserveAttestation.lastUpdated()`, unix seconds.
    pub last_updated: u64,
    /// `ReserveAttestation.latestStatus().fresh` at the last round: whether the status was
    /// observed within the heartbeat + grace. A stale status means unknown, whatever
    /// `is_solvent` says (`None` before the first round).
    pub fresh: Option<bool>,
    /// The `ReserveAttestation` receiver address.
    pub receiver: String,
    /// The `KeystoneForwarder` address.
    pub forwarder: String,
    /// DON rounds run so far.
    pub rounds: u64,
    /// Readings in the series being replayed.
    pub series_readings: u64,
    /// Accepted reports so far.
    pub reports: u64,
    /// Accepted reports, oldest first (the public history; all of it unless a tail was asked).
    pub history: Vec<Attestation>,
}

/// A scenario run as the public sees it (also the stored public record of the run).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct RunView {
    /// Run id (`<scenario>-<unix ms>`, the start time made unique within the process).
    pub run_id: String,
    /// Scenario name.
    pub scenario: String,
    /// `running`, `passed`, `failed` (did not end as designed) or `error`.
    pub status: String,
    /// Start, unix milliseconds.
    pub started_at_ms: u64,
    /// End, unix milliseconds (0 while running).
    pub finished_at_ms: u64,
    /// `direct_swap`, `dark_pool` or `none` (once finished).
    pub mechanism: Option<String>,
    /// Whether `isSolvent = true` was restored (once finished).
    pub restored: Option<bool>,
    /// The final on-chain `isSolvent` (once finished).
    pub final_is_solvent: Option<bool>,
    /// Milliseconds from the first short reading to `isSolvent = true` (0 if never).
    pub time_to_heal_ms: Option<f64>,
    /// What stopped the run, if anything: a code and a fixed sentence, never the error's
    /// message (its amounts would reveal the deficit); the full chain is in the operator view.
    pub error: Option<String>,
    /// The steps so far.
    pub steps: Vec<PublicStep>,
}

/// What only the operator sees of a run.
#[derive(Debug, Clone, Default, Serialize)]
struct PrivateRun {
    why: String,
    steps: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

struct Inner {
    cfg: ServerConfig,
    store: Store,
    sealer: Enclave,
    runner: Arc<dyn ScenarioRunner>,
    events: broadcast::Sender<Event>,
    running: Mutex<Option<String>>,
    runs: RwLock<HashMap<String, (RunView, PrivateRun)>>,
    reserve: RwLock<ReserveView>,
    reserve_ratio: RwLock<Vec<(u64, f64)>>,
    vaults: OnceLock<crate::vaults::VaultDesk>,
    last_start_ms: Mutex<u64>,
}

/// Shared state of every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("running", &self.running()).finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Why a scenario could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    Unknown(Error),
    Busy(String),
}

impl AppState {
    /// State over `store`, sealing private records with `sealer`'s at-rest key.
    pub fn new(
        cfg: ServerConfig,
        store: Store,
        sealer: Enclave,
        runner: Arc<dyn ScenarioRunner>,
    ) -> Self {
        let (events, _) = broadcast::channel(cfg.event_buffer.max(16));
        Self(Arc::new(Inner {
            cfg,
            store,
            sealer,
            runner,
            events,
            running: Mutex::new(None),
            runs: RwLock::new(HashMap::new()),
            reserve: RwLock::new(ReserveView::default()),
            reserve_ratio: RwLock::new(Vec::new()),
            vaults: OnceLock::new(),
            last_start_ms: Mutex::new(0),
        }))
    }

    /// Publishes `event` to every SSE client (dropped when nobody listens).
    pub fn publish(&self, event: Event) {
        let _ = self.0.events.send(event);
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.events.subscribe()
    }

    /// Attaches the vault desk (the `/api/vaults`, `/api/simulate`, `/api/execute` routes);
    /// a second call is ignored.
    pub fn set_vault_desk(&self, desk: crate::vaults::VaultDesk) {
        let _ = self.0.vaults.set(desk);
    }

    pub(crate) fn vault_desk(&self) -> Option<&crate::vaults::VaultDesk> {
        self.0.vaults.get()
    }

    /// How many SSE clients (event receivers) are subscribed now.
    pub fn subscribers(&self) -> usize {
        self.0.events.receiver_count()
    }

    /// Updates the public reserve view.
    pub fn update_reserve(&self, f: impl FnOnce(&mut ReserveView)) {
        f(&mut self.0.reserve.write().expect("reserve lock"));
    }

    /// The public reserve view.
    pub fn reserve(&self) -> ReserveView {
        self.reserve_tail(None)
    }

    /// The public reserve view with only the last `history` reports (all when `None`).
    pub fn reserve_tail(&self, history: Option<usize>) -> ReserveView {
        let v = self.0.reserve.read().expect("reserve lock");
        let skip = history.map_or(0, |n| v.history.len().saturating_sub(n));
        ReserveView {
            is_solvent: v.is_solvent,
            last_updated: v.last_updated,
            fresh: v.fresh,
            receiver: v.receiver.clone(),
            forwarder: v.forwarder.clone(),
            rounds: v.rounds,
            series_readings: v.series_readings,
            reports: v.history.len() as u64,
            history: v.history[skip..].to_vec(),
        }
    }

    /// Sets the operator's reserve-ratio series: `(observed_at, reserves / supply)`.
    pub fn set_reserve_ratio(&self, series: Vec<(u64, f64)>) {
        *self.0.reserve_ratio.write().expect("ratio lock") = series;
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.0.cfg
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }

    /// The scenario names.
    pub fn scenario_names(&self) -> Vec<String> {
        self.0.runner.names()
    }

    /// The scenario running now, if any.
    pub fn running(&self) -> Option<String> {
        self.0.running.lock().expect("running lock").clone()
    }

    /// The latest run of `scenario` this process saw, else the latest stored one.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Json`].
    pub async fn latest_run(&self, scenario: &str) -> Result<Option<RunView>> {
        if let Some((v, _)) = self.0.runs.read().expect("runs lock").get(scenario) {
            return Ok(Some(v.clone()));
        }
        match self.0.store.latest_run(scenario).await? {
            Some(row) => Ok(Some(serde_json::from_str(&row.public_json)?)),
            None => Ok(None),
        }
    }

    /// The run with id `run_id`: the running one as this process sees it, else the stored one.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Json`].
    pub async fn run(&self, run_id: &str) -> Result<Option<RunView>> {
        let live = self
            .0
            .runs
            .read()
            .expect("runs lock")
            .values()
            .find(|(v, _)| v.run_id == run_id)
            .map(|(v, _)| v.clone());
        if live.is_some() {
            return Ok(live);
        }
        match self.0.store.run(run_id).await? {
            Some(row) => Ok(Some(serde_json::from_str(&row.public_json)?)),
            None => Ok(None),
        }
    }

    /// The last `limit` finished runs from the store and the running one, newest first.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Json`].
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunView>> {
        let mut out = Vec::new();
        if let Some(name) = self.running()
            && let Some((v, _)) = self.0.runs.read().expect("runs lock").get(&name)
        {
            out.push(v.clone());
        }
        for row in self.0.store.runs(limit).await? {
            out.push(serde_json::from_str(&row.public_json)?);
        }
        Ok(out)
    }

    /// The operator's decrypted view: the reserve-ratio series (downsampled to at most
    /// `max_points`) and each known run's private figures, opened from the store's sealed rows.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Seal`], [`Error::Json`].
    pub async fn operator_view(&self, max_points: usize) -> Result<Value> {
        let ratio = self.0.reserve_ratio.read().expect("ratio lock").clone();
        let step = ratio.len().div_ceil(max_points.max(1)).max(1);
        let ratio: Vec<_> = ratio.iter().step_by(step).copied().collect();
        let mut runs = Vec::new();
        for row in self.0.store.runs(20).await? {
            let plain =
                self.0.sealer.open_at_rest(RUN_INFO, &Sealed(row.sealed_private.clone()))?;
            let p: Value = serde_json::from_slice(&plain)?;
            runs.push(json!({ "run_id": row.id, "scenario": row.scenario, "status": row.status, "private": p }));
        }
        if let Some(name) = self.running()
            && let Some((v, p)) = self.0.runs.read().expect("runs lock").get(&name)
        {
            runs.insert(
                0,
                json!({ "run_id": v.run_id, "scenario": name, "status": v.status, "private": p }),
            );
        }
        Ok(json!({ "reserve_ratio": ratio, "runs": runs }))
    }

    /// Starts scenario `name` on a blocking thread; returns its run id. Steps and the finish
    /// arrive as [`Event`]s; the run is then persisted.
    ///
    /// # Errors
    /// [`Error::UnknownScenario`], or [`Error::Busy`] while another scenario runs.
    pub fn start_scenario(&self, name: &str) -> Result<String> {
        self.start(name).map_err(|e| match e {
            StartError::Unknown(e) => e,
            StartError::Busy(running) => Error::Busy { running },
        })
    }

    /// Starts `name` on a blocking thread; returns its run id.
    pub(crate) fn start(&self, name: &str) -> Result<String, StartError> {
        let names = self.scenario_names();
        if !names.iter().any(|n| n == name) {
            return Err(StartError::Unknown(Error::UnknownScenario {
                name: name.into(),
                known: names.join(", "),
            }));
        }
        {
            let mut running = self.0.running.lock().expect("running lock");
            if let Some(r) = running.as_ref() {
                return Err(StartError::Busy(r.clone()));
            }
            *running = Some(name.to_string());
        }
        // Never the same id twice, even for two runs started within one millisecond.
        let started = now_ms();
        let started = {
            let mut last = self.0.last_start_ms.lock().expect("start lock");
            *last = started.max(*last + 1);
            *last
        };
        let run_id = format!("{name}-{started}");
        let view = RunView {
            run_id: run_id.clone(),
            scenario: name.into(),
            status: "running".into(),
            started_at_ms: started,
            finished_at_ms: 0,
            mechanism: None,
            restored: None,
            final_is_solvent: None,
            time_to_heal_ms: None,
            error: None,
            steps: vec![],
        };
        self.0.runs.write().expect("runs lock").insert(name.into(), (view, PrivateRun::default()));
        self.publish(Event::ScenarioStarted { run_id: run_id.clone(), scenario: name.into() });
        info!(target: "shr::server", %run_id, "scenario started");
        let (state, name, id) = (self.clone(), name.to_string(), run_id.clone());
        tokio::spawn(async move {
            let (s2, n2, i2) = (state.clone(), name.clone(), id.clone());
            let result = tokio::task::spawn_blocking(move || {
                let on_step = |step: &Step| s2.on_step(&n2, &i2, step);
                s2.0.runner.run(&n2, &on_step)
            })
            .await;
            let result = match result {
                Ok(r) => r,
                Err(join) => Err(join.to_string().into()),
            };
            if let Err(e) = state.finish(&name, &id, result).await {
                warn!(target: "shr::server", run_id = %id, error = ?e, "could not record the run");
            }
            *state.0.running.lock().expect("running lock") = None;
        });
        Ok(run_id)
    }

    fn on_step(&self, name: &str, run_id: &str, step: &Step) {
        let public = PublicStep::of(step);
        let index = {
            let mut runs = self.0.runs.write().expect("runs lock");
            let (v, p) = runs.get_mut(name).expect("run registered at start");
            v.steps.push(public.clone());
            p.steps.push(json!({ "name": step.name, "private": step.private }));
            v.steps.len() - 1
        };
        self.publish(Event::Step {
            run_id: run_id.into(),
            scenario: name.into(),
            index,
            step: public,
        });
        if let Some(e) = Event::implied_by(run_id, step) {
            self.publish(e);
        }
    }

    async fn finish(
        &self,
        name: &str,
        run_id: &str,
        result: Result<ScenarioReport, Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<()> {
        let (view, private) = {
            let mut runs = self.0.runs.write().expect("runs lock");
            let (v, p) = runs.get_mut(name).expect("run registered at start");
            v.finished_at_ms = now_ms();
            match &result {
                Ok(r) => {
                    v.status = if r.as_expected() { "passed" } else { "failed" }.into();
                    v.mechanism = Some(r.mechanism.clone());
                    v.restored = Some(r.restored);
                    v.final_is_solvent = Some(r.final_is_solvent);
                    v.time_to_heal_ms = Some(r.time_to_heal_ms);
                    p.why = r.why.clone();
                }
                Err(e) => {
                    v.status = "error".into();
                    v.error = Some(public_error(e.as_ref()));
                    p.error = Some(error_chain(e.as_ref()));
                }
            }
            (v.clone(), p.clone())
        };
        let escalated = matches!(&result, Ok(r) if r.escalated);
        info!(target: "shr::server", %run_id, status = %view.status, "scenario finished");
        self.publish(Event::ScenarioFinished {
            run_id: run_id.into(),
            scenario: name.into(),
            status: view.status.clone(),
        });
        let sealed = self.0.sealer.seal_at_rest(RUN_INFO, &serde_json::to_vec(&private)?)?;
        let public_json = serde_json::to_string(&view)?;
        self.0
            .store
            .put_run(&RunRow {
                id: run_id.into(),
                scenario: name.into(),
                status: view.status.clone(),
                started_at: view.started_at_ms,
                finished_at: view.finished_at_ms,
                public_json,
                sealed_private: sealed.0.clone(),
            })
            .await?;
        // The run is also the agent's incident: public status, private state sealed.
        let status = match (&view.status[..], view.restored) {
            ("error", _) => "error",
            (_, Some(true)) => "restored",
            _ if escalated => "escalated",
            _ => "open",
        };
        self.0
            .store
            .put_incident(&IncidentRow {
                id: run_id.into(),
                observed_at: view.started_at_ms / 1000,
                status: status.into(),
                sealed_state: sealed.0,
                updated_at: view.finished_at_ms / 1000,
            })
            .await?;
        Ok(())
    }
}

/// What the public sees of a run's error: the agent's error code, or `internal`.
fn public_error(e: &(dyn std::error::Error + 'static)) -> String {
    let code = e.downcast_ref::<shr_agent::Error>().map_or("internal", shr_agent::Error::code);
    format!("{code}: the scenario stopped; the operator view has the cause")
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
