//! The vault desk's routes: `/api/vaults`, `/api/vaults/{id}`, `/api/simulate`,
//! `/api/execute`, `/api/rebalances`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use utoipa::ToSchema;

use super::{ApiError, err, internal};
use crate::{
    AppState, Error,
    vaults::{RebalanceEvent, SimulateRequest, SimulationView, VaultView, Which},
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
        Error::PlanReverted { .. } => err(StatusCode::CONFLICT, crate::state::error_chain(&e)),
        _ => internal(e),
    }
}

/// The lending vaults as read from chain: positions, oracle prices, health factors.
#[utoipa::path(get, path = "/api/vaults", responses((status = 200, body = [VaultView]), (status = 404, body = ApiError), (status = 500, body = ApiError), (status = 503, body = ApiError, description = "The vault desk stopped")))]
pub(super) async fn vaults(State(s): State<AppState>) -> Response {
    let Some(d) = s.vault_desk() else { return no_desk() };
    match d.vaults().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => desk_err(e),
    }
}

/// One vault by market id or the reference's vault id (also at `GET /vaults/{id}`).
#[utoipa::path(get, path = "/api/vaults/{id}", params(("id" = String, Path, example = "VAULT-A-WSTETH-BUSDC", description = "Market id (0 = A, 1 = B) or the reference's id (VAULT-A-WSTETH-BUSDC, VAULT-B-WEETH-BETH)")),
    responses((status = 200, body = VaultView), (status = 404, body = ApiError, description = "No such vault, or an id of neither form"), (status = 500, body = ApiError), (status = 503, body = ApiError, description = "The vault desk stopped")))]
pub(super) async fn vault(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(id) = super::reference::parse_vault_id(&id) else {
        return err(
            StatusCode::NOT_FOUND,
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
    /// Pause between ticks, ms (default: the server's `--tick-ms`, else a random 2000-3000).
    #[serde(rename = "tickMs")]
    tick_ms: Option<u64>,
    /// Answer when the simulation has finished (`true`/`1`) rather than at once.
    #[serde(default, deserialize_with = "flag")]
    wait: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    match s.as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(serde::de::Error::custom(format!("wait {s:?}: expected true, false, 1 or 0"))),
    }
}

/// The longest pause between ticks a request may ask for, ms.
const MAX_TICK_MS: u64 = 60_000;

/// (Re)starts the crash from the initial oracle prices: seeded drops on the vaults' oracles,
/// one tick every 2-3 s (or `tickMs`) on chain, streamed as SSE `tick` events, until the first
/// breach and `extraTicks` more; then a plan per breached vault (SSE `rebalance`, listed by
/// `/rebalances`). Answers 202 at once with the simulation (its id, no ticks yet); with
/// `wait=true`, 200 when it has finished, or 202 if it has not within 30 s.
#[utoipa::path(post, path = "/api/simulate",
    params(("extraTicks" = Option<usize>, Query, minimum = 0, maximum = 50, description = "Ticks after the first breach, 0..=50"), ("seed" = Option<u64>, Query, description = "Seed of the drops"),
        ("tickMs" = Option<u64>, Query, minimum = 0, maximum = 60000, description = "Pause between ticks, ms (0..=60000); default a random 2000-3000"), ("wait" = Option<bool>, Query, description = "Answer when finished (at most 30 s)")),
    responses((status = 202, body = SimulationView, description = "Started (or, with wait, still running after 30 s); poll GET /api/simulations/{simulationId} or follow /api/events",
        links(("GetSimulation" = (operation_id = "get_simulation", parameters(("id" = "$response.body#/simulationId")))))),
        (status = 200, body = SimulationView, description = "Finished (wait=true)"),
        (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 500, body = SimulationView, description = "The simulation stopped on an error (wait=true), or the desk failed (an ApiError)"), (status = 503, body = ApiError, description = "The vault desk stopped")))]
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
    if let Some(seed) = q.seed.filter(|s| *s > super::spec::MAX_ID) {
        return err(
            StatusCode::BAD_REQUEST,
            format!("seed {seed}: at most {}", super::spec::MAX_ID),
        );
    }
    let tick_ms = q.tick_ms.or(s.config().tick_ms);
    if let Some(ms) = q.tick_ms.filter(|ms| *ms > MAX_TICK_MS) {
        return err(StatusCode::BAD_REQUEST, format!("tickMs {ms}: at most {MAX_TICK_MS}"));
    }
    let Some(d) = s.vault_desk() else { return no_desk() };
    let req = SimulateRequest {
        seed: q.seed.unwrap_or(s.config().seed),
        extra_ticks: q.extra_ticks,
        tick_ms,
        wait: false,
    };
    let mut v = match d.simulate(req).await {
        Ok(v) => v,
        Err(e) => return desk_err(e),
    };
    // `wait`: follow the simulation until it ends, for at most MAX_WAIT.
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    while q.wait && v.status == "running" && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(WAIT_POLL).await;
        match d.simulation(Some(v.simulation_id.clone())).await {
            Ok(Some(now)) => v = now,
            Ok(None) => break,
            Err(e) => return desk_err(e),
        }
    }
    match v.status.as_str() {
        "error" => (StatusCode::INTERNAL_SERVER_ERROR, Json(v)).into_response(),
        "running" => (StatusCode::ACCEPTED, Json(v)).into_response(),
        _ => Json(v).into_response(),
    }
}

