//! Reserve sources behind one trait: what each node's enclave is given to evaluate.
//!
//! - [`CustodianApiSource`]: a custodian HTTP API in the PoR adapter convention, whose body is
//!   HPKE-sealed to the asking node's enclave key (the confidential path);
//! - [`SeriesSource`]: a recorded CSV series read inside the enclave boundary (replay; also
//!   confidential);
//! - [`FeedSource`]: reserves already public in an on-chain `AggregatorV3Interface` feed (a live
//!   Chainlink PoR feed) plus ERC-20 `totalSupply()` for liabilities.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{ReserveFeed, TestToken},
    view,
};
use shr_enclave::{EnclaveIdentity, Sealed};

use crate::{Error, NodeInput, ReserveReading, ReserveSeries, Result, Secrets};

/// A source of reserve readings for one node's enclave.
#[async_trait::async_trait]
pub trait ReserveSource: Send + Sync + std::fmt::Debug {
    /// The input for the enclave of `node` at `now` (unix seconds).
    ///
    /// # Errors
    /// Transport failures and refusals of the source, naming what failed.
    async fn fetch(&self, node: &EnclaveIdentity, now: u64) -> Result<NodeInput>;
}

/// A recorded series: the latest reading at or before `now`.
#[derive(Debug, Clone)]
pub struct SeriesSource {
    series: Arc<ReserveSeries>,
}

impl SeriesSource {
    /// Serves `series`.
    pub fn new(series: Arc<ReserveSeries>) -> Self {
        Self { series }
    }

    /// The reading in force at `now`.
    pub fn at(&self, now: u64) -> Option<ReserveReading> {
        let i = self.series.readings.partition_point(|r| r.observed_at <= now);
        i.checked_sub(1).map(|i| self.series.readings[i])
    }
}

#[async_trait::async_trait]
impl ReserveSource for SeriesSource {
    async fn fetch(&self, _node: &EnclaveIdentity, now: u64) -> Result<NodeInput> {
        self.at(now).map(NodeInput::Reading).ok_or_else(|| Error::Series {
            path: "(series)".into(),
            why: format!("no reading at or before {now}"),
        })
    }
}

/// A custodian API: `GET {base}/reserves?recipient=<hpke key hex>&at=<unix>` answers
/// `{"sealed": "0x…"}`, the PoR JSON body HPKE-sealed to the recipient (context
/// [`POR_INFO`](crate::POR_INFO)). `shr custodian` serves one from a series.
#[derive(Debug, Clone)]
pub struct CustodianApiSource {
    base: String,
    client: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct SealedBody {
    sealed: alloy::primitives::Bytes,
}

impl CustodianApiSource {
    /// A source at `base` (e.g. `http://127.0.0.1:3010`).
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_string(), client: reqwest::Client::new() }
    }
}

#[async_trait::async_trait]
impl ReserveSource for CustodianApiSource {
    async fn fetch(&self, node: &EnclaveIdentity, now: u64) -> Result<NodeInput> {
        let url = format!("{}/reserves?recipient={}&at={now}", self.base, node.hpke);
        let http = |source| Error::Custodian { url: url.clone(), source };
        let resp =
            self.client.get(&url).send().await.map_err(http)?.error_for_status().map_err(http)?;
        let body: SealedBody = resp.json().await.map_err(http)?;
        Ok(NodeInput::SealedPor(Sealed(body.sealed.to_vec())))
    }
}

/// Public reserves: an `AggregatorV3Interface` feed and an ERC-20 `totalSupply`.
#[derive(Debug, Clone)]
pub struct FeedSource {
    chain: Arc<dyn Chain>,
    feed: Address,
    token: Address,
}

impl FeedSource {
    /// Reads reserves from `feed` and liabilities from `token` on `chain`.
    pub fn new(chain: Arc<dyn Chain>, feed: Address, token: Address) -> Self {
        Self { chain, feed, token }
    }

    /// The reading now: the feed's answer scaled from its decimals to the token's.
    ///
    /// # Errors
    /// Contract errors; [`Error::InvalidAmount`] for a negative answer.
    pub async fn read(&self) -> Result<ReserveReading> {
        let c = self.chain.as_ref();
        let round = view(c, self.feed, &ReserveFeed::latestRoundDataCall {}).await?;
        let feed_decimals = view(c, self.feed, &ReserveFeed::decimalsCall {}).await?;
        let token_decimals = view(c, self.token, &TestToken::decimalsCall {}).await?;
        let supply = view(c, self.token, &TestToken::totalSupplyCall {}).await?;
        if round._1.is_negative() {
            return Err(Error::InvalidAmount {
                field: "latestRoundData.answer".into(),
                value: round._1.to_string(),
                why: "negative",
            });
        }
        let answer = round._1.into_raw();
        let reserves = if token_decimals >= feed_decimals {
            answer.saturating_mul(U256::from(10).pow(U256::from(token_decimals - feed_decimals)))
        } else {
            answer / U256::from(10).pow(U256::from(feed_decimals - token_decimals))
        };
        Ok(ReserveReading {
            observed_at: round._3.try_into().unwrap_or(u64::MAX),
            reserves,
            supply,
            ripcord: false,
        })
    }
}

#[async_trait::async_trait]
impl ReserveSource for FeedSource {
    async fn fetch(&self, _node: &EnclaveIdentity, _now: u64) -> Result<NodeInput> {
        Ok(NodeInput::Public(self.read().await?))
    }
}

