//! The vault routes against a real desk (the lending world on an embedded chain): read, a
//! refused execute before any breach, bad input named, a seeded crash with SSE ticks, every
//! breached vault rebalanced atomically with the HF read back, rebalances persisted.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use shr_server::{ScriptedRunner, ServerConfig, vaults::VaultDesk};

use crate::support;

fn hf(v: &Value) -> f64 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn crash_plan_execute_persist() {
    let cfg = ServerConfig { seed: 7, tick_ms: Some(0), ..Default::default() };
    let (state, db) = support::state(cfg, ScriptedRunner::new(vec![], Duration::ZERO)).await;
    state.set_vault_desk(VaultDesk::spawn(state.clone()).unwrap());
    let server = support::serve(state, db).await;
    let base = &server.base;
    let c = reqwest::Client::new();

    let vaults: Value =
        c.get(format!("{base}/api/vaults")).send().await.unwrap().json().await.unwrap();
    assert_eq!(vaults.as_array().unwrap().len(), 2);
    assert_eq!(vaults[0]["collateral"], "wstETH");
    assert_eq!(vaults[1]["debt"], "WETH");
    for v in vaults.as_array().unwrap() {
        assert!((hf(&v["health_factor"]) - 1.40).abs() < 0.001, "{v}");
        assert_eq!(v["breached"], false);
    }
    let one: Value =
        c.get(format!("{base}/api/vaults/1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["name"], "B");
    assert_eq!(c.get(format!("{base}/api/vaults/9")).send().await.unwrap().status(), 404);
    assert_eq!(c.get(format!("{base}/api/vaults/x")).send().await.unwrap().status(), 404);

    // Nothing breached yet: 409 naming the vault and its HF.
    let r =
        c.post(format!("{base}/api/execute")).json(&json!({"vaultId": 0})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("vault 0 is not breached"));
    // Bad input names the field.
    for (body, field) in [
        (json!({}), "vaultId"),
        (json!({"vaultId": 0, "applyAll": true}), "applyAll"),
        (json!({"vault": 0}), "vault"),
    ] {
        let r = c.post(format!("{base}/api/execute")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert!(r.text().await.unwrap().contains(field), "{body}");
    }
    let r = c.post(format!("{base}/api/simulate?extraTicks=lots")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("extraTicks"));
    let r = c.post(format!("{base}/api/simulate?extraTicks=51")).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A seeded crash; the SSE stream carries each tick and a snapshot.
    let mut sse = c.get(format!("{base}/api/events")).send().await.unwrap().bytes_stream();
    let sim: Value = c
        .post(format!("{base}/api/simulate?extraTicks=1&wait=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sim["breached"], true, "{sim}");
    assert_eq!(sim["seed"], 7);
    let ticks = sim["ticks"].as_array().unwrap();
    let first = sim["first_breach"].as_u64().unwrap() as usize;
    assert_eq!(ticks.len(), first + 2, "stops one extra tick after the first breach");
    let plans = sim["plans"].as_array().unwrap();
    assert!(!plans.is_empty());
    for p in plans {
        assert!(hf(&p["hf_before"]) < 1.15, "{p}");
        assert!(p["hf_onchain_after"].is_null());
        assert_eq!(p["status"], "planned", "{p}");
        let plan = &p["plan"];
        assert!(plan["metadata"]["gasEstimate"].as_u64().unwrap() > 100_000, "{p}");
        assert!(plan["transaction"]["calldata"].as_str().unwrap().starts_with("0x"), "{p}");
        assert_eq!(plan["actions"].as_array().unwrap().len(), 6, "{p}");
    }
    // The plans are listed before any execution.
    let reb: Value =
        c.get(format!("{base}/api/rebalances")).send().await.unwrap().json().await.unwrap();
    assert_eq!(reb.as_array().unwrap().len(), plans.len(), "{reb}");
    assert!(reb.as_array().unwrap().iter().all(|r| r["status"] == "planned"), "{reb}");
    let mut text = String::new();
    while !text.contains("event: snapshot") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), sse.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(text.matches("event: tick").count(), ticks.len());

    // Execute every breached vault: atomic, HF read back at or above the target.
    let done: Value = c
        .post(format!("{base}/api/execute"))
        .json(&json!({"applyAll": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let done = done.as_array().unwrap();
    let executed: Vec<_> = done.iter().filter(|p| p["tx"].is_string()).collect();
    assert!(!executed.is_empty(), "{done:?}");
    // The first vault executes the plan made at breach, byte for byte; the owner's Morpho
    // nonce has then moved on, so a second vault's plan is made again at execute (the one made
    // at breach superseded).
    let mut replanned = 0;
    for (i, p) in executed.iter().enumerate() {
        assert_eq!(p["status"], "executed", "{p}");
        let shown = plans.iter().find(|s| s["vault_id"] == p["vault_id"]).unwrap();
        if i == 0 {
            assert_eq!(shown["eventId"], p["eventId"], "the plan made at breach was applied");
            assert_eq!(
                shown["plan"]["transaction"]["calldata"], p["plan"]["transaction"]["calldata"],
                "sent exactly the calldata shown"
            );
        } else if shown["eventId"] != p["eventId"] {
            assert!(p["eventId"].as_str().unwrap().starts_with("exec-"), "{p}");
            replanned += 1;
        }
        assert_eq!(p["execution"]["tx"], p["tx"], "{p}");
        assert!(
            p["gas"].as_u64().unwrap() <= p["plan"]["metadata"]["gasEstimate"].as_u64().unwrap(),
            "{p}"
        );
        let after = hf(&p["hf_onchain_after"]);
        assert!(after >= 1.25, "{p}");
        let projected = hf(&p["hf_projected"]);
        assert!((after - projected).abs() / projected <= 0.02, "within the 2 % band: {p}");
        assert!(p["gas"].as_u64().unwrap() > 100_000);
    }
    let reb: Value =
        c.get(format!("{base}/api/rebalances")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        reb.as_array().unwrap().len(),
        plans.len() + replanned,
        "executions update their plans: {reb}"
    );
    let superseded = reb.as_array().unwrap().iter().filter(|r| r["status"] == "superseded");
    assert_eq!(superseded.count(), replanned, "{reb}");
    let mut stored: Vec<_> = reb
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "executed")
        .map(|r| r["tx"].clone())
        .collect();
    let mut sent: Vec<_> = executed.iter().map(|p| p["tx"].clone()).collect();
    stored.sort_by_key(|v| v.to_string());
    sent.sort_by_key(|v| v.to_string());
    assert_eq!(stored, sent);
    let after: Value =
        c.get(format!("{base}/api/vaults")).send().await.unwrap().json().await.unwrap();
    for p in &executed {
        let id = p["vault_id"].as_u64().unwrap() as usize;
        assert_eq!(after[id]["breached"], false, "{}", after[id]);
    }
}
