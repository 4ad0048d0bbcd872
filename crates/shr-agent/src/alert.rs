//! Alerts for the operator: an escalated incident, a pass failing again and again, an
//! attestation gone stale. Every alert is logged (target `shr::agent::alert`, error level) and
//! handed to an [`AlertSink`]: a webhook ([`WebhookAlerts`], JSON body, retried with backoff)
//! or memory ([`MemoryAlerts`], tests). An alert carries public facts only (incident id, public
//! status, request id, times): never a deficit, a size or a price.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::Serialize;
use tracing::{error, warn};

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The dark-pool route failed after its widened retry: the incident waits for the operator
    /// (`shr incident retry|cancel|resume`).
    Escalation,
    /// The agent's pass failed this many times in a row (chain, store or contract errors).
    RepeatedFailure,
    /// The receiver's last report is older than the heartbeat allows: the DON may be down.
    StaleAttestation,
}

/// One alert (the webhook's JSON body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// What went wrong.
    pub kind: AlertKind,
    /// The incident, when the alert is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// A human-readable line with public facts only.
    pub message: String,
    /// Unix seconds (chain time when known).
    pub at: u64,
}

/// Where alerts go besides the log.
#[async_trait::async_trait]
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Delivers `alert`; a sink retries on its own and reports the final failure.
    ///
    /// # Errors
    /// [`crate::Error::Alert`] when the alert could not be delivered.
    async fn send(&self, alert: &Alert) -> crate::Result<()>;
}

/// Logs `alert` and hands it to `sink` in the background (a slow webhook never holds up the
/// agent's pass); a delivery failure is logged, never fatal.
pub fn raise(sink: Option<Arc<dyn AlertSink>>, alert: Alert) {
    error!(target: "shr::agent::alert", kind = ?alert.kind, incident = alert.incident.as_deref().unwrap_or(""), message = %alert.message, "alert");
    if let Some(sink) = sink {
        tokio::spawn(async move {
            if let Err(e) = sink.send(&alert).await {
                warn!(target: "shr::agent::alert", error = %e, "alert not delivered to the webhook");
            }
        });
    }
}

/// POSTs each alert as JSON to a webhook, retrying a failed delivery (a connection error or a
/// non-2xx answer) up to `attempts` times with doubling backoff from `backoff`.
#[derive(Debug, Clone)]
pub struct WebhookAlerts {
    url: reqwest::Url,
    client: reqwest::Client,
    /// Deliveries tried per alert (default 5).
    pub attempts: u32,
    /// The first retry's delay, doubled each retry (default 500 ms).
    pub backoff: Duration,
}

impl WebhookAlerts {
    /// A webhook at `url` (http or https), 10 s per delivery.
    ///
    /// # Errors
    /// [`crate::Error::AlertUrl`] naming a URL that does not parse or is not http(s).
    pub fn new(url: &str) -> crate::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| crate::Error::AlertUrl(url.into()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(crate::Error::Alert)?;
        Ok(Self { url: parsed, client, attempts: 5, backoff: Duration::from_millis(500) })
    }
}

#[async_trait::async_trait]
impl AlertSink for WebhookAlerts {
    async fn send(&self, alert: &Alert) -> crate::Result<()> {
        let mut delay = self.backoff;
        let mut last = crate::Error::AlertStatus(0);
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            match self.client.post(self.url.clone()).json(alert).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = crate::Error::AlertStatus(r.status().as_u16()),
                // Without the URL: it may carry the webhook's token.
                Err(e) => last = crate::Error::Alert(e.without_url()),
            }
        }
        Err(last)
    }
}

/// Keeps alerts in memory (tests, and a dry run that wants to show them).
#[derive(Debug, Default)]
pub struct MemoryAlerts(Mutex<Vec<Alert>>);

impl MemoryAlerts {
    /// The alerts received so far.
    pub fn alerts(&self) -> Vec<Alert> {
        self.0.lock().expect("alerts lock").clone()
    }
}

#[async_trait::async_trait]
impl AlertSink for MemoryAlerts {
    async fn send(&self, alert: &Alert) -> crate::Result<()> {
        self.0.lock().expect("alerts lock").push(alert.clone());
        Ok(())
    }
}
