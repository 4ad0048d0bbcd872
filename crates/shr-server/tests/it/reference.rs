//! The risk engine's reference API beside `/api` (issue #16): its root paths, its
//! vault ids, `?pretty=1` on every JSON route, the health-factor summary at `/health`, the SSE
//! stream at `/ws`, replayed in the order of the reference README's demo flow.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use shr_server::{ScriptedRunner, ServerConfig, vaults::VaultDesk};

use crate::support;

async fn pretty_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(text.contains("\n  "), "?pretty=1 indents: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn the_reference_demo_flow_runs_on_the_root_paths() {
    let cfg = ServerConfig { seed: 7, tick_ms: Some(0), ..Default::default() };
    let (state, db) = support::state(cfg, ScriptedRunner::new(vec![], Duration::ZERO)).await;
    state.set_vault_desk(VaultDesk::spawn(state.clone()).unwrap());
    let server = support::serve(state, db).await;
    let base = &server.base;
    let c = reqwest::Client::new();

    // The reference's SSE stream, open before the first simulation.
    let mut ws = c.get(format!("{base}/ws")).send().await.unwrap().bytes_stream();
    // curl -s -X POST 'http://localhost:3000/simulate?pretty=1': answered at once (202) with
    // the simulation's id while the ticks run.
    let (code, started) =
        pretty_json(c.post(format!("{base}/simulate?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["status"], "running", "{started}");
    let sim = support::finished_simulation(&c, base, &started).await;
    assert_eq!(sim["breached"], true, "{sim}");
    // curl -s -X POST 'http://localhost:3000/simulate?extraTicks=5&pretty=1'
    let (code, started5) =
        pretty_json(c.post(format!("{base}/simulate?extraTicks=5&pretty=1")).send().await.unwrap())
            .await;
    assert_eq!(code, 202, "{started5}");
    assert_ne!(started5["simulationId"], started["simulationId"]);
    let sim5 = support::finished_simulation(&c, base, &started5).await;
    // Each simulation restarts from the initial prices: the same seed draws the same first tick.
    assert_eq!(sim5["ticks"][0]["prices_usd"], sim["ticks"][0]["prices_usd"], "{sim5}");
    assert!(sim5["ticks"].as_array().unwrap().len() > sim["ticks"].as_array().unwrap().len());
    // The stream: simulationStart, then ticks with the price that moved, RFC 3339 timestamps.
    let mut text = String::new();
    while text.matches("event: tick").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let start = data.iter().find(|d| d["type"] == "simulationStart").expect("simulationStart");
    assert!(start["data"]["prices"]["weETH"].as_f64().unwrap() > 0.0, "{start}");
    let tick = data.iter().find(|d| d["type"] == "tick").unwrap();
    assert!(tick["timestamp"].as_str().unwrap().ends_with('Z'), "{tick}");
    let changed = &tick["data"]["changed"];
    let drop = changed["dropPct"].as_f64().unwrap();
    assert!((5.0..=15.0).contains(&drop), "{tick}");
    let (old, new) = (changed["old"].as_f64().unwrap(), changed["new"].as_f64().unwrap());
    assert!(((old - new) / old * 100.0 - drop).abs() < 0.01, "{tick}");
    // curl -s 'http://localhost:3000/rebalances?pretty=1'
    // Every plan made at breach is listed: the first simulation's superseded by the second's.
    let (_, reb) =
        pretty_json(c.get(format!("{base}/rebalances?pretty=1")).send().await.unwrap()).await;
    let reb = reb.as_array().unwrap().clone();
    let n1 = sim["plans"].as_array().unwrap().len();
    let n2 = sim5["plans"].as_array().unwrap().len();
    assert_eq!(reb.len(), n1 + n2, "{reb:?}");
    assert!(reb[..n1].iter().all(|r| r["status"] == "superseded"), "{reb:?}");
    assert!(reb[n1..].iter().all(|r| r["status"] == "planned"), "{reb:?}");
    // curl ... /execute?pretty=1 -d '{"vaultId":"VAULT-B-WEETH-BETH"}': executed, or refused as
    // not breached (409) -- never a 400 for the reference's id.
    let r = c
        .post(format!("{base}/execute?pretty=1"))
        .json(&json!({"vaultId": "VAULT-B-WEETH-BETH"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(status == 200 || status == 409, "{status} {text}");
    let r = c
        .post(format!("{base}/execute"))
        .json(&json!({"vaultId": "VAULT-Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("VAULT-Z"));
    // curl -s 'http://localhost:3000/vaults?pretty=1'
    let (code, vaults) =
        pretty_json(c.get(format!("{base}/vaults?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(vaults[0]["vaultId"], "VAULT-A-WSTETH-BUSDC");
    assert_eq!(vaults[1]["vaultId"], "VAULT-B-WEETH-BETH");
    let one: Value = c
        .get(format!("{base}/vaults/VAULT-A-WSTETH-BUSDC"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], 0, "{one}");
    // curl -s 'http://localhost:3000/health?pretty=1': the HF summary, with liveness.
    let (code, health) =
        pretty_json(c.get(format!("{base}/health?pretty=1")).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["vaults"].as_array().unwrap().len(), 2, "{health}");
    let worst = health["worst"]["healthFactor"].as_str().unwrap().parse::<f64>().unwrap();
    for v in health["vaults"].as_array().unwrap() {
        assert!(v["healthFactor"].as_str().unwrap().parse::<f64>().unwrap() >= worst, "{health}");
        assert_eq!(
            v["status"] == "breached",
            vaults[v["id"].as_u64().unwrap() as usize]["breached"] == true
        );
    }
    // curl ... /execute -d '{"applyAll":true}'
    let r = c
        .post(format!("{base}/execute?pretty=1"))
        .json(&json!({"applyAll": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The SSE stream at /ws; ?pretty=1 leaves it a stream, and other query fields still count.
    let r = c.get(format!("{base}/ws?pretty=1")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let r = c.get(format!("{base}/api/reserve?history=1&pretty=1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/api/reserve?histories=1&pretty=1")).send().await.unwrap();
    assert_eq!(r.status(), 400, "unknown fields are still named");
    // Documented in the OpenAPI spec.
    let spec: Value =
        c.get(format!("{base}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    for p in [
        "/health",
        "/api/vaults",
        "/api/vaults/{id}",
        "/api/simulate",
        "/api/simulations/{id}",
        "/api/execute",
        "/api/rebalances",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the spec");
    }
}
