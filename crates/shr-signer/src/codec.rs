//! CBOR (RFC 8949, `ciborium`) for everything on the bus: byte strings stay bytes (no hex or
//! number arrays), so the largest key-generation message fits NATS's default 1 MiB payload.

use serde::{Serialize, de::DeserializeOwned};

use crate::{Error, Result};

/// Encodes `v` as CBOR.
///
/// # Errors
/// [`Error::Encode`].
pub(crate) fn to_cbor<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(Error::Encode)?;
    Ok(out)
}

/// Decodes CBOR bytes.
///
/// # Errors
/// The decoder's error.
pub(crate) fn from_cbor<T: DeserializeOwned>(
    bytes: &[u8],
) -> std::result::Result<T, ciborium::de::Error<std::io::Error>> {
    ciborium::from_reader(bytes)
}
