//! The live reserve feed: the DON attests a real reserve series round by round on a chain, and
//! the server publishes each round and each accepted report.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_oracle::{Deployment, Don, NodeInput, ReserveReading, attested_state, attested_status};
use tracing::{debug, info};

use crate::{AppState, Attestation, Event, Result};

/// The operator's reserve-ratio series of `readings`: `(observed_at, reserves / supply)`.
/// Private: it is exactly what the public boolean hides.
pub fn reserve_ratio(readings: &[ReserveReading]) -> Vec<(u64, f64)> {
    readings
        .iter()
        .filter(|r| r.supply > U256::ZERO)
        .map(|r| {
            // Ratio in 1e-9 steps, exact in U256 then to f64 for the chart.
            let ppb = r.reserves * U256::from(1_000_000_000u64) / r.supply;
            (r.observed_at, ppb.saturating_to::<u64>() as f64 / 1e9)
        })
        .collect()
}

/// Runs one DON round per reading, `pace` apart, publishing [`Event::Round`] for each and
/// [`Event::Attestation`] for each report the receiver accepted (the state then read back from
/// chain). Sealed deficit notices go to the store for the agent.
///
/// # Errors
/// [`crate::Error::Oracle`] when a round fails on the chain, [`crate::Error::Store`].
pub async fn run(
    state: AppState,
    chain: &dyn Chain,
    don: &mut Don,
    dep: &Deployment,
    transmitter: Address,
    readings: &[ReserveReading],
    pace: Duration,
) -> Result<()> {
    state.set_reserve_ratio(reserve_ratio(readings));
    state.update_reserve(|v| {
        v.receiver = dep.receiver.to_string();
        v.forwarder = dep.forwarder.to_string();
        v.series_readings = readings.len() as u64;
    });
    info!(target: "shr::feed", readings = readings.len(), receiver = %dep.receiver, "live reserve feed started");
    for r in readings {
        let r = *r;
        let rep =
            don.round(chain, dep, transmitter, r.observed_at, |_| NodeInput::Reading(r)).await?;
        let transmitted = rep.transmission.is_some();
        let (_, _, fresh) = attested_status(chain, dep.receiver).await?;
        state.update_reserve(|v| {
            v.rounds += 1;
            v.fresh = Some(fresh);
        });
        state.publish(Event::Round { round: rep.round, observed_at: r.observed_at, transmitted });
        if let Some(t) = rep.transmission.as_ref().filter(|t| t.accepted) {
            let (is_solvent, last_updated) = attested_state(chain, dep.receiver).await?;
            let a = Attestation {
                is_solvent,
                observed_at: last_updated,
                tx: t.tx_hash.to_string(),
                gas: t.gas_used,
            };
            debug!(target: "shr::feed", is_solvent, observed_at = last_updated, "attestation");
            state.update_reserve(|v| {
                v.is_solvent = Some(is_solvent);
                v.last_updated = last_updated;
                v.history.push(a.clone());
            });
            state.publish(Event::Attestation {
                is_solvent,
                observed_at: Some(last_updated),
                tx: a.tx,
                gas: a.gas,
                source: "feed".into(),
            });
        }
        for sealed in &rep.sealed_deficits {
            state.store().put_sealed_deficit(r.observed_at, sealed.as_bytes()).await?;
        }
        if pace.is_zero() {
            // The embedded chain answers at once: yield so the rest of the runtime runs.
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(pace).await;
        }
    }
    info!(target: "shr::feed", rounds = readings.len(), "live reserve feed reached the end of the series");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_of_readings() {
        let r = |t, res: u64, sup: u64| ReserveReading {
            observed_at: t,
            reserves: U256::from(res),
            supply: U256::from(sup),
            ripcord: false,
        };
        let s = reserve_ratio(&[r(1, 95, 100), r(2, 100, 100), r(3, 1, 0)]);
        assert_eq!(s, vec![(1, 0.95), (2, 1.0)]);
    }
}
