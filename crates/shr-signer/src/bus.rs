//! How the signer parties and the agent reach each other: subjects and payloads on a message
//! bus, NATS core publish/subscribe ([`NatsBus`]) or an in-process one ([`MemoryBus`], tests).
//!
//! The bus is not trusted: every party message is signed by the party's enclave key, point-to-
//! point protocol payloads are sealed to the receiver's HPKE key ([`crate::wire`]), and a
//! message published before a receiver subscribed is lost, so every exchange begins with a
//! presence step (hello, ready) that proves the receivers are listening.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::{Error, Result};

/// A subscription's messages, in the order the bus delivered them.
#[derive(Debug)]
pub struct Inbox(InboxKind);

#[derive(Debug)]
enum InboxKind {
    Nats(async_nats::Subscriber),
    Memory(mpsc::UnboundedReceiver<Vec<u8>>),
}

impl Inbox {
    /// The next message; `None` once the bus closed the subscription.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        match &mut self.0 {
            InboxKind::Nats(s) => {
                use futures_util::StreamExt;
                s.next().await.map(|m| m.payload.to_vec())
            }
            InboxKind::Memory(r) => r.recv().await,
        }
    }
}

/// A publish/subscribe message bus with subjects (NATS semantics: at most once, to the
/// subscribers present at publication).
#[async_trait::async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes `payload` on `subject`.
    ///
    /// # Errors
    /// [`Error::Bus`].
    async fn publish(&self, subject: String, payload: Vec<u8>) -> Result<()>;
    /// Subscribes to `subject` (exact).
    ///
    /// # Errors
    /// [`Error::Bus`].
    async fn subscribe(&self, subject: String) -> Result<Inbox>;
}

/// NATS core publish/subscribe (no JetStream: signing messages are worth nothing once the
/// session is over, so nothing is stored on the server).
#[derive(Debug, Clone)]
pub struct NatsBus {
    client: async_nats::Client,
}

impl NatsBus {
    /// Connects to the NATS server at `url` (`nats://host:port`).
    ///
    /// # Errors
    /// [`Error::Bus`] naming the URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let client =
            async_nats::ConnectOptions::new().name("shr-signer").connect(url).await.map_err(
                |e| Error::Bus { what: format!("connecting to NATS at {url}"), source: e.into() },
            )?;
        Ok(Self { client })
    }
}

#[async_trait::async_trait]
impl Bus for NatsBus {
    async fn publish(&self, subject: String, payload: Vec<u8>) -> Result<()> {
        self.client.publish(subject.clone(), payload.into()).await.map_err(|e| Error::Bus {
            what: format!("publishing on {subject}"),
            source: e.into(),
        })?;
        self.client
            .flush()
            .await
            .map_err(|e| Error::Bus { what: format!("flushing {subject}"), source: e.into() })
    }

    async fn subscribe(&self, subject: String) -> Result<Inbox> {
        let s = self.client.subscribe(subject.clone()).await.map_err(|e| Error::Bus {
            what: format!("subscribing to {subject}"),
            source: e.into(),
        })?;
        // The server registers the subscription when it reads the SUB; a flush makes sure it
        // has before the caller announces that it listens.
        self.client
            .flush()
            .await
            .map_err(|e| Error::Bus { what: format!("flushing {subject}"), source: e.into() })?;
        Ok(Inbox(InboxKind::Nats(s)))
    }
}

/// What a [`MemoryBus`] may do to a message in flight (tests: tamper, drop).
pub type Interceptor = Arc<dyn Fn(&str, &mut Vec<u8>) -> bool + Send + Sync>;

type Subscriber = (String, mpsc::UnboundedSender<Vec<u8>>);

/// In-process bus: every subscriber of a subject gets every message published on it after it
/// subscribed; an optional interceptor may change or drop messages (it returns `false` to drop).
#[derive(Clone, Default)]
pub struct MemoryBus {
    subs: Arc<Mutex<Vec<Subscriber>>>,
    intercept: Option<Interceptor>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same bus seen through `intercept`: what is published through the returned handle
    /// passes `intercept` first (the other handles are untouched).
    pub fn intercepted(&self, intercept: Interceptor) -> Self {
        Self { subs: self.subs.clone(), intercept: Some(intercept) }
    }
}

#[async_trait::async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, subject: String, mut payload: Vec<u8>) -> Result<()> {
        if let Some(f) = &self.intercept
            && !f(&subject, &mut payload)
        {
            return Ok(());
        }
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(s, tx)| s != &subject || tx.send(payload.clone()).is_ok());
        Ok(())
    }

    async fn subscribe(&self, subject: String) -> Result<Inbox> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).push((subject, tx));
        Ok(Inbox(InboxKind::Memory(rx)))
    }
}
