//! Integration tests of `shr-agent`, one test binary (one link) for the whole crate.

mod darkpool;
mod darkpool_agent;
mod faults;
mod rebalance;
mod restart;
mod small_deficit;
mod support;
