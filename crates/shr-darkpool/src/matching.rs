//! The matching core: pure and synchronous, prices and time as arguments.
//!
//! Policy (documented in `docs/ARCHITECTURE.md`): a maker is eligible when its commitment has
//! not expired, its spread is within the requester's premium, its ask (`twap * (1 + spread)`,
//! rounded up) lies inside the requester's price band, and its size covers its own minimum
//! fill. Eligible makers are taken **best ask first**; makers at the same ask share what is left
//! **pro rata** to their committed size (floor, then one base unit each to the largest makers
//! until the level is used up). A maker whose share would fall below its minimum fill drops out
//! of that level and the share is recomputed. The request ends `Filled`, `PartiallyFilled` (at
//! least its own minimum fill) or `Unfilled` (no fills at all: nothing is settled or revealed).

use alloy::primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One in wad.
const WAD: u128 = 1_000_000_000_000_000_000;

/// A maker's pre-committed liquidity (sealed to the matcher; never public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerCommitment {
    /// The maker's account in the pool.
    pub maker: Address,
    /// Collateral offered, base units (sats).
    pub size: u128,
    /// Smallest fill the maker accepts, base units.
    pub min_fill: u128,
    /// The maker's spread over the TWAP, bps.
    pub spread_bps: u32,
    /// Unix seconds after which the commitment is void.
    pub expiry: u64,
}

/// A requester's order (sealed to the matcher; never public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Collateral wanted, base units.
    pub size: u128,
    /// Lowest acceptable price, payment base units per collateral base unit, wad.
    pub min_price_wad: u128,
    /// Highest acceptable price, same unit.
    pub max_price_wad: u128,
    /// Largest spread over the TWAP the requester pays, bps.
    pub premium_bps: u32,
    /// Smallest total fill worth settling, base units.
    pub min_fill: u128,
    /// Unix seconds after which the order is void.
    pub deadline: u64,
}

/// One maker's fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The maker.
    pub maker: Address,
    /// Collateral delivered, base units.
    pub amount: u128,
    /// Price, payment base units per collateral base unit, wad.
    pub price_wad: u128,
    /// Payment to the maker, base units: `ceil(amount * price_wad / 1e18)`.
    pub payment: U256,
}

/// How a match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchStatus {
    /// The whole order.
    Filled,
    /// At least the order's minimum fill, less than all of it.
    PartiallyFilled,
    /// Nothing (liquidity short of the minimum): no settlement.
    Unfilled,
}

/// The result of matching one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOutcome {
    /// Status.
    pub status: MatchStatus,
    /// Fills, best ask first (empty when `Unfilled`).
    pub fills: Vec<Fill>,
    /// Collateral filled, base units.
    pub filled: u128,
    /// What the requester pays in total, base units (the sum of the fills' payments).
    pub payment: U256,
}

/// A maker's ask: `twap * (10_000 + spread_bps) / 10_000`, rounded up (wad).
pub fn ask_wad(twap_wad: u128, spread_bps: u32) -> Result<u128> {
    let v = U256::from(twap_wad) * U256::from(10_000u32 + spread_bps);
    u128::try_from(v.div_ceil(U256::from(10_000u32))).map_err(|_| Error::Overflow("ask"))
}

/// Payment for `amount` at `price_wad`, rounded up (the maker never gets less than its ask).
pub fn payment(amount: u128, price_wad: u128) -> U256 {
    (U256::from(amount) * U256::from(price_wad)).div_ceil(U256::from(WAD))
}

/// Matches `order` against `makers` at `twap_wad` (payment base units per collateral base unit,
/// wad) at unix time `now`. Deterministic: the same inputs in any maker order give the same
/// outcome (makers are ordered by ask, then address).
///
/// # Errors
/// [`Error::InvalidOrder`] naming the field for an empty size, an inverted band, a minimum fill
/// above the size or a past deadline; [`Error::Overflow`] for a TWAP too large for an ask.
pub fn match_order(
    order: &Order,
    makers: &[MakerCommitment],
    twap_wad: u128,
    now: u64,
) -> Result<MatchOutcome> {
    if order.size == 0 {
        return Err(Error::InvalidOrder { field: "size", value: "0".into() });
    }
    if order.min_price_wad > order.max_price_wad {
        return Err(Error::InvalidOrder {
            field: "min_price_wad",
            value: format!("{} > max_price_wad {}", order.min_price_wad, order.max_price_wad),
        });
    }
    if order.min_fill > order.size {
        return Err(Error::InvalidOrder {
            field: "min_fill",
            value: format!("{} > size {}", order.min_fill, order.size),
        });
    }
    if now > order.deadline {
        return Err(Error::InvalidOrder {
            field: "deadline",
            value: format!("{} before now {now}", order.deadline),
        });
    }
    // Eligible makers, then grouped by spread: a maker's ask depends on its spread only and
    // grows with it, so price levels are runs of spreads, each ask computed once, and only
    // the levels the order reaches are ordered by address (O(n) for a book of any size).
    let mut eligible: Vec<(u32, u32)> = Vec::with_capacity(makers.len());
    for (k, m) in makers.iter().enumerate() {
        if m.expiry <= now || m.spread_bps > order.premium_bps || m.size == 0 || m.min_fill > m.size
        {
            continue;
        }
        eligible.push((m.spread_bps, k as u32));
    }
    // An ask too large for the TWAP fails the match, whichever level the order would reach.
    if let Some(widest) = eligible.iter().map(|e| e.0).max() {
        ask_wad(twap_wad, widest)?;
    }
    sort_by_spread(&mut eligible);

    let mut fills = Vec::new();
    let mut left = order.size;
    let mut i = 0;
    let mut level: Vec<MakerCommitment> = Vec::new();
    while i < eligible.len() && left > 0 {
        let ask = ask_wad(twap_wad, eligible[i].0)?;
        // The level: every following spread with the same (rounded) ask.
        let (mut j, mut spread) = (i, eligible[i].0);
        while j < eligible.len() {
            if eligible[j].0 != spread {
                if ask_wad(twap_wad, eligible[j].0)? != ask {
                    break;
                }
                spread = eligible[j].0;
            }
            j += 1;
        }
        if ask > order.max_price_wad {
            break;
        }
        if ask >= order.min_price_wad {
            level.clear();
            level.extend(eligible[i..j].iter().map(|e| makers[e.1 as usize]));
            level.sort_unstable_by_key(|m| m.maker);
            for (m, amount) in fill_level(&level, left) {
                left -= amount;
                fills.push(Fill {
                    maker: m,
                    amount,
                    price_wad: ask,
                    payment: payment(amount, ask),
                });
            }
        }
        i = j;
    }
    Ok(outcome(order, fills, left))
}

