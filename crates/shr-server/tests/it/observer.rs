//! An observer who does arithmetic. The three scenarios run for real (the series' real
//! shortfalls, the real V2 pair, the embedded chain recording every transaction, log and storage
//! word) through the server, on SQLite and on PostgreSQL; the observer collects every public
//! number: 32-byte words of calldata, logs and storage, the digits of every public HTTP body,
//! the SSE stream, the logs at `info` and the store's rows. From them and the public supply,
//! pool reserves and scales it derives sums and differences with the supply, scalings by 10^k
//! (floored and rounded: a token's decimals), ratios in wad and bps, and looks for every private
//! number of the runs (their steps' private halves: deficits, reserve ratios and their distance
//! to 100 %, order sizes, fills, payments, buffers). `docs/PRIVACY.md` declares what a public
//! surface may show; nothing else is found. Two planted leaks (the reserves as a public number,
//! the deficit scaled to 18 decimals) prove the observer can fail.

use std::{
    collections::BTreeSet,
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use alloy::primitives::U256;
use futures_util::StreamExt;
use serde_json::Value;
use shr_agent::{DarkPoolScenarioConfig, ScenarioReport, SmallDeficitConfig, Step, StrategyConfig};
use shr_chain::{EmbeddedChain, EmbeddedConfig, RecordingChain, observer::Observer};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{ReserveReading, ReserveSeries, SeriesColumns, WAD};
use shr_server::{AppState, ScenarioRunner, ServerConfig};
use sqlx::Connection;

const TOKEN: &str = "observer-test-operator-token-0123456789";
const SERIES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv");
const POOL: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/uniswap/univ2_wbtc_weth_block17600000.json");

/// The first shortfall at or after `at` (unix s): the last solvent reading and the short one.
fn dip(at: u64) -> (ReserveReading, ReserveReading) {
    let series = ReserveSeries::from_path(SERIES.as_ref(), &SeriesColumns::wbtc(), 8).unwrap();
    let w = series.window(Some(at), None);
    let i = w.iter().position(|r| r.reserves < r.supply).expect("a shortfall");
    (w[i - 1], w[i])
}

fn pool() -> (U256, U256) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(POOL).unwrap()).unwrap();
    let n = |k: &str| {
        U256::from(v[k].as_u64().map(u128::from).unwrap_or_else(|| v[k].as_f64().unwrap() as u128))
    };
    (n("reserves_token0"), n("reserves_token1"))
}

/// Runs the real scenarios, keeping each full report and the chain's public bytes.
#[derive(Default, Clone)]
struct RealRunner {
    reports: Arc<Mutex<Vec<ScenarioReport>>>,
    chain: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ScenarioRunner for RealRunner {
    fn names(&self) -> Vec<String> {
        ["small-deficit", "large-deficit", "darkpool-failure"].map(String::from).to_vec()
    }

    fn run(
        &self,
        name: &str,
        on_step: &(dyn Fn(&Step) + Send + Sync),
    ) -> Result<ScenarioReport, Box<dyn std::error::Error + Send + Sync>> {
        // 2023-07-05 (0.379 WBTC short) and 2024-10-08 (9,623 WBTC short).
        let (solvent, short) =
            dip(if name == "small-deficit" { 1_688_515_200 } else { 1_728_345_600 });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (report, hay) = rt.block_on(async {
            let chain = RecordingChain::new(EmbeddedChain::with_config(EmbeddedConfig {
                genesis_timestamp: solvent.observed_at - 10,
                ..Default::default()
            }));
            let tee = SimulatedTee::new();
            let report = if name == "small-deficit" {
                let cfg = SmallDeficitConfig {
                    solvent,
                    short,
                    price_usd_e8: 30_498 * 100_000_000,
                    pool: pool(),
                    treasury: U256::from(100u128 * 10u128.pow(18)),
                    strategy: StrategyConfig::default(),
                };
                shr_agent::small_deficit(&chain, &tee, &cfg, Some(on_step)).await?
            } else {
                let price = 61_953 * 100_000_000;
                let cfg = if name == "large-deficit" {
                    DarkPoolScenarioConfig::large_deficit((solvent, short), price, pool())
                } else {
                    DarkPoolScenarioConfig::darkpool_failure((solvent, short), price, pool())
                };
                shr_agent::dark_pool(&chain, &tee, &cfg, Some(on_step)).await?
            };
            let hay = chain.public_bytes().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((report, hay))
        })?;
        self.reports.lock().unwrap().push(report.clone());
        self.chain.lock().unwrap().extend(hay);
        Ok(report)
    }
}

/// Everything written at `info` by any test of this binary (the observer reads all of it).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct W;
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                logs().lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(|| W)
            .try_init();
        Mutex::new(Vec::new())
    })
}

