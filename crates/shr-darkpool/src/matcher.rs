//! The matcher enclave program (on the simulated TEE of `shr-enclave`).
//!
//! It opens orders and maker commitments sealed (HPKE) to its key, keeps the pool's balance
//! table and its blinding, runs the matching core, and builds the settlement: the new
//! balance-table commitment, one fill notice sealed to each filled maker and one to the
//! requester, and its signature over the digest `CREDarkPool` checks. Nothing in a settlement
//! reveals a size, a price or an allocation.
//!
//! Hardening (docs/SECURITY.md):
//! - a settlement is for one request as the chain holds it ([`RequestRef`]): the sealed order
//!   must hash to the request's order commitment, name its requester, and not have been used;
//! - deposits are admitted from the pool's `Deposited` logs, checked here (emitting contract,
//!   finality depth, cumulative totals); the simulated enclave cannot authenticate the logs its
//!   host hands it, so every transition carries its deposit counts and `CREDarkPool` refuses
//!   one that exceeds the chain's `depositedTotal` (a forged deposit buys nothing);
//! - transitions are *staged* in a queue until the chain accepts them; [`MatcherEnclave::reconcile`]
//!   adopts whatever the chain's `(commitment, version)` shows, so an RPC error after a mined
//!   fill does not fork the enclave from the chain;
//! - the state is sealed at rest ([`MatcherEnclave::seal_state`]) and resumed after a restart;
//! - exit tickets, sealed to each party, let it leave through the pool's escape hatch.

use std::collections::{BTreeMap, BTreeSet};

mod changes;
mod deposits;
mod tickets;

use alloy::primitives::{Address, B256, Bytes, keccak256};
use serde::{Deserialize, Serialize};
use shr_enclave::{Enclave, EnclaveIdentity, HpkePublicKey, Sealed, TeePlatform};

use alloy::primitives::U256;
use shr_zk::{BalanceTree, ChangeKind, MAKER_SLOTS};

use crate::{
    Error, FILL_INFO, FillNotice, MAKER_INFO, MATCHER_PROGRAM, MakerBody, MakerCommitment,
    MatchOutcome, MatchStatus, ORDER_INFO, OrderBody, Registration, RequestRef, Result, Settlement,
    WithdrawalAuth, mailbox_key, match_order, messages::seal_kind, settlement_digest,
};

/// HPKE context of the matcher's state sealed at rest.
pub const STATE_INFO: &str = "shr/darkpool/matcher-state/v1";
/// Blocks a `Deposited` log must be buried under before the matcher counts it (default).
pub const DEFAULT_FINALITY_DEPTH: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// Every party's leaf (balances and blinding).
    tree: BalanceTree,
    /// Each maker's commitment, notice key and mailbox secret.
    makers: Vec<(MakerCommitment, HpkePublicKey, B256)>,
    reply_keys: BTreeMap<Address, HpkePublicKey>,
    committed: B256,
    version: u64,
    /// Deposits seen per party and token (the chain's `depositedTotal` as last seen).
    deposits: BTreeMap<Address, BTreeMap<Address, u128>>,
    /// Each party's slot, as the chain assigned it (`Deposited.slot`).
    slots: BTreeMap<Address, usize>,
    /// Deposits admitted and not yet absorbed by a proven transition: (party, token, amount).
    pending: Vec<(Address, Address, u128)>,
    /// The first block whose `Deposited` logs are not counted yet.
    deposit_block: u64,
    used_orders: BTreeSet<B256>,
    /// Digests ([`crate::maker_digest`]) of every maker commitment admitted: a signed
    /// commitment is admitted once, so a copy written back to the mailbox cannot restore a
    /// consumed or superseded offer.
    #[serde(default)]
    admitted_makers: BTreeSet<B256>,
}

impl State {
    fn counted(&self, party: Address, token: Address) -> u128 {
        self.deposits.get(&party).and_then(|m| m.get(&token)).copied().unwrap_or(0)
    }

    fn balance(&self, party: Address, token_index: usize) -> u128 {
        self.slots
            .get(&party)
            .and_then(|s| self.tree.leaf(*s).ok())
            .filter(|l| l.party == party)
            .map_or(0, |l| l.balance(token_index))
    }
}

/// What the sealed state binds besides the table: the pool it serves.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    chain_id: u64,
    pool: Option<Address>,
    collateral: Address,
    payment: Address,
    state: State,
}

/// What [`MatcherEnclave::reconcile`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// The chain holds the enclave's confirmed commitment: every staged transition was dropped
    /// (`usize` of them).
    Unchanged(usize),
    /// The chain accepted staged transitions: the enclave advanced by that many.
    Advanced(usize),
}

