//! The `shr` binary end to end: `attest` on good and bad custodian bodies, a `replay` window of
//! the real series, the custodian API, and `don signers`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use serde_json::Value;

fn shr(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("shr runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {stdout} / {}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap_or(-1), v)
}

fn body_file(name: &str, body: &str) -> String {
    let p = std::env::temp_dir().join(format!("shr-cli-{}-{name}.json", std::process::id()));
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn attest_transmits_a_good_reading() {
    let f = body_file(
        "good",
        r#"{"totalReserve": "150283.12", "totalToken": "150281.31", "timestamp": "2024-10-09T01:17:00Z", "ripcord": false}"#,
    );
    let (code, v) = shr(&["attest", "--por-json", &f, "--now", "2024-10-09T01:20:00Z", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["is_solvent"], true);
    assert_eq!(v["transmitted"], true);
    assert!(v["gas_used"].as_u64().unwrap() > 50_000);
}

#[test]
fn attest_maps_a_nested_body_by_json_pointer() {
    // Coinbase's cbBTC API shape: amounts as decimal strings under `*.amount`.
    let f = body_file(
        "nested",
        r#"{"reservesTotal": {"amount": "150283.12"}, "wrappedAssetsTotal": {"amount": "150290.5"}, "lastUpdatedAt": "2024-10-09T01:17:00Z"}"#,
    );
    let now = "2024-10-09T01:20:00Z";
    let mapped = [
        "--por-field",
        "reserves=/reservesTotal/amount",
        "--por-field",
        "supply=/wrappedAssetsTotal/amount",
        "--por-field",
        "time=/lastUpdatedAt",
        "--confirmations",
        "1",
    ];
    let mut args = vec!["attest", "--por-json", &f, "--now", now, "--json"];
    args.extend(mapped);
    let (code, v) = shr(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["is_solvent"], false, "150,283.12 held against 150,290.5 issued");
    // Unmapped, the body is refused naming what was looked for; a bad spec names itself.
    let (code, v) = shr(&["attest", "--por-json", &f, "--now", now, "--json"]);
    assert_ne!(code, 0);
    assert!(v["error"].as_str().unwrap().contains("totalReserve"), "{v}");
    let args = ["attest", "--por-json", &f, "--now", now, "--json", "--por-field", "price=/p"];
    let (code, v) = shr(&args);
    assert_ne!(code, 0);
    assert!(v["error"].as_str().unwrap().contains("price=/p"), "{v}");
}

#[test]
fn attest_refuses_bad_bodies_with_a_json_error_and_nonzero_exit() {
    let now = "2024-10-09T01:20:00Z";
    let cases = [
        ("malformed", "{not json", "not JSON"),
        (
            "missing",
            r#"{"totalToken": 1, "timestamp": "2024-10-09T01:17:00Z"}"#,
            "no reserves field",
        ),
        (
            "negative",
            r#"{"totalReserve": -1, "totalToken": 1, "timestamp": "2024-10-09T01:17:00Z"}"#,
            "negative",
        ),
        (
            "overflow",
            &format!(
                r#"{{"totalReserve": "{}", "totalToken": 1, "timestamp": "2024-10-09T01:17:00Z"}}"#,
                "9".repeat(80)
            ),
            "overflows",
        ),
        (
            "ripcord",
            r#"{"totalReserve": 1, "totalToken": 1, "timestamp": "2024-10-09T01:17:00Z", "ripcord": true}"#,
            "ripcord",
        ),
        (
            "stale",
            r#"{"totalReserve": 1, "totalToken": 1, "updatedAt": "2024-10-01T00:00:00Z"}"#,
            "stale",
        ),
        (
            "zero",
            r#"{"totalReserve": 1, "totalToken": 0, "timestamp": "2024-10-09T01:17:00Z"}"#,
            "supply (liabilities) is zero",
        ),
    ];
    for (name, body, needle) in cases {
        let f = body_file(name, body);
        let (code, v) = shr(&["attest", "--por-json", &f, "--now", now, "--json"]);
        assert_ne!(code, 0, "{name}: {v}");
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains(needle), "{name}: {e:?} should mention {needle:?}");
    }
}

#[test]
fn replay_window_of_the_real_series_absorbs_the_glitch() {
    let (code, v) = shr(&[
        "replay",
        "--from",
        "2024-10-08T00:00:00Z",
        "--to",
        "2024-10-10T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    for k in [
        "rounds",
        "transmissions",
        "state_changes",
        "insolvent_rounds",
        "median_gas_per_report",
        "wall_ms",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert!(v["rounds"].as_u64().unwrap() > 40);
    assert_eq!(v["state_changes"], 0);
    assert_eq!(v["insolvent_rounds"], 0);
    assert_eq!(v["final_is_solvent"], true);
    assert_eq!(v["absorbed_short_readings"][0][0], 1_728_429_449u64);
}

#[test]
fn custodian_api_serves_sealed_bodies_that_attest_reads() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(["custodian", "--port", "0"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let (code, v) =
        shr(&["attest", "--custodian", &url, "--now", "2024-10-09T02:00:00Z", "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["is_solvent"], true);
    assert_eq!(v["votes"], 3);
}

#[test]
fn don_signers_lists_four_stable_signers() {
    let (code, a) = shr(&["don", "signers", "--json"]);
    let (_, b) = shr(&["don", "signers", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(a["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(a["f"], 1);
    assert_eq!(a, b, "the dev platform's keys are stable across runs");
}

#[test]
fn dark_pool_scenarios_report_the_same_shape() {
    for (name, restored, code_want) in [("large-deficit", true, 0), ("darkpool-failure", false, 0)]
    {
        let (code, v) = shr(&["scenario", name, "--json"]);
        assert_eq!(code, code_want, "{v}");
        assert_eq!(v["scenario"], name);
        assert_eq!(v["mechanism"], "dark_pool");
        assert_eq!(v["restored"], restored);
        assert_eq!(v["final_is_solvent"], restored);
        assert_eq!(v["as_expected"], true);
        let steps = v["steps"].as_array().unwrap();
        let deficit = steps.iter().find_map(|s| s["private"]["deficit_sats"].as_str()).unwrap();
        let public: String = steps.iter().map(|s| s["public"].to_string()).collect();
        assert!(!public.contains(deficit), "{name}: the order size is never public");
        for s in steps {
            for k in ["name", "ms", "public", "private"] {
                assert!(s.get(k).is_some(), "step without {k}: {s}");
            }
        }
    }
}

#[test]
fn small_deficit_scenario_heals_on_chain() {
    let (code, v) = shr(&["scenario", "small-deficit", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["scenario"], "small-deficit");
    assert_eq!(v["mechanism"], "direct_swap");
    assert_eq!(v["restored"], true);
    assert_eq!(v["final_is_solvent"], true);
    let steps = v["steps"].as_array().unwrap();
    assert!(steps.len() >= 6);
    for s in steps {
        for k in ["name", "ms", "public", "private"] {
            assert!(s.get(k).is_some(), "step without {k}: {s}");
        }
    }
    // The deficit is the series' real dip of 2023-07-05 and private: no public field equals
    // it, the swap included (it buys the restore target in whole lots, and publishes only the
    // bounds it implies, which contain the deficit).
    let private_deficit =
        steps.iter().find_map(|s| s["private"]["deficit_sats"].as_str()).unwrap().to_string();
    assert_eq!(private_deficit, "37946742");
    let public: String = steps.iter().map(|s| s["public"].to_string()).collect();
    assert!(!public.contains(&private_deficit), "{public}");
    let swap = steps.iter().find(|s| s["name"] == "direct swap into ReserveVault").unwrap();
    let n = |v: &serde_json::Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let (bought, bounds) =
        (n(&swap["public"]["wbtc_bought"]), &swap["public"]["deficit_bounds_sats"]);
    assert!(bought > 37_946_742 && bought % 1_000_000 == 0, "{bought}");
    assert!(n(&bounds[0]) < 37_946_742 && 37_946_742 < n(&bounds[1]), "{bounds}");
}

#[test]
fn replay_of_the_real_july_2023_shortfall_hands_the_sealed_deficit_to_the_agent_db() {
    let db = std::env::temp_dir().join(format!("shr-cli-{}-handoff.db", std::process::id()));
    let url = format!("sqlite:{}", db.display());
    let (code, v) = shr(&[
        "replay",
        "--from",
        "2023-07-05T18:00:00Z",
        "--to",
        "2023-07-06T20:00:00Z",
        "--json",
        "--db",
        &url,
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["state_changes"], 2, "{v}");
    // One insolvent report, one signed notice from each node that evaluated it (f+1 at least).
    assert!(v["sealed_deficits_handed_off"].as_u64().is_some_and(|n| (2..=4).contains(&n)), "{v}");
    assert!(db.exists());
}

#[test]
fn risk_replay_of_june_2022_and_a_seeded_simulation() {
    let (code, v) = shr(&["risk", "replay", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["breached"], true);
    assert_eq!(v["first_breach"], 20220612);
    let p = &v["plans"][0];
    assert_eq!(p["vault_id"], 0);
    assert!(p["hf_before"].as_str().unwrap() < "1.15");
    assert!(p["hf_projected"].as_str().unwrap() >= "1.25");
    assert!(p.get("hf_onchain_after").is_some());
    // The depeg: the plan sells at the DEX price, below the oracle's.
    let dex: f64 = p["dex_price_wad"].as_str().unwrap().parse().unwrap();
    let oracle: f64 = p["oracle_price_wad"].as_str().unwrap().parse().unwrap();
    assert!(dex < oracle * 0.99);

    let (code, a) = shr(&["risk", "simulate", "--seed", "5", "--json"]);
    assert_eq!(code, 0, "{a}");
    let (_, b) = shr(&["risk", "simulate", "--seed", "5", "--json"]);
    assert_eq!(a, b, "same seed, same run");
    assert_eq!(a["breached"], true);
    for p in a["plans"].as_array().unwrap() {
        assert!(p["hf_projected"].as_str().unwrap() >= "1.25", "{p}");
    }
    let (code, e) =
        shr(&["risk", "replay", "--from", "2030-01-01", "--to", "2030-02-01", "--json"]);
    assert_ne!(code, 0);
    assert!(
        e["error"].as_str().unwrap_or_default().contains("2030-01-01")
            || e.to_string().contains("2030"),
        "{e}"
    );
}

#[test]
fn risk_execute_rebalances_on_chain_and_reads_hf_back() {
    let (code, v) = shr(&["risk", "execute", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["breached"], true);
    let p = &v["plans"][0];
    let after: f64 = p["hf_onchain_after"].as_str().unwrap().parse().unwrap();
    let projected: f64 = p["hf_projected"].as_str().unwrap().parse().unwrap();
    assert!(after >= 1.25 && (after - projected).abs() < 0.025, "{p}");
    assert!(p["gas"].as_u64().unwrap() > 100_000);
    let (code, _) = shr(&["risk", "execute", "--drop-bps", "10000", "--json"]);
    assert_ne!(code, 0);
    // Vault B: weETH against WETH, one hop weETH -> WETH.
    let (code, v) = shr(&["risk", "execute", "--vault", "1", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["plans"][0]["vault_id"], 1);
    let after: f64 = v["plans"][0]["hf_onchain_after"].as_str().unwrap().parse().unwrap();
    assert!(after >= 1.25, "{v}");
    let (code, v) = shr(&["risk", "execute", "--vault", "3", "--json"]);
    assert_ne!(code, 0);
    assert!(v["error"].as_str().unwrap().contains("--vault 3"), "{v}");
}

#[test]
fn don_init_seals_a_nodes_keys_in_its_directory_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("node0");
    let d = d.to_str().unwrap();
    let seed = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let (code, first) = shr(&["don", "init", "--dir", d, "--tee-seed", seed]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["created"], true);
    assert!(first["signer"].as_str().unwrap().starts_with("0x"));
    assert_eq!(first["quote"]["platform"], "simulated");
    let (code, again) = shr(&["don", "init", "--dir", d, "--tee-seed", seed]);
    assert_eq!(code, 0, "{again}");
    assert_eq!((again["created"].clone(), &again["signer"]), (false.into(), &first["signer"]));
    assert_eq!(again["hpke_public_key"], first["hpke_public_key"]);
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("node0/identity.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["signer"], first["signer"]);
    // The sealed key holds neither key in the clear, and another platform cannot open it.
    let sealed = std::fs::read(dir.path().join("node0/enclave-key.sealed")).unwrap();
    assert!(sealed.len() >= 48 + 32, "an HPKE blob: {} bytes", sealed.len());
    let other = "0x2222222222222222222222222222222222222222222222222222222222222222";
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(["don", "init", "--dir", d, "--tee-seed", other])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not unseal"));
    // Two nodes, two identities.
    let d1 = dir.path().join("node1");
    let (_, second) = shr(&["don", "init", "--dir", d1.to_str().unwrap(), "--tee-seed", seed]);
    assert_ne!(second["signer"], first["signer"]);
}

/// A custodian PoR API on a free local port: `/good` answers `body`, `/slow` answers after 3 s,
/// anything else answers HTML. Returns the base URL.
fn custodian_api(body: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (kind, answer) = if req.starts_with("GET /good") {
                    ("application/json", body)
                } else if req.starts_with("GET /slow") {
                    std::thread::sleep(std::time::Duration::from_secs(3));
                    ("application/json", body)
                } else {
                    ("text/html", "<html>maintenance</html>")
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    base
}

#[test]
fn attest_fetches_a_live_custodian_api_and_refuses_a_slow_or_garbled_one() {
    let base = custodian_api(
        r#"{"reservesTotal": {"amount": "150283.12"}, "wrappedAssetsTotal": {"amount": "150281.31"}, "lastUpdatedAt": "2024-10-09T01:17:00Z"}"#,
    );
    let fields = [
        "--por-field",
        "reserves=/reservesTotal/amount",
        "--por-field",
        "supply=/wrappedAssetsTotal/amount",
        "--por-field",
        "time=/lastUpdatedAt",
        "--por-timeout-ms",
        "500",
    ];
    let attest = |path: &str| {
        let url = format!("{base}{path}");
        let mut args = vec!["attest", "--por-url", &url, "--now", "2024-10-09T01:20:00Z", "--json"];
        args.extend(fields);
        shr(&args)
    };
    let (code, v) = attest("/good");
    assert_eq!(code, 0, "{v}");
    assert_eq!((v["is_solvent"].clone(), v["transmitted"].clone()), (true.into(), true.into()));
    let (code, v) = attest("/slow");
    assert_ne!(code, 0);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("/slow") && e.contains("timed out"), "{e}");
    let (code, v) = attest("/maintenance");
    assert_ne!(code, 0);
    assert!(v["error"].as_str().unwrap().contains("not JSON"), "{v}");
}

/// Issue #20 from the command line: reserves and supply from two files (RFC 3339 and
/// date-only times), joined as-of, with a re-submitted older reading refused and listed.
#[test]
fn replay_joins_two_files_and_lists_refused_readings() {
    let series = include_str!("../../../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv");
    let rows: Vec<Vec<&str>> =
        series.lines().skip(1).take(400).map(|l| l.split(',').collect()).collect();
    let mut reserves = String::from("time,reserves\n");
    let mut supply = String::from("day,supply\n");
    let mut last_day = "";
    for (i, c) in rows.iter().enumerate() {
        reserves.push_str(&format!("{},{}\n", c[0], c[1]));
        if i == 200 {
            reserves.push_str(&format!("{},{}\n", rows[150][0], rows[150][1]).replace(".", ".9"));
        }
        let day = &c[0][..10];
        if day != last_day {
            supply.push_str(&format!("{day},{}\n", c[2]));
            last_day = day;
        }
    }
    let dir = std::env::temp_dir().join(format!("shr-cli-join-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (r, s) = (dir.join("reserves.csv"), dir.join("supply.csv"));
    std::fs::write(&r, reserves).unwrap();
    std::fs::write(&s, supply).unwrap();
    let (r, s) = (r.display().to_string(), s.display().to_string());
    let (code, v) = shr(&[
        "replay",
        "--series",
        &r,
        "--time-col",
        "time",
        "--supply-series",
        &s,
        "--supply-time-col",
        "day",
        "--max-supply-lag",
        "86400",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["time_formats"][0][1], "rfc3339", "{v}");
    assert_eq!(v["time_formats"][1][1], "date", "{v}");
    assert_eq!(v["out_of_order_readings"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["out_of_order_readings"][0]["row"], 202, "{v}");
    assert_eq!(v["duplicate_readings"], 0);
    assert_eq!(v["rounds"], 400, "{v}");
    // Strict order refuses the file.
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(["replay", "--series", &r, "--time-col", "time", "--supply-series", &s])
        .args(["--supply-time-col", "day", "--strict-order", "--json"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not increase"));
    std::fs::remove_dir_all(&dir).ok();
}
