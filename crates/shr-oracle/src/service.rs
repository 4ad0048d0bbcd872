//! One node of a DON run as its own process: the host loop around the node's enclave, its
//! source, its [`Transport`] (NATS JetStream between processes) and the chain.
//!
//! A round is named by its scheduled unix second `r` (every node fires at the same second of
//! the same cron schedule):
//!
//! 1. the node fetches its source, evaluates inside its enclave at `r`, and broadcasts the
//!    signed outcome to every node;
//! 2. each node waits for 2f+1 identical valid outcomes ([`RoundTally::agreed`]); without them
//!    by the round timeout the round has no consensus;
//! 3. each node reads the receiver: when the chain already holds the outcome (same `isSolvent`,
//!    heartbeat not expired) nothing is due. Otherwise every node whose own outcome is the agreed
//!    one builds the report (the same bytes on every node: [`build_report`]), signs it inside
//!    its enclave and broadcasts the signature;
//! 4. the leader of attempt 0 ([`leader`], per feed and round) transmits with f+1 signatures through the forwarder.
//!    Every `takeover` later, the next attempt's leader checks the chain and transmits if the
//!    report has not landed: a node that is down or slow costs one takeover, not the round.
//!    Two nodes transmitting the same report is harmless (the forwarder refuses the second,
//!    `AlreadyAttempted`).
//!
//! Logs go to the target `shr::oracle::service`.

use std::{sync::Arc, time::Duration};

use alloy::primitives::{Address, B256};
use shr_chain::Chain;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::{
    Deployment, Error, Result,
    don::{Transmitter, attested_state, build_report, transmit},
    handoff::NodeRecovery,
    program::{NodeInput, Outcome, ReserveEnclave},
    recovered::read_evidence,
    report::WorkflowConfig,
    schedule::RoundSchedule,
    source::ReserveSource,
    tally::{Inbox, leader},
    transport::{Message, NodeId, Transport},
};

/// How often a waiting node looks at its inbox when its transport has no wake-up.
const POLL: Duration = Duration::from_millis(2);
/// The longest a waiting node sleeps with a wake-up (its takeover and deadline clocks).
const WAIT_MAX: Duration = Duration::from_millis(20);

/// A node process's configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The feed's name (logs and metrics labels).
    pub feed: String,
    /// This node's index in `signers`.
    pub me: NodeId,
    /// The DON's signers, in node order (the forwarder's config).
    pub signers: Vec<Address>,
    /// Faults tolerated.
    pub f: usize,
    /// The workflow identity reports carry.
    pub workflow: WorkflowConfig,
    /// Forwarder and receiver.
    pub deployment: Deployment,
    /// Re-attest an unchanged outcome after this many seconds.
    pub heartbeat: u64,
    /// The account this node transmits from, and its `report` gas limit.
    pub transmitter: Transmitter,
    /// How long an attempt's leader has before the next node takes over.
    pub takeover: Duration,
    /// How long a round may take in all (at most the schedule's period).
    pub round_timeout: Duration,
    /// How long the receiver state this node last read or saw land may stand in for a read
    /// when it already holds the agreed outcome (zero: read every round). A node that missed
    /// a report landing would count an outcome as not due for at most this long; the others
    /// (at least the node that transmitted it) read the chain.
    pub state_ttl: Duration,
}

/// How a round ended for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundStatus {
    /// Fewer than 2f+1 identical outcomes arrived in time.
    NoConsensus,
    /// The chain already holds the agreed outcome.
    NotDue,
    /// This node transmitted the report (as the leader of `attempt`).
    Transmitted {
        /// The transaction.
        tx_hash: B256,
        /// The receiver accepted it (`ReportProcessed.result`).
        accepted: bool,
        /// 0 for the round's first leader, then one per takeover.
        attempt: u64,
    },
    /// Another node's transmission of the report landed.
    TransmittedByOther,
    /// Agreed and due, but no report landed before the round timeout.
    Missed,
}

