//! HPKE (RFC 9180) sealing to an X25519 public key.

use hpke::{
    Deserializable, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305, kdf::HkdfSha256,
    kem::X25519HkdfSha256,
};

use crate::{Error, Result};

pub(crate) type Kem = X25519HkdfSha256;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
const ENC_LEN: usize = 32;

/// An X25519 HPKE public key, 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HpkePublicKey(pub [u8; 32]);

impl HpkePublicKey {
    fn parse(&self) -> Result<<Kem as hpke::Kem>::PublicKey> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0)
            .map_err(|_| Error::InvalidPublicKey { len: 32 })
    }
}

impl std::fmt::Display for HpkePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", alloy::primitives::hex::encode_prefixed(self.0))
    }
}

/// An HPKE ciphertext: the encapsulated key (32 bytes) followed by the AEAD ciphertext and tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sealed(pub Vec<u8>);

impl Sealed {
    /// The bytes, for storage or transport.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Seals `plaintext` to `recipient` for the context `info` (base mode, no sender authentication).
///
/// `info` binds the purpose (e.g. `shr/deficit/v1`): a blob opens only under the same string.
///
/// # Errors
/// [`Error::InvalidPublicKey`] for a key not on the curve; [`Error::Hpke`] otherwise.
pub fn seal(recipient: &HpkePublicKey, info: &str, plaintext: &[u8]) -> Result<Sealed> {
    let pk = recipient.parse()?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info.as_bytes(),
        plaintext,
        b"",
    )
    .map_err(|source| Error::Hpke { op: "seal", info: info.to_string(), source })?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(Sealed(out))
}

/// Opens `sealed` with `sk` for the context `info`.
pub(crate) fn open(sk: &PrivateKey, info: &str, sealed: &Sealed) -> Result<Vec<u8>> {
    let bytes = sealed.as_bytes();
    if bytes.len() < ENC_LEN {
        return Err(Error::Truncated { len: bytes.len() });
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&bytes[..ENC_LEN])
        .map_err(|source| Error::Hpke { op: "open", info: info.to_string(), source })?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        sk,
        &enc,
        info.as_bytes(),
        &bytes[ENC_LEN..],
        b"",
    )
    .map_err(|source| Error::Hpke { op: "open", info: info.to_string(), source })
}

/// A fresh key pair (from the OS random source).
pub(crate) fn generate() -> (PrivateKey, HpkePublicKey) {
    let (sk, pk) = <Kem as hpke::Kem>::gen_keypair();
    (sk, HpkePublicKey(pk.to_bytes().into()))
}

/// A key pair derived from input keying material (RFC 9180 `DeriveKeyPair`).
pub(crate) fn derive(ikm: &[u8]) -> (PrivateKey, HpkePublicKey) {
    let (sk, pk) = <Kem as hpke::Kem>::derive_keypair(ikm);
    (sk, HpkePublicKey(pk.to_bytes().into()))
}