/// The longest a `wait=true` request is held; past it the answer is the 202 a request
/// without `wait` gets (the simulation goes on).
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a waiting request looks at its simulation.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// A crash simulation by id (`latest` for the most recent): its ticks so far, status, plans.
#[utoipa::path(get, path = "/api/simulations/{id}", operation_id = "get_simulation",
    params(("id" = String, Path, example = "latest", description = "Simulation id, or `latest`")),
    responses((status = 200, body = SimulationView), (status = 404, body = ApiError), (status = 503, body = ApiError, description = "The vault desk stopped")))]
pub(super) async fn simulation(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(d) = s.vault_desk() else { return no_desk() };
    let key = (id != "latest").then(|| id.clone());
    match d.simulation(key).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => err(
            StatusCode::NOT_FOUND,
            format!("simulation {id:?}: none such (the 16 most recent are kept)"),
        ),
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
    /// A market id written as a JSON number with a fraction part (`1.0`: JSON Schema's
    /// `integer` admits it); refused unless the fraction is zero.
    Number(f64),
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

/// Applies the vault's latest plan (made when the simulation stopped; made now at the current
/// prices when none is pending): sends exactly the transaction the plan shows, atomically, as
/// the owner; the HF read back; the event persisted and streamed (`rebalance`, `snapshot`).
/// With `applyAll`, every vault's latest plan (or breached vault's).
#[utoipa::path(post, path = "/api/execute", request_body = ExecuteBody,
    responses((status = 200, body = [RebalanceEvent]), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "The vault is not breached, or its plan reverted (nothing changed)"), (status = 500, body = ApiError), (status = 503, body = ApiError, description = "The vault desk stopped")))]
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
        Some(VaultRef::Market(id)) if id as u64 > super::spec::MAX_ID => {
            return err(
                StatusCode::BAD_REQUEST,
                format!("vaultId {id}: at most {}", super::spec::MAX_ID),
            );
        }
        Some(VaultRef::Market(id)) => Some(id),
        Some(VaultRef::Number(x))
            if x.fract() == 0.0 && (0.0..super::spec::MAX_ID as f64).contains(&x) =>
        {
            Some(x as usize)
        }
        Some(VaultRef::Number(x)) => {
            return err(StatusCode::BAD_REQUEST, format!("vaultId {x}: not a market id"));
        }
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
    match d.execute(which).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => desk_err(e),
    }
}

/// `GET /api/rebalances` query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RebalancesQuery {
    /// The newest N events (1..=10000, default 1000).
    limit: Option<u32>,
}

/// The most events one answer lists.
const MAX_REBALANCES: u32 = 10_000;

/// The rebalance events, oldest plan first (from the store; the newest `limit`, default 1000):
/// the plan made at breach and its execution when there is one. `status` is the stored one
/// (`abandoned` for a plan an earlier process left `planned`).
#[utoipa::path(get, path = "/api/rebalances",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "The newest N events, 1..=10000 (default 1000)")),
    responses((status = 200, body = [RebalanceEvent]), (status = 400, body = ApiError), (status = 500, body = ApiError)))]
pub(super) async fn rebalances(
    State(s): State<AppState>,
    q: Result<axum::extract::Query<RebalancesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = match q {
        Ok(q) => q.0.limit.unwrap_or(1_000),
        Err(e) => return err(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if !(1..=MAX_REBALANCES).contains(&limit) {
        return err(
            StatusCode::BAD_REQUEST,
            format!("limit {limit}: expected 1..={MAX_REBALANCES}"),
        );
    }
    let rows = match s.store().rebalance_plans(limit).await {
        Ok(rows) => rows,
        Err(e) => return internal(e.into()),
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match serde_json::from_str::<serde_json::Value>(&r.event_json) {
            Ok(mut v) => {
                v["status"] = serde_json::Value::String(r.status);
                out.push(v);
            }
            Err(e) => return internal(e.into()),
        }
    }
    Json(out).into_response()
}
