//! The trusted-execution seam of Self-Healing Reserve.
//!
//! No TEE hardware is available where this project runs, so the platform is **simulated**:
//! [`SimulatedTee`] implements [`TeePlatform`] (code measurement, quotes signed by a platform
//! root, sealing keys) and an AWS Nitro or Intel TDX backend can implement the same trait.
//!
//! An [`Enclave`] generates its secp256k1 signing key and its X25519 HPKE key inside itself; only
//! the public halves leave, bound to the code measurement by a [`Quote`]. Verifiers (the DON's
//! forwarder config, the dark pool, the agent) accept a key only when [`Quote::verify`] passes for
//! the platform root and the measurement they expect. [`seal`] / [`Enclave::open`] are HPKE
//! (RFC 9180, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305); [`Enclave::seal_at_rest`]
//! encrypts data for storage under a key derived from the platform secret and the measurement.
//!
//! In the data flow, the oracle nodes (`shr-oracle`) and the dark-pool matcher run their programs
//! "inside" an enclave of this crate: plaintext reserves, deficits and orders exist only there and
//! at the agent, never on-chain or in logs.

mod enclave;
mod error;
mod hpke_box;
mod platform;

pub use enclave::{Enclave, EnclaveIdentity, KEY_SEED_INFO};
pub use error::{Error, Result};
pub use hpke_box::{HpkePublicKey, SEAL_OVERHEAD, SIZE_CLASSES, Sealed, seal, seal_sized};
pub use platform::{DEV_CHAIN_ID, Measurement, Quote, SimulatedTee, TeePlatform};
