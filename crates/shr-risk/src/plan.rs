//! The closed-form rebalancing plan: how much collateral to sell so that, after the proceeds
//! repay debt, the health factor is back at the target.
//!
//! With oracle prices `Pc`, `Pd`, the DEX price `Pdex` of the collateral (a stETH depeg hits the
//! swap, not the oracle), slippage `s`, threshold `L` and target `T`, selling `x` collateral for
//! `x * Pdex * (1 - s) / Pd` debt tokens gives `HF(x) = (C - x) Pc L / (D Pd - x Pdex (1 - s))`,
//! and `HF(x) = T` solves to
//!
//! `x = (T D Pd - C Pc L) / (T Pdex (1 - s) - Pc L)`,
//!
//! the reference design's `x = (C Pc L - T D Pd) / (Pc (L - T (1 - s)))` when `Pdex = Pc`.
//! Guards: the denominator must be positive (`T (1 - s) Pdex > L Pc`, else the target is
//! infeasible), and `C Pdex (1 - s) > D Pd` (else selling everything cannot repay the debt: the
//! position cannot be saved by selling). `x` is rounded up and clamped below `C`; the repayment
//! never exceeds the debt. The slippage is iterated against a price-impact model `s(x)` until it
//! stops changing, and the projected HF must land in `T +/- band` (DeFi Saver's and Summer.fi's
//! post-check) unless the debt is repaid in full.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::{Error, Position, Result, WAD, health_factor};

/// Prices a plan needs, USD per whole token, wad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    /// The lending market's oracle price of the collateral.
    pub collateral_oracle_wad: u128,
    /// The oracle price of the debt asset.
    pub debt_oracle_wad: u128,
    /// What the collateral sells for on the DEX before slippage.
    pub collateral_dex_wad: u128,
}

/// Plan bounds (the reference design's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanConfig {
    /// Plan when HF falls below this, wad (1.15).
    pub trigger_wad: u128,
    /// Bring HF back to this, wad (1.25).
    pub target_wad: u128,
    /// Slippage tolerance and floor of `s`, bps (50).
    pub slippage_bps: u32,
    /// Post-check band around the target, bps of the target (200: +/- 2 %).
    pub band_bps: u32,
    /// Slippage iterations before giving up (32).
    pub max_iterations: u32,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            trigger_wad: 1_150_000_000_000_000_000,
            target_wad: 1_250_000_000_000_000_000,
            slippage_bps: 50,
            band_bps: 200,
            max_iterations: 32,
        }
    }
}

/// A rebalancing plan for one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Collateral to sell, wad (the swap's `amountInMaximum`).
    pub sell_collateral_wad: u128,
    /// Debt to repay, wad (the exact output of the swap).
    pub repay_debt_wad: u128,
    /// HF before, wad.
    pub hf_before_wad: U256,
    /// HF after at the oracle prices, wad (`U256::MAX` when the debt is repaid in full).
    pub hf_projected_wad: U256,
    /// The slippage the plan was solved with, bps.
    pub slippage_bps: u32,
    /// Slippage iterations used.
    pub iterations: u32,
}

