//! A node's secrets: custodian API keys an operator gives the node once, kept only sealed at rest
//! to the node's enclave (the platform's sealing key for the node program), and written into a
//! request by template, as CRE's Confidential HTTP does (`{{secrets.NAME}}` in a header value or
//! the URL).
//!
//! A secret never appears in argv (`shr don secret` reads it from stdin), in the node directory
//! in the clear, in a log line or an error: a request is named by its template URL, never the
//! expanded one. On the simulated platform the host process holds the opened value while it
//! makes the request; a real TEE makes the TLS connection inside the enclave.

use std::collections::BTreeMap;

use shr_enclave::{Enclave, Sealed};

use crate::{Error, Result};

/// The HPKE context a secret named `name` is sealed under (a secret cannot be opened as another).
pub fn secret_info(name: &str) -> String {
    format!("shr/node-secret/v1/{name}")
}

/// Whether `name` can name a secret: 1-64 letters, digits, `-` and `_`.
pub fn valid_secret_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Seals secret `name` with `value` to `enclave`'s at-rest key.
///
/// # Errors
/// [`Error::Config`] for a name [`valid_secret_name`] refuses; [`Error::Enclave`].
pub fn seal_secret(enclave: &Enclave, name: &str, value: &[u8]) -> Result<Sealed> {
    if !valid_secret_name(name) {
        return Err(Error::Config(format!(
            "secret name {name:?}: use 1-64 letters, digits, `-` and `_`"
        )));
    }
    Ok(enclave.seal_at_rest(&secret_info(name), value)?)
}

/// The opened secrets a node's requests may use, by name. Its `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Opens secret `name` sealed to `enclave` and keeps it.
    ///
    /// # Errors
    /// [`Error::Enclave`] when `sealed` was sealed to another enclave or under another name;
    /// [`Error::Config`] when the value is not UTF-8 (naming the secret, not its value).
    pub fn open(&mut self, enclave: &Enclave, name: &str, sealed: &Sealed) -> Result<()> {
        let bytes = enclave.open_at_rest(&secret_info(name), sealed)?;
        let value = String::from_utf8(bytes)
            .map_err(|_| Error::Config(format!("secret {name}: not UTF-8 text")))?;
        self.0.insert(name.to_string(), value);
        Ok(())
    }

    /// Adds an opened secret (tests, and backends with their own store).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The names of the secrets `template` uses, in order.
    ///
    /// # Errors
    /// [`Error::Config`] for an unterminated `{{` or a placeholder other than `secrets.NAME`.
    pub fn names_in(template: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                Error::Config(format!("template {template:?}: `{{{{` without `}}}}`"))
            })?;
            let inner = after[..end].trim();
            let name = inner.strip_prefix("secrets.").filter(|n| valid_secret_name(n));
            let Some(name) = name else {
                return Err(Error::Config(format!(
                    "template {template:?}: placeholder {{{{{inner}}}}}: write {{{{secrets.NAME}}}}"
                )));
            };
            names.push(name.to_string());
            rest = &after[end + 2..];
        }
        Ok(names)
    }

    /// `template` with every `{{secrets.NAME}}` replaced by the secret's value.
    ///
    /// # Errors
    /// [`Error::Config`] naming a secret this node does not hold (`shr don secret`), or a
    /// malformed placeholder ([`Secrets::names_in`]). Never quotes a value.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        Self::names_in(template)?;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").unwrap_or(after.len());
            let name = after[..end].trim().trim_start_matches("secrets.");
            let value = self.0.get(name).ok_or_else(|| {
                Error::Config(format!(
                    "secret {name} is not in this node's directory (shr don secret --name {name})"
                ))
            })?;
            out.push_str(value);
            rest = after.get(end + 2..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use shr_enclave::SimulatedTee;

    use super::*;

    #[test]
    fn sealed_opened_and_expanded_without_quoting_a_value() {
        let tee = SimulatedTee::new();
        let enclave = Enclave::launch(&tee, crate::PROGRAM).unwrap();
        let sealed = seal_secret(&enclave, "cb_key", b"s3cr3t-v4lue").unwrap();
        assert!(!sealed.as_bytes().windows(12).any(|w| w == b"s3cr3t-v4lue"));
        let mut secrets = Secrets::default();
        // Sealed under one name, it does not open as another.
        assert!(secrets.open(&enclave, "other", &sealed).is_err());
        secrets.open(&enclave, "cb_key", &sealed).unwrap();
        assert_eq!(secrets.expand("Bearer {{secrets.cb_key}}").unwrap(), "Bearer s3cr3t-v4lue");
        assert_eq!(
            secrets.expand("https://x/por?k={{ secrets.cb_key }}&v=1").unwrap(),
            "https://x/por?k=s3cr3t-v4lue&v=1"
        );
        assert_eq!(secrets.expand("no placeholder").unwrap(), "no placeholder");
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        let e = secrets.expand("{{secrets.missing}}").unwrap_err().to_string();
        assert!(e.contains("missing") && !e.contains("s3cr3t"), "{e}");
        for bad in ["{{secrets.cb_key", "{{env.HOME}}", "{{secrets.a b}}"] {
            let e = secrets.expand(bad).unwrap_err().to_string();
            assert!(e.contains("template") && !e.contains("s3cr3t"), "{bad}: {e}");
        }
        assert!(seal_secret(&enclave, "../x", b"v").is_err());
        assert_eq!(Secrets::names_in("{{secrets.a}}-{{secrets.b}}").unwrap(), ["a", "b"]);
    }

    #[test]
    fn another_enclave_cannot_open_it() {
        let a = Enclave::launch(&SimulatedTee::new(), crate::PROGRAM).unwrap();
        let other = SimulatedTee::from_seed(alloy::primitives::B256::repeat_byte(7));
        let b = Enclave::launch(&other, crate::PROGRAM).unwrap();
        let sealed = seal_secret(&a, "k", b"v").unwrap();
        assert!(Secrets::default().open(&b, "k", &sealed).is_err());
    }
}
