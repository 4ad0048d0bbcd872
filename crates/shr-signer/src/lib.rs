//! The treasury's signer parties (issue #17, "the MPC wallet"): the recovery agent's treasury
//! transactions are signed by parties that each hold a share of the key, and each party checks
//! a [`Policy`] before it takes part, so a compromised agent host cannot drain the treasury
//! through the signers.
//!
//! In the data flow this sits between the recovery agent (which builds the swap or dark-pool
//! transactions) and the chain: the agent asks, the parties check and sign. What is here so far
//! is the pure core every party runs: the policy (chain id, destination and selector
//! allow-list, swap recipients, a rolling per-day spend limit per token) with its spend ledger,
//! and the threshold protocol (DKLs23: t-of-n key generation without a dealer, signing by any
//! t parties) as message-driven state machines. Time is an argument (unix seconds); nothing
//! here does IO. Not built yet: the party processes over NATS, shares sealed at rest, refresh,
//! the agent's `TxSigner` (issue #17).

mod error;
mod mpc;
mod policy;

pub use error::{Error, Result};
pub use mpc::{Envelope, KeyShare, Keygen, Signing};
pub use policy::{DAY_SECS, Ledger, Policy, Spend};
