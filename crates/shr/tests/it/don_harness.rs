//! The harness of the DON-as-a-service tests (`don_nodes`) and bench (`don_bench`): anvil,
//! a NATS server the test starts, an HTTP custodian and `shr don node` processes.

use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use shr_contracts::anvil::Anvil;

/// Seconds between rounds.
pub(crate) const PERIOD: u64 = 2;
pub(crate) const SUPPLY: u64 = 140_000;

#[derive(Debug, Default)]
pub(crate) struct Custodian {
    /// Reserves in whole tokens the honest body shows.
    pub(crate) reserves: u64,
    /// Reserves of other feeds' bodies (`/feed/{name}`), whole tokens.
    pub(crate) feeds: BTreeMap<String, u64>,
    /// Reserves node 3's body shows while it is fed a different body.
    pub(crate) lie: Option<u64>,
    /// Node 3's body is garbage (an amount that does not parse).
    pub(crate) garbage: bool,
    /// What the honest body said at each served timestamp (solvent?): both when the body
    /// changed within that second's window.
    pub(crate) served: BTreeMap<u64, std::collections::BTreeSet<bool>>,
    /// The API key `/feed/{name}` requires in `X-API-Key`, when set (401 without it).
    pub(crate) api_key: Option<String>,
    /// Requests `/feed/{name}` refused for a missing or wrong key.
    pub(crate) unauthorized: usize,
}

pub(crate) fn unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().unwrap().as_secs()
}

