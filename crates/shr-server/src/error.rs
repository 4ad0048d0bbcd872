//! The server's errors.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// The store failed.
    #[error("store")]
    Store(#[from] shr_store::Error),
    /// Sealing or opening a private record failed.
    #[error("sealing a private record")]
    Seal(#[from] shr_enclave::Error),
    /// A chain or DON operation failed.
    #[error("oracle")]
    Oracle(#[from] shr_oracle::Error),
    /// A scenario failed with an error (not merely an unexpected outcome).
    #[error("scenario {name} failed")]
    Scenario {
        /// The scenario.
        name: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No such scenario.
    #[error("unknown scenario {name:?} (known: {known})")]
    UnknownScenario {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A scenario is already running (one runs at a time).
    #[error("scenario {running:?} is running; one scenario runs at a time")]
    Busy {
        /// The running scenario.
        running: String,
    },
    /// A lending-vault operation failed (unknown vault, unsavable position, a revert).
    #[error("vault desk")]
    Vault(#[source] Box<shr_agent::Error>),
    /// The vault asked for is above the trigger: nothing to rebalance.
    #[error(
        "vault {vault_id} is not breached (health factor {health_factor} >= trigger 1.15); POST /api/simulate first"
    )]
    NotBreached {
        /// The vault.
        vault_id: usize,
        /// Its HF, exact decimal.
        health_factor: String,
    },
    /// A plan's transaction reverted (deadline passed, authorisation already used, a swap over
    /// `amountInMaximum`): nothing changed; the event is `failed`.
    #[error(
        "the plan of rebalance event {event_id} reverted; nothing changed (POST /simulate or execute again to plan at the current prices)"
    )]
    PlanReverted {
        /// The event.
        event_id: String,
        /// The revert.
        #[source]
        source: Box<shr_agent::Error>,
    },
    /// The vault desk's thread is gone (it failed or the server is stopping).
    #[error("the vault desk is not running")]
    DeskGone,
    /// JSON encoding failed.
    #[error("JSON")]
    Json(#[from] serde_json::Error),
}
