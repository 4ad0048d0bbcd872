//! `shr agent run|register` and `shr incident ...`: the recovery agent against a deployed
//! system on a JSON-RPC chain, and the operator's control of its incidents.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use clap::{Args, Subcommand};
use eyre::{Result, WrapErr, bail, ensure};
use shr_agent::{
    Agent, AgentConfig, Alert, AlertKind, AlertSink, DarkPoolConfig, DarkPoolPolicy, RestoreTarget,
    RetryPolicy, StrategyConfig, WebhookAlerts, checked_price_usd_e8, raise,
};
use shr_chain::{Chain, RpcChain, RpcConfig, SharedTxSigner};
use shr_darkpool::{DarkPool, TwapPolicy};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::DeploymentManifest;
use shr_store::Store;

use crate::{node_cmd::read_manifest, oracle_cmd::AGENT_KEY_PROGRAM};

mod deployment;

use deployment::{don_signers, register};

/// `shr agent` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Watch `ReserveStatusUpdated` and restore deficits (dry run unless `--execute`).
    Run(Box<RunArgs>),
    /// Name this agent in a deployment manifest: its treasury, the HPKE key the DON's nodes
    /// seal deficits to, and the collateral's Chainlink price feed (restart the nodes after).
    Register(RegisterArgs),
    /// Pre-fund the treasury's balance in the dark pool with the payment asset (public: an
    /// ERC-20 transfer, made well before any request so that its size says nothing about one).
    Prefund(PrefundArgs),
}

/// `shr agent prefund` flags.
#[derive(Debug, Args)]
pub(crate) struct PrefundArgs {
    #[command(flatten)]
    key: AgentKeyArgs,
    /// Payment asset to deposit, base units (wei for WETH).
    #[arg(long)]
    amount: u128,
}

/// `shr incident` subcommands: operator control of the agent's incidents.
#[derive(Debug, Subcommand)]
pub(crate) enum IncidentCommand {
    /// Every incident with its public status (JSON lines).
    List(IncidentArgs),
    /// One incident's private detail, opened with the agent's key (deficit, size, requests).
    Show(IncidentIdArgs),
    /// Retry an escalated (or cancelled) incident through the dark pool with a new premium,
    /// band or timeout.
    Retry(RetryArgs),
    /// Cancel an incident's pending dark-pool request (`cancel` from the treasury).
    Cancel(IncidentIdArgs),
    /// Record a manual top-up: the agent buys nothing more and closes the incident at the
    /// DON's next solvent report.
    Resume(IncidentIdArgs),
}

/// Who the agent is and where it keeps its state (shared by `agent run` and `incident`).
#[derive(Debug, Args)]
pub(crate) struct AgentKeyArgs {
    /// The deployment manifest (`shr deploy`, `shr agent register`, `shr darkpool deploy`):
    /// receiver, vault, treasury, price feed, dark pool and the nodes' keys come from it.
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// The agent's database (sealed notices in, incidents out), shared as the mailbox with
    /// the nodes and the matcher: `sqlite:PATH` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:shr.db")]
    db: String,
    /// Private key of the treasury (hex). Prefer SHR_TREASURY_KEY or --treasury-key-file: a key
    /// in argv is visible to every local user (`ps`); the agent warns when it is.
    #[arg(long, env = "SHR_TREASURY_KEY", hide_env_values = true)]
    treasury_key: Option<B256>,
    /// A file holding the treasury's private key (hex, one line; keep it 0600).
    #[arg(long, conflicts_with = "treasury_key")]
    treasury_key_file: Option<PathBuf>,
    /// Seed of the simulated TEE platform holding the agent's key (hex, 32 bytes).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the simulated platform's public dev seed on a chain other than the dev chain
    /// 31337 (anyone can derive the agent's key from it: experiments only).
    #[arg(long)]
    allow_dev_tee: bool,
}