impl RoundStatus {
    /// A short, stable name (`not_due`, `transmitted`, ...): log field and metrics label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoConsensus => "no_consensus",
            Self::NotDue => "not_due",
            Self::Transmitted { .. } => "transmitted",
            Self::TransmittedByOther => "transmitted_by_other",
            Self::Missed => "missed",
        }
    }
}

/// What one round did at this node.
#[derive(Debug)]
pub struct RoundResult {
    /// The round (its scheduled unix second).
    pub round: u64,
    /// This node's own evaluation, or why its enclave refused the input (log it with
    /// [`Error::public_reason`]: the error itself may quote a value of the custodian's body).
    pub own: std::result::Result<Outcome, Error>,
    /// The agreed outcome and its votes.
    pub agreed: Option<(Outcome, usize)>,
    /// How the round ended.
    pub status: RoundStatus,
    /// From the round's start at this node to its end.
    pub latency: Duration,
    /// From the round's start to this node's own evaluation (the source fetch included).
    pub observed_after: Duration,
    /// From the round's start to 2f+1 agreement at this node (zero without agreement).
    pub agreed_after: Duration,
    /// From the round's start to this node holding f+1 report signatures as the leader, when
    /// it transmitted (zero otherwise).
    pub signatures_after: Duration,
}

/// A node process (see the module docs).
#[derive(Debug)]
pub struct NodeService {
    cfg: ServiceConfig,
    enclave: ReserveEnclave,
    chain: Arc<dyn Chain>,
    chain_id: u64,
    transport: Arc<dyn Transport>,
    source: Arc<dyn ReserveSource>,
    inbox: Inbox,
    /// The receiver's `(isSolvent, lastUpdated)` as this node last read it or saw it land.
    onchain: Option<((bool, u64), Instant)>,
    /// The round in progress: the inbox files rounds in a window around it.
    current: u64,
    /// Recovered collateral counted and deficits handed off ([`NodeService::with_recovery`]).
    recovery: Option<NodeRecovery>,
}

impl NodeService {
    /// A node with its enclave, chain, transport and source.
    ///
    /// # Errors
    /// [`Error::Config`] when `me` is not an index of `signers` or the enclave's signer is not
    /// `signers[me]`; chain errors reading the chain id.
    pub async fn new(
        cfg: ServiceConfig,
        enclave: ReserveEnclave,
        chain: Arc<dyn Chain>,
        transport: Arc<dyn Transport>,
        source: Arc<dyn ReserveSource>,
    ) -> Result<Self> {
        if cfg.signers.get(cfg.me) != Some(&enclave.identity().signer) {
            return Err(Error::Config(format!(
                "node {}: its enclave signer {} is not the deployment's signer for that index",
                cfg.me,
                enclave.identity().signer
            )));
        }
        let chain_id = chain.chain_id().await?;
        let inbox = Inbox::for_workflow(cfg.workflow.workflow_id);
        Ok(Self {
            cfg,
            enclave,
            chain,
            chain_id,
            transport,
            source,
            inbox,
            onchain: None,
            current: 0,
            recovery: None,
        })
    }

    /// Counts recovered collateral (the vault and the treasury's dark-pool balance, read from
    /// the chain at one block each round, its exit ticket from the mailbox) and hands the
    /// sealed deficit of every insolvent report that lands to the agent.
    pub fn with_recovery(mut self, recovery: NodeRecovery) -> Self {
        self.enclave.set_recovery(recovery.accounts);
        self.recovery = Some(recovery);
        self
    }

    /// This node's enclave identity.
    pub fn identity(&self) -> &shr_enclave::EnclaveIdentity {
        self.enclave.identity()
    }

