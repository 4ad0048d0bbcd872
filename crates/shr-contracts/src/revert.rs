//! Decoding revert data through every ABI this crate knows.

use alloy::{
    primitives::{Bytes, U256},
    sol_types::{Panic, Revert as RevertString, SolError, SolInterface},
};

use crate::bindings::{
    CREDarkPool, FeedPairOracle, KeystoneForwarder, RebalanceAdapter, ReserveAttestation,
    ReserveFeed, TestToken,
};

/// A decoded revert.
///
/// Custom errors are tried against each contract's ABI in turn; the first whose selector matches
/// wins (OpenZeppelin errors shared by several contracts decode as the first one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// A `KeystoneForwarder` custom error (`InvalidSignatureCount`, `InvalidSigner`, ...).
    KeystoneForwarder(KeystoneForwarder::KeystoneForwarderErrors),
    /// A `ReserveAttestation` custom error (`InvalidSender`, `InvalidWorkflowId`, ...).
    ReserveAttestation(ReserveAttestation::ReserveAttestationErrors),
    /// A `TestToken` custom error (OpenZeppelin ERC-20 and access-control errors).
    TestToken(TestToken::TestTokenErrors),
    /// A `ReserveFeed` custom error.
    ReserveFeed(ReserveFeed::ReserveFeedErrors),
    /// A `CREDarkPool` custom error (`UnregisteredMatcher`, `StaleCommitment`, `Expired`, ...,
    /// and OpenZeppelin's `ReentrancyGuardReentrantCall`).
    CREDarkPool(CREDarkPool::CREDarkPoolErrors),
    /// A `RebalanceAdapter` custom error (`UnexpectedCallback`, `JobMismatch`, `BadPath`, ...).
    RebalanceAdapter(RebalanceAdapter::RebalanceAdapterErrors),
    /// A `FeedPairOracle` custom error (`StalePrice`, `BadAnswer`).
    FeedPairOracle(FeedPairOracle::FeedPairOracleErrors),
    /// `Error(string)` (Uniswap V2 and Morpho Blue use these): a `require` message (Uniswap V2 uses these).
    Message(String),
    /// `Panic(uint256)`: an assertion, arithmetic overflow, ...
    Panic(U256),
    /// Nothing we know; the raw data.
    Unknown(Bytes),
}

impl Revert {
    /// Decodes raw revert data.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = KeystoneForwarder::KeystoneForwarderErrors::abi_decode(data) {
            return Self::KeystoneForwarder(e);
        }
        if let Ok(e) = ReserveAttestation::ReserveAttestationErrors::abi_decode(data) {
            return Self::ReserveAttestation(e);
        }
        if let Ok(e) = TestToken::TestTokenErrors::abi_decode(data) {
            return Self::TestToken(e);
        }
        if let Ok(e) = ReserveFeed::ReserveFeedErrors::abi_decode(data) {
            return Self::ReserveFeed(e);
        }
        if let Ok(e) = CREDarkPool::CREDarkPoolErrors::abi_decode(data) {
            return Self::CREDarkPool(e);
        }
        if let Ok(e) = RebalanceAdapter::RebalanceAdapterErrors::abi_decode(data) {
            return Self::RebalanceAdapter(e);
        }
        if let Ok(e) = FeedPairOracle::FeedPairOracleErrors::abi_decode(data) {
            return Self::FeedPairOracle(e);
        }
        if let Ok(r) = RevertString::abi_decode(data) {
            return Self::Message(r.reason);
        }
        if let Ok(p) = Panic::abi_decode(data) {
            return Self::Panic(p.code);
        }
        Self::Unknown(Bytes::copy_from_slice(data))
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KeystoneForwarder(e) => write!(f, "KeystoneForwarder::{e:?}"),
            Self::ReserveAttestation(e) => write!(f, "ReserveAttestation::{e:?}"),
            Self::TestToken(e) => write!(f, "TestToken::{e:?}"),
            Self::ReserveFeed(e) => write!(f, "ReserveFeed::{e:?}"),
            Self::CREDarkPool(e) => write!(f, "CREDarkPool::{e:?}"),
            Self::RebalanceAdapter(e) => write!(f, "RebalanceAdapter::{e:?}"),
            Self::FeedPairOracle(e) => write!(f, "FeedPairOracle::{e:?}"),
            Self::Message(m) => write!(f, "{m:?}"),
            Self::Panic(code) => write!(f, "panic 0x{code:x}"),
            Self::Unknown(data) if data.is_empty() => f.write_str("no revert data"),
            Self::Unknown(data) => write!(f, "unknown revert data {data}"),
        }
    }
}
