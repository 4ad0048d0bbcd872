//! Routes under `/api`, the OpenAPI document and the dashboard's static files.

use std::{collections::BTreeMap, convert::Infallible, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{self, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

use crate::{
    AppState, Error, Event, ReserveView, RunView, assets,
    state::{StartError, now_ms},
};

mod reference;
mod spec;
mod vaults;

pub use spec::{ApiDoc, openapi_document};

use vaults::{execute, rebalances, simulate, simulation, vault};

/// An error body: what was wrong, naming the field or value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiError {
    /// Human-readable message.
    error: String,
}

pub(super) fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ApiError { error: msg.into() })).into_response()
}

pub(super) fn internal(e: Error) -> Response {
    tracing::error!(target: "shr::server", error = ?e, "request failed");
    err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The risk engine reference's id of the vault with market id `id` (`VAULT-A-WSTETH-BUSDC`),
/// the market id itself for a vault the reference does not name.
pub(crate) fn vault_reference_id(id: usize) -> String {
    reference::VAULT_IDS.get(id).map_or_else(|| id.to_string(), |s| (*s).to_owned())
}

/// The router: `/api/...`, the risk engine's reference paths (`/vaults`, `/vaults/{id}`,
/// `/simulate`, `/rebalances`, `/execute`, `/health`, `/ws`), `/` (dashboard) and
/// `/assets/...`; `?pretty=1` pretty-prints any JSON answer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/vaults", get(vaults::vaults))
        .route("/vaults/{id}", get(vault))
        .route("/simulate", post(simulate))
        .route("/execute", post(execute))
        .route("/rebalances", get(rebalances))
        .route("/health", get(reference::health))
        .route("/ws", get(reference::ws))
        .route("/api/reserve", get(reserve))
        .route("/api/scenarios", get(list_scenarios))
        .route("/api/scenarios/{name}", post(start_scenario).get(get_scenario))
        .route("/api/darkpool/requests", get(darkpool_requests))
        .route("/api/incidents", get(incidents))
        .route("/api/health", get(health))
        .route("/api/privacy", get(privacy))
        .route("/api/events", get(events))
        .route("/api/operator/view", get(operator_view))
        .route("/api/vaults", get(vaults::vaults))
        .route("/api/vaults/{id}", get(vault))
        .route("/api/simulate", post(simulate))
        .route("/api/simulations/{id}", get(simulation))
        .route("/api/execute", post(execute))
        .route("/api/rebalances", get(rebalances))
        .route("/api/runs/{run_id}", get(get_run))
        .route("/api/openapi.json", get(spec::openapi_json))
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .fallback(no_route)
        .layer(axum::middleware::from_fn(reference::pretty))
        .with_state(state)
}

/// Any path no route answers: a 404 with an [`ApiError`] body naming the method and path.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    err(StatusCode::NOT_FOUND, format!("no route {method} {}", uri.path()))
}

/// `GET /api/reserve` query.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveQuery {
    /// Only the last N reports of the history.
    history: Option<usize>,
}

/// Public attestation state of the live reserve feed and its history (every accepted report,
/// or the last `history` of them; `reports` counts them all).
#[utoipa::path(get, path = "/api/reserve",
    params(("history" = Option<usize>, Query, description = "Only the last N reports")),
    responses((status = 200, body = ReserveView), (status = 400, body = ApiError)))]
async fn reserve(
    State(s): State<AppState>,
    q: Result<axum::extract::Query<ReserveQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(q) => q.0,
        Err(e) => return err(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if let Some(h) = q.history.filter(|h| *h as u64 > spec::MAX_ID) {
        return err(StatusCode::BAD_REQUEST, format!("history {h}: at most {}", spec::MAX_ID));
    }
    Json(s.reserve_tail(q.history)).into_response()
}

/// A started run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Started {
    /// Run id; `GET /api/scenarios/{name}` follows it.
    run_id: String,
}

