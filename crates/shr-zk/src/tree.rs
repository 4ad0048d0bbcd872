//! The pool's balance tree: one Poseidon leaf per party, a Poseidon Merkle tree of fixed depth
//! [`DEPTH`], its root on chain (`CREDarkPool.balanceRoot`).
//!
//! A leaf is circomlib's `Poseidon(4)` of `(party, collateral, payment, blinding)`: the party's
//! address as a field element, its collateral and payment-asset balances in base units (sats, wei)
//! and a random blinding known to the matcher enclave and the party. The two tokens of a pool are
//! fixed at deployment, so a token is its position in the leaf. The empty leaf is
//! `Poseidon(0, 0, 0, 0)`. Nodes are `Poseidon(left, right)`. Slots `0 .. MAKER_SLOTS` (the left
//! subtree) belong to makers, slots `MAKER_SLOTS .. LEAVES` to everyone else (requesters), each
//! assigned by the contract at a party's first deposit. A fill re-blinds every maker leaf, so the
//! chain learns nothing of which makers filled (the anonymity set is every maker slot).

use alloy_primitives::{Address, B256};
use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField, UniformRand};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, poseidon::hash};

/// Levels of the tree.
pub const DEPTH: usize = 5;
/// Leaves of the tree (`2^DEPTH`).
pub const LEAVES: usize = 1 << DEPTH;
/// Slots for makers: the left subtree, every one of them re-blinded by each fill.
pub const MAKER_SLOTS: usize = LEAVES / 2;

/// One party's balances in the pool and the blinding of its leaf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaf {
    /// The party (zero for an empty slot).
    pub party: Address,
    /// Collateral balance, base units (sats; 64-bit range).
    pub collateral: u64,
    /// Payment-asset balance, base units (wei; 128-bit range).
    pub payment: u128,
    /// The leaf's blinding: a field element as 32 big-endian bytes (below the modulus).
    pub blinding: B256,
}

impl Leaf {
    /// The leaf's commitment, `Poseidon(party, collateral, payment, blinding)`.
    ///
    /// # Errors
    /// [`Error::Blinding`] for a blinding not below the field modulus.
    pub fn commitment(&self) -> Result<Fr> {
        hash(&[
            address_fe(self.party),
            Fr::from(self.collateral),
            Fr::from(self.payment),
            blinding_fe(self.blinding)?,
        ])
    }

    /// The same leaf under a fresh random blinding.
    pub fn reblinded(&self) -> Self {
        Self { blinding: random_blinding(), ..*self }
    }

    /// The balance of token `index` (0: collateral, 1: payment), base units.
    pub fn balance(&self, token: usize) -> u128 {
        if token == 0 { u128::from(self.collateral) } else { self.payment }
    }
}

/// An address as a field element (its 160 bits, big-endian).
pub fn address_fe(a: Address) -> Fr {
    Fr::from_be_bytes_mod_order(a.as_slice())
}

/// A blinding's field element.
///
/// # Errors
/// [`Error::Blinding`] when the bytes are not below the modulus.
pub fn blinding_fe(b: B256) -> Result<Fr> {
    let f = Fr::from_be_bytes_mod_order(b.as_slice());
    if fe_bytes(f) != b {
        return Err(Error::Blinding(b));
    }
    Ok(f)
}

/// A field element as 32 big-endian bytes.
pub fn fe_bytes(f: Fr) -> B256 {
    B256::left_padding_from(&f.into_bigint().to_bytes_be())
}

/// A fresh uniformly random blinding (a field element).
pub fn random_blinding() -> B256 {
    fe_bytes(Fr::rand(&mut rand::thread_rng()))
}

/// Every leaf of the pool and the tree over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceTree {
    leaves: Vec<Leaf>,
}

impl Default for BalanceTree {
    fn default() -> Self {
        Self { leaves: vec![Leaf::default(); LEAVES] }
    }
}

impl BalanceTree {
    /// The leaf in `slot`.
    ///
    /// # Errors
    /// [`Error::Slot`] beyond [`LEAVES`].
    pub fn leaf(&self, slot: usize) -> Result<&Leaf> {
        self.leaves.get(slot).ok_or(Error::Slot(slot))
    }

    /// Replaces the leaf in `slot`.
    ///
    /// # Errors
    /// [`Error::Slot`] beyond [`LEAVES`].
    pub fn set(&mut self, slot: usize, leaf: Leaf) -> Result<()> {
        *self.leaves.get_mut(slot).ok_or(Error::Slot(slot))? = leaf;
        Ok(())
    }

    /// Every leaf, slot order.
    pub fn leaves(&self) -> &[Leaf] {
        &self.leaves
    }

    /// The slot holding `party`, if any.
    pub fn slot_of(&self, party: Address) -> Option<usize> {
        self.leaves.iter().position(|l| l.party == party && !party.is_zero())
    }

