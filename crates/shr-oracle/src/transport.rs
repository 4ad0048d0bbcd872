//! How oracle nodes talk: signed messages through a [`Transport`], never shared memory.

use std::{collections::VecDeque, sync::Mutex};

use alloy::primitives::Bytes;

use crate::program::Outcome;

/// A node's index in the DON (0-based).
pub type NodeId = usize;

/// A message between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A node's signed outcome for a round, to the leader.
    Observation {
        /// Round.
        round: u64,
        /// Sender.
        from: NodeId,
        /// The outcome.
        outcome: Outcome,
        /// Enclave signature over the observation digest.
        signature: [u8; 65],
    },
    /// The leader asks every node to sign a report.
    SignRequest {
        /// Round.
        round: u64,
        /// Raw report bytes.
        raw: Bytes,
        /// Report context.
        context: Bytes,
    },
    /// A node's report signature, to the leader.
    ReportSignature {
        /// Round.
        round: u64,
        /// Sender.
        from: NodeId,
        /// Forwarder-format signature.
        signature: [u8; 65],
    },
}

/// Delivery of messages between nodes. In-process channels here; a message bus (NATS JetStream)
/// when nodes run as separate processes.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Queues `msg` for `to`.
    fn send(&self, to: NodeId, msg: Message);
    /// Takes every message queued for `me`.
    fn drain(&self, me: NodeId) -> Vec<Message>;
    /// Notified when a message may have arrived, so a waiting node need not poll; `None` (the
    /// default): poll [`Transport::drain`].
    fn wakeup(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// In-process transport: one queue per node.
#[derive(Debug)]
pub struct InMemoryTransport {
    queues: Vec<Mutex<VecDeque<Message>>>,
}

impl InMemoryTransport {
    /// Queues for `n` nodes.
    pub fn new(n: usize) -> Self {
        Self { queues: (0..n).map(|_| Mutex::new(VecDeque::new())).collect() }
    }
}

impl Transport for InMemoryTransport {
    fn send(&self, to: NodeId, msg: Message) {
        if let Some(q) = self.queues.get(to) {
            q.lock().unwrap_or_else(|e| e.into_inner()).push_back(msg);
        }
    }

    fn drain(&self, me: NodeId) -> Vec<Message> {
        self.queues
            .get(me)
            .map(|q| q.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect())
            .unwrap_or_default()
    }
}
