//! [`Transport`] over NATS JetStream, for nodes that run as separate processes.
//!
//! One stream per DON (`SHR_DON_<don>`, subjects `shr.don.<don>.>`), shared by every feed the DON
//! serves; a message from node `f` to node `t` in round `r` of feed `feed` goes to
//! `shr.don.<don>.<feed>.<r>.<kind>.<f>.<t>` (`kind`: `obs`, `sign`, `sig`), so NATS
//! permissions can give each node publish rights on `shr.don.<don>.*.*.*.<f>.*` only. Each node
//! reads through one durable pull consumer filtered on its own inbox
//! (`shr.don.<don>.*.*.*.*.<t>`; made by the operator, [`provision`], where nodes hold
//! [`nats_permissions`], or by the node itself on an open server): a restarted node resumes where it acknowledged, and the stream
//! keeps what arrived while it was down. A message whose subject's sender differs from the
//! sender inside it is dropped (and logged); the enclave signatures inside bind the rest.
//!
//! One connection per node: [`NatsTransport::feed`] gives each feed its own view (its own inbox
//! and wake-up), over the same publisher and consumer. The trait is synchronous:
//! [`Transport::send`] queues to a publisher task, which publishes in order and checks the
//! stream's acknowledgements concurrently; a consumer task files each message in its feed's inbox, which
//! [`Transport::drain`] empties, and wakes the feed's waiter ([`Transport::wakeup`]). Both log
//! under the target `shr::oracle::nats`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::Bytes;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

use crate::{Message, NodeId, Outcome, Transport};

/// How long the stream keeps messages (a node down longer than this misses them), seconds.
pub const NATS_MAX_AGE_SECS: u64 = 86_400;

/// The most bytes the DON's stream keeps (the oldest go first), bytes.
pub const NATS_MAX_STREAM_BYTES: i64 = 2 << 30;

/// The largest message the DON's stream takes (a DON message is under 2 KiB), bytes.
pub const NATS_MAX_MESSAGE_BYTES: i32 = 16 * 1024;

/// The most messages a feed's inbox holds until its node drains it (a round is at most 2n per
/// node); more are dropped.
pub const MAX_QUEUED: usize = 10_000;

/// The feed of a DON that serves one ([`NatsTransport::connect`]).
pub const DEFAULT_FEED: &str = "main";

/// How long a delivered message waits for its acknowledgement before the server redelivers it,
/// seconds: the longest a restarted node waits for what its previous run was handed.
pub const NATS_ACK_WAIT_SECS: u64 = 2;

