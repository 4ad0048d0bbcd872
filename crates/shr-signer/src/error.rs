//! Why a signer party refuses a transaction.

use alloy::primitives::{Address, FixedBytes, U256};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A policy refusal (the field and the value that broke the rule), or a threshold protocol
/// failure (naming the party).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Threshold parameters out of range.
    #[error("threshold {t} of {n} parties: expected 2 <= t <= n <= 255")]
    Parameters {
        /// Threshold.
        t: u8,
        /// Parties.
        n: u8,
    },
    /// A party index out of range, or a party not among the signers.
    #[error("party {party}: not a party of this protocol run")]
    Party {
        /// The index, 1-based.
        party: u8,
    },
    /// The protocol aborted (a check failed on a party's message).
    #[error("{protocol} aborted at party {party}{}: {reason}", ban.map(|b| format!(" (party {b} cheated: ban it)")).unwrap_or_default())]
    Abort {
        /// `key generation` or `signing`.
        protocol: &'static str,
        /// The party that aborted.
        party: u8,
        /// The counterparty whose message failed a check that only cheating fails.
        ban: Option<u8>,
        /// What failed.
        reason: dkls23_secp256k1::protocols::AbortReason,
    },
    /// A message could not be encoded.
    #[error("encoding a protocol message")]
    Encode(#[source] serde_json::Error),
    /// A message does not decode.
    #[error("round {round} message from party {from} does not decode")]
    Message {
        /// The sender.
        from: u8,
        /// The round.
        round: u8,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A party's message of a round did not arrive.
    #[error("round {round}: no message from party {from}")]
    Missing {
        /// The sender.
        from: u8,
        /// The round.
        round: u8,
    },
    /// Two messages of a round from one party.
    #[error("round {round}: two messages from party {from}")]
    Duplicate {
        /// The sender.
        from: u8,
        /// The round.
        round: u8,
    },
    /// An envelope whose sender is not the one its protocol message names.
    #[error("a message sent as party {from} names party {named} as its sender")]
    Spoofed {
        /// The envelope's sender.
        from: u8,
        /// The sender inside.
        named: u8,
    },
    /// A round called before the one it follows.
    #[error("round {round} called out of order")]
    OutOfOrder {
        /// The round.
        round: u8,
    },
    /// The transaction is for another chain.
    #[error("chain id {got}: the policy signs for chain {expected} only")]
    WrongChain {
        /// The policy's chain.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// A contract creation (no `to`).
    #[error("to: a contract creation is never signed for the treasury")]
    Create,
    /// A call to a contract the policy does not name.
    #[error("to {to}: not a token, router or spender of the policy")]
    UnknownTarget {
        /// The destination.
        to: Address,
    },
    /// A function the policy does not allow on that contract.
    #[error("to {to}: selector {selector} is not allowed there")]
    UnknownSelector {
        /// The destination.
        to: Address,
        /// The calldata's first four bytes (or fewer when shorter).
        selector: FixedBytes<4>,
    },
    /// Calldata that does not decode as the function its selector names.
    #[error("to {to}: calldata does not decode as {function}")]
    Decode {
        /// The destination.
        to: Address,
        /// The function's signature.
        function: &'static str,
        /// The decoding error.
        #[source]
        source: alloy::sol_types::Error,
    },
    /// An approval of a spender the policy does not name.
    #[error("approve spender {spender}: not a router or spender of the policy")]
    SpenderNotAllowed {
        /// The spender.
        spender: Address,
    },
    /// A swap or a native transfer paying out to an address the policy does not name.
    #[error("recipient {to}: not a recipient of the policy")]
    RecipientNotAllowed {
        /// The recipient.
        to: Address,
    },
    /// A swap paying with a token the policy sets no limit for.
    #[error("token {token}: the policy sets no daily limit for it, so nothing of it is spent")]
    NoLimit {
        /// The token (`Address::ZERO` for the native coin).
        token: Address,
    },
    /// The spend would pass the token's rolling 24-hour limit.
    #[error(
        "token {token}: spending {amount} on top of {spent} in the last 24 h passes the daily limit {limit} (base units)"
    )]
    OverDailyLimit {
        /// The token (`Address::ZERO` for the native coin).
        token: Address,
        /// Already spent in the window, base units.
        spent: U256,
        /// This transaction's spend, base units.
        amount: U256,
        /// The limit, base units.
        limit: U256,
    },
}
