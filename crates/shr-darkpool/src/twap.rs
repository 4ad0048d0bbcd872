//! The oracle TWAP the matcher prices fills at: Uniswap V2's cumulative prices, read as
//! `UniswapV2OracleLibrary.currentCumulativePrices` does (counterfactual accumulation since the
//! pair's last update), averaged over a bounded window ([`TwapPolicy`]: 30 min by default, at
//! most twice that), and refused when the spot price strays from it (a flash-loan-moved pool).

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_contracts::{bindings::UniswapV2Pair, view};

use crate::{Error, Result};

/// One cumulative-price observation of a V2 pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Observation {
    /// The cumulative price of `base` in the other token, UQ112x112 times seconds (wrapping).
    pub cumulative: U256,
    /// Unix seconds (32-bit, as the pair keeps it).
    pub timestamp: u32,
}

/// Observes `pair` now: the cumulative price of `base` (collateral) in the other token, as
/// `currentCumulativePrices` computes it.
///
/// # Errors
/// Contract and chain errors; [`Error::UnsupportedToken`] when `base` is not in the pair.
pub async fn observe(chain: &dyn Chain, pair: Address, base: Address) -> Result<Observation> {
    let token0 = view(chain, pair, &UniswapV2Pair::token0Call {}).await?;
    let token1 = view(chain, pair, &UniswapV2Pair::token1Call {}).await?;
    let r = view(chain, pair, &UniswapV2Pair::getReservesCall {}).await?;
    let now = chain.timestamp().await? as u32;
    let (mut cumulative, base_reserve, quote_reserve) = if base == token0 {
        let c = view(chain, pair, &UniswapV2Pair::price0CumulativeLastCall {}).await?;
        (c, U256::from(r._reserve0), U256::from(r._reserve1))
    } else if base == token1 {
        let c = view(chain, pair, &UniswapV2Pair::price1CumulativeLastCall {}).await?;
        (c, U256::from(r._reserve1), U256::from(r._reserve0))
    } else {
        return Err(Error::UnsupportedToken(base));
    };
    if r._blockTimestampLast != now && !base_reserve.is_zero() {
        let elapsed = U256::from(now.wrapping_sub(r._blockTimestampLast));
        let price: U256 = (quote_reserve << 112usize) / base_reserve;
        cumulative = cumulative.wrapping_add(price.wrapping_mul(elapsed));
    }
    Ok(Observation { cumulative, timestamp: now })
}

/// The time-weighted average price between two observations, quote base units per base unit,
/// wad: `(c1 - c0) / (t1 - t0)` in UQ112x112, scaled to 1e18.
///
/// # Errors
/// [`Error::InvalidOrder`] naming `window` when the observations are not in time order.
pub fn twap_wad(earlier: &Observation, later: &Observation) -> Result<u128> {
    let dt = later.timestamp.wrapping_sub(earlier.timestamp);
    if dt == 0 || dt > u32::MAX / 2 {
        return Err(Error::InvalidOrder {
            field: "window",
            value: format!("{} -> {}", earlier.timestamp, later.timestamp),
        });
    }
    let avg = later.cumulative.wrapping_sub(earlier.cumulative) / U256::from(dt);
    let wad = (avg * U256::from(1_000_000_000_000_000_000u128)) >> 112;
    u128::try_from(wad).map_err(|_| Error::Overflow("twap"))
}

/// The default TWAP window, seconds (30 minutes).
pub const DEFAULT_TWAP_WINDOW_SECS: u64 = 1_800;

/// How a TWAP is read and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwapPolicy {
    /// The shortest window, seconds; the longest is twice it (a lifetime average is refused).
    pub window_secs: u64,
    /// The largest spot/TWAP divergence accepted, bps of the TWAP.
    pub max_divergence_bps: u32,
}

impl Default for TwapPolicy {
    fn default() -> Self {
        Self { window_secs: DEFAULT_TWAP_WINDOW_SECS, max_divergence_bps: 200 }
    }
}

/// The TWAP of `base` in `pair` from `earlier` (taken by the caller at least
/// `policy.window_secs` ago, at most twice that) to now, wad, checked against the spot price.
///
/// # Errors
/// [`Error::InvalidOrder`] naming `twap_window` when `earlier` is too recent or too old, or
/// `spot_divergence_bps` when the spot price strays more than `max_divergence_bps`; chain and
/// contract errors.
pub async fn twap_checked(
    chain: &dyn Chain,
    pair: Address,
    base: Address,
    earlier: &Observation,
    policy: &TwapPolicy,
) -> Result<u128> {
    let later = observe(chain, pair, base).await?;
    let dt = u64::from(later.timestamp.wrapping_sub(earlier.timestamp));
    if dt < policy.window_secs || dt > 2 * policy.window_secs {
        return Err(Error::InvalidOrder {
            field: "twap_window",
            value: format!("{dt} s, need {} ..= {} s", policy.window_secs, 2 * policy.window_secs),
        });
    }
    let twap = twap_wad(earlier, &later)?;
    let token0 = view(chain, pair, &UniswapV2Pair::token0Call {}).await?;
    let r = view(chain, pair, &UniswapV2Pair::getReservesCall {}).await?;
    let (rb, rq) = if token0 == base {
        (U256::from(r._reserve0), U256::from(r._reserve1))
    } else {
        (U256::from(r._reserve1), U256::from(r._reserve0))
    };
    if rb.is_zero() || twap == 0 {
        return Err(Error::InvalidOrder { field: "twap", value: "empty pool".into() });
    }
    let spot = rq * U256::from(1_000_000_000_000_000_000u128) / rb;
    let t = U256::from(twap);
    let diff = if spot > t { spot - t } else { t - spot };
    let bps = diff * U256::from(10_000u32) / t;
    if bps > U256::from(policy.max_divergence_bps) {
        return Err(Error::InvalidOrder {
            field: "spot_divergence_bps",
            value: format!("{bps} > {}", policy.max_divergence_bps),
        });
    }
    Ok(twap)
}

