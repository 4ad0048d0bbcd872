//! `shr don node`: one oracle node as a long-running process. It restores its enclave from its
//! directory (`shr don init`), finds its index in the deployment manifest by its signer, talks to
//! the other nodes over NATS JetStream only, fetches its source itself and runs rounds on a
//! cron schedule until SIGTERM or Ctrl-C (a round in progress finishes; exit 0).

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use clap::Args;
use eyre::{Result, WrapErr, bail};
use shr_chain::{Chain, RpcChain, RpcConfig, SharedTxSigner};
use shr_enclave::SimulatedTee;
use shr_oracle::{
    DeploymentManifest, HttpPorSource, NatsTransport, NodeService, ReserveEnclave, ReserveSeries,
    ReserveSource, RoundResult, RoundSchedule, RoundStatus, SeriesColumns, SeriesSource,
    ServiceConfig, Transport,
};

use crate::oracle_cmd::PolicyArgs;

/// `shr don node` flags.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's state directory (`shr don init`).
    #[arg(long)]
    dir: PathBuf,
    /// The deployment manifest (`shr deploy --out`).
    #[arg(long)]
    deployment: PathBuf,
    /// The NATS server (JetStream enabled).
    #[arg(long, env = "SHR_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// A NATS credentials file (`.creds`: JWT and nkey) for this node.
    #[arg(long, env = "SHR_NATS_CREDS", conflicts_with = "nats_user")]
    nats_creds: Option<PathBuf>,
    /// A NATS user for this node (with SHR_NATS_PASSWORD).
    #[arg(long, env = "SHR_NATS_USER")]
    nats_user: Option<String>,
    /// The source this node fetches itself: a custodian PoR API URL (`http://`, `https://`;
    /// fields per --por-field / --por-profile), or `csv:PATH` (a reserve series in the wBTC
    /// columns; the latest reading at or before each round).
    #[arg(long)]
    source: String,
    /// How long the node waits for its source, milliseconds.
    #[arg(long, default_value_t = 5_000)]
    source_timeout_ms: u64,
    /// Round schedule, cron in CRE's format (six fields, seconds first).
    #[arg(long, default_value = "0 */5 * * * *")]
    schedule: String,
    /// How long a round's leader has before the next node takes over, milliseconds.
    #[arg(long, default_value_t = 2_000)]
    takeover_ms: u64,
    /// How long a round may take in all, milliseconds.
    #[arg(long, default_value_t = 8_000)]
    round_timeout_ms: u64,
    /// The private key this node transmits from (hex). Default on the dev chain 31337 only: dev
    /// account 1 + the node's index.
    #[arg(long, env = "SHR_TRANSMITTER_KEY", hide_env_values = true)]
    transmitter_key: Option<B256>,
    /// Seed of the simulated TEE platform the node's keys are sealed to (as at `shr don init`).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the simulated platform's public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs the node until SIGTERM or Ctrl-C.
