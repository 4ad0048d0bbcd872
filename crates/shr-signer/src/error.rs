//! Why a signer party refuses a transaction.

use alloy::primitives::{Address, FixedBytes, U256};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The reason without amounts, for the bus and the logs: an over-limit refusal names the
    /// token and the rule, not the payment (whose size derives from the private deficit).
    pub fn redacted(&self) -> String {
        match self {
            Self::OverDailyLimit { token, .. } => {
                format!("token {token}: the payment passes the daily limit")
            }
            e => e.to_string(),
        }
    }
}

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
    Encode(#[source] ciborium::ser::Error<std::io::Error>),
    /// A message does not decode.
    #[error("round {round} message from party {from} does not decode")]
    Message {
        /// The sender.
        from: u8,
        /// The round.
        round: u8,
        /// The decoding error.
        #[source]
        source: ciborium::de::Error<std::io::Error>,
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
    /// A swap route the policy does not name.
    #[error("swap path {path:?}: not a route of the policy")]
    PathNotAllowed {
        /// The route.
        path: Vec<Address>,
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
    /// The message bus failed.
    #[error("{what}")]
    Bus {
        /// What was being done (subject, URL).
        what: String,
        /// The bus's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Bytes on the bus that are not a signer message.
    #[error("not a signer message")]
    Frame(#[source] ciborium::de::Error<std::io::Error>),
    /// A party file (share, ledger, group) that does not encode or parse.
    #[error("{what}: not the expected JSON")]
    Json {
        /// The file.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A message whose signature is not its party's key (tampered, or sent by someone else).
    #[error("{}: signature does not verify with the party's key (tampered or forged)", party.map(|p| format!("message claiming party {p}")).unwrap_or_else(|| "message".into()))]
    BadSignature {
        /// The party the message claims to come from.
        party: Option<u8>,
    },
    /// The enclave failed (sealing, opening, signing).
    #[error("enclave")]
    Enclave(#[source] shr_enclave::Error),
    /// A point-to-point payload that does not open for this party.
    #[error("party {from}: a sealed payload does not open for this party, session and round")]
    Sealed {
        /// The sender.
        from: u8,
        /// The HPKE error.
        #[source]
        source: shr_enclave::Error,
    },
    /// A group name that cannot be a subject token.
    #[error("group {group:?}: expected letters, digits, '-' or '_'")]
    Group {
        /// The name.
        group: String,
    },
    /// A party's enclave quote does not verify.
    #[error("party {party}: its enclave quote does not verify (another platform or program?)")]
    Quote {
        /// The party.
        party: u8,
        /// Why.
        #[source]
        source: shr_enclave::Error,
    },
    /// Keys that are not the named party's in the key's roster.
    #[error("party {party}: keys of {signer} are not this key's party {party}")]
    NotMember {
        /// The party index claimed.
        party: u8,
        /// The enclave key that claimed it.
        signer: Address,
    },
    /// A hello stamped too far from this party's clock (a replay of another run).
    #[error(
        "party {party}: hello of {at}, this party's clock says {now}: a replay or a clock off by minutes"
    )]
    StaleHello {
        /// The party.
        party: u8,
        /// The hello's time, unix seconds.
        at: u64,
        /// This party's time.
        now: u64,
    },
    /// A party restarted in the middle of a run.
    #[error("party {party} restarted during the run: start every party again")]
    Restarted {
        /// The party.
        party: u8,
    },
    /// A party confirmed another address.
    #[error("party {party} ended with address {address}, this party with {ours}")]
    Disagree {
        /// The party.
        party: u8,
        /// Its address.
        address: Address,
        /// Ours.
        ours: Address,
    },
    /// A step did not complete in time.
    #[error("{step}: timed out waiting for parties {missing:?}")]
    Timeout {
        /// `presence`, `keygen`, `refresh` or `signing`.
        step: &'static str,
        /// The parties not heard from.
        missing: Vec<u8>,
    },
    /// The bus closed the subscription.
    #[error("the message bus closed the subscription")]
    Closed,
    /// A signing session started and returned no signature: one may exist all the same.
    #[error("the signing session started but returned no signature (one may exist)")]
    SessionFailed {
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// Signers of a started session reported failures instead of a signature.
    #[error("signers failed: {}", reasons.iter().map(|(p, r)| format!("party {p}: {r}")).collect::<Vec<_>>().join("; "))]
    SignersFailed {
        /// Each signer's reason.
        reasons: Vec<(u8, String)>,
    },
    /// A party refused to sign.
    #[error("party {party} refused to sign: {reason}")]
    Refused {
        /// The party.
        party: u8,
        /// Its reason.
        reason: String,
    },
    /// Fewer than `t` parties answered: the treasury cannot sign.
    #[error(
        "only parties {ready:?} answered, {t} needed (no answer from {missing:?}): the treasury cannot sign"
    )]
    BelowThreshold {
        /// Parties that said ready.
        ready: Vec<u8>,
        /// Threshold.
        t: u8,
        /// Parties that did not.
        missing: Vec<u8>,
    },
    /// The bytes to sign are not an EIP-1559 transaction.
    #[error(
        "unsigned transaction: type byte {first:?}, expected 0x02 (EIP-1559) and nothing after its fields"
    )]
    NotEip1559 {
        /// The first byte.
        first: Option<u8>,
    },
    /// The transaction's RLP does not decode.
    #[error("unsigned transaction: RLP does not decode")]
    Rlp(#[source] alloy::rlp::Error),
    /// The parties' signature does not recover to the treasury.
    #[error("the signature recovers to {recovered:?}, not the treasury {expected}")]
    WrongSignature {
        /// The treasury.
        expected: Address,
        /// What it recovers to.
        recovered: Option<Address>,
    },
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}
