//! `shr custodian`: a custodian reserve API in the PoR adapter convention, served from a series,
//! that answers only HPKE-sealed bodies.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    routing::get,
};
use clap::Args;
use eyre::{Result, WrapErr};
use shr_enclave::HpkePublicKey;
use shr_oracle::{POR_INFO, SeriesSource, amount::format_amount};

/// `shr custodian` flags.
#[derive(Debug, Args)]
pub(crate) struct CustodianArgs {
    #[command(flatten)]
    series: crate::series_args::SeriesArgs,
    /// Decimals of the amounts served.
    #[arg(long, default_value_t = 8)]
    decimals: u8,
    /// Port on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, default_value_t = 3010)]
    port: u16,
}

#[derive(Clone)]
struct App {
    source: SeriesSource,
    decimals: u8,
}

#[derive(serde::Deserialize)]
struct ReservesQuery {
    recipient: Option<String>,
    at: Option<u64>,
}

type ApiError = (StatusCode, Json<serde_json::Value>);

fn bad(status: StatusCode, msg: String) -> ApiError {
    (status, Json(serde_json::json!({ "error": msg })))
}

async fn reserves(
    State(app): State<Arc<App>>,
    Query(q): Query<ReservesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let recipient = q.recipient.ok_or_else(|| {
        bad(
            StatusCode::BAD_REQUEST,
            "recipient is required: bodies are served only sealed to an enclave's HPKE key".into(),
        )
    })?;
    let bytes = alloy::primitives::hex::decode(&recipient)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            bad(
                StatusCode::BAD_REQUEST,
                format!("recipient {recipient:?} is not a 32-byte hex X25519 key"),
            )
        })?;
    let at = q.at.unwrap_or_else(|| chrono::Utc::now().timestamp() as u64);
    let r = app
        .source
        .at(at)
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("no reading at or before {at}")))?;
    let body = serde_json::json!({
        "totalReserve": format_amount(r.reserves, app.decimals),
        "totalToken": format_amount(r.supply, app.decimals),
        "timestamp": chrono::DateTime::from_timestamp(r.observed_at as i64, 0).map(|t| t.to_rfc3339()),
        "ripcord": r.ripcord,
    });
    let sealed = shr_enclave::seal(&HpkePublicKey(bytes), POR_INFO, body.to_string().as_bytes())
        .map_err(|e| bad(StatusCode::BAD_REQUEST, format!("recipient {recipient:?}: {e}")))?;
    Ok(Json(
        serde_json::json!({ "sealed": alloy::primitives::hex::encode_prefixed(sealed.as_bytes()) }),
    ))
}

/// The custodian API over `series`: `GET /reserves?recipient=<hpke key hex>&at=<unix>` (a
/// body sealed to the recipient) and `GET /health`.
pub(crate) fn router(series: shr_oracle::ReserveSeries, decimals: u8) -> Router {
    let app = Arc::new(App { source: SeriesSource::new(Arc::new(series)), decimals });
    Router::new()
        .route("/reserves", get(reserves))
        .route("/health", get(|| async { "ok" }))
        .with_state(app)
}

pub(crate) async fn run(args: CustodianArgs) -> Result<()> {
    let series = args.series.load(args.decimals)?;
    crate::series_args::log_refusals(&series.report);
    let router = router(series, args.decimals);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .wrap_err_with(|| format!("binding 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("custodian API listening on http://{addr}");
    tracing::info!(target: "shr::custodian", %addr, "serving sealed reserve bodies");
    axum::serve(listener, router).await?;
    Ok(())
}
