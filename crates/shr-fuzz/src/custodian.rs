//! `custodian_json`: a custodian's proof-of-reserve body under any field mapping
//! ([`shr_oracle::parse_por_json`] after [`shr_oracle::PorFields::from_specs`]).
//!
//! Input layout: byte 0 picks the profile (`None` or one of [`shr_oracle::POR_PROFILES`]),
//! byte 1 is the token's decimals; then `NAME=POINTER` spec lines up to a blank line, then the
//! body. Without a blank line the rest is the body under the profile alone.

use shr_oracle::{POR_PROFILES, PorFields, parse_por_json};

use crate::assert_named;

/// The harness.
pub fn run(data: &[u8]) {
    let [p, decimals, rest @ ..] = data else { return };
    let profile = match usize::from(*p) % (POR_PROFILES.len() + 1) {
        0 => None,
        i => Some(POR_PROFILES[i - 1]),
    };
    let (specs, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    let specs: Vec<String> =
        String::from_utf8_lossy(specs).lines().take(8).map(str::to_owned).collect();
    let fields = match PorFields::from_specs(profile, &specs) {
        Ok(f) => f,
        Err(e) => return assert_named(&e),
    };
    match parse_por_json(body, &fields, *decimals) {
        Ok(r) => {
            // An accepted body parses the same way twice (no hidden state).
            assert_eq!(parse_por_json(body, &fields, *decimals).ok(), Some(r));
        }
        Err(e) => assert_named(&e),
    }
}
