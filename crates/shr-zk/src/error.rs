//! Errors of the proof system.

use alloy_primitives::{Address, B256};

/// What can go wrong building or checking a proof. Messages name slots, parties and public
/// amounts only: a witness's private values never reach an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Poseidon is defined here for 1 to 5 inputs.
    #[error("poseidon: unsupported number of inputs {0} (1 to 5)")]
    PoseidonWidth(usize),
    /// A blinding, salt or root that is not a bn254 scalar.
    #[error("{0} is not below the bn254 scalar field modulus")]
    Blinding(B256),
    /// A slot outside the tree, or in the wrong part of it.
    #[error("slot {0} is not a valid slot here")]
    Slot(usize),
    /// A Merkle path of the wrong length.
    #[error("merkle path has {0} siblings, expected 5")]
    Path(usize),
    /// A token index other than 0 (collateral) or 1 (payment).
    #[error("token index {0} is neither 0 (collateral) nor 1 (payment)")]
    Token(usize),
    /// The slot holds another party.
    #[error("slot {slot} does not hold party {party}")]
    NotOwner {
        /// The slot.
        slot: usize,
        /// The party that claimed it.
        party: Address,
    },
    /// A balance change the leaf cannot take.
    #[error("balance change of {amount} does not fit the balance")]
    Balance {
        /// The balance (private: only in the enclave's or the party's own error).
        have: u128,
        /// The amount.
        amount: u128,
    },
    /// A fill breaks a rule of the circuit.
    #[error("fill refused: {0}")]
    Fill(&'static str),
    /// A value outside its range.
    #[error("{0} out of range")]
    Range(&'static str),
    /// The witness does not satisfy the circuit (nothing is proven).
    #[error("the witness does not satisfy the {0} circuit")]
    Unsatisfied(&'static str),
    /// arkworks' synthesis or proving failed.
    #[error("groth16: {0}")]
    Synthesis(#[source] ark_relations::gr1cs::SynthesisError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
