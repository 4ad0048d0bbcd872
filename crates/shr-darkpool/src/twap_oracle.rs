//! The on-chain TWAP a fill is checked against. A fill's TWAP is a public input of its proof and
//! every maker's price derives from it, so whoever names it names the price: `CREDarkPool`
//! checks it against Uniswap's sliding-window oracle (`ExampleSlidingWindowOracle` from
//! `@uniswap/v2-periphery`, shipped bytecode), which anyone keeps updated with `update` once per
//! period. A pool deployed without an oracle ([`TwapBound::DEV_UNCHECKED`]) is refused outside
//! the dev chain (31337).

use alloy::primitives::{Address, U256};
use shr_chain::{Chain, Receipt};
use shr_contracts::{
    bindings::{CREDarkPool, SlidingWindowOracle},
    deploy::deploy_with,
    send, view,
};

use crate::{DarkPool, Result};

/// The oracle's window, seconds (one hour): with [`ORACLE_GRANULARITY`] it averages over the
/// last 30 to 60 minutes, the matcher's [`crate::TwapPolicy`] bounds.
pub const ORACLE_WINDOW_SECS: u64 = 3_600;
/// Observations per window (a period of 15 minutes: someone calls `update` at least that often).
pub const ORACLE_GRANULARITY: u8 = 4;
/// The default largest distance of a fill's TWAP under the oracle's, bps: the side that lowers
/// every maker's price is held tight.
pub const DEFAULT_MAX_TWAP_BELOW_BPS: u16 = 50;
/// The default largest distance of a fill's TWAP over the oracle's, bps (the matcher's
/// spot/TWAP divergence bound; the requester's sealed band bounds that side too).
pub const DEFAULT_MAX_TWAP_ABOVE_BPS: u16 = 200;

/// The TWAP check a pool is deployed with (`CREDarkPool.TwapCheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwapBound {
    /// The sliding-window oracle (`Address::ZERO`: unchecked, dev chain only); its window is
    /// at least an hour and its factory holds the pool's pair.
    pub oracle: Address,
    /// How far under the oracle's TWAP a fill's may be, bps of the oracle's (1 ..= 100).
    pub max_below_bps: u16,
    /// How far over the oracle's TWAP a fill's may be, bps of the oracle's (1 ..= 1,000).
    pub max_above_bps: u16,
}

impl TwapBound {
    /// No on-chain TWAP check: accepted by the contract on chain 31337 only, for tests that
    /// exercise everything but the price.
    pub const DEV_UNCHECKED: Self =
        Self { oracle: Address::ZERO, max_below_bps: 0, max_above_bps: 0 };

    /// Checked against `oracle` within [`DEFAULT_MAX_TWAP_BELOW_BPS`] under and
    /// [`DEFAULT_MAX_TWAP_ABOVE_BPS`] over.
    pub const fn oracle(oracle: Address) -> Self {
        Self {
            oracle,
            max_below_bps: DEFAULT_MAX_TWAP_BELOW_BPS,
            max_above_bps: DEFAULT_MAX_TWAP_ABOVE_BPS,
        }
    }
}

/// Deploys Uniswap's sliding-window oracle over the V2 `factory`'s pairs, with
/// [`ORACLE_WINDOW_SECS`] and [`ORACLE_GRANULARITY`].
///
/// # Errors
/// Contract errors.
pub async fn deploy_twap_oracle(
    chain: &dyn Chain,
    from: Address,
    factory: Address,
) -> Result<Address> {
    let args = SlidingWindowOracle::constructorCall {
        factory_: factory,
        windowSize_: U256::from(ORACLE_WINDOW_SECS),
        granularity_: ORACLE_GRANULARITY,
    };
    Ok(deploy_with(chain, from, &SlidingWindowOracle::BYTECODE, &args).await?)
}

/// `oracle.update(token_a, token_b)` from `from` (anyone): records the pair's cumulative prices
/// for the current period (a no-op when the period already has one).
///
/// # Errors
/// Contract errors.
pub async fn update_twap_oracle(
    chain: &dyn Chain,
    from: Address,
    oracle: Address,
    (token_a, token_b): (Address, Address),
) -> Result<Receipt> {
    let call = SlidingWindowOracle::updateCall { tokenA: token_a, tokenB: token_b };
    Ok(send(chain, from, oracle, &call).await?)
}

impl DarkPool {
    /// The on-chain TWAP fills are checked against (`oracleTwapWad`), payment base units per
    /// collateral base unit, wad.
    ///
    /// # Errors
    /// `SlidingWindowOracle: MISSING_HISTORICAL_OBSERVATION` when nobody updated the oracle a
    /// window ago; a pool without an oracle reverts.
    pub async fn oracle_twap_wad(&self, chain: &dyn Chain) -> Result<U256> {
        Ok(view(chain, self.address, &CREDarkPool::oracleTwapWadCall {}).await?)
    }
}
