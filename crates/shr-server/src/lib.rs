//! The REST + SSE API and the dashboard of Self-Healing Reserve (axum).
//!
//! Sits at the edge of the data flow, beside the CLI: it serves the *public* state (the attested
//! `isSolvent` boolean and its history, scenario steps with their timings, gas and transaction
//! hashes, dark-pool request statuses, incident statuses) to anyone, streams the same events over
//! SSE, and shows private figures (reserve ratios, deficits, fills) only on the operator route,
//! behind a bearer token. Scenario runs are persisted in `shr-store` with their private half
//! sealed at rest.
//!
//! The seams: a [`ScenarioRunner`] runs a named scenario and reports its steps as they complete
//! (the binary's real runner drives `shr-agent`'s scenarios on the embedded chain;
//! [`ScriptedRunner`] replays fixed steps in memory for tests), and [`reserve_feed`] drives the
//! DON over a real reserve series on a chain, publishing each round. The [`vaults::VaultDesk`]
//! runs the lending vaults (risk engine plans, atomic rebalances) on their own chain.

mod api;
mod assets;
mod error;
mod events;
pub mod privacy;
pub mod reserve_feed;
mod runner;
mod state;
pub mod vaults;

pub use api::{ApiDoc, openapi_document, router};
pub use error::{Error, Result};
pub use events::{Event, PublicStep, redact};
pub use runner::{ScenarioRunner, ScriptedRunner};
pub use state::{AppState, Attestation, ReserveView, RunView, ServerConfig};

/// Binds `addr` and serves [`router`] until `shutdown` resolves.
///
/// # Errors
/// [`Error::Bind`] when the address is taken, [`Error::Serve`] when the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}
