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
    /// Reserves of other feeds' bodies (`/feed/{name}`), whole tokens.
    feeds: BTreeMap<String, u64>,
    /// Reserves node 3's body shows while it is fed a different body.
    lie: Option<u64>,
    /// Node 3's body is garbage (an amount that does not parse).
    garbage: bool,
    /// What the honest body said at each served timestamp (solvent?): both when the body
    /// changed within that second's window.
    served: BTreeMap<u64, std::collections::BTreeSet<bool>>,
}

fn unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().unwrap().as_secs()
}

/// Serves `/por/{node}`: the Chainlink PoR convention, timestamped at the round's second.
fn serve(rt: &tokio::runtime::Runtime, state: Arc<Mutex<Custodian>>) -> String {
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
        get(move |P(name): P<String>| {
            let state = feeds_state.clone();
            async move {
                let s = state.lock().unwrap();
                let reserves = s.feeds.get(&name).copied().unwrap_or(s.reserves);
                Json(serde_json::json!({
                    "reserves": { "amount": reserves.to_string() },
                    "supply": { "amount": SUPPLY.to_string() },
                    "asOf": unix() / PERIOD * PERIOD,
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

    /// Starts node `i` serving the feeds of `feeds`, with `extra` flags.
    fn spawn_feeds(&self, i: usize, feeds: &Path, extra: &[&str]) -> Child {
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

    // Node 3's custodian answers garbage: a refused reading named in its log (never the value),
    // the node keeps running, the others carry a shortfall through.
    custodian.lock().unwrap().garbage = true;
    set(&custodian, 110_000, None);
    dons.wait_for(false, unix(), minute, "shortfall while node 3 reads garbage");
    custodian.lock().unwrap().garbage = false;
    set(&custodian, 150_000, None);
    dons.wait_for(true, unix(), minute, "restored after the garbage");
    let log3 = std::fs::read_to_string(dir.join("node3.log")).unwrap();
    assert!(log3.contains("invalid_amount") && !log3.contains("98,765"), "node 3's log");
    assert!(nodes[3].try_wait().unwrap().is_none(), "node 3 still runs");

    // Every report on chain says what the custodian served at its observation time.
    let history = dons.status();
    let served = custodian.lock().unwrap().served.clone();
    let reports = history["last_reports"].as_array().unwrap();
    assert!(reports.len() >= 9, "{history}");
    for r in reports {
        let at = r["observed_at"].as_u64().unwrap();
        let said = r["is_solvent"].as_bool().unwrap();
        assert!(
            served.get(&at).is_some_and(|s| s.contains(&said)),
            "report {r}: served {served:?}"
        );
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
    nats.wait().ok();
    for log in ["node0", "node0-restarted", "node1", "node2", "node3"] {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for r in rounds(&dir.join(format!("{log}.log"))) {
            *by.entry(r["status"].as_str().unwrap_or("").to_string()).or_default() += 1;
        }
        eprintln!("{log}: {by:?}");
    }
}

/// p-th percentile (0..=100) of sorted `xs`, nearest rank.
fn percentile(xs: &[u64], p: u64) -> u64 {
    if xs.is_empty() {
        return 0;
    }
    let rank = (p as usize * xs.len()).div_ceil(100).max(1);
    xs[rank - 1]
}

/// Round latency of four node processes over NATS on a 10-second schedule, for
/// `SHR_BENCH_SECS` (default 600) seconds and `SHR_BENCH_FEEDS` feeds (default 1; more than one
/// through a feeds file, every feed its own receiver). Each feed's custodian body alternates
/// between solvent and a shortfall every minute, feeds offset by 10 s each, so reports are
/// transmitted too. A round's latency runs from its scheduled second to the transmitting node's
/// receipt (a transmitted round) or to the last decision that nothing is due among the nodes
/// that took it (at least 2f+1 = 3; fewer is a missed round). Run by
/// `scripts/bench-don`; prints one JSON object.
#[test]
#[ignore = "bench (minutes): scripts/bench-don"]
fn bench_don_round_latency_over_nats() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (secs, n_feeds) = (env("SHR_BENCH_SECS", 600), env("SHR_BENCH_FEEDS", 1) as usize);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anvil = Anvil::spawn().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let mut nats = start_nats(port, &dir.join("nats-store"), &dir.join("nats-server.log"));
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
    let names: Vec<String> = (0..n_feeds).map(|i| format!("f{i}")).collect();
    let feeds = dir.join("feeds.toml");
    let mut deploy = vec!["deploy", "--don", &node_dirs.join(","), "--out", &dons.manifest]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    if n_feeds > 1 {
        let text: String = names
            .iter()
            .map(|n| {
                format!(
                    "[[feed]]\nname = \"{n}\"\nsource = \"{}/feed/{n}\"\nschedule = \"*/10 * * * * *\"\npor_fields = [\"reserves=/reserves/amount\", \"supply=/supply/amount\", \"time=/asOf\"]\n",
                    dons.custodian
                )
            })
            .collect();
        std::fs::write(&feeds, text).unwrap();
        deploy.extend(["--feeds".into(), feeds.display().to_string()]);
    }
    let deploy: Vec<&str> = deploy.iter().map(String::as_str).collect();
    shr(&dons.rpc, &deploy);
    let spawn = |i: usize| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shr"));
        c.args(["don", "node", "--dir"]).arg(dir.join(format!("node{i}"))).args([
            "--deployment",
            &dons.manifest,
            "--nats",
            &dons.nats,
        ]);
        if n_feeds > 1 {
            c.arg("--feeds").arg(&feeds);
        } else {
            c.args(["--source", &format!("{}/por/{i}", dons.custodian)])
                .args(["--schedule", "*/10 * * * * *"]);
        }
        c.args(["--rpc-url", &dons.rpc, "--log-json"])
            .env("RUST_LOG", "info")
            .env_remove("SHR_TEE_SEED")
            .stdout(Stdio::null())
            .stderr(File::create(dir.join(format!("node{i}.log"))).unwrap())
            .spawn()
            .expect("shr don node starts")
    };
    let mut nodes: Vec<Child> = (0..4).map(spawn).collect();
    // Measure from the first full round after every node is up and has run a round or two.
    let warmup = env("SHR_BENCH_WARMUP_SECS", 20);
    std::thread::sleep(Duration::from_secs(warmup));
    let from = unix() / 10 * 10 + 10;
    let to = from + secs;
    while unix() < to + 5 {
        let mut s = custodian.lock().unwrap();
        for (i, n) in names.iter().enumerate() {
            let phase = (unix().saturating_sub(from) + 10 * i as u64) / 60;
            s.feeds.insert(n.clone(), if phase.is_multiple_of(2) { 150_000 } else { 120_000 });
        }
        s.reserves = s.feeds[&names[0]];
        drop(s);
        std::thread::sleep(Duration::from_millis(200));
    }
    // CPU seconds each process used (user + system, /proc/PID/stat, 100 ticks a second).
    let cpu = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<u64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        // utime and stime are fields 14 and 15; the state (field 3) does not parse, so they sit
        // at 10 and 11 counting from the ppid (field 4).
        f.get(10).zip(f.get(11)).map_or(0.0, |(u, s)| (u + s) as f64 / 100.0)
    };
    let node_cpu: Vec<f64> = nodes.iter().map(|n| cpu(n.id())).collect();
    let nats_cpu = cpu(nats.id());
    for n in &mut nodes {
        let _ = Command::new("kill").args(["-TERM", &n.id().to_string()]).status();
    }
    for n in &mut nodes {
        let _ = n.wait();
    }
    nats.kill().ok();
    nats.wait().ok();

    if let Ok(keep) = std::env::var("SHR_BENCH_LOGS") {
        std::fs::create_dir_all(&keep).unwrap();
        for i in 0..4 {
            let name = format!("node{i}.log");
            std::fs::copy(dir.join(&name), Path::new(&keep).join(&name)).unwrap();
        }
    }
    let mut by_round: BTreeMap<(String, u64), Vec<Value>> = BTreeMap::new();
    for i in 0..4 {
        for r in rounds(&dir.join(format!("node{i}.log"))) {
            let round = r["round"].as_u64().unwrap();
            let feed = r["feed"].as_str().unwrap_or_default().to_string();
            if (from..to).contains(&round) {
                by_round.entry((feed, round)).or_default().push(r);
            }
        }
    }
    let feed_names: Vec<String> =
        if n_feeds > 1 { names.clone() } else { vec![shr_oracle::DEFAULT_FEED.to_string()] };
    let (mut all, mut sent, mut quiet, mut missed) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for feed in &feed_names {
        for round in (from..to).step_by(10) {
            let rs = by_round.get(&(feed.clone(), round)).cloned().unwrap_or_default();
            let us = |r: &Value| r["since_fire_us"].as_u64().unwrap_or(u64::MAX);
            if let Some(t) = rs.iter().find(|r| r["status"] == "transmitted") {
                sent.push(us(t));
                all.push(us(t));
            } else if rs.iter().filter(|r| r["status"] == "not_due").count() >= 3 {
                // 2f+1 nodes decided nothing is due: the latest of them.
                let l = rs.iter().filter(|r| r["status"] == "not_due").map(us).max();
                quiet.push(l.unwrap_or_default());
                all.push(l.unwrap_or_default());
            } else {
                missed += 1;
            }
        }
    }
    for v in [&mut all, &mut sent, &mut quiet] {
        v.sort_unstable();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let out = serde_json::json!({
        "nodes": 4, "feeds": n_feeds, "schedule_secs": 10, "duration_secs": secs,
        "rounds": feed_names.len() as u64 * secs / 10, "missed": missed,
        "p50_ms": ms(percentile(&all, 50)), "p99_ms": ms(percentile(&all, 99)),
        "max_ms": ms(all.last().copied().unwrap_or_default()),
        "transmitted": sent.len(),
        "transmitted_p50_ms": ms(percentile(&sent, 50)), "transmitted_p99_ms": ms(percentile(&sent, 99)),
        "not_due": quiet.len(),
        "not_due_p50_ms": ms(percentile(&quiet, 50)), "not_due_p99_ms": ms(percentile(&quiet, 99)),
        "node_cpu_secs": node_cpu, "nats_cpu_secs": nats_cpu,
        "warmup_secs": warmup,
    });
    println!("{out}");
}

#[test]
fn one_don_serves_two_feeds_from_a_feeds_file_each_on_its_own_receiver() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let anvil = Anvil::spawn().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let mut nats = start_nats(port, &dir.join("nats-store"), &dir.join("nats-server.log"));
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
    // Two feeds in a nested format (JSON Pointers), one with a single confirmation.
    let feeds = dir.join("feeds.toml");
    let feed = |name: &str, confirmations: u32| {
        format!(
            "[[feed]]\nname = \"{name}\"\nsource = \"{}/feed/{name}\"\nschedule = \"*/{PERIOD} * * * * *\"\nconfirmations = {confirmations}\npor_fields = [\"reserves=/reserves/amount\", \"supply=/supply/amount\", \"time=/asOf\"]\n",
            dons.custodian
        )
    };
    std::fs::write(&feeds, feed("usdx", 1) + &feed("btcx", 2)).unwrap();
    let deploy = ["deploy", "--don", &node_dirs.join(","), "--out", &dons.manifest, "--feeds"];
    let m = shr(&dons.rpc, &[&deploy[..], &[feeds.to_str().unwrap()]].concat());
    let receivers: Vec<&str> =
        m["feeds"].as_array().unwrap().iter().map(|f| f["receiver"].as_str().unwrap()).collect();
    assert_eq!(receivers.len(), 2, "{m}");
    assert_ne!(receivers[0], receivers[1]);
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut nodes: Vec<Child> = (0..4)
        .map(|i| match i {
            0 => dons.spawn_feeds(i, &feeds, &["--metrics", &metrics]),
            _ => dons.spawn_feeds(i, &feeds, &[]),
        })
        .collect();
    let status = |name: &str| {
        shr(&dons.rpc, &["status", "--deployment", &dons.manifest, "--feed", name, "--json"])
    };
    let wait = |name: &str, solvent: bool, since: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = status(name);
            if s["is_solvent"] == solvent && s["last_updated"].as_u64().unwrap_or(0) > since {
                return s;
            }
            assert!(Instant::now() < deadline, "feed {name}: {s}\n{}", dons.logs());
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait("usdx", true, 0);
    wait("btcx", true, 0);
    // A shortfall in one feed moves its receiver only.
    let t = unix();
    custodian.lock().unwrap().feeds.insert("usdx".into(), 100_000);
    wait("usdx", false, t);
    assert_eq!(status("btcx")["is_solvent"], true);
    assert_eq!(status("btcx")["reports"], 1, "nothing due on the other feed");

    // Node 0's operations endpoints: healthy, and its rounds counted per feed.
    let get = |path: &str| {
        rt.block_on(async {
            let r = reqwest::get(format!("http://{metrics}{path}")).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (code, health) = get("/healthz");
    assert_eq!(code, 200, "{health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (&health["nats_connected"], &health["feeds"]["usdx"]["ok"]),
        (&true.into(), &true.into())
    );
    let (code, text) = get("/metrics");
    assert_eq!(code, 200);
    for want in [
        "shr_oracle_rounds_total{feed=\"usdx\"",
        "shr_oracle_rounds_total{feed=\"btcx\"",
        "shr_oracle_round_latency_seconds_bucket{feed=\"usdx\",le=\"0.05\"}",
        "shr_oracle_nats_events_total{event=\"connected\"}",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
    for n in &mut nodes {
        let _ = Command::new("kill").args(["-TERM", &n.id().to_string()]).status();
    }
    for n in &mut nodes {
        assert!(n.wait().unwrap().success());
    }
    nats.kill().ok();
    nats.wait().ok();
}
