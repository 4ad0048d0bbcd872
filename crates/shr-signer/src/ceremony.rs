//! Key generation and refresh among the party processes: every party of the key online at
//! once, over a [`Bus`].
//!
//! A run has four steps: presence (each party publishes a signed hello with its enclave's quote
//! and a fresh nonce, and repeats it until the run ends; a quote that does not verify for the
//! platform root and [`PROGRAM`]'s measurement is dropped), the session id (the hash of the
//! kind, the group and every nonce: the same at every party, fresh per run), the three protocol
//! rounds (point-to-point payloads sealed to the receiver, every message signed), and a
//! confirmation (every party announces the address it ended with; a party returns its result
//! only when all `n` confirmations name the same address). A party that restarts mid-run comes
//! back with another nonce, and the others stop with an error rather than mix two runs.

use std::{collections::BTreeMap, time::Duration};

use alloy::primitives::{Address, B256, keccak256};
use shr_enclave::{Enclave, Measurement};
use tokio::time::Instant;

use crate::{
    Envelope, Error, KeyShare, Keygen, Refresh, Result,
    bus::Bus,
    wire::{
        HELLO_MAX_AGE, Member, PROGRAM, PartyMsg, Roster, Subjects, Wire, deliver, open_p2p,
        seal_p2p,
    },
};

/// How often a party repeats its hello while a run lasts.
const HELLO_EVERY: Duration = Duration::from_millis(200);
/// Messages kept for a session this party has not computed yet.
const MAX_PENDING: usize = 4096;

/// What a ceremony runs.
#[derive(Debug)]
pub enum Ceremony {
    /// A new `t`-of-`n` key; this party is `me` (1-based).
    Keygen {
        /// Threshold.
        t: u8,
        /// Parties.
        n: u8,
        /// This party.
        me: u8,
    },
    /// A refresh of `share` with every party of `roster` (the key's parties from its keygen).
    Refresh {
        /// This party's current share.
        share: Box<KeyShare>,
        /// The key's parties.
        roster: Roster,
    },
}

enum Machine {
    Keygen(Keygen),
    Refresh(Refresh),
}

impl Machine {
    fn step(&mut self, round: u8, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        match (self, round) {
            (Self::Keygen(k), 2) => k.round2(inbox),
            (Self::Keygen(k), 3) => k.round3(inbox),
            (Self::Refresh(r), 2) => r.round2(inbox),
            (Self::Refresh(r), 3) => r.round3(inbox),
            _ => Err(Error::OutOfOrder { round }),
        }
    }

    fn can_finish(&self, inbox: &[Envelope]) -> bool {
        match self {
            Self::Keygen(k) => k.can_finish(inbox),
            Self::Refresh(r) => r.can_finish(inbox),
        }
    }

    fn finish(self, inbox: &[Envelope]) -> Result<KeyShare> {
        match self {
            Self::Keygen(k) => k.finish(inbox),
            Self::Refresh(r) => r.finish(inbox),
        }
    }
}

/// The outcome at one party: its (new) share and the key's parties.
#[derive(Debug)]
pub struct Outcome {
    /// This party's share.
    pub share: KeyShare,
    /// Every party's public keys, by index.
    pub roster: Roster,
    /// Threshold.
    pub t: u8,
    /// Parties.
    pub n: u8,
}

struct Run<'a> {
    bus: &'a dyn Bus,
    enclave: &'a Enclave,
    root: Address,
    subjects: Subjects,
    kind: &'static str,
    group: String,
    t: u8,
    n: u8,
    me: u8,
    known: Option<Roster>,
    start: Option<Ceremony>,
    nonce: B256,
    hellos: BTreeMap<u8, (B256, Member, u64)>,
    rejected: Option<Error>,
    pending: Vec<Vec<u8>>,
    session: Option<(B256, Roster)>,
    machine: Option<Machine>,
    round: u8,
    mail: Vec<Envelope>,
    result: Option<KeyShare>,
    confirmed: BTreeMap<u8, Address>,
}

