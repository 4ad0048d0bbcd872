//! The recovery agent of Self-Healing Reserve (first part: strategy and the direct swap).
//!
//! When `ReserveAttestation` turns `false`, the agent opens the deficit notices the DON's nodes
//! sealed to its HPKE key and signed, and acts on f+1 of them ([`agreed_deficit`]), decides how to restore it ([`choose`]: a direct
//! exact-output swap on the real Uniswap V2 pool only when the deficit's price impact and USD
//! value are under the configured bounds, otherwise the dark pool), and executes the swap with a
//! slippage bound and a deadline, sending the collateral to `ReserveVault` ([`execute_swap`]),
//! whose balance the next attestation round counts as reserves.

mod agent;
mod alert;
mod bundle;
mod darkpool_route;
mod darkpool_scenario;
mod error;
mod executor;
pub mod lending;
mod notice;
mod price;
mod rebalance;
mod scenario;
mod strategy;
pub mod world;

pub use agent::{Agent, AgentConfig, DarkPoolConfig, IncidentSummary, RetryPolicy};
pub use alert::{Alert, AlertKind, AlertSink, MemoryAlerts, WebhookAlerts, raise};
pub use bundle::{BundleCall, RebalanceBundle, encode_plan, send_bundle};
pub use darkpool_route::{DarkPoolPolicy, request as request_collateral};
pub use darkpool_scenario::{DarkPoolScenarioConfig, MakerSpec, dark_pool, is_final};
pub use error::{Error, Result};
pub use executor::{SwapOutcome, execute_swap};
pub use notice::{DonSigners, agreed_deficit, open_deficit};
pub use price::{MAX_FUTURE_SECS, checked_price_usd_e8, feed_price_usd_e8};
pub use rebalance::{Executed, RebalanceTarget, execute_plan, sell_impact_bps, sign_authorization};
pub use scenario::{ScenarioReport, SmallDeficitConfig, Step, StepObserver, small_deficit};
pub use strategy::{
    Mechanism, RestoreTarget, Shortfall, StrategyConfig, SwapPlan, V2Pool, choose,
    largest_direct_swap, route_amount_in,
};
