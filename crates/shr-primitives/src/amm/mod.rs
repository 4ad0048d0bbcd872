//! AMM swap math.

pub mod v2;
pub mod v3;

use alloy_primitives::U256;

/// Price impact of a trade in basis points: how much worse its average price is than the pool's
/// marginal price before it, `(avg / marginal - 1) * 10_000`, rounded up. `amount_in` and
/// `amount_out` are base units; `marginal_in_per_out_wad` is the marginal price (input units per
/// output unit) in wad. Whether the LP fee counts is the caller's choice of `marginal`: the
/// agent uses the fee-free marginal price, so the 30 bps fee counts in the impact.
pub fn price_impact_bps(amount_in: U256, amount_out: U256, marginal_in_per_out_wad: U256) -> U256 {
    if amount_out.is_zero() || marginal_in_per_out_wad.is_zero() {
        return U256::MAX;
    }
    let wad = U256::from(10).pow(U256::from(18));
    // avg_wad = amount_in * wad / amount_out; impact = (avg - marginal) * 10_000 / marginal.
    let avg = amount_in.saturating_mul(wad) / amount_out;
    if avg <= marginal_in_per_out_wad {
        return U256::ZERO;
    }
    (avg - marginal_in_per_out_wad)
        .saturating_mul(U256::from(10_000))
        .div_ceil(marginal_in_per_out_wad)
}
