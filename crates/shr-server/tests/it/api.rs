//! The API over a real socket with the in-memory scenario runner: routes, 409 while a run is
//! going, SSE, the operator route's bearer token, and a privacy scan of everything public (HTTP
//! bodies, the SSE stream, the SQLite file).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use shr_agent::{ScenarioReport, Step};
use shr_server::{ScriptedRunner, ServerConfig};

use crate::support::{self, Server};

/// Figures that must never leave through a public channel.
const SECRET_DEFICIT: &str = "751407000123";
const SECRET_RATIO: &str = "950000000000000017";
const TOKEN: &str = "operator-token-for-tests-0123456789";

fn report(name: &str) -> ScenarioReport {
    let step = |n: &str, public: Value, private: Value, tx: &[&str]| Step {
        name: n.into(),
        ms: 1.5,
        gas: 21_000,
        tx: tx.iter().map(|s| s.to_string()).collect(),
        public,
        private,
    };
    ScenarioReport {
        scenario: name.into(),
        mechanism: if name == "small-deficit" { "direct_swap" } else { "dark_pool" }.into(),
        restored: true,
        final_is_solvent: true,
        time_to_heal_ms: 12.5,
        why: format!("deficit {SECRET_DEFICIT} sats"),
        request_statuses: vec!["FILLED".into()],
        escalated: false,
        steps: vec![
            step(
                "attest (insolvent, confirmed)",
                json!({"isSolvent": false}),
                json!({"reserve_ratio_wad": SECRET_RATIO}),
                &["0x01"],
            ),
            step(
                "requestCollateral (attempt 1)",
                json!({"request_id": 1, "status": "PENDING"}),
                json!({"order_size_sats": SECRET_DEFICIT}),
                &["0x02"],
            ),
            step(
                "matcher settles (confidentialFill)",
                json!({"request_id": 1, "status": "FILLED"}),
                json!({"fills": [SECRET_DEFICIT]}),
                &["0x03"],
            ),
            step(
                "attest (restored)",
                json!({"isSolvent": true}),
                json!({"reserve_ratio_wad_with_credit": SECRET_RATIO}),
                &["0x04"],
            ),
        ],
    }
}

async fn server() -> Server {
    let runner = ScriptedRunner::new(
        vec![report("small-deficit"), report("large-deficit")],
        Duration::from_millis(150),
    );
    let cfg = ServerConfig { operator_token: Some(TOKEN.into()), ..Default::default() };
    let (state, db) = support::state(cfg, runner).await;
    state.set_reserve_ratio(vec![(1, 0.95), (2, 1.0)]);
    support::serve(state, db).await
}

