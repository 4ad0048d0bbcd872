//! `shr demo`: the whole system on the embedded chain with the real data, behind the dashboard;
//! `--headless` runs the three scenarios and exits with a report.
//!
//! Configuration precedence (lowest to highest): built-in defaults, the TOML file (`--config`,
//! `SHR_CONFIG`, else `shr.toml` when present), environment variables, flags.

use std::{
    io::Write,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use alloy::primitives::B256;
use clap::Args;
use eyre::{Result, WrapErr, bail};
use serde::Deserialize;
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_enclave::{Enclave, SimulatedTee};
use shr_server::{AppState, Event, RunView, ScenarioRunner, ServerConfig};

use crate::{oracle_cmd, scenario_cmd::ScenarioSet};

/// `shr demo` flags (each also settable by environment and by the TOML file).
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// TOML configuration file; default `shr.toml` in the working directory when present.
    #[arg(long, env = "SHR_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address [default: 127.0.0.1].
    #[arg(long, env = "SHR_BIND")]
    bind: Option<IpAddr>,
    /// Listen port; 0 picks a free one and prints it [default: 3002].
    #[arg(long, env = "SHR_PORT")]
    port: Option<u16>,
    /// Bearer token of the operator route [default: a random one, printed at start].
    #[arg(long, env = "SHR_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Database: `sqlite:PATH` or `postgres://...` [default: sqlite:shr.db].
    #[arg(long = "db", env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Pause between DON rounds of the live feed over the real wBTC series, ms [default: 25].
    #[arg(long, env = "SHR_FEED_INTERVAL_MS")]
    feed_interval_ms: Option<u64>,
    /// Default seed of the vaults' crash simulation (`POST /api/simulate`) [default: 1].
    #[arg(long, env = "SEED")]
    seed: Option<u64>,
    /// Pause between the crash simulation's ticks, ms; 0 runs them back to back [default: a
    /// random 2000-3000 ms, as the reference design].
    #[arg(long, env = "SHR_TICK_MS")]
    tick_ms: Option<u64>,
    /// Run the three scenarios in sequence, print a report and exit (non-zero if one fails).
    #[arg(long)]
    headless: bool,
    /// With --headless: print one JSON object.
    #[arg(long, requires = "headless")]
    json: bool,
}

/// The TOML file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<IpAddr>,
    port: Option<u16>,
    operator_token: Option<String>,
    database_url: Option<String>,
    feed_interval_ms: Option<u64>,
    seed: Option<u64>,
    tick_ms: Option<u64>,
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub(crate) struct DemoConfig {
    pub(crate) bind: IpAddr,
    pub(crate) port: u16,
    pub(crate) operator_token: String,
    pub(crate) database_url: String,
    pub(crate) feed_interval_ms: u64,
    pub(crate) seed: u64,
    pub(crate) tick_ms: Option<u64>,
}

