//! An oracle node: its own enclave, signer and state; it speaks only through a [`Transport`].

use alloy::primitives::Address;
use rayon::prelude::*;
use shr_enclave::EnclaveIdentity;

use crate::{
    Error, Result,
    program::{NodeInput, Outcome, ReserveEnclave, observation_signer},
    report::{WorkflowConfig, recover_forwarder_signature, report_digest},
    transport::{Message, NodeId, Transport},
};

/// How a node behaves; anything but `Honest` is for fault-tolerance tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Follows the protocol.
    Honest,
    /// Byzantine, with its enclave key compromised: reports the opposite outcome, signs any
    /// report, and as leader proposes the opposite report.
    FlipOutcome,
    /// Byzantine: signs with garbage.
    ForgeSignatures,
    /// Sends nothing and answers nothing.
    Offline,
}

/// One oracle node.
#[derive(Debug)]
pub struct OracleNode {
    id: NodeId,
    enclave: ReserveEnclave,
    behavior: Behavior,
    workflow: WorkflowConfig,
    target: (u64, Address),
    /// The observation this node last sent `(round, outcome, signature)`: as leader it counts
    /// its own vote by comparing bytes instead of recovering its own signature.
    own: Option<(u64, Outcome, [u8; 65])>,
}

impl OracleNode {
    /// A node with its enclave.
    pub fn new(id: NodeId, enclave: ReserveEnclave, workflow: WorkflowConfig) -> Self {
        Self {
            id,
            enclave,
            behavior: Behavior::Honest,
            workflow,
            target: (0, Address::ZERO),
            own: None,
        }
    }

    /// The `(chain id, receiver)` this node's reports are for: it signs no body naming another.
    pub fn set_target(&mut self, chain_id: u64, receiver: Address) {
        self.target = (chain_id, receiver);
    }

    /// The accounts whose recovered collateral its enclave counts.
    pub fn set_recovery(&mut self, accounts: crate::RecoveryAccounts) {
        self.enclave.set_recovery(accounts);
    }

    /// Its enclave's public identity.
    pub fn identity(&self) -> &EnclaveIdentity {
        self.enclave.identity()
    }

    /// Its behaviour.
    pub fn behavior(&self) -> Behavior {
        self.behavior
    }

    /// Sets its behaviour (tests).
    pub fn set_behavior(&mut self, b: Behavior) {
        self.behavior = b;
    }

    /// The enclave (to seal the deficit when leading).
    pub fn enclave(&self) -> &ReserveEnclave {
        &self.enclave
    }

    /// Evaluates `input` and sends the signed outcome to `leader`.
    ///
    /// # Errors
    /// The enclave's refusal; nothing is sent then.
    pub fn observe(
        &mut self,
        round: u64,
        input: &NodeInput,
        now: u64,
        leader: NodeId,
        t: &dyn Transport,
    ) -> Result<()> {
        if self.behavior == Behavior::Offline {
            return Ok(());
        }
        let mut outcome = self.enclave.evaluate(input, now)?;
        if self.behavior == Behavior::FlipOutcome {
            outcome.is_solvent = !outcome.is_solvent;
        }
        let signature = match self.behavior {
            Behavior::ForgeSignatures => [7u8; 65],
            _ => self.enclave.sign_observation(&self.workflow.workflow_id, round, &outcome)?,
        };
        self.own = Some((round, outcome, signature));
        t.send(leader, Message::Observation { round, from: self.id, outcome, signature });
        Ok(())
    }

    /// Answers sign requests in its inbox (a node other than the leader handles only those).
    pub fn answer_sign_requests(&mut self, leader: NodeId, t: &dyn Transport) -> Vec<Error> {
        if self.behavior == Behavior::Offline {
            t.drain(self.id);
            return Vec::new();
        }
        let mut refusals = Vec::new();
        for m in t.drain(self.id) {
            // The leader's inbox also holds other nodes' signatures: keep them queued.
            if !matches!(m, Message::SignRequest { .. }) {
                t.send(self.id, m);
                continue;
            }
            if let Message::SignRequest { round, raw, context } = m {
                let signature = match self.behavior {
                    Behavior::ForgeSignatures => Ok([9u8; 65]),
                    // A compromised node signs whatever it is asked to sign.
                    Behavior::FlipOutcome => self.enclave.sign_unchecked(&raw, &context),
                    _ => {
                        self.enclave.sign_report(&raw, &context, &self.workflow, self.target, round)
                    }
                };
                match signature {
                    Ok(signature) => {
                        t.send(leader, Message::ReportSignature { round, from: self.id, signature })
                    }
                    Err(Error::ReportRefused { round, why, .. }) => {
                        refusals.push(Error::ReportRefused { node: self.id, round, why })
                    }
                    Err(e) => refusals.push(e),
                }
            }
        }
        refusals
    }