/// A source whose liabilities are a token's ERC-20 `totalSupply` on chain (`supply=chain`):
/// each node's host reads it at the latest block beside the inner source's body.
#[derive(Debug, Clone)]
pub struct ChainSupplySource {
    inner: Arc<dyn ReserveSource>,
    chain: Arc<dyn Chain>,
    token: Address,
}

impl ChainSupplySource {
    /// `inner`'s reading with the supply of `token` on `chain`.
    pub fn new(inner: Arc<dyn ReserveSource>, chain: Arc<dyn Chain>, token: Address) -> Self {
        Self { inner, chain, token }
    }
}

#[async_trait::async_trait]
impl ReserveSource for ChainSupplySource {
    async fn fetch(&self, node: &EnclaveIdentity, now: u64) -> Result<NodeInput> {
        let inner = self.inner.fetch(node, now).await?;
        let block = self.chain.block_number().await?;
        let supply = view(self.chain.as_ref(), self.token, &TestToken::totalSupplyCall {}).await?;
        Ok(NodeInput::ChainSupply { inner: Box::new(inner), supply, block })
    }
}

/// The largest custodian body a node accepts, bytes.
pub const MAX_POR_BODY: usize = 1 << 20;

/// A custodian's own proof-of-reserve API, in whatever JSON it speaks (fields mapped by the
/// DON's [`PorFields`](crate::PorFields)): each node fetches `url` itself (`rustls` for HTTPS)
/// within `timeout`, and seals the body to its own enclave key at once, so parsing and
/// evaluating happen inside the enclave boundary. On the simulated platform the body crosses the
/// host's memory on the way in; a real TEE terminates TLS inside the enclave (CRE's Confidential
/// HTTP) and removes that step.
///
/// The URL and header values are templates: `{{secrets.NAME}}` takes a secret sealed to the
/// node's enclave ([`Secrets`]). Logs, errors and `Debug` name the template, never the request.
#[derive(Clone)]
pub struct HttpPorSource {
    /// The URL as configured (placeholders unexpanded): what logs and errors show.
    url: String,
    /// The URL requested.
    request_url: String,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpPorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPorSource")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl HttpPorSource {
    /// A source fetching `url` with `timeout` per request.
    ///
    /// # Errors
    /// [`Error::Config`] when the HTTP client cannot be built.
    pub fn new(url: impl Into<String>, timeout: std::time::Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let url = url.into();
        Ok(Self { request_url: url.clone(), url, headers: Default::default(), client })
    }

    /// A source fetching the template `url` with `headers` (`NAME: VALUE` templates), their
    /// `{{secrets.NAME}}` placeholders filled from `secrets`; header values are marked
    /// sensitive (never printed by the HTTP stack).
    ///
    /// # Errors
    /// [`Error::Config`] for a header that is not `NAME: VALUE`, an invalid header name or
    /// value (named by the header, not its value), a secret the node does not hold or one
    /// sealed for another origin than the URL's, a placeholder in the URL's scheme or host.
    /// A source using secrets follows no redirect.
    pub fn with_secrets(
        url: impl Into<String>,
        headers: &[String],
        secrets: &Secrets,
        timeout: std::time::Duration,
    ) -> Result<Self> {
        let url = url.into();
        let uses_secrets = Secrets::used_in(&url) || headers.iter().any(|h| Secrets::used_in(h));
        let mut source = if uses_secrets {
            // A redirect could carry a secret header to another host: none is followed.
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
            Self { request_url: url.clone(), url, headers: Default::default(), client }
        } else {
            Self::new(url, timeout)?
        };
        let origin = crate::secrets::origin_of(&source.url)?;
        source.request_url = secrets.expand(&source.url, &origin, true)?;
        for h in headers {
            let Some((name, value)) = h.split_once(':') else {
                return Err(Error::Config(format!("header {h:?}: write `NAME: VALUE`")));
            };
            let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| Error::Config(format!("header name {:?}", name.trim())))?;
            let value = secrets.expand(value.trim(), &origin, false)?;
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                Error::Config(format!("header {name}: value is not a header value"))
            })?;
            value.set_sensitive(true);
            source.headers.append(name, value);
        }
        Ok(source)
    }
}

#[async_trait::async_trait]
impl ReserveSource for HttpPorSource {
    async fn fetch(&self, node: &EnclaveIdentity, _now: u64) -> Result<NodeInput> {
        // The request URL may hold a secret: errors carry the template, not reqwest's URL.
        let http =
            |e: reqwest::Error| Error::Custodian { url: self.url.clone(), source: e.without_url() };
        let resp = self
            .client
            .get(&self.request_url)
            .headers(self.headers.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http)?
            .error_for_status()
            .map_err(http)?;
        if resp.content_length().is_some_and(|n| n > MAX_POR_BODY as u64) {
            return Err(Error::BodyTooLarge { url: self.url.clone(), max: MAX_POR_BODY });
        }
        let body = resp.bytes().await.map_err(http)?;
        if body.len() > MAX_POR_BODY {
            return Err(Error::BodyTooLarge { url: self.url.clone(), max: MAX_POR_BODY });
        }
        Ok(NodeInput::SealedPor(shr_enclave::seal(&node.hpke, crate::POR_INFO, &body)?))
    }
}
