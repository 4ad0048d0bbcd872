//! The pure core of a node process's round: what it has heard, per round, and what that adds up
//! to. No IO and no clock: the host loop ([`crate::NodeService`]) feeds it messages and asks.
//!
//! Every node broadcasts its signed observation to every node, so each node can tell on its own
//! when 2f+1 identical outcomes exist, and any node can lead (a rotating leader with takeover).
//! An observation counts only when its signature recovers to the sender's configured signer; one
//! per sender (the first valid one), so a replayed or duplicated message never counts twice.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, keccak256};

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
    /// Report signatures by sender, unverified until the report is known (a few per sender,
    /// so a forged one cannot push out the sender's real one before it is checked).
    signatures: BTreeMap<NodeId, Vec<[u8; 65]>>,
    /// Signatures verified over a report digest, by sender: each is recovered once, not at
    /// every look (a leader looks at each wake-up until it has f+1).
    verified: Option<(B256, BTreeMap<NodeId, [u8; 65]>)>,
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
    /// node order. Each signature that arrived since the last call is recovered once: a valid
    /// one is kept for this report, an invalid one dropped (its sender may send another).
    pub fn report_signatures(
        &mut self,
        raw: &[u8],
        context: &[u8],
        signers: &[Address],
        f: usize,
    ) -> Vec<[u8; 65]> {
        let digest = report_digest(raw, context);
        if self.verified.as_ref().is_none_or(|(d, _)| *d != digest) {
            self.verified = Some((digest, BTreeMap::new()));
        }
        let Some((_, valid)) = self.verified.as_mut() else { return Vec::new() };
        for (from, sigs) in std::mem::take(&mut self.signatures) {
            if valid.contains_key(&from) {
                continue;
            }
            let signer = signers.get(from);
            if let Some(sig) = sigs
                .into_iter()
                .find(|sig| signer == recover_forwarder_signature(sig, &digest).as_ref())
            {
                valid.insert(from, sig);
            }
        }
        valid.values().copied().take(f + 1).collect()
    }
}

/// Rounds in flight of one feed, keyed by round id (the round's scheduled unix second).
#[derive(Debug, Default)]
pub struct Inbox {
    /// The feed's workflow id, which observations are signed over.
    workflow_id: B256,
    rounds: BTreeMap<u64, RoundTally>,
}

impl Inbox {
    /// The inbox of the feed whose workflow id is `workflow_id` (an observation signed for
    /// another feed does not recover to its sender here).
    pub fn for_workflow(workflow_id: B256) -> Self {
        Self { workflow_id, rounds: BTreeMap::new() }
    }

    /// How far behind the caller's clock a round may be and still be filed, seconds.
    pub const MAX_AGE_SECS: u64 = 600;
    /// How far ahead of the caller's clock a round may be (clock skew between nodes), seconds.
    pub const MAX_AHEAD_SECS: u64 = 60;
    /// Report signatures a sender may have waiting, per round.
    pub const MAX_SIGNATURES_PER_SENDER: usize = 4;

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
                    || observation_signer(&self.workflow_id, round, &outcome, &signature).as_ref()
                        != Some(signer)
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
                // A sender may correct a bad signature (e.g. after a restart); the first valid
                // one counts. A few per sender and round, no more.
                let pending = t.signatures.entry(from).or_default();
                if pending.len() >= Self::MAX_SIGNATURES_PER_SENDER {
                    return false;
                }
                pending.push(signature);
            }
            Message::SignRequest { .. } => return false,
        }
        true
    }

    /// Files this node's own observation, which it signed itself (no signature to recover).
    pub fn accept_own(&mut self, round: u64, me: NodeId, outcome: Outcome) {
        self.rounds.entry(round).or_default().observations.entry(me).or_insert(outcome);
    }

    /// The tally of `round` (`None` when nothing arrived).
    pub fn round(&self, round: u64) -> Option<&RoundTally> {
        self.rounds.get(&round)
    }

    /// The tally of `round`, to collect report signatures from (`None` when nothing arrived).
    pub fn round_mut(&mut self, round: u64) -> Option<&mut RoundTally> {
        self.rounds.get_mut(&round)
    }

    /// Forgets rounds before `round`.
    pub fn forget_before(&mut self, round: u64) {
        self.rounds = self.rounds.split_off(&round);
    }
}