pub(crate) async fn run(args: NodeArgs, rpc_url: Option<&str>) -> Result<()> {
    let Some(rpc_url) = rpc_url else {
        bail!(
            "a node process needs --rpc-url: the DON's chain (the embedded chain lives in one process)"
        );
    };
    let bytes = std::fs::read(&args.deployment)
        .wrap_err_with(|| format!("reading {}", args.deployment.display()))?;
    let manifest = DeploymentManifest::from_json(&bytes)
        .wrap_err_with(|| format!("{} is not a deployment manifest", args.deployment.display()))?;
    let tee = SimulatedTee::for_chain(args.tee_seed, manifest.chain_id, args.allow_dev_tee)?;
    let enclave = crate::don_cmd::restore(&tee, &args.dir)?;
    let signer = enclave.identity().signer;
    let Some(me) = manifest.signers.iter().position(|s| *s == signer) else {
        bail!(
            "node {} (signer {signer}) is not in {}",
            args.dir.display(),
            args.deployment.display()
        );
    };
    let transmitter: PrivateKeySigner = match args.transmitter_key {
        Some(k) => PrivateKeySigner::from_bytes(&k).wrap_err("--transmitter-key")?,
        None if manifest.chain_id == shr_enclave::DEV_CHAIN_ID => {
            shr_chain::dev_signers(me as u32 + 2).pop().expect("dev signers")
        }
        None => bail!("--transmitter-key is required on chain {}", manifest.chain_id),
    };
    let transmitter_address = transmitter.address();
    let mut rpc = RpcConfig::new(rpc_url).with_signers([Arc::new(transmitter) as SharedTxSigner]);
    rpc.poll_interval = Some(Duration::from_millis(20));
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::connect(rpc).await?);
    manifest.check_chain(chain.chain_id().await?)?;

    let policy = args.policy.policy();
    let enclave =
        ReserveEnclave::with_enclave(enclave, policy, args.policy.fields()?, args.policy.decimals)?;
    let source = source(&args)?;
    let schedule = RoundSchedule::parse(&args.schedule)?;
    let mut options = async_nats::ConnectOptions::new();
    if let Some(creds) = &args.nats_creds {
        options = options
            .credentials_file(creds)
            .await
            .wrap_err_with(|| format!("reading {}", creds.display()))?;
    }
    if let Some(user) = &args.nats_user {
        let password = std::env::var("SHR_NATS_PASSWORD").unwrap_or_default();
        options = options.user_and_password(user.clone(), password);
    }
    let don_id = format!("{}-{}", manifest.workflow, manifest.don_id);
    let transport: Arc<dyn Transport> =
        Arc::new(NatsTransport::connect_with(options, &args.nats, &don_id, me).await?);
    let cfg = ServiceConfig {
        me,
        signers: manifest.signers.clone(),
        f: usize::from(manifest.f),
        workflow: manifest.workflow_config(),
        deployment: manifest.deployment(),
        heartbeat: policy.heartbeat,
        transmitter: transmitter_address,
        takeover: Duration::from_millis(args.takeover_ms),
        round_timeout: Duration::from_millis(args.round_timeout_ms),
    };
    let mut node = NodeService::new(cfg, enclave, chain, transport, source).await?;
    tracing::info!(target: "shr::cli", node = me, %signer, transmitter = %transmitter_address, schedule = %args.schedule, nats = %args.nats, don = %don_id, "node started");

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(target: "shr::cli", "stopping after the round in progress");
        let _ = stop_tx.send(true);
    });
    node.run(&schedule, stop, |r| log_round(me, r)).await?;
    tracing::info!(target: "shr::cli", node = me, "node stopped");
    Ok(())
}

fn source(args: &NodeArgs) -> Result<Arc<dyn ReserveSource>> {
    let s = args.source.as_str();
    if s.starts_with("http://") || s.starts_with("https://") {
        let timeout = Duration::from_millis(args.source_timeout_ms);
        return Ok(Arc::new(HttpPorSource::new(s, timeout)?));
    }
    if let Some(path) = s.strip_prefix("csv:") {
        let series =
            ReserveSeries::from_path(path.as_ref(), &SeriesColumns::wbtc(), args.policy.decimals)?;
        return Ok(Arc::new(SeriesSource::new(Arc::new(series))));
    }
    bail!("--source {s}: give an http(s):// custodian URL or csv:PATH")
}

/// One log line per round (the bench and the end-to-end test read these).
fn log_round(me: usize, r: &RoundResult) {
    let status = match &r.status {
        RoundStatus::NoConsensus => "no_consensus",
        RoundStatus::NotDue => "not_due",
        RoundStatus::Transmitted { .. } => "transmitted",
        RoundStatus::TransmittedByOther => "transmitted_by_other",
        RoundStatus::Missed => "missed",
    };
    let (attempt, tx) = match &r.status {
        RoundStatus::Transmitted { attempt, tx_hash, .. } => (Some(*attempt), Some(*tx_hash)),
        _ => (None, None),
    };
    let agreed = r.agreed.map(|(o, _)| o.is_solvent);
    let votes = r.agreed.map(|(_, v)| v);
    let refused = r.own.as_ref().err().map(|e| e.to_string());
    tracing::info!(
        target: "shr::oracle::service",
        node = me,
        round = r.round,
        status,
        agreed_is_solvent = agreed,
        votes,
        attempt,
        tx = tx.map(|t| t.to_string()),
        own_refused = refused,
        latency_us = r.latency.as_micros() as u64,
        "round"
    );
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