/// `shr agent run` flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    key: AgentKeyArgs,
    /// `ReserveAttestation` to watch (default: the manifest's receiver).
    #[arg(long)]
    receiver: Option<Address>,
    /// Uniswap V2 Router02.
    #[arg(long)]
    router: Address,
    /// Swap route, comma-separated token addresses, treasury asset first, collateral last
    /// (e.g. `WETH,WBTC` or `USDC,WETH,WBTC`).
    #[arg(long, value_delimiter = ',', required = true)]
    path: Vec<Address>,
    /// `ReserveVault`, which receives the collateral (default: the manifest's vault).
    #[arg(long)]
    vault: Option<Address>,
    /// Treasury account that pays (default: the manifest's, else the key's address), or
    /// `threshold:GROUP_JSON`: a treasury whose key is split among signer parties
    /// (`shr signer keygen` writes `group.json`); they sign over `--nats`, each checking its
    /// policy, and no machine holds the key.
    #[arg(long)]
    treasury: Option<Treasury>,
    /// The NATS server of the signer parties (with `--treasury threshold:...`).
    #[arg(long, env = "SHR_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Collateral decimals.
    #[arg(long, default_value_t = 8)]
    decimals: u8,
    /// A fixed collateral price, whole USD, when the manifest names no Chainlink price feed
    /// (`shr agent register --price-feed`); refused when it does.
    #[arg(long)]
    price_usd: Option<u64>,
    /// Largest price impact of a direct swap, bps (every hop's LP fee included).
    #[arg(long, default_value_t = 100)]
    max_impact_bps: u32,
    /// The restore band above a reserve ratio of 100 %, parts per million of the supply:
    /// `MIN,MAX` (the target is drawn uniformly in it per incident).
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [1u32, 4])]
    band_ppm: Vec<u32>,
    /// The standard lot every buy is a whole number of, collateral base units.
    #[arg(long, default_value_t = 1_000_000)]
    lot: u64,
    /// Largest deficit value a direct swap may buy, whole USD.
    #[arg(long, default_value_t = 50_000_000)]
    direct_swap_limit_usd: u128,
    /// Slippage over the quote for `amountInMax`, bps.
    #[arg(long, default_value_t = 50)]
    slippage_bps: u32,
    /// Swap deadline after sending, seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// Dark pool: premium over the TWAP of the first request, bps.
    #[arg(long, default_value_t = 30)]
    premium_bps: u32,
    /// Dark pool: price band around the TWAP, bps.
    #[arg(long, default_value_t = 100)]
    pool_band_bps: u32,
    /// Dark pool: how much the one retry widens premium and band, bps.
    #[arg(long, default_value_t = 50)]
    widen_bps: u32,
    /// Dark pool: request timeout, seconds.
    #[arg(long, default_value_t = 900)]
    request_timeout_secs: u64,
    /// Dark pool: the TWAP window over the reference pair, seconds (at least 1,800).
    #[arg(long, default_value_t = shr_darkpool::DEFAULT_TWAP_WINDOW_SECS)]
    twap_window_secs: u64,
    /// Blocks an event must be buried under before the agent acts (reorg safety).
    #[arg(long, default_value_t = 2)]
    confirmations: u64,
    /// Seconds an insolvent report waits for f+1 signed deficit notices before failing.
    #[arg(long, default_value_t = 3_600)]
    notice_timeout_secs: u64,
    /// The DON's node signers whose deficit notices count, comma-separated (default: the
    /// manifest's `signers`).
    #[arg(long, value_delimiter = ',')]
    don_signers: Vec<Address>,
    /// Faults the DON tolerates: f+1 signed notices are needed (default: the manifest's `f`).
    #[arg(long)]
    don_f: Option<u8>,
    /// POST alerts (escalation, repeated failure, stale attestation) as JSON to this URL,
    /// retried with backoff; they are logged at error level on `shr::agent::alert` either way.
    #[arg(long, env = "SHR_ALERT_WEBHOOK")]
    alert_webhook: Option<String>,
    /// Alert when this many passes in a row fail.
    #[arg(long, default_value_t = 3)]
    alert_after_failures: u32,
    /// Alert when the receiver's last report is older than this, seconds (the DON's
    /// heartbeat plus slack).
    #[arg(long, default_value_t = 7_200)]
    stale_after_secs: u64,
    /// Send transactions; without it the agent logs the exact transactions it would send.
    #[arg(long)]
    execute: bool,
    /// One pass, then exit.
    #[arg(long)]
    once: bool,
    /// Poll interval between passes, milliseconds.
    #[arg(long, default_value_t = 1_000)]
    poll_ms: u64,
    /// Print each pass's touched incidents as one JSON line.
    #[arg(long)]
    json: bool,
}

