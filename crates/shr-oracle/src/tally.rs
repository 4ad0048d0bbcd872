//! The pure core of a node process's round: what it has heard, per round, and what that adds up
//! to. No IO and no clock: the host loop ([`crate::NodeService`]) feeds it messages and asks.
//!
//! Every node broadcasts its signed observation to every node, so each node can tell on its own
//! when 2f+1 identical outcomes exist, and any node can lead (a rotating leader with takeover).
//! An observation counts only when its signature recovers to the sender's configured signer; one
//! per sender (the first valid one), so a replayed or duplicated message never counts twice.

use std::collections::BTreeMap;

use alloy::primitives::{Address, keccak256};

use crate::{
    program::{Outcome, observation_signer},
    report::{recover_forwarder_signature, report_digest},
    transport::{Message, NodeId},
};

/// What one round has gathered.
#[derive(Debug, Default, Clone)]
pub struct RoundTally {
    /// Valid observations by sender.
    observations: BTreeMap<NodeId, Outcome>,
    /// Report signatures by sender, unverified until the report is known.
    signatures: BTreeMap<NodeId, [u8; 65]>,
}

impl RoundTally {
    /// The outcome at least `2f+1` valid observations agree on, with its vote count.
    pub fn agreed(&self, f: usize) -> Option<(Outcome, usize)> {
        let mut counts: Vec<(Outcome, usize)> = Vec::new();
        for o in self.observations.values() {
            match counts.iter_mut().find(|(x, _)| x == o) {
                Some((_, c)) => *c += 1,
                None => counts.push((*o, 1)),
            }
        }
        counts.into_iter().filter(|(_, c)| *c > 2 * f).max_by_key(|(_, c)| *c)
    }

    /// How many valid observations arrived.
    pub fn observations(&self) -> usize {
        self.observations.len()
    }

    /// Up to `f+1` signatures over `(raw, context)` that recover to their sender's signer, in
    /// node order.
    pub fn report_signatures(
        &self,
        raw: &[u8],
        context: &[u8],
        signers: &[Address],
        f: usize,
    ) -> Vec<[u8; 65]> {
        let digest = report_digest(raw, context);
        self.signatures
            .iter()
            .filter(|(from, sig)| {
                signers.get(**from) == recover_forwarder_signature(sig, &digest).as_ref()
            })
            .map(|(_, sig)| *sig)
            .take(f + 1)
            .collect()
    }
}

/// Rounds in flight, keyed by round id (the round's scheduled unix second).
#[derive(Debug, Default)]
pub struct Inbox {
    rounds: BTreeMap<u64, RoundTally>,
}

impl Inbox {
    /// How far behind the caller's clock a round may be and still be filed, seconds.
    pub const MAX_AGE_SECS: u64 = 600;
    /// How far ahead of the caller's clock a round may be (clock skew between nodes), seconds.
    pub const MAX_AHEAD_SECS: u64 = 60;

    /// Files `m` under its round, given the caller's clock `now` (unix seconds; rounds are
    /// named by their scheduled second). Dropped: a round outside
    /// `[now - MAX_AGE_SECS, now + MAX_AHEAD_SECS]` (a node cannot fill the inbox with far
    /// rounds, and the round in progress is never evicted: the window bounds the memory), a
    /// sender that is not a node, a second observation from the same sender (checked before the
    /// signature is recovered), an observation that does not recover to its sender's signer,
    /// and a sign request (node processes build reports themselves). Returns whether the message
    /// was kept.
    pub fn accept(&mut self, m: Message, signers: &[Address], now: u64) -> bool {
        let in_window = |round: u64| {
            round >= now.saturating_sub(Self::MAX_AGE_SECS)
                && round <= now.saturating_add(Self::MAX_AHEAD_SECS)
        };
        match m {
            Message::Observation { round, from, outcome, signature } => {
                let Some(signer) = signers.get(from) else { return false };
                if !in_window(round)
                    || self.rounds.get(&round).is_some_and(|t| t.observations.contains_key(&from))
                    || observation_signer(round, &outcome, &signature).as_ref() != Some(signer)
                {
                    return false;
                }
                self.rounds.entry(round).or_default().observations.insert(from, outcome);
            }
            Message::ReportSignature { round, from, signature } => {
                if from >= signers.len() || !in_window(round) {
                    return false;
                }
                let t = self.rounds.entry(round).or_default();
                // A sender may correct a bad signature (e.g. after a restart): keep the last.
                t.signatures.insert(from, signature);
            }
            Message::SignRequest { .. } => return false,
        }
        true
    }

    /// The tally of `round` (`None` when nothing arrived).
    pub fn round(&self, round: u64) -> Option<&RoundTally> {
        self.rounds.get(&round)
    }

