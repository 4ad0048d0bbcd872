//! A signer party's service: it answers the agent's signing requests for the group's key.
//!
//! A request counts only when signed by an agent key the [`Policy`] names. The party opens
//! its sealed copy of the bytes to sign, accepts only the canonical EIP-1559 encoding, checks
//! its policy (chain id, destination and selector allow-list, swap routes, recipients, the
//! rolling daily limits of its own [`Ledger`]) and answers `ready` (having subscribed to the
//! signing session first) or `refused` with a reason that carries no amount. When the agent
//! names `t` distinct ready parties, every ready party checks again, records the spend and
//! persists its ledger *before* any signing; the named ones run the DKLs23 session and publish
//! the signature. A party never signs a hash it did not compute itself from the bytes it
//! checked, and drops (never obeys) messages that fail authentication.

use std::{collections::HashMap, sync::Arc, time::Duration};

use alloy::{
    consensus::{SignableTransaction, TxEip1559},
    primitives::{B256, Signature, keccak256},
    rlp::Decodable,
};
use shr_enclave::Enclave;
use tokio::time::Instant;

use crate::{
    Error, KeyShare, Ledger, Policy, Result, Signing,
    bus::{Bus, Inbox},
    ceremony::now_secs,
    wire::{
        AgentMsg, PartyMsg, REQUEST_MAX_AGE, Roster, Subjects, Wire, deliver, open_p2p,
        open_request, seal_p2p,
    },
};

/// How long a party keeps a request it answered `ready` to without a start.
pub const PENDING_FOR: Duration = Duration::from_secs(30);

/// Decodes an EIP-1559 transaction from the bytes its signature covers (`0x02 ‖ rlp(fields)`),
/// refusing any encoding but the canonical one.
///
/// # Errors
/// [`Error::NotEip1559`] naming the first byte (or `0x02` for trailing or non-canonical
/// bytes); [`Error::Rlp`].
pub fn decode_unsigned(unsigned: &[u8]) -> Result<TxEip1559> {
    match unsigned.first() {
        Some(2) => {}
        other => return Err(Error::NotEip1559 { first: other.copied() }),
    }
    let mut rest = &unsigned[1..];
    let tx = TxEip1559::decode(&mut rest).map_err(Error::Rlp)?;
    // Only the canonical encoding: the party signs the hash of these bytes, which must be the
    // transaction's own signing hash, never a look-alike encoding's.
    let mut canonical = Vec::with_capacity(unsigned.len());
    tx.encode_for_signing(&mut canonical);
    if !rest.is_empty() || canonical != unsigned {
        return Err(Error::NotEip1559 { first: Some(2) });
    }
    Ok(tx)
}

/// What a party needs to serve.
#[derive(Debug)]
pub struct Service {
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// This party's enclave (its message key and HPKE key).
    pub enclave: Arc<Enclave>,
    /// The signer group.
    pub group: String,
    /// This party's share.
    pub share: Arc<KeyShare>,
    /// The key's parties.
    pub roster: Arc<Roster>,
    /// The policy this party enforces.
    pub policy: Policy,
    /// How long a signing session may take.
    pub sign_timeout: Duration,
}

struct Pending {
    tx: TxEip1559,
    hash: B256,
    inbox: Inbox,
    since: Instant,
}

/// Where a party keeps its ledger between restarts (a sealed file in the party's directory;
/// memory in tests).
pub trait LedgerStore: Send + Sync {
    /// Persists `ledger`.
    ///
    /// # Errors
    /// Whatever the store fails with.
    fn save(&self, ledger: &Ledger) -> Result<()>;
}

/// Keeps nothing (tests).
#[derive(Debug, Default)]
pub struct NoLedgerStore;

impl LedgerStore for NoLedgerStore {
    fn save(&self, _: &Ledger) -> Result<()> {
        Ok(())
    }
}

impl Service {
    fn me(&self) -> u8 {
        self.share.party.party_index.as_u8()
    }

    async fn answer(&self, subjects: &Subjects, msg: &PartyMsg, request: &B256) -> Result<()> {
        self.bus.publish(subjects.replies(request), Wire::sign(&self.enclave, msg)?).await
    }

