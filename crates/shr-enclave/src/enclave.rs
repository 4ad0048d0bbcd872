//! An enclave instance: keys generated inside, a quote binding them, HPKE and sealing.

use alloy::{
    primitives::{Address, B256, Signature, keccak256},
    signers::local::PrivateKeySigner,
};

use crate::{
    Error, HpkePublicKey, Measurement, Quote, Result, Sealed, TeePlatform,
    hpke_box::{self, Kem},
};

type HpkeSecret = <Kem as hpke::Kem>::PrivateKey;

/// What an enclave shows the world: its public keys and the quote that binds them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnclaveIdentity {
    /// Address of the enclave's secp256k1 signing key.
    pub signer: Address,
    /// The enclave's X25519 HPKE public key.
    pub hpke: HpkePublicKey,
    /// The platform's quote; `report_data = keccak256(signer ‖ hpke)`.
    pub quote: Quote,
}

impl EnclaveIdentity {
    /// The report data an honest quote carries for these keys.
    pub fn report_data(signer: Address, hpke: &HpkePublicKey) -> B256 {
        keccak256([signer.as_slice(), hpke.0.as_slice()].concat())
    }

    /// Verifies the quote against the platform `root` and `expected` measurement, and that it
    /// binds these keys.
    ///
    /// # Errors
    /// [`Error::UntrustedPlatform`], [`Error::WrongMeasurement`] or [`Error::KeysNotBound`].
    pub fn verify(&self, root: Address, expected: &Measurement) -> Result<()> {
        self.quote.verify(root, expected)?;
        if self.quote.report_data != Self::report_data(self.signer, &self.hpke) {
            return Err(Error::KeysNotBound);
        }
        Ok(())
    }
}

/// HPKE context of an enclave's key seed sealed at rest ([`Enclave::launch_sealed`]).
pub const KEY_SEED_INFO: &str = "shr/enclave-key-seed/v1";

/// An enclave running one program on a [`TeePlatform`] (simulated here).
///
/// Its secret keys never leave it: the API returns only signatures, public keys and sealed blobs,
/// plus the plaintext of [`Enclave::open`] and [`Enclave::open_at_rest`] to the enclave program
/// that owns this value (the code that a real TEE would measure).
pub struct Enclave {
    measurement: Measurement,
    /// The secp256k1 signing key (libsecp256k1 signs with it).
    sk: secp256k1::SecretKey,
    hpke_sk: HpkeSecret,
    identity: EnclaveIdentity,
    rest_sk: HpkeSecret,
    rest_pk: HpkePublicKey,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("measurement", &self.measurement)
            .field("signer", &self.identity.signer)
            .finish_non_exhaustive()
    }
}

impl Enclave {
    /// Launches `program` on `platform`: measures it, generates its keys and obtains a quote.
    ///
    /// # Errors
    /// [`Error::Sign`] if the platform cannot issue the quote.
    pub fn launch(platform: &dyn TeePlatform, program: &str) -> Result<Self> {
        let measurement = Measurement::of_program(program);
        let signer = PrivateKeySigner::random();
        let (hpke_sk, hpke) = hpke_box::generate();
        let quote =
            platform.quote(&measurement, EnclaveIdentity::report_data(signer.address(), &hpke))?;
        let identity = EnclaveIdentity { signer: signer.address(), hpke, quote };
        let (rest_sk, rest_pk) = hpke_box::derive(&platform.sealing_secret(&measurement));
        let sk = secret_key(&signer)?;
        Ok(Self { measurement, sk, hpke_sk, identity, rest_sk, rest_pk })
    }

