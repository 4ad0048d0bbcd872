//! The DON: N nodes (default 4, f = 1), consensus on identical outcomes, f+1 signatures, a
//! rotating leader that transmits through the real `KeystoneForwarder`.

use alloy::{
    primitives::{Address, B256, Bytes, keccak256},
    sol_types::{SolCall, SolEvent},
};
use rayon::prelude::*;
use shr_chain::{Chain, TxRequest};
use shr_contracts::{
    bindings::{KeystoneForwarder, ReserveAttestation},
    deploy, send, view,
};
use shr_enclave::{HpkePublicKey, Sealed, TeePlatform};
use tracing::{debug, warn};

use crate::{
    Error, Policy, PorFields, Result,
    node::{Behavior, OracleNode},
    program::{NodeInput, Outcome, ReserveEnclave},
    report::{RawReport, ReportBody, WorkflowConfig, config_digest, report_context},
    transport::{InMemoryTransport, Message, Transport},
};

/// DON configuration.
#[derive(Debug, Clone)]
pub struct DonConfig {
    /// Number of nodes (default 4).
    pub n: usize,
    /// Faults tolerated (default 1); the forwarder requires `n > 3f`.
    pub f: usize,
    /// The solvency policy each enclave runs.
    pub policy: Policy,
    /// Custodian JSON field names.
    pub fields: PorFields,
    /// Token decimals (8 for wBTC).
    pub decimals: u8,
    /// Workflow identity in reports.
    pub workflow: WorkflowConfig,
    /// The recovery agent's HPKE key, to which confirmed deficits are sealed.
    pub agent_key: Option<HpkePublicKey>,
}

impl DonConfig {
    /// Defaults (4 nodes, f = 1, default policy) for workflow `name` owned by `owner`.
    pub fn new(name: &str, owner: Address, decimals: u8) -> Self {
        Self {
            n: 4,
            f: 1,
            policy: Policy::default(),
            fields: PorFields::default(),
            decimals,
            workflow: WorkflowConfig::named(name, owner),
            agent_key: None,
        }
    }
}

/// Where the DON delivers: the forwarder and the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// `KeystoneForwarder`.
    pub forwarder: Address,
    /// `ReserveAttestation` (or any `IReceiver`).
    pub receiver: Address,
}

/// A transmitted report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Gas used by `report`.
    pub gas_used: u64,
    /// `ReportProcessed.result`: the receiver accepted it.
    pub accepted: bool,
    /// The body sent.
    pub body: ReportBody,
}

/// What one round did.
#[derive(Debug)]
pub struct RoundReport {
    /// Round number.
    pub round: u64,
    /// Leader's node id.
    pub leader: usize,
    /// The agreed outcome, if consensus was reached.
    pub outcome: Option<Outcome>,
    /// Votes for it.
    pub votes: usize,
    /// The transmission, if one was sent.
    pub transmission: Option<Transmission>,
    /// The deficit sealed to the agent when an insolvent outcome was transmitted: one signed
    /// notice from each node whose enclave evaluated that outcome (the agent acts on f+1).
    pub sealed_deficits: Vec<Sealed>,
    /// Why nothing was transmitted, or why the round failed.
    pub errors: Vec<Error>,
}

/// The DON.
#[derive(Debug)]
pub struct Don {
    cfg: DonConfig,
    nodes: Vec<OracleNode>,
    transport: Box<dyn Transport>,
    signers: Vec<Address>,
    round: u64,
    last_onchain: Option<ReportBody>,
}

