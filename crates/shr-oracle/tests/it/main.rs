//! Integration tests of `shr-oracle`, one test binary (one link) for the whole crate.

mod don;
mod gas;
mod privacy;
mod receiver;
mod same_reports;
mod series;
mod service;
