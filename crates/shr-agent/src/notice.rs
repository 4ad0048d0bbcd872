//! Which deficit notice the agent acts on. The HPKE seal proves only that a notice was written
//! for the agent (anyone can seal to its public key), so each notice carries its node enclave's
//! signature ([`SignedDeficitNotice`]) and the agent acts only once f+1 distinct DON signers
//! have handed one off for the same observation. Of those it takes, field by field, the
//! (f+1)-th largest deficit, supply and ratio: at least one honest node reported at least that
//! much, so f lying nodes cannot make the agent buy more than honest figures ask for (the buy
//! is the deficit plus a buffer in ppm of the supply). Buying less is safe: the next round
//! stays insolvent and opens another incident.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use shr_enclave::{Enclave, Sealed};
use shr_oracle::{DEFICIT_INFO, DeficitNotice, SignedDeficitNotice};

use crate::{Error, Result};

/// The DON whose notices count: its signers (the forwarder's `setConfig` signers, in the
/// deployment manifest), the faults it tolerates, and what its notices are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DonSigners {
    /// The nodes' signer addresses.
    pub signers: Vec<Address>,
    /// Faults tolerated: the agent needs f+1 notices from distinct signers.
    pub f: usize,
    /// The chain id and the `ReserveVault` the nodes' notices are bound to
    /// ([`shr_oracle::deficit_digest`]).
    pub bound: (u64, Address),
}

impl DonSigners {
    /// Notices needed: f+1.
    pub fn quorum(&self) -> usize {
        self.f + 1
    }
}

/// Opens one deficit notice sealed to `agent_key` and recovers the node signer that signed it
/// about `bound` (chain id, vault).
///
/// # Errors
/// [`Error::SealedDeficit`] when it does not open (another key, tampered), [`Error::Notice`]
/// when the plaintext is not a signed notice, [`Error::NoticeSignature`] when the signature
/// does not recover.
pub fn open_deficit(
    agent_key: &Enclave,
    bound: (u64, Address),
    sealed: &Sealed,
) -> Result<(Address, DeficitNotice)> {
    let plain = agent_key.open(DEFICIT_INFO, sealed).map_err(Error::SealedDeficit)?;
    let signed: SignedDeficitNotice = serde_json::from_slice(&plain).map_err(Error::Notice)?;
    let signer = signed.signer(&agent_key.identity().hpke, bound).ok_or(Error::NoticeSignature)?;
    Ok((signer, signed.notice))
}

