//! The TEE platform seam and its simulated implementation.

use alloy::{
    primitives::{Address, B256, Signature, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};

use crate::{Error, Result};

/// A code measurement (the hash a real TEE computes over the loaded image), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Measurement(pub B256);

impl Measurement {
    /// The measurement of a program identified by `program` (name and version), as the simulated
    /// platform computes it: `keccak256("shr-simulated-tee/measurement" ‖ program)`.
    pub fn of_program(program: &str) -> Self {
        Self(keccak256([b"shr-simulated-tee/measurement/".as_slice(), program.as_bytes()].concat()))
    }
}

/// A quote: the platform's signed statement that code with `measurement` holds keys whose hash
/// is `report_data`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quote {
    /// Platform kind, e.g. `simulated`.
    pub platform: String,
    /// The enclave's code measurement.
    pub measurement: Measurement,
    /// Commitment to the enclave's public keys (see [`EnclaveIdentity`](crate::EnclaveIdentity)).
    pub report_data: B256,
    /// The platform root's secp256k1 signature over [`Quote::digest`].
    pub signature: Signature,
}

impl Quote {
    /// What the platform root signs: `keccak256(platform ‖ measurement ‖ report_data)`.
    pub fn digest(platform: &str, measurement: &Measurement, report_data: &B256) -> B256 {
        keccak256([platform.as_bytes(), measurement.0.as_slice(), report_data.as_slice()].concat())
    }

    /// Checks the quote was signed by `root` and names `expected`.
    ///
    /// # Errors
    /// [`Error::UntrustedPlatform`] or [`Error::WrongMeasurement`].
    pub fn verify(&self, root: Address, expected: &Measurement) -> Result<()> {
        let digest = Self::digest(&self.platform, &self.measurement, &self.report_data);
        let signer =
            self.signature.recover_address_from_prehash(&digest).map_err(Error::Signature)?;
        if signer != root {
            return Err(Error::UntrustedPlatform { expected: root, found: signer });
        }
        if self.measurement != *expected {
            return Err(Error::WrongMeasurement {
                expected: expected.0,
                found: self.measurement.0,
            });
        }
        Ok(())
    }
}

/// A trusted-execution platform: measures code, issues quotes, derives sealing secrets.
pub trait TeePlatform: Send + Sync + std::fmt::Debug {
    /// Platform kind, carried in quotes.
    fn kind(&self) -> &'static str;
    /// The address of the root key that signs this platform's quotes.
    fn root(&self) -> Address;
    /// Issues a quote binding `report_data` to `measurement`.
    ///
    /// # Errors
    /// [`Error::Sign`] if the root cannot sign.
    fn quote(&self, measurement: &Measurement, report_data: B256) -> Result<Quote>;
    /// A 32-byte secret unique to this platform and `measurement`, stable across restarts, from
    /// which an enclave derives its sealing key.
    fn sealing_secret(&self, measurement: &Measurement) -> [u8; 32];
}

/// A **simulated** TEE platform: a root secp256k1 key stands in for the vendor's attestation
/// key, and a platform secret for the CPU's sealing fuse. It gives no hardware isolation; it
/// exists so that the protocol around a TEE (quotes, measurement checks, sealed channels) is real
/// and testable, and an AWS Nitro or Intel TDX backend can replace it behind [`TeePlatform`].
#[derive(Debug, Clone)]
pub struct SimulatedTee {
    root: PrivateKeySigner,
    secret: B256,
}

/// Chain id of local dev chains (anvil, hardhat and the embedded chain).
pub const DEV_CHAIN_ID: u64 = 31_337;

impl SimulatedTee {
    /// The public dev seed: fixed so that dev runs have stable signer addresses, like anvil's dev
    /// mnemonic. Anyone can derive its root key, so quotes from it prove nothing.
    pub const DEV_SEED: B256 = B256::repeat_byte(0x5e);

    /// The platform for a node, agent or matcher on chain `chain_id`: `seed`, or
    /// [`SimulatedTee::DEV_SEED`] when none is given. The dev seed is refused on any chain but
    /// [`DEV_CHAIN_ID`] unless `allow_dev_seed` (the CLI's `--allow-dev-tee`) says so.
    ///
    /// # Errors
    /// [`Error::DevPlatform`].
    pub fn for_chain(seed: Option<B256>, chain_id: u64, allow_dev_seed: bool) -> Result<Self> {
        let seed = seed.unwrap_or(Self::DEV_SEED);
        if seed == Self::DEV_SEED && chain_id != DEV_CHAIN_ID && !allow_dev_seed {
            return Err(Error::DevPlatform { chain_id, dev: DEV_CHAIN_ID });
        }
        Ok(Self::from_seed(seed))
    }

    /// A platform with a fresh random root key and secret.
    pub fn new() -> Self {
        let root = PrivateKeySigner::random();
        let secret = keccak256(PrivateKeySigner::random().to_bytes());
        Self { root, secret }
    }

    /// A platform from a fixed 32-byte seed (reproducible runs and tests).
    pub fn from_seed(seed: B256) -> Self {
        let key = keccak256([b"shr-simulated-tee/root/".as_slice(), seed.as_slice()].concat());
        let root =
            PrivateKeySigner::from_bytes(&key).expect("a keccak output below the curve order");
        let secret = keccak256([b"shr-simulated-tee/secret/".as_slice(), seed.as_slice()].concat());
        Self { root, secret }
    }
}

impl Default for SimulatedTee {
    fn default() -> Self {
        Self::new()
    }
}

impl TeePlatform for SimulatedTee {
    fn kind(&self) -> &'static str {
        "simulated"
    }

    fn root(&self) -> Address {
        self.root.address()
    }

    fn quote(&self, measurement: &Measurement, report_data: B256) -> Result<Quote> {
        let digest = Quote::digest(self.kind(), measurement, &report_data);
        let signature = self.root.sign_hash_sync(&digest).map_err(Error::Sign)?;
        Ok(Quote {
            platform: self.kind().to_string(),
            measurement: *measurement,
            report_data,
            signature,
        })
    }

    fn sealing_secret(&self, measurement: &Measurement) -> [u8; 32] {
        keccak256([self.secret.as_slice(), measurement.0.as_slice()].concat()).0
    }
}
