//! A node process's operations endpoints (`shr don node --metrics ADDR`): `GET /metrics`
//! (Prometheus text format, from `metrics-exporter-prometheus`) and `GET /healthz` (200 when
//! the NATS connection is up and every feed finished a round lately, else 503; JSON either way).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Json, Router, http::StatusCode, routing::get};
use eyre::{Result, WrapErr};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use shr_oracle::NatsTransport;

/// Per feed: the last round this node finished (unix s) and the longest a round may be
/// overdue before the node is unhealthy (seconds).
#[derive(Debug, Default)]
pub(crate) struct Health {
    started: u64,
    feeds: Mutex<BTreeMap<String, (Option<u64>, u64)>>,
}

impl Health {
    /// Health for `feeds`: `(name, allowed gap in seconds)`.
    pub(crate) fn new(feeds: impl IntoIterator<Item = (String, u64)>) -> Self {
        Self {
            started: unix(),
            feeds: Mutex::new(feeds.into_iter().map(|(n, gap)| (n, (None, gap))).collect()),
        }
    }

    /// Feed `feed` finished round `round`.
    pub(crate) fn round(&self, feed: &str, round: u64) {
        if let Some(e) = self.feeds.lock().unwrap_or_else(|e| e.into_inner()).get_mut(feed) {
            e.0 = Some(round);
        }
    }

    /// `(healthy, report)` at `now` given the NATS connection state.
    fn check(&self, connected: bool, now: u64) -> (bool, Value) {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let mut healthy = connected;
        let mut out = serde_json::Map::new();
        for (name, (last, gap)) in feeds.iter() {
            let since = last.unwrap_or(self.started);
            let ok = now.saturating_sub(since) <= *gap;
            healthy &= ok;
            out.insert(name.clone(), json!({ "last_round": last, "ok": ok }));
        }
        (healthy, json!({ "healthy": healthy, "nats_connected": connected, "feeds": out }))
    }
}

/// Installs the Prometheus recorder (before anything records: the first NATS connection
/// event counts).
///
/// # Errors
/// When a recorder is already installed.
pub(crate) fn install() -> Result<PrometheusHandle> {
    // Round latency as a histogram (seconds), from 5 ms to 10 s.
    let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("shr_oracle_round_latency_seconds".into()), &buckets)
        .wrap_err("histogram buckets")?
        .install_recorder()
        .wrap_err("installing the metrics recorder")
}

/// A service's health: whether it is healthy, and the JSON report `/healthz` answers with.
pub(crate) type HealthCheck = Arc<dyn Fn() -> (bool, Value) + Send + Sync>;

/// Serves `/metrics` (from `handle`) and `/healthz` (200 or 503 with `health`'s report) on
/// `addr` (the matcher).
///
/// # Errors
/// When `addr` cannot be bound.
pub(crate) async fn serve_metrics(
    addr: SocketAddr,
    handle: PrometheusHandle,
    health: HealthCheck,
) -> Result<()> {
    let app =
        Router::new().route("/metrics", get(move || std::future::ready(handle.render()))).route(
            "/healthz",
            get(move || {
                let (ok, report) = health();
                let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                std::future::ready((code, Json(report)))
            }),
        );
    let listener =
        tokio::net::TcpListener::bind(addr).await.wrap_err_with(|| format!("binding {addr}"))?;
    tracing::info!(target: "shr::cli", addr = %listener.local_addr()?, "metrics and health");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(target: "shr::cli", error = %e, "metrics server stopped");
        }
    });
    Ok(())
}

/// Serves `/metrics` (from `handle`) and `/healthz` on `addr`.
///
/// # Errors
/// When `addr` cannot be bound.
pub(crate) async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
    health: Arc<Health>,
    nats: NatsTransport,
) -> Result<()> {
    serve_metrics(addr, handle, Arc::new(move || health.check(nats.connected(), unix()))).await
}

fn unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_without_a_recent_round_or_a_lost_connection_is_unhealthy() {
        let h = Health::new([("a".to_string(), 30), ("b".to_string(), 30)]);
        let t0 = h.started;
        assert!(h.check(true, t0 + 10).0, "just started");
        assert!(!h.check(false, t0 + 10).0, "NATS down");
        h.round("a", t0 + 20);
        h.round("b", t0 + 25);
        assert!(h.check(true, t0 + 50).0);
        let (ok, report) = h.check(true, t0 + 52);
        assert!(!ok);
        assert_eq!(report["feeds"]["a"]["ok"], false);
        assert_eq!(report["feeds"]["b"]["ok"], true);
    }
}
