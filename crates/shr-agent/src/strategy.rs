//! Which mechanism restores a deficit: pure, prices and pool state as arguments.

use alloy::primitives::U256;
use shr_primitives::amm::{price_impact_bps, v2};

use crate::Result;

/// Bounds on the direct swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyConfig {
    /// Largest price impact a direct swap may have, bps, LP fee included (default 100: the
    /// real V2 WBTC/WETH pair then takes about 1.1 WBTC, enough for the series' real dip plus
    /// the restore target's buffer).
    pub max_impact_bps: u32,
    /// Largest deficit value a direct swap may buy, whole USD (default 50,000,000, the
    /// reference design's threshold).
    pub direct_swap_limit_usd: u128,
    /// Slippage allowed over the quote: `amountInMax = quote * (1 + slippage_bps / 10_000)`
    /// (default 50).
    pub slippage_bps: u32,
    /// Swap deadline after the decision, seconds (default 300).
    pub deadline_secs: u64,
    /// Where a recovery restores the reserve to, and in what sizes it buys.
    pub target: RestoreTarget,
}

/// The restore target: a reserve ratio drawn uniformly in a band above 100 %, bought in whole
/// standard lots. A buy is then `ceil((deficit + buffer) / lot) * lot` with `buffer` the
/// band's draw times the supply, so the public size bounds the deficit from above
/// (`deficit < size - band_ppm.0 * supply`) and only loosely from below
/// (`deficit > size - lot - band_ppm.1 * supply`): see `docs/PRIVACY.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreTarget {
    /// The band above a reserve ratio of 100 %, parts per million of the supply, `(min, max)`
    /// (default `(1, 4)`: on the real wBTC supply of 156,976 WBTC, 0.157 to 0.628 WBTC, the
    /// size of the series' real 2023-07-05 dip of 0.379 WBTC; restoring to exactly 100 % would
    /// flip `isSolvent` back at the next dip).
    pub band_ppm: (u32, u32),
    /// The standard lot, collateral base units: every buy is a whole number of lots (default
    /// 1,000,000: 0.01 WBTC).
    pub lot: U256,
}

impl Default for RestoreTarget {
    fn default() -> Self {
        Self { band_ppm: (1, 4), lot: U256::from(1_000_000u64) }
    }
}

impl RestoreTarget {
    /// The buffer above the deficit for a uniform `draw` (the whole `u64` range maps onto the
    /// band), collateral base units: `supply * (min + (max - min) * draw / 2^64) / 10^6`.
    pub fn buffer(&self, supply: U256, draw: u64) -> U256 {
        let (lo, hi) =
            (U256::from(self.band_ppm.0), U256::from(self.band_ppm.1.max(self.band_ppm.0)));
        let ppm_x64 = (lo << 64) + (hi - lo) * U256::from(draw);
        ((supply * ppm_x64) >> 64) / U256::from(1_000_000u32)
    }

    /// The buy that restores `deficit` to the drawn target, rounded up to whole lots.
    pub fn size(&self, deficit: U256, supply: U256, draw: u64) -> U256 {
        let lot = self.lot.max(U256::from(1));
        (deficit + self.buffer(supply, draw)).div_ceil(lot) * lot
    }

    /// What a public buy of `size` tells an observer who knows the supply and this target:
    /// `(at_least, at_most)` for the deficit, base units.
    pub fn reveals(&self, size: U256, supply: U256) -> (U256, U256) {
        let hi = size.saturating_sub(self.buffer(supply, 0));
        let lo = size.saturating_sub(self.lot).saturating_sub(self.buffer(supply, u64::MAX));
        (lo, hi)
    }
}

