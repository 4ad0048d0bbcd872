//! A server on a free loopback port over a fresh SQLite store.

use std::sync::Arc;

use shr_enclave::{Enclave, SimulatedTee};
use shr_server::{AppState, ScenarioRunner, ServerConfig};

/// A running server: its base URL, its store's directory (kept alive), its state.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) db: tempfile::TempDir,
    pub(crate) state: AppState,
}

/// The state over a fresh SQLite store, sealing with a fresh simulated enclave.
pub(crate) async fn state(
    cfg: ServerConfig,
    runner: impl ScenarioRunner,
) -> (AppState, tempfile::TempDir) {
    let db = tempfile::tempdir().unwrap();
    let store = shr_store::Store::open(&format!("sqlite:{}", db.path().join("shr.db").display()))
        .await
        .unwrap();
    let sealer = Enclave::launch(&SimulatedTee::new(), "shr-server/test").unwrap();
    (AppState::new(cfg, store, sealer, Arc::new(runner)), db)
}

/// Serves `state` on 127.0.0.1 at a free port.
pub(crate) async fn serve(state: AppState, db: tempfile::TempDir) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shr_server::serve(listener, state.clone(), std::future::pending()));
    Server { base, db, state }
}

/// Polls `GET /api/simulations/{id}` of the simulation `started` (a 202 body) until it is no
/// longer running (30 s at most); returns its final view.
pub(crate) async fn finished_simulation(
    c: &reqwest::Client,
    base: &str,
    started: &serde_json::Value,
) -> serde_json::Value {
    let id = started["simulationId"].as_str().expect("simulationId");
    for _ in 0..600 {
        let v: serde_json::Value = c
            .get(format!("{base}/api/simulations/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] != "running" {
            assert_eq!(v["status"], "done", "{v}");
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("simulation {id} still running after 30 s");
}
