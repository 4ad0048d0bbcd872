//! Operator control of the agent's incidents (`shr incident list|show|retry|cancel|resume`):
//! the public list, the private detail (opened with the agent's key, for the operator's eyes),
//! and the three actions an escalated or stuck incident needs. Each action is one persisted
//! state change the running agent picks up on its next pass; none pays by itself.

use alloy::primitives::U256;
use serde::Serialize;
use tracing::info;

use super::{Agent, State};
use crate::{DarkPoolPolicy, Error, Result};

/// Mailbox kind of an incident's operator-set dark-pool policy (sealed by the agent's key).
const POLICY_KIND: &str = "incident-policy";
const POLICY_INFO: &str = "shr/agent-incident-policy/v1";

/// An incident as the public may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentSummary {
    /// `receiver:observedAt`.
    pub id: String,
    /// The insolvent report's `observedAt`, unix seconds.
    pub observed_at: u64,
    /// Public status (`detected`, `dark_pool_requested`, `escalated`, ...).
    pub status: String,
    /// Last change, unix seconds of chain time.
    pub updated_at: u64,
}

/// What `shr incident retry` changes; `None` keeps the agent's configured value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Premium over the TWAP, bps.
    pub premium_bps: Option<u32>,
    /// Price band around the TWAP, bps.
    pub band_bps: Option<u32>,
    /// Request timeout, seconds.
    pub timeout_secs: Option<u64>,
}