impl Default for StrategyConfig {
    fn default() -> Self {
        Self {
            max_impact_bps: 100,
            direct_swap_limit_usd: 50_000_000,
            slippage_bps: 50,
            deadline_secs: 300,
            target: RestoreTarget::default(),
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
    /// Collateral to buy, base units: the restore target in whole lots, never the deficit.
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
        /// The order size (the restore target in whole lots), collateral base units.
        size: U256,
        /// The size's impact on the pool, bps (`U256::MAX` if the pool cannot fill it).
        impact_bps: U256,
        /// The size's value, whole USD.
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

/// What [`choose`] decides from: the deficit and the public supply (collateral base units with
/// `decimals`), the band's uniform `draw`, the price `price_usd_e8` (USD per whole token, 8
/// decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// Base units missing to a reserve ratio of 100 %.
    pub deficit: U256,
    /// Token supply, base units (public: ERC-20 `totalSupply`).
    pub supply: U256,
    /// Token decimals.
    pub decimals: u8,
    /// USD per whole token, 8 decimals.
    pub price_usd_e8: u128,
    /// A uniform draw mapped onto the restore band (drawn once per incident and kept with it).
    pub draw: u64,
}

impl Shortfall {
    /// The shortfall of an opened deficit notice, with the band's `draw`.
    pub fn of(
        notice: &shr_oracle::DeficitNotice,
        decimals: u8,
        price_usd_e8: u128,
        draw: u64,
    ) -> Self {
        Self { deficit: notice.deficit, supply: notice.supply, decimals, price_usd_e8, draw }
    }

    fn value_usd(&self, amount: U256) -> u128 {
        let value = amount.saturating_mul(U256::from(self.price_usd_e8))
            / U256::from(10u64).pow(U256::from(self.decimals as u64 + 8));
        u128::try_from(value).unwrap_or(u128::MAX)
    }
}

/// Chooses the mechanism for a shortfall, buying through `route` (pools from the treasury
/// asset to the collateral; the impact is the whole route's, every hop's fee included). The
/// size is the restore target ([`RestoreTarget::size`]); when that exceeds the impact bound but
/// the largest whole-lot swap within it still covers the deficit and the band's lower edge,
/// the swap buys that (a function of public pool state, not of the deficit). Otherwise the
/// dark pool buys the target.
///
/// # Errors
/// AMM math errors other than "exceeds liquidity" (which means the dark pool).
pub fn choose(s: &Shortfall, route: &[V2Pool], cfg: &StrategyConfig) -> Result<Mechanism> {
    let size = cfg.target.size(s.deficit, s.supply, s.draw);
    let value_usd = s.value_usd(size);
    let within = |p: &SwapPlan| {
        p.impact_bps <= U256::from(cfg.max_impact_bps)
            && s.value_usd(p.amount_out) <= cfg.direct_swap_limit_usd
    };
    let impact_bps = match plan(size, route, cfg) {
        Ok(p) if within(&p) => return Ok(Mechanism::DirectSwap(p)),
        Ok(p) => p.impact_bps,
        Err(crate::Error::Amm(shr_primitives::Error::ExceedsLiquidity { .. })) => U256::MAX,
        Err(e) => return Err(e),
    };
    let lot = cfg.target.lot.max(U256::from(1));
    let cap = largest_direct_swap(route, cfg) / lot * lot;
    if cap > U256::ZERO && cap >= s.deficit + cfg.target.buffer(s.supply, 0) {
        let p = plan(cap, route, cfg)?;
        if within(&p) {
            return Ok(Mechanism::DirectSwap(p));
        }
    }
    Ok(Mechanism::DarkPool { size, impact_bps, value_usd })
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

    /// The real wBTC supply at 2023-07-05 and the series' real dip that day, sats.
    const SUPPLY: u64 = 15_697_655_529_629;
    const DIP: u64 = 37_946_742;

    fn shortfall(deficit: u64, draw: u64) -> Shortfall {
        Shortfall {
            deficit: U256::from(deficit),
            supply: U256::from(SUPPLY),
            decimals: 8,
            price_usd_e8: 30_000 * 100_000_000,
            draw,
        }
    }

    #[test]
    fn the_real_dip_heals_on_the_real_pool_in_lots_above_the_band() {
        let cfg = StrategyConfig::default();
        let max = largest_direct_swap(&[real_pool()], &cfg);
        // 30 bps of the 100 go to the LP fee: about 0.7 % of the 162 WBTC reserve.
        assert!(max > U256::from(100_000_000u64) && max < U256::from(120_000_000u64), "{max}");
        for draw in [0, u64::MAX / 3, u64::MAX] {
            let m = choose(&shortfall(DIP, draw), &[real_pool()], &cfg).unwrap();
            let Mechanism::DirectSwap(p) = m else { panic!("{m:?}") };
            assert!(p.impact_bps <= U256::from(100));
            assert_eq!(p.amount_out % cfg.target.lot, U256::ZERO, "whole lots");
            let buffer = cfg.target.buffer(U256::from(SUPPLY), draw);
            assert!(p.amount_out >= U256::from(DIP) + buffer, "restores above the band's draw");
            let (lo, hi) = cfg.target.reveals(p.amount_out, U256::from(SUPPLY));
            assert!(lo < U256::from(DIP) && U256::from(DIP) < hi, "{lo} < {DIP} < {hi}");
        }
        // 150 BTC (the reference design's 0.1 % of wBTC) is dark-pool territory, at the target.
        let m = choose(&shortfall(150 * 100_000_000, 7), &[real_pool()], &cfg).unwrap();
        let Mechanism::DarkPool { size, .. } = m else { panic!("{m:?}") };
        assert_eq!(size, cfg.target.size(U256::from(150u64 * 100_000_000), U256::from(SUPPLY), 7));
    }

    #[test]
    fn one_deficit_buys_different_sizes_and_different_deficits_one_size() {
        let t = RestoreTarget::default();
        let supply = U256::from(SUPPLY);
        let sizes: std::collections::BTreeSet<U256> =
            (0..16u64).map(|i| t.size(U256::from(DIP), supply, i * (u64::MAX / 15))).collect();
        assert!(sizes.len() >= 8, "the draw moves the size: {sizes:?}");
        // Deficits 0.1 WBTC apart can buy the same size: the size does not invert to one.
        let a = t.size(U256::from(DIP), supply, u64::MAX);
        let b = (0..1_000u64)
            .map(|i| i * (u64::MAX / 1_000))
            .find(|&d| t.size(U256::from(DIP + 10_000_000), supply, d) == a);
        assert!(b.is_some(), "a deficit 0.1 WBTC larger reaches the same size at some draw");
    }

    #[test]
    fn the_usd_limit_applies_even_when_impact_is_small() {
        let deep = V2Pool {
            reserve_in: U256::from(10u128.pow(30)),
            reserve_out: U256::from(10u128.pow(20)),
        };
        let cfg = StrategyConfig { direct_swap_limit_usd: 1_000, ..Default::default() };
        let m = choose(&shortfall(100_000_000, 0), &[deep], &cfg).unwrap();
        assert!(matches!(m, Mechanism::DarkPool { value_usd, .. } if value_usd > 30_000), "{m:?}");
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

        /// Every size is whole lots, covers the deficit plus the band's draw by less than a
        /// lot, and what it reveals brackets the deficit (the naive reference: the formula).
        #[test]
        fn sizes_are_whole_lots_above_the_draw(deficit in 0u64..10u64.pow(12), supply in 10u64.pow(8)..10u64.pow(16), draw: u64, lo in 0u32..5_000, width in 0u32..20_000, lot in 1u64..10u64.pow(8)) {
            let t = RestoreTarget { band_ppm: (lo, lo + width), lot: U256::from(lot) };
            let (d, s) = (U256::from(deficit), U256::from(supply));
            let size = t.size(d, s, draw);
            let naive = U256::from(supply) * (U256::from(lo) * U256::from(1u128 << 64) + U256::from(width) * U256::from(draw)) / U256::from(1u128 << 64) / U256::from(1_000_000u32);
            prop_assert_eq!(t.buffer(s, draw), naive);
            prop_assert_eq!(size % U256::from(lot), U256::ZERO);
            prop_assert!(size >= d + naive && size < d + naive + U256::from(lot));
            let (at_least, at_most) = t.reveals(size, s);
            prop_assert!(at_least <= d && d <= at_most, "{} <= {} <= {}", at_least, d, at_most);
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
