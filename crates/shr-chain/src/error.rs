//! Errors of the chain backends.

use alloy::{
    primitives::{B256, Bytes},
    transports::{RpcError, TransportErrorKind},
};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Execution reverted; `data` is the raw revert data (ABI-encoded custom error,
    /// `Error(string)`, `Panic(uint256)`, or empty).
    #[error("execution reverted ({}){}", revert_summary(data), tx_hash.map(|h| format!(" in transaction {h}")).unwrap_or_default())]
    Reverted {
        /// Raw revert data.
        data: Bytes,
        /// The mined transaction, when the revert happened in one (not in a call or an estimate).
        tx_hash: Option<B256>,
        /// Gas used by the reverted transaction (0 for calls).
        gas_used: u64,
    },
    /// Execution halted (out of gas, invalid opcode, ...): all gas spent.
    #[error("execution halted: {reason}")]
    Halted {
        /// The EVM's halt reason.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
    /// The EVM refused the transaction before executing it (bad nonce, gas limit, balance).
    #[error("transaction rejected by the EVM")]
    Rejected(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sender is neither a dev account nor a configured signer.
    #[error(
        "unknown sender {0}: not a dev account of this chain and no signer is configured for it"
    )]
    UnknownSender(alloy::primitives::Address),
    /// A deployment's receipt names no contract address.
    #[error("transaction {0} created no contract")]
    NoContractAddress(B256),
    /// A snapshot id that was never taken or was already reverted to.
    #[error("unknown snapshot id {0}")]
    UnknownSnapshot(u64),
    /// A timestamp that does not move the chain forward.
    #[error("timestamp {requested} is not after the latest block's {latest}")]
    TimestampNotIncreasing {
        /// The requested timestamp, unix seconds.
        requested: u64,
        /// The latest block's timestamp, unix seconds.
        latest: u64,
    },
    /// The RPC endpoint did not answer after bounded retries.
    #[error("RPC endpoint {url} unreachable after {attempts} attempts")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// How many connection attempts were made.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// The signer of `from` did not sign (a threshold treasury below its threshold, a policy
    /// refusal, a remote signer down): the transaction never left this process.
    #[error("the signer of {from} did not sign the transaction: nothing was sent")]
    NotSigned {
        /// The sender.
        from: alloy::primitives::Address,
        /// The signer's error, as the provider reports it.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// An RPC request failed.
    #[error("RPC request {method} to {url} failed")]
    Rpc {
        /// The endpoint.
        url: String,
        /// The JSON-RPC method or provider operation.
        method: &'static str,
        /// The transport or node error.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// Waiting for a receipt failed.
    #[error("waiting for the receipt of a transaction sent to {url} failed")]
    PendingTransaction {
        /// The endpoint.
        url: String,
        /// The provider's error.
        #[source]
        source: alloy::providers::PendingTransactionError,
    },
    /// An invalid RPC URL.
    #[error("invalid RPC URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
}

/// What a [`TxSigner`](alloy::network::TxSigner) returns when it failed but a signature of the
/// transaction may exist anyway (a threshold signing session that started: a party may hold
/// the signature): `RpcChain::send` then reports an RPC failure, not [`Error::NotSigned`], so
/// the caller keeps treating the transaction as possibly sent.
#[derive(Debug, thiserror::Error)]
#[error("the signature may exist: {0}")]
pub struct MaybeSigned(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl Error {
    /// The raw revert data if this is a revert.
    pub fn revert_data(&self) -> Option<&Bytes> {
        match self {
            Self::Reverted { data, .. } => Some(data),
            _ => None,
        }
    }
}

fn revert_summary(data: &Bytes) -> String {
    match alloy::sol_types::decode_revert_reason(data) {
        Some(reason) => reason,
        None if data.is_empty() => "no data".to_string(),
        None => format!("data {data}"),
    }
}
