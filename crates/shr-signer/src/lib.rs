//! The treasury's signer parties (issue #17, "the MPC wallet"): the recovery agent's treasury
//! transactions are signed by parties that each hold a share of the key, and each party checks
//! a [`Policy`] before it takes part, so a compromised agent host cannot drain the treasury
//! through the signers.
//!
//! In the data flow this sits between the recovery agent (which builds the swap or dark-pool
//! transactions) and the chain: the agent asks through [`ThresholdSigner`] (an alloy
//! `TxSigner`), the parties check and sign. The pure core: the [`Policy`] (chain id,
//! destination and selector allow-list, swap recipients, a rolling per-day spend limit per
//! token) with its [`Ledger`], and the threshold protocol (DKLs23: t-of-n key generation
//! without a dealer, signing by any t parties, refresh keeping the address) as message-driven
//! state machines ([`Keygen`], [`Signing`], [`Refresh`]) that take time as an argument and do
//! no IO. At the edges: [`bus`] (NATS or in-process), [`wire`] (messages signed by each
//! party's enclave key, point-to-point payloads sealed to the receiver), [`ceremony`] (keygen
//! and refresh among online parties), [`serve`] (a party answering signing requests) and
//! [`store`] (a party's directory, sealed at rest by its simulated enclave).

pub mod bus;
pub mod ceremony;
mod client;
mod codec;
mod error;
mod mpc;
mod policy;
pub mod serve;
pub mod store;
pub mod wire;

pub use client::ThresholdSigner;
pub use error::{Error, Result};
pub use mpc::{Envelope, KeyShare, Keygen, Refresh, Signing};
pub use policy::{DAY_SECS, Ledger, Policy, Spend};