/// Errors of the NATS transport.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Connecting to the server.
    #[error("connecting to NATS at {url}")]
    Connect {
        /// The server URL.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// Creating or reading the DON's stream.
    #[error("JetStream stream {stream}")]
    Stream {
        /// The stream name.
        stream: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// Creating or reading a node's consumer.
    #[error("JetStream consumer {consumer}")]
    Consumer {
        /// The consumer name.
        consumer: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A DON id that cannot be part of a subject or stream name.
    #[error("DON id `{0}`: use letters, digits, `-` and `_` only")]
    DonId(String),
    /// A feed name that cannot be part of a subject, or one not registered at connect time.
    #[error("feed `{0}`: use letters, digits, `-` and `_` only, and name it at connect time")]
    Feed(String),
}

/// A node's transport over NATS JetStream, for one feed (see the module docs).
#[derive(Debug, Clone)]
pub struct NatsTransport {
    me: NodeId,
    feed: String,
    shared: Arc<Shared>,
}

/// What the feeds of one node's connection share.
#[derive(Debug)]
struct Shared {
    client: async_nats::Client,
    outbox: mpsc::UnboundedSender<(String, NodeId, Message)>,
    inboxes: Arc<Inboxes>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Each registered feed's inbox and wake-up.
type Inboxes = HashMap<String, (Mutex<VecDeque<Message>>, Arc<Notify>)>;

impl Drop for Shared {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl NatsTransport {
    /// Connects node `me` of DON `don` to the server at `url`: creates the DON's stream when
    /// missing, and the node's durable consumer, and starts the publisher and consumer tasks
    /// (on the current tokio runtime).
    ///
    /// # Errors
    /// [`NatsError`] naming what failed.
    pub async fn connect(url: &str, don: &str, me: NodeId) -> Result<Self, NatsError> {
        let feeds = [DEFAULT_FEED.to_string()];
        Self::connect_with(async_nats::ConnectOptions::new(), url, don, me, &feeds).await
    }

    /// [`NatsTransport::connect`] with `options` (the node's credentials: a `.creds` file, an
    /// nkey, user and password, whose permissions let it publish on its own subjects only; event
    /// callbacks) for the DON's `feeds` (the first is the returned view; [`NatsTransport::feed`]
    /// gives the others). Messages for another feed are dropped. Reconnection is retried
    /// without limit.
    ///
    /// # Errors
    /// [`NatsError`] naming what failed.
    pub async fn connect_with(
        options: async_nats::ConnectOptions,
        url: &str,
        don: &str,
        me: NodeId,
        feeds: &[String],
    ) -> Result<Self, NatsError> {
        if !valid_name(don) {
            return Err(NatsError::DonId(don.to_string()));
        }
        if let Some(bad) = feeds.iter().find(|f| !valid_name(f)) {
            return Err(NatsError::Feed(bad.clone()));
        }
        let first = feeds.first().ok_or_else(|| NatsError::Feed(String::new()))?.clone();
        let node = me;
        let client = options
            // Replies (pull deliveries, publish acknowledgements) come to subjects under this
            // node's own prefix, the only ones its permissions let it subscribe to.
            .custom_inbox_prefix(inbox_prefix(don, me))
            .event_callback(move |event| async move {
                let name = match &event {
                    async_nats::Event::Connected => "connected",
                    async_nats::Event::Disconnected => "disconnected",
                    async_nats::Event::LameDuckMode => "lame_duck",
                    async_nats::Event::SlowConsumer(_) => "slow_consumer",
                    async_nats::Event::ServerError(_) => "server_error",
                    async_nats::Event::ClientError(_) => "client_error",
                    async_nats::Event::Draining => "draining",
                    async_nats::Event::Closed => "closed",
                };
                tracing::info!(target: "shr::oracle::nats", node, event = name, "connection event");
                metrics::counter!("shr_oracle_nats_events_total", "event" => name).increment(1);
            })
            .name(format!("shr-don-{don}-node-{me}"))
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|source| NatsError::Connect { url: url.to_string(), source })?;
        let js = jetstream::new(client.clone());
        let name = stream_name(don);
        let stream = js
            .get_or_create_stream(stream_config(don))
            .await
            .map_err(|source| NatsError::Stream { stream: name, source })?;
        let durable = consumer_name(me);
        let consumer = stream
            .get_or_create_consumer(&durable, consumer_config(don, me))
            .await
            .map_err(|e| NatsError::Consumer { consumer: durable.clone(), source: Box::new(e) })?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| NatsError::Consumer { consumer: durable, source: Box::new(e) })?;
        let inboxes: Arc<Inboxes> = Arc::new(
            feeds
                .iter()
                .map(|f| (f.clone(), (Mutex::new(VecDeque::new()), Arc::new(Notify::new()))))
                .collect(),
        );
        let sink = inboxes.clone();
        let reader = tokio::spawn(async move {
            let mut seen = Seen::default();
            while let Some(next) = messages.next().await {
                let msg = match next {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(target: "shr::oracle::nats", node = me, error = %e, "consumer");
                        continue;
                    }
                };
                // JetStream delivers at least once: a message handed to a pull that expired
                // comes back after the ack wait. The stream sequence names it.
                let fresh = msg.info().map(|i| seen.insert(i.stream_sequence)).unwrap_or(true);
                match decode(&msg.subject, &msg.payload) {
                    Ok(_) if !fresh => {
                        tracing::debug!(target: "shr::oracle::nats", node = me, subject = %msg.subject, "redelivery dropped");
                    }
                    Ok((feed, m)) => match sink.get(feed) {
                        Some((q, wake)) => {
                            let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
                            // A node flooding between rounds fills a bounded queue, not memory.
                            if q.len() < MAX_QUEUED {
                                q.push_back(m);
                            } else {
                                tracing::warn!(target: "shr::oracle::nats", node = me, feed, "inbox full: message dropped");
                            }
                            drop(q);
                            wake.notify_one();
                        }
                        None => {
                            tracing::debug!(target: "shr::oracle::nats", node = me, feed, "message for a feed this node does not serve");
                        }
                    },
                    Err(why) => {
                        tracing::warn!(target: "shr::oracle::nats", node = me, subject = %msg.subject, why, "message dropped");
                    }
                }
                if let Err(e) = msg.ack().await {
                    tracing::warn!(target: "shr::oracle::nats", node = me, error = %e, "ack");
                }
            }
        });
        let (outbox, mut queue) = mpsc::unbounded_channel::<(String, NodeId, Message)>();
        let don = don.to_string();
        let writer = tokio::spawn(async move {
            while let Some((feed, to, m)) = queue.recv().await {
                let (subject, payload) = encode(&don, &feed, me, to, &m);
                // Publishes go out in order; their stream acknowledgements are awaited off the
                // loop, so a burst (many feeds firing at one second) is not one round trip per
                // message.
                match js.publish(subject.clone(), payload.into()).await {
                    Ok(ack) => {
                        tokio::spawn(async move {
                            if let Err(e) = ack.await {
                                tracing::warn!(target: "shr::oracle::nats", node = me, %subject, error = %e, "publish not acknowledged");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(target: "shr::oracle::nats", node = me, %subject, error = %e, "publish");
                    }
                }
            }
        });
        let shared = Arc::new(Shared { client, outbox, inboxes, tasks: vec![reader, writer] });
        Ok(Self { me, feed: first, shared })
    }

    /// The view of feed `feed` over the same connection.
    ///
    /// # Errors
    /// [`NatsError::Feed`] unless `feed` was named at connect time.
    pub fn feed(&self, feed: &str) -> Result<Self, NatsError> {
        if !self.shared.inboxes.contains_key(feed) {
            return Err(NatsError::Feed(feed.to_string()));
        }
        Ok(Self { me: self.me, feed: feed.to_string(), shared: self.shared.clone() })
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.me
    }

    /// Whether the connection to the server is up (health checks).
    pub fn connected(&self) -> bool {
        self.shared.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// The JetStream stream of DON `don`.
fn stream_name(don: &str) -> String {
    format!("SHR_DON_{don}")
}

/// The reply subjects of node `me` of DON `don` (its pull deliveries come there).
pub fn inbox_prefix(don: &str, me: NodeId) -> String {
    format!("_INBOX_{don}_node{me}")
}

/// The durable consumer of node `me`.
fn consumer_name(me: NodeId) -> String {
    format!("node-{me}")
}

fn stream_config(don: &str) -> stream::Config {
    stream::Config {
        name: stream_name(don),
        subjects: vec![format!("shr.don.{don}.>")],
        max_age: Duration::from_secs(NATS_MAX_AGE_SECS),
        // A flooding node fills this DON's stream, not the account's storage: the oldest
        // messages go first (a day of 100 feeds on a 10-s schedule is ~1 GB at most).
        max_bytes: NATS_MAX_STREAM_BYTES,
        discard: stream::DiscardPolicy::Old,
        max_message_size: NATS_MAX_MESSAGE_BYTES,
        ..Default::default()
    }
}

fn consumer_config(don: &str, me: NodeId) -> pull::Config {
    let durable = consumer_name(me);
    pull::Config {
        durable_name: Some(durable),
        filter_subject: format!("shr.don.{don}.*.*.*.*.{me}"),
        // What the server handed a pull that died with its process comes back this soon to the
        // restarted node (a duplicate is harmless: one observation counts per signer).
        ack_wait: Duration::from_secs(NATS_ACK_WAIT_SECS),
        ..Default::default()
    }
}

/// Creates DON `don`'s stream and the durable consumers of its `n` nodes, each filtered on its
/// own inbox (`shr don nats-setup`, with the operator's credentials). Nodes whose permissions
/// ([`nats_permissions`]) hold no create rights then only look these up: a node cannot make a
/// consumer that reads another node's inbox. Idempotent.
///
/// # Errors
/// [`NatsError`] naming the stream or consumer that could not be created.
pub async fn provision(client: &async_nats::Client, don: &str, n: usize) -> Result<(), NatsError> {
    if !valid_name(don) {
        return Err(NatsError::DonId(don.to_string()));
    }
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(stream_config(don))
        .await
        .map_err(|source| NatsError::Stream { stream: stream_name(don), source })?;
    for me in 0..n {
        let durable = consumer_name(me);
        let err = |e: Box<dyn std::error::Error + Send + Sync>| NatsError::Consumer {
            consumer: durable.clone(),
            source: e,
        };
        let want = consumer_config(don, me);
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(&durable, want.clone())
            .await
            .map_err(|e| err(e.into()))?;
        // One made earlier with another filter (a node that could once create its own) would
        // keep reading what it should not: replaced.
        if consumer.cached_info().config.filter_subject != want.filter_subject {
            tracing::warn!(target: "shr::oracle::nats", consumer = %durable, "consumer with another filter replaced");
            stream.delete_consumer(&durable).await.map_err(|e| err(e.into()))?;
            stream.create_consumer(want).await.map_err(|e| err(e.into()))?;
        }
    }
    Ok(())
}

impl Transport for NatsTransport {
    fn send(&self, to: NodeId, msg: Message) {
        if self.shared.outbox.send((self.feed.clone(), to, msg)).is_err() {
            tracing::warn!(target: "shr::oracle::nats", node = self.me, "publisher stopped");
        }
    }

    fn drain(&self, me: NodeId) -> Vec<Message> {
        match self.shared.inboxes.get(&self.feed) {
            Some((q, _)) if me == self.me => {
                q.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect()
            }
            _ => Vec::new(),
        }
    }

    fn wakeup(&self) -> Option<Arc<Notify>> {
        self.shared.inboxes.get(&self.feed).map(|(_, n)| n.clone())
    }
}

/// The stream sequences this node's consumer delivered lately (the last [`Seen::CAPACITY`]), to
/// drop JetStream redeliveries.
#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<u64>,
    set: std::collections::HashSet<u64>,
}

impl Seen {
    const CAPACITY: usize = 65_536;

    /// `true` when `seq` is new (and remembers it).
    fn insert(&mut self, seq: u64) -> bool {
        if !self.set.insert(seq) {
            return false;
        }
        self.order.push_back(seq);
        if self.order.len() > Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// The NATS permissions of node `me` of DON `don` (`{"publish": {"allow": [..]},
/// "subscribe": {"allow": [..]}}`, the server's `permissions` block for that node's user): it
/// may publish only as itself (`shr.don.<don>.*.*.*.<me>.*`), look up the DON's stream and its
/// own consumer (`node-<me>`), pull from that consumer and acknowledge only its deliveries; it
/// subscribes only to its own reply subjects ([`inbox_prefix`]: another node's pull deliveries
/// are replies to that node's requests, under that node's prefix). It creates nothing: the operator makes the stream and the
/// consumers ([`provision`], `shr don nats-setup`), since a consumer's filter travels in the
/// request body, where subject permissions cannot see it. Another node's messages can neither
/// be forged nor read.
pub fn nats_permissions(don: &str, me: NodeId) -> serde_json::Value {
    let stream = stream_name(don);
    let consumer = consumer_name(me);
    serde_json::json!({
        "publish": { "allow": [
            format!("shr.don.{don}.*.*.*.{me}.*"),
            "$JS.API.INFO",
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
        ] },
        "subscribe": { "allow": [format!("{}.>", inbox_prefix(don, me))] },
    })
}

/// A message on the wire (JSON; signatures as hex bytes).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Observation { round: u64, from: NodeId, is_solvent: bool, observed_at: u64, signature: Bytes },
    SignRequest { round: u64, raw: Bytes, context: Bytes },
    ReportSignature { round: u64, from: NodeId, signature: Bytes },
}

fn encode(don: &str, feed: &str, me: NodeId, to: NodeId, m: &Message) -> (String, Vec<u8>) {
    let (round, kind, wire) = match m {
        Message::Observation { round, from, outcome, signature } => (
            *round,
            "obs",
            Wire::Observation {
                round: *round,
                from: *from,
                is_solvent: outcome.is_solvent,
                observed_at: outcome.observed_at,
                signature: Bytes::copy_from_slice(signature),
            },
        ),
        Message::SignRequest { round, raw, context } => (
            *round,
            "sign",
            Wire::SignRequest { round: *round, raw: raw.clone(), context: context.clone() },
        ),
        Message::ReportSignature { round, from, signature } => (
            *round,
            "sig",
            Wire::ReportSignature {
                round: *round,
                from: *from,
                signature: Bytes::copy_from_slice(signature),
            },
        ),
    };
    let payload = serde_json::to_vec(&wire).unwrap_or_default();
    (format!("shr.don.{don}.{feed}.{round}.{kind}.{me}.{to}"), payload)
}

/// The feed and message of `subject` and `payload`.
fn decode<'s>(subject: &'s str, payload: &[u8]) -> Result<(&'s str, Message), &'static str> {
    let parts: Vec<&str> = subject.split('.').collect();
    let feed = parts.get(3).copied().ok_or("subject names no feed")?;
    let sender: NodeId =
        parts.get(6).and_then(|s| s.parse().ok()).ok_or("subject names no sender")?;
    let sig = |b: &Bytes| <[u8; 65]>::try_from(b.as_ref()).map_err(|_| "signature is not 65 bytes");
    let wire: Wire = serde_json::from_slice(payload).map_err(|_| "not a DON message")?;
    let m = match wire {
        Wire::Observation { round, from, is_solvent, observed_at, signature } => {
            if from != sender {
                return Err("sender in the message differs from the subject's");
            }
            let outcome = Outcome { is_solvent, observed_at };
            Message::Observation { round, from, outcome, signature: sig(&signature)? }
        }
        Wire::SignRequest { round, raw, context } => Message::SignRequest { round, raw, context },
        Wire::ReportSignature { round, from, signature } => {
            if from != sender {
                return Err("sender in the message differs from the subject's");
            }
            Message::ReportSignature { round, from, signature: sig(&signature)? }
        }
    };
    Ok((feed, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_and_sender_binding() {
        let m = Message::Observation {
            round: 7,
            from: 2,
            outcome: Outcome { is_solvent: true, observed_at: 1_700_000_000 },
            signature: [9u8; 65],
        };
        let (subject, payload) = encode("wbtc-por", "main", 2, 0, &m);
        assert_eq!(subject, "shr.don.wbtc-por.main.7.obs.2.0");
        assert_eq!(decode(&subject, &payload).unwrap(), ("main", m));
        // Node 3 publishing node 2's observation under its own subject is dropped.
        assert!(decode("shr.don.wbtc-por.main.7.obs.3.0", &payload).is_err());
        assert!(decode(&subject, b"{}").is_err());
        let req =
            Message::SignRequest { round: 1, raw: Bytes::from(vec![1, 2]), context: Bytes::new() };
        let (s, p) = encode("d", "usdc", 1, 3, &req);
        assert_eq!(decode(&s, &p).unwrap(), ("usdc", req));
    }

    #[test]
    fn a_redelivered_sequence_is_seen_and_the_memory_is_bounded() {
        let mut seen = Seen::default();
        assert!(seen.insert(5));
        assert!(!seen.insert(5));
        for seq in 100..100 + Seen::CAPACITY as u64 {
            assert!(seen.insert(seq));
        }
        assert!(seen.insert(5), "forgotten once the window moved on");
        assert_eq!(seen.set.len(), Seen::CAPACITY);
    }
}
