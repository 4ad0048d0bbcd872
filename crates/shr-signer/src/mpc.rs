//! Threshold ECDSA over secp256k1 between the signer parties (DKLs23, `dkls23-secp256k1`):
//! distributed key generation for t-of-n with no dealer, and signing by any t parties. Each
//! party is a message-driven state machine: a round takes the [`Envelope`]s addressed to it
//! and returns the ones it sends (point-to-point or broadcast), so the same code runs in one
//! process (tests) or in party processes over a transport. Nothing here does IO.
//!
//! The envelope's `from` is checked against the sender the protocol message names; a
//! transport must still authenticate `from` (the parties' messages are signed there).

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use dkls23_secp256k1::{
    DkgSession, Party, SignSession,
    protocols::{
        Abort, Parameters, PartyIndex,
        dkg::{
            BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment,
            TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4,
            TransmitInitZeroSharePhase3to4,
        },
        signing::{Broadcast3to4, SignData, TransmitPhase1to2, TransmitPhase2to3},
    },
};
use k256_dkls::{Scalar, Secp256k1};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    Error, Result,
    codec::{from_cbor, to_cbor},
};

/// One protocol message: from a party, to one party (`to: Some`) or to all (`None`), in a
/// round of a protocol; the payload is the library's message as CBOR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Sender, 1-based.
    pub from: u8,
    /// Receiver, 1-based; `None` for a broadcast.
    pub to: Option<u8>,
    /// Round, 1-based.
    pub round: u8,
    /// The message, CBOR.
    pub payload: Bytes,
}

fn idx(i: u8) -> Result<PartyIndex> {
    PartyIndex::new(i).map_err(|_| Error::Party { party: i })
}

fn abort(protocol: &'static str) -> impl Fn(Abort) -> Error {
    move |a| Error::Abort {
        protocol,
        party: a.index.as_u8(),
        ban: match a.kind {
            dkls23_secp256k1::protocols::AbortKind::BanCounterparty(p) => Some(p.as_u8()),
            _ => None,
        },
        reason: a.reason,
    }
}

fn seal<T: Serialize>(from: u8, to: Option<u8>, round: u8, msg: &T) -> Result<Envelope> {
    Ok(Envelope { from, to, round, payload: to_cbor(msg)?.into() })
}

fn open<T: DeserializeOwned>(e: &Envelope) -> Result<T> {
    from_cbor(&e.payload).map_err(|source| Error::Message { from: e.from, round: e.round, source })
}

/// The envelopes of `round` in `inbox`, one per sender in `from`, exactly.
fn take<'a>(
    inbox: &'a [Envelope],
    round: u8,
    from: &[u8],
    to_me: Option<u8>,
) -> Result<Vec<&'a Envelope>> {
    let mut out = Vec::with_capacity(from.len());
    for &f in from {
        let mut it = inbox.iter().filter(|e| e.round == round && e.from == f && e.to == to_me);
        let Some(e) = it.next() else { return Err(Error::Missing { from: f, round }) };
        if it.next().is_some() {
            return Err(Error::Duplicate { from: f, round });
        }
        out.push(e);
    }
    Ok(out)
}

fn check_sender(e: &Envelope, named: PartyIndex) -> Result<()> {
    if named.as_u8() == e.from {
        Ok(())
    } else {
        Err(Error::Spoofed { from: e.from, named: named.as_u8() })
    }
}

#[derive(Serialize, Deserialize)]
struct Dkg2 {
    proof: ProofCommitment<Secp256k1>,
    bip: BroadcastDerivationPhase2to4,
}

#[derive(Serialize, Deserialize)]
struct Dkg3 {
    zero: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<Secp256k1>,
}

/// One party's share of the treasury key, and the key's address.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyShare {
    /// The library's party state (the secret share among it: seal it at rest).
    pub party: Party,
    /// The treasury address the shared key controls.
    pub address: Address,
}

/// One party's distributed key generation: [`Keygen::start`], then rounds 2 and 3, then
/// [`Keygen::finish`].
#[derive(Debug)]
pub struct Keygen {
    session: DkgSession<Secp256k1>,
    me: u8,
    n: u8,
    own_fragment: Option<Scalar>,
    proofs: BTreeMap<u8, ProofCommitment<Secp256k1>>,
    bip2: BTreeMap<PartyIndex, BroadcastDerivationPhase2to4>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    own_bip3: Option<BroadcastDerivationPhase3to4>,
}

impl Keygen {
    fn others(&self) -> Vec<u8> {
        (1..=self.n).filter(|&j| j != self.me).collect()
    }