/// The outcome of `fills` for `order` with `left` base units unfilled: `Filled`,
/// `PartiallyFilled` (at least the order's minimum fill) or `Unfilled` (no fills kept).
fn outcome(order: &Order, mut fills: Vec<Fill>, left: u128) -> MatchOutcome {
    let filled = order.size - left;
    let status = if left == 0 {
        MatchStatus::Filled
    } else if filled > 0 && filled >= order.min_fill {
        MatchStatus::PartiallyFilled
    } else {
        fills.clear();
        MatchStatus::Unfilled
    };
    let filled = if status == MatchStatus::Unfilled { 0 } else { filled };
    let payment = fills.iter().map(|f| f.payment).fold(U256::ZERO, |a, b| a + b);
    MatchOutcome { status, fills, filled, payment }
}

/// Orders `(spread, index)` by spread, stably: a counting sort when the spreads span at most a
/// few times the entries (every real book: spreads are a few hundred bps), else a comparison
/// sort. Ties keep the input order; the level's address order is applied later.
fn sort_by_spread(v: &mut Vec<(u32, u32)>) {
    let (Some(lo), Some(hi)) = (v.iter().map(|e| e.0).min(), v.iter().map(|e| e.0).max()) else {
        return;
    };
    let span = (hi - lo) as usize + 1;
    if span > 4 * v.len() + 64 {
        v.sort_by_key(|e| e.0);
        return;
    }
    let mut start = vec![0u32; span + 1];
    for e in v.iter() {
        start[(e.0 - lo) as usize + 1] += 1;
    }
    for k in 1..=span {
        start[k] += start[k - 1];
    }
    let mut out = vec![(0u32, 0u32); v.len()];
    for e in v.iter() {
        let slot = &mut start[(e.0 - lo) as usize];
        out[*slot as usize] = *e;
        *slot += 1;
    }
    *v = out;
}

/// Splits up to `want` across one price level: all of it when the level is smaller, else pro
/// rata with minimum fills honoured. Returns `(maker, amount)` with amount > 0.
fn fill_level(level: &[MakerCommitment], want: u128) -> Vec<(Address, u128)> {
    let total: u128 = level.iter().map(|m| m.size).sum();
    if total <= want {
        return level.iter().map(|m| (m.maker, m.size)).collect();
    }
    let mut active: Vec<MakerCommitment> = level.to_vec();
    loop {
        let total: u128 = active.iter().map(|m| m.size).sum();
        if total <= want {
            return active.iter().map(|m| (m.maker, m.size)).collect();
        }
        // Floor pro rata shares, in U256 to avoid overflow of size * want.
        let mut shares: Vec<u128> = active
            .iter()
            .map(|m| {
                let s = U256::from(m.size) * U256::from(want) / U256::from(total);
                u128::try_from(s).unwrap_or(m.size)
            })
            .collect();
        let mut rest = want - shares.iter().sum::<u128>();
        // Remainder: one unit each, largest makers first (address breaks ties).
        let mut order: Vec<usize> = (0..active.len()).collect();
        order.sort_by(|&a, &b| {
            active[b].size.cmp(&active[a].size).then(active[a].maker.cmp(&active[b].maker))
        });
        for &k in order.iter().cycle().take(active.len() * 2) {
            if rest == 0 {
                break;
            }
            if shares[k] < active[k].size {
                shares[k] += 1;
                rest -= 1;
            }
        }
        let below: Vec<usize> =
            (0..active.len()).filter(|&k| shares[k] < active[k].min_fill.max(1)).collect();
        if below.is_empty() {
            return active.iter().zip(shares).map(|(m, s)| (m.maker, s)).collect();
        }
        // Drop the makers whose share is under their minimum fill and share again.
        let drop: std::collections::HashSet<usize> = below.into_iter().collect();
        active = active
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !drop.contains(k))
            .map(|x| x.1)
            .collect();
    }
}

#[cfg(test)]
mod tests;