    /// Forgets rounds before `round`.
    pub fn forget_before(&mut self, round: u64) {
        self.rounds = self.rounds.split_off(&round);
    }
}

/// The leader of `round` at attempt `attempt` (0 first, then each takeover) among `n` nodes:
/// `(keccak256(round)[..8] + attempt) mod n`, so consecutive rounds on a regular schedule do not
/// keep landing on the same few nodes.
pub fn leader(round: u64, attempt: u64, n: usize) -> NodeId {
    let h = keccak256(round.to_be_bytes());
    let x = u64::from_be_bytes(h[..8].try_into().unwrap_or_default());
    (x.wrapping_add(attempt) % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::observation_digest;
    use alloy::signers::{SignerSync, local::PrivateKeySigner};

    fn keys(n: usize) -> Vec<PrivateKeySigner> {
        (0..n).map(|_| PrivateKeySigner::random()).collect()
    }

    fn obs(k: &PrivateKeySigner, from: NodeId, round: u64, o: Outcome) -> Message {
        let sig = k.sign_hash_sync(&observation_digest(round, &o)).unwrap();
        let signature = crate::report::forwarder_signature(&sig);
        Message::Observation { round, from, outcome: o, signature }
    }

    #[test]
    fn agreement_needs_2f_plus_1_valid_distinct_senders() {
        let ks = keys(4);
        let signers: Vec<Address> = ks.iter().map(|k| k.address()).collect();
        let yes = Outcome { is_solvent: true, observed_at: 100 };
        let no = Outcome { is_solvent: false, observed_at: 100 };
        let mut inbox = Inbox::default();
        assert!(inbox.accept(obs(&ks[0], 0, 7, yes), &signers, 7));
        // A duplicate, a forged sender and a foreign round do not add a vote.
        assert!(!inbox.accept(obs(&ks[0], 0, 7, yes), &signers, 7));
        assert!(!inbox.accept(obs(&ks[3], 1, 7, yes), &signers, 7));
        assert!(inbox.accept(obs(&ks[1], 1, 8, yes), &signers, 7));
        assert!(inbox.accept(obs(&ks[2], 2, 7, no), &signers, 7));
        assert_eq!(inbox.round(7).unwrap().agreed(1), None);
        assert!(inbox.accept(obs(&ks[1], 1, 7, yes), &signers, 7));
        assert_eq!(inbox.round(7).unwrap().agreed(1), None, "two of four is not 2f+1");
        assert!(inbox.accept(obs(&ks[3], 3, 7, yes), &signers, 7));
        assert_eq!(inbox.round(7).unwrap().agreed(1), Some((yes, 3)));
        inbox.forget_before(8);
        assert!(inbox.round(7).is_none());
        assert_eq!(inbox.round(8).unwrap().observations(), 1);
    }

    #[test]
    fn far_rounds_unknown_senders_and_unverifiable_votes_are_not_filed() {
        let ks = keys(4);
        let signers: Vec<Address> = ks.iter().map(|k| k.address()).collect();
        let now = 1_750_000_000;
        let yes = Outcome { is_solvent: true, observed_at: now - 5 };
        let mut inbox = Inbox::default();
        // A node flooding far-future (or long-past) rounds with valid signatures files nothing.
        for r in [u64::MAX, u64::MAX - 1, now + Inbox::MAX_AHEAD_SECS + 1, 3] {
            assert!(!inbox.accept(obs(&ks[1], 1, r, yes), &signers, now));
        }
        assert!(inbox.rounds.is_empty());
        let sig = Message::ReportSignature { round: u64::MAX, from: 1, signature: [1; 65] };
        assert!(!inbox.accept(sig, &signers, now));
        // A sender index past the DON with a signature that recovers to nobody is no vote.
        let ghost = Message::Observation { round: now, from: 9, outcome: yes, signature: [0; 65] };
        assert!(!inbox.accept(ghost, &signers, now));
        // The round in progress survives any number of other rounds in the window.
        assert!(inbox.accept(obs(&ks[0], 0, now, yes), &signers, now));
        for r in now - Inbox::MAX_AGE_SECS..now {
            inbox.accept(obs(&ks[1], 1, r, yes), &signers, now);
        }
        assert_eq!(inbox.round(now).unwrap().observations(), 1);
    }

    #[test]
    fn leaders_rotate_over_every_node_on_a_regular_schedule() {
        let mut seen = [0usize; 4];
        for r in 0..400u64 {
            seen[leader(1_700_000_000 + 10 * r, 0, 4)] += 1;
            assert_ne!(leader(r, 0, 4), leader(r, 1, 4), "a takeover is another node");
        }
        assert!(seen.iter().all(|c| *c > 60), "{seen:?}");
    }
}
