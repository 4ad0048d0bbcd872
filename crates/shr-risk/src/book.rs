//! A struct-of-arrays book of positions and the per-tick health-factor scan.
//!
//! The scan reads five bytes a position: its ratio `C * L / D` (the HF at unit prices) as an
//! `f32`, and its asset pair as one byte. A position is breached when
//! `ratio * Pc / Pd < trigger`, that is `ratio < trigger * Pd / Pc`: one threshold per pair
//! and tick. A ratio below the pair's threshold by more than a relative 1e-6 is breached, one
//! above it by more than 1e-6 is not (an `f32` carries ~6e-8), and only the few inside that
//! band, or out of `f32`'s comfortable range (stored as NaN), are decided by the exact wad
//! [`health_factor`]. The result is exact. The loop decides 64 positions into two bit masks
//! without a branch, then walks the set bits: a random book breaches unpredictably, and a
//! branch per position would cost more than the memory it reads.

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
    /// `collateral asset * ASSETS_N + debt asset`.
    pair: Vec<u8>,
    /// `C * L / D` as `f32` (NaN: decide exactly).
    ratio: Vec<f32>,
}

/// Pairs a book can hold.
const PAIRS: usize = ASSETS_N * ASSETS_N;
/// Positions decided per bit mask.
const LANES: usize = 64;
/// Relative band around a threshold decided exactly (`f32` rounding is ~6e-8 per value).
const BAND: f64 = 1e-6;

/// `C * L / D` (whole tokens) as the scan's `f32`, NaN where `f32` would lose it (no debt,
/// below 1e-30 or above 1e30): such positions are always decided exactly.
fn ratio_f32(p: &Position) -> f32 {
    let r = p.collateral_wad as f64 * p.liquidation_threshold_bps as f64 / 1e4 / p.debt_wad as f64;
    if r.is_finite() && (1e-30..=1e30).contains(&r) { r as f32 } else { f32::NAN }
}

impl VaultBook {
    /// An empty book with room for `n` positions.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            collateral_wad: Vec::with_capacity(n),
            debt_wad: Vec::with_capacity(n),
            threshold_bps: Vec::with_capacity(n),
            pair: Vec::with_capacity(n),
            ratio: Vec::with_capacity(n),
        }
    }

    /// Adds a position; returns its index.
    pub fn push(&mut self, p: Position, collateral: Asset, debt: Asset) -> usize {
        self.collateral_wad.push(p.collateral_wad);
        self.debt_wad.push(p.debt_wad);
        self.threshold_bps.push(p.liquidation_threshold_bps.min(u16::MAX as u32) as u16);
        self.pair.push(collateral as u8 * ASSETS_N as u8 + debt as u8);
        self.ratio.push(ratio_f32(&p));
        self.len() - 1
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.ratio.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.ratio.is_empty()
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
        let k = self.pair[i];
        (k / ASSETS_N as u8, k % ASSETS_N as u8)
    }

    /// Replaces position `i` (after a rebalance).
    pub fn set(&mut self, i: usize, p: Position) {
        self.collateral_wad[i] = p.collateral_wad;
        self.debt_wad[i] = p.debt_wad;
        self.threshold_bps[i] = p.liquidation_threshold_bps.min(u16::MAX as u32) as u16;
        self.ratio[i] = ratio_f32(&p);
    }

    /// Exact HF of position `i` at oracle `prices_wad` (USD per whole token, by [`Asset`]).
    pub fn health_factor(&self, i: usize, prices_wad: &[u128; ASSETS_N]) -> U256 {
        let (c, d) = self.assets(i);
        health_factor(&self.position(i), prices_wad[c as usize], prices_wad[d as usize])
    }

    /// Indices of every position with HF below `trigger_wad` at oracle `prices_wad`, exact, in
    /// increasing order. Reads 5 bytes a position; see the module docs for the band.
    pub fn scan(&self, prices_wad: &[u128; ASSETS_N], trigger_wad: u128) -> Vec<usize> {
        let (lo, hi) = thresholds(prices_wad, trigger_wad);
        let trigger = U256::from(trigger_wad);
        let mut breached = Vec::with_capacity(self.len() / 4);
        let (mut t_lo, mut t_hi) = ([0f32; LANES], [0f32; LANES]);
        for (c, (ratios, pairs)) in
            self.ratio.chunks(LANES).zip(self.pair.chunks(LANES)).enumerate()
        {
            // Gather the lane thresholds, then compare lane by lane into two masks (the
            // comparison loop has no data-dependent branch and vectorises).
            for (j, &k) in pairs.iter().enumerate() {
                t_lo[j] = lo[k as usize % PAIRS];
                t_hi[j] = hi[k as usize % PAIRS];
            }
            let (mut sure, mut maybe) = (0u64, 0u64);
            for (j, &r) in ratios.iter().enumerate() {
                let below = r < t_lo[j];
                // NaN on either side lands here: decided exactly.
                let near = !below & (r < t_hi[j] || r.is_nan() || t_hi[j].is_nan());
                sure |= (below as u64) << j;
                maybe |= (near as u64) << j;
            }
            let mut bits = sure | maybe;
            while bits != 0 {
                let j = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let i = c * LANES + j;
                if (sure >> j) & 1 == 1 || self.health_factor(i, prices_wad) < trigger {
                    breached.push(i);
                }
            }
        }
        breached
    }
}

/// Per pair `(collateral, debt)`: the ratio below which a position is surely breached and the
/// one from which it surely is not, `trigger * Pd / Pc` less and plus [`BAND`]. NaN (every
/// position of the pair decided exactly) when that threshold is out of `f32`'s comfortable
/// range or not finite (a zero price).
fn thresholds(prices_wad: &[u128; ASSETS_N], trigger_wad: u128) -> ([f32; PAIRS], [f32; PAIRS]) {
    let (mut lo, mut hi) = ([f32::NAN; PAIRS], [f32::NAN; PAIRS]);
    let trig = trigger_wad as f64 / WAD as f64;
    for c in 0..ASSETS_N {
        for d in 0..ASSETS_N {
            let t =
                trig * (prices_wad[d] as f64 / WAD as f64) / (prices_wad[c] as f64 / WAD as f64);
            if t.is_finite() && (1e-30..=1e30).contains(&t) {
                lo[c * ASSETS_N + d] = (t * (1.0 - BAND)) as f32;
                hi[c * ASSETS_N + d] = (t * (1.0 + BAND)) as f32;
            }
        }
    }
    (lo, hi)
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

        /// Every asset pair, any prices (zero among them), debts from zero to far above the
        /// collateral, and more than one 64-position mask: still the naive exact filter.
        #[test]
        fn scan_matches_the_reference_on_every_pair_and_price(
            v in prop::collection::vec((0u128..1 << 100, 0u128..1 << 100, 0u32..10_001, 0u8..4, 0u8..4), 1..300),
            prices in prop::array::uniform4(prop_oneof![Just(0u128), 1u128..u64::MAX as u128, 1u128..1_000_000 * WAD]),
            trigger in prop_oneof![Just(WAD), 1u128..4 * WAD],
        ) {
            const ASSET: [Asset; 4] = [Asset::WstEth, Asset::WeEth, Asset::Usdc, Asset::Weth];
            let mut b = VaultBook::with_capacity(v.len());
            for (c, d, l, ca, da) in v {
                let p = Position { collateral_wad: c, debt_wad: d, liquidation_threshold_bps: l };
                b.push(p, ASSET[ca as usize], ASSET[da as usize]);
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