/// The leader of feed `receiver`'s `round` at attempt `attempt` (0 first, then each takeover)
/// among `n` nodes: `(keccak256(receiver ‖ round)[..8] + attempt) mod n`, so consecutive rounds
/// on a regular schedule do not keep landing on the same few nodes, and the feeds of one DON
/// firing at the same second are led (and transmitted) by different nodes in parallel.
pub fn leader(receiver: Address, round: u64, attempt: u64, n: usize) -> NodeId {
    let h = keccak256([receiver.as_slice(), &round.to_be_bytes()].concat());
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
        let sig = k.sign_hash_sync(&observation_digest(&B256::ZERO, round, &o)).unwrap();
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
    fn an_observation_of_another_feed_is_no_vote() {
        let ks = keys(4);
        let signers: Vec<Address> = ks.iter().map(|k| k.address()).collect();
        let yes = Outcome { is_solvent: true, observed_at: 100 };
        // Signed for the feed of workflow id 0, replayed into another feed's round of that second.
        let mut other = Inbox::for_workflow(B256::repeat_byte(1));
        assert!(!other.accept(obs(&ks[0], 0, 7, yes), &signers, 7));
        assert!(Inbox::default().accept(obs(&ks[0], 0, 7, yes), &signers, 7));
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
    fn report_signatures_are_verified_once_and_a_bad_one_can_be_corrected() {
        let ks = keys(4);
        let signers: Vec<Address> = ks.iter().map(|k| k.address()).collect();
        let (raw, context) = (b"raw report".as_slice(), b"context".as_slice());
        let sign = |k: &PrivateKeySigner| {
            crate::report::forwarder_signature(
                &k.sign_hash_sync(&report_digest(raw, context)).unwrap(),
            )
        };
        let sig = |from, signature| Message::ReportSignature { round: 7, from, signature };
        let mut inbox = Inbox::default();
        assert!(inbox.accept(sig(2, sign(&ks[2])), &signers, 7));
        // Node 1 sends node 3's signature: not its own, dropped.
        assert!(inbox.accept(sig(1, sign(&ks[3])), &signers, 7));
        let t = inbox.round_mut(7).unwrap();
        assert_eq!(t.report_signatures(raw, context, &signers, 1), vec![sign(&ks[2])]);
        assert!(t.signatures.is_empty(), "each verified once");
        // Node 1 corrects itself; f+1 = 2 in node order. A forged signature in node 2's name,
        // arriving after its real one, changes nothing.
        assert!(inbox.accept(sig(1, sign(&ks[1])), &signers, 7));
        assert!(inbox.accept(sig(2, [9; 65]), &signers, 7));
        assert!(inbox.accept(sig(0, [7; 65]), &signers, 7));
        let t = inbox.round_mut(7).unwrap();
        assert_eq!(
            t.report_signatures(raw, context, &signers, 1),
            vec![sign(&ks[1]), sign(&ks[2])]
        );
        // A forgery in node 3's name ahead of its real signature does not push it out.
        assert!(inbox.accept(sig(3, [9; 65]), &signers, 7));
        assert!(inbox.accept(sig(3, sign(&ks[3])), &signers, 7));
        let t = inbox.round_mut(7).unwrap();
        let three = t.report_signatures(raw, context, &signers, 2);
        assert_eq!(three, vec![sign(&ks[1]), sign(&ks[2]), sign(&ks[3])]);
        // Another report: the signatures verified for the first do not count for it.
        assert!(t.report_signatures(b"other", context, &signers, 1).is_empty());
        // The node's own observation counts without a signature.
        let yes = Outcome { is_solvent: true, observed_at: 5 };
        inbox.accept_own(7, 0, yes);
        assert_eq!(inbox.round(7).unwrap().observations(), 1);
    }

    #[test]
    fn leaders_rotate_over_every_node_and_every_feed() {
        let feed = Address::repeat_byte(1);
        let mut seen = [0usize; 4];
        for r in 0..400u64 {
            seen[leader(feed, 1_700_000_000 + 10 * r, 0, 4)] += 1;
            assert_ne!(leader(feed, r, 0, 4), leader(feed, r, 1, 4), "a takeover is another node");
        }
        assert!(seen.iter().all(|c| *c > 60), "{seen:?}");
        // 100 feeds firing at one second are spread over every node.
        let mut by_feed = [0usize; 4];
        for i in 0..100u64 {
            by_feed[leader(Address::left_padding_from(&i.to_be_bytes()), 1_700_000_000, 0, 4)] += 1;
        }
        assert!(by_feed.iter().all(|c| *c > 10), "{by_feed:?}");
    }
}