/// The notice the agent acts on for the insolvent report observed at `observed_at` (unix
/// seconds), from every sealed notice handed off for it: those that open, are signed by one of
/// `don`'s signers about `don.bound` and name `observed_at` count, one per signer (a signer
/// with two notices counts with its smaller deficit); with at least f+1 of them, a notice whose
/// deficit, supply and ratio are each the (f+1)-th largest of those counted.
///
/// # Errors
/// [`Error::NoticeQuorum`] with how many counted and how many were refused, while fewer than
/// f+1 count (never a deficit in the message).
pub fn agreed_deficit(
    agent_key: &Enclave,
    don: &DonSigners,
    observed_at: u64,
    sealed: &[Sealed],
) -> Result<DeficitNotice> {
    let mut by_signer: BTreeMap<Address, DeficitNotice> = BTreeMap::new();
    let mut refused = 0;
    for s in sealed {
        match open_deficit(agent_key, don.bound, s) {
            Ok((signer, n)) if don.signers.contains(&signer) && n.observed_at == observed_at => {
                let kept = by_signer.entry(signer).or_insert(n);
                if n.deficit < kept.deficit {
                    *kept = n;
                }
            }
            _ => refused += 1,
        }
    }
    let notices: Vec<DeficitNotice> = by_signer.into_values().collect();
    if notices.len() < don.quorum() {
        return Err(Error::NoticeQuorum {
            observed_at,
            counted: notices.len(),
            quorum: don.quorum(),
            refused,
        });
    }
    let pick = |field: fn(&DeficitNotice) -> alloy::primitives::U256| {
        let mut v: Vec<_> = notices.iter().map(field).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v[don.f]
    };
    Ok(DeficitNotice {
        deficit: pick(|n| n.deficit),
        ratio_wad: pick(|n| n.ratio_wad),
        supply: pick(|n| n.supply),
        observed_at,
    })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;
    use shr_enclave::{SimulatedTee, seal_sized};
    use shr_oracle::{DEFICIT_SIZE, deficit_digest, report::forwarder_signature};

    use super::*;

    const T: u64 = 1_700_000_000;
    const BOUND: (u64, Address) = (31_337, Address::repeat_byte(7));

    struct Fixture {
        agent: Enclave,
        nodes: Vec<Enclave>,
        don: DonSigners,
    }

    fn fixture() -> Fixture {
        let tee = SimulatedTee::new();
        let agent = Enclave::launch(&tee, "agent").unwrap();
        let nodes: Vec<Enclave> =
            (0..4).map(|i| Enclave::launch_instance(&tee, "node", i).unwrap()).collect();
        let don = DonSigners {
            signers: nodes.iter().map(|n| n.identity().signer).collect(),
            f: 1,
            bound: BOUND,
        };
        Fixture { agent, nodes, don }
    }

    fn notice(deficit: u64, observed_at: u64) -> DeficitNotice {
        DeficitNotice {
            deficit: U256::from(deficit),
            ratio_wad: U256::from(9u64) * U256::from(10u64).pow(U256::from(17)),
            supply: U256::from(1_000_000u64),
            observed_at,
        }
    }

    fn seal(signer: &Enclave, agent: &Enclave, n: DeficitNotice) -> Sealed {
        seal_bound(signer, agent, BOUND, n)
    }

    fn seal_bound(
        signer: &Enclave,
        agent: &Enclave,
        bound: (u64, Address),
        n: DeficitNotice,
    ) -> Sealed {
        let hpke = agent.identity().hpke;
        let sig = signer.sign_digest(&deficit_digest(&hpke, bound, &n)).unwrap();
        let signed =
            SignedDeficitNotice { notice: n, signature: forwarder_signature(&sig).to_vec().into() };
        seal_sized(&hpke, DEFICIT_INFO, &serde_json::to_vec(&signed).unwrap(), DEFICIT_SIZE)
            .unwrap()
    }

    #[test]
    fn an_unsigned_or_outsider_notice_never_counts() {
        let f = fixture();
        let tee = SimulatedTee::new();
        let outsider = Enclave::launch_instance(&tee, "node", 99).unwrap();
        // The attack: anyone can seal to the agent's public key; a plain notice with a huge
        // deficit, and signed ones from a key outside the DON.
        let plain = seal_sized(
            &f.agent.identity().hpke,
            DEFICIT_INFO,
            &serde_json::to_vec(&notice(1_000_000, T)).unwrap(),
            DEFICIT_SIZE,
        )
        .unwrap();
        let forged = [plain, seal(&outsider, &f.agent, notice(1_000_000, T))];
        let e = agreed_deficit(&f.agent, &f.don, T, &forged).unwrap_err();
        assert!(
            matches!(e, Error::NoticeQuorum { counted: 0, quorum: 2, refused: 2, .. }),
            "{e:?}"
        );
        assert!(!e.to_string().contains("1000000"), "{e}");
    }

    #[test]
    fn one_node_is_not_enough_and_copies_of_it_do_not_add_up() {
        let f = fixture();
        let one = seal(&f.nodes[0], &f.agent, notice(500, T));
        let again = seal(&f.nodes[0], &f.agent, notice(500, T));
        let e = agreed_deficit(&f.agent, &f.don, T, &[one, again]).unwrap_err();
        assert!(matches!(e, Error::NoticeQuorum { counted: 1, .. }), "{e:?}");
    }

    #[test]
    fn f_liars_cannot_raise_the_deficit_above_an_honest_one() {
        let f = fixture();
        let honest = [500, 500, 500];
        let mut sealed: Vec<Sealed> =
            (0..3).map(|i| seal(&f.nodes[i], &f.agent, notice(honest[i], T))).collect();
        sealed.push(seal(&f.nodes[3], &f.agent, notice(9_999_999, T)));
        let n = agreed_deficit(&f.agent, &f.don, T, &sealed).unwrap();
        assert_eq!(n.deficit, U256::from(500));
        // With only the liar and one honest node: the honest (smaller) value.
        let n =
            agreed_deficit(&f.agent, &f.don, T, &[sealed[3].clone(), sealed[0].clone()]).unwrap();
        assert_eq!(n.deficit, U256::from(500));
    }

    #[test]
    fn a_liar_cannot_raise_the_supply_the_buffer_is_sized_from() {
        // The review's race: the liar's notice arrives first with a small deficit and a huge
        // supply; with one honest notice the agent has f+1. Every field is taken on its own.
        let f = fixture();
        let liar = DeficitNotice { supply: U256::from(10u64).pow(U256::from(30)), ..notice(1, T) };
        let sealed =
            [seal(&f.nodes[3], &f.agent, liar), seal(&f.nodes[0], &f.agent, notice(500, T))];
        let n = agreed_deficit(&f.agent, &f.don, T, &sealed).unwrap();
        assert_eq!((n.deficit, n.supply), (U256::from(1), U256::from(1_000_000u64)));
    }

    #[test]
    fn a_notice_of_another_observation_or_for_another_agent_does_not_count() {
        let f = fixture();
        let tee = SimulatedTee::new();
        let other_agent = Enclave::launch(&tee, "other-agent").unwrap();
        // Signed for another agent's key, then re-sealed to this agent: the digest binds the key.
        let hpke = other_agent.identity().hpke;
        let n = notice(500, T);
        let sig = f.nodes[1].sign_digest(&deficit_digest(&hpke, BOUND, &n)).unwrap();
        let replayed = seal_sized(
            &f.agent.identity().hpke,
            DEFICIT_INFO,
            &serde_json::to_vec(&SignedDeficitNotice {
                notice: n,
                signature: forwarder_signature(&sig).to_vec().into(),
            })
            .unwrap(),
            DEFICIT_SIZE,
        )
        .unwrap();
        // Another feed's vault, another chain: signed by DON nodes, but about something else.
        let other_feed =
            seal_bound(&f.nodes[2], &f.agent, (BOUND.0, Address::repeat_byte(8)), notice(500, T));
        let other_chain = seal_bound(&f.nodes[3], &f.agent, (1, BOUND.1), notice(500, T));
        let sealed = [
            seal(&f.nodes[0], &f.agent, notice(500, T)),
            seal(&f.nodes[2], &f.agent, notice(500, T - 900)),
            replayed,
            other_feed,
            other_chain,
        ];
        let e = agreed_deficit(&f.agent, &f.don, T, &sealed).unwrap_err();
        assert!(matches!(e, Error::NoticeQuorum { counted: 1, refused: 4, .. }), "{e:?}");
    }
}
