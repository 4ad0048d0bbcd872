//! Uniswap V3 exact-output quoting by walking the ticks of a recorded pool state, step by step as
//! `UniswapV3Pool.swap` does (`SwapMath.computeSwapStep`, `TickMath`, liquidity crossing), with
//! `uniswap_v3_math`'s port of the Solidity libraries.

use std::collections::BTreeMap;

use alloy_primitives::{I256, U256};
use uniswap_v3_math::{
    swap_math::compute_swap_step,
    tick_math::{MAX_SQRT_RATIO, MIN_SQRT_RATIO, get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio},
};

use crate::{Error, Result};

/// A Uniswap V3 pool's swap state: current price, active liquidity, fee and the initialized
/// ticks known (a recorded range of the tick bitmap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Pool {
    /// `sqrtPriceX96`: sqrt(token1 per token0) in Q64.96.
    pub sqrt_price_x96: U256,
    /// Active liquidity.
    pub liquidity: u128,
    /// Current tick.
    pub tick: i32,
    /// Fee in pips (3000 = 0.3 %).
    pub fee: u32,
    /// `liquidity_net` of every known initialized tick.
    pub ticks: BTreeMap<i32, i128>,
}

/// The result of an exact-output quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Quote {
    /// Input needed, fee included, base units.
    pub amount_in: U256,
    /// Price after the swap.
    pub sqrt_price_after_x96: U256,
    /// Initialized ticks crossed.
    pub ticks_crossed: u32,
}

impl V3Pool {
    /// Parses the degenbot pool-state JSON (`data/uniswap/univ3_*.json`): `sqrt_price_x96`,
    /// `liquidity`, `tick`, `fee`, `tick_data.{tick}.liquidity_net`. Integers are read from the
    /// text exactly (up to 128 bits), never through a float.
    ///
    /// # Errors
    /// [`Error::State`] naming what is missing or malformed.
    pub fn from_degenbot_json(text: &str) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Raw {
            sqrt_price_x96: u128,
            liquidity: u128,
            tick: i32,
            fee: u32,
            tick_data: BTreeMap<String, RawTick>,
        }
        #[derive(serde::Deserialize)]
        struct RawTick {
            liquidity_net: i128,
        }
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| Error::State { field: "(pool state)".into(), why: e.to_string() })?;
        let mut ticks = BTreeMap::new();
        for (k, t) in raw.tick_data {
            let tick: i32 = k.parse().map_err(|_| Error::State {
                field: format!("tick_data.{k}"),
                why: "tick is not an integer".into(),
            })?;
            ticks.insert(tick, t.liquidity_net);
        }
        Ok(Self {
            sqrt_price_x96: U256::from(raw.sqrt_price_x96),
            liquidity: raw.liquidity,
            tick: raw.tick,
            fee: raw.fee,
            ticks,
        })
    }

    /// The input that buys exactly `amount_out`; `zero_for_one` pays token0 for token1.
    ///
    /// # Errors
    /// [`Error::ZeroAmount`]; [`Error::ExceedsLiquidity`] when the walk leaves the known tick
    /// range (or the price bounds) before filling; [`Error::V3`] from the step math.
    pub fn quote_exact_output(&self, zero_for_one: bool, amount_out: U256) -> Result<V3Quote> {
        if amount_out.is_zero() {
            return Err(Error::ZeroAmount { what: "amount_out" });
        }
        let limit = if zero_for_one {
            MIN_SQRT_RATIO + U256::from(1)
        } else {
            MAX_SQRT_RATIO - U256::from(1)
        };
        let out_i = I256::try_from(amount_out).map_err(|_| Error::Overflow("amount_out"))?;
        let mut remaining = -out_i;
        let (mut sqrt, mut tick, mut liquidity) = (self.sqrt_price_x96, self.tick, self.liquidity);
        let (mut amount_in, mut filled, mut crossed) = (U256::ZERO, U256::ZERO, 0u32);
        while !remaining.is_zero() && sqrt != limit {
            let next = if zero_for_one {
                self.ticks.range(..=tick).next_back().map(|(t, _)| *t)
            } else {
                self.ticks.range(tick + 1..).next().map(|(t, _)| *t)
            };
            let Some(next) = next else {
                return Err(Error::ExceedsLiquidity { wanted: amount_out, available: filled });
            };
            let sqrt_next = get_sqrt_ratio_at_tick(next).map_err(Error::V3)?;
            let target = if zero_for_one { sqrt_next.max(limit) } else { sqrt_next.min(limit) };
            let (s, step_in, step_out, fee) =
                compute_swap_step(sqrt, target, liquidity, remaining, self.fee)
                    .map_err(Error::V3)?;
            sqrt = s;
            remaining += I256::try_from(step_out).map_err(|_| Error::Overflow("step_out"))?;
            filled += step_out;
            amount_in += step_in + fee;
            if sqrt == sqrt_next {
                let net = self.ticks[&next];
                let net = if zero_for_one { -net } else { net };
                liquidity = u128::try_from(liquidity as i128 + net)
                    .map_err(|_| Error::Overflow("liquidity"))?;
                tick = if zero_for_one { next - 1 } else { next };
                crossed += 1;
            } else {
                tick = get_tick_at_sqrt_ratio(sqrt).map_err(Error::V3)?;
            }
        }
        if !remaining.is_zero() {
            return Err(Error::ExceedsLiquidity { wanted: amount_out, available: filled });
        }
        Ok(V3Quote { amount_in, sqrt_price_after_x96: sqrt, ticks_crossed: crossed })
    }

    /// Fee-free marginal price of token0 in token1 units, wad, scaled by `10^(dec0 - dec1)`
    /// left to the caller: `(sqrtP / 2^96)^2 * 1e18`.
    pub fn price1_per_0_wad(&self) -> U256 {
        let q96 = U256::from(1) << 96;
        // (sqrtP^2 / 2^96) * 1e18 / 2^96, ordered to keep precision without overflow.
        let p = self.sqrt_price_x96 * self.sqrt_price_x96 / q96;
        p * U256::from(10).pow(U256::from(18)) / q96
    }
}
