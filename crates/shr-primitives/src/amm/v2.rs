//! Uniswap V2 constant-product math, exactly as `UniswapV2Library` (v2-periphery) computes it.

use alloy_primitives::U256;

use crate::{Error, Result};

/// Uniswap V2 `getAmountOut`: the output for `amount_in` against reserves `(reserve_in,
/// reserve_out)` with the 0.3 % fee: `in*997*Rout / (Rin*1000 + in*997)`, rounded down.
///
/// # Errors
/// [`Error::ZeroAmount`] for a zero input, [`Error::NoLiquidity`] for an empty reserve.
pub fn get_amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> Result<U256> {
    if amount_in.is_zero() {
        return Err(Error::ZeroAmount { what: "amount_in" });
    }
    if reserve_in.is_zero() || reserve_out.is_zero() {
        return Err(Error::NoLiquidity);
    }
    let with_fee = amount_in.checked_mul(U256::from(997)).ok_or(Error::Overflow("getAmountOut"))?;
    let num = with_fee.checked_mul(reserve_out).ok_or(Error::Overflow("getAmountOut"))?;
    let den = reserve_in
        .checked_mul(U256::from(1000))
        .and_then(|x| x.checked_add(with_fee))
        .ok_or(Error::Overflow("getAmountOut"))?;
    Ok(num / den)
}

/// Uniswap V2 `getAmountIn`: the input that buys exactly `amount_out`:
/// `Rin*out*1000 / ((Rout - out)*997) + 1`.
///
/// # Errors
/// [`Error::ZeroAmount`], [`Error::NoLiquidity`], and [`Error::ExceedsLiquidity`] when
/// `amount_out >= reserve_out`.
pub fn get_amount_in(amount_out: U256, reserve_in: U256, reserve_out: U256) -> Result<U256> {
    if amount_out.is_zero() {
        return Err(Error::ZeroAmount { what: "amount_out" });
    }
    if reserve_in.is_zero() || reserve_out.is_zero() {
        return Err(Error::NoLiquidity);
    }
    if amount_out >= reserve_out {
        return Err(Error::ExceedsLiquidity { wanted: amount_out, available: reserve_out });
    }
    let num = reserve_in
        .checked_mul(amount_out)
        .and_then(|x| x.checked_mul(U256::from(1000)))
        .ok_or(Error::Overflow("getAmountIn"))?;
    let den = (reserve_out - amount_out) * U256::from(997);
    Ok(num / den + U256::from(1))
}

/// The pool's fee-free marginal price of the output in input units, wad: `Rin / Rout`.
pub fn marginal_price_wad(reserve_in: U256, reserve_out: U256) -> U256 {
    reserve_in.saturating_mul(U256::from(10).pow(U256::from(18))) / reserve_out.max(U256::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real vectors: degenbot's V2 tests on the WBTC/WETH pair at block 17,650,000
    /// (`data/uniswap/univ2_reserve_points.json`), integers read exactly.
    #[test]
    fn golden_vectors_of_the_real_wbtc_weth_pair() {
        #[derive(serde::Deserialize)]
        struct Point {
            reserves_token0: u128,
            reserves_token1: u128,
            test_vectors: std::collections::BTreeMap<String, u128>,
        }
        #[derive(serde::Deserialize)]
        struct File {
            wbtc_weth_v2_block_17650000: Point,
        }
        let f: File = serde_json::from_str(include_str!(
            "../../../../data/uniswap/univ2_reserve_points.json"
        ))
        .unwrap();
        let p = f.wbtc_weth_v2_block_17650000;
        let (r0, r1) = (U256::from(p.reserves_token0), U256::from(p.reserves_token1));
        let out = p.test_vectors["getAmountOut(8000000000 WBTC-sats in) -> WETH-wei out"];
        assert_eq!(get_amount_out(U256::from(8_000_000_000u64), r0, r1).unwrap(), U256::from(out));
        let inp =
            p.test_vectors["getAmountIn(1200000000000000000000 WETH-wei out) -> WBTC-sats in"];
        assert_eq!(
            get_amount_in(U256::from(1_200_000_000_000_000_000_000u128), r0, r1).unwrap(),
            U256::from(inp)
        );
    }

    #[test]
    fn refusals() {
        let r = U256::from(1000);
        assert!(matches!(get_amount_in(U256::ZERO, r, r), Err(Error::ZeroAmount { .. })));
        assert!(matches!(get_amount_in(r, r, r), Err(Error::ExceedsLiquidity { .. })));
        assert!(matches!(get_amount_out(r, U256::ZERO, r), Err(Error::NoLiquidity)));
    }

    proptest! {
        /// `getAmountIn` is the least input that buys `out` (against `getAmountOut`), and the
        /// pool's product never falls (value conserved net of the fee).
        #[test]
        fn amount_in_is_minimal_and_k_never_falls(rin in 1_000u128..1u128 << 100, rout in 1_000u128..1u128 << 100, frac in 1u32..999_999) {
            let (rin, rout) = (U256::from(rin), U256::from(rout));
            let out = (rout * U256::from(frac) / U256::from(1_000_000)).max(U256::from(1));
            let a = get_amount_in(out, rin, rout).unwrap();
            prop_assert!(get_amount_out(a, rin, rout).unwrap() >= out);
            if a > U256::from(1) {
                prop_assert!(get_amount_out(a - U256::from(1), rin, rout).unwrap() <= out);
            }
            prop_assert!((rin + a) * (rout - out) >= rin * rout);
        }
    }
}