/// `shr agent register` flags.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The deployment manifest to update.
    #[arg(long)]
    deployment: PathBuf,
    /// The treasury account the agent pays from.
    #[arg(long)]
    treasury: Address,
    /// Chainlink `AggregatorV3` feed of the collateral's USD price.
    #[arg(long)]
    price_feed: Option<Address>,
    /// The longest a price answer may stand, seconds (heartbeat plus slack).
    #[arg(long, default_value_t = 3_900)]
    price_max_age_secs: u64,
    /// A second `AggregatorV3` feed of the same price the first is cross-checked against.
    #[arg(long, requires = "price_feed")]
    reference_price_feed: Option<Address>,
    /// The largest difference between the price feed and its reference, bps.
    #[arg(long, default_value_t = 200)]
    max_deviation_bps: u32,
    /// Seed of the simulated TEE platform holding the agent's key (hex, 32 bytes).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
}

/// `shr incident list` flags.
#[derive(Debug, Args)]
pub(crate) struct IncidentArgs {
    #[command(flatten)]
    key: AgentKeyArgs,
}

/// An incident command's flags.
#[derive(Debug, Args)]
pub(crate) struct IncidentIdArgs {
    /// The incident (`receiver:observedAt`, as `shr incident list` prints it).
    id: String,
    #[command(flatten)]
    key: AgentKeyArgs,
}

/// `shr incident retry` flags.
#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    #[command(flatten)]
    incident: IncidentIdArgs,
    /// New premium over the TWAP, bps.
    #[arg(long)]
    premium_bps: Option<u32>,
    /// New price band around the TWAP, bps.
    #[arg(long)]
    band_bps: Option<u32>,
    /// New request timeout, seconds.
    #[arg(long)]
    timeout_secs: Option<u64>,
}

/// `--treasury`: an account, or a threshold group's `group.json`.
#[derive(Debug, Clone)]
pub(crate) enum Treasury {
    /// A plain account (its key given with SHR_TREASURY_KEY or --treasury-key-file).
    Account(Address),
    /// A threshold signer group's public description.
    Threshold(PathBuf),
}

impl std::str::FromStr for Treasury {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(path) = s.strip_prefix("threshold:") {
            return Ok(Self::Threshold(path.into()));
        }
        s.parse().map(Self::Account).map_err(|_| {
            format!("{s:?}: expected an address (0x + 40 hex) or threshold:PATH/group.json")
        })
    }
}

/// The signer through the parties of the group described at `path`.
async fn threshold_signer(
    path: &Path,
    nats: &str,
    key: &AgentKeyArgs,
    url: &str,
) -> Result<shr_signer::ThresholdSigner> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("--treasury threshold:{}", path.display()))?;
    let g: shr_signer::store::Group = serde_json::from_str(&text).wrap_err_with(|| {
        format!("--treasury threshold:{}: not a signer group.json", path.display())
    })?;
    let bus = shr_signer::bus::NatsBus::connect(nats).await?;
    // Requests are signed by the agent's enclave key (the parties' policies name its address):
    // the same key `setup` launches, for which the platform needs the chain id first.
    let chain_id = RpcChain::connect(RpcConfig::new(url)).await?.chain_id().await?;
    let tee = SimulatedTee::for_chain(key.tee_seed, chain_id, key.allow_dev_tee)?;
    let agent = Arc::new(Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?);
    tracing::info!(target: "shr::agent", treasury = %g.address, group = %g.group, threshold = g.threshold, parties = g.parties, agent_key = %agent.identity().signer, "treasury signed by threshold parties (their policies must name agent_key)");
    Ok(shr_signer::ThresholdSigner::new(
        Arc::new(bus),
        &g.group,
        g.address,
        g.threshold,
        g.roster,
        agent,
    )?)
}

/// A connected agent's parts.
struct Setup {
    chain: RpcChain,
    key: Enclave,
    manifest: Option<DeploymentManifest>,
    treasury: Address,
    chain_id: u64,
}

