//! Proofs end to end (native): what verifies, and what cannot be proven.

mod proofs;
mod verifiers;
