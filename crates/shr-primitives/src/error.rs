//! Errors of the pure math.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the AMM math refuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A zero amount where Uniswap requires a positive one (`INSUFFICIENT_*_AMOUNT`).
    #[error("{what} must be positive")]
    ZeroAmount {
        /// Which amount.
        what: &'static str,
    },
    /// A pool with an empty reserve (`INSUFFICIENT_LIQUIDITY`).
    #[error("pool has no liquidity")]
    NoLiquidity,
    /// An exact output at or beyond what the pool holds.
    #[error("output {wanted} exceeds what the pool can pay ({available})")]
    ExceedsLiquidity {
        /// Requested output, base units.
        wanted: alloy_primitives::U256,
        /// Output available (V2: the reserve; V3: the walked liquidity).
        available: alloy_primitives::U256,
    },
    /// Arithmetic overflow of 256 bits.
    #[error("overflow in {0}")]
    Overflow(&'static str),
    /// Uniswap V3 math refused a step.
    #[error("uniswap v3 math")]
    V3(#[source] uniswap_v3_math::error::UniswapV3MathError),
    /// Pool state that does not parse.
    #[error("pool state field {field:?}: {why}")]
    State {
        /// The field.
        field: String,
        /// What is wrong.
        why: String,
    },
}
