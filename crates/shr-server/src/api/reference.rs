//! The lending-vault risk engine's reference API beside `/api/...` (issue #16): the reference's
//! vault ids, its root paths (`/vaults`, `/simulate`, `/rebalances`, `/execute`, `/health`,
//! `/ws`) and `?pretty=1` on any JSON route (`../shared/reference/risk-engine-api.md`).

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{AppState, state::now_ms};

/// The reference's vault ids, by market id: `VAULT-<name>-<collateral>-<debt share>`.
pub(crate) const VAULT_IDS: [&str; 2] = ["VAULT-A-WSTETH-BUSDC", "VAULT-B-WEETH-BETH"];

/// The largest JSON body `?pretty=1` re-indents, bytes.
const PRETTY_LIMIT: usize = 16 << 20;

/// A vault id as the reference gives it (`VAULT-B-WEETH-BETH`, any case) or a market id
/// (`1`); `None` when it is neither.
pub(crate) fn parse_vault_id(s: &str) -> Option<usize> {
    s.parse::<usize>()
        .ok()
        .or_else(|| VAULT_IDS.iter().position(|id| id.eq_ignore_ascii_case(s.trim())))
}

/// Takes `pretty=1` (or `pretty=true`) out of the query before the route reads it, and
/// re-indents the JSON the route answers with; streams (SSE) and other bodies pass untouched.
pub(crate) async fn pretty(mut req: Request, next: Next) -> Response {
    let Some(query) = req.uri().query() else { return next.run(req).await };
    let (mut pretty, mut kept) = (false, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("pretty", "1" | "true" | "") => pretty = true,
            _ => kept.push(pair),
        }
    }
    if !pretty {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let pq = if kept.is_empty() { path } else { format!("{path}?{}", kept.join("&")) };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, PRETTY_LIMIT).await else {
        return super::err(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the response is too large to pretty-print",
        );
    };
    let out = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => serde_json::to_vec_pretty(&v).map_or(bytes, Into::into),
        Err(_) => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(out))
}

/// The reference's `GET /ws`: the same server-sent events as `/api/events`, each in the
/// reference's envelope `{type, timestamp, data}` (`simulationStart`, `tick`, `rebalance`,
/// `snapshot`, and the reserve's events under their camelCase names).
#[utoipa::path(get, path = "/ws", operation_id = "reference_events", responses((status = 200, content_type = "text/event-stream", body = Object)))]
pub(crate) async fn ws(
    State(s): State<AppState>,
) -> axum::response::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse;
    use futures_util::StreamExt;
    let stream = tokio_stream::wrappers::BroadcastStream::new(s.subscribe()).map(|e| {
        Ok(match e {
            Ok(ev) => {
                let env = ev.reference_envelope(now_ms());
                let name = env["type"].as_str().unwrap_or("event").to_owned();
                sse::Event::default().event(name).data(env.to_string())
            }
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                sse::Event::default().event("lagged").data(n.to_string())
            }
        })
    });
    sse::Sse::new(stream)
        .keep_alive(sse::KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

/// One vault's line in the health summary.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct VaultHealth {
    /// The reference's vault id.
    #[serde(rename = "vaultId")]
    vault_id: String,
    /// Market id.
    id: usize,
    /// Health factor, exact decimal (`inf` without debt).
    #[serde(rename = "healthFactor")]
    health_factor: String,
    /// `healthy`, or `breached` under the trigger (1.15).
    status: &'static str,
}

/// `GET /health`: the reference's health-factor summary, plus liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthSummary {
    /// `ok`, or `degraded` when the store or the vault desk does not answer.
    status: &'static str,
    /// Each vault's health factor and status.
    vaults: Vec<VaultHealth>,
    /// The lowest health factor and its vault (`None` without a vault desk).
    worst: Option<VaultHealth>,
    /// Whether the store answered.
    store: bool,
    /// Server time, unix milliseconds.
    now_ms: u64,
}

/// The reference's `GET /health`: each vault's health factor and status, the worst, liveness.
#[utoipa::path(get, path = "/health", operation_id = "health_summary", responses((status = 200, body = HealthSummary)))]
pub(crate) async fn health(State(s): State<AppState>) -> Response {
    let store = s.store().cursor("health").await.is_ok();
    let vaults = match s.vault_desk() {
        Some(d) => d.vaults().await.ok(),
        None => Some(Vec::new()),
    };
    let status = if store && vaults.is_some() { "ok" } else { "degraded" };
    let lines: Vec<VaultHealth> = vaults
        .unwrap_or_default()
        .into_iter()
        .map(|v| VaultHealth {
            vault_id: v.vault_id,
            id: v.id,
            health_factor: v.health_factor,
            status: if v.breached { "breached" } else { "healthy" },
        })
        .collect();
    let hf = |v: &VaultHealth| v.health_factor.parse::<f64>().unwrap_or(f64::INFINITY);
    let worst = lines.iter().min_by(|a, b| hf(a).total_cmp(&hf(b))).cloned();
    Json(HealthSummary { status, vaults: lines, worst, store, now_ms: now_ms() }).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_and_market_ids_parse() {
        assert_eq!(parse_vault_id("VAULT-A-WSTETH-BUSDC"), Some(0));
        assert_eq!(parse_vault_id("vault-b-weeth-beth"), Some(1));
        assert_eq!(parse_vault_id("1"), Some(1));
        assert_eq!(parse_vault_id("VAULT-C"), None);
    }
}