/// The matcher enclave (simulated TEE; see `shr-enclave`).
#[derive(Debug)]
pub struct MatcherEnclave {
    enclave: Enclave,
    collateral: Address,
    payment: Address,
    chain_id: u64,
    pool: Option<Address>,
    finality: u64,
    state: State,
    staged: Vec<State>,
    /// Transitions signed and then dropped (the chain had not shown them): one may still land,
    /// and [`MatcherEnclave::reconcile`] adopts it then.
    dropped: Vec<State>,
}

impl MatcherEnclave {
    /// Launches the matcher on `platform` for a pool trading `collateral` against `payment` on
    /// chain `chain_id`, with an empty table under a fresh blinding. Its keys derive from the
    /// platform's sealing secret for the matcher's measurement, so a restarted matcher on the
    /// same platform has the same (registered) identity.
    ///
    /// # Errors
    /// Enclave errors.
    pub fn launch(
        platform: &dyn TeePlatform,
        collateral: Address,
        payment: Address,
        chain_id: u64,
    ) -> Result<Self> {
        let enclave = Enclave::launch_instance(platform, MATCHER_PROGRAM, 0)?;
        let tree = BalanceTree::default();
        let committed = tree.root()?;
        let state = State {
            tree,
            makers: Vec::new(),
            reply_keys: BTreeMap::new(),
            committed,
            version: 0,
            deposits: BTreeMap::new(),
            slots: BTreeMap::new(),
            pending: Vec::new(),
            deposit_block: 0,
            used_orders: BTreeSet::new(),
            admitted_makers: BTreeSet::new(),
        };
        Ok(Self {
            enclave,
            collateral,
            payment,
            chain_id,
            pool: None,
            finality: DEFAULT_FINALITY_DEPTH,
            state,
            staged: Vec::new(),
            dropped: Vec::new(),
        })
    }

    /// Restarts the matcher from its state sealed at rest ([`MatcherEnclave::seal_state`]).
    /// Only the matcher program on the same platform opens it; the tokens and chain must match.
    /// Call [`MatcherEnclave::reconcile`] with the chain's commitment next.
    ///
    /// # Errors
    /// [`Error::Enclave`] when the blob is not this program's; [`Error::StateMismatch`].
    pub fn resume(
        platform: &dyn TeePlatform,
        collateral: Address,
        payment: Address,
        chain_id: u64,
        sealed_state: &Sealed,
    ) -> Result<Self> {
        let mut m = Self::launch(platform, collateral, payment, chain_id)?;
        let plain = m.enclave.open_at_rest(STATE_INFO, sealed_state)?;
        let snap: Snapshot = serde_json::from_slice(&plain).map_err(Error::Body)?;
        if (snap.chain_id, snap.collateral, snap.payment) != (chain_id, collateral, payment) {
            return Err(Error::StateMismatch("chain or tokens"));
        }
        m.pool = snap.pool;
        m.state = snap.state;
        Ok(m)
    }

    /// The confirmed state sealed at rest (the staged queue is not: the chain decides it).
    ///
    /// # Errors
    /// Sealing errors.
    pub fn seal_state(&self) -> Result<Sealed> {
        let snap = Snapshot {
            chain_id: self.chain_id,
            pool: self.pool,
            collateral: self.collateral,
            payment: self.payment,
            state: self.state.clone(),
        };
        let json = serde_json::to_vec(&snap).map_err(Error::Body)?;
        Ok(self.enclave.seal_at_rest(STATE_INFO, &json)?)
    }

    /// The matcher's public identity (signer, HPKE key, launch quote).
    pub fn identity(&self) -> &EnclaveIdentity {
        self.enclave.identity()
    }

    /// The pool's tokens: `(collateral, payment)`.
    pub fn tokens(&self) -> (Address, Address) {
        (self.collateral, self.payment)
    }

    /// The confirmed commitment (genesis before any settlement).
    pub fn committed(&self) -> B256 {
        self.state.committed
    }

    /// The confirmed commitment's version.
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// The pool it is bound to.
    pub fn pool(&self) -> Option<Address> {
        self.pool
    }

    /// Binds the matcher to the deployed pool its signatures name.
    pub fn bind(&mut self, pool: Address) {
        self.pool = Some(pool);
    }

    /// Blocks a deposit must be buried under before it counts ([`DEFAULT_FINALITY_DEPTH`]).
    pub fn set_finality_depth(&mut self, blocks: u64) {
        self.finality = blocks;
    }

    /// The first block whose `Deposited` logs the matcher has not counted.
    pub fn deposit_cursor(&self) -> u64 {
        self.state.deposit_block
    }

