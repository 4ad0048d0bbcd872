//! Errors of the dark pool.

use alloy::primitives::Address;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong matching, committing or settling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An order field is invalid.
    #[error("invalid order: {field} = {value}")]
    InvalidOrder {
        /// The field.
        field: &'static str,
        /// Its value and why it is refused.
        value: String,
    },
    /// Arithmetic overflow in `what`.
    #[error("overflow computing {0}")]
    Overflow(&'static str),
    /// A party's private balance is short.
    #[error(
        "{party} holds too little of {token} in the pool (the amounts are private: see the fields)"
    )]
    InsufficientBalance {
        /// The party.
        party: Address,
        /// The token.
        token: Address,
        /// Its balance, base units.
        have: u128,
        /// The amount asked, base units.
        want: u128,
    },
    /// A token the pool does not trade.
    #[error("token {0} is neither the pool's collateral nor its payment asset")]
    UnsupportedToken(Address),
    /// The Poseidon hasher refused its parameters.
    /// A proof could not be built (the witness breaks a rule of the circuit).
    #[error("validity proof")]
    Zk(#[from] shr_zk::Error),
    /// A sealed order or maker commitment did not open, or an enclave key operation failed.
    #[error("enclave")]
    Enclave(#[from] shr_enclave::Error),
    /// A sealed body does not parse.
    #[error("sealed body does not parse")]
    Body(#[source] serde_json::Error),
    /// The sealed order does not hash to the request's on-chain order commitment.
    #[error("request {request_id}: the sealed order is not the one the request committed to")]
    OrderMismatch {
        /// The request.
        request_id: u64,
    },
    /// The sealed order names another requester than the one who made the request.
    #[error("request {request_id}: the order names another requester")]
    RequesterMismatch {
        /// The request.
        request_id: u64,
    },
    /// The order was already used by a settlement.
    #[error("request {request_id}: the order was already used")]
    OrderReused {
        /// The request.
        request_id: u64,
    },
    /// The chain holds a commitment the enclave cannot open.
    #[error(
        "the pool's commitment (version {chain_version}) is neither the matcher's confirmed one \
         (version {local_version}) nor a staged one"
    )]
    Desynchronised {
        /// The chain's version.
        chain_version: u64,
        /// The enclave's confirmed version.
        local_version: u64,
    },
    /// A deposit log failed the enclave's checks.
    #[error("deposit log in block {block} refused: {why}")]
    DepositLog {
        /// Its block.
        block: u64,
        /// Which check failed.
        why: &'static str,
    },
    /// Sealed state or internal state inconsistent.
    #[error("matcher state: {0}")]
    StateMismatch(&'static str),
    /// No settlement is staged to confirm.
    #[error("nothing staged to confirm")]
    NothingStaged,
    /// The matcher is not bound to a pool yet.
    #[error("the matcher is not bound to a deployed pool")]
    Unbound,
    /// A contract call failed (reverts decoded).
    #[error("contract call")]
    Contract(#[source] Box<shr_contracts::Error>),
    /// The store failed.
    #[error("store")]
    Store(#[source] shr_store::Error),
    /// A chain call failed.
    #[error("chain")]
    Chain(#[from] shr_chain::Error),
}

impl From<shr_contracts::Error> for Error {
    fn from(e: shr_contracts::Error) -> Self {
        Self::Contract(Box::new(e))
    }
}
