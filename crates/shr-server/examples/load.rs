//! Bounded load test on loopback: `GET /api/reserve` for a fixed duration from concurrent
//! connections, and SSE fan-out of published events to many clients. Prints p50/p99/max.
//!
//! The server state is real: the DON attests the shipped wBTC series on an embedded chain first
//! (so `/api/reserve` carries the real public history), then the load runs against the axum
//! server over TCP on 127.0.0.1. Client and server share the machine's cores.
//!
//! `cargo run --release -p shr-server --example load -- [seconds=10] [connections=32] [sse_clients=500] [events=200]`

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{Don, DonConfig, ReserveSeries, SeriesColumns};
use shr_server::{AppState, Event, ScriptedRunner, ServerConfig};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (secs, conns, sse_clients, events) = (arg(1, 10), arg(2, 32), arg(3, 500), arg(4, 200));
    let dir = tempfile::tempdir()?;
    let store =
        shr_store::Store::open(&format!("sqlite:{}", dir.path().join("l.db").display())).await?;
    let tee = SimulatedTee::new();
    let state = AppState::new(
        ServerConfig { operator_token: None, ..Default::default() },
        store,
        Enclave::launch(&tee, "shr-server/load")?,
        Arc::new(ScriptedRunner::new(vec![], Duration::ZERO)),
    );

    // The real public history: the whole wBTC series through the DON, no pause.
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv"
    );
    let series = ReserveSeries::from_path(std::path::Path::new(csv), &SeriesColumns::wbtc(), 8)?;
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: series.readings[0].observed_at - 1,
        ..Default::default()
    });
    let owner = chain.accounts()[0];
    let mut don = Don::new(&tee, DonConfig::new("wbtc-por", owner, 8))?;
    let dep = don.deploy(&chain, owner).await?;
    let t = Instant::now();
    shr_server::reserve_feed::run(
        state.clone(),
        &chain,
        &mut don,
        &dep,
        chain.accounts()[1],
        &series.readings,
        Duration::ZERO,
    )
    .await?;
    let view = state.reserve();
    let body_len = serde_json::to_vec(&view)?.len();
    println!(
        "feed: {} rounds, {} reports in {:.1} s; /api/reserve body {} bytes",
        view.rounds,
        view.history.len(),
        t.elapsed().as_secs_f64(),
        body_len
    );
    drop(chain);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(shr_server::serve(listener, state.clone(), std::future::pending()));

    // 1. GET /api/reserve from `conns` keep-alive connections for `secs` seconds.
    let client = reqwest::Client::builder().pool_max_idle_per_host(conns as usize).build()?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (c, url) = (client.clone(), format!("{base}/api/reserve"));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match c.get(&url).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    lat.sort_unstable();
    println!(
        "GET /api/reserve: {} requests in {secs} s from {conns} connections ({:.0} req/s), errors {errors}; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        lat.len() as f64 / secs as f64,
        pct(&lat, 0.50) as f64 / 1e3,
        pct(&lat, 0.99) as f64 / 1e3,
        lat.last().copied().unwrap_or(0) as f64 / 1e3,
    );

    // 2. SSE fan-out: `sse_clients` subscribers, `events` events published 10 ms apart; each
    //    client records publish-to-receipt latency of every event.
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events as usize]));
    let mut subs = Vec::new();
    let sse = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    for _ in 0..sse_clients {
        let r = sse.get(format!("{base}/api/events")).send().await?;
        let sent = sent.clone();
        subs.push(tokio::spawn(async move {
            let mut stream = r.bytes_stream();
            let mut buf = String::new();
            let mut lat = Vec::with_capacity(events as usize);
            while lat.len() < events as usize {
                let Ok(Some(Ok(chunk))) =
                    tokio::time::timeout(Duration::from_secs(10), stream.next()).await
                else {
                    break;
                };
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: "))
                        && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
                        && let Some(i) = v["round"].as_u64()
                        && let Some(t) = sent.lock().expect("lock")[i as usize]
                    {
                        lat.push(now.duration_since(t).as_micros() as u64);
                    }
                }
            }
            lat
        }));
    }
    // Let every subscription register before publishing.
    while state.subscribers() < sse_clients as usize {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..events {
        sent.lock().expect("lock")[i as usize] = Some(Instant::now());
        state.publish(Event::Round { round: i, observed_at: i, transmitted: false });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut all = Vec::new();
    for s in subs {
        all.extend(s.await?);
    }
    all.sort_unstable();
    println!(
        "SSE fan-out: {sse_clients} clients x {events} events = {} expected, {} delivered; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sse_clients * events,
        all.len(),
        pct(&all, 0.50) as f64 / 1e3,
        pct(&all, 0.99) as f64 / 1e3,
        all.last().copied().unwrap_or(0) as f64 / 1e3,
    );
    Ok(())
}