    /// Runs round `round` (its scheduled unix second) to its end (see the module docs).
    ///
    /// # Errors
    /// Only failures to sign inside the enclave; a refused input, a missing consensus, chain
    /// and transmission failures are in the [`RoundResult`] and the log.
    pub async fn run_round(&mut self, round: u64) -> Result<RoundResult> {
        let start = Instant::now();
        self.current = round;
        let deadline = start + self.cfg.round_timeout;
        let (me, n) = (self.cfg.me, self.cfg.signers.len());
        let own = self.observe(round).await;
        let observed_after = start.elapsed();
        if let Ok(outcome) = &own {
            let workflow_id = self.cfg.workflow.workflow_id;
            let signature = self.enclave.sign_observation(&workflow_id, round, outcome)?;
            self.broadcast(Message::Observation { round, from: me, outcome: *outcome, signature });
        }
        let mut result = RoundResult {
            round,
            own,
            agreed: None,
            status: RoundStatus::NoConsensus,
            latency: Duration::ZERO,
            observed_after,
            agreed_after: Duration::ZERO,
            signatures_after: Duration::ZERO,
        };
        let (outcome, votes) = loop {
            self.pump();
            if let Some(a) = self.inbox.round(round).and_then(|t| t.agreed(self.cfg.f)) {
                break a;
            }
            if Instant::now() >= deadline {
                let heard = self.inbox.round(round).map_or(0, |t| t.observations());
                warn!(target: "shr::oracle::service", round, heard, needed = 2 * self.cfg.f + 1, "no consensus");
                // It may have missed a report landing: read the chain next time.
                self.onchain = None;
                result.latency = start.elapsed();
                return Ok(result);
            }
            self.wait().await;
        };
        result.agreed = Some((outcome, votes));
        result.agreed_after = start.elapsed();
        if !self.due(outcome).await {
            result.status = RoundStatus::NotDue;
            result.latency = start.elapsed();
            return Ok(result);
        }
        let (raw, context, body) = build_report(
            &self.cfg.workflow,
            &self.cfg.deployment,
            self.chain_id,
            self.cfg.f,
            &self.cfg.signers,
            round,
            outcome,
        );
        if result.own.as_ref().is_ok_and(|o| *o == outcome) {
            let target = (self.chain_id, self.cfg.deployment.receiver);
            let signature =
                self.enclave.sign_report(&raw, &context, &self.cfg.workflow, target, round)?;
            self.broadcast(Message::ReportSignature { round, from: me, signature });
        }
        // Attempts count from the round's start, the same scheduled second at every node, so
        // nodes that agreed at different times still agree on who leads.
        let takeover = self.cfg.takeover.as_millis().max(1);
        let mut checked = 0;
        let mut tried = None;
        result.status = loop {
            self.pump();
            let attempt = (start.elapsed().as_millis() / takeover) as u64;
            if attempt > checked {
                checked = attempt;
                if self.landed(outcome).await {
                    break RoundStatus::TransmittedByOther;
                }
            }
            if leader(self.cfg.deployment.receiver, round, attempt, n) == me
                && tried != Some(attempt)
            {
                let signatures = self
                    .inbox
                    .round_mut(round)
                    .map(|t| t.report_signatures(&raw, &context, &self.cfg.signers, self.cfg.f))
                    .unwrap_or_default();
                if signatures.len() == self.cfg.f + 1 {
                    tried = Some(attempt);
                    result.signatures_after = start.elapsed();
                    let dep = self.cfg.deployment;
                    let sent = transmit(
                        self.chain.as_ref(),
                        &dep,
                        self.cfg.transmitter,
                        raw.clone(),
                        context.clone(),
                        &signatures,
                        body,
                    )
                    .await;
                    match sent {
                        Ok(tx) => {
                            self.onchain = tx.accepted.then(|| {
                                ((outcome.is_solvent, outcome.observed_at), Instant::now())
                            });
                            info!(target: "shr::oracle::service", round, attempt, is_solvent = outcome.is_solvent, tx = %tx.tx_hash, accepted = tx.accepted, "report transmitted");
                            break RoundStatus::Transmitted {
                                tx_hash: tx.tx_hash,
                                accepted: tx.accepted,
                                attempt,
                            };
                        }
                        Err(e) => {
                            warn!(target: "shr::oracle::service", round, attempt, error = %e, "transmission failed");
                            if self.landed(outcome).await {
                                break RoundStatus::TransmittedByOther;
                            }
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                warn!(target: "shr::oracle::service", round, "report due but none landed before the round timeout");
                self.onchain = None;
                break RoundStatus::Missed;
            }
            self.wait().await;
        };
        result.latency = start.elapsed();
        if !outcome.is_solvent
            && result.own.as_ref().is_ok_and(|o| *o == outcome)
            && matches!(
                result.status,
                RoundStatus::Transmitted { accepted: true, .. } | RoundStatus::TransmittedByOther
            )
        {
            self.hand_off_deficit(round, outcome.observed_at).await;
        }
        Ok(result)
    }

    /// Seals this enclave's last (insolvent) evaluation to the agent and hands it off; a
    /// failure is logged (the agent waits for another node's copy, then times out).
    async fn hand_off_deficit(&self, round: u64, observed_at: u64) {
        let Some(rec) = &self.recovery else { return };
        let sealed = match self.enclave.seal_deficit(&rec.agent, observed_at) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                warn!(target: "shr::oracle::service", round, error = %e, "sealing the deficit");
                return;
            }
        };
        match rec.mailbox.hand_off_deficit(observed_at, &sealed).await {
            Ok(()) => {
                info!(target: "shr::oracle::service", round, observed_at, "sealed deficit handed off to the agent")
            }
            Err(e) => {
                warn!(target: "shr::oracle::service", round, error = %e, "handing off the sealed deficit")
            }
        }
    }

    /// Runs rounds on `schedule` (wall clock, unix seconds) until `stop` turns true; a round in
    /// progress finishes first. `on_round` sees every round's result (logs, metrics).
    ///
    /// # Errors
    /// Enclave signing failures.
    pub async fn run(
        &mut self,
        schedule: &RoundSchedule,
        mut stop: tokio::sync::watch::Receiver<bool>,
        mut on_round: impl FnMut(&RoundResult),
    ) -> Result<()> {
        let mut last = unix_now().saturating_sub(1);
        loop {
            let Some(next) = schedule.next_after(last) else {
                info!(target: "shr::oracle::service", schedule = schedule.expr(), "schedule has no further rounds");
                return Ok(());
            };
            let wait = Duration::from_secs(next)
                .saturating_sub(std::time::UNIX_EPOCH.elapsed().unwrap_or_default());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
            let r = self.run_round(next).await?;
            record(&self.cfg.feed, &r);
            on_round(&r);
            self.inbox.forget_before(next);
            // A round that overran its slot skips the rounds it missed instead of bunching them.
            last = next.max(unix_now().saturating_sub(1));
            if *stop.borrow() {
                return Ok(());
            }
        }
    }

    async fn observe(&mut self, round: u64) -> Result<Outcome> {
        let mut input = self.source.fetch(self.enclave.identity(), round).await;
        if let (Some(rec), Ok(inner)) = (&self.recovery, &input) {
            input = self.recovered(rec, inner.clone()).await;
        }
        let outcome = input.and_then(|i| self.enclave.evaluate(&i, round));
        if let Err(e) = &outcome {
            let (reason, why) = (e.kind(), e.public_reason());
            warn!(target: "shr::oracle::service", round, reason, why, "reading refused");
        }
        outcome
    }

    fn broadcast(&mut self, m: Message) {
        for to in (0..self.cfg.signers.len()).filter(|i| *i != self.cfg.me) {
            self.transport.send(to, m.clone());
        }
        match m {
            // Its own observation: signed here a moment ago, nothing to recover.
            Message::Observation { round, from, outcome, .. } => {
                self.inbox.accept_own(round, from, outcome)
            }
            m => {
                self.inbox.accept(m, &self.cfg.signers, self.current);
            }
        }
    }

    /// Until a message may have arrived (or a short while passed).
    async fn wait(&self) {
        match self.transport.wakeup() {
            Some(n) => {
                let _ = tokio::time::timeout(WAIT_MAX, n.notified()).await;
            }
            None => tokio::time::sleep(POLL).await,
        }
    }

    fn pump(&mut self) {
        for m in self.transport.drain(self.cfg.me) {
            if !self.inbox.accept(m, &self.cfg.signers, self.current) {
                debug!(target: "shr::oracle::service", "message dropped (invalid signature, duplicate or sign request)");
            }
        }
    }

    /// The custodian's input with the collateral recovered since: the chain evidence this host
    /// reads at one block and the exit ticket forwarded to this node.
    async fn recovered(&self, rec: &NodeRecovery, inner: NodeInput) -> Result<NodeInput> {
        let evidence = read_evidence(self.chain.as_ref(), &rec.accounts).await?;
        // Without the mailbox the node still counts the vault (the ticket only adds).
        let ticket = match rec.mailbox.credit(self.enclave.identity().signer).await {
            Ok(t) => t,
            Err(e) => {
                warn!(target: "shr::oracle::service", error = %e, "reading the forwarded ticket; counting without it");
                None
            }
        };
        Ok(NodeInput::Recovered { inner: Box::new(inner), evidence, ticket })
    }

    /// Whether the agreed outcome must be transmitted: the chain holds nothing yet, another
    /// `isSolvent`, or the heartbeat expired; never an observation older than the chain's. The
    /// state known within `state_ttl` answers "not due" without a read; anything else reads.
    async fn due(&mut self, o: Outcome) -> bool {
        let is_due = |(solvent, last): (bool, u64)| {
            last == 0
                || (o.observed_at > last
                    && (solvent != o.is_solvent || o.observed_at >= last + self.cfg.heartbeat))
        };
        if let Some((known, at)) = self.onchain
            && at.elapsed() < self.cfg.state_ttl
            && !is_due(known)
        {
            return false;
        }
        match attested_state(self.chain.as_ref(), self.cfg.deployment.receiver).await {
            Ok(state) => {
                self.onchain = Some((state, Instant::now()));
                is_due(state)
            }
            Err(e) => {
                // Not knowing is treated as due: a transmission the chain does not need is
                // refused by the receiver, a missed one is not recoverable.
                warn!(target: "shr::oracle::service", error = %e, "reading the receiver");
                self.onchain = None;
                true
            }
        }
    }

    /// Whether a report at least as new as `o` has landed (and if so, remembers it).
    async fn landed(&mut self, o: Outcome) -> bool {
        match attested_state(self.chain.as_ref(), self.cfg.deployment.receiver).await {
            Ok(state) => {
                self.onchain = Some((state, Instant::now()));
                state.1 >= o.observed_at
            }
            Err(_) => false,
        }
    }
}

/// Metrics of a finished round (the `metrics` facade; the binary installs the exporter):
/// `shr_oracle_rounds_total{feed,status}`, `shr_oracle_refusals_total{feed,reason}`,
/// `shr_oracle_transmissions_total{feed,accepted}`, `shr_oracle_round_latency_seconds{feed}`.
fn record(feed: &str, r: &RoundResult) {
    let feed = feed.to_string();
    metrics::counter!("shr_oracle_rounds_total", "feed" => feed.clone(), "status" => r.status.name())
        .increment(1);
    if let Err(e) = &r.own {
        metrics::counter!("shr_oracle_refusals_total", "feed" => feed.clone(), "reason" => e.kind())
            .increment(1);
    }
    if let RoundStatus::Transmitted { accepted, .. } = r.status {
        let accepted = if accepted { "true" } else { "false" };
        metrics::counter!("shr_oracle_transmissions_total", "feed" => feed.clone(), "accepted" => accepted)
            .increment(1);
    }
    metrics::histogram!("shr_oracle_round_latency_seconds", "feed" => feed)
        .record(r.latency.as_secs_f64());
}

fn unix_now() -> u64 {
    std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or_default()
}
