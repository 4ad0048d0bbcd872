//! A node's secrets: custodian API keys an operator gives the node once, kept only sealed at rest
//! to the node's enclave (the platform's sealing key for the node program), and written into a
//! request by template, as CRE's Confidential HTTP does (`{{secrets.NAME}}` in a header value or
//! the URL).
//!
//! A secret never appears in argv (`shr don secret` reads it from stdin), in the node directory
//! in the clear, in a log line or an error: a request is named by its template URL, never the
//! expanded one. A secret is sealed with the one origin (`scheme://host[:port]`) it may be sent
//! to: a feeds file naming it for another host (`https://evil/?k={{secrets.key}}`) is refused,
//! placeholders may not stand in the scheme or host, requests carrying secrets follow no
//! redirect, and a value in the URL is percent-encoded. On the simulated platform the host
//! process holds the opened value while it makes the request; a real TEE makes the TLS
//! connection inside the enclave.

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

/// The origin (`scheme://host[:port]`, lower-case) of `url`: what a secret is bound to.
///
/// # Errors
/// [`Error::Config`] for a URL that is not `http(s)://HOST...`, or whose scheme or host holds a
/// `{{` placeholder.
pub fn origin_of(url: &str) -> Result<String> {
    let bad = |why: &str| Error::Config(format!("URL {url:?}: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not scheme://host"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("use http:// or https://"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains("{{") || authority.contains('@') {
        return Err(bad("the host may hold no placeholder and no user info"));
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Seals secret `name` with `value` to `enclave`'s at-rest key, bound to `origin` (the only
/// `scheme://host[:port]` it may be sent to; plain `http://` only to a loopback host).
///
/// # Errors
/// [`Error::Config`] for a name [`valid_secret_name`] refuses or an origin [`origin_of`]
/// refuses; [`Error::Enclave`].
pub fn seal_secret(enclave: &Enclave, name: &str, origin: &str, value: &[u8]) -> Result<Sealed> {
    if !valid_secret_name(name) {
        return Err(Error::Config(format!(
            "secret name {name:?}: use 1-64 letters, digits, `-` and `_`"
        )));
    }
    let origin = origin_of(origin)?;
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    if origin.starts_with("http://")
        && !loopback.iter().any(|l| origin == *l || origin.starts_with(&format!("{l}:")))
    {
        return Err(Error::Config(format!(
            "origin {origin}: a secret goes over https:// only (http:// to a loopback host)"
        )));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| Error::Config(format!("secret {name}: not UTF-8 text")))?;
    let sealed = serde_json::to_vec(&serde_json::json!({ "origin": origin, "value": value }))
        .map_err(Error::Json)?;
    Ok(enclave.seal_at_rest(&secret_info(name), &sealed)?)
}

/// An opened secret: its value and the origin it may go to.
#[derive(Clone, serde::Deserialize)]
struct Secret {
    origin: String,
    value: String,
}

/// The opened secrets a node's requests may use, by name. Its `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Secret>);

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
        let secret: Secret = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Config(format!("secret {name}: not a sealed secret")))?;
        self.0.insert(name.to_string(), secret);
        Ok(())
    }

    /// Adds an opened secret bound to `origin` (tests, and backends with their own store).
    ///
    /// # Errors
    /// [`Error::Config`] for an origin [`origin_of`] refuses.
    pub fn insert(&mut self, name: &str, origin: &str, value: &str) -> Result<()> {
        let secret = Secret { origin: origin_of(origin)?, value: value.to_string() };
        self.0.insert(name.to_string(), secret);
        Ok(())
    }

    /// Whether `template` (a URL or a header value) names any secret.
    pub fn used_in(template: &str) -> bool {
        template.contains("{{")
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

    /// `template` with every `{{secrets.NAME}}` replaced by the secret's value, for a request
    /// to `origin` ([`origin_of`] the request URL); `in_url` percent-encodes the values.
    ///
    /// # Errors
    /// [`Error::Config`] naming a secret this node does not hold (`shr don secret`), one bound
    /// to another origin, or a malformed placeholder ([`Secrets::names_in`]). Never quotes a
    /// value.
    pub fn expand(&self, template: &str, origin: &str, in_url: bool) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        Self::names_in(template)?;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").unwrap_or(after.len());
            let name = after[..end].trim().trim_start_matches("secrets.");
            let secret = self.0.get(name).ok_or_else(|| {
                Error::Config(format!(
                    "secret {name} is not in this node's directory (shr don secret --name {name})"
                ))
            })?;
            if secret.origin != origin {
                return Err(Error::Config(format!(
                    "secret {name} is sealed for {}, not {origin}",
                    secret.origin
                )));
            }
            if in_url {
                out.extend(url::form_urlencoded::byte_serialize(secret.value.as_bytes()));
            } else {
                out.push_str(&secret.value);
            }
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

    const API: &str = "https://api.custodian.example";

    #[test]
    fn sealed_opened_and_expanded_without_quoting_a_value() {
        let tee = SimulatedTee::new();
        let enclave = Enclave::launch(&tee, crate::PROGRAM).unwrap();
        let sealed = seal_secret(&enclave, "cb_key", API, b"s3cr3t v4lue&x").unwrap();
        assert!(!sealed.as_bytes().windows(6).any(|w| w == b"s3cr3t"));
        let mut secrets = Secrets::default();
        // Sealed under one name, it does not open as another.
        assert!(secrets.open(&enclave, "other", &sealed).is_err());
        secrets.open(&enclave, "cb_key", &sealed).unwrap();
        let api = origin_of(API).unwrap();
        assert_eq!(
            secrets.expand("Bearer {{secrets.cb_key}}", &api, false).unwrap(),
            "Bearer s3cr3t v4lue&x"
        );
        // In a URL the value is percent-encoded: it cannot add a parameter.
        assert_eq!(
            secrets.expand("https://x/por?k={{ secrets.cb_key }}&v=1", &api, true).unwrap(),
            "https://x/por?k=s3cr3t+v4lue%26x&v=1"
        );
        assert_eq!(secrets.expand("no placeholder", &api, false).unwrap(), "no placeholder");
        assert!(!format!("{secrets:?}").contains("s3cr3t"));
        let e = secrets.expand("{{secrets.missing}}", &api, false).unwrap_err().to_string();
        assert!(e.contains("missing") && !e.contains("s3cr3t"), "{e}");
        for bad in ["{{secrets.cb_key", "{{env.HOME}}", "{{secrets.a b}}", "}}{{", "{{ü}}"] {
            let e = secrets.expand(bad, &api, false).unwrap_err().to_string();
            assert!(e.contains("template") && !e.contains("s3cr3t"), "{bad}: {e}");
        }
        assert!(seal_secret(&enclave, "../x", API, b"v").is_err());
        assert_eq!(Secrets::names_in("{{secrets.a}}-{{secrets.b}}").unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_secret_goes_only_to_its_origin() {
        let enclave = Enclave::launch(&SimulatedTee::new(), crate::PROGRAM).unwrap();
        let mut secrets = Secrets::default();
        let sealed = seal_secret(&enclave, "k", API, b"v").unwrap();
        secrets.open(&enclave, "k", &sealed).unwrap();
        // A feeds file sending it elsewhere, or through the host, is refused.
        let evil = origin_of("https://evil.example/?k={{secrets.k}}").unwrap();
        let e = secrets.expand("?k={{secrets.k}}", &evil, true).unwrap_err().to_string();
        assert!(e.contains("sealed for https://api.custodian.example"), "{e}");
        assert!(origin_of("https://{{secrets.k}}.evil/x").is_err());
        assert!(origin_of("https://user@{{secrets.k}}/").is_err());
        assert!(origin_of("ftp://x/").is_err());
        assert_eq!(
            origin_of("HTTPS://Api.Custodian.Example:443/por?x").unwrap(),
            format!("{API}:443")
        );
        // Plain http only to a loopback host.
        assert!(seal_secret(&enclave, "k", "http://api.custodian.example", b"v").is_err());
        assert!(seal_secret(&enclave, "k", "http://127.0.0.1:8080", b"v").is_ok());
    }

    #[test]
    fn another_enclave_cannot_open_it() {
        let a = Enclave::launch(&SimulatedTee::new(), crate::PROGRAM).unwrap();
        let other = SimulatedTee::from_seed(alloy::primitives::B256::repeat_byte(7));
        let b = Enclave::launch(&other, crate::PROGRAM).unwrap();
        let sealed = seal_secret(&a, "k", API, b"v").unwrap();
        assert!(Secrets::default().open(&b, "k", &sealed).is_err());
    }
}
