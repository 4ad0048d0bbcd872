//! Where a custodian's proof-of-reserve body keeps each datum: a top-level field name or an
//! RFC 6901 JSON Pointer (`/reservesTotal/amount`), set one datum at a time from `NAME=POINTER`
//! specs (`--por-field`), and the built-in profiles of the formats the project ships in
//! `data/por/` (`--por-profile`).

use serde_json::Value;

use crate::{Error, PorFields, Result};

/// The built-in profiles: `chainlink-por` (the field names of Chainlink's PoR external adapters,
/// the default) and `the-network-firm` (LedgerLens / The Network Firm's attestation API,
/// `data/por/the-network-firm.json`: `totalReserve`, `totalToken`, an RFC 3339 `timestamp`,
/// `ripcord`, or per-account totals under `accounts`).
pub const POR_PROFILES: [&str; 2] = ["chainlink-por", "the-network-firm"];

impl PorFields {
    /// The built-in profile `name` (one of [`POR_PROFILES`]).
    ///
    /// # Errors
    /// [`Error::FieldSpec`] naming an unknown profile and the known ones.
    pub fn profile(name: &str) -> Result<Self> {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match name {
            "chainlink-por" => Ok(Self::default()),
            "the-network-firm" => Ok(Self {
                reserves: v(&["totalReserve"]),
                liabilities: v(&["totalToken"]),
                time: v(&["timestamp"]),
                ripcord: "ripcord".into(),
                supply_on_chain: false,
            }),
            other => Err(Error::FieldSpec {
                spec: other.to_string(),
                why: "unknown profile (chainlink-por, the-network-firm)",
            }),
        }
    }

    /// Sets one datum from `NAME=POINTER`: NAME is `reserves`, `supply` (the liabilities),
    /// `time` or `ripcord`; POINTER an RFC 6901 JSON Pointer (`/reservesTotal/amount`, `~1`
    /// for `/` and `~0` for `~` inside a key) or a top-level field name. The datum is then read
    /// from there only. `supply=chain` takes the liabilities from the token's ERC-20
    /// `totalSupply` on the deployment's chain instead of the body.
    ///
    /// # Errors
    /// [`Error::FieldSpec`] naming the spec: no `=`, an unknown NAME, an empty POINTER, or a
    /// pointer with a `~` not followed by `0` or `1`.
    pub fn set(&mut self, spec: &str) -> Result<()> {
        let bad = |why| Error::FieldSpec { spec: spec.to_string(), why };
        let (name, pointer) = spec.split_once('=').ok_or_else(|| bad("expected NAME=POINTER"))?;
        let pointer = pointer.trim();
        if pointer.is_empty() {
            return Err(bad("empty pointer"));
        }
        if pointer.starts_with('/') && !escapes_are_valid(pointer) {
            return Err(bad("a `~` in a JSON Pointer must be `~0` or `~1` (RFC 6901)"));
        }
        let p = pointer.to_string();
        if matches!(name.trim(), "supply" | "liabilities") && pointer == "chain" {
            self.liabilities.clear();
            self.supply_on_chain = true;
            return Ok(());
        }
        match name.trim() {
            "reserves" => self.reserves = vec![p],
            "supply" | "liabilities" => {
                self.liabilities = vec![p];
                self.supply_on_chain = false;
            }
            "time" => self.time = vec![p],
            "ripcord" => self.ripcord = p,
            _ => return Err(bad("NAME must be reserves, supply, time or ripcord")),
        }
        Ok(())
    }

    /// [`PorFields::profile`] (default `chainlink-por`) with each of `specs` applied
    /// ([`PorFields::set`]).
    ///
    /// # Errors
    /// Those of [`PorFields::profile`] and [`PorFields::set`].
    pub fn from_specs(profile: Option<&str>, specs: &[String]) -> Result<Self> {
        let mut f = Self::profile(profile.unwrap_or("chainlink-por"))?;
        for s in specs {
            f.set(s)?;
        }
        Ok(f)
    }
}

