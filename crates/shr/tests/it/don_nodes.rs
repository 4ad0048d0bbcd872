//! The DON as a service on real parts: anvil, a NATS server with JetStream, four `shr don node`
//! processes and an HTTP custodian. Solvent, a two-round shortfall attested insolvent, restored;
//! a node killed and the others carrying on (f = 1); the node restarted and caught up; the NATS
//! server restarted and the DON resuming; one node fed a different body changing nothing; every
//! report on chain checked against what the custodian served at its observation time; SIGTERM
//! exits 0.

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
const PERIOD: u64 = 2;
const SUPPLY: u64 = 140_000;

#[derive(Debug, Default)]
struct Custodian {
    /// Reserves in whole tokens the honest body shows.
    reserves: u64,
    /// Reserves node 3's body shows while it is fed a different body.
    lie: Option<u64>,
    /// What the honest body said at each served timestamp: solvent?
    served: BTreeMap<u64, bool>,
}

fn unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().unwrap().as_secs()
}

/// Serves `/por/{node}`: the Chainlink PoR convention, timestamped at the round's second.
fn serve(rt: &tokio::runtime::Runtime, state: Arc<Mutex<Custodian>>) -> String {
    use axum::{Json, Router, extract::Path as P, routing::get};
    let app = Router::new().route(
        "/por/{node}",
        get(move |P(node): P<usize>| {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                let t = unix() / PERIOD * PERIOD;
                let honest = s.reserves;
                s.served.insert(t, honest >= SUPPLY);
                let reserves = if node == 3 { s.lie.unwrap_or(honest) } else { honest };
                Json(serde_json::json!({
                    "totalReserve": reserves.to_string(),
                    "totalToken": SUPPLY.to_string(),
                    "timestamp": t,
                }))
            }
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn nats_server_bin() -> PathBuf {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_nats(port: u16, store: &Path, log: &Path) -> Child {
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

fn shr(url: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(args)
        .args(["--rpc-url", url])
        .env("RUST_LOG", "error")
        .env_remove("SHR_TEE_SEED")
        .output()
        .expect("shr runs");
    assert!(out.status.success(), "shr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

struct Dons {
    rpc: String,
    nats: String,
    custodian: String,
    manifest: String,
    dir: PathBuf,
}

impl Dons {
    fn spawn(&self, i: usize, log: &str) -> Child {
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

    fn status(&self) -> Value {
        shr(&self.rpc, &["status", "--deployment", &self.manifest, "--json", "--last", "1000"])
    }

    /// Waits until the receiver says `solvent` with an observation after `since`.
    fn wait_for(&self, solvent: bool, since: u64, within: Duration, what: &str) -> Value {
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

    fn logs(&self) -> String {
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
fn rounds(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "round")
        .collect()
}

fn set(c: &Mutex<Custodian>, reserves: u64, lie: Option<u64>) {
    let mut s = c.lock().unwrap();
    s.reserves = reserves;
    s.lie = lie;
}

#[test]
fn four_node_processes_over_nats_survive_a_killed_node_a_nats_restart_and_a_lying_feed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anvil = Anvil::spawn().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let store = dir.join("nats-store");
    let mut nats = start_nats(port, &store, &dir.join("nats-server.log"));
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
    shr(&dons.rpc, &["deploy", "--don", &node_dirs.join(","), "--out", &dons.manifest]);
    let mut nodes: Vec<Child> = (0..4).map(|i| dons.spawn(i, &format!("node{i}.log"))).collect();
    let minute = Duration::from_secs(30);

    // Solvent; then a shortfall confirmed over two rounds; then restored.
    let t = unix();
    dons.wait_for(true, 0, minute, "first solvent report");
    set(&custodian, 130_000, None);
    let t_short = unix();
    let s = dons.wait_for(false, t_short, minute, "shortfall attested");
    let first_short = custodian.lock().unwrap().served.range(t_short..).next().map(|(t, _)| *t);
    assert!(
        s["last_updated"].as_u64().unwrap() >= first_short.unwrap() + PERIOD,
        "two short rounds before insolvent: {s}"
    );
    set(&custodian, 150_000, None);
    dons.wait_for(true, unix(), minute, "restored");

    // Node 0 killed: the three others carry on through a shortfall and its end.
    nodes[0].kill().unwrap();
    nodes[0].wait().unwrap();
    set(&custodian, 120_000, None);
    dons.wait_for(false, unix(), minute, "shortfall with node 0 down");
    set(&custodian, 150_000, None);
    dons.wait_for(true, unix(), minute, "restored with node 0 down");

    // Node 0 restarted: it catches up and votes in the next rounds.
    let restarted = unix();
    nodes[0] = dons.spawn(0, "node0-restarted.log");
    let deadline = Instant::now() + minute;
    while !rounds(&dir.join("node0-restarted.log"))
        .iter()
        .any(|r| r["votes"].as_u64().unwrap_or(0) >= 3 && r["round"].as_u64().unwrap() > restarted)
    {
        assert!(Instant::now() < deadline, "node 0 did not catch up\n{}", dons.logs());
        std::thread::sleep(Duration::from_millis(250));
    }

    // The NATS server restarted (same store): the DON resumes.
    nats.kill().unwrap();
    nats.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    nats = start_nats(port, &store, &dir.join("nats-server-restarted.log"));
    set(&custodian, 125_000, None);
    dons.wait_for(false, unix(), minute, "shortfall after the NATS restart");
    set(&custodian, 150_000, None);
    dons.wait_for(true, unix(), minute, "restored after the NATS restart");

    // Node 3 fed a body that shows a shortfall: it is outvoted, nothing changes on chain.
    let before = dons.status();
    set(&custodian, 150_000, Some(100_000));
    std::thread::sleep(Duration::from_secs(4 * PERIOD));
    let during = dons.status();
    assert_eq!(during["is_solvent"], true, "{during}");
    let lied: Vec<Value> = rounds(&dir.join("node3.log"))
        .into_iter()
        .filter(|r| r["round"].as_u64().unwrap() > unix() - 4 * PERIOD)
        .collect();
    assert!(lied.iter().all(|r| r["agreed_is_solvent"] != false), "{lied:?}");
    set(&custodian, 150_000, None);

    // Every report on chain says what the custodian served at its observation time.
    let history = dons.status();
    let served = custodian.lock().unwrap().served.clone();
    let reports = history["last_reports"].as_array().unwrap();
    assert!(reports.len() >= 7, "{history}");
    for r in reports {
        let at = r["observed_at"].as_u64().unwrap();
        assert_eq!(served.get(&at), Some(&r["is_solvent"].as_bool().unwrap()), "report {r}");
    }
    assert!(before["reports"].as_u64() <= during["reports"].as_u64());
    assert!(t <= unix());

    // SIGTERM: each node finishes its round and exits 0.
    for n in &mut nodes {
        let ok = Command::new("kill").args(["-TERM", &n.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = n.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "node {i} did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "node {i} exited with {status}");
    }
    nats.kill().ok();
    for log in ["node0", "node0-restarted", "node1", "node2", "node3"] {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for r in rounds(&dir.join(format!("{log}.log"))) {
            *by.entry(r["status"].as_str().unwrap_or("").to_string()).or_default() += 1;
        }
        eprintln!("{log}: {by:?}");
    }
}