async fn wait_finished(c: &reqwest::Client, base: &str, name: &str) -> Value {
    for _ in 0..200 {
        let r = c.get(format!("{base}/api/scenarios/{name}")).send().await.unwrap();
        if r.status() == 200 {
            let v: Value = r.json().await.unwrap();
            if v["status"] != "running" {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} did not finish");
}

#[tokio::test]
async fn routes_conflict_sse_operator_and_privacy() {
    let s = server().await;
    let c = reqwest::Client::new();
    let base = &s.base;
    let mut public_bodies = String::new();

    // SSE client connected before the run.
    let sse = c.get(format!("{base}/api/events")).send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let mut sse_stream = sse.bytes_stream();

    let never = c.get(format!("{base}/api/scenarios/small-deficit")).send().await.unwrap();
    assert_eq!(never.status(), 404);
    let unknown = c.post(format!("{base}/api/scenarios/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("nope"), "the error names the value");

    let started = c.post(format!("{base}/api/scenarios/small-deficit")).send().await.unwrap();
    assert_eq!(started.status(), 202);
    let run_id = started.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_string();
    // A second start while the first runs: 409, naming the running scenario.
    let busy = c.post(format!("{base}/api/scenarios/large-deficit")).send().await.unwrap();
    assert_eq!(busy.status(), 409);
    assert!(busy.text().await.unwrap().contains("small-deficit"));

    let run = wait_finished(&c, base, "small-deficit").await;
    assert_eq!(run["run_id"], run_id);
    assert_eq!(run["status"], "passed");
    assert_eq!(run["steps"].as_array().unwrap().len(), 4);
    assert_eq!(run["steps"][1]["private_fields"], json!(["order_size_sats"]));
    public_bodies.push_str(&run.to_string());

    // The SSE stream carried the run: started, 4 steps, implied events, finished.
    let mut sse_text = String::new();
    while !sse_text.contains("event: scenario_finished") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), sse_stream.next())
            .await
            .expect("SSE event in time")
            .unwrap()
            .unwrap();
        sse_text.push_str(&String::from_utf8_lossy(&chunk));
    }
    for e in ["event: scenario_started", "event: step", "event: attestation", "event: dark_pool"] {
        assert!(sse_text.contains(e), "{e} missing from the stream");
    }
    assert_eq!(sse_text.matches("event: step").count(), 4);

    for path in [
        "/api/reserve",
        "/api/darkpool/requests",
        "/api/incidents",
        "/api/health",
        "/api/openapi.json",
        "/",
        "/assets/app.js",
    ] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        public_bodies.push_str(&r.text().await.unwrap());
    }
    let tail: Value =
        c.get(format!("{base}/api/reserve?history=0")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tail["history"], json!([]));
    let bad = c.get(format!("{base}/api/reserve?history=x")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("history"));
    let dp: Value =
        c.get(format!("{base}/api/darkpool/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        dp,
        json!([{ "run_id": run_id, "request_id": 1, "status": "FILLED", "tx": "0x03" }])
    );
    let inc: Value =
        c.get(format!("{base}/api/incidents")).send().await.unwrap().json().await.unwrap();
    assert_eq!(inc[0]["id"], run_id);
    assert_eq!(inc[0]["status"], "restored");
    // A second run of the same scenario: the requests of both runs are listed.
    let again = c.post(format!("{base}/api/scenarios/small-deficit")).send().await.unwrap();
    assert_eq!(again.status(), 202);
    let run2 = wait_finished(&c, base, "small-deficit").await;
    assert_ne!(run2["run_id"], run_id);
    let dp: Value =
        c.get(format!("{base}/api/darkpool/requests")).send().await.unwrap().json().await.unwrap();
    let runs: Vec<_> = dp.as_array().unwrap().iter().map(|r| r["run_id"].clone()).collect();
    assert_eq!(runs.len(), 2, "{dp}");
    assert!(runs.contains(&run_id.clone().into()) && runs.contains(&run2["run_id"]));

    // Operator route: no token, wrong token -> 401 (and nothing private); right token -> figures.
    let none = c.get(format!("{base}/api/operator/view")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    public_bodies.push_str(&none.text().await.unwrap());
    let wrong = c.get(format!("{base}/api/operator/view")).bearer_auth("x").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let op: Value = c
        .get(format!("{base}/api/operator/view"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(op["reserve_ratio"], json!([[1, 0.95], [2, 1.0]]));
    let op_text = op.to_string();
    assert!(
        op_text.contains(SECRET_DEFICIT) && op_text.contains(SECRET_RATIO),
        "operator sees the figures"
    );

    // Privacy scan: no private figure in any public body, the SSE stream or the database file.
    for (what, text) in [("public bodies", &public_bodies), ("SSE", &sse_text)] {
        for secret in [SECRET_DEFICIT, SECRET_RATIO] {
            assert!(!text.contains(secret), "{secret} leaked through {what}");
        }
    }
    drop(s.state);
    for entry in std::fs::read_dir(s.db.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [SECRET_DEFICIT, SECRET_RATIO] {
            assert!(!text.contains(secret), "{secret} stored in plaintext");
        }
    }
}

#[tokio::test]
async fn operator_route_disabled_without_token() {
    let (state, db) =
        support::state(ServerConfig::default(), ScriptedRunner::new(vec![], Duration::ZERO)).await;
    let base = support::serve(state, db).await.base;
    let r = reqwest::get(format!("{base}/api/operator/view")).await.unwrap();
    assert_eq!(r.status(), 404);
    let h: Value = reqwest::get(format!("{base}/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(h["status"], "ok");
}

/// A runner whose scenario fails with an error carrying amounts (the treasury's balance and the
/// swap's maximum input, either of which bounds the deficit).
struct FailingRunner;

impl shr_server::ScenarioRunner for FailingRunner {
    fn names(&self) -> Vec<String> {
        vec!["small-deficit".into()]
    }

    fn run(
        &self,
        _name: &str,
        _on_step: &(dyn Fn(&shr_agent::Step) + Send + Sync),
    ) -> Result<shr_agent::ScenarioReport, Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(shr_agent::Error::InsufficientTreasury {
            have: alloy::primitives::U256::from(31_415_926_535u64),
            need: alloy::primitives::U256::from(27_182_818_284u64),
        }))
    }
}

/// A run's error says what failed, not by how much: the public view (API, stored public JSON)
/// shows a code; the amounts reach only the operator view, sealed at rest.
#[tokio::test]
async fn a_run_error_is_public_as_a_code_and_private_in_full() {
    let cfg = ServerConfig { operator_token: Some(TOKEN.into()), ..Default::default() };
    let (state, db) = support::state(cfg, FailingRunner).await;
    let Server { base, db, .. } = support::serve(state, db).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.post(format!("{base}/api/scenarios/small-deficit")).send().await.unwrap().status(),
        202
    );
    let run = wait_finished(&c, &base, "small-deficit").await;
    assert_eq!(run["status"], "error");
    let public = run.to_string();
    assert!(public.contains("insufficient_treasury"), "{public}");
    for amount in ["31415926535", "27182818284"] {
        assert!(!public.contains(amount), "public view leaks {amount}: {public}");
    }
    let rows = std::fs::read(db.path().join("shr.db")).unwrap();
    for amount in ["31415926535", "27182818284"] {
        assert!(
            !rows.windows(amount.len()).any(|w| w == amount.as_bytes()),
            "the store leaks {amount}"
        );
    }
    let op = c
        .get(format!("{base}/api/operator/view"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(op.contains("31415926535") && op.contains("27182818284"), "{op}");
}
