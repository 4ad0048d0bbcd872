//! What the server publishes: SSE events and the public view of a scenario step.

use serde::Serialize;
use serde_json::Value;
use shr_agent::Step;
use utoipa::ToSchema;

/// A step as the public sees it: name, timing, gas, transaction hashes and the public fields;
/// of the private half only the *names* of the fields that stayed private.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct PublicStep {
    /// Step name, e.g. `direct swap into ReserveVault`.
    pub name: String,
    /// Measured wall time, milliseconds.
    pub ms: f64,
    /// Gas used by the step's transactions.
    pub gas: u64,
    /// Transaction hashes (0x-hex).
    pub tx: Vec<String>,
    /// What anyone could see (on chain or in the report).
    #[schema(value_type = Object)]
    pub public: Value,
    /// Names of the fields that stayed private (inside an enclave or the agent); no values.
    pub private_fields: Vec<String>,
    /// What this step discloses, from `docs/PRIVACY.md` (its "Per step" row).
    #[serde(default)]
    pub disclosure: Option<crate::privacy::Disclosure>,
}

impl PublicStep {
    /// The public view of `step`.
    pub fn of(step: &Step) -> Self {
        Self {
            name: step.name.clone(),
            ms: step.ms,
            gas: step.gas,
            tx: step.tx.clone(),
            public: step.public.clone(),
            private_fields: redact(&step.private),
            disclosure: crate::privacy::for_step(&step.name).cloned(),
        }
    }
}

/// The field names of a private JSON object, values dropped (a non-object yields `["value"]`,
/// an empty object or `null` nothing).
pub fn redact(private: &Value) -> Vec<String> {
    match private {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Null => vec![],
        _ => vec!["value".into()],
    }
}

/// One server-sent event (`event:` is the variant's `type`, `data:` the JSON object).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A DON round over the live reserve series ran.
    Round {
        /// Round number since the server started.
        round: u64,
        /// The reading's observation time, unix seconds.
        observed_at: u64,
        /// Whether a report was transmitted on chain.
        transmitted: bool,
    },
    /// A report reached `ReserveAttestation` (the public boolean).
    Attestation {
        /// `isSolvent` as attested.
        is_solvent: bool,
        /// The report's observation time, unix seconds, as read back from the receiver (`None`
        /// for a scenario's report: its step carries the boolean and the transaction only).
        observed_at: Option<u64>,
        /// Transmission transaction hash.
        tx: String,
        /// Gas used.
        gas: u64,
        /// Where the report came from: `feed` (the live series) or a scenario run id.
        source: String,
    },
    /// A scenario run started.
    ScenarioStarted {
        /// Run id.
        run_id: String,
        /// Scenario name.
        scenario: String,
    },
    /// A step of a scenario run (an incident step) completed.
    Step {
        /// Run id.
        run_id: String,
        /// Scenario name.
        scenario: String,
        /// Step index within the run, from 0.
        index: usize,
        /// The public view of the step.
        step: PublicStep,
    },
    /// The agent's direct swap was mined.
    Swap {
        /// Run id.
        run_id: String,
        /// Transaction hashes (approve, swap).
        tx: Vec<String>,
        /// Gas used.
        gas: u64,
    },
    /// A dark-pool request changed status on chain.
    DarkPool {
        /// Run id.
        run_id: String,
        /// `CREDarkPool` request id.
        request_id: u64,
        /// Status as read from chain (`PENDING`, `FILLED`, `EXPIRED`, ...).
        status: String,
    },
    /// A crash simulation (re)started from the initial oracle prices.
    SimulationStart {
        /// The simulation.
        #[serde(rename = "simulationId")]
        simulation_id: String,
        /// Oracle prices at the start, USD per whole token, by symbol.
        #[schema(value_type = Object)]
        prices: std::collections::BTreeMap<String, f64>,
    },
    /// A tick of a crash simulation: oracle prices moved on chain, every vault's HF re-read.
    Tick {
        /// The tick.
        tick: crate::vaults::TickView,
    },
    /// Every vault as read from chain after a simulation or a rebalance.
    Snapshot {
        /// The vaults.
        vaults: Vec<crate::vaults::VaultView>,
    },
    /// A rebalance event was made (the plan at breach) or changed (executed, failed,
    /// superseded).
    Rebalance {
        /// The event.
        event: Box<crate::vaults::RebalanceEvent>,
    },
    /// A scenario run ended.
    ScenarioFinished {
        /// Run id.
        run_id: String,
        /// Scenario name.
        scenario: String,
        /// `passed`, `failed` (ran, but did not end as designed) or `error`.
        status: String,
    },
}