    /// Launches instance `instance` of `program` with keys derived from the platform's sealing
    /// secret for this measurement: a restarted instance comes back with the same keys, as a
    /// real enclave does by unsealing its key file. Distinct instances have distinct keys.
    ///
    /// # Errors
    /// [`Error::Sign`] if the platform cannot issue the quote.
    pub fn launch_instance(
        platform: &dyn TeePlatform,
        program: &str,
        instance: u32,
    ) -> Result<Self> {
        let measurement = Measurement::of_program(program);
        let secret = platform.sealing_secret(&measurement);
        let seed = [secret.as_slice(), b"/instance/", &instance.to_be_bytes()].concat();
        Self::from_key_seed(platform, measurement, &seed)
    }

    /// Launches `program` with keys derived from 32 random bytes drawn inside the enclave, and
    /// returns them sealed at rest ([`KEY_SEED_INFO`]) for [`Enclave::restore`]: a node's
    /// identity that survives restarts and that only the same program on the same platform can
    /// unseal (`shr don init`).
    ///
    /// # Errors
    /// [`Error::Sign`] if the platform cannot issue the quote; [`Error::Hpke`].
    pub fn launch_sealed(platform: &dyn TeePlatform, program: &str) -> Result<(Self, Sealed)> {
        let seed = B256::random();
        let enclave = Self::from_key_seed(platform, Measurement::of_program(program), &seed.0)?;
        let sealed = enclave.seal_at_rest(KEY_SEED_INFO, seed.as_slice())?;
        Ok((enclave, sealed))
    }

    /// Re-launches `program` with the keys [`Enclave::launch_sealed`] sealed.
    ///
    /// # Errors
    /// [`Error::Hpke`] when `sealed` was sealed by another program or platform, or tampered;
    /// [`Error::BadPadding`] when it does not hold a 32-byte seed; [`Error::Sign`].
    pub fn restore(platform: &dyn TeePlatform, program: &str, sealed: &Sealed) -> Result<Self> {
        let measurement = Measurement::of_program(program);
        let (rest_sk, _) = hpke_box::derive(&platform.sealing_secret(&measurement));
        let seed = hpke_box::open(&rest_sk, KEY_SEED_INFO, sealed)?;
        if seed.len() != 32 {
            return Err(Error::BadPadding { info: KEY_SEED_INFO.to_string() });
        }
        Self::from_key_seed(platform, measurement, &seed)
    }

    /// Keys derived from `seed` (secp256k1 by keccak, retried until in range; HPKE by RFC 9180
    /// `DeriveKeyPair`), quoted by `platform`.
    fn from_key_seed(
        platform: &dyn TeePlatform,
        measurement: Measurement,
        seed: &[u8],
    ) -> Result<Self> {
        let ikm = |purpose: &[u8]| [seed, purpose].concat();
        let mut key = keccak256(ikm(b"/secp256k1"));
        let signer = loop {
            match PrivateKeySigner::from_bytes(&key) {
                Ok(s) => break s,
                Err(_) => key = keccak256(key),
            }
        };
        let (hpke_sk, hpke) = hpke_box::derive(&ikm(b"/hpke"));
        let quote =
            platform.quote(&measurement, EnclaveIdentity::report_data(signer.address(), &hpke))?;
        let identity = EnclaveIdentity { signer: signer.address(), hpke, quote };
        let (rest_sk, rest_pk) = hpke_box::derive(&platform.sealing_secret(&measurement));
        let sk = secret_key(&signer)?;
        Ok(Self { measurement, sk, hpke_sk, identity, rest_sk, rest_pk })
    }

    /// The enclave's measurement.
    pub fn measurement(&self) -> &Measurement {
        &self.measurement
    }

    /// Public keys and quote.
    pub fn identity(&self) -> &EnclaveIdentity {
        &self.identity
    }

    /// A fresh quote from `platform` over `report_data` for this enclave's measurement: what an
    /// enclave asks its platform for when a verifier wants the quote bound to more than its keys
    /// (a chain, a contract, an expiry). The caller builds `report_data` from this enclave's
    /// public keys; the platform signs only what the enclave hands it.
    ///
    /// # Errors
    /// [`Error::Sign`] if the platform cannot issue the quote.
    pub fn quote_for(&self, platform: &dyn TeePlatform, report_data: B256) -> Result<Quote> {
        platform.quote(&self.measurement, report_data)
    }