/// Serves `/por/{node}`: the Chainlink PoR convention, timestamped at the round's second.
pub(crate) fn serve(rt: &tokio::runtime::Runtime, state: Arc<Mutex<Custodian>>) -> String {
    use axum::{Json, Router, extract::Path as P, routing::get};
    let state_for_feeds = state.clone();
    let app = Router::new().route(
        "/por/{node}",
        get(move |P(node): P<usize>| {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                let t = unix() / PERIOD * PERIOD;
                let honest = s.reserves;
                s.served.entry(t).or_default().insert(honest >= SUPPLY);
                let reserves = if node == 3 { s.lie.unwrap_or(honest) } else { honest };
                if node == 3 && s.garbage {
                    return Json(serde_json::json!({
                        "totalReserve": "98,765.4321 BTC", "totalToken": SUPPLY.to_string(), "timestamp": t,
                    }));
                }
                Json(serde_json::json!({
                    "totalReserve": reserves.to_string(),
                    "totalToken": SUPPLY.to_string(),
                    "timestamp": t,
                }))
            }
        }),
    );
    let feeds_state = state_for_feeds.clone();
    let app = app.route(
        "/feed/{name}",
        get(move |P(name): P<String>, headers: axum::http::HeaderMap| {
            let state = feeds_state.clone();
            async move {
                use axum::response::IntoResponse;
                let mut s = state.lock().unwrap();
                let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                if s.api_key.as_deref().is_some_and(|k| Some(k) != key) {
                    s.unauthorized += 1;
                    return axum::http::StatusCode::UNAUTHORIZED.into_response();
                }
                let reserves = s.feeds.get(&name).copied().unwrap_or(s.reserves);
                Json(serde_json::json!({
                    "reserves": { "amount": reserves.to_string() },
                    "supply": { "amount": SUPPLY.to_string() },
                    "asOf": unix() / PERIOD * PERIOD,
                }))
                .into_response()
            }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

pub(crate) fn nats_server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SHR_NATS_SERVER") {
        return p.into();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| p.exists())
        .expect("nats-server (scripts/test installs it; or set SHR_NATS_SERVER)")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn start_nats(port: u16, store: &Path, log: &Path) -> Child {
    let child = Command::new(nats_server_bin())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .expect("nats-server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server on {port} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

pub(crate) fn shr(url: &str, args: &[&str]) -> Value {
    shr_with_stdin(url, args, "")
}

/// [`shr`] with `stdin` on its standard input.
pub(crate) fn shr_with_stdin(url: &str, args: &[&str], stdin: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(args)
        .args(["--rpc-url", url])
        .env("RUST_LOG", "error")
        .env_remove("SHR_TEE_SEED")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shr runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().expect("shr runs");
    assert!(out.status.success(), "shr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

pub(crate) struct Dons {
    pub(crate) rpc: String,
    pub(crate) nats: String,
    pub(crate) custodian: String,
    pub(crate) manifest: String,
    pub(crate) dir: PathBuf,
}

impl Dons {
    pub(crate) fn spawn(&self, i: usize, log: &str) -> Child {
        let node_dir = self.dir.join(format!("node{i}"));
        Command::new(env!("CARGO_BIN_EXE_shr"))
            .args(["don", "node", "--dir"])
            .arg(&node_dir)
            .args(["--deployment", &self.manifest, "--nats", &self.nats])
            .args(["--source", &format!("{}/por/{i}", self.custodian)])
            .args(["--schedule", &format!("*/{PERIOD} * * * * *")])
            .args(["--takeover-ms", "500", "--round-timeout-ms", "1800"])
            .args(["--rpc-url", &self.rpc, "--log-json"])
            .env("RUST_LOG", "info")
            .env_remove("SHR_TEE_SEED")
            .stdout(Stdio::null())
            .stderr(File::create(self.dir.join(log)).unwrap())
            .spawn()
            .expect("shr don node starts")
    }

    pub(crate) fn status(&self) -> Value {
        shr(&self.rpc, &["status", "--deployment", &self.manifest, "--json", "--last", "1000"])
    }

    /// Starts node `i` serving the feeds of `feeds`, with `extra` flags.
    pub(crate) fn spawn_feeds(&self, i: usize, feeds: &Path, extra: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_shr"))
            .args(["don", "node"])
            .args(extra)
            .arg("--dir")
            .arg(self.dir.join(format!("node{i}")))
            .args(["--deployment", &self.manifest, "--nats", &self.nats, "--feeds"])
            .arg(feeds)
            .args(["--takeover-ms", "500", "--round-timeout-ms", "1800"])
            .args(["--rpc-url", &self.rpc, "--log-json"])
            .env("RUST_LOG", "info")
            .env_remove("SHR_TEE_SEED")
            .stdout(Stdio::null())
            .stderr(File::create(self.dir.join(format!("feeds-node{i}.log"))).unwrap())
            .spawn()
            .expect("shr don node starts")
    }

    /// Waits until the receiver says `solvent` with an observation after `since`.
    pub(crate) fn wait_for(
        &self,
        solvent: bool,
        since: u64,
        within: Duration,
        what: &str,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status();
            if s["is_solvent"] == solvent && s["last_updated"].as_u64().unwrap_or(0) > since {
                return s;
            }
            if Instant::now() > deadline {
                panic!("{what}: the chain still says {s}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out += &format!("--- {}\n", p.display());
                for l in tail.into_iter().rev() {
                    out += l;
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The round lines a node logged.
pub(crate) fn rounds(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "round")
        .collect()
}

pub(crate) fn set(c: &Mutex<Custodian>, reserves: u64, lie: Option<u64>) {
    let mut s = c.lock().unwrap();
    s.reserves = reserves;
    s.lie = lie;
}

/// A chain, a NATS server, a custodian and four initialised node directories (not deployed).
pub(crate) struct World {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) _anvil: Anvil,
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) store: PathBuf,
    pub(crate) nats: Child,
    pub(crate) custodian: Arc<Mutex<Custodian>>,
    pub(crate) dons: Dons,
    pub(crate) node_dirs: Vec<String>,
}

pub(crate) fn world() -> World {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anvil = Anvil::spawn().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let store = dir.join("nats-store");
    let nats = start_nats(port, &store, &dir.join("nats-server.log"));
    let custodian = Arc::new(Mutex::new(Custodian { reserves: 150_000, ..Default::default() }));
    let dons = Dons {
        rpc: anvil.url(),
        nats: format!("nats://127.0.0.1:{port}"),
        custodian: serve(&rt, custodian.clone()),
        manifest: dir.join("deployment.json").display().to_string(),
        dir: dir.clone(),
    };
    let node_dirs: Vec<String> =
        (0..4).map(|i| dir.join(format!("node{i}")).display().to_string()).collect();
    for d in &node_dirs {
        shr(&dons.rpc, &["don", "init", "--dir", d]);
    }
    World { rt, _anvil: anvil, _tmp: tmp, dir, port, store, nats, custodian, dons, node_dirs }
}
