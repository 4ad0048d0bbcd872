//! Solidity bindings and deploy helpers for Self-Healing Reserve.
//!
//! `build.rs` builds every contract the chain runs with the pinned npm toolchain in `contracts/`:
//! ours (`contracts/src/*.sol`), Chainlink's real `KeystoneForwarder` (from `@chainlink/contracts`,
//! with Chainlink's keystone compiler settings), and Uniswap V2's factory, pair, Router02 and WETH9
//! (their shipped npm bytecode). [`bindings`] holds alloy `sol!` bindings generated from those
//! artifacts; [`deploy`] deploys them on any [`Chain`](shr_chain::Chain); [`Revert`] decodes a
//! revert through every ABI we know, so a failed transaction names its custom error.
//!
//! In the data flow this crate sits between the chain backends (`shr-chain`) and every actor that
//! sends transactions (the DON's transmitter, the recovery agent, the matcher, the risk engine).

pub mod anvil;
pub mod bindings;
pub mod deploy;
mod error;
mod revert;
mod tx;

pub use error::{Error, Result};
pub use revert::Revert;
pub use tx::{send, view};

/// Where the npm toolchain lives (`contracts/` of this workspace), as seen at build time.
pub const CONTRACTS_DIR: &str = env!("SHR_CONTRACTS_DIR");

/// Path of the anvil binary installed by the npm package `@foundry-rs/anvil` (linux x86-64).
pub fn anvil_path() -> std::path::PathBuf {
    std::path::Path::new(CONTRACTS_DIR).join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}
