//! A struct-of-arrays book of positions and the per-tick health-factor scan.
//!
//! The scan is an `f64` pass over contiguous arrays (`C * L`, `D`, asset ids): a position whose
//! f64 HF is below the trigger by more than a relative 1e-9 is breached, one above it by more
//! than 1e-9 is not (the f64 error here is ~1e-15), and only the few inside that band are
//! decided by the exact wad [`health_factor`]. The result is exact; the hot loop stays simple.

use alloy_primitives::U256;

use crate::{Position, WAD, health_factor};

/// Assets of the book (indices into a tick's price vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Asset {
    /// Lido wrapped staked ETH.
    WstEth = 0,
    /// ether.fi wrapped eETH.
    WeEth = 1,
    /// USD Coin (as the underlying of an ERC-4626 share).
    Usdc = 2,
    /// Wrapped ether (as the underlying of an ERC-4626 share).
    Weth = 3,
}

/// Number of assets a price vector carries.
pub const ASSETS_N: usize = 4;

/// Positions as parallel arrays.
#[derive(Debug, Clone, Default)]
pub struct VaultBook {
    collateral_wad: Vec<u128>,
    debt_wad: Vec<u128>,
    threshold_bps: Vec<u16>,
    collateral_asset: Vec<u8>,
    debt_asset: Vec<u8>,
    // f64 mirrors for the scan: C * L (whole tokens) and D (whole tokens).
    cl: Vec<f64>,
    d: Vec<f64>,
}

impl VaultBook {
    /// An empty book with room for `n` positions.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            collateral_wad: Vec::with_capacity(n),
            debt_wad: Vec::with_capacity(n),
            threshold_bps: Vec::with_capacity(n),
            collateral_asset: Vec::with_capacity(n),
            debt_asset: Vec::with_capacity(n),
            cl: Vec::with_capacity(n),
            d: Vec::with_capacity(n),
        }
    }

    /// Adds a position; returns its index.
    pub fn push(&mut self, p: Position, collateral: Asset, debt: Asset) -> usize {
        self.collateral_wad.push(p.collateral_wad);
        self.debt_wad.push(p.debt_wad);
        self.threshold_bps.push(p.liquidation_threshold_bps.min(u16::MAX as u32) as u16);
        self.collateral_asset.push(collateral as u8);
        self.debt_asset.push(debt as u8);
        self.cl
            .push(p.collateral_wad as f64 / WAD as f64 * p.liquidation_threshold_bps as f64 / 1e4);
        self.d.push(p.debt_wad as f64 / WAD as f64);
        self.len() - 1
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.cl.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.cl.is_empty()
    }

    /// Position `i`.
    pub fn position(&self, i: usize) -> Position {
        Position {
            collateral_wad: self.collateral_wad[i],
            debt_wad: self.debt_wad[i],
            liquidation_threshold_bps: self.threshold_bps[i] as u32,
        }
    }

    /// `(collateral asset, debt asset)` of position `i`.
    pub fn assets(&self, i: usize) -> (u8, u8) {
        (self.collateral_asset[i], self.debt_asset[i])
    }

    /// Replaces position `i` (after a rebalance).
    pub fn set(&mut self, i: usize, p: Position) {
        self.collateral_wad[i] = p.collateral_wad;
        self.debt_wad[i] = p.debt_wad;
        self.cl[i] =
            p.collateral_wad as f64 / WAD as f64 * p.liquidation_threshold_bps as f64 / 1e4;
        self.d[i] = p.debt_wad as f64 / WAD as f64;
    }

    /// Exact HF of position `i` at oracle `prices_wad` (USD per whole token, by [`Asset`]).
    pub fn health_factor(&self, i: usize, prices_wad: &[u128; ASSETS_N]) -> U256 {
        let (c, d) = self.assets(i);
        health_factor(&self.position(i), prices_wad[c as usize], prices_wad[d as usize])
    }

    /// Indices of every position with HF below `trigger_wad` at oracle `prices_wad`, exact.
    pub fn scan(&self, prices_wad: &[u128; ASSETS_N], trigger_wad: u128) -> Vec<usize> {
        let p: [f64; ASSETS_N] = std::array::from_fn(|k| prices_wad[k] as f64 / WAD as f64);
        let trig = trigger_wad as f64 / WAD as f64;
        let (hi, lo) = (trig * (1.0 + 1e-9), trig * (1.0 - 1e-9));
        let mut breached = Vec::new();
        for i in 0..self.cl.len() {
            let lhs = self.cl[i] * p[self.collateral_asset[i] as usize];
            let debt = self.d[i] * p[self.debt_asset[i] as usize];
            // f64 is exact to ~1e-15 here: only the 1e-9 band around the trigger needs wad math.
            if lhs < lo * debt
                || (lhs < hi * debt && self.health_factor(i, prices_wad) < U256::from(trigger_wad))
            {
                breached.push(i);
            }
        }
        breached
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The scan equals the naive exact filter (wad HF of every position), including
        /// positions placed within a few wei of the trigger.
        #[test]
        fn scan_matches_the_exact_reference(v in prop::collection::vec((1u128..1_000_000, 1u128..2_000_000, 5_000u32..9_500, -3i128..3, any::<bool>()), 1..200), pc in 1u128..5_000) {
            let prices = [pc * WAD, 2 * pc * WAD, WAD, pc * WAD];
            let trigger = 1_150_000_000_000_000_000u128;
            let mut b = VaultBook::with_capacity(v.len());
            for (c, d, l, nudge, near) in v {
                let mut p = Position { collateral_wad: c * WAD, debt_wad: d * WAD, liquidation_threshold_bps: l };
                if near {
                    // Debt that puts HF at the trigger, nudged by a few wei.
                    let exact = U256::from(p.collateral_wad) * U256::from(pc * WAD) * U256::from(l) * U256::from(WAD) / (U256::from(trigger) * U256::from(WAD) * U256::from(10_000u32));
                    p.debt_wad = (exact.to::<u128>() as i128 + nudge).max(1) as u128;
                }
                b.push(p, Asset::WstEth, Asset::Usdc);
            }
            let naive: Vec<usize> = (0..b.len()).filter(|&i| b.health_factor(i, &prices) < U256::from(trigger)).collect();
            prop_assert_eq!(b.scan(&prices, trigger), naive);
        }
    }

    #[test]
    fn the_scan_is_exact_at_the_boundary() {
        let mut b = VaultBook::with_capacity(3);
        // HF exactly 1.15 (not breached), a hair under, and far above.
        let at = Position {
            collateral_wad: 115 * WAD,
            debt_wad: 85 * WAD,
            liquidation_threshold_bps: 8_500,
        };
        b.push(at, Asset::WstEth, Asset::Usdc);
        b.push(Position { collateral_wad: 115 * WAD - 1, ..at }, Asset::WstEth, Asset::Usdc);
        b.push(Position { collateral_wad: 1_000 * WAD, ..at }, Asset::WstEth, Asset::Usdc);
        let prices = [WAD, WAD, WAD, WAD];
        assert_eq!(b.health_factor(0, &prices), U256::from(1_150_000_000_000_000_000u128));
        assert_eq!(b.scan(&prices, 1_150_000_000_000_000_000), vec![1]);
    }
}
