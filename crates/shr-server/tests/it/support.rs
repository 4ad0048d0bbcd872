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
