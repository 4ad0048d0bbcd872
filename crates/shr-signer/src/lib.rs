//! The treasury's signer parties (issue #17, "the MPC wallet"): the recovery agent's treasury
//! transactions are signed by parties that each hold a share of the key, and each party checks
//! a [`Policy`] before it takes part, so a compromised agent host cannot drain the treasury
//! through the signers.
//!
//! In the data flow this sits between the recovery agent (which builds the swap or dark-pool
//! transactions) and the chain: the agent asks, the parties check and sign. What is here so far
//! is the pure core every party runs: the policy (chain id, destination and selector
//! allow-list, swap recipients, a rolling per-day spend limit per token) and its spend ledger.
//! Time is an argument (unix seconds); nothing here does IO.

mod error;
mod policy;

pub use error::{Error, Result};
pub use policy::{DAY_SECS, Ledger, Policy, Spend};
