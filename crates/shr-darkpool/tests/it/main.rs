//! `CREDarkPool` and the matcher enclave on the embedded chain: the contract suite, the attacks
//! of the security review (docs/SECURITY.md) and the stateful invariant fuzzing.

mod attacks;
mod contract;
mod invariants;
mod twap;
mod verifier;