    /// Party `me` (1-based) of `n` starts a `t`-of-`n` generation in session `session_id`
    /// (the same bytes at every party, fresh per run); returns the round-1 envelopes.
    ///
    /// # Errors
    /// [`Error::Parameters`], [`Error::Party`], [`Error::Encode`].
    pub fn start(t: u8, n: u8, me: u8, session_id: &[u8]) -> Result<(Self, Vec<Envelope>)> {
        let params = Parameters::new(t, n).map_err(|_| Error::Parameters { t, n })?;
        if me == 0 || me > n {
            return Err(Error::Party { party: me });
        }
        let session = DkgSession::new(params, idx(me)?, session_id.to_vec());
        let fragments = session.phase1();
        let mut out = Vec::new();
        for j in 1..=n {
            if j != me {
                out.push(seal(me, Some(j), 1, &fragments[usize::from(j - 1)])?);
            }
        }
        let own_fragment = Some(fragments[usize::from(me - 1)]);
        let k = Self {
            session,
            me,
            n,
            own_fragment,
            proofs: BTreeMap::new(),
            bip2: BTreeMap::new(),
            zero2: Vec::new(),
            own_bip3: None,
        };
        Ok((k, out))
    }

    /// Round 2: takes every other party's round-1 fragment.
    ///
    /// # Errors
    /// [`Error::Missing`], [`Error::Duplicate`], [`Error::Message`], [`Error::Abort`].
    pub fn round2(&mut self, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        let got = take(inbox, 1, &self.others(), Some(self.me))?;
        let mut fragments = Vec::with_capacity(usize::from(self.n));
        let mut got = got.into_iter();
        for j in 1..=self.n {
            if j == self.me {
                fragments.push(self.own_fragment.take().ok_or(Error::OutOfOrder { round: 2 })?);
            } else if let Some(e) = got.next() {
                fragments.push(open::<Scalar>(e)?);
            }
        }
        let (proof, zero, bip) =
            self.session.phase2(&fragments).map_err(abort("key generation"))?;
        let mut out =
            vec![seal(self.me, None, 2, &Dkg2 { proof: proof.clone(), bip: bip.clone() })?];
        for z in zero {
            out.push(seal(self.me, Some(z.parties.receiver.as_u8()), 2, &z)?);
        }
        self.proofs.insert(self.me, proof);
        self.bip2.insert(idx(self.me)?, bip);
        Ok(out)
    }

    /// Round 3: takes every other party's round-2 broadcast and its message to this party.
    ///
    /// # Errors
    /// As [`Keygen::round2`], and [`Error::Spoofed`].
    pub fn round3(&mut self, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        let others = self.others();
        for e in take(inbox, 2, &others, None)? {
            let m: Dkg2 = open(e)?;
            check_sender(e, m.proof.index)?;
            check_sender(e, m.bip.sender_index)?;
            self.proofs.insert(e.from, m.proof);
            self.bip2.insert(idx(e.from)?, m.bip);
        }
        for e in take(inbox, 2, &others, Some(self.me))? {
            let z: TransmitInitZeroSharePhase2to4 = open(e)?;
            check_sender(e, z.parties.sender)?;
            self.zero2.push(z);
        }
        let (zero, mul, bip) = self.session.phase3().map_err(abort("key generation"))?;
        let mut out = vec![seal(self.me, None, 3, &bip)?];
        for z in zero {
            let to = z.parties.receiver.as_u8();
            let m = mul
                .iter()
                .find(|m| m.parties.receiver.as_u8() == to)
                .cloned()
                .ok_or(Error::Missing { from: self.me, round: 3 })?;
            out.push(seal(self.me, Some(to), 3, &Dkg3 { zero: z, mul: m })?);
        }
        self.own_bip3 = Some(bip);
        Ok(out)
    }

    /// Whether `inbox` holds every round-3 message [`Keygen::finish`] needs.
    pub fn can_finish(&self, inbox: &[Envelope]) -> bool {
        let others = self.others();
        take(inbox, 3, &others, None).is_ok() && take(inbox, 3, &others, Some(self.me)).is_ok()
    }

    /// Ends the generation with every other party's round-3 messages: this party's share and
    /// the treasury address (the same at every party).
    ///
    /// # Errors
    /// As [`Keygen::round3`].
    pub fn finish(self, inbox: &[Envelope]) -> Result<KeyShare> {
        let others = self.others();
        let mut bip3 = BTreeMap::new();
        for e in take(inbox, 3, &others, None)? {
            let b: BroadcastDerivationPhase3to4 = open(e)?;
            check_sender(e, b.sender_index)?;
            bip3.insert(idx(e.from)?, b);
        }
        bip3.insert(idx(self.me)?, self.own_bip3.clone().ok_or(Error::OutOfOrder { round: 4 })?);
        let (mut zero3, mut mul3) = (Vec::new(), Vec::new());
        for e in take(inbox, 3, &others, Some(self.me))? {
            let m: Dkg3 = open(e)?;
            check_sender(e, m.zero.parties.sender)?;
            check_sender(e, m.mul.parties.sender)?;
            zero3.push(m.zero);
            mul3.push(m.mul);
        }
        let proofs: Vec<_> = self.proofs.values().cloned().collect();
        let (party, _) = self
            .session
            .phase4(
                &proofs,
                &self.zero2,
                &zero3,
                &mul3,
                &self.bip2,
                &bip3,
                dkls23_secp256k1::compute_eth_address,
            )
            .map_err(abort("key generation"))?;
        let address = dkls23_secp256k1::compute_eth_address(&party.pk)
            .parse()
            .map_err(|_| Error::Party { party: self.me })?;
        Ok(KeyShare { party, address })
    }
}

