//! The agent's dark-pool route: seal the order to the matcher, request, and the retry policy.
//!
//! Policy: the first request asks for the whole deficit (`min_fill` = the deficit: a partial
//! restore leaves the reserve insolvent) at `premium_bps` over the TWAP with a price band of
//! `band_bps` around it. If it expires unfilled, one retry widens both by `widen_bps`. If that
//! expires too, the agent escalates: an alert event (`shr::agent::alert`, error level) for the
//! operator, and the incident stays open; the public sees only the request statuses.

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_darkpool::{DarkPool, Order, OrderBody, seal_order};
use shr_enclave::{HpkePublicKey, Sealed};

use crate::Result;

/// Bounds of the dark-pool route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DarkPoolPolicy {
    /// Premium over the TWAP accepted on the first request, bps (default 30).
    pub premium_bps: u32,
    /// Price band around the TWAP, bps (default 100: asks up to TWAP + 1 %).
    pub band_bps: u32,
    /// How much the one retry widens premium and band, bps (default 50).
    pub widen_bps: u32,
    /// Request timeout, seconds (default 900).
    pub timeout_secs: u64,
}

impl Default for DarkPoolPolicy {
    fn default() -> Self {
        Self { premium_bps: 30, band_bps: 100, widen_bps: 50, timeout_secs: 900 }
    }
}

impl DarkPoolPolicy {
    /// The order for attempt `attempt` (0, then 1 for the widened retry) buying `size` (the
    /// restore target in whole lots, collateral base units) and accepting no fill below
    /// `min_fill` (the deficit: less leaves the reserve short), at `twap_wad` (payment base
    /// units per collateral base unit, wad).
    pub fn order(
        &self,
        (size, min_fill): (u128, u128),
        twap_wad: u128,
        attempt: u32,
        now: u64,
    ) -> Order {
        let widen = self.widen_bps * attempt;
        let band = U256::from(self.band_bps + widen);
        let lo = U256::from(twap_wad) * (U256::from(10_000u32) - band.min(U256::from(10_000u32)))
            / U256::from(10_000u32);
        let hi = U256::from(twap_wad) * (U256::from(10_000u32) + band) / U256::from(10_000u32);
        Order {
            size,
            min_price_wad: lo.to(),
            max_price_wad: u128::try_from(hi).unwrap_or(u128::MAX),
            premium_bps: self.premium_bps + widen,
            min_fill: min_fill.min(size),
            deadline: now + self.timeout_secs,
        }
    }
}

/// Seals `order` to the matcher (`matcher`) with the agent's reply key and calls
/// `requestCollateral` from `treasury`. Returns the request id and the sealed order (which the
/// matcher reads from the request's calldata; it is opaque to everyone else).
///
/// # Errors
/// Sealing and contract errors.
pub async fn request(
    chain: &dyn Chain,
    pool: &DarkPool,
    treasury: Address,
    matcher: &HpkePublicKey,
    key: &shr_enclave::Enclave,
    order: Order,
    policy: &DarkPoolPolicy,
) -> Result<(u64, Sealed, shr_chain::Receipt)> {
    let body = OrderBody {
        order,
        requester: treasury,
        reply_to: key.identity().hpke,
        mailbox: shr_darkpool::mailbox_secret(key)?,
        salt: shr_zk::OrderOpening::random_salt(),
    };
    let sealed = seal_order(matcher, &body)?;
    let (id, receipt) = pool
        .request(
            chain,
            treasury,
            (&sealed, body.order_hash()?),
            order.premium_bps,
            policy.timeout_secs,
        )
        .await?;
    Ok((id, sealed, receipt))
}