impl Event {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Round { .. } => "round",
            Self::Attestation { .. } => "attestation",
            Self::ScenarioStarted { .. } => "scenario_started",
            Self::Step { .. } => "step",
            Self::Swap { .. } => "swap",
            Self::DarkPool { .. } => "dark_pool",
            Self::ScenarioFinished { .. } => "scenario_finished",
            Self::SimulationStart { .. } => "simulation_start",
            Self::Tick { .. } => "tick",
            Self::Snapshot { .. } => "snapshot",
            Self::Rebalance { .. } => "rebalance",
        }
    }

    /// The event in the risk engine reference's envelope (`GET /ws`): `{"type": <camelCase
    /// name>, "timestamp": <RFC 3339, UTC>, "data": <the event's fields>}`; a `tick`'s data is
    /// the tick itself (`at`, `changed`, prices, HFs), a `rebalance`'s the `RebalanceEvent`.
    pub fn reference_envelope(&self, now_unix_ms: u64) -> Value {
        let mut data = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut data {
            m.remove("type");
        }
        match self {
            Self::Tick { .. } => data = data.get("tick").cloned().unwrap_or(Value::Null),
            Self::Rebalance { .. } => data = data.get("event").cloned().unwrap_or(Value::Null),
            _ => {}
        }
        let name: String = self
            .name()
            .split('_')
            .enumerate()
            .map(|(i, w)| if i == 0 { w.to_owned() } else { w[..1].to_uppercase() + &w[1..] })
            .collect();
        serde_json::json!({ "type": name, "timestamp": rfc3339_ms(now_unix_ms), "data": data })
    }

    /// The events a completed scenario step implies, besides [`Event::Step`]: an attestation,
    /// a swap or a dark-pool status, recognised from the step's public fields.
    pub(crate) fn implied_by(run_id: &str, step: &Step) -> Option<Self> {
        let p = &step.public;
        if let (Some(is_solvent), Some(tx)) =
            (p.get("isSolvent").and_then(Value::as_bool), step.tx.first())
        {
            return Some(Self::Attestation {
                is_solvent,
                observed_at: None,
                tx: tx.clone(),
                gas: step.gas,
                source: run_id.into(),
            });
        }
        if let (Some(id), Some(status)) =
            (p.get("request_id").and_then(Value::as_u64), p.get("status"))
        {
            return Some(Self::DarkPool {
                run_id: run_id.into(),
                request_id: id,
                status: status.as_str().map_or_else(|| status.to_string(), str::to_owned),
            });
        }
        if step.name.contains("swap") && !step.tx.is_empty() {
            return Some(Self::Swap { run_id: run_id.into(), tx: step.tx.clone(), gas: step.gas });
        }
        None
    }
}

/// Unix milliseconds as RFC 3339 in UTC with milliseconds (`2026-12-03T18:00:00.000Z`).
pub(crate) fn rfc3339_ms(unix_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(unix_ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(name: &str, public: Value, tx: &[&str]) -> Step {
        Step {
            name: name.into(),
            ms: 1.0,
            gas: 7,
            tx: tx.iter().map(|s| s.to_string()).collect(),
            public,
            private: json!({ "deficit_sats": "123456789" }),
        }
    }

    #[test]
    fn public_step_keeps_names_drops_values() {
        let s = PublicStep::of(&step("x", json!({}), &[]));
        assert_eq!(s.private_fields, vec!["deficit_sats"]);
        assert!(!serde_json::to_string(&s).unwrap().contains("123456789"));
        assert_eq!(redact(&Value::Null), Vec::<String>::new());
        assert_eq!(redact(&json!(5)), vec!["value"]);
    }

    proptest::proptest! {
        /// Whatever a step keeps private, its public view carries the field names and none of
        /// the values (against the naive check: no value's text in the serialised view).
        #[test]
        fn public_view_never_carries_a_private_value(
            fields in proptest::collection::btree_map("[a-z_]{1,12}", 10_000_000u64..u64::MAX, 1..8),
        ) {
            let private = Value::Object(fields.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect());
            let mut s = step("x", json!({"isSolvent": true}), &["0xab"]);
            s.private = private;
            let public = serde_json::to_string(&PublicStep::of(&s)).unwrap();
            for (k, v) in &fields {
                proptest::prop_assert!(!public.contains(&v.to_string()), "{v} leaked");
                proptest::prop_assert!(public.contains(k.as_str()));
            }
        }
    }

    #[test]
    fn implied_events() {
        let a = Event::implied_by("r", &step("attest", json!({"isSolvent": false}), &["0x1"]));
        assert!(matches!(a, Some(Event::Attestation { is_solvent: false, .. })));
        let d = Event::implied_by(
            "r",
            &step("req", json!({"request_id": 3, "status": "FILLED"}), &["0x2"]),
        );
        assert!(matches!(d, Some(Event::DarkPool { request_id: 3, .. })));
        let s = Event::implied_by("r", &step("direct swap into ReserveVault", json!({}), &["0x3"]));
        assert!(matches!(s, Some(Event::Swap { .. })));
        assert!(Event::implied_by("r", &step("deploy", json!({}), &[])).is_none());
        // An unconfirmed round transmits nothing: no attestation event.
        assert!(Event::implied_by("r", &step("read", json!({"isSolvent": null}), &[])).is_none());
    }
}
