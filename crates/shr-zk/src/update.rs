//! The balance-change circuit: one party's leaf moves by a public amount of one token.
//!
//! It serves deposits (the amount the chain recorded is added), withdrawals (taken away, the
//! rest stays non-negative) and forced withdrawals and exits (the whole balance: the rest is zero).
//!
//! Public inputs (four field elements, the contract packs them the same way):
//! `old_root`, `new_root`, `who = party + slot * 2^160`,
//! `action = amount + token * 2^128 + withdraw * 2^129 + forced * 2^130`.
//!
//! It proves: the old leaf at `slot` opens under `old_root`; it belongs to `party` or is the
//! empty slot (zero balances); the new leaf is `party`'s with the token's balance moved by
//! `amount` and the other unchanged, under a fresh blinding, at the same slot under `new_root`;
//! balances stay in range (collateral 64 bits, payment 128 bits: a withdrawal above the balance
//! cannot be proven); a forced change leaves zero of the token; `forced` implies `withdraw`.

use alloy_primitives::{Address, B256, U256};
use ark_bn254::Fr;
use ark_r1cs_std::{eq::EqGadget, fields::FieldVar, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::{
    DEPTH, Error, LEAVES, Leaf, Result,
    gadgets::{Cs, pow2},
    poseidon::hash_var,
    tree::{address_fe, blinding_fe, root_of},
};

/// What a balance change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeKind {
    /// Adds a deposit the chain recorded.
    Deposit,
    /// Takes an amount out.
    Withdraw,
    /// Takes the whole balance out (a forced withdrawal, or an exit through the escape hatch).
    Forced,
}

/// The public side of a balance change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceChange {
    /// The party.
    pub party: Address,
    /// Its slot in the tree (assigned by the contract).
    pub slot: usize,
    /// 0: collateral, 1: payment asset.
    pub token: usize,
    /// Base units moved (for `Forced`, the whole balance).
    pub amount: u128,
    /// Deposit, withdrawal or forced withdrawal.
    pub kind: ChangeKind,
}

impl BalanceChange {
    /// The circuit's public inputs for a move from `old_root` to `new_root`, as the contract
    /// builds them.
    ///
    /// # Errors
    /// [`Error::Blinding`] for roots that are not field elements.
    pub fn public_inputs(&self, old_root: B256, new_root: B256) -> Result<Vec<Fr>> {
        let (w, f) = match self.kind {
            ChangeKind::Deposit => (0u64, 0u64),
            ChangeKind::Withdraw => (1, 0),
            ChangeKind::Forced => (1, 1),
        };
        let who = address_fe(self.party) + Fr::from(self.slot as u64) * pow2(160);
        let action = Fr::from(self.amount)
            + Fr::from(self.token as u64) * pow2(128)
            + Fr::from(w) * pow2(129)
            + Fr::from(f) * pow2(130);
        Ok(vec![blinding_fe(old_root)?, blinding_fe(new_root)?, who, action])
    }

    /// The packed `action` word as a `uint256` (what `CREDarkPool` computes on chain).
    pub fn action_word(&self) -> U256 {
        let (w, f) = match self.kind {
            ChangeKind::Deposit => (0u8, 0u8),
            ChangeKind::Withdraw => (1, 0),
            ChangeKind::Forced => (1, 1),
        };
        U256::from(self.amount)
            | (U256::from(self.token) << 128)
            | (U256::from(w) << 129)
            | (U256::from(f) << 130)
    }
}

/// The private side: the old leaf, its path and the new blinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateWitness {
    /// The change.
    pub change: BalanceChange,
    /// The leaf before.
    pub old: Leaf,
    /// The blinding of the leaf after.
    pub new_blinding: B256,
    /// The slot's Merkle path, leaf level first ([`DEPTH`] siblings).
    pub siblings: Vec<B256>,
}

impl UpdateWitness {
    /// The leaf after the change, checked as the circuit checks it.
    ///
    /// # Errors
    /// [`Error::Slot`]; [`Error::NotOwner`] when the old leaf is another party's;
    /// [`Error::Balance`] when a withdrawal exceeds the balance or a balance leaves its range;
    /// [`Error::Token`].
    pub fn new_leaf(&self) -> Result<Leaf> {
        let c = &self.change;
        if c.slot >= LEAVES {
            return Err(Error::Slot(c.slot));
        }
        if c.token > 1 {
            return Err(Error::Token(c.token));
        }
        if c.party.is_zero() || !(self.old.party == c.party || self.old.party.is_zero()) {
            return Err(Error::NotOwner { slot: c.slot, party: c.party });
        }
        let have = self.old.balance(c.token);
        let rest = match c.kind {
            ChangeKind::Deposit => have.checked_add(c.amount),
            ChangeKind::Withdraw => have.checked_sub(c.amount),
            ChangeKind::Forced => (have == c.amount).then_some(0),
        }
        .ok_or(Error::Balance { have, amount: c.amount })?;
        let mut new = Leaf { party: c.party, blinding: self.new_blinding, ..self.old };
        if c.token == 0 {
            new.collateral =
                u64::try_from(rest).map_err(|_| Error::Balance { have, amount: c.amount })?;
        } else {
            new.payment = rest;
        }
        Ok(new)
    }

