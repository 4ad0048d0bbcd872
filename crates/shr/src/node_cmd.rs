//! `shr don node`: one oracle node as a long-running process. It restores its enclave from its
//! directory (`shr don init`), finds its index in the deployment manifest by its signer, talks to
//! the other nodes over NATS JetStream only, fetches its source itself and runs rounds on a
//! cron schedule until SIGTERM or Ctrl-C (a round in progress finishes; exit 0).

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use clap::Args;
use eyre::{Result, WrapErr, bail};
use shr_chain::{Chain, RpcChain, RpcConfig, SharedTxSigner};
use shr_enclave::SimulatedTee;
use shr_oracle::{
    ChainSupplySource, DEFAULT_FEED, Deployment, DeploymentManifest, FeedSource, FeedsFile,
    HttpPorSource, NatsTransport, NodeRecovery, NodeService, Policy, PorFields, ReserveEnclave,
    ReserveSeries, ReserveSource, RoundResult, RoundSchedule, RoundStatus, SeriesColumns,
    SeriesSource, ServiceConfig, Transmitter, Transport, report::WorkflowConfig,
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
    /// fields per --por-field / --por-profile), `csv:PATH` (a reserve series in the wBTC
    /// columns; the latest reading at or before each round), or `feed:ADDR` (a public
    /// AggregatorV3 reserve feed on the chain, with --token for the supply).
    #[arg(long, required_unless_present = "feeds", conflicts_with = "feeds")]
    source: Option<String>,
    /// A feeds file (TOML, `[[feed]]`; `shr deploy --feeds`): the node serves every feed in it,
    /// each with its own source, mapping, policy and schedule, instead of --source.
    #[arg(long)]
    feeds: Option<PathBuf>,
    /// A request header for an http(s) --source, `NAME: VALUE` (repeatable); `{{secrets.NAME}}`
    /// in the value (or the URL) takes a secret sealed to this node (`shr don secret`), e.g.
    /// `--source-header 'X-API-Key: {{secrets.custodian_key}}'`.
    #[arg(long = "source-header", value_name = "HEADER")]
    source_headers: Vec<String>,
    /// The ERC-20 whose `totalSupply` is the liabilities, with `--por-field supply=chain`.
    #[arg(long)]
    token: Option<Address>,
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
    /// How long the receiver state a node last read or saw land answers "nothing due" without
    /// a chain read, seconds (0: read every round).
    #[arg(long, default_value_t = 60)]
    state_ttl_secs: u64,
    /// The private key this node transmits from (hex). Default on the dev chain 31337 only: dev
    /// account 1 + the node's index.
    #[arg(long, env = "SHR_TRANSMITTER_KEY", hide_env_values = true)]
    transmitter_key: Option<B256>,
    /// Gas limit of this node's `KeystoneForwarder.report` transactions (CRE's write target
    /// configures one too); 0 estimates each transaction with `eth_estimateGas`.
    #[arg(long, default_value_t = 500_000)]
    report_gas_limit: u64,
    /// Seed of the simulated TEE platform the node's keys are sealed to (as at `shr don init`).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the simulated platform's public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
    /// The mailbox shared with the agent (its database: `sqlite:PATH` or `postgres://...`):
    /// with a manifest naming the agent (`shr agent register`) and a vault, the node hands each
    /// insolvent report's deficit sealed to the agent through it, and counts recovered
    /// collateral (the vault, the treasury's dark-pool balance via the ticket forwarded here).
    #[arg(long, env = "SHR_MAILBOX_URL")]
    mailbox: Option<String>,
    /// Serve `/metrics` (Prometheus) and `/healthz` on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
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
    let manifest = read_manifest(&args.deployment)?;
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

    let feeds = feeds(&args, &manifest, &chain, &enclave)?;
    if let Some((pool, _)) = manifest.recovery_accounts().and_then(|a| a.pool) {
        // The manifest is a file: the chain says what the pool trades.
        let call = shr_contracts::bindings::CREDarkPool::collateralCall {};
        let traded = shr_contracts::view(chain.as_ref(), pool, &call)
            .await
            .wrap_err_with(|| format!("the manifest's dark pool {pool} is not a CREDarkPool"))?;
        let vault_asset = manifest.vault.map(|v| v.asset).unwrap_or_default();
        if traded != vault_asset {
            bail!(
                "the manifest's dark pool {pool} trades {traded}, not the vault's collateral {vault_asset}"
            );
        }
    }
    let recovery = match (manifest.recovery_accounts(), &manifest.recovery, &args.mailbox) {
        (Some(accounts), Some(r), Some(url)) => Some(NodeRecovery {
            accounts,
            agent: r.agent_hpke,
            mailbox: Arc::new(crate::mailbox::StoreMailbox(shr_store::Store::open(url).await?)),
        }),
        (Some(_), Some(_), None) => {
            tracing::warn!(target: "shr::cli", "the manifest names an agent but no --mailbox is given: deficits are not handed off, recovered collateral is not counted");
            None
        }
        _ => None,
    };
    let metrics = args.metrics.map(|addr| crate::node_ops::install().map(|h| (addr, h)));
    let metrics = metrics.transpose()?;
    let options = nats_options(args.nats_creds.as_deref(), args.nats_user.as_deref()).await?;
    let don_id = nats_don_id(&manifest);
    let names: Vec<String> = feeds.iter().map(|f| f.name.clone()).collect();
    let nats = NatsTransport::connect_with(options, &args.nats, &don_id, me, &names).await?;
    // A feed is unhealthy when no round finished for two periods plus a round's timeout.
    let gaps = feeds.iter().map(|f| {
        let now = std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or_default();
        let period = f
            .schedule
            .next_after(now)
            .zip(f.schedule.next_after(now + 1).and_then(|n| f.schedule.next_after(n)))
            .map_or(3_600, |(a, b)| b.saturating_sub(a).max(1));
        (f.name.clone(), 2 * period + args.round_timeout_ms.div_ceil(1000))
    });
    let health = Arc::new(crate::node_ops::Health::new(gaps.collect::<Vec<_>>()));
    if let Some((addr, handle)) = metrics {
        crate::node_ops::serve(addr, handle, health.clone(), nats.clone()).await?;
    }
    let mut nodes = Vec::new();
    for feed in feeds {
        let enclave = ReserveEnclave::with_enclave(
            crate::don_cmd::restore(&tee, &args.dir)?,
            feed.policy,
            feed.fields,
            feed.decimals,
        )?;
        let cfg = ServiceConfig {
            feed: feed.name.clone(),
            me,
            signers: manifest.signers.clone(),
            f: usize::from(manifest.f),
            workflow: feed.workflow,
            deployment: Deployment { forwarder: manifest.forwarder, receiver: feed.receiver },
            heartbeat: feed.policy.heartbeat,
            transmitter: Transmitter {
                address: transmitter_address,
                gas_limit: (args.report_gas_limit > 0).then_some(args.report_gas_limit),
            },
            takeover: Duration::from_millis(args.takeover_ms),
            round_timeout: Duration::from_millis(args.round_timeout_ms),
            state_ttl: Duration::from_secs(args.state_ttl_secs),
        };
        let transport: Arc<dyn Transport> = Arc::new(nats.feed(&feed.name)?);
        let mut node =
            NodeService::new(cfg, enclave, chain.clone(), transport, feed.source.clone()).await?;
        // Recovery is the manifest's own feed's (its receiver is the one the agent watches).
        if let (Some(r), true) = (&recovery, feed.receiver == manifest.receiver) {
            node = node.with_recovery(r.clone());
        }
        nodes.push((feed.name, feed.schedule, node));
    }
    tracing::info!(target: "shr::cli", node = me, %signer, transmitter = %transmitter_address, feeds = nodes.len(), nats = %args.nats, don = %don_id, "node started");

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(target: "shr::cli", "stopping after the round in progress");
        let _ = stop_tx.send(true);
    });
    let tasks: Vec<_> = nodes
        .into_iter()
        .map(|(name, schedule, mut node)| {
            let stop = stop.clone();
            let health = health.clone();
            tokio::spawn(async move {
                node.run(&schedule, stop, |r| {
                    health.round(&name, r.round);
                    log_round(me, &name, r)
                })
                .await
            })
        })
        .collect();
    for t in futures_util::future::join_all(tasks).await {
        t.wrap_err("a feed's task")??;
    }
    tracing::info!(target: "shr::cli", node = me, "node stopped");
    Ok(())
}