/// The observations a TWAP reader keeps for one pair (Uniswap's sliding-window oracle pattern:
/// a V2 pair keeps no history, so the reader must have looked a window ago): at most one per
/// half window, none older than twice the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObservationWindow {
    observations: Vec<Observation>,
}

impl ObservationWindow {
    /// Keeps `o` when the newest kept one is at least half a window older; drops those older
    /// than twice the window.
    pub fn record(&mut self, o: Observation, policy: &TwapPolicy) {
        let now = u64::from(o.timestamp);
        let newest = self.observations.last().map(|l| u64::from(l.timestamp));
        if newest.is_none_or(|t| now >= t + policy.window_secs / 2) {
            self.observations.push(o);
        }
        self.observations
            .retain(|x| now.saturating_sub(u64::from(x.timestamp)) <= 2 * policy.window_secs);
    }

    /// The newest observation between one and two windows before `now` (unix seconds).
    pub fn earlier(&self, now: u64, policy: &TwapPolicy) -> Option<Observation> {
        self.observations.iter().rev().copied().find(|x| {
            let age = now.saturating_sub(u64::from(x.timestamp));
            age >= policy.window_secs && age <= 2 * policy.window_secs
        })
    }
}

/// HPKE context of a reader's observation window sealed at rest.
pub const TWAP_INFO: &str = "shr/twap-window/v1";

/// Observes `pair` now, keeps the observation in `store` (kind `twap`, key the pair) sealed at
/// rest by `keeper` (the reader's key store: whoever can write the store cannot plant an old
/// observation), and reads the TWAP of `base` over the bounded window when an observation a
/// window old is kept: `Ok(None)` until then (a reader that just started, or whose window did
/// not open, waits one window). Call it every pass.
///
/// # Errors
/// [`twap_checked`]'s (a spot price that strays from the TWAP is an error: the caller waits);
/// chain, contract, sealing and store errors.
pub async fn sliding_twap(
    chain: &dyn Chain,
    store: &shr_store::Store,
    keeper: &shr_enclave::Enclave,
    (pair, base): (Address, Address),
    policy: &TwapPolicy,
) -> Result<Option<u128>> {
    let key = pair.to_string();
    let stored = store.sealed("twap", &key).await.map_err(Error::Store)?;
    let opened = stored.map(|b| keeper.open_at_rest(TWAP_INFO, &shr_enclave::Sealed(b)));
    let mut window: ObservationWindow = match opened {
        Some(Ok(plain)) => serde_json::from_slice(&plain).map_err(Error::Body)?,
        Some(Err(_)) => {
            tracing::warn!(target: "shr::darkpool", %pair, "stored TWAP window does not open; starting over");
            ObservationWindow::default()
        }
        None => ObservationWindow::default(),
    };
    let now = observe(chain, pair, base).await?;
    let earlier = window.earlier(u64::from(now.timestamp), policy);
    window.record(now, policy);
    let bytes = serde_json::to_vec(&window).map_err(Error::Body)?;
    let sealed = keeper.seal_at_rest(TWAP_INFO, &bytes)?;
    store.put_sealed("twap", &key, sealed.as_bytes()).await.map_err(Error::Store)?;
    match earlier {
        Some(e) => Ok(Some(twap_checked(chain, pair, base, &e, policy).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: u32) -> Observation {
        Observation { cumulative: U256::from(t), timestamp: t }
    }

    #[test]
    fn the_window_keeps_one_observation_per_half_window_and_forgets_after_two() {
        let p = TwapPolicy::default();
        let mut w = ObservationWindow::default();
        for t in (0..=4_000u32).step_by(100) {
            w.record(at(t), &p);
        }
        assert!(w.observations.iter().all(|o| 4_000 - o.timestamp <= 3_600));
        assert!(w.observations.windows(2).all(|x| x[1].timestamp - x[0].timestamp >= 900));
        let e = w.earlier(4_000, &p).expect("one between 30 and 60 min old");
        assert!((400..=2_200).contains(&e.timestamp), "{e:?}");
        assert_eq!(ObservationWindow::default().earlier(4_000, &p), None);
        let mut fresh = ObservationWindow::default();
        fresh.record(at(3_990), &p);
        assert_eq!(fresh.earlier(4_000, &p), None, "too recent to average over");
    }
}