fn escapes_are_valid(pointer: &str) -> bool {
    let b = pointer.as_bytes();
    b.iter().enumerate().all(|(i, c)| *c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

/// The value at `key` in `v`: an RFC 6901 pointer when `key` starts with `/`, else a top-level
/// field.
pub(crate) fn lookup<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    if key.starts_with('/') { v.pointer(key) } else { v.get(key) }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use super::*;
    use crate::parse_por_json;

    /// The shape of Coinbase's cbBTC proof-of-reserve API as the issue describes it (amounts as
    /// decimal strings nested under `reservesTotal.amount`); the numbers are made up.
    const NESTED: &[u8] = br#"{"reservesTotal": {"amount": "12345.67890123", "unit": "BTC"},
        "wrappedAssetsTotal": {"amount": "12000.5"}, "lastUpdatedAt": "2026-11-01T00:00:00Z",
        "flags": {"ripcord": false}}"#;

    #[test]
    fn pointers_read_nested_decimal_strings() {
        let specs: Vec<String> = [
            "reserves=/reservesTotal/amount",
            "supply=/wrappedAssetsTotal/amount",
            "time=/lastUpdatedAt",
            "ripcord=/flags/ripcord",
        ]
        .map(String::from)
        .to_vec();
        let f = PorFields::from_specs(None, &specs).unwrap();
        let r = parse_por_json(NESTED, &f, 8).unwrap();
        assert_eq!(r.reserves, U256::from(1_234_567_890_123u64));
        assert_eq!(r.supply, U256::from(1_200_050_000_000u64));
        assert_eq!(r.observed_at, 1_793_491_200);
        assert!(!r.ripcord);
        // The default names find nothing in that body, and the error says what it looked for.
        let e = parse_por_json(NESTED, &PorFields::default(), 8).unwrap_err().to_string();
        assert!(e.contains("totalReserve"), "{e}");
        // A pointer that misses names itself.
        let mut f = f.clone();
        f.set("reserves=/reservesTotal/amountX").unwrap();
        let e = parse_por_json(NESTED, &f, 8).unwrap_err().to_string();
        assert!(e.contains("/reservesTotal/amountX"), "{e}");
    }

    #[test]
    fn escaped_keys_and_array_indices() {
        let body = br#"{"a/b": {"x~y": "2"}, "s": [{"v": 3}], "t": 1700000000}"#;
        let specs = ["reserves=/a~1b/x~0y", "supply=/s/0/v", "time=t"].map(String::from);
        let r = parse_por_json(body, &PorFields::from_specs(None, &specs).unwrap(), 0).unwrap();
        assert_eq!((r.reserves, r.supply), (U256::from(2), U256::from(3)));
    }

    #[test]
    fn the_network_firm_profile_reads_the_shipped_bodies() {
        let all: Value =
            serde_json::from_str(include_str!("../../../data/por/the-network-firm.json")).unwrap();
        let f = PorFields::profile("the-network-firm").unwrap();
        let usdr = serde_json::to_vec(&all["USDR"]).unwrap();
        let r = parse_por_json(&usdr, &f, 8).unwrap();
        assert!(r.reserves > U256::ZERO && r.supply > U256::ZERO && r.observed_at > 1_600_000_000);
    }

    #[test]
    fn bad_specs_name_themselves() {
        for (spec, needle) in [
            ("reserves", "NAME=POINTER"),
            ("price=/p", "NAME must be"),
            ("time=", "empty"),
            ("reserves=/a~2", "~0"),
        ] {
            let e = PorFields::default().set(spec).unwrap_err().to_string();
            assert!(e.contains(spec) && e.contains(needle), "{e}");
        }
        let e = PorFields::profile("coinbase").unwrap_err().to_string();
        assert!(e.contains("coinbase") && e.contains("the-network-firm"), "{e}");
    }
}