impl Don {
    /// Launches `cfg.n` nodes, each with its own enclave on `platform`.
    ///
    /// # Errors
    /// [`Error::Config`] unless `n > 3f` and `f >= 1` (the forwarder's rule); enclave errors.
    pub fn new(platform: &dyn TeePlatform, cfg: DonConfig) -> Result<Self> {
        check_size(cfg.n, cfg.f)?;
        let enclaves = (0..cfg.n)
            .map(|i| {
                ReserveEnclave::launch(
                    platform,
                    i as u32,
                    cfg.policy,
                    cfg.fields.clone(),
                    cfg.decimals,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_enclaves(enclaves, cfg)
    }

    /// A DON of the given enclaves, in node order (nodes restored from their directories);
    /// `cfg.n` is taken from their number.
    ///
    /// # Errors
    /// [`Error::Config`] unless `n > 3f` and `f >= 1`.
    pub fn from_enclaves(enclaves: Vec<ReserveEnclave>, mut cfg: DonConfig) -> Result<Self> {
        cfg.n = enclaves.len();
        check_size(cfg.n, cfg.f)?;
        let nodes: Vec<OracleNode> = enclaves
            .into_iter()
            .enumerate()
            .map(|(i, e)| OracleNode::new(i, e, cfg.workflow))
            .collect();
        let signers = nodes.iter().map(|n| n.identity().signer).collect();
        Ok(Self {
            transport: Box::new(InMemoryTransport::new(cfg.n)),
            cfg,
            nodes,
            signers,
            round: 0,
            last_onchain: None,
        })
    }

    /// The nodes' signer addresses, in node order: the forwarder's `setConfig` signers.
    pub fn signers(&self) -> &[Address] {
        &self.signers
    }

    /// The accounts whose recovered collateral every node's enclave counts
    /// ([`crate::NodeInput::Recovered`]).
    pub fn set_recovery(&mut self, accounts: crate::RecoveryAccounts) {
        for n in &mut self.nodes {
            n.set_recovery(accounts);
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[OracleNode] {
        &self.nodes
    }

    /// The configuration.
    pub fn config(&self) -> &DonConfig {
        &self.cfg
    }

    /// Sets a node's behaviour (fault-tolerance tests).
    pub fn set_behavior(&mut self, node: usize, b: Behavior) {
        self.nodes[node].set_behavior(b);
    }

    /// Deploys Chainlink's `KeystoneForwarder` and a `ReserveAttestation` for this workflow, and
    /// registers the DON with `setConfig(donId, configVersion, f, signers)`, all from `admin`.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn deploy(&self, chain: &dyn Chain, admin: Address) -> Result<Deployment> {
        let forwarder = deploy::keystone_forwarder(chain, admin).await?;
        let w = &self.cfg.workflow;
        let receiver =
            deploy::reserve_attestation(chain, admin, forwarder, w.workflow_owner, w.workflow_id)
                .await?;
        self.register(chain, admin, forwarder).await?;
        Ok(Deployment { forwarder, receiver })
    }

    /// Registers this DON's signers on `forwarder` (owner only).
    ///
    /// # Errors
    /// Contract errors (e.g. `InsufficientSigners`).
    pub async fn register(
        &self,
        chain: &dyn Chain,
        owner: Address,
        forwarder: Address,
    ) -> Result<()> {
        let w = &self.cfg.workflow;
        let call = KeystoneForwarder::setConfigCall {
            donId: w.don_id,
            configVersion: w.config_version,
            f: self.cfg.f as u8,
            signers: self.signers.clone(),
        };
        send(chain, owner, forwarder, &call).await?;
        Ok(())
    }

    /// Runs one round at `now` (unix seconds): every node evaluates its input, the leader
    /// gathers 2f+1 identical outcomes, and when the outcome differs from the chain's or the
    /// heartbeat expired, gathers f+1 report signatures and transmits from `transmitter`.
    ///
    /// The nodes evaluate and sign in parallel (rayon's pool, one thread per core), as the
    /// separate machines of a real DON do; the leader recovers the votes it needs in parallel.
    ///
    /// Node-level failures (refusals, missing votes, a failed transmission) are in
    /// [`RoundReport::errors`]; the returned error is only for chain failures.
    ///
    /// # Errors
    /// Chain and contract errors other than a revert of the transmission.
    pub async fn round(
        &mut self,
        chain: &dyn Chain,
        dep: &Deployment,
        transmitter: Address,
        now: u64,
        input: impl Fn(usize) -> NodeInput + Sync,
    ) -> Result<RoundReport> {
        self.round += 1;
        let round = self.round;
        let n = self.nodes.len();
        let leader = (round as usize) % n;
        let t = self.transport.as_ref();
        let mut rep = RoundReport {
            round,
            leader,
            outcome: None,
            votes: 0,
            transmission: None,
            sealed_deficits: Vec::new(),
            errors: Vec::new(),
        };

        let signers = &self.signers;
        let refusals: Vec<Error> = self
            .nodes
            .par_iter_mut()
            .filter_map(|node| {
                node.observe(round, &input(node_id(node, signers)), now, leader, t).err()
            })
            .collect();
        rep.errors.extend(refusals);
        if self.nodes[leader].behavior() == Behavior::Offline {
            t.drain(leader);
            return Ok(rep);
        }
        let (mut outcome, votes) =
            match self.nodes[leader].collect_observations(round, &self.signers, self.cfg.f, t) {
                Ok(x) => x,
                Err(e) => {
                    rep.errors.push(e);
                    return Ok(rep);
                }
            };
        rep.outcome = Some(outcome);
        rep.votes = votes;

        let last = match self.last_onchain {
            Some(b) => Some(b),
            None => self.read_onchain(chain, dep).await?,
        };
        let due = match last {
            None => true,
            Some(b) => {
                b.is_solvent != outcome.is_solvent
                    || outcome.observed_at >= b.observed_at + self.cfg.policy.heartbeat
            }
        };
        if !due || last.is_some_and(|b| outcome.observed_at <= b.observed_at) {
            return Ok(rep);
        }

        if self.nodes[leader].behavior() == Behavior::FlipOutcome {
            outcome.is_solvent = !outcome.is_solvent;
        }
        let chain_id = chain.chain_id().await?;
        for node in &mut self.nodes {
            node.set_target(chain_id, dep.receiver);
        }
        let (raw, context, body) = build_report(
            &self.cfg.workflow,
            dep,
            chain_id,
            self.cfg.f,
            &self.signers,
            round,
            outcome,
        );
        for i in 0..n {
            t.send(i, Message::SignRequest { round, raw: raw.clone(), context: context.clone() });
        }
        for i in 0..n {
            rep.errors.extend(self.nodes[i].answer_sign_requests(leader, t));
        }
        let signatures = match self.nodes[leader].collect_signatures(
            round,
            &raw,
            &context,
            &self.signers,
            self.cfg.f,
            t,
        ) {
            Ok(s) => s,
            Err(e) => {
                warn!(target: "shr::oracle", round, leader, error = %e, "report not transmitted");
                rep.errors.push(e);
                return Ok(rep);
            }
        };
        match self.transmit(chain, dep, transmitter, raw, context, signatures, body).await {
            Ok(tx) => {
                if tx.accepted {
                    self.last_onchain = Some(body);
                    if !body.is_solvent
                        && let Some(agent) = &self.cfg.agent_key
                    {
                        // Each node that took part this round and evaluated the reported
                        // observation insolvent (an offline node's last evaluation is stale).
                        for node in self.nodes.iter().filter(|n| n.behavior() != Behavior::Offline)
                        {
                            match node.enclave().seal_deficit(agent, body.observed_at) {
                                Ok(Some(s)) => rep.sealed_deficits.push(s),
                                Ok(None) => {}
                                // The report is on chain: a failed seal costs this copy only.
                                Err(e) => rep.errors.push(e),
                            }
                        }
                    }
                }
                rep.transmission = Some(tx);
            }
            Err(Error::Contract(e)) if e.revert().is_some() => rep.errors.push(Error::Contract(e)),
            Err(e) => return Err(e),
        }
        Ok(rep)
    }

    #[allow(clippy::too_many_arguments)]
    async fn transmit(
        &self,
        chain: &dyn Chain,
        dep: &Deployment,
        transmitter: Address,
        raw: Bytes,
        context: Bytes,
        signatures: Vec<[u8; 65]>,
        body: ReportBody,
    ) -> Result<Transmission> {
        // The embedded chain's clock follows the reports (a replay runs faster than time).
        let now_chain = chain.timestamp().await?;
        if body.observed_at > now_chain {
            chain.set_next_block_timestamp(body.observed_at).await?;
        }
        transmit(chain, dep, transmitter, raw, context, &signatures, body).await
    }

    async fn read_onchain(
        &self,
        chain: &dyn Chain,
        dep: &Deployment,
    ) -> Result<Option<ReportBody>> {
        let last = view(chain, dep.receiver, &ReserveAttestation::lastUpdatedCall {}).await?;
        if last.is_zero() {
            return Ok(None);
        }
        let is_solvent = view(chain, dep.receiver, &ReserveAttestation::isSolventCall {}).await?;
        debug!(target: "shr::oracle", %last, is_solvent, "read attested state");
        Ok(Some(ReportBody {
            is_solvent,
            observed_at: last.try_into().unwrap_or(u64::MAX),
            chain_id: chain.chain_id().await?,
            receiver: dep.receiver,
        }))
    }
}

/// The report a DON transmits for `outcome` in `round`: `(rawReport, reportContext, body)`, the
/// same bytes on every node that computes it (the execution id is
/// `keccak256(workflowId ‖ round ‖ observedAt)`, the context carries the forwarder's config
/// digest for `f` and `signers`).
pub fn build_report(
    w: &WorkflowConfig,
    dep: &Deployment,
    chain_id: u64,
    f: usize,
    signers: &[Address],
    round: u64,
    outcome: Outcome,
) -> (Bytes, Bytes, ReportBody) {
    let body = ReportBody {
        is_solvent: outcome.is_solvent,
        observed_at: outcome.observed_at,
        chain_id,
        receiver: dep.receiver,
    };
    let raw = RawReport {
        execution_id: keccak256(
            [w.workflow_id.as_slice(), &round.to_be_bytes(), &outcome.observed_at.to_be_bytes()]
                .concat(),
        ),
        timestamp: u32::try_from(outcome.observed_at).unwrap_or(u32::MAX),
        workflow: *w,
        body: body.encode(),
    }
    .encode();
    let digest = config_digest(dep.forwarder, w, f as u8, signers);
    (raw, report_context(digest, round), body)
}

/// The account a node transmits reports from, and the gas limit of its `report` transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmitter {
    /// The transmitting account (one the chain can sign for).
    pub address: Address,
    /// Gas limit of a `KeystoneForwarder.report` transaction; `None` estimates it per
    /// transaction. A fixed limit is what CRE's write target configures: it saves the node's
    /// RPC an `eth_estimateGas` (many EVM runs) per report. The forwarder passes the receiver
    /// what is left, and fails the transmission (retryable with more gas) when that is short.
    pub gas_limit: Option<u64>,
}

impl From<Address> for Transmitter {
    fn from(address: Address) -> Self {
        Self { address, gas_limit: None }
    }
}

/// Sends `KeystoneForwarder.report(receiver, raw, context, signatures)` from `transmitter` and
/// reads `ReportProcessed.result` (whether the receiver accepted the report).
///
/// # Errors
/// Chain and contract errors, a revert among them (`AlreadyAttempted` when another node
/// transmitted this report first, `InvalidSignature`, ...).
pub async fn transmit(
    chain: &dyn Chain,
    dep: &Deployment,
    transmitter: impl Into<Transmitter>,
    raw: Bytes,
    context: Bytes,
    signatures: &[[u8; 65]],
    body: ReportBody,
) -> Result<Transmission> {
    let transmitter = transmitter.into();
    let call = KeystoneForwarder::reportCall {
        receiver: dep.receiver,
        rawReport: raw,
        reportContext: context,
        signatures: signatures.iter().map(|s| Bytes::copy_from_slice(s)).collect(),
    };
    let mut tx = TxRequest::call(transmitter.address, dep.forwarder, call.abi_encode());
    tx.gas_limit = transmitter.gas_limit;
    let receipt = chain.send(tx).await.map_err(|e| {
        shr_contracts::Error::from_chain(KeystoneForwarder::reportCall::SIGNATURE, e)
    })?;
    let accepted = receipt
        .logs
        .iter()
        .filter(|l| l.address == dep.forwarder)
        .find_map(|l| KeystoneForwarder::ReportProcessed::decode_log(&l.to_primitive()).ok())
        .is_some_and(|e| e.result);
    if accepted {
        debug!(target: "shr::oracle", is_solvent = body.is_solvent, observed_at = body.observed_at, gas = receipt.gas_used, "report transmitted");
    } else {
        warn!(target: "shr::oracle", tx = %receipt.tx_hash, "forwarder delivered but the receiver refused the report");
    }
    Ok(Transmission { tx_hash: receipt.tx_hash, gas_used: receipt.gas_used, accepted, body })
}

fn check_size(n: usize, f: usize) -> Result<()> {
    if f == 0 || n <= 3 * f || n > 31 {
        return Err(Error::Config(format!("n = {n} and f = {f}: need f >= 1, n > 3f, n <= 31")));
    }
    Ok(())
}

fn node_id(node: &OracleNode, signers: &[Address]) -> usize {
    signers.iter().position(|s| *s == node.identity().signer).unwrap_or(0)
}

/// Reads the attested state: `(isSolvent, lastUpdated)`.
///
/// # Errors
/// Contract errors.
pub async fn attested_state(chain: &dyn Chain, receiver: Address) -> Result<(bool, u64)> {
    // One call, so both come from one block (and a node process reads it every round).
    let (solvent, observed_at, _) = attested_status(chain, receiver).await?;
    Ok((solvent, observed_at))
}

/// `ReserveAttestation.latestStatus()`: `(isSolvent, observedAt unix s, fresh)`, `fresh` being
/// whether the status was observed within the receiver's heartbeat + grace. A consumer treats a
/// stale status as unknown.
///
/// # Errors
/// Contract errors.
pub async fn attested_status(chain: &dyn Chain, receiver: Address) -> Result<(bool, u64, bool)> {
    let s = view(chain, receiver, &ReserveAttestation::latestStatusCall {}).await?;
    Ok((s.solvent, s.observedAt.try_into().unwrap_or(u64::MAX), s.fresh))
}

/// Decodes `ReserveStatusUpdated` logs of `receiver` in `logs`.
pub fn status_updates(receiver: Address, logs: &[shr_chain::ChainLog]) -> Vec<(bool, u64)> {
    logs.iter()
        .filter(|l| l.address == receiver)
        .filter_map(|l| {
            ReserveAttestation::ReserveStatusUpdated::decode_log(&l.to_primitive()).ok()
        })
        .map(|e| (e.isSolvent, e.timestamp.try_into().unwrap_or(u64::MAX)))
        .collect()
}

/// Every `ReserveStatusUpdated(isSolvent, observedAt)` the receiver has emitted: the public
/// history, in chain order.
///
/// # Errors
/// Chain errors.
pub async fn status_history(chain: &dyn Chain, receiver: Address) -> Result<Vec<(bool, u64)>> {
    let filter = shr_chain::LogFilter::event(
        receiver,
        ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH,
        0,
    );
    Ok(status_updates(receiver, &chain.logs(&filter).await?))
}
