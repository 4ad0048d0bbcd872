//! Validity proofs for the dark pool: every balance change of `CREDarkPool` is a Groth16 proof
//! on bn254 that the chain verifies with its pairing precompiles, so a stolen matcher key can
//! neither create balance nor double-credit, stretch or redirect one (makers' spreads and the
//! fill's TWAP are not bound yet: docs/SECURITY.md, finding 12).
//!
//! - [`BalanceTree`]: each party's balances are a Poseidon leaf (circom parameters, as
//!   `light-poseidon` and circomlib use) in a Merkle tree of fixed depth whose root the pool
//!   stores; an opening of one leaf is checked against it ([`root_of`]).
//! - [`UpdateCircuit`]: a deposit, withdrawal, forced withdrawal or exit of a public amount.
//! - [`FillCircuit`]: a settlement, with every maker slot re-blinded (the anonymity set).
//! - [`keys`], [`prove`], [`verify`]: arkworks' Groth16 with a **dev** setup from a public seed.
//! - [`verifier_source`]: the Solidity verifier generated from the same key.
//!
//! Data flow: the matcher enclave (`shr-darkpool`) builds witnesses from its private tree here
//! (a pure core: no IO, no clock), proves, and sends the proof with its transition; the oracle
//! (`shr-oracle`) checks the treasury's leaf opening against the on-chain root.

mod error;
mod fill;
mod gadgets;
mod keys;
mod poseidon;
mod solidity;
mod tree;
mod update;

pub use error::{Error, Result};
pub use fill::{FillCircuit, FillWitness, MakerFill, OrderOpening, PreparedFill, ask, pay};
pub use keys::{CircuitKind, DEV_SETUP_SEED, Keys, ProofWords, constraints, keys, prove, verify};
pub use poseidon::{hash, hash_sponge};
pub use solidity::verifier_source;
pub use tree::{
    BalanceTree, DEPTH, LEAVES, Leaf, MAKER_SLOTS, address_fe, blinding_fe, fe_bytes,
    random_blinding, root_of,
};
pub use update::{BalanceChange, ChangeKind, UpdateCircuit, UpdateWitness};
