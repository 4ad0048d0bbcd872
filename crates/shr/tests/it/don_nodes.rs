//! The DON as a service on real parts (harness in `don_harness`): four `shr don node`
//! processes over NATS survive a killed node, a NATS restart, a lying and a garbage feed; one
//! DON serves two feeds from a feeds file.

use std::{
    collections::BTreeMap,
    process::{Child, Command},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::don_harness::*;

#[test]
fn four_node_processes_over_nats_survive_a_killed_node_a_nats_restart_and_a_lying_feed() {
    let World { rt: _rt, _anvil, _tmp, dir, port, store, mut nats, custodian, dons, node_dirs } =
        world();
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

#[test]
fn one_don_serves_two_feeds_from_a_feeds_file_each_on_its_own_receiver() {
    let World { rt, _anvil, _tmp, dir, port: _, store: _, mut nats, custodian, dons, node_dirs } =
        world();
    // The custodian wants an API key: each node holds it sealed to its enclave, never in argv.
    let key = "k3y-0f-the-cust0dian";
    custodian.lock().unwrap().api_key = Some(key.into());
    for d in &node_dirs {
        let out = shr_with_stdin(
            &dons.rpc,
            &["don", "secret", "--dir", d, "--name", "custodian_key", "--origin", &dons.custodian],
            &format!("{key}\n"),
        );
        assert_eq!(out["name"], "custodian_key", "{out}");
    }
    // Two feeds in a nested format (JSON Pointers), one with a single confirmation.
    let feeds = dir.join("feeds.toml");
    let feed = |name: &str, confirmations: u32| {
        format!(
            "[[feed]]\nname = \"{name}\"\nsource = \"{}/feed/{name}\"\nheaders = [\"X-API-Key: {{{{secrets.custodian_key}}}}\"]\nschedule = \"*/{PERIOD} * * * * *\"\nconfirmations = {confirmations}\npor_fields = [\"reserves=/reserves/amount\", \"supply=/supply/amount\", \"time=/asOf\"]\n",
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
    // Every request carried the key; it is nowhere in the nodes' directories or logs.
    assert_eq!(custodian.lock().unwrap().unauthorized, 0);
    let mut files = vec![];
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    assert!(files.iter().any(|p| p.ends_with("custodian_key.sealed")));
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{} holds the key",
            p.display()
        );
    }
}
