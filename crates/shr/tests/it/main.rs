//! Integration tests of `shr`, one test binary (one link) for the whole crate.

mod agent_cli;
mod cli;
mod demo;
mod deploy_cli;
mod don_bench;
mod don_harness;
mod don_nodes;
mod observer;
mod recovery_harness;
mod recovery_service;
mod risk_reference;
mod signer;
