//! The pool's private balance table and its commitment.
//!
//! The commitment is Poseidon (circom parameters, x^5, over the bn254 scalar field, as
//! `light-poseidon` implements it) so that a Groth16 circuit on bn254 can open it cheaply:
//! `h_0 = P(blinding, n)`, then `h_{i+1} = P(h_i, party_i, token_i, amount_i)` over the entries
//! in (party, token) order, and the commitment is `h_n` as 32 big-endian bytes. The blinding is
//! a random field element known only to the matcher enclave, so equal tables under different
//! blindings commit differently and a guessed table cannot be checked against the commitment.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256};
use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use light_poseidon::{Poseidon, PoseidonHasher};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Per-party, per-token balances inside the pool, base units. Serialised as a list of
/// `(party, token, amount)` (JSON maps need string keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(Address, Address, u128)>", into = "Vec<(Address, Address, u128)>")]
pub struct BalanceTable {
    entries: BTreeMap<(Address, Address), u128>,
}

impl From<Vec<(Address, Address, u128)>> for BalanceTable {
    fn from(v: Vec<(Address, Address, u128)>) -> Self {
        Self { entries: v.into_iter().map(|(p, t, a)| ((p, t), a)).collect() }
    }
}

impl From<BalanceTable> for Vec<(Address, Address, u128)> {
    fn from(t: BalanceTable) -> Self {
        t.entries.into_iter().map(|((p, t), a)| (p, t, a)).collect()
    }
}

impl BalanceTable {
    /// `party`'s balance of `token`, base units.
    pub fn balance(&self, party: Address, token: Address) -> u128 {
        self.entries.get(&(party, token)).copied().unwrap_or(0)
    }

    /// Adds `amount` to `party`'s `token`.
    ///
    /// # Errors
    /// [`Error::Overflow`].
    pub fn credit(&mut self, party: Address, token: Address, amount: u128) -> Result<()> {
        let e = self.entries.entry((party, token)).or_insert(0);
        *e = e.checked_add(amount).ok_or(Error::Overflow("balance"))?;
        Ok(())
    }

    /// Takes `amount` from `party`'s `token`.
    ///
    /// # Errors
    /// [`Error::InsufficientBalance`] naming the party, token, balance and amount; the table is
    /// unchanged then.
    pub fn debit(&mut self, party: Address, token: Address, amount: u128) -> Result<()> {
        let have = self.balance(party, token);
        if have < amount {
            return Err(Error::InsufficientBalance { party, token, have, want: amount });
        }
        if have == amount {
            self.entries.remove(&(party, token));
        } else {
            self.entries.insert((party, token), have - amount);
        }
        Ok(())
    }

    /// Sum of every party's `token`, base units (value conservation checks).
    pub fn total(&self, token: Address) -> u128 {
        self.entries.iter().filter(|((_, t), _)| *t == token).map(|(_, a)| *a).sum()
    }

    /// The Poseidon commitment to this table under `blinding` (see the module docs).
    ///
    /// # Errors
    /// [`Error::Poseidon`] (not expected with valid parameters).
    pub fn commitment(&self, blinding: B256) -> Result<B256> {
        let mut p2 = Poseidon::<Fr>::new_circom(2).map_err(Error::Poseidon)?;
        let mut p4 = Poseidon::<Fr>::new_circom(4).map_err(Error::Poseidon)?;
        let mut h = p2
            .hash(&[fe(blinding.as_slice()), Fr::from(self.entries.len() as u64)])
            .map_err(Error::Poseidon)?;
        for ((party, token), amount) in &self.entries {
            h = p4
                .hash(&[h, fe(party.as_slice()), fe(token.as_slice()), Fr::from(*amount)])
                .map_err(Error::Poseidon)?;
        }
        let bytes = h.into_bigint().to_bytes_be();
        Ok(B256::left_padding_from(&bytes))
    }
}

/// Big-endian bytes to a field element (reduced mod r; addresses and 31-byte blindings fit).
fn fe(bytes: &[u8]) -> Fr {
    Fr::from_be_bytes_mod_order(bytes)
}

/// A fresh random blinding below the field modulus (31 random bytes).
pub fn random_blinding() -> B256 {
    let mut b = B256::random();
    b.0[0] = 0;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_binds_every_entry_and_the_blinding() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let (wbtc, weth) = (Address::repeat_byte(0xb), Address::repeat_byte(0xe));
        let mut t = BalanceTable::default();
        t.credit(a, wbtc, 100).unwrap();
        t.credit(b, weth, 5).unwrap();
        let r = random_blinding();
        let c = t.commitment(r).unwrap();
        assert_eq!(c, t.clone().commitment(r).unwrap(), "deterministic");
        assert_ne!(c, t.commitment(random_blinding()).unwrap(), "blinded");
        let mut u = t.clone();
        u.credit(a, wbtc, 1).unwrap();
        assert_ne!(c, u.commitment(r).unwrap(), "amount bound");
        let mut v = BalanceTable::default();
        v.credit(b, wbtc, 100).unwrap();
        v.credit(b, weth, 5).unwrap();
        assert_ne!(c, v.commitment(r).unwrap(), "party bound");
    }

    #[test]
    fn debit_beyond_balance_is_refused_and_changes_nothing() {
        let (a, wbtc) = (Address::repeat_byte(1), Address::repeat_byte(0xb));
        let mut t = BalanceTable::default();
        t.credit(a, wbtc, 10).unwrap();
        let before = t.clone();
        let e = t.debit(a, wbtc, 11).unwrap_err();
        assert!(matches!(e, Error::InsufficientBalance { have: 10, want: 11, .. }), "{e}");
        assert_eq!(t, before);
        t.debit(a, wbtc, 10).unwrap();
        assert_eq!(t, BalanceTable::default(), "zero entries vanish");
    }

    #[test]
    fn poseidon_matches_the_circom_reference_vector() {
        // circomlibjs poseidon([1, 2]) = 0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a
        let mut p = Poseidon::<Fr>::new_circom(2).unwrap();
        let h = p.hash(&[Fr::from(1u64), Fr::from(2u64)]).unwrap();
        let got = B256::left_padding_from(&h.into_bigint().to_bytes_be());
        assert_eq!(
            got.to_string(),
            "0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a"
        );
    }
}
