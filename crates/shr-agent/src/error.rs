//! Errors of the recovery agent.

use alloy::primitives::U256;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong recovering a deficit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The treasury cannot pay the swap's maximum input. Its message carries the amounts
    /// (which bound the deficit): for the operator's private view only; public surfaces and
    /// logs show [`Error::code`].
    #[error("treasury holds {have} base units of the input asset, the swap may need up to {need}")]
    InsufficientTreasury {
        /// Balance, base units.
        have: U256,
        /// `amountInMax`, base units.
        need: U256,
    },
    /// The sealed deficit did not open or does not parse.
    #[error("sealed deficit notice does not open")]
    SealedDeficit(#[source] shr_enclave::Error),
    /// The opened notice is not a deficit notice.
    #[error("deficit notice does not parse")]
    Notice(#[source] serde_json::Error),
    /// A deficit notice's enclave signature does not recover.
    #[error("deficit notice signature does not recover")]
    NoticeSignature,
    /// Fewer than f+1 DON signers have handed off a valid notice for the report.
    #[error(
        "report observed at {observed_at}: {counted} valid signed deficit notices, {quorum} needed (f+1); {refused} refused (not opening, unsigned, not a DON signer, or another observation)"
    )]
    NoticeQuorum {
        /// The report's `observedAt`, unix seconds.
        observed_at: u64,
        /// Notices from distinct DON signers that counted.
        counted: usize,
        /// f+1.
        quorum: usize,
        /// Notices refused.
        refused: usize,
    },
    /// AMM math refused.
    #[error("AMM math")]
    Amm(#[from] shr_primitives::Error),
    /// A contract call failed (a slippage or deadline revert lands here, decoded).
    #[error("contract call")]
    Contract(#[source] Box<shr_contracts::Error>),
    /// The attestation workflow failed.
    #[error("attestation")]
    Oracle(#[source] Box<shr_oracle::Error>),
    /// The dark pool (matching, matcher enclave, pool contract) failed.
    #[error("dark pool")]
    DarkPool(#[source] Box<shr_darkpool::Error>),
    /// The risk engine refused to plan (infeasible target, unsavable position, ...).
    #[error("risk plan")]
    Risk(#[source] shr_risk::Error),
    /// The owner's key could not sign an authorisation.
    #[error("signing a Morpho authorisation")]
    Sign(#[source] alloy::signers::Error),
    /// No such lending vault.
    #[error("vault id {id}: no such vault (there are {count})")]
    UnknownVault {
        /// The id asked for.
        id: usize,
        /// How many vaults exist.
        count: usize,
    },
    /// The store failed.
    #[error("store")]
    Store(#[from] shr_store::Error),
    /// The sealed incident state at rest does not open.
    #[error("incident {0}: sealed state does not open")]
    IncidentState(String),
    /// The DON attested no shortfall (no sealed deficit notice was produced).
    #[error("the DON produced no sealed deficit notice for the shortfall")]
    NoNotice,
    /// A route with no pool.
    #[error("the swap route has no pool (path needs at least two tokens)")]
    EmptyRoute,
    /// No Uniswap V2 pair exists for a hop of the configured path.
    #[error("no Uniswap V2 pair for path hop {from} -> {to}")]
    NoPair {
        /// Asset paid into the hop.
        from: alloy::primitives::Address,
        /// Asset bought by the hop.
        to: alloy::primitives::Address,
    },
    /// A Chainlink price feed's answer the agent will not act on.
    #[error("price feed {feed}: {why}")]
    PriceFeed {
        /// The `AggregatorV3` feed.
        feed: alloy::primitives::Address,
        /// What does not hold (no amount of a private figure: feed answers are public).
        why: String,
    },
    /// An operator command that does not apply to the incident's state.
    #[error("incident {id} is {status}: {why}")]
    IncidentAction {
        /// The incident.
        id: String,
        /// Its public status.
        status: String,
        /// Why the action does not apply.
        why: &'static str,
    },
    /// An alert could not be delivered to the webhook.
    #[error("alert webhook")]
    Alert(#[source] reqwest::Error),
    /// The alert webhook answered with a status other than 2xx.
    #[error("alert webhook answered HTTP {0}")]
    AlertStatus(u16),
    /// The alert webhook URL is not an http(s) URL.
    #[error("alert webhook URL {0:?} is not an http(s) URL")]
    AlertUrl(String),
    /// No incident with this id.
    #[error("no incident {0}")]
    UnknownIncident(String),
    /// A crash injected by a test at `stage`.
    #[error("injected crash after {0}")]
    InjectedCrash(&'static str),
    /// A chain call failed.
    #[error("chain")]
    Chain(#[from] shr_chain::Error),
}

impl Error {
    /// A stable code naming what failed, never by how much: what public surfaces (API, SSE,
    /// stored public JSON) show in place of the message, whose amounts would reveal the deficit.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InsufficientTreasury { .. } => "insufficient_treasury",
            Self::SealedDeficit(_) => "sealed_deficit",
            Self::Notice(_) => "deficit_notice",
            Self::NoticeSignature => "notice_signature",
            Self::NoticeQuorum { .. } => "notice_quorum",
            Self::Amm(_) => "amm",
            Self::Contract(_) => "contract",
            Self::Oracle(_) => "oracle",
            Self::DarkPool(_) => "dark_pool",
            Self::Risk(_) => "risk",
            Self::Sign(_) => "sign",
            Self::UnknownVault { .. } => "unknown_vault",
            Self::Store(_) => "store",
            Self::IncidentState(_) => "incident_state",
            Self::NoNotice => "no_notice",
            Self::EmptyRoute => "empty_route",
            Self::NoPair { .. } => "no_pair",
            Self::InjectedCrash(_) => "injected_crash",
            Self::PriceFeed { .. } => "price_feed",
            Self::IncidentAction { .. } => "incident_action",
            Self::UnknownIncident(_) => "unknown_incident",
            Self::Alert(_) | Self::AlertUrl(_) | Self::AlertStatus(_) => "alert",
            Self::Chain(_) => "chain",
        }
    }
}

impl From<shr_contracts::Error> for Error {
    fn from(e: shr_contracts::Error) -> Self {
        Self::Contract(Box::new(e))
    }
}

impl From<shr_oracle::Error> for Error {
    fn from(e: shr_oracle::Error) -> Self {
        Self::Oracle(Box::new(e))
    }
}

impl From<shr_darkpool::Error> for Error {
    fn from(e: shr_darkpool::Error) -> Self {
        Self::DarkPool(Box::new(e))
    }
}
