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

/// Plaintext size classes, bytes: [`seal`] pads a message (with its 4-byte length prefix) to the
/// smallest class that holds it, beyond the last to a multiple of it, so a ciphertext's length
/// tells only its class. Message kinds that cross a public place use [`seal_sized`] with a fixed
/// size of their own instead (one length for every message of the kind).
pub const SIZE_CLASSES: [usize; 8] = [256, 512, 1_024, 2_048, 4_096, 8_192, 16_384, 65_536];

/// Length prefix of the padded plaintext, bytes.
const LEN_PREFIX: usize = 4;
/// HPKE overhead of a sealed message: the encapsulated key (32) and the AEAD tag (16), bytes.
pub const SEAL_OVERHEAD: usize = ENC_LEN + 16;

fn class_of(n: usize) -> usize {
    let last = SIZE_CLASSES[SIZE_CLASSES.len() - 1];
    SIZE_CLASSES.iter().copied().find(|c| *c >= n).unwrap_or_else(|| n.div_ceil(last) * last)
}

/// Seals `plaintext` to `recipient` for the context `info` (base mode, no sender
/// authentication), padded to its size class ([`SIZE_CLASSES`]).
///
/// `info` binds the purpose (e.g. `shr/deficit/v1`): a blob opens only under the same string.
///
/// # Errors
/// [`Error::InvalidPublicKey`] for a key not on the curve; [`Error::Hpke`] otherwise.
pub fn seal(recipient: &HpkePublicKey, info: &str, plaintext: &[u8]) -> Result<Sealed> {
    seal_padded(recipient, info, plaintext, class_of(plaintext.len() + LEN_PREFIX))
}

/// Seals `plaintext` padded to exactly `size` bytes (its 4-byte length prefix included): every
/// message of a kind sealed with the kind's size has the same ciphertext length
/// (`size + SEAL_OVERHEAD`), whatever it says.
///
/// # Errors
/// [`Error::TooLarge`] when the plaintext does not fit; as [`seal`] otherwise.
pub fn seal_sized(
    recipient: &HpkePublicKey,
    info: &str,
    plaintext: &[u8],
    size: usize,
) -> Result<Sealed> {
    if plaintext.len() + LEN_PREFIX > size {
        return Err(Error::TooLarge { info: info.to_string(), size });
    }
    seal_padded(recipient, info, plaintext, size)
}

fn seal_padded(
    recipient: &HpkePublicKey,
    info: &str,
    plaintext: &[u8],
    size: usize,
) -> Result<Sealed> {
    let len = u32::try_from(plaintext.len())
        .map_err(|_| Error::TooLarge { info: info.to_string(), size: u32::MAX as usize })?;
    let mut padded = Vec::with_capacity(size);
    padded.extend_from_slice(&len.to_be_bytes());
    padded.extend_from_slice(plaintext);
    padded.resize(size, 0);
    let plaintext = padded.as_slice();
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

/// Opens `sealed` with `sk` for the context `info`, and strips the padding.
pub(crate) fn open(sk: &PrivateKey, info: &str, sealed: &Sealed) -> Result<Vec<u8>> {
    let padded = open_padded(sk, info, sealed)?;
    let bad = || Error::BadPadding { info: info.to_string() };
    let prefix: [u8; LEN_PREFIX] =
        padded.get(..LEN_PREFIX).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
    let len = u32::from_be_bytes(prefix) as usize;
    let body = padded.get(LEN_PREFIX..LEN_PREFIX + len).ok_or_else(bad)?;
    Ok(body.to_vec())
}

fn open_padded(sk: &PrivateKey, info: &str, sealed: &Sealed) -> Result<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_hides_the_length_within_a_class_or_a_fixed_size() {
        let (sk, pk) = generate();
        let short = seal(&pk, "ctx", b"7").unwrap();
        let long = seal(&pk, "ctx", &[b'9'; 200]).unwrap();
        assert_eq!(short.as_bytes().len(), long.as_bytes().len(), "one class: 256");
        assert_eq!(short.as_bytes().len(), 256 + SEAL_OVERHEAD);
        assert_eq!(open(&sk, "ctx", &long).unwrap(), vec![b'9'; 200]);
        let big = seal(&pk, "ctx", &[1u8; 70_000]).unwrap();
        assert_eq!(big.as_bytes().len(), 2 * 65_536 + SEAL_OVERHEAD);
        let a = seal_sized(&pk, "ctx", b"1", 1_024).unwrap();
        let b = seal_sized(&pk, "ctx", &[b'x'; 1_000], 1_024).unwrap();
        assert_eq!(a.as_bytes().len(), b.as_bytes().len());
        assert_eq!(open(&sk, "ctx", &b).unwrap(), vec![b'x'; 1_000]);
        assert!(matches!(
            seal_sized(&pk, "ctx", &[0u8; 1_021], 1_024),
            Err(Error::TooLarge { size: 1_024, .. })
        ));
    }
}