    /// Signs a 32-byte digest as is (no EIP-191 prefix) with the enclave's secp256k1 key.
    ///
    /// # Errors
    /// [`Error::Sign`].
    pub fn sign_digest(&self, digest: &B256) -> Result<Signature> {
        // libsecp256k1: RFC 6979 nonces and low s, as k256 (the same bytes: tested).
        let sig = secp256k1::SECP256K1
            .sign_ecdsa_recoverable(secp256k1::Message::from_digest(digest.0), &self.sk);
        let (id, rs) = sig.serialize_compact();
        Ok(Signature::from_bytes_and_parity(&rs, i32::from(id) & 1 == 1))
    }

    /// Opens a blob sealed to this enclave's HPKE key for context `info`.
    ///
    /// # Errors
    /// [`Error::Hpke`] for another key, another context or a tampered blob.
    pub fn open(&self, info: &str, sealed: &Sealed) -> Result<Vec<u8>> {
        hpke_box::open(&self.hpke_sk, info, sealed)
    }

    /// Seals `plaintext` for storage outside the enclave. The key is derived (RFC 9180
    /// `DeriveKeyPair`) from the platform's sealing secret for this measurement, so any instance
    /// of the same program on the same platform, and only those, can open it after a restart.
    ///
    /// # Errors
    /// [`Error::Hpke`].
    pub fn seal_at_rest(&self, info: &str, plaintext: &[u8]) -> Result<Sealed> {
        hpke_box::seal(&self.rest_pk, info, plaintext)
    }

    /// Opens what [`Enclave::seal_at_rest`] sealed.
    ///
    /// # Errors
    /// [`Error::Hpke`].
    pub fn open_at_rest(&self, info: &str, sealed: &Sealed) -> Result<Vec<u8>> {
        hpke_box::open(&self.rest_sk, info, sealed)
    }
}