/// `shr don nats-permissions`: each node's NATS permissions for the DON of `deployment`.
pub(crate) fn nats_permissions(deployment: &std::path::Path) -> Result<()> {
    let m = read_manifest(deployment)?;
    let don = nats_don_id(&m);
    let out: serde_json::Map<String, serde_json::Value> = (0..m.signers.len())
        .map(|i| (i.to_string(), shr_oracle::nats_permissions(&don, i)))
        .collect();
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// `shr don nats-setup`: the DON's stream and every node's consumer, created with the
/// operator's NATS credentials (nodes holding `shr don nats-permissions` create nothing).
pub(crate) async fn nats_setup(
    deployment: &std::path::Path,
    nats: &str,
    creds: Option<&std::path::Path>,
    user: Option<&str>,
) -> Result<()> {
    let m = read_manifest(deployment)?;
    let don = nats_don_id(&m);
    let client = nats_options(creds, user)
        .await?
        .connect(nats)
        .await
        .wrap_err_with(|| format!("connecting to {nats}"))?;
    shr_oracle::nats_provision(&client, &don, m.signers.len()).await?;
    println!(
        "{}",
        serde_json::json!({"stream": format!("SHR_DON_{don}"), "consumers": (0..m.signers.len()).map(|i| format!("node-{i}")).collect::<Vec<_>>()})
    );
    Ok(())
}

/// The deployment manifest at `path`.
pub(crate) fn read_manifest(path: &std::path::Path) -> Result<DeploymentManifest> {
    let bytes = std::fs::read(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    DeploymentManifest::from_json(&bytes)
        .wrap_err_with(|| format!("{} is not a deployment manifest", path.display()))
}

/// The DON's id on NATS (its stream `SHR_DON_<id>`, subjects `shr.don.<id>.>`).
fn nats_don_id(m: &DeploymentManifest) -> String {
    format!("{}-{}", m.workflow, m.don_id)
}

/// NATS connect options with a credentials file or a user (password from SHR_NATS_PASSWORD).
async fn nats_options(
    creds: Option<&std::path::Path>,
    user: Option<&str>,
) -> Result<async_nats::ConnectOptions> {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(creds) = creds {
        options = options
            .credentials_file(creds)
            .await
            .wrap_err_with(|| format!("reading {}", creds.display()))?;
    }
    if let Some(user) = user {
        let password = std::env::var("SHR_NATS_PASSWORD").unwrap_or_default();
        options = options.user_and_password(user.to_string(), password);
    }
    Ok(options)
}

/// One feed this node serves.
struct Feed {
    name: String,
    workflow: WorkflowConfig,
    receiver: Address,
    policy: Policy,
    fields: PorFields,
    decimals: u8,
    source: Arc<dyn ReserveSource>,
    schedule: RoundSchedule,
}

/// The feeds of `--feeds`, or the one feed of `--source` and the policy flags.
fn feeds(
    args: &NodeArgs,
    m: &DeploymentManifest,
    chain: &Arc<dyn Chain>,
    enclave: &shr_enclave::Enclave,
) -> Result<Vec<Feed>> {
    let timeout = Duration::from_millis(args.source_timeout_ms);
    // A source's URL and headers may take secrets sealed to this node's enclave.
    let source = |spec: &str, headers: &[String], decimals, token| {
        let templates = std::iter::once(spec).chain(headers.iter().map(String::as_str));
        let secrets = crate::don_cmd::open_secrets(enclave, &args.dir, templates)?;
        source(spec, headers, &secrets, timeout, decimals, chain, token)
    };
    // With `supply=chain`, the liabilities are the token's totalSupply, read beside the body.
    let with_supply =
        |src: Arc<dyn ReserveSource>, fields: &PorFields, token: Option<Address>| match (
            fields.supply_on_chain,
            token,
        ) {
            (false, _) => Ok(src),
            (true, Some(t)) => {
                Ok(Arc::new(ChainSupplySource::new(src, chain.clone(), t))
                    as Arc<dyn ReserveSource>)
            }
            (true, None) => Err(eyre::eyre!("supply=chain needs the token (--token ADDR)")),
        };
    let Some(path) = &args.feeds else {
        let spec = args.source.as_deref().unwrap_or_default();
        let fields = args.policy.fields()?;
        let source = with_supply(
            source(spec, &args.source_headers, args.policy.decimals, args.token)?,
            &fields,
            args.token,
        )?;
        return Ok(vec![Feed {
            name: DEFAULT_FEED.into(),
            workflow: m.workflow_config(),
            receiver: m.receiver,
            policy: args.policy.policy(),
            fields,
            decimals: args.policy.decimals,
            source,
            schedule: RoundSchedule::parse(&args.schedule)?,
        }]);
    };
    let text =
        std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    let file = FeedsFile::from_toml(&text).wrap_err_with(|| format!("{}", path.display()))?;
    file.feeds
        .into_iter()
        .map(|f| {
            let receiver = match (f.receiver, m.feed(&f.name)) {
                (Some(r), _) => r,
                (None, Some(d)) => d.receiver,
                (None, None) => {
                    bail!("feed {} has no receiver in the manifest (shr deploy --feeds)", f.name)
                }
            };
            let fields = f.fields()?;
            let source = source(&f.source, &f.headers, f.decimals, f.token)
                .and_then(|s| with_supply(s, &fields, f.token))
                .wrap_err_with(|| format!("feed {}", f.name))?;
            Ok(Feed {
                workflow: m.feed_workflow(&f.name),
                receiver,
                policy: f.policy(),
                fields,
                decimals: f.decimals,
                source,
                schedule: f.round_schedule()?,
                name: f.name,
            })
        })
        .collect()
}

/// The source of `spec`: a custodian URL, `csv:PATH`, or `feed:ADDR` (a public AggregatorV3
/// reserve feed on the deployment's chain, liabilities the `token`'s totalSupply).
fn source(
    spec: &str,
    headers: &[String],
    secrets: &shr_oracle::Secrets,
    timeout: Duration,
    decimals: u8,
    chain: &Arc<dyn Chain>,
    token: Option<Address>,
) -> Result<Arc<dyn ReserveSource>> {
    if !headers.is_empty() && !spec.starts_with("http") {
        bail!("source {spec:?}: request headers apply to http(s):// sources only");
    }
    if let Some(feed) = spec.strip_prefix("feed:") {
        let feed: Address = feed.parse().wrap_err_with(|| format!("source {spec:?}: address"))?;
        let Some(token) = token else { bail!("source {spec:?} needs the token (--token ADDR)") };
        return Ok(Arc::new(FeedSource::new(chain.clone(), feed, token)));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(Arc::new(HttpPorSource::with_secrets(spec, headers, secrets, timeout)?));
    }
    if let Some(path) = spec.strip_prefix("csv:") {
        let series = ReserveSeries::from_path(path.as_ref(), &SeriesColumns::wbtc(), decimals)?;
        crate::series_args::log_refusals(&series.report);
        return Ok(Arc::new(SeriesSource::new(Arc::new(series))));
    }
    bail!("source {spec:?}: give an http(s):// custodian URL, csv:PATH or feed:ADDR")
}

/// One log line per round (the bench and the end-to-end test read these).
fn log_round(me: usize, feed: &str, r: &RoundResult) {
    let status = r.status.name();
    let (attempt, tx) = match &r.status {
        RoundStatus::Transmitted { attempt, tx_hash, .. } => (Some(*attempt), Some(*tx_hash)),
        _ => (None, None),
    };
    let agreed = r.agreed.map(|(o, _)| o.is_solvent);
    let votes = r.agreed.map(|(_, v)| v);
    let refused = r.own.as_ref().err().map(|e| e.public_reason());
    // From the scheduled second, as an observer of the schedule sees it.
    let since_fire = std::time::UNIX_EPOCH
        .elapsed()
        .unwrap_or_default()
        .saturating_sub(Duration::from_secs(r.round));
    tracing::info!(
        target: "shr::oracle::service",
        node = me,
        feed,
        round = r.round,
        status,
        agreed_is_solvent = agreed,
        votes,
        attempt,
        tx = tx.map(|t| t.to_string()),
        own_refused = refused,
        latency_us = r.latency.as_micros() as u64,
        observed_us = r.observed_after.as_micros() as u64,
        agreed_us = r.agreed_after.as_micros() as u64,
        signatures_us = r.signatures_after.as_micros() as u64,
        since_fire_us = since_fire.as_micros() as u64,
        "round"
    );
}

pub(crate) async fn shutdown_signal() {
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