/// The sell size for slippage `slippage_bps`: `(collateral to sell, debt repaid)`, wad.
///
/// # Errors
/// [`Error::InfeasibleTarget`], [`Error::Unsavable`], [`Error::Invalid`] for a zero price.
pub fn sell_size(
    p: &Position,
    prices: &Prices,
    target_wad: u128,
    slippage_bps: u32,
) -> Result<(u128, u128)> {
    if prices.collateral_oracle_wad == 0 || prices.debt_oracle_wad == 0 {
        return Err(Error::Invalid { field: "prices", value: format!("{prices:?}") });
    }
    if slippage_bps >= 10_000 {
        return Err(Error::Invalid { field: "slippage_bps", value: slippage_bps.to_string() });
    }
    let w = U256::from(WAD);
    let l = U256::from(p.liquidation_threshold_bps) * U256::from(100_000_000_000_000u128); // bps -> wad
    let t = U256::from(target_wad);
    let (c, d) = (U256::from(p.collateral_wad), U256::from(p.debt_wad));
    let (pc, pd) = (U256::from(prices.collateral_oracle_wad), U256::from(prices.debt_oracle_wad));
    // q: what one collateral token fetches after slippage, USD wad.
    let q = U256::from(prices.collateral_dex_wad) * U256::from(10_000 - slippage_bps)
        / U256::from(10_000u32);
    let per_unit_gain = t * q; // wad^2
    let per_unit_loss = pc * l; // wad^2
    if per_unit_gain <= per_unit_loss {
        return Err(Error::InfeasibleTarget {
            target_wad,
            threshold_bps: p.liquidation_threshold_bps,
        });
    }
    if c * q <= d * pd {
        return Err(Error::Unsavable {
            collateral_value_wad: (c * q / w).saturating_to(),
            debt_value_wad: (d * pd / w).saturating_to(),
        });
    }
    let need = t * d * pd; // wad^3
    let have = c * pc * l; // wad^3
    if need <= have {
        return Ok((0, 0)); // already at or above the target
    }
    let mut x = (need - have).div_ceil(per_unit_gain - per_unit_loss);
    if x >= c {
        x = c - U256::from(1);
    }
    let mut repay = x * q / pd;
    if repay >= d {
        // Never repay more than the debt: sell only what repays it in full.
        repay = d;
        x = (d * pd).div_ceil(q).min(c);
        return Ok((x.saturating_to(), repay.saturating_to()));
    }
    // Flooring the repayment can leave HF a few wei under the target: sell a few wei more.
    let hf_ok = |x: U256, repay: U256| (c - x) * pc * l * w >= t * (d - repay) * pd * w;
    let mut bumps = 0;
    while !hf_ok(x, repay) && x + U256::from(1) < c && bumps < 1_000 {
        x += U256::from(1);
        repay = (x * q / pd).min(d);
        bumps += 1;
    }
    Ok((x.saturating_to(), repay.saturating_to()))
}

/// The plan for `p`, `None` when its HF is at or above the trigger. `impact_bps(x)` is the
/// price-impact model of the swap (e.g. Uniswap V2 `getAmountOut` on the real pool) for
/// selling `x` collateral (wad); the slippage used is `max(cfg.slippage_bps, impact_bps(x))`,
/// iterated until it stops changing.
///
/// # Errors
/// The guards of [`sell_size`]; [`Error::NoConvergence`]; [`Error::OutsideBand`].
pub fn plan(
    p: &Position,
    prices: &Prices,
    cfg: &PlanConfig,
    impact_bps: impl Fn(u128) -> u32,
) -> Result<Option<Plan>> {
    let hf_before = health_factor(p, prices.collateral_oracle_wad, prices.debt_oracle_wad);
    if hf_before >= U256::from(cfg.trigger_wad) {
        return Ok(None);
    }
    let mut s = cfg.slippage_bps;
    for i in 1..=cfg.max_iterations {
        let (x, repay) = sell_size(p, prices, cfg.target_wad, s)?;
        let next = cfg.slippage_bps.max(impact_bps(x));
        if next <= s {
            let after = Position {
                collateral_wad: p.collateral_wad - x,
                debt_wad: p.debt_wad - repay,
                ..*p
            };
            let hf = health_factor(&after, prices.collateral_oracle_wad, prices.debt_oracle_wad);
            let t = U256::from(cfg.target_wad);
            let band = t * U256::from(cfg.band_bps) / U256::from(10_000u32);
            if after.debt_wad > 0 && (hf < t - band || hf > t + band) {
                return Err(Error::OutsideBand {
                    projected_wad: hf.saturating_to(),
                    low_wad: (t - band).saturating_to(),
                    high_wad: (t + band).saturating_to(),
                });
            }
            return Ok(Some(Plan {
                sell_collateral_wad: x,
                repay_debt_wad: repay,
                hf_before_wad: hf_before,
                hf_projected_wad: hf,
                slippage_bps: s,
                iterations: i,
            }));
        }
        s = next;
    }
    Err(Error::NoConvergence(cfg.max_iterations))
}

#[cfg(test)]
mod tests;
