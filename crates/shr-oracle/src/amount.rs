//! Decimal whole-token amounts to integer base units.

use alloy::primitives::U256;

use crate::{Error, Result};

/// Parses a non-negative decimal string (`"150281.31426527997"`) into base units with `decimals`
/// fractional digits, rounding half up beyond them (the CSV's floats carry binary noise past the
/// token's 8 decimals).
///
/// # Errors
/// [`Error::InvalidAmount`] naming `field` and the value when it is empty, negative, not a
/// decimal, or overflows 256 bits.
pub fn parse_amount(field: &str, value: &str, decimals: u8) -> Result<U256> {
    let bad = |why: &'static str| Error::InvalidAmount {
        field: field.to_string(),
        value: value.to_string(),
        why,
    };
    let v = value.trim();
    if v.is_empty() {
        return Err(bad("empty"));
    }
    if v.starts_with('-') {
        return Err(bad("negative"));
    }
    let v = v.strip_prefix('+').unwrap_or(v);
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad("not a decimal number"));
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad("not a decimal number"));
    }
    let d = decimals as usize;
    let mut digits = String::with_capacity(int.len() + d);
    digits.push_str(if int.is_empty() { "0" } else { int });
    let kept = &frac[..frac.len().min(d)];
    digits.push_str(kept);
    digits.extend(std::iter::repeat_n('0', d - kept.len()));
    let mut n = U256::from_str_radix(&digits, 10).map_err(|_| bad("overflows 256 bits"))?;
    if frac.len() > d && frac.as_bytes()[d] >= b'5' {
        n = n.checked_add(U256::from(1)).ok_or_else(|| bad("overflows 256 bits"))?;
    }
    Ok(n)
}

/// Formats base units as a decimal string with `decimals` fractional digits.
pub fn format_amount(v: U256, decimals: u8) -> String {
    let s = v.to_string();
    let d = decimals as usize;
    if d == 0 {
        return s;
    }
    let s = format!("{s:0>width$}", width = d + 1);
    let (i, f) = s.split_at(s.len() - d);
    format!("{i}.{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rounds() {
        assert_eq!(
            parse_amount("x", "150281.31426527997", 8).unwrap(),
            U256::from(15_028_131_426_528u64)
        );
        assert_eq!(parse_amount("x", "1", 8).unwrap(), U256::from(100_000_000u64));
        assert_eq!(parse_amount("x", ".5", 1).unwrap(), U256::from(5));
        assert_eq!(parse_amount("x", "0.00000000499", 8).unwrap(), U256::ZERO);
        assert_eq!(parse_amount("x", "0.000000005", 8).unwrap(), U256::from(1));
        assert_eq!(format_amount(U256::from(15_028_131_426_528u64), 8), "150281.31426528");
    }

    #[test]
    fn refuses_bad_input_naming_field_and_value() {
        for (v, why) in [
            ("", "empty"),
            ("-1", "negative"),
            ("1e5", "not a decimal number"),
            ("abc", "not a decimal number"),
            (".", "not a decimal number"),
        ] {
            let e = parse_amount("totalReserve", v, 8).unwrap_err();
            let s = e.to_string();
            assert!(s.contains("totalReserve") && s.contains(why), "{s}");
        }
        let huge = "9".repeat(80);
        assert!(parse_amount("reserves", &huge, 8).unwrap_err().to_string().contains("overflows"));
    }
}