/// The libsecp256k1 form of a signer's key.
fn secret_key(signer: &PrivateKeySigner) -> Result<secp256k1::SecretKey> {
    secp256k1::SecretKey::from_byte_array(signer.credential().to_bytes().into())
        .map_err(|_| Error::Sign(alloy::signers::Error::message("secp256k1 key out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimulatedTee, seal};

    #[test]
    fn quote_binds_keys_and_measurement() {
        let tee = SimulatedTee::new();
        let e = Enclave::launch(&tee, "prog@1").unwrap();
        let m = Measurement::of_program("prog@1");
        e.identity().verify(tee.root(), &m).unwrap();
        let err = e.identity().verify(tee.root(), &Measurement::of_program("prog@2")).unwrap_err();
        assert!(matches!(err, Error::WrongMeasurement { .. }), "{err}");
        let other = SimulatedTee::new();
        let err = e.identity().verify(other.root(), &m).unwrap_err();
        assert!(matches!(err, Error::UntrustedPlatform { .. }), "{err}");
        let mut forged = e.identity().clone();
        forged.signer = Address::repeat_byte(1);
        assert!(matches!(forged.verify(tee.root(), &m).unwrap_err(), Error::KeysNotBound));
    }

    #[test]
    fn sealed_keys_come_back_only_for_the_same_program_on_the_same_platform() {
        let tee = SimulatedTee::new();
        let (e, sealed) = Enclave::launch_sealed(&tee, "node@1").unwrap();
        let again = Enclave::restore(&tee, "node@1", &sealed).unwrap();
        assert_eq!(again.identity().signer, e.identity().signer);
        assert_eq!(again.identity().hpke, e.identity().hpke);
        again.identity().verify(tee.root(), &Measurement::of_program("node@1")).unwrap();
        let (other, _) = Enclave::launch_sealed(&tee, "node@1").unwrap();
        assert_ne!(other.identity().signer, e.identity().signer, "fresh keys per launch");
        assert!(Enclave::restore(&tee, "node@2", &sealed).is_err(), "another program");
        assert!(
            Enclave::restore(&SimulatedTee::new(), "node@1", &sealed).is_err(),
            "another platform"
        );
        let mut tampered = sealed.clone();
        tampered.0[40] ^= 1;
        assert!(Enclave::restore(&tee, "node@1", &tampered).is_err());
    }

    #[test]
    fn hpke_round_trip_and_context_binding() {
        let tee = SimulatedTee::new();
        let e = Enclave::launch(&tee, "prog@1").unwrap();
        let blob = seal(&e.identity().hpke, "ctx/a", b"150000.5").unwrap();
        assert_eq!(e.open("ctx/a", &blob).unwrap(), b"150000.5");
        assert!(e.open("ctx/b", &blob).is_err(), "another context must not open");
        let mut tampered = blob.clone();
        *tampered.0.last_mut().unwrap() ^= 1;
        assert!(e.open("ctx/a", &tampered).is_err(), "a tampered blob must not open");
        let other = Enclave::launch(&tee, "prog@1").unwrap();
        assert!(other.open("ctx/a", &blob).is_err(), "another enclave's key must not open");
        assert!(matches!(
            e.open("ctx/a", &Sealed(vec![1, 2])).unwrap_err(),
            Error::Truncated { len: 2 }
        ));
    }

    #[test]
    fn sealing_at_rest_survives_restart_of_the_same_program_only() {
        let tee = SimulatedTee::from_seed(B256::repeat_byte(7));
        let a = Enclave::launch(&tee, "prog@1").unwrap();
        let blob = a.seal_at_rest("rest", b"secret").unwrap();
        let restarted = Enclave::launch(&tee, "prog@1").unwrap();
        assert_eq!(restarted.open_at_rest("rest", &blob).unwrap(), b"secret");
        let other = Enclave::launch(&tee, "other@1").unwrap();
        assert!(other.open_at_rest("rest", &blob).is_err());
    }

    #[test]
    fn instances_restart_with_their_keys() {
        let tee = SimulatedTee::from_seed(B256::repeat_byte(1));
        let a = Enclave::launch_instance(&tee, "p", 0).unwrap();
        let again = Enclave::launch_instance(&tee, "p", 0).unwrap();
        let b = Enclave::launch_instance(&tee, "p", 1).unwrap();
        assert_eq!(a.identity().signer, again.identity().signer);
        assert_eq!(a.identity().hpke, again.identity().hpke);
        assert_ne!(a.identity().signer, b.identity().signer);
        a.identity().verify(tee.root(), &Measurement::of_program("p")).unwrap();
    }

    #[test]
    fn libsecp256k1_signs_the_bytes_k256_signs() {
        // The enclave signs with libsecp256k1; k256 (alloy's local signer) is the reference:
        // the same RFC 6979 nonce and low s give the same 65 bytes, so reports, observations
        // and notices are unchanged by the switch.
        use alloy::signers::SignerSync;
        let tee = SimulatedTee::new();
        for i in 0..64u32 {
            let e = Enclave::launch_instance(&tee, "p", i).unwrap();
            let d = keccak256(i.to_be_bytes());
            let k256 = PrivateKeySigner::from_bytes(&B256::from(e.sk.secret_bytes())).unwrap();
            assert_eq!(k256.address(), e.identity().signer);
            assert_eq!(e.sign_digest(&d).unwrap(), k256.sign_hash_sync(&d).unwrap(), "key {i}");
        }
    }

    #[test]
    fn signatures_recover_to_the_identity() {
        let tee = SimulatedTee::new();
        let e = Enclave::launch(&tee, "p").unwrap();
        let d = keccak256(b"report");
        let sig = e.sign_digest(&d).unwrap();
        assert_eq!(sig.recover_address_from_prehash(&d).unwrap(), e.identity().signer);
    }
}