    /// Serves requests until the bus closes; `ledger` is the party's spend history, saved to
    /// `store` after every spend is recorded.
    ///
    /// # Errors
    /// [`Error::Group`], [`Error::Bus`], [`Error::Closed`].
    pub async fn run(self, mut ledger: Ledger, store: &dyn LedgerStore) -> Result<()> {
        let subjects = Subjects::new(&self.group)?;
        let me = self.me();
        let mut requests = self.bus.subscribe(subjects.requests()).await?;
        let mut pending: HashMap<B256, Pending> = HashMap::new();
        let mut seen: HashMap<B256, Instant> = HashMap::new();
        tracing::info!(target: "shr::signer", party = me, group = %self.group, address = %self.share.address, "serving signing requests");
        while let Some(bytes) = requests.recv().await {
            let now = Instant::now();
            pending.retain(|_, p| now.duration_since(p.since) < PENDING_FOR);
            seen.retain(|_, t| now.duration_since(*t) < Duration::from_secs(crate::DAY_SECS));
            let msg = match Wire::open_as::<AgentMsg>(&bytes) {
                Ok((msg, agent)) if self.policy.agents.contains(&agent) => msg,
                Ok((_, agent)) => {
                    tracing::warn!(target: "shr::signer", party = me, %agent, "dropped a request signed by a key the policy does not name");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(target: "shr::signer", party = me, "dropped a request that is not a signed agent message");
                    continue;
                }
            };
            match msg {
                AgentMsg::Request { request, sealed, context, issued_at } => {
                    let clock = now_secs();
                    if issued_at.abs_diff(clock) > REQUEST_MAX_AGE {
                        tracing::warn!(target: "shr::signer", party = me, %request, issued_at, clock, "dropped a request issued too far from this party's clock (a replay?)");
                        continue;
                    }
                    if seen.insert(request, now).is_some() {
                        // The agent repeats a request until `t` parties answer.
                        tracing::debug!(target: "shr::signer", party = me, %request, "request id seen before: ignored");
                        continue;
                    }
                    let unsigned = match open_request(&request, &sealed, me, &self.enclave) {
                        Ok(u) => u,
                        Err(e) => {
                            tracing::warn!(target: "shr::signer", party = me, %request, error = %e, "dropped a request not sealed to this party");
                            continue;
                        }
                    };
                    let checked = decode_unsigned(&unsigned).and_then(|tx| {
                        self.policy.check(&tx, now_secs(), &mut ledger.clone()).map(|_| tx)
                    });
                    match checked {
                        Ok(tx) => {
                            let inbox = self.bus.subscribe(subjects.signing(&request)).await?;
                            let hash = keccak256(&unsigned);
                            pending.insert(request, Pending { tx, hash, inbox, since: now });
                            tracing::info!(target: "shr::signer", party = me, %request, context, "policy accepts: ready");
                            self.answer(
                                &subjects,
                                &PartyMsg::Ready { request, party: me },
                                &request,
                            )
                            .await?;
                        }
                        Err(e) => {
                            let reason = e.redacted();
                            tracing::warn!(target: "shr::signer", party = me, %request, context, reason, "policy refuses");
                            let msg = PartyMsg::Refused { request, party: me, reason };
                            self.answer(&subjects, &msg, &request).await?;
                        }
                    }
                }
                AgentMsg::Start { request, signers } => {
                    if !pending.contains_key(&request) {
                        continue;
                    }
                    let t = usize::from(self.share.party.parameters.threshold);
                    let valid = signers.len() == t
                        && signers.windows(2).all(|w| w[0] < w[1])
                        && signers.iter().all(|s| self.roster.contains_key(s));
                    if !valid {
                        tracing::warn!(target: "shr::signer", party = me, %request, ?signers, "dropped a start naming another signer set than t distinct parties of the key");
                        continue;
                    }
                    let Some(p) = pending.remove(&request) else { continue };
                    // Every ready party records the spend, signer or not, so that the agent
                    // cannot spread a day's payments over signer sets to pass the limit. It
                    // records before signing: a crash cannot sign the same budget twice.
                    let recorded = self
                        .policy
                        .check(&p.tx, now_secs(), &mut ledger)
                        .and_then(|_| store.save(&ledger));
                    if let Err(e) = recorded {
                        let reason = e.redacted();
                        tracing::warn!(target: "shr::signer", party = me, %request, reason, "refused at start");
                        let msg = PartyMsg::Refused { request, party: me, reason };
                        self.answer(&subjects, &msg, &request).await?;
                        continue;
                    }
                    if !signers.contains(&me) {
                        continue;
                    }
                    let job = SignJob {
                        bus: self.bus.clone(),
                        enclave: self.enclave.clone(),
                        subjects: subjects.clone(),
                        share: self.share.clone(),
                        roster: self.roster.clone(),
                        timeout: self.sign_timeout,
                    };
                    tokio::spawn(async move {
                        let started = std::time::Instant::now();
                        let msg = match job.sign(request, &signers, p.hash, p.inbox).await {
                            Ok(signature) => {
                                tracing::info!(target: "shr::signer", party = me, %request, ms = started.elapsed().as_secs_f64() * 1e3, "signed");
                                PartyMsg::Signed { request, party: me, signature }
                            }
                            Err(e) => {
                                tracing::warn!(target: "shr::signer", party = me, %request, error = %e, "signing failed");
                                PartyMsg::Refused { request, party: me, reason: e.to_string() }
                            }
                        };
                        let out = Wire::sign(&job.enclave, &msg);
                        if let Ok(bytes) = out {
                            let _ = job.bus.publish(job.subjects.replies(&request), bytes).await;
                        }
                    });
                }
            }
        }
        Err(Error::Closed)
    }
}

