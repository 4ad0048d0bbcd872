//! A reserve reading and its sources' formats: CSV series and custodian PoR JSON.

use alloy::primitives::U256;
use serde_json::Value;

use crate::{Error, Result, amount::parse_amount, mapping::lookup};

/// One observation of reserves against liabilities. Private: it exists in plaintext only inside
/// an enclave (and the custodian's own systems).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveReading {
    /// When the custodian observed it, unix seconds.
    pub observed_at: u64,
    /// Reserves, token base units (sats for wBTC).
    pub reserves: U256,
    /// Liabilities (token supply), token base units.
    pub supply: U256,
    /// The custodian's ripcord: `true` means its data cannot be trusted.
    pub ripcord: bool,
}

/// Parses an RFC 3339 time (or unix seconds) into unix seconds.
///
/// # Errors
/// [`Error::InvalidTime`] naming `field` and the value.
pub fn parse_time(field: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(secs);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp()).ok())
        .ok_or_else(|| Error::InvalidTime { field: field.to_string(), value: value.to_string() })
}

/// Which JSON fields hold what in a custodian's proof-of-reserve response: each entry is a
/// top-level field name or an RFC 6901 JSON Pointer (starting with `/`), tried in order. Field
/// names vary between custodians; the defaults are the variants of Chainlink's PoR adapters;
/// `mapping` sets them from `NAME=POINTER` specs and profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PorFields {
    /// Reserves (default `totalReserve`, `totalTrust`, `reserves`).
    pub reserves: Vec<String>,
    /// Liabilities (default `totalToken`, `totalSupply`, `supply`).
    pub liabilities: Vec<String>,
    /// Time (default `timestamp`, `updatedAt`).
    pub time: Vec<String>,
    /// Ripcord flag (default `ripcord`).
    pub ripcord: String,
    /// The liabilities are the token's ERC-20 `totalSupply` on chain (`supply=chain`), read by
    /// each node's host and given with the body ([`crate::NodeInput::ChainSupply`]), not a field
    /// of the body.
    pub supply_on_chain: bool,
}

impl Default for PorFields {
    fn default() -> Self {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        Self {
            reserves: v(&["totalReserve", "totalTrust", "reserves"]),
            liabilities: v(&["totalToken", "totalSupply", "supply"]),
            time: v(&["timestamp", "updatedAt"]),
            ripcord: "ripcord".into(),
            supply_on_chain: false,
        }
    }
}

/// Parses a custodian PoR body (`{"totalReserve": .., "totalToken": .., "timestamp": ..,
/// "ripcord": ..}`) with amounts in whole tokens, scaled to `decimals`. A body whose totals sit in
/// an `accounts` array (The Network Firm's multi-account form) is summed over the accounts.
///
/// # Errors
/// [`Error::Json`], [`Error::MissingField`], [`Error::WrongType`], [`Error::InvalidAmount`],
/// [`Error::InvalidTime`]. A set ripcord is *not* an error here: the evaluator refuses it.
pub fn parse_por_json(body: &[u8], fields: &PorFields, decimals: u8) -> Result<ReserveReading> {
    let v: Value = serde_json::from_slice(body).map_err(Error::Json)?;
    let obj = v.as_object().ok_or_else(|| Error::WrongType {
        field: "(body)".into(),
        expected: "object",
        found: short(&v),
    })?;
    let find = |names: &[String]| names.iter().find_map(|n| lookup(&v, n).map(|x| (n.clone(), x)));
    let amount = |what: &'static str, names: &[String]| -> Result<U256> {
        if let Some((name, v)) = find(names) {
            return json_amount(&name, v, decimals);
        }
        let accounts = obj.get("accounts").and_then(Value::as_array);
        let Some(accounts) = accounts else {
            return Err(Error::MissingField { what, looked_for: names.to_vec() });
        };
        let mut sum = U256::ZERO;
        for (i, a) in accounts.iter().enumerate() {
            let (name, v) = names
                .iter()
                .find_map(|n| lookup(a, n).map(|v| (format!("accounts[{i}].{n}"), v)))
                .ok_or_else(|| Error::MissingField { what, looked_for: names.to_vec() })?;
            sum =
                sum.checked_add(json_amount(&name, v, decimals)?).ok_or(Error::InvalidAmount {
                    field: name,
                    value: "(sum)".into(),
                    why: "overflows 256 bits",
                })?;
        }
        Ok(sum)
    };
    let reserves = amount("reserves", &fields.reserves)?;
    // From chain: zero here, so a body evaluated without the chain's figure is refused
    // (zero supply) rather than judged against a number nobody read.
    let supply = if fields.supply_on_chain {
        U256::ZERO
    } else {
        amount("liabilities", &fields.liabilities)?
    };
    let (tname, t) = find(&fields.time)
        .ok_or_else(|| Error::MissingField { what: "time", looked_for: fields.time.clone() })?;
    let observed_at = match t {
        Value::String(s) => parse_time(&tname, s)?,
        Value::Number(n) => {
            // Unix seconds, or milliseconds when too large to be seconds.
            let x = n
                .as_u64()
                .ok_or_else(|| Error::InvalidTime { field: tname.clone(), value: n.to_string() })?;
            if x > 100_000_000_000 { x / 1000 } else { x }
        }
        other => {
            return Err(Error::WrongType {
                field: tname,
                expected: "string or number",
                found: short(other),
            });
        }
    };
    let ripcord = match lookup(&v, &fields.ripcord) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Error::WrongType {
                field: fields.ripcord.clone(),
                expected: "boolean",
                found: short(other),
            });
        }
    };
    Ok(ReserveReading { observed_at, reserves, supply, ripcord })
}