    /// Every level of the tree, leaves first, root last: 2 * LEAVES - 1 Poseidon hashes.
    pub(crate) fn levels(&self) -> Result<Vec<Vec<Fr>>> {
        let mut level: Vec<Fr> = self.leaves.iter().map(Leaf::commitment).collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(DEPTH + 1);
        while level.len() > 1 {
            let next = level.chunks(2).map(|p| hash(&[p[0], p[1]])).collect::<Result<_, _>>()?;
            out.push(std::mem::replace(&mut level, next));
        }
        out.push(level);
        Ok(out)
    }

    /// `levels`, computed for an earlier version of this tree, brought up to date for the
    /// leaves in `changed` (slots): only those leaves and their ancestors are hashed again (a
    /// fill changes the 16 maker leaves and one requester leaf: 37 hashes instead of 63).
    ///
    /// # Errors
    /// [`Error::Slot`]; [`Error::Blinding`].
    pub(crate) fn update_levels(&self, levels: &mut [Vec<Fr>], changed: &[usize]) -> Result<()> {
        let mut idx: Vec<usize> = changed.to_vec();
        idx.sort_unstable();
        idx.dedup();
        for &i in &idx {
            levels[0][i] = self.leaf(i)?.commitment()?;
        }
        for d in 1..levels.len() {
            idx = idx.iter().map(|i| i / 2).collect();
            idx.dedup();
            for &i in &idx {
                levels[d][i] = hash(&[levels[d - 1][2 * i], levels[d - 1][2 * i + 1]])?;
            }
        }
        Ok(())
    }

    /// The root, as the contract stores it (32 big-endian bytes).
    ///
    /// # Errors
    /// [`Error::Blinding`] for a leaf with a bad blinding.
    pub fn root(&self) -> Result<B256> {
        Ok(root_in(&self.levels()?))
    }

    /// The siblings of `slot`'s path, leaf level first.
    ///
    /// # Errors
    /// [`Error::Slot`]; [`Error::Blinding`].
    pub fn path(&self, slot: usize) -> Result<Vec<B256>> {
        if slot >= LEAVES {
            return Err(Error::Slot(slot));
        }
        Ok(path_in(&self.levels()?, slot))
    }
}

/// The root of a tree's levels (32 big-endian bytes).
pub(crate) fn root_in(levels: &[Vec<Fr>]) -> B256 {
    fe_bytes(levels[DEPTH][0])
}

/// The siblings of `slot` (below [`LEAVES`]) in a tree's levels, leaf level first.
pub(crate) fn path_in(levels: &[Vec<Fr>], slot: usize) -> Vec<B256> {
    (0..DEPTH).map(|d| fe_bytes(levels[d][(slot >> d) ^ 1])).collect()
}

/// The root a leaf and its path lead to (the check an opening is held to).
///
/// # Errors
/// [`Error::Slot`], [`Error::Path`] for a path that is not [`DEPTH`] long; [`Error::Blinding`].
pub fn root_of(leaf: &Leaf, slot: usize, siblings: &[B256]) -> Result<B256> {
    if slot >= LEAVES {
        return Err(Error::Slot(slot));
    }
    if siblings.len() != DEPTH {
        return Err(Error::Path(siblings.len()));
    }
    let mut cur = leaf.commitment()?;
    for (d, s) in siblings.iter().enumerate() {
        let s = blinding_fe(*s)?;
        cur = if (slot >> d) & 1 == 1 { hash(&[s, cur])? } else { hash(&[cur, s])? };
    }
    Ok(fe_bytes(cur))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lead_to_the_root_and_bind_the_leaf() {
        let mut t = BalanceTree::default();
        let a = Leaf {
            party: Address::repeat_byte(7),
            collateral: 5,
            payment: 9,
            blinding: random_blinding(),
        };
        t.set(3, a).unwrap();
        t.set(20, a.reblinded()).unwrap();
        let root = t.root().unwrap();
        for slot in [0, 3, 20, 31] {
            let p = t.path(slot).unwrap();
            assert_eq!(root_of(t.leaf(slot).unwrap(), slot, &p).unwrap(), root, "slot {slot}");
        }
        let p = t.path(3).unwrap();
        let lie = Leaf { collateral: 6, ..a };
        assert_ne!(root_of(&lie, 3, &p).unwrap(), root, "amount bound");
        assert_ne!(root_of(&a, 2, &p).unwrap(), root, "slot bound");
        assert_ne!(a.commitment().unwrap(), a.reblinded().commitment().unwrap(), "blinded");
        assert!(matches!(t.path(32), Err(Error::Slot(32))));
        // Levels brought up to date for the changed leaves equal levels computed afresh.
        let mut levels = t.levels().unwrap();
        let mut u = t.clone();
        for slot in [0, 5, 15, 17, 31] {
            u.set(slot, Leaf { collateral: slot as u64, ..a.reblinded() }).unwrap();
        }
        u.update_levels(&mut levels, &[31, 0, 5, 17, 15, 5]).unwrap();
        assert_eq!(levels, u.levels().unwrap());
        assert_eq!(root_in(&levels), u.root().unwrap());
        assert!(matches!(blinding_fe(B256::repeat_byte(0xff)), Err(Error::Blinding(_))));
    }
}
