//! The agent's side: [`ThresholdSigner`], an alloy [`TxSigner`] whose signatures come from the
//! signer parties, so the recovery agent pays from the treasury without any machine holding its
//! key.
//!
//! A signature takes one request (the exact bytes to sign and a context line), the `ready` or
//! `refused` answers of the online parties, a start naming the first `t` ready parties, and
//! their signature, which the client checks recovers to the treasury before it returns it. A
//! refusal, or fewer than `t` parties answering in time, fails the signature before any session
//! starts: the transaction is never sent (`shr_chain::Error::NotSigned`). A failure after the
//! start is `MaybeSigned`: a party may hold a signature, so the agent treats the transaction as
//! possibly sent.

use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::SignableTransaction,
    network::TxSigner,
    primitives::{Address, B256, Bytes, Signature, keccak256},
};
use shr_enclave::Enclave;
use tokio::time::Instant;

use crate::{
    Error, Result,
    bus::Bus,
    wire::{AgentMsg, PartyMsg, Roster, Subjects, Wire, seal_request},
};

/// How often the request is repeated while fewer than `t` parties answered.
const REPEAT_EVERY: Duration = Duration::from_millis(250);

/// Signs for a threshold treasury through its parties.
#[derive(Debug, Clone)]
pub struct ThresholdSigner {
    bus: Arc<dyn Bus>,
    subjects: Subjects,
    address: Address,
    threshold: u8,
    roster: Roster,
    agent: Arc<Enclave>,
    /// How long to wait for `t` parties to answer a request.
    pub ready_timeout: Duration,
    /// How long the signing session may take once started.
    pub sign_timeout: Duration,
}

impl ThresholdSigner {
    /// A signer for the key `address` of signer group `group` (`threshold` of the parties in
    /// `roster`), reached over `bus`; requests are signed by the `agent` enclave's key, which
    /// the parties' policies name (`agents`).
    ///
    /// # Errors
    /// [`Error::Group`].
    pub fn new(
        bus: Arc<dyn Bus>,
        group: &str,
        address: Address,
        threshold: u8,
        roster: Roster,
        agent: Arc<Enclave>,
    ) -> Result<Self> {
        Ok(Self {
            bus,
            subjects: Subjects::new(group)?,
            address,
            threshold,
            roster,
            agent,
            ready_timeout: Duration::from_secs(3),
            sign_timeout: Duration::from_secs(10),
        })
    }

    /// Has the parties sign `keccak256(unsigned)`, `unsigned` being an EIP-1559 transaction's
    /// signing bytes; `context` tells the parties' logs why.
    ///
    /// # Errors
    /// [`Error::Refused`] naming the party and its reason; [`Error::BelowThreshold`] naming the
    /// parties that answered and the ones that did not; [`Error::Timeout`] when the session
    /// started but no signature came; [`Error::WrongSignature`]; [`Error::Bus`].
    pub async fn sign_unsigned(&self, unsigned: Bytes, context: &str) -> Result<Signature> {
        let request = B256::random();
        let hash = keccak256(&unsigned);
        let mut replies = self.bus.subscribe(self.subjects.replies(&request)).await?;
        let sealed = seal_request(&request, &unsigned, &self.roster)?;
        let issued_at = crate::ceremony::now_secs();
        let msg = AgentMsg::Request { request, sealed, context: context.to_string(), issued_at };
        let msg = Wire::sign(&self.agent, &msg)?;
        self.bus.publish(self.subjects.requests(), msg.clone()).await?;
        let t = usize::from(self.threshold);
        let mut ready: Vec<u8> = Vec::new();
        let deadline = Instant::now() + self.ready_timeout;
        let mut again = Instant::now() + REPEAT_EVERY;
        while ready.len() < t {
            let bytes = tokio::select! {
                m = replies.recv() => m.ok_or(Error::Closed)?,
                () = tokio::time::sleep_until(again.min(deadline)) => {
                    if Instant::now() >= deadline {
                        let missing =
                            self.roster.keys().copied().filter(|p| !ready.contains(p)).collect();
                        return Err(Error::BelowThreshold { ready, t: self.threshold, missing });
                    }
                    // A party that was reconnecting missed it; the others ignore a repeat.
                    self.bus.publish(self.subjects.requests(), msg.clone()).await?;
                    again = Instant::now() + REPEAT_EVERY;
                    continue;
                }
            };
            match Wire::verify(&bytes, &self.roster) {
                Ok(PartyMsg::Ready { request: r, party }) if r == request => {
                    if !ready.contains(&party) {
                        ready.push(party);
                    }
                }
                Ok(PartyMsg::Refused { request: r, party, reason }) if r == request => {
                    return Err(Error::Refused { party, reason });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "shr::signer", %request, error = %e, "dropped a reply")
                }
            }
        }
        ready.sort_unstable();
        let start = AgentMsg::Start { request, signers: ready.clone() };
        // From here a signature may exist even if none reaches us (a Start whose flush failed
        // may still have been delivered): every failure says so.
        let started = |source: Error| Error::SessionFailed { source: Box::new(source) };
        let start = Wire::sign(&self.agent, &start)?;
        self.bus.publish(self.subjects.requests(), start).await.map_err(started)?;
        let deadline = Instant::now() + self.sign_timeout;
        let mut failed: Vec<(u8, String)> = Vec::new();
        loop {
            let Ok(Some(bytes)) = tokio::time::timeout_at(deadline, replies.recv()).await else {
                if !failed.is_empty() {
                    return Err(started(Error::SignersFailed { reasons: failed }));
                }
                return Err(started(Error::Timeout { step: "signing", missing: ready }));
            };
            match Wire::verify(&bytes, &self.roster) {
                Ok(PartyMsg::Signed { request: r, signature, .. }) if r == request => {
                    let recovered = signature.recover_address_from_prehash(&hash).ok();
                    if recovered == Some(self.address) {
                        return Ok(signature);
                    }
                    let e = Error::WrongSignature { expected: self.address, recovered };
                    return Err(started(e));
                }
                // Every signer's reason, not the first: one signer's timeout is the echo of the
                // other's rejection, which names the culprit.
                Ok(PartyMsg::Refused { request: r, party, reason })
                    if r == request && ready.contains(&party) =>
                {
                    if !failed.iter().any(|(p, _)| *p == party) {
                        failed.push((party, reason));
                    }
                    if failed.len() == ready.len() {
                        return Err(started(Error::SignersFailed { reasons: failed }));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "shr::signer", %request, error = %e, "dropped a reply")
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl TxSigner<Signature> for ThresholdSigner {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_transaction(
        &self,
        tx: &mut dyn SignableTransaction<Signature>,
    ) -> alloy::signers::Result<Signature> {
        let mut unsigned = Vec::new();
        tx.encode_for_signing(&mut unsigned);
        let started = std::time::Instant::now();
        let sig = self.sign_unsigned(unsigned.into(), "treasury transaction").await.map_err(
            |e| match e {
                Error::SessionFailed { .. } => {
                    alloy::signers::Error::other(shr_chain::MaybeSigned(Box::new(e)))
                }
                e => alloy::signers::Error::other(e),
            },
        )?;
        tracing::info!(target: "shr::signer", address = %self.address, ms = started.elapsed().as_secs_f64() * 1e3, "threshold signature");
        Ok(sig)
    }
}
