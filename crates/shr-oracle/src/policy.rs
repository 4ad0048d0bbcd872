//! The solvency policy, evaluated inside each node's enclave. Pure: time comes as an argument.

use alloy::primitives::U256;

use crate::{Error, ReserveReading, Result};

/// 1e18, the wad.
pub const WAD: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// What counts as solvent, and when to tell the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Solvent iff `reserves * 10_000 >= supply * threshold_bps` (default 10,000 = 100 %).
    pub threshold_bps: u32,
    /// A reading older than this at evaluation is refused, seconds (default 10,800: three
    /// samples of the hourly wBTC feed).
    pub max_staleness: u64,
    /// A reading this far in the future is tolerated (clock skew), seconds (default 300).
    pub max_future_skew: u64,
    /// Consecutive short readings before the public outcome turns insolvent (default 2). The
    /// real wBTC series has one single-sample glitch (2024-10-08T23:17Z, ratio 0.936, back at
    /// the next sample): two confirmations absorb it and delay a real shortfall by one sample
    /// (about an hour on that feed). A return to solvency is reported at the first full reading.
    pub confirmations: u32,
    /// A report is transmitted when the outcome changes or this long after the last one,
    /// seconds (default 86,400: Chainlink PoR feeds' usual 24 h heartbeat).
    pub heartbeat: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            threshold_bps: 10_000,
            max_staleness: 10_800,
            max_future_skew: 300,
            confirmations: 2,
            heartbeat: 86_400,
        }
    }
}

/// One evaluation. Only `is_solvent` and `observed_at` are public; the rest stays in the enclave
/// (and reaches the agent sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The confirmed public outcome.
    pub is_solvent: bool,
    /// This reading alone meets the threshold.
    pub reading_solvent: bool,
    /// Observation time, unix seconds.
    pub observed_at: u64,
    /// Reserve ratio `reserves / supply`, wad.
    pub ratio_wad: U256,
    /// Base units missing to reach the threshold (0 when met).
    pub deficit: U256,
    /// The reading's supply, base units.
    pub supply: U256,
}

/// The policy plus its confirmation state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluator {
    policy: Policy,
    short_streak: u32,
    confirmed: Option<bool>,
}

impl Evaluator {
    /// A fresh evaluator.
    pub fn new(policy: Policy) -> Self {
        Self { policy, short_streak: 0, confirmed: None }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Evaluates `r` at `now` (unix seconds). A refused reading leaves the state unchanged.
    ///
    /// # Errors
    /// [`Error::Ripcord`], [`Error::Stale`], [`Error::FromTheFuture`], [`Error::ZeroSupply`].
    pub fn evaluate(&mut self, r: &ReserveReading, now: u64) -> Result<Evaluation> {
        if r.ripcord {
            return Err(Error::Ripcord);
        }
        if r.observed_at > now + self.policy.max_future_skew {
            return Err(Error::FromTheFuture { observed_at: r.observed_at, now });
        }
        if now.saturating_sub(r.observed_at) > self.policy.max_staleness {
            return Err(Error::Stale {
                observed_at: r.observed_at,
                now,
                max_staleness: self.policy.max_staleness,
            });
        }
        if r.supply.is_zero() {
            return Err(Error::ZeroSupply);
        }
        let bps = U256::from(self.policy.threshold_bps);
        let required = r.supply.saturating_mul(bps).div_ceil(U256::from(10_000));
        let reading_solvent = r.reserves >= required;
        let deficit = required.saturating_sub(r.reserves);
        let ratio_wad = r.reserves.saturating_mul(WAD) / r.supply;
        if reading_solvent {
            self.short_streak = 0;
            self.confirmed = Some(true);
        } else {
            self.short_streak = self.short_streak.saturating_add(1);
            if self.short_streak >= self.policy.confirmations.max(1) || self.confirmed.is_none() {
                self.confirmed = Some(false);
            }
        }
        let is_solvent = self.confirmed.unwrap_or(reading_solvent);
        Ok(Evaluation {
            is_solvent,
            reading_solvent,
            observed_at: r.observed_at,
            ratio_wad,
            deficit,
            supply: r.supply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(t: u64, reserves: u64, supply: u64) -> ReserveReading {
        ReserveReading {
            observed_at: t,
            reserves: U256::from(reserves),
            supply: U256::from(supply),
            ripcord: false,
        }
    }

    #[test]
    fn one_glitch_is_absorbed_a_sustained_shortfall_is_not() {
        let mut e = Evaluator::new(Policy::default());
        assert!(e.evaluate(&r(1, 100, 100), 1).unwrap().is_solvent);
        let g = e.evaluate(&r(2, 93, 100), 2).unwrap();
        assert!(g.is_solvent && !g.reading_solvent);
        assert_eq!(g.deficit, U256::from(7));
        assert!(e.evaluate(&r(3, 100, 100), 3).unwrap().is_solvent);
        assert!(e.evaluate(&r(4, 95, 100), 4).unwrap().is_solvent);
        assert!(
            !e.evaluate(&r(5, 95, 100), 5).unwrap().is_solvent,
            "second short reading confirms"
        );
        assert!(e.evaluate(&r(6, 100, 100), 6).unwrap().is_solvent, "recovery is immediate");
    }

    #[test]
    fn refusals_leave_state_unchanged() {
        let mut e = Evaluator::new(Policy::default());
        e.evaluate(&r(1, 90, 100), 1).unwrap();
        let before = e.clone();
        assert!(matches!(
            e.evaluate(&ReserveReading { ripcord: true, ..r(2, 100, 100) }, 2),
            Err(Error::Ripcord)
        ));
        assert!(matches!(e.evaluate(&r(2, 100, 0), 2), Err(Error::ZeroSupply)));
        assert!(matches!(e.evaluate(&r(2, 100, 100), 20_000), Err(Error::Stale { .. })));
        assert!(matches!(e.evaluate(&r(9_999, 100, 100), 2), Err(Error::FromTheFuture { .. })));
        assert_eq!(e, before);
    }

    proptest! {
        /// Against a naive reference: solvency and deficit from rational arithmetic.
        #[test]
        fn matches_naive_reference(reserves in 0u64..1u64 << 60, supply in 1u64..1u64 << 60, bps in 1u32..20_000) {
            let mut e = Evaluator::new(Policy { threshold_bps: bps, confirmations: 1, ..Policy::default() });
            let ev = e.evaluate(&r(1, reserves, supply), 1).unwrap();
            let lhs = reserves as u128 * 10_000;
            let rhs = supply as u128 * bps as u128;
            prop_assert_eq!(ev.reading_solvent, lhs >= rhs);
            let required = (supply as u128 * bps as u128).div_ceil(10_000);
            prop_assert_eq!(ev.deficit, U256::from(required.saturating_sub(reserves as u128)));
            prop_assert_eq!(ev.ratio_wad, U256::from(reserves as u128 * 1_000_000_000_000_000_000u128 / supply as u128));
        }
    }
}
