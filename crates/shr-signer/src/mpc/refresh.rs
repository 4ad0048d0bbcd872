//! Proactive refresh of the key shares (DKLs23 "complete refresh", `dkls23-secp256k1`
//! `refresh_complete_phase1..4`): every party adds a share of zero to its point and the pairwise
//! multiplication and zero-share setups are drawn afresh, so the treasury address stays and a
//! share from before the refresh no longer signs with a share from after it.

use std::collections::BTreeMap;

use dkls23_secp256k1::protocols::{
    PartyIndex,
    dkg::{
        KeepInitMulPhase3to4, KeepInitZeroSharePhase2to3, KeepInitZeroSharePhase3to4,
        ProofCommitment, TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4,
        TransmitInitZeroSharePhase3to4,
    },
};
use k256_dkls::{Scalar, Secp256k1};
use serde::{Deserialize, Serialize};

use super::{Envelope, KeyShare, abort, check_sender, open, seal, take};
use crate::{Error, Result};

#[derive(Serialize, Deserialize)]
struct Refresh3 {
    zero: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<Secp256k1>,
}

/// One party's refresh of its share: [`Refresh::start`], rounds 2 and 3, [`Refresh::finish`].
/// Every party of the key takes part (the refresh is `n`-of-`n`).
pub struct Refresh {
    share: KeyShare,
    sid: Vec<u8>,
    me: u8,
    n: u8,
    own_fragment: Option<Scalar>,
    correction: Option<Scalar>,
    proofs: BTreeMap<u8, ProofCommitment<Secp256k1>>,
    zero_keep2: BTreeMap<PartyIndex, KeepInitZeroSharePhase2to3>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    zero_keep3: BTreeMap<PartyIndex, KeepInitZeroSharePhase3to4>,
    mul_keep: BTreeMap<PartyIndex, KeepInitMulPhase3to4<Secp256k1>>,
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh").field("me", &self.me).field("n", &self.n).finish_non_exhaustive()
    }
}

impl Refresh {
    fn others(&self) -> Vec<u8> {
        (1..=self.n).filter(|&j| j != self.me).collect()
    }

    /// The holder of `share` starts a refresh in session `refresh_id` (the same bytes at every
    /// party, fresh per run); returns the round-1 envelopes.
    ///
    /// # Errors
    /// [`Error::Encode`].
    pub fn start(share: KeyShare, refresh_id: &[u8]) -> Result<(Self, Vec<Envelope>)> {
        let me = share.party.party_index.as_u8();
        let n = share.party.parameters.share_count;
        let fragments = share.party.refresh_complete_phase1();
        let mut out = Vec::new();
        for j in 1..=n {
            if j != me {
                out.push(seal(me, Some(j), 1, &fragments[usize::from(j - 1)])?);
            }
        }
        let own_fragment = Some(fragments[usize::from(me - 1)]);
        let r = Self {
            share,
            sid: refresh_id.to_vec(),
            me,
            n,
            own_fragment,
            correction: None,
            proofs: BTreeMap::new(),
            zero_keep2: BTreeMap::new(),
            zero2: Vec::new(),
            zero_keep3: BTreeMap::new(),
            mul_keep: BTreeMap::new(),
        };
        Ok((r, out))
    }

    /// Round 2: every other party's fragment in; a proof commitment (broadcast) and the
    /// zero-share commitments (one per party) out.
    ///
    /// # Errors
    /// [`Error::Missing`], [`Error::Duplicate`], [`Error::Message`], [`Error::OutOfOrder`].
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
        let (correction, proof, keep, zero) =
            self.share.party.refresh_complete_phase2(&self.sid, &fragments);
        let mut out = vec![seal(self.me, None, 2, &proof)?];
        for z in zero {
            out.push(seal(self.me, Some(z.parties.receiver.as_u8()), 2, &z)?);
        }
        self.proofs.insert(self.me, proof);
        self.correction = Some(correction);
        self.zero_keep2 = keep;
        Ok(out)
    }

    /// Round 3: the round-2 broadcasts and messages in; the zero-share seeds and the fresh
    /// multiplication setup out, one message per party.
    ///
    /// # Errors
    /// As [`Refresh::round2`], and [`Error::Spoofed`].
    pub fn round3(&mut self, inbox: &[Envelope]) -> Result<Vec<Envelope>> {
        let others = self.others();
        let broadcasts = take(inbox, 2, &others, None)?;
        let direct = take(inbox, 2, &others, Some(self.me))?;
        for e in broadcasts {
            let p: ProofCommitment<Secp256k1> = open(e)?;
            check_sender(e, p.index)?;
            self.proofs.insert(e.from, p);
        }
        self.zero2.clear();
        for e in direct {
            let z: TransmitInitZeroSharePhase2to4 = open(e)?;
            check_sender(e, z.parties.sender)?;
            self.zero2.push(z);
        }
        let (zero_keep, zero, mul_keep, mul) =
            self.share.party.refresh_complete_phase3(&self.sid, &self.zero_keep2);
        let mut out = Vec::new();
        for z in zero {
            let to = z.parties.receiver.as_u8();
            let m = mul
                .iter()
                .find(|m| m.parties.receiver.as_u8() == to)
                .cloned()
                .ok_or(Error::Missing { from: self.me, round: 3 })?;
            out.push(seal(self.me, Some(to), 3, &Refresh3 { zero: z, mul: m })?);
        }
        self.zero_keep3 = zero_keep;
        self.mul_keep = mul_keep;
        Ok(out)
    }

    /// Whether `inbox` holds every round-3 message [`Refresh::finish`] needs.
    pub fn can_finish(&self, inbox: &[Envelope]) -> bool {
        take(inbox, 3, &self.others(), Some(self.me)).is_ok()
    }

    /// The refreshed share (the same address), from every other party's round-3 message.
    ///
    /// # Errors
    /// As [`Refresh::round3`], and [`Error::Abort`] when a party's correction would move the key.
    pub fn finish(self, inbox: &[Envelope]) -> Result<KeyShare> {
        let (mut zero3, mut mul3) = (Vec::new(), Vec::new());
        for e in take(inbox, 3, &self.others(), Some(self.me))? {
            let m: Refresh3 = open(e)?;
            check_sender(e, m.zero.parties.sender)?;
            check_sender(e, m.mul.parties.sender)?;
            zero3.push(m.zero);
            mul3.push(m.mul);
        }
        let correction = self.correction.ok_or(Error::OutOfOrder { round: 4 })?;
        let proofs: Vec<_> = self.proofs.values().cloned().collect();
        let party = self
            .share
            .party
            .refresh_complete_phase4(
                &self.sid,
                &correction,
                &proofs,
                &self.zero_keep3,
                &self.zero2,
                &zero3,
                &self.mul_keep,
                &mul3,
            )
            .map_err(abort("refresh"))?;
        Ok(KeyShare { party, address: self.share.address })
    }
}
