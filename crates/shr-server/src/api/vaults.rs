//! The vault desk's routes: `/api/vaults`, `/api/vaults/{id}`, `/api/simulate`,
//! `/api/execute`, `/api/rebalances`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, err, internal};
use crate::{
    AppState, Error, Event,
    state::now_ms,
    vaults::{PlanView, SimulateReport, VaultView, Which},
};

fn no_desk() -> Response {
    err(StatusCode::NOT_FOUND, "the vault desk is not running on this server")
}

fn desk_err(e: Error) -> Response {
    match &e {
        Error::NotBreached { .. } => err(StatusCode::CONFLICT, e.to_string()),
        Error::Vault(inner) if matches!(**inner, shr_agent::Error::UnknownVault { .. }) => {
            err(StatusCode::NOT_FOUND, inner.to_string())
        }
        Error::DeskGone => err(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        _ => internal(e),
    }
}

/// The lending vaults as read from chain: positions, oracle prices, health factors.
#[utoipa::path(get, path = "/api/vaults", responses((status = 200, body = [VaultView]), (status = 404, body = ApiError)))]
pub(super) async fn vaults(State(s): State<AppState>) -> Response {
    let Some(d) = s.vault_desk() else { return no_desk() };
    match d.vaults().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => desk_err(e),
    }
}

/// One vault by market id or the reference's vault id (also at `GET /vaults/{id}`).
#[utoipa::path(get, path = "/api/vaults/{id}", params(("id" = String, Path, description = "Market id (0 = A, 1 = B) or the reference's id (VAULT-A-WSTETH-BUSDC, VAULT-B-WEETH-BETH)")),
    responses((status = 200, body = VaultView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(super) async fn vault(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(id) = super::reference::parse_vault_id(&id) else {
        return err(
            StatusCode::BAD_REQUEST,
            format!(
                "vault id {id:?}: expected a market id (0, 1, ...) or one of {:?}",
                super::reference::VAULT_IDS
            ),
        );
    };
    let Some(d) = s.vault_desk() else { return no_desk() };
    match d.vaults().await {
        Ok(v) => match v.into_iter().find(|v| v.id == id) {
            Some(v) => Json(v).into_response(),
            None => err(StatusCode::NOT_FOUND, format!("vault id {id}: no such vault")),
        },
        Err(e) => desk_err(e),
    }
}

/// `POST /api/simulate` query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SimulateQuery {
    /// Ticks to run after the first breach (0 ..= 50).
    #[serde(rename = "extraTicks", default)]
    extra_ticks: usize,
    /// Seed of the drops (default: the server's `SEED`).
    seed: Option<u64>,
}

/// A seeded crash on the vaults' oracles, tick by tick on chain (SSE `tick` events), until the
/// first breach and `extraTicks` more; a plan per breached vault.
#[utoipa::path(post, path = "/api/simulate",
    params(("extraTicks" = Option<usize>, Query, description = "Ticks after the first breach, 0..=50"), ("seed" = Option<u64>, Query, description = "Seed of the drops")),
    responses((status = 200, body = SimulateReport), (status = 400, body = ApiError)))]
pub(super) async fn simulate(
    State(s): State<AppState>,
    q: Result<axum::extract::Query<SimulateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return err(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if q.extra_ticks > 50 {
        return err(StatusCode::BAD_REQUEST, format!("extraTicks {}: at most 50", q.extra_ticks));
    }
    let Some(d) = s.vault_desk() else { return no_desk() };
    match d.simulate(q.seed.unwrap_or(s.config().seed), q.extra_ticks).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => desk_err(e),
    }
}

/// A vault named by market id (`1`) or by the reference's id (`"VAULT-B-WEETH-BETH"`).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum VaultRef {
    /// Market id.
    Market(usize),
    /// The reference's vault id.
    Reference(String),
}