/// Starts scenario `name` (`small-deficit`, `large-deficit`, `darkpool-failure`).
#[utoipa::path(post, path = "/api/scenarios/{name}",
    params(("name" = String, Path, example = "small-deficit", description = "Scenario name")),
    responses(
        (status = 202, body = Started, description = "Started; steps stream on /api/events",
            links(
                ("GetRun" = (operation_id = "get_run", parameters(("run_id" = "$response.body#/run_id")), description = "The run just started")),
                ("GetScenario" = (operation_id = "get_scenario", parameters(("name" = "$request.path.name")), description = "The scenario's latest run"))
            )),
        (status = 404, body = ApiError, description = "Unknown scenario"),
        (status = 409, body = ApiError, description = "A scenario is already running"),
    ))]
async fn start_scenario(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match s.start(&name) {
        Ok(run_id) => (StatusCode::ACCEPTED, Json(Started { run_id })).into_response(),
        Err(StartError::Unknown(e)) => err(StatusCode::NOT_FOUND, e.to_string()),
        Err(StartError::Busy(running)) => err(
            StatusCode::CONFLICT,
            format!("scenario {running:?} is running; one scenario runs at a time"),
        ),
    }
}

/// Each scenario and its latest run (`null` before its first run), in the runner's order.
#[utoipa::path(get, path = "/api/scenarios",
    responses((status = 200, body = [ScenarioLatest]), (status = 500, body = ApiError)))]
async fn list_scenarios(State(s): State<AppState>) -> Response {
    let mut out = Vec::new();
    for name in s.scenario_names() {
        match s.latest_run(&name).await {
            Ok(latest) => out.push(ScenarioLatest { scenario: name, latest }),
            Err(e) => return internal(e),
        }
    }
    Json(out).into_response()
}

/// A scenario and its latest run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScenarioLatest {
    /// Scenario name.
    scenario: String,
    /// Its latest run, public view (`null` before the first).
    latest: Option<RunView>,
}

/// A run by id (as `POST /api/scenarios/{name}` answers it) and its public steps: the running
/// one, or one in the store.
#[utoipa::path(get, path = "/api/runs/{run_id}", operation_id = "get_run",
    params(("run_id" = String, Path, description = "Run id (`<scenario>-<unix ms>`)")),
    responses((status = 200, body = RunView), (status = 404, body = ApiError), (status = 500, body = ApiError)))]
async fn get_run(State(s): State<AppState>, Path(run_id): Path<String>) -> Response {
    match s.run(&run_id).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => err(StatusCode::NOT_FOUND, format!("run {run_id:?}: no such run")),
        Err(e) => internal(e),
    }
}

/// The latest run of scenario `name` and its public steps.
#[utoipa::path(get, path = "/api/scenarios/{name}", operation_id = "get_scenario",
    params(("name" = String, Path, example = "small-deficit", description = "Scenario name")),
    responses((status = 200, body = RunView), (status = 404, body = ApiError), (status = 500, body = ApiError)))]
async fn get_scenario(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let names = s.scenario_names();
    if !names.contains(&name) {
        return err(
            StatusCode::NOT_FOUND,
            format!("unknown scenario {name:?} (known: {})", names.join(", ")),
        );
    }
    match s.latest_run(&name).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => err(StatusCode::NOT_FOUND, format!("scenario {name:?} has not run yet")),
        Err(e) => internal(e),
    }
}

/// A dark-pool request: id and status only.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DarkPoolRequest {
    /// The run that made the request.
    run_id: String,
    /// `CREDarkPool` request id.
    request_id: u64,
    /// Last status read from chain (`PENDING`, `PARTIALLY_FILLED`, `FILLED`, `EXPIRED`, ...).
    status: String,
    /// Transaction of the last status change.
    tx: Option<String>,
}

/// Dark-pool requests of the last 50 runs and the running one (ids and statuses; never sizes
/// or prices).
#[utoipa::path(get, path = "/api/darkpool/requests", responses((status = 200, body = [DarkPoolRequest]), (status = 500, body = ApiError)))]
async fn darkpool_requests(State(s): State<AppState>) -> Response {
    let runs = match s.recent_runs(50).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    // The last status each request reached, keyed by run and request id.
    let mut out: BTreeMap<(String, u64), DarkPoolRequest> = BTreeMap::new();
    for run in &runs {
        for st in &run.steps {
            if let (Some(id), Some(status)) =
                (st.public.get("request_id").and_then(Value::as_u64), st.public.get("status"))
            {
                out.insert(
                    (run.run_id.clone(), id),
                    DarkPoolRequest {
                        run_id: run.run_id.clone(),
                        request_id: id,
                        status: status.as_str().map_or_else(|| status.to_string(), str::to_owned),
                        tx: st.tx.first().cloned(),
                    },
                );
            }
        }
    }
    Json(out.into_values().collect::<Vec<_>>()).into_response()
}