/// One party's part in one signing session.
#[derive(Debug, Clone)]
pub struct SignJob {
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// This party's enclave.
    pub enclave: Arc<Enclave>,
    /// The group's subjects.
    pub subjects: Subjects,
    /// This party's share.
    pub share: Arc<KeyShare>,
    /// The key's parties.
    pub roster: Arc<Roster>,
    /// How long the session may take.
    pub timeout: Duration,
}

impl SignJob {
    /// Signs `hash` with `signers` in session `request`, reading the session's messages from
    /// `inbox` (subscribed to [`Subjects::signing`] before the agent started the session).
    ///
    /// # Errors
    /// [`Error::Timeout`] naming the signers not heard from; protocol errors naming the party
    /// ([`Error::Abort`], [`Error::BadSignature`], [`Error::Sealed`], [`Error::Message`],
    /// [`Error::Spoofed`], [`Error::Duplicate`]); [`Error::Bus`].
    pub async fn sign(
        &self,
        request: B256,
        signers: &[u8],
        hash: B256,
        mut inbox: Inbox,
    ) -> Result<Signature> {
        let me = self.share.party.party_index.as_u8();
        let deadline = Instant::now() + self.timeout;
        let (mut session, out) = Signing::start(&self.share, signers, request.as_slice(), hash)?;
        self.publish(&request, out).await?;
        let mut mail = Vec::new();
        let mut round = 1u8;
        let mut rejected = None;
        loop {
            while round < 3 {
                let step = if round == 1 { session.round2(&mail) } else { session.round3(&mail) };
                match step {
                    Ok(out) => {
                        self.publish(&request, out).await?;
                        round += 1;
                    }
                    Err(Error::Missing { .. }) => break,
                    Err(e) => return Err(e),
                }
            }
            if round == 3 && session.can_finish(&mail) {
                return session.finish(&mail);
            }
            let bytes = tokio::select! {
                m = inbox.recv() => m.ok_or(Error::Closed)?,
                () = tokio::time::sleep_until(deadline) => {
                    if let Some(e) = rejected {
                        return Err(e);
                    }
                    let heard: Vec<u8> = mail.iter().filter(|e: &&crate::Envelope| e.round == round).map(|e| e.from).collect();
                    let missing = signers.iter().copied().filter(|p| *p != me && !heard.contains(p)).collect();
                    return Err(Error::Timeout { step: "signing", missing });
                }
            };
            let Ok((PartyMsg::Protocol { session: sid, envelope }, signer)) = Wire::open(&bytes)
            else {
                continue;
            };
            if sid != request || envelope.from == me {
                continue;
            }
            if !signers.contains(&envelope.from)
                || self.roster.get(&envelope.from).map(|m| m.signer) != Some(signer)
            {
                // Anyone can publish here: a forgery is dropped, not allowed to stop the
                // session (the real message still counts).
                tracing::warn!(target: "shr::signer", party = me, %request, claimed = envelope.from, "dropped a signing message whose signature is not the party's");
                rejected = Some(Error::BadSignature { party: Some(envelope.from) });
                continue;
            }
            match envelope.to {
                Some(to) if to == me => {
                    deliver(&mut mail, open_p2p(&request, envelope, &self.enclave)?);
                }
                None => deliver(&mut mail, envelope),
                Some(_) => {}
            }
        }
    }

    async fn publish(&self, request: &B256, out: Vec<crate::Envelope>) -> Result<()> {
        for e in out {
            let envelope = seal_p2p(request, e, &self.roster)?;
            let msg = PartyMsg::Protocol { session: *request, envelope };
            self.bus
                .publish(self.subjects.signing(request), Wire::sign(&self.enclave, &msg)?)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Bytes, TxKind};

    use super::*;

    #[test]
    fn only_the_canonical_signing_bytes_of_an_eip1559_transaction_decode() {
        let tx = TxEip1559 {
            chain_id: 1,
            nonce: 7,
            gas_limit: 21_000,
            to: TxKind::Call(alloy::primitives::Address::repeat_byte(1)),
            input: Bytes::from_static(&[1, 2, 3]),
            ..Default::default()
        };
        let mut b = Vec::new();
        tx.encode_for_signing(&mut b);
        assert_eq!(decode_unsigned(&b).unwrap(), tx);
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(matches!(decode_unsigned(&trailing), Err(Error::NotEip1559 { first: Some(2) })));
        let mut legacy = b.clone();
        legacy[0] = 1;
        assert!(matches!(decode_unsigned(&legacy), Err(Error::NotEip1559 { first: Some(1) })));
        assert!(matches!(decode_unsigned(&[]), Err(Error::NotEip1559 { first: None })));
        assert!(decode_unsigned(&b[..b.len() - 1]).is_err(), "truncated");
    }
}