fn json_amount(field: &str, v: &Value, decimals: u8) -> Result<U256> {
    match v {
        // serde_json keeps the number's text with `arbitrary_precision` off only as f64; format it
        // back without exponent so e.g. 195584.9637993383 keeps its digits.
        Value::Number(n) => parse_amount(field, &n.to_string(), decimals),
        Value::String(s) => parse_amount(field, s, decimals),
        other => Err(Error::WrongType {
            field: field.into(),
            expected: "number or decimal string",
            found: short(other),
        }),
    }
}

/// The value as JSON, cut to 40 characters (never inside one: the body is anyone's text).
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E8: u64 = 100_000_000;

    /// Found by the `custodian_json` fuzz target: a wrong-typed field whose JSON text has a
    /// multi-byte character across byte 40 panicked the node while naming the error.
    #[test]
    fn a_wrong_type_with_wide_characters_is_named_not_a_panic() {
        let body = format!(
            r#"{{"totalReserve": ["d{}"], "totalToken": 1, "timestamp": 1}}"#,
            "\u{fddd}".repeat(50)
        );
        let e = parse_por_json(body.as_bytes(), &PorFields::default(), 8).unwrap_err();
        assert!(e.to_string().contains("totalReserve"), "{e}");
        assert!(e.to_string().contains('…'), "{e}");
    }

    #[test]
    fn parses_the_network_firm_bodies() {
        let all: Value =
            serde_json::from_str(include_str!("../../../data/por/the-network-firm.json")).unwrap();
        let stbt = serde_json::to_vec(&all["STBT"]).unwrap();
        let r = parse_por_json(&stbt, &PorFields::default(), 2).unwrap();
        assert_eq!(r.reserves, U256::from(7_217_880_756u64));
        assert_eq!(r.supply, U256::from(7_193_215_499u64));
        assert_eq!(r.observed_at, 1_685_710_403);
        assert!(!r.ripcord);
        let rip = serde_json::to_vec(&all["STBT_ripcord"]).unwrap();
        assert!(parse_por_json(&rip, &PorFields::default(), 2).unwrap().ripcord);
        let backed = serde_json::to_vec(&all["backed"]).unwrap();
        let r = parse_por_json(&backed, &PorFields::default(), 0).unwrap();
        assert_eq!(r.reserves, U256::from(195_605 + 350_628 + 1_833));
    }

    #[test]
    fn variants_and_mapping() {
        let body = br#"{"totalTrust": "10.5", "totalToken": 10, "updatedAt": 1700000000}"#;
        let r = parse_por_json(body, &PorFields::default(), 8).unwrap();
        assert_eq!(
            (r.reserves, r.supply, r.observed_at),
            (U256::from(1_050_000_000u64), U256::from(10 * E8), 1_700_000_000)
        );
        let f = PorFields { reserves: vec!["held".into()], ..Default::default() };
        let r = parse_por_json(
            br#"{"held": 1, "totalToken": 1, "timestamp": "2024-01-01T00:00:00Z"}"#,
            &f,
            0,
        )
        .unwrap();
        assert_eq!(r.reserves, U256::from(1));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let f = PorFields::default();
        let cases: [(&[u8], &str); 7] = [
            (b"not json", "not JSON"),
            (br#"{"totalToken": 1, "timestamp": 1}"#, "reserves"),
            (br#"{"totalReserve": -5, "totalToken": 1, "timestamp": 1}"#, "negative"),
            (br#"{"totalReserve": "1e999", "totalToken": 1, "timestamp": 1}"#, "totalReserve"),
            (br#"{"totalReserve": 1, "totalToken": true, "timestamp": 1}"#, "totalToken"),
            (br#"{"totalReserve": 1, "totalToken": 1, "timestamp": "yesterday"}"#, "yesterday"),
            (
                br#"{"totalReserve": 1, "totalToken": 1, "timestamp": 1, "ripcord": "no"}"#,
                "ripcord",
            ),
        ];
        for (body, needle) in cases {
            let e = parse_por_json(body, &f, 8).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} should mention {needle}");
        }
        let overflow =
            format!(r#"{{"totalReserve": "{}", "totalToken": 1, "timestamp": 1}}"#, "9".repeat(79));
        assert!(
            parse_por_json(overflow.as_bytes(), &f, 8)
                .unwrap_err()
                .to_string()
                .contains("overflows")
        );
    }
}
