//! Health factor in wad fixed point, Aave's convention.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// One in wad.
pub const WAD: u128 = 1_000_000_000_000_000_000;

/// A leveraged position: collateral against debt, both as wad amounts of whole tokens (18
/// decimals, whatever the token's own decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Collateral, whole tokens in wad (e.g. wstETH).
    pub collateral_wad: u128,
    /// Debt, whole tokens in wad (e.g. USDC, or ERC-4626 shares converted to assets).
    pub debt_wad: u128,
    /// Liquidation threshold, bps (8,500 = 0.85).
    pub liquidation_threshold_bps: u32,
}

/// `HF = C * Pc * L / (D * Pd)` in wad (Aave `calculateHealthFactorFromBalances`), rounded down;
/// `U256::MAX` when there is no debt. Prices are oracle prices, USD per whole token, wad.
pub fn health_factor(p: &Position, collateral_price_wad: u128, debt_price_wad: u128) -> U256 {
    if p.debt_wad == 0 {
        return U256::MAX;
    }
    let num = U256::from(p.collateral_wad)
        * U256::from(collateral_price_wad)
        * U256::from(p.liquidation_threshold_bps)
        * U256::from(WAD);
    let den = U256::from(p.debt_wad) * U256::from(debt_price_wad) * U256::from(10_000u32);
    if den.is_zero() { U256::MAX } else { num / den }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_vault() {
        // 100 wstETH at $2,000 against 150,000 USDC at $1, L = 0.85: HF = 1.1333...
        let p = Position {
            collateral_wad: 100 * WAD,
            debt_wad: 150_000 * WAD,
            liquidation_threshold_bps: 8_500,
        };
        let hf = health_factor(&p, 2_000 * WAD, WAD);
        assert_eq!(hf, U256::from(1_133_333_333_333_333_333u128));
        let none = Position { debt_wad: 0, ..p };
        assert_eq!(health_factor(&none, 2_000 * WAD, WAD), U256::MAX);
    }
}

/// A wad as an exact decimal string with 18 fractional digits (`1.250013000000000000`);
/// `U256::MAX` (no debt: maximal HF) as `inf`.
pub fn wad_decimal(v: U256) -> String {
    if v == U256::MAX {
        return "inf".into();
    }
    let w = U256::from(WAD);
    format!("{}.{:018}", v / w, (v % w).to::<u128>())
}

#[cfg(test)]
mod wad_decimal_tests {
    use super::*;

    #[test]
    fn formats_exactly() {
        assert_eq!(wad_decimal(U256::from(1_250_013_000_000_000_000u128)), "1.250013000000000000");
        assert_eq!(wad_decimal(U256::from(5u8)), "0.000000000000000005");
        assert_eq!(wad_decimal(U256::MAX), "inf");
    }
}
