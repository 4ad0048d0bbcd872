//! Integration tests of `shr-server`, one test binary (one link) for the whole crate.

mod api;
mod observer;
mod reference;
mod support;
mod vaults;