    /// A registration of this enclave's key on the bound pool: a fresh quote from `platform`
    /// whose report data binds the keys, the chain id, the pool and `expiry` (unix seconds).
    ///
    /// # Errors
    /// [`Error::Unbound`]; platform errors.
    pub fn registration(&self, platform: &dyn TeePlatform, expiry: u64) -> Result<Registration> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        Registration::of(&self.enclave, platform, (self.chain_id, pool), expiry)
    }

    /// Opens a maker commitment sealed to this enclave and keeps it (replacing the maker's
    /// earlier one), if the maker signed it for this pool.
    ///
    /// # Errors
    /// [`Error::Unbound`]; [`Error::Enclave`] when it does not open, [`Error::Body`] when it
    /// does not parse, [`Error::StateMismatch`] when the maker's signature does not verify.
    pub fn add_maker(&mut self, sealed: &Sealed) -> Result<()> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let plain = self.enclave.open(MAKER_INFO, sealed)?;
        let body: MakerBody = serde_json::from_slice(&plain).map_err(Error::Body)?;
        if !body.verify(self.chain_id, pool) {
            return Err(Error::StateMismatch("maker commitment not signed by its maker"));
        }
        let digest = crate::maker_digest(self.chain_id, pool, &body.commitment, &body.reply_to);
        if self.tip().admitted_makers.contains(&digest) {
            return Err(Error::StateMismatch(
                "maker commitment already admitted once (a replayed copy)",
            ));
        }
        // Dropped transitions too: one that lands late must not bring back an older offer.
        for s in std::iter::once(&mut self.state)
            .chain(self.staged.iter_mut())
            .chain(self.dropped.iter_mut())
        {
            s.admitted_makers.insert(digest);
            s.reply_keys.insert(body.commitment.maker, body.reply_to);
            // A maker's new commitment replaces its earlier one.
            s.makers.retain(|(c, _, _)| c.maker != body.commitment.maker);
            s.makers.push((body.commitment, body.reply_to, body.mailbox));
        }
        Ok(())
    }

    fn tip(&self) -> &State {
        self.staged.last().unwrap_or(&self.state)
    }

    /// Matches the sealed order of `request` at `twap_wad` (payment base units per collateral
    /// base unit, wad) at `now` (unix seconds), and stages the resulting settlement on top of
    /// any staged one. Makers' commitments count only up to their collateral in the pool; the
    /// requester must hold the payment. Returns the outcome (inside the enclave) and the
    /// settlement to send, `None` when nothing fills (nothing is revealed then).
    ///
    /// # Errors
    /// [`Error::Unbound`]; [`Error::OrderMismatch`] when the sealed order does not hash to the
    /// request's commitment, [`Error::RequesterMismatch`] when it names another requester,
    /// [`Error::OrderReused`]; opening/parsing errors; [`Error::InvalidOrder`];
    /// [`Error::InsufficientBalance`] when the requester's pre-funded payment is short.
    pub fn settle(
        &mut self,
        request: &RequestRef,
        sealed_order: &Sealed,
        twap_wad: u128,
        now: u64,
    ) -> Result<(MatchOutcome, Option<Settlement>)> {
        self.settle_with(request, sealed_order, twap_wad, now, |circuit| {
            // The keys are made once per process; the proving time excludes that setup.
            shr_zk::keys(shr_zk::CircuitKind::Fill);
            shr_zk::prove(shr_zk::CircuitKind::Fill, circuit)
        })
    }

    /// [`Self::settle`] with the Groth16 prover as an argument: everything a settlement does
    /// but proving can be measured (`benches/matching.rs`). A settlement whose proof is not
    /// the fill circuit's is refused on chain (`FillVerifier`), and the staged table then
    /// never confirms.
    ///
    /// # Errors
    /// As [`Self::settle`], and the prover's.
    pub fn settle_with(
        &mut self,
        request: &RequestRef,
        sealed_order: &Sealed,
        twap_wad: u128,
        now: u64,
        prove: impl FnOnce(shr_zk::FillCircuit) -> shr_zk::Result<shr_zk::ProofWords>,
    ) -> Result<(MatchOutcome, Option<Settlement>)> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let request_id = request.id;
        if keccak256(sealed_order.as_bytes()) != request.order_commitment {
            return Err(Error::OrderMismatch { request_id });
        }
        let plain = self.enclave.open(ORDER_INFO, sealed_order)?;
        let body: OrderBody = serde_json::from_slice(&plain).map_err(Error::Body)?;
        if body.requester != request.requester {
            return Err(Error::RequesterMismatch { request_id });
        }
        if self.tip().used_orders.contains(&request.order_commitment) {
            return Err(Error::OrderReused { request_id });
        }
        let mut next = self.tip().clone();
        // A maker counts only with a maker slot, up to its collateral in the tree.
        let maker_slot = |m: &Address| next.slots.get(m).copied().filter(|s| *s < MAKER_SLOTS);
        let backed: Vec<MakerCommitment> = next
            .makers
            .iter()
            .map(|(m, ..)| MakerCommitment {
                size: if maker_slot(&m.maker).is_some() {
                    m.size.min(next.balance(m.maker, 0))
                } else {
                    0
                },
                ..*m
            })
            .collect();
        let outcome = match_order(&body.order, &backed, twap_wad, now)?;
        if outcome.status == MatchStatus::Unfilled {
            return Ok((outcome, None));
        }
        // The proof opens the request's Poseidon order commitment and uses the chain's premium.
        if body.order_hash()? != request.order_hash || body.order.premium_bps != request.premium_bps
        {
            return Err(Error::OrderMismatch { request_id });
        }
        let rslot = next
            .slots
            .get(&body.requester)
            .copied()
            .ok_or(Error::StateMismatch("the requester has no slot (it never deposited)"))?;
        let mut fills = Vec::with_capacity(outcome.fills.len());
        for f in &outcome.fills {
            let (m, ..) = next
                .makers
                .iter()
                .find(|(m, ..)| m.maker == f.maker)
                .ok_or(Error::StateMismatch("a fill from an unknown maker"))?;
            fills.push(shr_zk::MakerFill {
                slot: maker_slot(&f.maker)
                    .ok_or(Error::StateMismatch("a fill from a maker without a slot"))?,
                amount: u64::try_from(f.amount).map_err(|_| Error::Overflow("fill"))?,
                spread_bps: m.spread_bps,
            });
        }
        let witness = shr_zk::FillWitness {
            tree: next.tree.clone(),
            requester: (body.requester, rslot),
            twap_wad,
            premium_bps: request.premium_bps,
            order: body.opening()?,
            fills,
        };
        let prepared = witness.prepare().map_err(|e| match e {
            shr_zk::Error::Balance { have, amount } => Error::InsufficientBalance {
                party: body.requester,
                token: self.payment,
                have,
                want: amount,
            },
            e => Error::Zk(e),
        })?;
        if U256::from(prepared.payment) != outcome.payment
            || u128::from(prepared.total) != outcome.filled
        {
            return Err(Error::StateMismatch("the proof's fills differ from the match"));
        }
        let started = std::time::Instant::now();
        let proof = prove(prepared.circuit)?;
        let proving_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        next.tree = prepared.tree;
        next.reply_keys.insert(body.requester, body.reply_to);
        next.used_orders.insert(request.order_commitment);
        let mut notices = Vec::new();
        for f in &outcome.fills {
            let (m, key, mailbox) = next
                .makers
                .iter_mut()
                .find(|(m, ..)| m.maker == f.maker)
                .ok_or(Error::StateMismatch("a fill from an unknown maker"))?;
            m.size -= f.amount.min(m.size);
            let notice = FillNotice {
                request_id,
                party: f.maker,
                collateral: f.amount,
                payment: f.payment,
                status: outcome.status,
            };
            notices.push((mailbox_key(mailbox, request_id), seal_kind(key, FILL_INFO, &notice)?));
        }
        let mine = FillNotice {
            request_id,
            party: body.requester,
            collateral: outcome.filled,
            payment: outcome.payment,
            status: outcome.status,
        };
        let mine = seal_kind(&body.reply_to, FILL_INFO, &mine)?;
        notices.push((mailbox_key(&body.mailbox, request_id), mine));
        let new = prepared.new_root;
        let version = next.version + 1;
        let status = if outcome.status == MatchStatus::Filled { 3 } else { 2 };
        let notices_digest =
            keccak256(notices.iter().flat_map(|(_, s)| s.as_bytes().to_vec()).collect::<Vec<_>>());
        let digest = settlement_digest(
            self.chain_id,
            pool,
            request,
            status,
            next.committed,
            new,
            version,
            notices_digest,
            twap_wad,
        );
        let signature = Bytes::from(self.enclave.sign_digest(&digest)?.as_bytes().to_vec());
        let s = Settlement {
            request_id,
            status,
            old_commitment: next.committed,
            new_commitment: new,
            version,
            notices_digest,
            twap_wad,
            proof,
            proving_ms,
            signature,
            notices,
        };
        next.committed = new;
        next.version = version;
        self.staged.push(next);
        Ok((outcome, Some(s)))
    }

    /// Authorises `party` to withdraw `amount` of `token`, staging the table without it.
    ///
    /// # Errors
    /// [`Error::Unbound`], [`Error::UnsupportedToken`], and [`Error::InsufficientBalance`]
    /// beyond the party's private balance (nothing is signed then).
    pub fn authorize_withdrawal(
        &mut self,
        party: Address,
        token: Address,
        amount: u128,
    ) -> Result<WithdrawalAuth> {
        self.withdrawal(party, token, Some(amount))
    }

    /// Authorises `party`'s whole balance of `token` (possibly zero) as a *forced* withdrawal,
    /// the only kind that serves its forced request on chain. Returns the amount with the
    /// authorisation.
    ///
    /// # Errors
    /// [`Error::Unbound`], [`Error::UnsupportedToken`].
    pub fn authorize_forced(
        &mut self,
        party: Address,
        token: Address,
    ) -> Result<(u128, WithdrawalAuth)> {
        let amount = self.tip().balance(party, self.token_index(token)?);
        Ok((amount, self.withdrawal(party, token, None)?))
    }

    /// `amount: None` is the forced withdrawal of the whole balance.
    fn withdrawal(
        &mut self,
        party: Address,
        token: Address,
        amount: Option<u128>,
    ) -> Result<WithdrawalAuth> {
        let t = self.token_index(token)?;
        let kind = if amount.is_none() { ChangeKind::Forced } else { ChangeKind::Withdraw };
        let have = self.tip().balance(party, t);
        let amount = amount.unwrap_or(have);
        if have < amount {
            return Err(Error::InsufficientBalance { party, token, have, want: amount });
        }
        self.stage_change(party, token, amount, kind)
    }

    fn token_index(&self, token: Address) -> Result<usize> {
        if token == self.collateral {
            Ok(0)
        } else if token == self.payment {
            Ok(1)
        } else {
            Err(Error::UnsupportedToken(token))
        }
    }

    /// The chain accepted the oldest staged transition: make it current.
    ///
    /// # Errors
    /// [`Error::NothingStaged`].
    pub fn confirm(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Err(Error::NothingStaged);
        }
        self.state = self.staged.remove(0);
        Ok(())
    }

    /// The chain refused the staged transitions (or did not answer): drop them all (each builds
    /// on the previous). They stay known, since a signed transition may still land later.
    pub fn abort(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        self.dropped.extend(staged);
        let v = self.state.version;
        self.dropped.retain(|d| d.version > v);
    }

    /// Brings the enclave to the chain's `(commitment, version)`: a staged transition the chain
    /// shows accepted becomes current (with those before it), otherwise the staged queue is
    /// dropped when the chain still holds the confirmed commitment.
    ///
    /// # Errors
    /// [`Error::Desynchronised`] when neither matches (another enclave's transition, or state
    /// lost): the matcher must not sign on a commitment it cannot open.
    pub fn reconcile(&mut self, commitment: B256, version: u64) -> Result<Reconciled> {
        let is = |s: &State| s.committed == commitment && s.version == version;
        if let Some(i) = self.staged.iter().position(is) {
            self.state = self.staged.remove(i);
            self.staged.drain(..i);
            // What remains was built on the accepted state and may still land.
            return Ok(Reconciled::Advanced(i + 1));
        }
        if self.state.committed == commitment && self.state.version == version {
            let dropped = self.staged.len();
            self.abort();
            return Ok(Reconciled::Unchanged(dropped));
        }
        // A transition signed earlier and dropped landed after all (a late receipt, or someone
        // relayed its calldata): adopt it; whatever was signed since on the old base is void.
        if let Some(i) = self.dropped.iter().position(is) {
            self.state = self.dropped.remove(i);
            self.staged.clear();
            let v = self.state.version;
            self.dropped.retain(|d| d.version > v);
            return Ok(Reconciled::Advanced(1));
        }
        Err(Error::Desynchronised { chain_version: version, local_version: self.state.version })
    }

    /// Sum of every party's `token` in the confirmed tree, base units (what the pool must
    /// hold at least: the invariant the fuzzing checks).
    pub fn total(&self, token: Address) -> u128 {
        self.token_index(token)
            .map_or(0, |t| self.state.tree.leaves().iter().map(|l| l.balance(t)).sum())
    }

    /// A party's private balance in the confirmed tree (inside the enclave; for the operator
    /// view and tests).
    pub fn balance(&self, party: Address, token: Address) -> u128 {
        self.token_index(token).map_or(0, |t| self.state.balance(party, t))
    }
}
