//! The observer over the binary: `shr scenario NAME --json` for each scenario with logs at
//! `info`. Everything but the steps' private halves is public (the report's fields, the steps'
//! public halves, stderr); an observer doing arithmetic on it with the public supplies and the
//! pool's reserves (`shr_chain::observer`) derives none of the private numbers. The server-side
//! test (`shr-server/tests/it/observer.rs`) adds the chain's bytes, the API, SSE and the rows.

use std::{collections::BTreeSet, process::Command};

use alloy::primitives::U256;
use serde_json::Value;
use shr_chain::observer::Observer;

/// The public constants: both default days' supplies (2023-07-05, 2024-10-08) and the pair.
fn constants() -> Vec<U256> {
    let mut c = vec![U256::from(16_231_137_593u64), U256::from(2_571_336_301_536_722_443_178u128)];
    c.extend([15_692_639_744_634u64, 15_028_131_426_528].map(U256::from));
    c
}

fn private_numbers(v: &Value, key: &str, out: &mut BTreeSet<U256>) {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            if let Ok(n) = s.parse::<U256>() {
                out.insert(n);
                let wad = U256::from(10u64.pow(18));
                if key.contains("ratio") {
                    out.insert(if n > wad { n - wad } else { wad - n });
                }
            }
        }
        Value::Number(n) => out.extend(n.as_u64().map(U256::from)),
        Value::Array(a) => a.iter().for_each(|x| private_numbers(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| private_numbers(x, k, out)),
        _ => {}
    }
}

#[test]
fn an_observer_of_the_cli_finds_nothing_private() {
    let mut private = BTreeSet::new();
    let mut observer = Observer::new(&constants());
    let mut logs = String::new();
    for name in ["small-deficit", "large-deficit", "darkpool-failure"] {
        let out = Command::new(env!("CARGO_BIN_EXE_shr"))
            .args(["scenario", name, "--json"])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["as_expected"], true, "{name}");
        for s in v["steps"].as_array_mut().unwrap() {
            private_numbers(&s["private"].take(), "", &mut private);
        }
        observer.read_text(&v.to_string());
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(logs.contains("INFO"), "logs at info were read");
    observer.read_text(&logs);
    private.retain(|v| *v >= U256::from(1_000u32));
    assert!(private.contains(&U256::from(37_946_742u64)), "the real dip is private");
    assert!(private.len() > 20, "{}", private.len());
    let mut planted = observer.clone();
    planted.read_text("reserves 15692601797892 sats");
    assert!(planted.finds(&private).contains(&U256::from(37_946_742u64)), "it can fail");
    let found = observer.finds(&private);
    assert!(found.is_empty(), "an observer of the CLI derives private values: {found:?}");
}