impl Agent<'_> {
    /// Every incident, newest first, public fields only.
    ///
    /// # Errors
    /// Store errors.
    pub async fn incidents(&self) -> Result<Vec<IncidentSummary>> {
        let mut rows: Vec<_> = self
            .store
            .incidents()
            .await?
            .into_iter()
            .map(|r| IncidentSummary {
                id: r.id,
                observed_at: r.observed_at,
                status: r.status,
                updated_at: r.updated_at,
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.observed_at));
        Ok(rows)
    }

    /// The private detail of incident `id` (its state opened with the agent's key: the
    /// deficit, the order size, the request ids, the operator's policy), as JSON for the
    /// operator. Never log it.
    ///
    /// # Errors
    /// [`Error::UnknownIncident`], [`Error::IncidentState`], store errors.
    pub async fn incident_detail(&self, id: &str) -> Result<serde_json::Value> {
        let state = self.load(id).await?.ok_or_else(|| Error::UnknownIncident(id.into()))?;
        let policy = self.policy_override(id).await?;
        // `{"Variant": {fields}}` becomes `{fields}` beside the public status, amounts in
        // decimal base units.
        let mut fields = match serde_json::to_value(&state).map_err(Error::Notice)? {
            serde_json::Value::Object(m) => match m.into_iter().next() {
                Some((_, serde_json::Value::Object(f))) => f,
                _ => serde_json::Map::new(),
            },
            _ => serde_json::Map::new(),
        };
        for v in fields.values_mut() {
            // Amounts are minimal hex; hashes (66 characters) stay as they are.
            let amount = v.as_str().filter(|h| h.starts_with("0x") && h.len() < 66);
            if let Some(n) = amount.and_then(|h| h.parse::<U256>().ok()) {
                *v = n.to_string().into();
            }
        }
        fields.insert("status".into(), state.status().into());
        Ok(serde_json::json!({ "id": id, "state": fields, "policy_override": policy }))
    }

    /// Retries an `escalated` or `cancelled` incident through the dark pool with the operator's
    /// premium, band and timeout (persisted sealed for this incident; the first attempt uses
    /// them as given, one widened retry follows before escalating again).
    ///
    /// # Errors
    /// [`Error::IncidentAction`] for another state or an agent without a dark pool;
    /// [`Error::UnknownIncident`]; store errors.
    pub async fn retry(&self, id: &str, change: RetryPolicy) -> Result<()> {
        let (row, state) = self.incident_state(id).await?;
        let Some(dp) = &self.cfg.dark_pool else {
            return Err(action(id, &state, "this agent has no dark pool configured"));
        };
        let (deficit, size) = match state {
            State::Escalated { deficit, size, .. } | State::Cancelled { deficit, size, .. } => {
                (deficit, size)
            }
            _ => {
                return Err(action(
                    id,
                    &state,
                    "only an escalated or cancelled incident is retried",
                ));
            }
        };
        let base = self.policy_override(id).await?.unwrap_or(dp.policy);
        let policy = DarkPoolPolicy {
            premium_bps: change.premium_bps.unwrap_or(base.premium_bps),
            band_bps: change.band_bps.unwrap_or(base.band_bps),
            widen_bps: base.widen_bps,
            timeout_secs: change.timeout_secs.unwrap_or(base.timeout_secs),
        };
        let json = serde_json::to_vec(&policy).map_err(Error::Notice)?;
        let info = format!("{POLICY_INFO}/{id}");
        let sealed = self.key.seal_at_rest(&info, &json).map_err(Error::SealedDeficit)?;
        self.store.put_sealed(POLICY_KIND, id, sealed.as_bytes()).await?;
        let size = if size == U256::ZERO { deficit } else { size };
        self.save(id, row.observed_at, &State::NeedsDarkPool { deficit, size, attempt: 0 }).await?;
        info!(target: "shr::agent::operator", incident = id, "retry through the dark pool ordered by the operator");
        Ok(())
    }

    /// Cancels incident `id`'s pending dark-pool request (`cancel` on the pool, from the
    /// treasury) and stops it at `cancelled`. Safe beside a running agent: the pool's
    /// `CANCELLED` is final for the agent too (it never retries a cancelled request), and the
    /// states the agent is working on (detected, needs_dark_pool, requesting) are refused.
    ///
    /// # Errors
    /// [`Error::IncidentAction`] for an incident with no request to cancel; chain, contract and
    /// store errors (the state is unchanged when the cancel reverts).
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let (row, state) = self.incident_state(id).await?;
        let next = match state {
            State::DarkPoolRequested { deficit, size, request_id, .. } => {
                let dp =
                    self.cfg.dark_pool.as_ref().ok_or_else(|| {
                        action(id, &state, "this agent has no dark pool configured")
                    })?;
                dp.pool.cancel(self.chain, self.cfg.treasury, request_id).await?;
                State::Cancelled { deficit, size, last_request: Some(request_id) }
            }
            _ => {
                return Err(action(id, &state, "only a pending dark-pool request is cancelled"));
            }
        };
        self.save(id, row.observed_at, &next).await?;
        info!(target: "shr::agent::operator", incident = id, "dark-pool request cancelled by the operator");
        Ok(())
    }

    /// Marks incident `id` as restored by hand (the operator topped the vault up): the agent
    /// buys nothing more for it and closes it at the DON's next solvent report.
    ///
    /// # Errors
    /// [`Error::IncidentAction`] for an incident the agent is still working on (a running agent
    /// could act on it at the same moment) or already restored; store errors.
    pub async fn resume(&self, id: &str) -> Result<()> {
        let (row, state) = self.incident_state(id).await?;
        match state {
            State::Escalated { .. } | State::Cancelled { .. } | State::Failed { .. } => {}
            _ => {
                return Err(action(
                    id,
                    &state,
                    "only an escalated, cancelled or failed incident is resumed (the agent is still working on this one; cancel a pending request first)",
                ));
            }
        }
        self.save(id, row.observed_at, &State::ManualTopUp).await?;
        info!(target: "shr::agent::operator", incident = id, "manual top-up recorded; waiting for the solvent report");
        Ok(())
    }

    async fn incident_state(&self, id: &str) -> Result<(shr_store::IncidentRow, State)> {
        let row =
            self.store.incident(id).await?.ok_or_else(|| Error::UnknownIncident(id.into()))?;
        let state = self.load(id).await?.ok_or_else(|| Error::UnknownIncident(id.into()))?;
        Ok((row, state))
    }

    /// The operator's dark-pool policy for incident `id`, if a retry set one.
    pub(super) async fn policy_override(&self, id: &str) -> Result<Option<DarkPoolPolicy>> {
        let Some(blob) = self.store.sealed(POLICY_KIND, id).await? else { return Ok(None) };
        let plain = self
            .key
            .open_at_rest(&format!("{POLICY_INFO}/{id}"), &shr_enclave::Sealed(blob))
            .map_err(|_| Error::IncidentState(id.into()))?;
        Ok(Some(serde_json::from_slice(&plain).map_err(Error::Notice)?))
    }
}

fn action(id: &str, state: &State, why: &'static str) -> Error {
    Error::IncidentAction { id: id.into(), status: state.status().into(), why }
}
