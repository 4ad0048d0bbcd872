//! Replay of a recorded reserve series through the DON onto a chain, with the chain's clock
//! following the series' own timestamps.

use std::time::Instant;

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_enclave::Sealed;

use crate::{Deployment, Don, NodeInput, ReserveReading, Result};

/// What a replay did. Public figures, plus an operator view computed from the input series
/// (which the operator holds in plaintext anyway), never from an enclave.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplaySummary {
    /// Rounds run (one per reading).
    pub rounds: usize,
    /// Reports transmitted.
    pub transmissions: usize,
    /// Transmissions the receiver refused (`ReportProcessed.result == false`).
    pub refused_transmissions: usize,
    /// Times the public boolean changed (the first report counts when it is `false`).
    pub state_changes: usize,
    /// Rounds whose agreed outcome was insolvent.
    pub insolvent_rounds: usize,
    /// Rounds without consensus or without enough signatures.
    pub failed_rounds: usize,
    /// Intervals `[from, to)` (unix seconds) during which the public state was `false`.
    pub insolvent_intervals: Vec<(u64, u64)>,
    /// Median gas of a `report` transaction.
    pub median_gas_per_report: u64,
    /// Gas of the first report (cold storage).
    pub first_report_gas: u64,
    /// Round latency percentiles, microseconds (evaluation, consensus, signatures, transmission).
    pub round_latency_us_p50: u64,
    /// 99th percentile.
    pub round_latency_us_p99: u64,
    /// Wall time of the whole replay, milliseconds.
    pub wall_ms: u64,
    /// The public timeline: `(observedAt, isSolvent)` of every accepted report.
    pub timeline: Vec<(u64, bool)>,
    /// Operator view: readings below the threshold that the confirmation policy kept from
    /// flipping the public state, `(observedAt, reserve ratio)`.
    pub absorbed_short_readings: Vec<(u64, f64)>,
    /// Sealed deficit notices handed off for the agent (one per node that evaluated the
    /// outcome), with the observation time of the insolvent report each belongs to.
    #[serde(skip)]
    pub sealed_deficits: Vec<(u64, Sealed)>,
}

/// Replays `readings` through `don` onto `dep`, transmitting from `transmitter`. With
/// `recovery` (the accounts the DON's nodes were configured with), each round's nodes also read
/// what was recovered at a block they name ([`crate::read_evidence`]) and count it, as a
/// deployment that has recovered collateral does. `progress(done, total)` is called after
/// every round.
///
/// # Errors
/// Chain failures (a failed round is counted, not an error).
pub async fn replay(
    don: &mut Don,
    chain: &dyn Chain,
    dep: &Deployment,
    (transmitter, recovery): (Address, Option<crate::RecoveryAccounts>),
    readings: &[ReserveReading],
    mut progress: impl FnMut(usize, usize),
) -> Result<ReplaySummary> {
    let start = Instant::now();
    let threshold = U256::from(don.config().policy.threshold_bps);
    let mut s = ReplaySummary::default();
    let mut lat = Vec::with_capacity(readings.len());
    let mut gas = Vec::new();
    let mut public: Option<bool> = None;
    let mut down_since: Option<u64> = None;
    for (i, r) in readings.iter().enumerate() {
        let r = *r;
        let t0 = Instant::now();
        let evidence = match &recovery {
            Some(accounts) => {
                // The round reads the chain as it stands at the reading's time.
                let now = chain.timestamp().await?;
                if now < r.observed_at {
                    chain.advance_time(r.observed_at - now).await?;
                }
                Some(crate::read_evidence(chain, accounts).await?)
            }
            None => None,
        };
        let rep = don
            .round(chain, dep, transmitter, r.observed_at, |_| match evidence {
                Some(evidence) => NodeInput::Recovered {
                    inner: Box::new(NodeInput::Reading(r)),
                    evidence,
                    ticket: None,
                },
                None => NodeInput::Reading(r),
            })
            .await?;
        lat.push(t0.elapsed().as_micros() as u64);
        s.rounds += 1;
        match rep.outcome {
            None => s.failed_rounds += 1,
            Some(o) => {
                if !o.is_solvent {
                    s.insolvent_rounds += 1;
                }
                let short = r.reserves * U256::from(10_000) < r.supply * threshold;
                if short && o.is_solvent {
                    let ratio = u256_ratio(r.reserves, r.supply);
                    s.absorbed_short_readings.push((r.observed_at, ratio));
                }
            }
        }
        if rep.outcome.is_some() && rep.transmission.is_none() && !rep.errors.is_empty() {
            s.failed_rounds += 1;
        }
        if let Some(t) = &rep.transmission {
            s.transmissions += 1;
            if s.transmissions == 1 {
                s.first_report_gas = t.gas_used;
            } else {
                gas.push(t.gas_used);
            }
            if !t.accepted {
                s.refused_transmissions += 1;
            } else {
                s.timeline.push((t.body.observed_at, t.body.is_solvent));
                if public != Some(t.body.is_solvent) && (public.is_some() || !t.body.is_solvent) {
                    s.state_changes += 1;
                }
                match (t.body.is_solvent, down_since) {
                    (false, None) => down_since = Some(t.body.observed_at),
                    (true, Some(from)) => {
                        s.insolvent_intervals.push((from, t.body.observed_at));
                        down_since = None;
                    }
                    _ => {}
                }
                public = Some(t.body.is_solvent);
            }
        }
        if let Some(t) = &rep.transmission {
            s.sealed_deficits
                .extend(rep.sealed_deficits.into_iter().map(|d| (t.body.observed_at, d)));
        }
        progress(i + 1, readings.len());
    }
    if let (Some(from), Some(last)) = (down_since, readings.last()) {
        s.insolvent_intervals.push((from, last.observed_at));
    }
    gas.sort_unstable();
    s.median_gas_per_report = gas.get(gas.len() / 2).copied().unwrap_or(s.first_report_gas);
    lat.sort_unstable();
    let pct = |p: usize| lat.get((lat.len().saturating_sub(1)) * p / 100).copied().unwrap_or(0);
    s.round_latency_us_p50 = pct(50);
    s.round_latency_us_p99 = pct(99);
    s.wall_ms = start.elapsed().as_millis() as u64;
    Ok(s)
}

fn u256_ratio(a: U256, b: U256) -> f64 {
    let wad = a.saturating_mul(crate::WAD) / b.max(U256::from(1));
    wad.to_string().parse::<f64>().unwrap_or(f64::NAN) / 1e18
}