impl DemoArgs {
    fn resolve(&self) -> Result<DemoConfig> {
        let path = self.config.clone().or_else(|| {
            let p = PathBuf::from("shr.toml");
            p.exists().then_some(p)
        });
        let file: FileConfig = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .wrap_err_with(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).wrap_err_with(|| format!("config file {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let token = self
            .operator_token
            .clone()
            .or(file.operator_token)
            .unwrap_or_else(|| hex_token(B256::random()));
        if token.len() < 16 {
            bail!("operator_token: must be at least 16 characters (got {})", token.len());
        }
        Ok(DemoConfig {
            bind: self.bind.or(file.bind).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: self.port.or(file.port).unwrap_or(3002),
            operator_token: token,
            database_url: self
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| "sqlite:shr.db".into()),
            feed_interval_ms: self.feed_interval_ms.or(file.feed_interval_ms).unwrap_or(25),
            seed: self.seed.or(file.seed).unwrap_or(1),
            tick_ms: self.tick_ms.or(file.tick_ms),
        })
    }
}

/// `url` with any password replaced by `***` (fit for logs and error messages).
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn hex_token(b: B256) -> String {
    b.to_string().trim_start_matches("0x").to_string()
}

async fn state(cfg: &DemoConfig) -> Result<AppState> {
    let store = shr_store::Store::open(&cfg.database_url)
        .await
        .wrap_err_with(|| format!("opening the database {}", redact_url(&cfg.database_url)))?;
    // The server's sealing key lives in a (simulated) enclave on the dev platform: the same key
    // after a restart, so sealed run records stay readable by the operator.
    let tee = SimulatedTee::from_seed(oracle_cmd::DEV_TEE_SEED);
    let sealer = Enclave::launch_instance(&tee, "shr-server/run-store@0.1.0", 0)?;
    let runner: Arc<dyn ScenarioRunner> = Arc::new(ScenarioSet::real()?);
    Ok(AppState::new(
        ServerConfig {
            operator_token: Some(cfg.operator_token.clone()),
            seed: cfg.seed,
            tick_ms: cfg.tick_ms,
            ..Default::default()
        },
        store,
        sealer,
        runner,
    ))
}

pub(crate) async fn run(args: DemoArgs) -> Result<()> {
    let cfg = args.resolve()?;
    let state = state(&cfg).await?;
    if args.headless {
        return headless(&state, args.json).await;
    }
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| shr_server::Error::Bind { addr: addr.to_string(), source })?;
    let local = listener.local_addr()?;
    // Written, not println!: a closed stdout (a supervisor that read the port) must not stop
    // the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on http://{local}/");
    let _ = writeln!(
        out,
        "dashboard: http://{local}/  (operator view: http://{local}/#token={})",
        cfg.operator_token
    );
    let _ = writeln!(
        out,
        "custodian API: http://{local}/custodian (try: shr attest --custodian http://{local}/custodian)"
    );
    let _ = out.flush();
    tracing::info!(target: "shr::demo", %local, db = %redact_url(&cfg.database_url), "demo up");
    spawn_feed(state.clone(), Duration::from_millis(cfg.feed_interval_ms))?;
    state.set_vault_desk(shr_server::vaults::VaultDesk::spawn(state.clone())?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // The custodian's reserve API (sealed PoR bodies of the same real series) beside /api.
    let app = shr_server::router(state)
        .nest("/custodian", crate::custodian_cmd::router(oracle_cmd::wbtc_series(8)?, 8));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// The live feed on its own chain, a task of the server's runtime (the store it hands sealed
/// deficits to lives there): DON rounds over the real wBTC series.
fn spawn_feed(state: AppState, pace: Duration) -> Result<()> {
    let series = oracle_cmd::wbtc_series(8)?;
    tokio::spawn(async move {
        let result: Result<()> = async {
            let first = series.readings.first().map_or(0, |r| r.observed_at);
            let chain = EmbeddedChain::with_config(EmbeddedConfig {
                genesis_timestamp: first.saturating_sub(1),
                ..Default::default()
            });
            let owner = chain.accounts()[0];
            let mut don = oracle_cmd::dev_don(owner, 8)?;
            let dep = don.deploy(&chain, owner).await?;
            let transmitter = chain.accounts()[1];
            shr_server::reserve_feed::run(
                state,
                &chain,
                &mut don,
                &dep,
                transmitter,
                &series.readings,
                pace,
            )
            .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(target: "shr::feed", error = ?e, "live feed stopped");
        }
    });
    Ok(())
}

/// Runs every scenario through the server's own machinery (persisted, streamed) and reports.
async fn headless(state: &AppState, json: bool) -> Result<()> {
    let mut runs: Vec<RunView> = Vec::new();
    for name in state.scenario_names() {
        let mut events = state.subscribe();
        let run_id = state.start_scenario(&name)?;
        loop {
            match events.recv().await {
                Ok(Event::ScenarioFinished { run_id: id, .. }) if id == run_id => break,
                Ok(Event::Step { run_id: id, step, .. }) if id == run_id && !json => {
                    println!(
                        "  {name:<17} {:<36} {:>9.2} ms  gas {:>7}",
                        step.name, step.ms, step.gas
                    );
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => bail!("event stream closed: {e}"),
            }
        }
        // The run is recorded right after its finish event; wait for the record.
        let run = loop {
            match state.latest_run(&name).await? {
                Some(r)
                    if r.run_id == run_id && r.status != "running" && state.running().is_none() =>
                {
                    break r;
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        if !json {
            println!(
                "{name}: {} (mechanism {}, restored {}, final isSolvent {})",
                run.status,
                run.mechanism.as_deref().unwrap_or("-"),
                run.restored.map_or("-".into(), |b| b.to_string()),
                run.final_is_solvent.map_or("-".into(), |b| b.to_string()),
            );
            if let Some(e) = &run.error {
                println!("  error: {e}");
            }
        }
        runs.push(run);
    }
    let passed = runs.iter().all(|r| r.status == "passed");
    if json {
        println!("{}", serde_json::json!({ "passed": passed, "scenarios": runs }));
    } else {
        println!("{}", if passed { "all scenarios passed" } else { "a scenario failed" });
    }
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact_url("postgres://shr:s3cret@db:5432/shr"),
            "postgres://shr:***@db:5432/shr"
        );
        assert_eq!(redact_url("sqlite:shr.db"), "sqlite:shr.db");
        assert_eq!(redact_url("postgres://db/shr"), "postgres://db/shr");
    }
}
