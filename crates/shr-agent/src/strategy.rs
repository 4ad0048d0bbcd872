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

/// The input that buys exactly `out` of the route's last asset through every hop, as
/// `UniswapV2Library.getAmountsIn` computes it (each hop's `getAmountIn`, last hop first).
/// `route` lists the pools from the paid asset to the collateral (e.g. USDC/WETH, WETH/WBTC).
///
/// # Errors
/// [`crate::Error::EmptyRoute`] for no pool; the AMM errors of `getAmountIn` (e.g.
/// `ExceedsLiquidity` when a hop cannot deliver).
pub fn route_amount_in(out: U256, route: &[V2Pool]) -> Result<U256> {
    if route.is_empty() {
        return Err(crate::Error::EmptyRoute);
    }
    let mut amount = out;
    for pool in route.iter().rev() {
        amount = v2::get_amount_in(amount, pool.reserve_in, pool.reserve_out)?;
    }
    Ok(amount)
}

/// The route's fee-free marginal price of the collateral in paid-asset base units, wad: the
/// product of each hop's `Rin / Rout`.
fn route_marginal_wad(route: &[V2Pool]) -> U256 {
    let (mut num, mut den) = (U256::from(1), U256::from(1));
    for p in route {
        num = num.saturating_mul(p.reserve_in);
        den = den.saturating_mul(p.reserve_out);
    }
    num.saturating_mul(shr_primitives::WAD) / den.max(U256::from(1))
}

fn plan(out: U256, route: &[V2Pool], cfg: &StrategyConfig) -> Result<SwapPlan> {
    let quote_in = route_amount_in(out, route)?;
    let amount_in_max =
        (quote_in * U256::from(10_000 + cfg.slippage_bps)).div_ceil(U256::from(10_000));
    let impact_bps = price_impact_bps(quote_in, out, route_marginal_wad(route));
    Ok(SwapPlan { amount_out: out, quote_in, amount_in_max, impact_bps })
}

/// Chooses the mechanism for `deficit` (collateral base units with `decimals`) priced at
/// `price_usd_e8` (USD per whole token, 8 decimals), buying through `route` (pools from the
/// treasury asset to the collateral; the impact is the whole route's, every hop's fee included).
///
/// # Errors
/// AMM math errors other than "exceeds liquidity" (which means the dark pool).
pub fn choose(
    deficit: U256,
    decimals: u8,
    price_usd_e8: u128,
    route: &[V2Pool],
    cfg: &StrategyConfig,
) -> Result<Mechanism> {
    let value = deficit.saturating_mul(U256::from(price_usd_e8))
        / U256::from(10u64).pow(U256::from(decimals as u64 + 8));
    let value_usd = u128::try_from(value).unwrap_or(u128::MAX);
    let p = match plan(deficit, route, cfg) {
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
/// impact is monotone in size on constant-product pools). Zero if even one base unit exceeds it
/// or the route is empty.
pub fn largest_direct_swap(route: &[V2Pool], cfg: &StrategyConfig) -> U256 {
    let Some(last) = route.last() else { return U256::ZERO };
    let ok = |out: U256| {
        plan(out, route, cfg).is_ok_and(|p| p.impact_bps <= U256::from(cfg.max_impact_bps))
    };
    let (mut lo, mut hi) = (U256::ZERO, last.reserve_out.saturating_sub(U256::from(1)));
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
        let max = largest_direct_swap(&[real_pool()], &cfg);
        // 30 bps of the 50 go to the LP fee: about 0.2 % of the 162 WBTC reserve.
        assert!(max > U256::from(20_000_000u64) && max < U256::from(40_000_000u64), "{max}");
        let m = choose(max, 8, 30_000 * 100_000_000, &[real_pool()], &cfg).unwrap();
        assert!(matches!(m, Mechanism::DirectSwap(p) if p.impact_bps <= U256::from(50)));
        // 150 BTC (the reference design's 0.1 % of wBTC) is dark-pool territory.
        let m =
            choose(U256::from(150u64 * 100_000_000), 8, 30_000 * 100_000_000, &[real_pool()], &cfg)
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
        let m = choose(U256::from(100_000_000u64), 8, 30_000 * 100_000_000, &[deep], &cfg).unwrap();
        assert!(matches!(m, Mechanism::DarkPool { value_usd: 30_000, .. }), "{m:?}");
    }

    proptest! {
        /// Against a naive reference: every plan within bounds really is within bounds, and
        /// one more base unit than the largest is not.
        #[test]
        fn largest_direct_swap_is_tight(rin in 10u128.pow(18)..10u128.pow(24), rout in 10u128.pow(8)..10u128.pow(12), bps in 31u32..500) {
            let pool = V2Pool { reserve_in: U256::from(rin), reserve_out: U256::from(rout) };
            let cfg = StrategyConfig { max_impact_bps: bps, ..Default::default() };
            let max = largest_direct_swap(&[pool], &cfg);
            prop_assume!(max > U256::ZERO);
            prop_assert!(plan(max, &[pool], &cfg).unwrap().impact_bps <= U256::from(bps));
            prop_assert!(plan(max + U256::from(1), &[pool], &cfg).map(|p| p.impact_bps > U256::from(bps)).unwrap_or(true));
        }

        /// A two-hop quote equals quoting each hop by hand (the router's `getAmountsIn`), and
        /// the route's impact is at least each hop's own.
        #[test]
        fn two_hop_route_matches_hop_by_hop(r_usdc in 10u128.pow(12)..10u128.pow(15), r_weth_a in 10u128.pow(21)..10u128.pow(24), r_weth_b in 10u128.pow(21)..10u128.pow(24), r_wbtc in 10u128.pow(9)..10u128.pow(12), out in 1u128..10u128.pow(8)) {
            let a = V2Pool { reserve_in: U256::from(r_usdc), reserve_out: U256::from(r_weth_a) };
            let b = V2Pool { reserve_in: U256::from(r_weth_b), reserve_out: U256::from(r_wbtc) };
            let out = U256::from(out);
            let Ok(weth) = v2::get_amount_in(out, b.reserve_in, b.reserve_out) else { return Ok(()) };
            let by_hand = v2::get_amount_in(weth, a.reserve_in, a.reserve_out);
            let routed = route_amount_in(out, &[a, b]);
            prop_assert_eq!(by_hand.ok(), routed.ok());
            if let (Ok(two), Ok(one)) = (plan(out, &[a, b], &StrategyConfig::default()), plan(out, &[b], &StrategyConfig::default())) {
                // two 30 bps fees: never cheaper than the last hop alone
                prop_assert!(two.impact_bps + U256::from(1) >= one.impact_bps);
            }
        }
    }
}
