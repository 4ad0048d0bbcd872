//! Errors of the enclave seam.

use alloy::primitives::{Address, B256};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with quotes, keys and sealed data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The quote names another measurement than the verifier expects.
    #[error("quote measurement {found} is not the expected {expected}")]
    WrongMeasurement {
        /// What the verifier expects.
        expected: B256,
        /// What the quote says.
        found: B256,
    },
    /// The quote's signature does not recover to the trusted platform root.
    #[error("quote signed by {found}, not by the trusted platform root {expected}")]
    UntrustedPlatform {
        /// The trusted root.
        expected: Address,
        /// Who signed.
        found: Address,
    },
    /// The quote's report data does not commit to the presented keys.
    #[error("quote does not bind the presented enclave keys")]
    KeysNotBound,
    /// A signature that does not parse or recover.
    #[error("invalid signature")]
    Signature(#[source] alloy::primitives::SignatureError),
    /// Signing failed.
    #[error("enclave signing failed")]
    Sign(#[source] alloy::signers::Error),
    /// An HPKE public key of the wrong length or not on the curve.
    #[error("invalid HPKE public key ({len} bytes)")]
    InvalidPublicKey {
        /// Its length.
        len: usize,
    },
    /// Sealing or opening failed: wrong key, wrong context, or tampered ciphertext.
    #[error("HPKE {op} failed for context {info:?}")]
    Hpke {
        /// `seal` or `open`.
        op: &'static str,
        /// The HPKE info string (the context the blob was sealed for).
        info: String,
        /// The HPKE error.
        #[source]
        source: hpke::HpkeError,
    },
    /// The simulated platform's public dev seed on a chain that is not a dev chain: anyone can
    /// derive its root key and forge quotes, so it never guards real funds by default.
    #[error(
        "the simulated TEE platform's public dev seed is refused on chain {chain_id} (only on          dev chain {dev}); give a --tee-seed of your own, or --allow-dev-tee to accept forgeable          quotes"
    )]
    DevPlatform {
        /// The chain's id.
        chain_id: u64,
        /// The dev chain id ([`crate::DEV_CHAIN_ID`]).
        dev: u64,
    },
    /// A message larger than its kind's sealed size.
    #[error("message too large for its sealed size {size} (context {info:?})")]
    TooLarge {
        /// The HPKE context.
        info: String,
        /// The size it had to fit, bytes.
        size: usize,
    },
    /// An opened blob whose length prefix does not fit it.
    #[error("sealed message with a bad length prefix (context {info:?})")]
    BadPadding {
        /// The HPKE context.
        info: String,
    },
    /// A sealed blob too short to hold an encapsulated key.
    #[error("sealed blob of {len} bytes is too short")]
    Truncated {
        /// Its length.
        len: usize,
    },
}