/// `POST /api/execute` body: `{"vaultId": N}`, `{"vaultId": "VAULT-B-WEETH-BETH"}` or
/// `{"applyAll": true}`.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecuteBody {
    /// One vault: its market id or the reference's vault id.
    #[serde(rename = "vaultId")]
    vault_id: Option<VaultRef>,
    /// Every breached vault.
    #[serde(rename = "applyAll")]
    apply_all: Option<bool>,
}

/// Plans at the current prices and rebalances atomically on chain (as the owner, through the
/// adapter); the HF read back; each rebalance persisted and streamed (`rebalance`, `snapshot`).
#[utoipa::path(post, path = "/api/execute", request_body = ExecuteBody,
    responses((status = 200, body = [PlanView]), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "The vault is not breached")))]
pub(super) async fn execute(
    State(s): State<AppState>,
    body: Result<Json<ExecuteBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let b = match body {
        Ok(Json(b)) => b,
        Err(e) => return err(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let vault_id = match b.vault_id {
        None => None,
        Some(VaultRef::Market(id)) => Some(id),
        Some(VaultRef::Reference(name)) => match super::reference::parse_vault_id(&name) {
            Some(id) => Some(id),
            None => {
                return err(
                    StatusCode::NOT_FOUND,
                    format!(
                        "vaultId {name:?}: no such vault (market ids 0, 1 or {:?})",
                        super::reference::VAULT_IDS
                    ),
                );
            }
        },
    };
    let which = match (vault_id, b.apply_all) {
        (Some(id), None | Some(false)) => Which::One(id),
        (None, Some(true)) => Which::All,
        (Some(id), Some(true)) => {
            return err(
                StatusCode::BAD_REQUEST,
                format!("vaultId {id} and applyAll true: give one of them"),
            );
        }
        (None, _) => {
            return err(StatusCode::BAD_REQUEST, "give vaultId (a market id) or applyAll: true");
        }
    };
    let Some(d) = s.vault_desk() else { return no_desk() };
    let done = match d.execute(which).await {
        Ok(v) => v,
        Err(e) => return desk_err(e),
    };
    for p in done.iter().filter(|p| p.tx.is_some()) {
        let row = shr_store::RebalanceRow {
            id: format!("{}:{}", p.tx.as_deref().unwrap_or_default(), p.vault_id),
            vault_id: p.vault_id.to_string(),
            executed_at: now_ms() / 1000,
            tx: p.tx.clone().unwrap_or_default(),
            gas: p.gas.unwrap_or_default(),
            hf_before_wad: p.hf_before.clone(),
            hf_projected_wad: p.hf_projected.clone().unwrap_or_default(),
            hf_onchain_after_wad: p.hf_onchain_after.clone().unwrap_or_default(),
        };
        if let Err(e) = s.store().put_rebalance(&row).await {
            return internal(e.into());
        }
        s.publish(Event::Rebalance { plan: p.clone() });
    }
    if let Ok(v) = d.vaults().await {
        s.publish(Event::Snapshot { vaults: v });
    }
    Json(done).into_response()
}

/// An executed rebalance, as persisted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rebalance {
    /// Event id (`<tx>:<vault>`).
    id: String,
    /// Market id.
    vault_id: String,
    /// When, unix seconds.
    executed_at: u64,
    /// Transaction hash.
    tx: String,
    /// Gas used.
    gas: u64,
    /// HF before, exact decimal.
    hf_before: String,
    /// Projected HF, exact decimal.
    hf_projected: String,
    /// HF read back from chain after, exact decimal.
    hf_onchain_after: String,
}

/// Every executed rebalance, oldest first (from the store).
#[utoipa::path(get, path = "/api/rebalances", responses((status = 200, body = [Rebalance])))]
pub(super) async fn rebalances(State(s): State<AppState>) -> Response {
    match s.store().rebalances().await {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|r| Rebalance {
                    id: r.id,
                    vault_id: r.vault_id,
                    executed_at: r.executed_at,
                    tx: r.tx,
                    gas: r.gas,
                    hf_before: r.hf_before_wad,
                    hf_projected: r.hf_projected_wad,
                    hf_onchain_after: r.hf_onchain_after_wad,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e.into()),
    }
}