/// An incident: public columns only (the private state stays sealed in the store).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Incident {
    /// Idempotency key (the agent's) or run id (the demo's).
    id: String,
    /// Observation time, unix seconds.
    observed_at: u64,
    /// Public status.
    status: String,
    /// Last update, unix seconds.
    updated_at: u64,
}

/// Incidents in the store, oldest first.
#[utoipa::path(get, path = "/api/incidents", responses((status = 200, body = [Incident]), (status = 500, body = ApiError)))]
async fn incidents(State(s): State<AppState>) -> Response {
    match s.store().incidents().await {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|r| Incident {
                    id: r.id,
                    observed_at: r.observed_at,
                    status: r.status,
                    updated_at: r.updated_at,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e.into()),
    }
}

/// Liveness and what is running.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` when the store does not answer.
    status: String,
    /// Whether the store answered.
    store: bool,
    /// The running scenario, if any.
    running: Option<String>,
    /// DON rounds of the live feed so far.
    rounds: u64,
    /// Server time, unix milliseconds.
    now_ms: u64,
}

/// The disclosure budget of `docs/PRIVACY.md`: what each public surface and each scenario step
/// shows, what an observer derives from it, what stays private.
#[utoipa::path(get, path = "/api/privacy", responses((status = 200, body = crate::privacy::Budget)))]
async fn privacy() -> Json<&'static crate::privacy::Budget> {
    Json(crate::privacy::budget())
}

/// Liveness: the store answers, what runs.
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health)))]
async fn health(State(s): State<AppState>) -> Json<Health> {
    let store = match s.store().cursor("health").await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(target: "shr::server", error = ?e, "health: the store does not answer");
            false
        }
    };
    Json(Health {
        status: if store { "ok" } else { "degraded" }.into(),
        store,
        running: s.running(),
        rounds: s.reserve().rounds,
        now_ms: now_ms(),
    })
}

/// Server-sent events: `round`, `attestation`, `scenario_started`, `step`, `swap`, `dark_pool`,
/// `scenario_finished`; `data:` is the JSON [`Event`]. A client that falls more than the
/// buffer behind gets a `lagged` event and continues.
#[utoipa::path(get, path = "/api/events", responses((status = 200, content_type = "text/event-stream", body = Event)))]
async fn events(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let stream = BroadcastStream::new(s.subscribe()).map(|e| {
        Ok(match e {
            Ok(ev) => sse::Event::default()
                .event(ev.name())
                .json_data(&ev)
                .unwrap_or_else(|_| sse::Event::default().event("error")),
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                sse::Event::default().event("lagged").data(n.to_string())
            }
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Byte-wise comparison whose time does not depend on where the first difference is.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The operator's decrypted view: the reserve-ratio series and each run's private figures.
/// Needs `Authorization: Bearer <operator_token>`.
#[utoipa::path(get, path = "/api/operator/view",
    security(("bearer" = [])),
    responses((status = 200, description = "Private figures"), (status = 401, body = ApiError), (status = 404, body = ApiError, description = "No operator token configured"), (status = 500, body = ApiError)))]
async fn operator_view(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = s.config().operator_token.as_deref() else {
        return err(
            StatusCode::NOT_FOUND,
            "the operator route is disabled (no operator_token configured)",
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same_token(g.as_bytes(), token.as_bytes()) => {}
        Some(_) => return err(StatusCode::UNAUTHORIZED, "Authorization: wrong bearer token"),
        None => {
            return err(
                StatusCode::UNAUTHORIZED,
                "Authorization: Bearer <operator_token> required",
            );
        }
    }
    match s.operator_view(1500).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abc", b"abd"));
        assert!(!same_token(b"abc", b"abcd"));
        assert!(!same_token(b"", b"a"));
    }
}
