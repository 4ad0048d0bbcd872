//! Errors of the risk engine.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why no plan is emitted, or an input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `T * (1 - s) * P_dex <= L * P_oracle`: selling collateral cannot raise the health factor
    /// to the target (each unit sold removes more borrowing power than the debt it repays).
    #[error(
        "target health factor {target_wad} is infeasible: target * (1 - slippage) must exceed the liquidation threshold {threshold_bps} bps"
    )]
    InfeasibleTarget {
        /// Target HF, wad.
        target_wad: u128,
        /// Liquidation threshold, bps.
        threshold_bps: u32,
    },
    /// `C * P_dex * (1 - s) <= D * P_d`: selling every unit of collateral does not repay the
    /// debt, so no sale can save the position.
    #[error(
        "position cannot be saved by selling: all collateral after slippage is worth {collateral_value_wad} wad of USD against {debt_value_wad} of debt"
    )]
    Unsavable {
        /// Collateral value after slippage, USD wad.
        collateral_value_wad: u128,
        /// Debt value, USD wad.
        debt_value_wad: u128,
    },
    /// The slippage iteration did not converge.
    #[error("slippage iteration did not converge after {0} rounds")]
    NoConvergence(u32),
    /// The projected HF after the plan falls outside the target band.
    #[error("projected health factor {projected_wad} outside the band {low_wad}..{high_wad}")]
    OutsideBand {
        /// Projected HF, wad.
        projected_wad: u128,
        /// Band low, wad.
        low_wad: u128,
        /// Band high, wad.
        high_wad: u128,
    },
    /// An input field is invalid.
    #[error("invalid {field}: {value}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value and why.
        value: String,
    },
}
