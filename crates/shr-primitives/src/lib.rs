//! Pure domain math for Self-Healing Reserve: no IO, no async, prices and state as arguments.
//!
//! [`amm::v2`] is Uniswap V2's constant-product math exactly as `UniswapV2Library` computes it;
//! [`amm::v3`] quotes exact-output swaps by walking the ticks of a real Uniswap V3 pool state
//! (with `uniswap_v3_math`'s port of `SwapMath`, `SqrtPriceMath` and `TickMath`). The recovery
//! agent uses them to decide whether a deficit can be bought back on an AMM within a price-impact
//! bound, or must go to the dark pool; the risk engine uses them for its slippage.

pub mod amm;
mod error;

pub use error::{Error, Result};

/// One in 18-decimal fixed point (a wad).
pub const WAD: alloy_primitives::U256 =
    alloy_primitives::U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);