    /// The circuit for this witness, checked natively first (old root from the path, new root).
    ///
    /// # Errors
    /// As [`UpdateWitness::new_leaf`]; [`Error::Path`].
    pub fn circuit(&self) -> Result<(UpdateCircuit, B256, B256)> {
        let new = self.new_leaf()?;
        let old_root = root_of(&self.old, self.change.slot, &self.siblings)?;
        let new_root = root_of(&new, self.change.slot, &self.siblings)?;
        let publics = self.change.public_inputs(old_root, new_root)?;
        let circuit = UpdateCircuit {
            publics: [publics[0], publics[1], publics[2], publics[3]],
            old: [
                address_fe(self.old.party),
                Fr::from(self.old.collateral),
                Fr::from(self.old.payment),
                blinding_fe(self.old.blinding)?,
            ],
            new_blinding: blinding_fe(self.new_blinding)?,
            siblings: self.siblings.iter().map(|s| blinding_fe(*s)).collect::<Result<_>>()?,
        };
        Ok((circuit, old_root, new_root))
    }
}

/// The R1CS of a balance change (see the module docs). `Default` is the shape for the setup.
#[derive(Debug, Clone)]
pub struct UpdateCircuit {
    publics: [Fr; 4],
    old: [Fr; 4],
    new_blinding: Fr,
    siblings: Vec<Fr>,
}

impl Default for UpdateCircuit {
    fn default() -> Self {
        Self {
            publics: [Fr::from(0u64); 4],
            old: [Fr::from(0u64); 4],
            new_blinding: Fr::from(0u64),
            siblings: vec![Fr::from(0u64); DEPTH],
        }
    }
}

impl ConstraintSynthesizer<Fr> for UpdateCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let c = Cs(cs.clone());
        let old_root = c.input(self.publics[0])?;
        let new_root = c.input(self.publics[1])?;
        let who = c.input(self.publics[2])?;
        let action = c.input(self.publics[3])?;
        let who = c.unpack(&who, &[160, DEPTH])?;
        let (party, slot) = (&who[0], &who[1]);
        let index = c.bits(slot, DEPTH)?;
        let act = c.unpack(&action, &[128, 1, 1, 1])?;
        let (amount, token, withdraw, forced) = (&act[0], &act[1], &act[2], &act[3]);

        let old: Vec<FpVar<Fr>> =
            self.old.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
        let (old_party, old_c, old_p) = (&old[0], &old[1], &old[2]);
        let siblings: Vec<FpVar<Fr>> =
            self.siblings.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
        let leaf = hash_var(&cs, &old)?;
        c.root(&leaf, &index, &siblings)?.enforce_equal(&old_root)?;

        // The slot is the party's or empty (and an empty slot holds nothing).
        c.nonzero(party)?;
        old_party.mul_equals(&(old_party - party), &FpVar::zero())?;
        (party - old_party).mul_equals(old_c, &FpVar::zero())?;
        (party - old_party).mul_equals(old_p, &FpVar::zero())?;

        // delta = +amount (deposit) or -amount (withdrawal), applied to the token's balance.
        let one = FpVar::one();
        let delta = amount * (&one - withdraw.double()?);
        let on_payment = token * &delta;
        let new_c = old_c + &delta - &on_payment;
        let new_p = old_p + &on_payment;
        c.range(&new_c, 64)?;
        c.range(&new_p, 128)?;
        // forced => withdraw, and nothing of the token is left.
        forced.mul_equals(&(&one - withdraw), &FpVar::zero())?;
        let left = &new_c + token * (&new_p - &new_c);
        forced.mul_equals(&left, &FpVar::zero())?;

        let new_b = c.witness(self.new_blinding)?;
        let new_leaf = hash_var(&cs, &[party.clone(), new_c, new_p, new_b])?;
        c.root(&new_leaf, &index, &siblings)?.enforce_equal(&new_root)?;
        Ok(())
    }
}
