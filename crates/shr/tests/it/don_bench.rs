//! Round latency of the DON over NATS (`scripts/bench-don`), on the `don_harness` world.

use std::{
    collections::BTreeMap,
    fs::File,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use super::don_harness::*;

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
/// between solvent and a shortfall every minute, feeds offset by 10 s each, changing between
/// rounds, so reports are transmitted too. A round's latency runs from its scheduled second to the transmitting node's
/// receipt (a transmitted round) or to the last decision that nothing is due among the nodes
/// that took it (at least 2f+1 = 3; fewer is a missed round). Run by
/// `scripts/bench-don`; prints one JSON object.
#[test]
#[ignore = "bench (minutes): scripts/bench-don"]
fn bench_don_round_latency_over_nats() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (secs, n_feeds) = (env("SHR_BENCH_SECS", 600), env("SHR_BENCH_FEEDS", 1) as usize);
    let World {
        rt: _rt,
        _anvil,
        _tmp,
        dir,
        port: _,
        store: _,
        mut nats,
        custodian,
        dons,
        node_dirs,
    } = world();
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
            .env("RUST_LOG", std::env::var("SHR_BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()))
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
            // A custodian's figure changes between rounds (at second 5 of a period), as a
            // new report does: every node of a round reads the same report. A change at the
            // round's own second splits the nodes' reads (some before, some after), a round
            // without consensus that measures the custodian, not the DON.
            let phase = (unix().saturating_sub(from) + 10 * i as u64 + 5) / 60;
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
        let f: Vec<i64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        // utime and stime are fields 14 and 15; the state (field 3) does not parse, so they sit
        // at 10 and 11 counting from the ppid (field 4). (tpgid, field 8, is -1 without a
        // terminal: parsed as i64, not dropped.)
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