    /// As leader: takes the round's observations from its inbox, keeps those whose signature
    /// recovers to the sender's enclave key, and returns the outcome with at least `2f+1` votes.
    ///
    /// # Errors
    /// [`Error::NoConsensus`].
    pub fn collect_observations(
        &self,
        round: u64,
        signers: &[Address],
        f: usize,
        t: &dyn Transport,
    ) -> Result<(Outcome, usize)> {
        // Group by outcome first, then verify signatures in the largest groups only until 2f+1
        // valid ones are found: a forged or foreign vote never counts, and an honest round
        // costs 2f signature recoveries rather than n (the leader's own vote is compared, not
        // recovered).
        type Votes = Vec<(NodeId, [u8; 65])>;
        let mut groups: Vec<(Outcome, Votes)> = Vec::new();
        for m in t.drain(self.id) {
            let Message::Observation { round: r, from, outcome, signature } = m else {
                t.send(self.id, m);
                continue;
            };
            if r != round {
                continue;
            }
            match groups.iter_mut().find(|(o, _)| *o == outcome) {
                Some((_, v)) => v.push((from, signature)),
                None => groups.push((outcome, vec![(from, signature)])),
            }
        }
        groups.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let needed = 2 * f + 1;
        let mut best = 0;
        for (outcome, votes) in groups {
            if votes.len() < needed {
                break;
            }
            let valid = self.valid_votes(round, &outcome, votes, signers, needed);
            if valid == needed {
                return Ok((outcome, needed));
            }
            best = best.max(valid);
        }
        Err(Error::NoConsensus { round, votes: best, needed })
    }

    /// How many distinct senders among `votes` for `outcome` signed validly, counting up to
    /// `needed`. Its own vote, byte for byte what it signed and sent, needs no recovery; the
    /// others are recovered in parallel, as many at a time as are still missing, so an honest
    /// round costs 2f recoveries spread over the cores.
    fn valid_votes(
        &self,
        round: u64,
        outcome: &Outcome,
        votes: Vec<(NodeId, [u8; 65])>,
        signers: &[Address],
        needed: usize,
    ) -> usize {
        let mut valid: Vec<NodeId> = Vec::with_capacity(needed);
        let mut others = Vec::with_capacity(votes.len());
        for (from, sig) in votes {
            if from == self.id && self.own == Some((round, *outcome, sig)) {
                if !valid.contains(&from) {
                    valid.push(from);
                }
            } else {
                others.push((from, sig));
            }
        }
        let mut rest = others.into_iter();
        while valid.len() < needed {
            let batch: Vec<(NodeId, [u8; 65])> = rest
                .by_ref()
                .filter(|(from, _)| !valid.contains(from))
                .take(needed - valid.len())
                .collect();
            if batch.is_empty() {
                break;
            }
            let ok: Vec<bool> = batch
                .par_iter()
                .map(|(from, sig)| {
                    signers.get(*from).is_some_and(|s| {
                        observation_signer(&self.workflow.workflow_id, round, outcome, sig).as_ref()
                            == Some(s)
                    })
                })
                .collect();
            for ((from, _), ok) in batch.into_iter().zip(ok) {
                if ok && !valid.contains(&from) {
                    valid.push(from);
                }
            }
        }
        valid.len().min(needed)
    }

    /// As leader: collects report signatures from its inbox, keeps those that recover to the
    /// sender's configured signer (one per signer), and returns exactly `f+1` of them.
    ///
    /// # Errors
    /// [`Error::NotEnoughSignatures`].
    pub fn collect_signatures(
        &self,
        round: u64,
        raw: &[u8],
        context: &[u8],
        signers: &[Address],
        f: usize,
        t: &dyn Transport,
    ) -> Result<Vec<[u8; 65]>> {
        let digest = report_digest(raw, context);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for m in t.drain(self.id) {
            let Message::ReportSignature { round: r, from, signature } = m else { continue };
            if r != round || seen.contains(&from) {
                continue;
            }
            if signers.get(from) == recover_forwarder_signature(&signature, &digest).as_ref() {
                seen.push(from);
                out.push(signature);
            }
        }
        if out.len() < f + 1 {
            return Err(Error::NotEnoughSignatures { round, got: out.len(), needed: f + 1 });
        }
        out.truncate(f + 1);
        Ok(out)
    }
}
