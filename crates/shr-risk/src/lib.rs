//! The lending-vault risk engine of Self-Healing Reserve (pure: prices and time as arguments).
//!
//! It watches leveraged positions while prices fall ([`health_factor`], Aave's wad convention),
//! and before a position can be liquidated produces the plan that brings it back to target
//! ([`plan`]: the closed-form sell size with its guards, iterated against a price-impact model,
//! post-checked against a band). [`VaultBook`] holds a million positions as arrays and scans
//! them per price tick; [`crash`] drives the book through seeded random drops or replays of
//! real price history. Data flow: prices (oracle and DEX) -> this crate -> the executor (an
//! atomic on-chain rebalance, later) -> the API and dashboard.

mod book;
pub mod crash;
mod error;
mod hf;
mod plan;

pub use book::{ASSETS_N, Asset, VaultBook};
pub use error::{Error, Result};
pub use hf::{Position, WAD, health_factor, wad_decimal};
pub use plan::{Plan, PlanConfig, Prices, plan, sell_size};
