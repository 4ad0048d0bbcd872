//! Conformance with the lending-vault risk engine's reference API
//! (`../shared/reference/risk-engine-api.md`): its README's demo flow, request for request as
//! the curl lines send them, against `shr demo`, every response's shape checked.

use std::time::Duration;

use serde_json::{Value, json};

use crate::demo::demo;

/// Asserts `v[key]` exists for each key, with the JSON type named (`s`tring, `n`umber,
/// `b`ool, `a`rray, `o`bject, `?` any, a trailing `|null` allows null).
fn shape(v: &Value, fields: &[(&str, &str)]) {
    for (k, t) in fields {
        let x = &v[*k];
        let (t, nullable) = t.strip_suffix("|null").map_or((*t, false), |t| (t, true));
        let ok = (nullable && x.is_null())
            || match t {
                "s" => x.is_string(),
                "n" => x.is_number(),
                "b" => x.is_boolean(),
                "a" => x.is_array(),
                "o" => x.is_object(),
                _ => !x.is_null(),
            };
        assert!(ok, "field {k:?} should be {t}: {v}");
    }
}

/// The body, checked to be pretty-printed JSON (`?pretty=1`).
async fn pretty(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(text.contains("\n  "), "?pretty=1 indents: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

fn vault_shape(v: &Value) {
    shape(
        v,
        &[
            ("vaultId", "s"),
            ("id", "n"),
            ("collateral", "s"),
            ("debt", "s"),
            ("collateral_wad", "s"),
            ("debt_wad", "s"),
            ("collateral_price_usd", "n"),
            ("debt_price_usd", "n"),
            ("liquidation_threshold_bps", "n"),
            ("health_factor", "s"),
            ("breached", "b"),
        ],
    );
}

fn event_shape(e: &Value) {
    shape(
        e,
        &[
            ("eventId", "s"),
            ("vaultId", "s"),
            ("vault_id", "n"),
            ("simulationId", "s"),
            ("status", "s"),
            ("createdAt", "s"),
            ("hf_before", "s"),
            ("hf_projected", "s|null"),
            ("plan", "o|null"),
            ("execution", "o|null"),
        ],
    );
    if let Some(plan) = e["plan"].as_object() {
        let plan = Value::Object(plan.clone());
        shape(
            &plan,
            &[
                ("chainId", "n"),
                ("from", "s"),
                ("transaction", "o"),
                ("actions", "a"),
                ("metadata", "o"),
            ],
        );
        shape(
            &plan["metadata"],
            &[
                ("gasEstimate", "n"),
                ("projectedHf", "s"),
                ("amountInMaximum", "s"),
                ("repayAssets", "s"),
                ("deadline", "n"),
            ],
        );
        for c in std::iter::once(&plan["transaction"]).chain(plan["actions"].as_array().unwrap()) {
            shape(
                c,
                &[
                    ("kind", "s"),
                    ("target", "s"),
                    ("value", "s"),
                    ("calldata", "s"),
                    ("description", "s"),
                ],
            );
            assert!(c["calldata"].as_str().unwrap().starts_with("0x"), "{c}");
        }
        let kinds: Vec<_> = plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["authorize", "repay", "withdraw", "swap", "resupply", "revoke"]);
        assert!(plan["actions"][3]["description"].as_str().unwrap().contains("exact-output"));
    }
}

async fn wait_done(c: &reqwest::Client, base: &str, started: &Value) -> Value {
    let id = started["simulationId"].as_str().unwrap();
    for _ in 0..600 {
        let v: Value = c
            .get(format!("{base}/api/simulations/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] != "running" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("simulation {id} did not finish in 30 s");
}

#[tokio::test]
async fn the_reference_readme_demo_flow_against_shr_demo() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo(
        dir.path(),
        &["--port", "0", "--db", "sqlite:demo.db", "--tick-ms", "40", "--seed", "7"],
        &[],
    );
    let base = &d.1;
    let c = reqwest::Client::new();
    let json_post = |path: &str, body: Value| {
        c.post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
    };

    // curl -s -X POST 'http://localhost:3000/simulate?pretty=1'
    let (code, started) =
        pretty(c.post(format!("{base}/simulate?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 202, "answers at once while the ticks run: {started}");
    shape(
        &started,
        &[
            ("simulationId", "s"),
            ("status", "s"),
            ("seed", "n"),
            ("tickMs", "n"),
            ("startedAt", "s"),
            ("ticks", "a"),
            ("plans", "a"),
        ],
    );
    assert_eq!(started["seed"], 7);
    let sim = wait_done(&c, base, &started).await;
    assert_eq!(sim["status"], "done", "{sim}");
    let ticks = sim["ticks"].as_array().unwrap();
    assert!(sim["breached"].as_bool().unwrap(), "{sim}");
    assert_eq!(
        ticks.len() as u64,
        sim["first_breach"].as_u64().unwrap() + 1,
        "stops at the first breach"
    );
    for t in ticks {
        shape(
            t,
            &[
                ("label", "n"),
                ("at", "s"),
                ("changed", "o"),
                ("prices_usd", "a"),
                ("health_factors", "a"),
            ],
        );
        shape(&t["changed"], &[("symbol", "s"), ("old", "n"), ("new", "n"), ("dropPct", "n")]);
        let drop = t["changed"]["dropPct"].as_f64().unwrap();
        assert!((5.0..=15.0).contains(&drop), "{t}");
    }
    // Paced: consecutive ticks at least --tick-ms apart.
    let at = |t: &Value| chrono::DateTime::parse_from_rfc3339(t["at"].as_str().unwrap()).unwrap();
    for w in ticks.windows(2) {
        let gap = (at(&w[1]) - at(&w[0])).num_milliseconds();
        assert!(gap >= 35, "ticks {gap} ms apart");
    }
    // curl -s -X POST 'http://localhost:3000/simulate?extraTicks=5&pretty=1'
    let (code, started5) =
        pretty(c.post(format!("{base}/simulate?extraTicks=5&pretty=1")).send().await.unwrap())
            .await;
    assert_eq!(code, 202);
    let sim5 = wait_done(&c, base, &started5).await;
    assert_eq!(
        sim5["ticks"][0]["prices_usd"], sim["ticks"][0]["prices_usd"],
        "restarted from the initial prices"
    );
    let n5 = sim5["ticks"].as_array().unwrap().len() as u64;
    assert!(n5 > sim5["first_breach"].as_u64().unwrap() + 1, "{sim5}");
    // curl -s 'http://localhost:3000/rebalances?pretty=1'
    let (code, reb) =
        pretty(c.get(format!("{base}/rebalances?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    let reb = reb.as_array().unwrap().clone();
    assert!(!reb.is_empty(), "the plans made at breach are listed before any execute");
    reb.iter().for_each(event_shape);
    let planned_b = reb
        .iter()
        .rev()
        .find(|e| e["vaultId"] == "VAULT-B-WEETH-BETH" && e["status"] == "planned")
        .cloned();
    // curl -s -X POST '.../execute?pretty=1' -d '{"vaultId":"VAULT-B-WEETH-BETH"}'
    let (code, done) = pretty(
        json_post("/execute?pretty=1", json!({"vaultId": "VAULT-B-WEETH-BETH"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    match planned_b {
        Some(p) => {
            assert_eq!(code, 200, "{done}");
            let e = &done[0];
            event_shape(e);
            assert_eq!(e["eventId"], p["eventId"], "the latest plan is the one applied");
            assert_eq!(e["status"], "executed");
            assert_eq!(e["plan"]["transaction"]["calldata"], p["plan"]["transaction"]["calldata"]);
            shape(
                &e["execution"],
                &[("tx", "s"), ("gas", "n"), ("executedAt", "s"), ("hfOnchainAfter", "s")],
            );
            // curl -s 'http://localhost:3000/vaults?pretty=1': the rebalanced vault at HF ~1.25.
            let (_, vaults) =
                pretty(c.get(format!("{base}/vaults?pretty=1")).send().await.unwrap()).await;
            let hf: f64 = vaults[1]["health_factor"].as_str().unwrap().parse().unwrap();
            assert!((1.25..1.30).contains(&hf), "{vaults}");
        }
        None => assert_eq!(code, 409, "vault B not breached: {done}"),
    }
    // curl -s 'http://localhost:3000/vaults?pretty=1'
    let (code, vaults) =
        pretty(c.get(format!("{base}/vaults?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    vaults.as_array().unwrap().iter().for_each(vault_shape);
    let (code, one) =
        pretty(c.get(format!("{base}/vaults/VAULT-A-WSTETH-BUSDC?pretty=1")).send().await.unwrap())
            .await;
    assert_eq!(code, 200);
    vault_shape(&one);
    // curl -s 'http://localhost:3000/health?pretty=1'
    let (code, health) =
        pretty(c.get(format!("{base}/health?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    shape(&health, &[("status", "s"), ("vaults", "a"), ("worst", "o"), ("store", "b")]);
    for v in health["vaults"].as_array().unwrap() {
        shape(v, &[("vaultId", "s"), ("healthFactor", "s"), ("status", "s")]);
    }
    // curl -s -X POST '.../execute?pretty=1' -d '{"applyAll":true}'
    let (code, all) =
        pretty(json_post("/execute?pretty=1", json!({"applyAll": true})).send().await.unwrap())
            .await;
    assert_eq!(code, 200, "{all}");
    all.as_array().unwrap().iter().for_each(event_shape);
    // Every vault is healthy now, or its event says why it could not be saved (an HF under 1
    // after five more drops: no plan reaches the target).
    let (_, health) = pretty(c.get(format!("{base}/health?pretty=1")).send().await.unwrap()).await;
    for v in health["vaults"].as_array().unwrap() {
        if v["status"] != "healthy" {
            let e = all
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["vaultId"] == v["vaultId"])
                .unwrap_or_else(|| panic!("{all}"));
            assert_eq!(e["status"], "infeasible", "{e}");
            assert!(e["error"].is_string(), "{e}");
        }
    }
    // The SSE stream at /ws in the reference's envelope.
    let r = c.get(format!("{base}/ws")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
}