async fn setup(
    args: &AgentKeyArgs,
    treasury: Option<Address>,
    threshold: Option<shr_signer::ThresholdSigner>,
    url: &str,
) -> Result<Setup> {
    let manifest = args.deployment.as_deref().map(read_manifest).transpose()?;
    let key_hex = match (&args.treasury_key, &args.treasury_key_file) {
        (Some(k), _) => {
            if std::env::var("SHR_TREASURY_KEY").is_err() {
                tracing::warn!(target: "shr::cli", "--treasury-key on the command line is visible to every local user: use SHR_TREASURY_KEY or --treasury-key-file");
            }
            Some(*k)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .wrap_err_with(|| format!("--treasury-key-file {}", path.display()))?;
            Some(text.trim().parse::<B256>().map_err(|_| {
                eyre::eyre!("--treasury-key-file {}: not a 32-byte hex key", path.display())
            })?)
        }
        (None, None) => None,
    };
    let mut rpc = RpcConfig::new(url);
    let mut key_address = None;
    if let Some(k) = key_hex {
        let signer = PrivateKeySigner::from_bytes(&k)
            .map_err(|e| eyre::eyre!("the treasury key is not a secp256k1 private key: {e}"))?;
        key_address = Some(signer.address());
        rpc.signers.push(Arc::new(signer) as SharedTxSigner);
    }
    if let Some(t) = threshold {
        ensure!(key_address.is_none(), "a threshold treasury takes no treasury key");
        key_address = Some(alloy::network::TxSigner::address(&t));
        rpc.signers.push(Arc::new(t) as SharedTxSigner);
    }
    let chain = RpcChain::connect(rpc).await?;
    let chain_id = chain.chain_id().await?;
    if let Some(m) = &manifest {
        m.check_chain(chain_id)?;
    }
    let from_manifest = manifest.as_ref().and_then(|m| m.recovery.as_ref()).map(|r| r.treasury);
    let treasury = match (treasury, from_manifest, key_address) {
        (Some(t), _, _) | (None, Some(t), _) | (None, None, Some(t)) => t,
        (None, None, None) => chain.accounts()[2],
    };
    if !chain.accounts().contains(&treasury) {
        bail!(
            "treasury {treasury}: no signer for this account (give SHR_TREASURY_KEY or --treasury-key-file)"
        );
    }
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, args.allow_dev_tee)?;
    if args.allow_dev_tee && chain_id != shr_enclave::DEV_CHAIN_ID {
        tracing::warn!(target: "shr::cli", chain_id, "--allow-dev-tee: the agent's key derives from the public dev seed on this chain");
    }
    let key = Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
    if let Some(r) = manifest.as_ref().and_then(|m| m.recovery.as_ref()) {
        ensure!(
            r.agent_hpke == key.identity().hpke,
            "the manifest's agent key is not this agent's (another --tee-seed?): run `shr agent register` with this one"
        );
    }
    Ok(Setup { chain, key, manifest, treasury, chain_id })
}

/// The dark pool of the manifest as the agent uses it.
fn dark_pool_config(
    m: &DeploymentManifest,
    policy: DarkPoolPolicy,
    twap: TwapPolicy,
) -> Option<DarkPoolConfig> {
    let d = m.recovery.as_ref()?.dark_pool.as_ref()?;
    Some(DarkPoolConfig {
        pool: DarkPool { address: d.address, collateral: d.collateral, payment: d.payment },
        matcher: d.matcher_hpke,
        reference_pair: d.reference_pair,
        twap,
        policy,
        oracle_nodes: m.signers.iter().copied().zip(m.node_hpke_keys.iter().copied()).collect(),
    })
}

pub(crate) async fn run(cmd: AgentCommand, rpc_url: Option<&str>) -> Result<()> {
    match cmd {
        AgentCommand::Run(args) => run_agent(*args, rpc_url).await,
        AgentCommand::Register(args) => register(&args),
        AgentCommand::Prefund(args) => prefund(&args, need_url(rpc_url)?).await,
    }
}

async fn prefund(args: &PrefundArgs, url: &str) -> Result<()> {
    let s = setup(&args.key, None, None, url).await?;
    let d = s
        .manifest
        .as_ref()
        .and_then(|m| m.recovery.as_ref())
        .and_then(|r| r.dark_pool.clone())
        .ok_or_else(|| eyre::eyre!("the manifest has no dark pool: `shr darkpool deploy` first"))?;
    let pool = DarkPool { address: d.address, collateral: d.collateral, payment: d.payment };
    // Exit tickets and fill notices for the treasury are sealed to the agent's key.
    let r = pool
        .deposit(&s.chain, s.treasury, d.payment, U256::from(args.amount), &s.key.identity().hpke)
        .await?;
    println!(
        "{}",
        serde_json::json!({ "treasury": s.treasury, "deposited": args.amount.to_string(), "tx": r.tx_hash })
    );
    Ok(())
}

