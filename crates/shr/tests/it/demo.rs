//! `shr demo`: the headless run of the three scenarios, the server on a free port with the live
//! feed over the real series, and the configuration's precedence (file < environment < flags).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

#[test]
fn headless_runs_the_three_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("demo.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(["demo", "--headless", "--json", "--db", &db])
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["passed"], true);
    let runs = v["scenarios"].as_array().unwrap();
    let names: Vec<_> = runs.iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["small-deficit", "large-deficit", "darkpool-failure"]);
    assert_eq!(runs[0]["mechanism"], "direct_swap");
    assert_eq!(runs[1]["mechanism"], "dark_pool");
    assert_eq!(runs[1]["final_is_solvent"], true);
    assert_eq!(runs[2]["final_is_solvent"], false);
    for r in runs {
        assert_eq!(r["status"], "passed", "{r}");
        for s in r["steps"].as_array().unwrap() {
            // The report is the public view: names of private fields, never their values.
            assert!(s.get("private").is_none(), "{s}");
            assert!(s["private_fields"].is_array());
        }
    }
    // A confirmed deficit's step names what stayed private.
    let opened = runs[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "agent opens deficit, chooses")
        .unwrap();
    assert_eq!(opened["private_fields"], serde_json::json!(["decision", "deficit_sats"]));
}

pub(crate) struct Demo(Child, pub(crate) String);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `shr demo --port 0` with `args` and `env`; returns it and its base URL.
pub(crate) fn demo(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Demo {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shr"));
    cmd.current_dir(dir)
        .arg("demo")
        .args(args)
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .env_remove("SHR_OPERATOR_TOKEN")
        .env_remove("SHR_PORT")
        .env_remove("SHR_CONFIG")
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line}"));
    Demo(child, url.trim_end_matches('/').to_string())
}

async fn operator_status(base: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/operator/view"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn server_feed_and_operator_view() {
    let dir = tempfile::tempdir().unwrap();
    let token = "demo-test-token-0123456789abcdef";
    let d = demo(
        dir.path(),
        &[
            "--port",
            "0",
            "--db",
            "sqlite:demo.db",
            "--feed-interval-ms",
            "0",
            "--operator-token",
            token,
        ],
        &[],
    );
    let base = &d.1;
    let health: Value =
        reqwest::get(format!("{base}/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    // The feed replays the real series: the public boolean appears, with its history.
    let mut reserve = Value::Null;
    for _ in 0..300 {
        reserve = reqwest::get(format!("{base}/api/reserve")).await.unwrap().json().await.unwrap();
        if reserve["rounds"].as_u64().unwrap() > 50
            && !reserve["history"].as_array().unwrap().is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reserve["series_readings"], 16_442, "{reserve}");
    assert_eq!(reserve["is_solvent"], true);
    assert_eq!(
        reserve["reports"].as_u64().unwrap() as usize,
        reserve["history"].as_array().unwrap().len()
    );
    let tail: Value =
        reqwest::get(format!("{base}/api/reserve?history=1")).await.unwrap().json().await.unwrap();
    assert_eq!(tail["history"].as_array().unwrap().len(), 1);
    assert!(reserve["receiver"].as_str().unwrap().starts_with("0x"));
    let op: Value = reqwest::Client::new()
        .get(format!("{base}/api/operator/view"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ratio = op["reserve_ratio"].as_array().unwrap();
    assert!(ratio.len() > 1000 && ratio.len() <= 1500, "{}", ratio.len());
    let r0 = ratio[0][1].as_f64().unwrap();
    assert!((0.9..1.1).contains(&r0), "a real wBTC reserve ratio: {r0}");
    // The public reserve view carries no ratio.
    assert!(!reserve.to_string().contains(&format!("{r0}")));
    // The custodian API runs beside /api: bodies only sealed to a recipient key.
    let key = "11".repeat(32);
    let sealed: Value =
        reqwest::get(format!("{base}/custodian/reserves?recipient={key}&at=1700000000"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(sealed["sealed"].as_str().unwrap().starts_with("0x"), "{sealed}");
    let unsealed = reqwest::get(format!("{base}/custodian/reserves")).await.unwrap();
    assert_eq!(unsealed.status(), 400);
    let page = reqwest::get(format!("{base}/")).await.unwrap().text().await.unwrap();
    assert!(page.contains("data-scenario=\"small-deficit\""));
}

#[tokio::test]
async fn configuration_precedence_file_env_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shr.toml"),
        "port = 0\ndatabase_url = \"sqlite:from-file.db\"\noperator_token = \"file-token-0123456789\"\nfeed_interval_ms = 1000\n",
    )
    .unwrap();
    // File only.
    let d = demo(dir.path(), &[], &[]);
    assert_eq!(operator_status(&d.1, "file-token-0123456789").await, 200);
    drop(d);
    assert!(dir.path().join("from-file.db").exists(), "database_url from the file");
    // Environment over file.
    let d = demo(dir.path(), &[], &[("SHR_OPERATOR_TOKEN", "env-token-0123456789")]);
    assert_eq!(operator_status(&d.1, "env-token-0123456789").await, 200);
    assert_eq!(operator_status(&d.1, "file-token-0123456789").await, 401);
    drop(d);
    // Flag over environment.
    let d = demo(
        dir.path(),
        &["--operator-token", "flag-token-0123456789"],
        &[("SHR_OPERATOR_TOKEN", "env-token-0123456789")],
    );
    assert_eq!(operator_status(&d.1, "flag-token-0123456789").await, 200);
    assert_eq!(operator_status(&d.1, "env-token-0123456789").await, 401);
    drop(d);
    // A bad file is refused, naming the file and the key.
    std::fs::write(dir.path().join("bad.toml"), "prot = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .current_dir(dir.path())
        .args(["demo", "--config", "bad.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("prot"), "{err}");
}
