//! The collateral's USD price from a Chainlink `AggregatorV3Interface` feed, held to the bounds
//! Chainlink's documentation asks of a consumer: a positive answer, an `updatedAt` neither in
//! the future nor older than the feed's heartbeat allowance, and a round answered in itself
//! (`answeredInRound >= roundId`); and, when the deployment names a second feed of the same
//! price, the two answers within a deviation bound ([`checked_price_usd_e8`]).

use alloy::primitives::{Address, I256};
use shr_chain::Chain;
use shr_contracts::{bindings::ReserveFeed, view};
use shr_oracle::PriceFeedDeployment;

use crate::{Error, Result};

/// How far in the future a feed's `updatedAt` may be, seconds (clock skew between a node and
/// the chain's block time).
pub const MAX_FUTURE_SECS: u64 = 60;

/// The answer of `feed` scaled to 8 decimals (USD per whole token, e8), checked at `now`
/// (unix seconds of the chain's latest block) against `max_age_secs`.
///
/// # Errors
/// [`Error::PriceFeed`] naming what does not hold: a non-positive answer, a stale or future
/// `updatedAt`, an answer carried over from an earlier round, more than 36 decimals; contract
/// errors of the calls.
pub async fn feed_price_usd_e8(
    chain: &dyn Chain,
    feed: Address,
    max_age_secs: u64,
    now: u64,
) -> Result<u128> {
    let r = view(chain, feed, &ReserveFeed::latestRoundDataCall {}).await?;
    let decimals = view(chain, feed, &ReserveFeed::decimalsCall {}).await?;
    // (roundId, answer, startedAt, updatedAt, answeredInRound)
    let updated_at: u64 = r._3.try_into().unwrap_or(u64::MAX);
    check_round(
        feed,
        (r._1, updated_at, r._0.to::<u128>(), r._4.to::<u128>()),
        decimals,
        (max_age_secs, now),
    )
}

/// The price of `feed` as [`feed_price_usd_e8`] reads it, cross-checked against the feed's
/// `reference` when the manifest names one: both answers pass the same checks, and they may
/// differ by at most `max_deviation_bps` of the smaller one. Returns the primary's answer (USD
/// per whole token, e8).
///
/// # Errors
/// As [`feed_price_usd_e8`] for either feed; [`Error::PriceFeed`] naming both answers and the
/// deviation when they disagree.
pub async fn checked_price_usd_e8(
    chain: &dyn Chain,
    feed: &PriceFeedDeployment,
    now: u64,
) -> Result<u128> {
    let price = feed_price_usd_e8(chain, feed.address, feed.max_age_secs, now).await?;
    if let Some(reference) = feed.reference {
        let other = feed_price_usd_e8(chain, reference, feed.max_age_secs, now).await?;
        check_deviation(feed.address, (price, other), feed.max_deviation_bps)?;
    }
    Ok(price)
}

/// `|a - b|` in bps of `min(a, b)`, refused above `max_bps` (both answers positive e8).
fn check_deviation(feed: Address, (a, b): (u128, u128), max_bps: u32) -> Result<()> {
    let (lo, hi) = (a.min(b), a.max(b));
    let bps = (hi - lo).saturating_mul(10_000) / lo.max(1);
    if bps > u128::from(max_bps) {
        return Err(Error::PriceFeed {
            feed,
            why: format!(
                "answer {a} (e8) deviates from the reference answer {b} by {bps} bps (limit {max_bps} bps)"
            ),
        });
    }
    Ok(())
}

/// The pure checks of [`feed_price_usd_e8`]: `(answer, updatedAt, roundId, answeredInRound)`.
fn check_round(
    feed: Address,
    (answer, updated_at, round_id, answered_in): (I256, u64, u128, u128),
    decimals: u8,
    (max_age_secs, now): (u64, u64),
) -> Result<u128> {
    let bad = |why: String| Error::PriceFeed { feed, why };
    if answer <= I256::ZERO {
        return Err(bad(format!("answer {answer} is not positive")));
    }
    if updated_at > now + MAX_FUTURE_SECS {
        return Err(bad(format!("updatedAt {updated_at} is in the future at {now}")));
    }
    if now.saturating_sub(updated_at) > max_age_secs {
        return Err(bad(format!(
            "updatedAt {updated_at} is {} s old at {now} (limit {max_age_secs} s)",
            now - updated_at
        )));
    }
    if answered_in < round_id {
        return Err(bad(format!("round {round_id} carries the answer of round {answered_in}")));
    }
    if decimals > 36 {
        return Err(bad(format!("decimals {decimals} above 36")));
    }
    let answer = answer.into_raw();
    let scaled = if decimals >= 8 {
        answer
            / alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(decimals - 8))
    } else {
        answer
            * alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(8 - decimals))
    };
    u128::try_from(scaled).map_err(|_| bad(format!("answer {scaled} (e8) does not fit u128")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn check(answer: i64, updated_at: u64, ids: (u128, u128), decimals: u8) -> Result<u128> {
        check_round(
            Address::ZERO,
            (I256::try_from(answer).unwrap(), updated_at, ids.0, ids.1),
            decimals,
            (3_600, NOW),
        )
    }

    #[test]
    fn scales_to_eight_decimals() {
        assert_eq!(check(6_200_000_000_000, NOW - 10, (5, 5), 8).unwrap(), 6_200_000_000_000);
        assert_eq!(check(62_000, NOW, (5, 5), 0).unwrap(), 6_200_000_000_000);
        assert_eq!(check(62_000_000_000_000_000, NOW, (1, 2), 12).unwrap(), 6_200_000_000_000);
    }

    #[test]
    fn two_feeds_must_agree_within_the_deviation_bound() {
        let e8 = 100_000_000u128;
        assert!(check_deviation(Address::ZERO, (62_000 * e8, 62_000 * e8), 0).is_ok());
        // 2% apart either way: at the limit passes, 2.01% does not.
        assert!(check_deviation(Address::ZERO, (61_000 * e8, 62_220 * e8), 200).is_ok());
        assert!(check_deviation(Address::ZERO, (62_220 * e8, 61_000 * e8), 200).is_ok());
        let e = check_deviation(Address::ZERO, (61_000 * e8, 62_227 * e8), 200)
            .unwrap_err()
            .to_string();
        assert!(e.contains("201 bps") && e.contains("limit 200 bps"), "{e}");
        // A manipulated feed at half the price.
        let e = check_deviation(Address::ZERO, (31_000 * e8, 62_000 * e8), 200).unwrap_err();
        assert!(e.to_string().contains("10000 bps"), "{e}");
    }

    #[test]
    fn refuses_what_chainlink_says_to_refuse() {
        for (answer, at, ids, why) in [
            (0, NOW, (1, 1), "not positive"),
            (-5, NOW, (1, 1), "not positive"),
            (1, NOW - 3_601, (1, 1), "old"),
            (1, NOW + 61, (1, 1), "future"),
            (1, NOW, (2, 1), "carries the answer"),
        ] {
            let e = check(answer, at, ids, 8).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        assert!(check(1, NOW - 3_600, (1, 1), 8).is_ok());
    }
}