/// The private numbers of the runs (at least 1,000: smaller ones are spreads, bps, counts) and,
/// for a ratio, its distance to 100 % in wad.
fn private_values(reports: &[ScenarioReport]) -> BTreeSet<U256> {
    fn walk(key: &str, v: &Value, out: &mut BTreeSet<U256>) {
        match v {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(n) = s.parse::<U256>() {
                    out.insert(n);
                    if key.contains("ratio") {
                        out.insert(if n > WAD { n - WAD } else { WAD - n });
                    }
                }
            }
            Value::Number(n) => {
                if let Some(n) = n.as_u64() {
                    out.insert(U256::from(n));
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(key, x, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| walk(k, x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for r in reports {
        for s in &r.steps {
            walk("", &s.private, &mut out);
        }
    }
    out.retain(|v| *v >= U256::from(1_000u32));
    out
}

async fn wait_finished(c: &reqwest::Client, base: &str, name: &str) -> Value {
    for _ in 0..2_400 {
        let r = c.get(format!("{base}/api/scenarios/{name}")).send().await.unwrap();
        if r.status() == 200 {
            let v: Value = r.json().await.unwrap();
            if v["status"] != "running" {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} did not finish");
}

/// Runs every scenario through a server on `url`; returns the runner and the public text
/// (bodies and the SSE stream).
async fn run_all(url: &str) -> (RealRunner, String) {
    let store = shr_store::Store::open(url).await.unwrap();
    let sealer = Enclave::launch(&SimulatedTee::new(), "shr-server/observer").unwrap();
    let runner = RealRunner::default();
    let cfg = ServerConfig { operator_token: Some(TOKEN.into()), ..Default::default() };
    let state = AppState::new(cfg, store, sealer, Arc::new(runner.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shr_server::serve(listener, state, std::future::pending()));
    let c = reqwest::Client::new();
    let sse = c.get(format!("{base}/api/events")).send().await.unwrap();
    let mut sse = sse.bytes_stream();
    let mut public = String::new();
    for name in runner.names() {
        // The previous run's view reads finished a moment before the server takes a new one.
        let mut r = c.post(format!("{base}/api/scenarios/{name}")).send().await.unwrap();
        for _ in 0..100 {
            if r.status() != 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            r = c.post(format!("{base}/api/scenarios/{name}")).send().await.unwrap();
        }
        assert_eq!(r.status(), 202, "{name}");
        let run = wait_finished(&c, &base, &name).await;
        assert_eq!(run["status"], "passed", "{name}: {run}");
        public.push_str(&run.to_string());
    }
    for path in ["/api/reserve", "/api/darkpool/requests", "/api/incidents", "/api/health"] {
        public
            .push_str(&c.get(format!("{base}{path}")).send().await.unwrap().text().await.unwrap());
    }
    let mut finished = 0;
    while finished < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), sse.next())
            .await
            .expect("SSE in time")
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&chunk).to_string();
        finished += text.matches("event: scenario_finished").count();
        public.push_str(&text);
    }
    (runner, public)
}

/// The observer's verdict over one backend's runs plus `rows` (the store as an observer of the
/// database reads it).
fn observe(runner: &RealRunner, public: &str, rows: &[u8]) {
    let reports = runner.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(ScenarioReport::as_expected), "{reports:#?}");
    // The dashboard shows each step's row of docs/PRIVACY.md: every real step has one.
    for s in reports.iter().flat_map(|r| &r.steps) {
        assert!(
            shr_server::privacy::for_step(&s.name).is_some(),
            "{}: no row in PRIVACY.md",
            s.name
        );
    }
    let private = private_values(&reports);
    assert!(private.len() > 20, "the scan covers real private figures: {}", private.len());
    // Public constants: the supplies the boolean is about, the pool's reserves.
    let (p0, p1) = pool();
    let mut constants = vec![p0, p1];
    for at in [1_688_515_200, 1_728_345_600] {
        let (a, b) = dip(at);
        constants.extend([a.supply, b.supply]);
    }
    let mut observer = Observer::new(&constants);
    for h in runner.chain.lock().unwrap().iter() {
        observer.read_bytes(h);
    }
    observer.read_text(public);
    observer.read_text(&String::from_utf8_lossy(&logs().lock().unwrap()));
    observer.read_bytes(rows);

    // Canaries: the reserves behind the short reading (supply - deficit), and the deficit
    // scaled to 18 decimals, each planted as one public number, are derived back.
    let (_, short) = dip(1_688_515_200);
    let deficit = short.supply - short.reserves;
    assert!(private.contains(&deficit), "the real deficit is among the private values");
    // Planted the way a leak would arrive: in a public JSON body, and as a calldata word.
    let mut o = observer.clone();
    o.read_text(&format!(r#"{{"reserves":"{}"}}"#, short.reserves));
    assert!(o.finds(&private).contains(&deficit), "the observer must find planted reserves");
    let mut o = observer.clone();
    let word = (deficit * U256::from(10u64.pow(10))).to_be_bytes::<32>();
    o.read_bytes(&[&[0x88, 0x03, 0xdb, 0xee][..], &word].concat());
    assert!(o.finds(&private).contains(&deficit), "the observer must find an 18-decimal deficit");
    let log = logs().lock().unwrap().len();
    assert!(
        log > 0 && !public.is_empty() && !rows.is_empty(),
        "every source was read ({log} B of logs)"
    );
    let leaks = observer.finds(&private);
    eprintln!(
        "observer: {} private values, {} public numbers, {} derived values, {} found",
        private.len(),
        observer.len(),
        observer.derived().len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "an observer derives private values: {leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_doing_arithmetic_finds_nothing_private_sqlite() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shr.db").display());
    let (runner, public) = run_all(&url).await;
    let mut rows = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        rows.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    observe(&runner, &public, &rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_doing_arithmetic_finds_nothing_private_postgres() {
    logs();
    let base = std::env::var("SHR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("shr_observer_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} (scripts/test starts one): {e}"));
    let q = |s: String| sqlx::query(sqlx::AssertSqlSafe(s));
    q(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut admin).await.unwrap();
    q(format!("CREATE SCHEMA {schema}")).execute(&mut admin).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let (runner, public) = run_all(&url).await;
    // Every row of every table, as text.
    let tables: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = '{schema}'"
    )))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(tables.len() >= 3, "{tables:?}");
    let mut rows = Vec::new();
    for (t,) in tables {
        let dump: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(x)::text FROM {schema}.{t} x"
        )))
        .fetch_all(&mut admin)
        .await
        .unwrap();
        for (r,) in dump {
            rows.extend(r.into_bytes());
            rows.push(b'\n');
        }
    }
    assert!(!rows.is_empty());
    observe(&runner, &public, &rows);
    q(format!("DROP SCHEMA {schema} CASCADE")).execute(&mut admin).await.unwrap();
}