/// One party's signature of a 32-byte hash with the other signers of a set of `t`.
pub struct Signing<'a> {
    session: SignSession<'a, Secp256k1>,
    me: u8,
    others: Vec<u8>,
    own: Option<Broadcast3to4<Secp256k1>>,
}

impl std::fmt::Debug for Signing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing").field("me", &self.me).field("others", &self.others).finish()
    }
}

impl<'a> Signing<'a> {
    /// Starts signing `hash` (an EIP-1559 signing hash) with `signers` (1-based, this party
    /// among them, `t` of them) in session `sign_id` (fresh per signature, the same at every
    /// signer); returns the round-1 envelopes.
    ///
    /// # Errors
    /// [`Error::Party`], [`Error::Abort`], [`Error::Encode`].
    pub fn start(
        share: &'a KeyShare,
        signers: &[u8],
        sign_id: &[u8],
        hash: B256,
    ) -> Result<(Self, Vec<Envelope>)> {
        let me = share.party.party_index.as_u8();
        if !signers.contains(&me) {
            return Err(Error::Party { party: me });
        }
        let others: Vec<u8> = signers.iter().copied().filter(|&j| j != me).collect();
        let data = SignData {
            sign_id: sign_id.to_vec(),
            counterparties: others.iter().map(|&j| idx(j)).collect::<Result<_>>()?,
            message_hash: hash.0,
        };
        let (session, out) = SignSession::new(&share.party, data).map_err(abort("signing"))?;
        let out = out
            .iter()
            .map(|m| seal(me, Some(m.parties.receiver.as_u8()), 1, m))
            .collect::<Result<_>>()?;
        Ok((Self { session, me, others, own: None }, out))
    }

    /// Round 2.
    ///
    /// # Errors
    /// [`Error::Missing`], [`Error::Duplicate`], [`Error::Message`], [`Error::Spoofed`],
    /// [`Error::Abort`].
    pub fn round2(&mut self, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        let mut got = Vec::new();
        for e in take(inbox, 1, &self.others, Some(self.me))? {
            let m: TransmitPhase1to2 = open(e)?;
            check_sender(e, m.parties.sender)?;
            got.push(m);
        }
        let out = self.session.phase2(&got).map_err(abort("signing"))?;
        out.iter().map(|m| seal(self.me, Some(m.parties.receiver.as_u8()), 2, m)).collect()
    }

    /// Round 3: the broadcast every signer needs to finish.
    ///
    /// # Errors
    /// As [`Signing::round2`].
    pub fn round3(&mut self, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        let mut got = Vec::new();
        for e in take(inbox, 2, &self.others, Some(self.me))? {
            let m: TransmitPhase2to3<Secp256k1> = open(e)?;
            check_sender(e, m.parties.sender)?;
            got.push(m);
        }
        let b = self.session.phase3(&got).map_err(abort("signing"))?;
        let out = vec![seal(self.me, None, 3, &b)?];
        self.own = Some(b);
        Ok(out)
    }

    /// Whether `inbox` holds every round-3 broadcast [`Signing::finish`] needs.
    pub fn can_finish(&self, inbox: &[Envelope]) -> bool {
        take(inbox, 3, &self.others, None).is_ok()
    }

    /// The signature, from every other signer's round-3 broadcast; checked against the key
    /// (the library verifies it) and returned with its parity for Ethereum.
    ///
    /// # Errors
    /// As [`Signing::round2`], and [`Error::OutOfOrder`].
    pub fn finish(self, inbox: &[Envelope]) -> Result<Signature> {
        let mut all = BTreeMap::new();
        for e in take(inbox, 3, &self.others, None)? {
            all.insert(e.from, open::<Broadcast3to4<Secp256k1>>(e)?);
        }
        all.insert(self.me, self.own.ok_or(Error::OutOfOrder { round: 4 })?);
        let b: Vec<_> = all.into_values().collect();
        let s = self.session.phase4(&b, true).map_err(abort("signing"))?;
        Ok(Signature::new(
            U256::from_be_bytes(s.r),
            U256::from_be_bytes(s.s),
            s.recovery_id & 1 == 1,
        ))
    }
}

mod refresh;

pub use refresh::Refresh;

#[cfg(test)]
mod tests;
