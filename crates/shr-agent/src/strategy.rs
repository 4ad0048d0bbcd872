//! Which mechanism restores a deficit: pure, prices and pool state as arguments.

use alloy::primitives::U256;
use shr_primitives::amm::{price_impact_bps, v2};

use crate::Result;

/// Bounds on the direct swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyConfig {
    /// Largest price impact a direct swap may have, bps, LP fee included (default 50).
    pub max_impact_bps: u32,
    /// Largest deficit value a direct swap may buy, whole USD (default 50,000,000, the
    /// reference design's threshold).
    pub direct_swap_limit_usd: u128,
    /// Slippage allowed over the quote: `amountInMax = quote * (1 + slippage_bps / 10_000)`
    /// (default 50).
    pub slippage_bps: u32,
    /// Swap deadline after the decision, seconds (default 300).
    pub deadline_secs: u64,
}

impl Default for StrategyConfig {
    fn default() -> Self {
        Self {
            max_impact_bps: 50,
            direct_swap_limit_usd: 50_000_000,
            slippage_bps: 50,
            deadline_secs: 300,
        }
    }
}

/// A Uniswap V2 pool seen from the agent: it pays `reserve_in` (treasury asset) and buys
/// `reserve_out` (collateral), base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Pool {
    /// Reserve of the asset the agent pays.
    pub reserve_in: U256,
    /// Reserve of the collateral the agent buys.
    pub reserve_out: U256,
}

/// An exact-output swap to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapPlan {
    /// Collateral to buy, base units (the deficit).
    pub amount_out: U256,
    /// Uniswap V2 `getAmountIn` for it, base units of the paid asset.
    pub quote_in: U256,
    /// `quote_in * (1 + slippage)`, rounded up: the router's `amountInMax`.
    pub amount_in_max: U256,
    /// Price impact against the fee-free marginal price, bps (the 30 bps fee included).
    pub impact_bps: U256,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Buy it back on the AMM.
    DirectSwap(SwapPlan),
    /// Too large for the AMM: the dark pool.
    DarkPool {
        /// The deficit's impact on the pool, bps (`U256::MAX` if the pool cannot fill it).
        impact_bps: U256,
        /// The deficit's value, whole USD.
        value_usd: u128,
    },
}

fn plan(out: U256, pool: &V2Pool, cfg: &StrategyConfig) -> Result<SwapPlan> {
    let quote_in = v2::get_amount_in(out, pool.reserve_in, pool.reserve_out)?;
    let amount_in_max =
        (quote_in * U256::from(10_000 + cfg.slippage_bps)).div_ceil(U256::from(10_000));
    let impact_bps =
        price_impact_bps(quote_in, out, v2::marginal_price_wad(pool.reserve_in, pool.reserve_out));
    Ok(SwapPlan { amount_out: out, quote_in, amount_in_max, impact_bps })
}

/// Chooses the mechanism for `deficit` (collateral base units with `decimals`) priced at
/// `price_usd_e8` (USD per whole token, 8 decimals).
///
/// # Errors
/// AMM math errors other than "exceeds liquidity" (which means the dark pool).
pub fn choose(
    deficit: U256,
    decimals: u8,
    price_usd_e8: u128,
    pool: &V2Pool,
    cfg: &StrategyConfig,
) -> Result<Mechanism> {
    let value = deficit.saturating_mul(U256::from(price_usd_e8))
        / U256::from(10u64).pow(U256::from(decimals as u64 + 8));
    let value_usd = u128::try_from(value).unwrap_or(u128::MAX);
    let p = match plan(deficit, pool, cfg) {
        Ok(p) => p,
        Err(crate::Error::Amm(shr_primitives::Error::ExceedsLiquidity { .. })) => {
            return Ok(Mechanism::DarkPool { impact_bps: U256::MAX, value_usd });
        }
        Err(e) => return Err(e),
    };
    if p.impact_bps <= U256::from(cfg.max_impact_bps) && value_usd <= cfg.direct_swap_limit_usd {
        Ok(Mechanism::DirectSwap(p))
    } else {
        Ok(Mechanism::DarkPool { impact_bps: p.impact_bps, value_usd })
    }
}

/// The largest collateral amount a direct swap can buy within `max_impact_bps` (binary search;
/// impact is monotone in size on a constant-product pool). Zero if even one base unit exceeds it.
pub fn largest_direct_swap(pool: &V2Pool, cfg: &StrategyConfig) -> U256 {
    let ok = |out: U256| {
        plan(out, pool, cfg).is_ok_and(|p| p.impact_bps <= U256::from(cfg.max_impact_bps))
    };
    let (mut lo, mut hi) = (U256::ZERO, pool.reserve_out.saturating_sub(U256::from(1)));
    while lo < hi {
        let mid = (lo + hi + U256::from(1)) / U256::from(2);
        if ok(mid) { lo = mid } else { hi = mid - U256::from(1) }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The real WBTC/WETH V2 pair at block 17,600,000: 162.31 WBTC, 2,571.34 WETH.
    fn real_pool() -> V2Pool {
        V2Pool {
            reserve_in: U256::from(2_571_336_301_536_722_443_178u128),
            reserve_out: U256::from(16_231_137_593u64),
        }
    }

    #[test]
    fn real_pool_takes_a_fraction_of_a_bitcoin_within_50_bps() {
        let cfg = StrategyConfig::default();
        let max = largest_direct_swap(&real_pool(), &cfg);
        // 30 bps of the 50 go to the LP fee: about 0.2 % of the 162 WBTC reserve.
        assert!(max > U256::from(20_000_000u64) && max < U256::from(40_000_000u64), "{max}");
        let m = choose(max, 8, 30_000 * 100_000_000, &real_pool(), &cfg).unwrap();
        assert!(matches!(m, Mechanism::DirectSwap(p) if p.impact_bps <= U256::from(50)));
        // 150 BTC (the reference design's 0.1 % of wBTC) is dark-pool territory.
        let m =
            choose(U256::from(150u64 * 100_000_000), 8, 30_000 * 100_000_000, &real_pool(), &cfg)
                .unwrap();
        assert!(matches!(m, Mechanism::DarkPool { .. }));
    }

    #[test]
    fn the_usd_limit_applies_even_when_impact_is_small() {
        let deep = V2Pool {
            reserve_in: U256::from(10u128.pow(30)),
            reserve_out: U256::from(10u128.pow(20)),
        };
        let cfg = StrategyConfig { direct_swap_limit_usd: 1_000, ..Default::default() };
        let m = choose(U256::from(100_000_000u64), 8, 30_000 * 100_000_000, &deep, &cfg).unwrap();
        assert!(matches!(m, Mechanism::DarkPool { value_usd: 30_000, .. }), "{m:?}");
    }

    proptest! {
        /// Against a naive reference: every plan within bounds really is within bounds, and
        /// one more base unit than the largest is not.
        #[test]
        fn largest_direct_swap_is_tight(rin in 10u128.pow(18)..10u128.pow(24), rout in 10u128.pow(8)..10u128.pow(12), bps in 31u32..500) {
            let pool = V2Pool { reserve_in: U256::from(rin), reserve_out: U256::from(rout) };
            let cfg = StrategyConfig { max_impact_bps: bps, ..Default::default() };
            let max = largest_direct_swap(&pool, &cfg);
            prop_assume!(max > U256::ZERO);
            prop_assert!(plan(max, &pool, &cfg).unwrap().impact_bps <= U256::from(bps));
            prop_assert!(plan(max + U256::from(1), &pool, &cfg).map(|p| p.impact_bps > U256::from(bps)).unwrap_or(true));
        }
    }
}