impl Run<'_> {
    /// Handles one message from the bus. Bytes that are not a signed party message are
    /// dropped (anyone on the bus can publish); a signed message that breaks the run stops it.
    async fn on_message(&mut self, bytes: Vec<u8>) -> Result<()> {
        let Ok((msg, signer)) = Wire::open(&bytes) else {
            tracing::debug!(target: "shr::signer", "dropped a message that is not a signed party message");
            return Ok(());
        };
        match msg {
            PartyMsg::Hello { party, nonce, at, identity } => {
                if party == 0 || party > self.n || (party == self.me && nonce == self.nonce) {
                    return Ok(());
                }
                if party == self.me {
                    return self.reject(Error::Duplicate { from: party, round: 0 });
                }
                if identity.signer != signer {
                    return self.reject(Error::BadSignature { party: Some(party) });
                }
                let now = now_secs();
                if at.saturating_add(HELLO_MAX_AGE) < now || at > now + HELLO_MAX_AGE {
                    return self.reject(Error::StaleHello { party, at, now });
                }
                if let Err(source) = identity.verify(self.root, &Measurement::of_program(PROGRAM)) {
                    return self.reject(Error::Quote { party, source });
                }
                let member = Member { signer: identity.signer, hpke: identity.hpke };
                if let Some(known) = &self.known
                    && known.get(&party) != Some(&member)
                {
                    return self.reject(Error::NotMember { party, signer });
                }
                match self.hellos.get(&party) {
                    Some((n, _, _)) if *n == nonce => return Ok(()),
                    // A replay of an earlier run of this party.
                    Some((_, _, seen)) if *seen >= at => return Ok(()),
                    // A newer run of a party once the session began (a restart, or a replay of
                    // a later attempt): this run goes on; if the party really restarted, the
                    // run times out with this as its error.
                    Some(_) if self.session.is_some() => {
                        return self.reject(Error::Restarted { party });
                    }
                    _ => {}
                }
                self.hellos.insert(party, (nonce, member, at));
                if self.hellos.len() == usize::from(self.n) {
                    self.begin().await?;
                }
            }
            PartyMsg::Protocol { session, envelope } => {
                let Some((sid, roster)) = &self.session else {
                    return self.keep(bytes);
                };
                if session != *sid || envelope.from == self.me {
                    return Ok(());
                }
                if roster.get(&envelope.from).map(|m| m.signer) != Some(signer) {
                    return self.reject(Error::BadSignature { party: Some(envelope.from) });
                }
                match envelope.to {
                    Some(to) if to == self.me => {
                        deliver(&mut self.mail, open_p2p(sid, envelope, self.enclave)?);
                    }
                    None => deliver(&mut self.mail, envelope),
                    Some(_) => {}
                }
            }
            PartyMsg::Confirm { session, party, address } => {
                let Some((sid, roster)) = &self.session else {
                    return self.keep(bytes);
                };
                if session != *sid || party == self.me {
                    return Ok(());
                }
                if roster.get(&party).map(|m| m.signer) != Some(signer) {
                    return self.reject(Error::BadSignature { party: Some(party) });
                }
                self.confirmed.insert(party, address);
            }
            _ => {}
        }
        Ok(())
    }

    /// Drops a message that fails authentication (anyone can publish on the bus, so it must
    /// not stop the run); the last one is the error if the run then times out.
    fn reject(&mut self, e: Error) -> Result<()> {
        tracing::warn!(target: "shr::signer", kind = self.kind, error = %e, "dropped a message");
        self.rejected = Some(e);
        Ok(())
    }

    fn keep(&mut self, bytes: Vec<u8>) -> Result<()> {
        if self.pending.len() < MAX_PENDING {
            self.pending.push(bytes);
        }
        Ok(())
    }

    /// Every party is present: the session id, round 1, then what arrived early.
    async fn begin(&mut self) -> Result<()> {
        let nonces: Vec<B256> = self.hellos.values().map(|(n, _, _)| *n).collect();
        let sid = session_id(self.kind, &self.group, self.t, self.n, &nonces);
        let roster: Roster = self.hellos.iter().map(|(p, (_, m, _))| (*p, *m)).collect();
        let (machine, out) = match self.start.take() {
            Some(Ceremony::Keygen { t, n, me }) => {
                let (k, out) = Keygen::start(t, n, me, sid.as_slice())?;
                (Machine::Keygen(k), out)
            }
            Some(Ceremony::Refresh { share, .. }) => {
                let (r, out) = Refresh::start(*share, sid.as_slice())?;
                (Machine::Refresh(r), out)
            }
            None => return Err(Error::OutOfOrder { round: 1 }),
        };
        tracing::info!(target: "shr::signer", kind = self.kind, session = %sid, "every party present");
        publish(self.bus, self.enclave, &self.subjects, &sid, &roster, out).await?;
        self.session = Some((sid, roster));
        self.machine = Some(machine);
        for bytes in std::mem::take(&mut self.pending) {
            Box::pin(self.on_message(bytes)).await?;
        }
        Ok(())
    }

    /// Runs the rounds the mail allows; confirms once finished.
    async fn advance(&mut self) -> Result<()> {
        let (Some((sid, roster)), Some(m)) = (&self.session, self.machine.as_mut()) else {
            return Ok(());
        };
        while self.round < 3 {
            match m.step(self.round + 1, &self.mail) {
                Ok(out) => {
                    publish(self.bus, self.enclave, &self.subjects, sid, roster, out).await?;
                    self.round += 1;
                }
                Err(Error::Missing { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        if !m.can_finish(&self.mail) {
            return Ok(());
        }
        let share = self.machine.take().expect("checked above").finish(&self.mail)?;
        let msg = PartyMsg::Confirm { session: *sid, party: self.me, address: share.address };
        self.bus.publish(self.subjects.ceremony(), Wire::sign(self.enclave, &msg)?).await?;
        self.confirmed.insert(self.me, share.address);
        self.result = Some(share);
        Ok(())
    }
}

/// Runs `ceremony` for signer group `group` as the party inside `enclave`, trusting quotes of
/// the platform whose root is `root`; gives up after `timeout`.
///
/// # Errors
/// [`Error::Timeout`] naming the parties not heard from; [`Error::Quote`] for a hello whose
/// quote fails; [`Error::NotMember`] for a refresh hello from keys that are not the key's
/// party; [`Error::Restarted`]; [`Error::Disagree`] when a party confirmed another address;
/// protocol errors naming the party ([`Error::Abort`], [`Error::BadSignature`],
/// [`Error::Sealed`], [`Error::Message`], [`Error::Spoofed`]); [`Error::Bus`].
pub async fn run(
    bus: &dyn Bus,
    enclave: &Enclave,
    root: Address,
    group: &str,
    ceremony: Ceremony,
    timeout: Duration,
) -> Result<Outcome> {
    let (t, n, me, kind, known) = match &ceremony {
        Ceremony::Keygen { t, n, me } => {
            if *t < 2 || t > n {
                return Err(Error::Parameters { t: *t, n: *n });
            }
            if *me == 0 || me > n {
                return Err(Error::Party { party: *me });
            }
            (*t, *n, *me, "keygen", None)
        }
        Ceremony::Refresh { share, roster } => {
            let p = &share.party.parameters;
            let me = share.party.party_index.as_u8();
            if roster.get(&me).map(|m| m.signer) != Some(enclave.identity().signer) {
                return Err(Error::NotMember { party: me, signer: enclave.identity().signer });
            }
            (p.threshold, p.share_count, me, "refresh", Some(roster.clone()))
        }
    };
    let subjects = Subjects::new(group)?;
    let deadline = Instant::now() + timeout;
    let mut inbox = bus.subscribe(subjects.ceremony()).await?;
    let nonce = B256::random();
    let id = enclave.identity();
    let at = now_secs();
    let hello =
        Wire::sign(enclave, &PartyMsg::Hello { party: me, nonce, at, identity: id.clone() })?;
    let mut run = Run {
        bus,
        enclave,
        root,
        subjects,
        kind,
        group: group.to_string(),
        t,
        n,
        me,
        known,
        start: Some(ceremony),
        nonce,
        hellos: BTreeMap::from([(me, (nonce, Member { signer: id.signer, hpke: id.hpke }, at))]),
        rejected: None,
        pending: Vec::new(),
        session: None,
        machine: None,
        round: 1,
        mail: Vec::new(),
        result: None,
        confirmed: BTreeMap::new(),
    };
    bus.publish(run.subjects.ceremony(), hello.clone()).await?;
    let mut next_hello = Instant::now() + HELLO_EVERY;
    loop {
        run.advance().await?;
        if let (Some(share), Some((_, roster))) = (&run.result, &run.session)
            && run.confirmed.len() == usize::from(n)
        {
            if let Some((&party, &address)) =
                run.confirmed.iter().find(|(_, a)| **a != share.address)
            {
                return Err(Error::Disagree { party, address, ours: share.address });
            }
            let roster = roster.clone();
            return Ok(Outcome { share: run.result.take().expect("checked"), roster, t, n });
        }
        tokio::select! {
            m = inbox.recv() => match m {
                Some(bytes) => run.on_message(bytes).await?,
                None => return Err(Error::Closed),
            },
            () = tokio::time::sleep_until(next_hello.min(deadline)) => {
                if Instant::now() >= deadline {
                    let (step, heard): (&str, Vec<u8>) = match &run.session {
                        None => ("presence", run.hellos.keys().copied().collect()),
                        Some(_) => (kind, run.confirmed.keys().copied().collect()),
                    };
                    if let Some(e) = run.rejected.take() {
                        return Err(e);
                    }
                    let missing = (1..=n).filter(|p| !heard.contains(p)).collect();
                    return Err(Error::Timeout { step, missing });
                }
                bus.publish(run.subjects.ceremony(), hello.clone()).await?;
                next_hello = Instant::now() + HELLO_EVERY;
            }
        }
    }
}

/// Seals and signs `out` and publishes it on the ceremony subject.
async fn publish(
    bus: &dyn Bus,
    enclave: &Enclave,
    subjects: &Subjects,
    session: &B256,
    roster: &Roster,
    out: Vec<Envelope>,
) -> Result<()> {
    for e in out {
        let envelope = seal_p2p(session, e, roster)?;
        let msg = PartyMsg::Protocol { session: *session, envelope };
        bus.publish(subjects.ceremony(), Wire::sign(enclave, &msg)?).await?;
    }
    Ok(())
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The run's session id: `keccak256("shr-signer/<kind>/<group>/<t>-of-<n>" ‖ nonce_1 ‖ … ‖
/// nonce_n)`, nonces by party index.
fn session_id(kind: &str, group: &str, t: u8, n: u8, nonces: &[B256]) -> B256 {
    let mut b = format!("shr-signer/{kind}/{group}/{t}-of-{n}").into_bytes();
    for x in nonces {
        b.extend_from_slice(x.as_slice());
    }
    keccak256(b)
}