fn need_url(rpc_url: Option<&str>) -> Result<&str> {
    rpc_url.ok_or_else(|| {
        eyre::eyre!(
            "the agent watches a chain that already holds the system: pass --rpc-url (or SHR_RPC_URL); on the embedded chain the agent runs inside `shr scenario`"
        )
    })
}

async fn run_agent(args: RunArgs, rpc_url: Option<&str>) -> Result<()> {
    let url = need_url(rpc_url)?;
    if args.path.len() < 2 {
        bail!(
            "--path {:?}: needs at least two tokens (treasury asset, ..., collateral)",
            args.path
        );
    }
    // A one-point band makes the swap's size the deficit plus a constant, to within a lot.
    if args.band_ppm[0] >= args.band_ppm[1] || args.lot == 0 {
        bail!(
            "--band-ppm {:?} --lot {}: the band's minimum must be below its maximum (a one-point band publishes the deficit to within a lot), and a lot must be positive",
            args.band_ppm,
            args.lot
        );
    }
    let (treasury, threshold) = match &args.treasury {
        Some(Treasury::Account(a)) => (Some(*a), None),
        Some(Treasury::Threshold(path)) => {
            let t = threshold_signer(path, &args.nats, &args.key, url).await?;
            (Some(alloy::network::TxSigner::address(&t)), Some(t))
        }
        None => (None, None),
    };
    let s = setup(&args.key, treasury, threshold, url).await?;
    let m = s.manifest.as_ref();
    let receiver = args.receiver.or(m.map(|m| m.receiver));
    let vault = args.vault.or(m.and_then(|m| m.vault).map(|v| v.address));
    let (Some(receiver), Some(vault)) = (receiver, vault) else {
        bail!(
            "give --deployment (with a vault: `shr deploy --collateral`) or --receiver and --vault"
        );
    };
    let price_feed = m.and_then(|m| m.recovery.as_ref()).and_then(|r| r.price_feed);
    let price_e8 = match (price_feed, args.price_usd) {
        (Some(_), Some(p)) => bail!(
            "--price-usd {p}: the manifest names a Chainlink price feed, which the agent reads instead"
        ),
        (Some(_), None) => 0,
        (None, Some(p)) => u128::from(p) * 100_000_000,
        (None, None) => bail!(
            "no collateral price: register a Chainlink feed (`shr agent register --price-feed`) or give --price-usd"
        ),
    };
    let mut cfg = AgentConfig::new(receiver, args.router, args.path.clone(), vault, s.treasury);
    cfg.decimals = args.decimals;
    cfg.price_usd_e8 = price_e8;
    cfg.strategy = StrategyConfig {
        max_impact_bps: args.max_impact_bps,
        direct_swap_limit_usd: args.direct_swap_limit_usd,
        slippage_bps: args.slippage_bps,
        deadline_secs: args.deadline_secs,
        target: RestoreTarget {
            band_ppm: (args.band_ppm[0], args.band_ppm[1]),
            lot: U256::from(args.lot),
        },
    };
    let policy = DarkPoolPolicy {
        premium_bps: args.premium_bps,
        band_bps: args.pool_band_bps,
        widen_bps: args.widen_bps,
        timeout_secs: args.request_timeout_secs,
    };
    let twap = TwapPolicy { window_secs: args.twap_window_secs, ..TwapPolicy::default() };
    cfg.dark_pool = m.and_then(|m| dark_pool_config(m, policy, twap));
    cfg.execute = args.execute;
    cfg.confirmations = args.confirmations;
    cfg.notice_timeout_secs = args.notice_timeout_secs;
    cfg.don = don_signers(&args, m, (s.chain_id, vault))?;
    let store = Store::open(&args.key.db).await?;
    let mut agent = Agent::new(&s.chain, store, &s.key, cfg);
    if let Some(url) = &args.alert_webhook {
        agent = agent.with_alerts(Arc::new(WebhookAlerts::new(url)?) as Arc<dyn AlertSink>);
    }
    // Fail early, naming the hop, when the route has no pool.
    agent.route().await?;
    let dark_pool = agent.config().dark_pool.as_ref().map(|d| d.pool.address);
    tracing::info!(target: "shr::agent", url, execute = args.execute, treasury = %s.treasury, ?dark_pool, chain_id = s.chain_id, "agent running");
    let (mut failures, mut stale_raised) = (0u32, false);
    loop {
        if let Some(feed) = price_feed {
            let now = s.chain.timestamp().await;
            let price = match now {
                Ok(now) => checked_price_usd_e8(&s.chain, &feed, now).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = &price {
                tracing::warn!(target: "shr::agent", error = %crate::error_chain(e), "no collateral price this pass; new incidents wait");
            }
            agent.set_price_usd_e8(price.ok());
        }
        let pass = agent.run_once().await;
        match pass {
            Ok(touched) => {
                failures = 0;
                if args.json {
                    let v: Vec<_> = touched
                        .iter()
                        .map(|(id, status)| serde_json::json!({ "incident": id, "status": status }))
                        .collect();
                    println!("{}", serde_json::json!({ "incidents": v, "execute": args.execute }));
                }
            }
            Err(e) => {
                failures += 1;
                // An amount that bounds the deficit never reaches the log: its code does.
                let error = match &e {
                    shr_agent::Error::InsufficientTreasury { .. } => e.code().to_string(),
                    _ => crate::error_chain(&e),
                };
                tracing::warn!(target: "shr::agent", %error, failures, "pass failed");
                if failures == args.alert_after_failures {
                    let alert = Alert {
                        kind: AlertKind::RepeatedFailure,
                        incident: None,
                        message: format!("{failures} agent passes in a row failed; see the log"),
                        at: now_unix(),
                    };
                    raise(agent.alerts(), alert);
                }
                if args.once {
                    bail!("the agent's pass failed");
                }
            }
        }
        if let Ok((_, last)) = shr_oracle::attested_state(&s.chain, receiver).await {
            let now = s.chain.timestamp().await.unwrap_or_else(|_| now_unix());
            let stale = last > 0 && now.saturating_sub(last) > args.stale_after_secs;
            if stale && !stale_raised {
                let alert = Alert {
                    kind: AlertKind::StaleAttestation,
                    incident: None,
                    message: format!(
                        "the receiver's last report ({last}) is {} s old at {now} (limit {} s): is the DON running?",
                        now - last,
                        args.stale_after_secs
                    ),
                    at: now,
                };
                raise(agent.alerts(), alert);
            }
            stale_raised = stale;
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    }
}

fn now_unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or_default()
}

/// Runs an operator command on the agent's incidents.
pub(crate) async fn incident(cmd: IncidentCommand, rpc_url: Option<&str>) -> Result<()> {
    let url = need_url(rpc_url)?;
    let key = match &cmd {
        IncidentCommand::List(a) => &a.key,
        IncidentCommand::Show(a) | IncidentCommand::Cancel(a) | IncidentCommand::Resume(a) => {
            &a.key
        }
        IncidentCommand::Retry(a) => &a.incident.key,
    };
    let s = setup(key, None, None, url).await?;
    let m = s.manifest.as_ref();
    let receiver = m.map_or(Address::ZERO, |m| m.receiver);
    let vault = m.and_then(|m| m.vault).map_or(Address::ZERO, |v| v.address);
    let mut cfg = AgentConfig::new(receiver, Address::ZERO, Vec::new(), vault, s.treasury);
    cfg.dark_pool =
        m.and_then(|m| dark_pool_config(m, DarkPoolPolicy::default(), TwapPolicy::default()));
    cfg.execute = true;
    let agent = Agent::new(&s.chain, Store::open(&key.db).await?, &s.key, cfg);
    match cmd {
        IncidentCommand::List(_) => {
            for i in agent.incidents().await? {
                println!("{}", serde_json::to_string(&i)?);
            }
        }
        IncidentCommand::Show(a) => {
            println!("{}", serde_json::to_string_pretty(&agent.incident_detail(&a.id).await?)?);
        }
        IncidentCommand::Retry(a) => {
            let change = RetryPolicy {
                premium_bps: a.premium_bps,
                band_bps: a.band_bps,
                timeout_secs: a.timeout_secs,
            };
            agent.retry(&a.incident.id, change).await?;
            print_status(&agent, &a.incident.id).await?;
        }
        IncidentCommand::Cancel(a) => {
            agent.cancel(&a.id).await?;
            print_status(&agent, &a.id).await?;
        }
        IncidentCommand::Resume(a) => {
            agent.resume(&a.id).await?;
            print_status(&agent, &a.id).await?;
        }
    }
    Ok(())
}

async fn print_status(agent: &Agent<'_>, id: &str) -> Result<()> {
    let row = agent.incidents().await?.into_iter().find(|i| i.id == id);
    println!("{}", serde_json::to_string(&row)?);
    Ok(())
}
