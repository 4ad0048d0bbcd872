//! `shr darkpool`: the confidential dark pool operated from the command line: the operator
//! deploys it (`deploy`) and runs the matcher as a service (`matcher run`), market makers
//! onboard, deposit, commit and withdraw (`maker ...`), anyone lists the public request
//! statuses (`requests`).

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use clap::{Args, Subcommand};
use eyre::{Result, WrapErr, bail, ensure};
use shr_chain::{Chain, RpcChain, RpcConfig, SharedTxSigner};
use shr_contracts::{
    bindings::{UniswapV2Factory, UniswapV2Router02},
    view,
};
use shr_darkpool::{
    DarkPool, MAKER_KIND, MakerBody, MakerCommitment, MatcherEnclave, ORACLE_GRANULARITY,
    ORACLE_WINDOW_SECS, STATE_KEY, TwapBound, admit_makers, deploy_twap_oracle, reconcile,
    seal_maker, serve_once, update_twap_oracle,
};
use shr_enclave::{Enclave, Sealed, SimulatedTee};
use shr_oracle::{DarkPoolDeployment, DeploymentManifest};
use shr_store::Store;

use crate::node_cmd::read_manifest;

/// The maker wallet program (its enclave holds the key fill notices are sealed to).
const MAKER_WALLET_PROGRAM: &str = "shr-darkpool/maker-wallet@0.1.0";

/// `shr darkpool` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DarkPoolCommand {
    /// Deploy `CREDarkPool` for the manifest's collateral against a payment token: the
    /// matcher enclave is launched, its quote verified and registered on the pool, Uniswap's
    /// sliding-window TWAP oracle deployed over the pair; the manifest records it.
    Deploy(DeployArgs),
    /// The matcher.
    Matcher {
        #[command(subcommand)]
        command: MatcherCommand,
    },
    /// A market maker's operations.
    Maker {
        #[command(subcommand)]
        command: MakerCommand,
    },
    /// Every request's public status (JSON lines: id, requester, status, deadline).
    Requests(ManifestArgs),
}

/// `shr darkpool matcher` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MatcherCommand {
    /// The matcher's host loop as a service: resume the sealed state, reconcile with the chain,
    /// admit maker commitments, keep the TWAP oracle updated, match and settle every request
    /// with a proof, serve forced withdrawals; one request's failure never stops the others.
    Run(MatcherRunArgs),
}

/// `shr darkpool maker` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MakerCommand {
    /// Allow-list a maker on the pool (the pool owner signs).
    Register(RegisterArgs),
    /// Deposit collateral into the pool (public: an ERC-20 transfer), from the maker's key.
    Deposit(DepositArgs),
    /// Commit liquidity, sealed to the matcher and signed by the maker's key (private).
    Commit(CommitArgs),
    /// Withdraw the maker's whole balance (a forced withdrawal the matcher serves).
    Withdraw(MakerArgs),
}

/// The manifest and the simulated TEE.
#[derive(Debug, Args)]
pub(crate) struct ManifestArgs {
    /// The deployment manifest.
    #[arg(long)]
    deployment: PathBuf,
}

/// `shr darkpool deploy` flags.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The deployment manifest (with a vault and a registered agent).
    #[arg(long)]
    deployment: PathBuf,
    /// The payment token makers are paid in (e.g. WETH).
    #[arg(long)]
    payment: Address,
    /// The Uniswap V2 Router02 whose factory holds the collateral/payment pair (the TWAP).
    #[arg(long)]
    router: Address,
    /// The matcher's mailbox and sealed-state store (shared with the agent).
    #[arg(long, env = "SHR_MAILBOX_URL")]
    mailbox: String,
    /// The pool owner's private key (hex); default on the dev chain: the node's first account.
    #[arg(long, env = "SHR_DARKPOOL_OWNER_KEY", hide_env_values = true)]
    owner_key: Option<B256>,
    /// Seed of the simulated TEE platform the matcher runs on (hex, 32 bytes).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
}

/// `shr darkpool matcher run` flags.
#[derive(Debug, Args)]
pub(crate) struct MatcherRunArgs {
    /// The deployment manifest (with a dark pool).
    #[arg(long)]
    deployment: PathBuf,
    /// The mailbox and sealed-state store (as at `shr darkpool deploy`).
    #[arg(long, env = "SHR_MAILBOX_URL")]
    mailbox: String,
    /// The relayer's private key (hex): it sends fills, absorptions and oracle updates
    /// (default on the dev chain: dev account 9).
    #[arg(long, env = "SHR_RELAYER_KEY", hide_env_values = true)]
    relayer_key: Option<B256>,
    /// Seed of the simulated TEE platform (as at deploy).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
    /// Pause between passes, milliseconds.
    #[arg(long, default_value_t = 1_000)]
    poll_ms: u64,
    /// One pass, then exit.
    #[arg(long)]
    once: bool,
    /// Serve Prometheus `/metrics` and `/healthz` (503 once no pass completed for ten pauses,
    /// at least 30 s) on this address, e.g. 127.0.0.1:9465
    /// (`shr_darkpool_requests_served_total{status}`, `shr_darkpool_request_failures_total`,
    /// `shr_darkpool_pass_failures_total`, `shr_darkpool_last_pass_timestamp_seconds`,
    /// `shr_darkpool_commitment_version`).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

/// A maker's identity.
#[derive(Debug, Args)]
pub(crate) struct MakerArgs {
    /// The deployment manifest (with a dark pool).
    #[arg(long)]
    deployment: PathBuf,
    /// The maker account's private key (hex); prefer the environment variable.
    #[arg(long, env = "SHR_MAKER_KEY", hide_env_values = true)]
    maker_key: B256,
    /// Seed of the maker's own (simulated) TEE platform holding its wallet key.
    #[arg(long, env = "SHR_MAKER_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// Accept the public dev seed on a chain other than 31337.
    #[arg(long)]
    allow_dev_tee: bool,
}

/// `shr darkpool maker register` flags.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The deployment manifest (with a dark pool).
    #[arg(long)]
    deployment: PathBuf,
    /// The maker's account.
    #[arg(long)]
    maker: Address,
    /// The pool owner's private key (hex); default on the dev chain: the node's first account.
    #[arg(long, env = "SHR_DARKPOOL_OWNER_KEY", hide_env_values = true)]
    owner_key: Option<B256>,
}

/// `shr darkpool maker deposit` flags.
#[derive(Debug, Args)]
pub(crate) struct DepositArgs {
    #[command(flatten)]
    maker: MakerArgs,
    /// Collateral to deposit, base units (sats for wBTC): the maker's inventory, in round lots
    /// of its own choosing (a deposit is public).
    #[arg(long)]
    amount: u128,
}

/// `shr darkpool maker commit` flags.
#[derive(Debug, Args)]
pub(crate) struct CommitArgs {
    #[command(flatten)]
    maker: MakerArgs,
    /// The mailbox the matcher reads (shared store).
    #[arg(long, env = "SHR_MAILBOX_URL")]
    mailbox: String,
    /// Committed collateral, base units (counted up to the maker's balance in the pool).
    #[arg(long)]
    size: u128,
    /// Smallest fill the maker accepts, base units.
    #[arg(long, default_value_t = 0)]
    min_fill: u128,
    /// Spread over the TWAP, bps.
    #[arg(long)]
    spread_bps: u32,
    /// How long the commitment stands, seconds from now.
    #[arg(long, default_value_t = 30 * 86_400)]
    expiry_secs: u64,
}

/// An RPC chain signing for `key` (or the node's accounts on the dev chain when `None`).
async fn chain_with(url: &str, keys: &[B256]) -> Result<RpcChain> {
    let mut rpc = RpcConfig::new(url);
    for k in keys {
        let signer = PrivateKeySigner::from_bytes(k)
            .map_err(|e| eyre::eyre!("not a secp256k1 private key: {e}"))?;
        rpc.signers.push(Arc::new(signer) as SharedTxSigner);
    }
    Ok(RpcChain::connect(rpc).await?)
}

fn need_url(rpc_url: Option<&str>) -> Result<&str> {
    rpc_url.ok_or_else(|| {
        eyre::eyre!("the dark pool lives on a chain: pass --rpc-url (or SHR_RPC_URL)")
    })
}

fn dark_pool(m: &DeploymentManifest) -> Result<(DarkPool, DarkPoolDeployment)> {
    let d =
        m.recovery.as_ref().and_then(|r| r.dark_pool.clone()).ok_or_else(|| {
            eyre::eyre!("the manifest has no dark pool: run `shr darkpool deploy`")
        })?;
    Ok((DarkPool { address: d.address, collateral: d.collateral, payment: d.payment }, d))
}

/// The owner's account: its key's address, else dev account 0 on the dev chain 31337 only.
async fn owner(chain: &RpcChain, key: Option<B256>) -> Result<Address> {
    match key {
        Some(k) => Ok(PrivateKeySigner::from_bytes(&k)?.address()),
        None if chain.chain_id().await? == shr_enclave::DEV_CHAIN_ID => Ok(chain.accounts()[0]),
        None => bail!("the pool owner's key is required on this chain (SHR_DARKPOOL_OWNER_KEY)"),
    }
}

pub(crate) async fn run(cmd: DarkPoolCommand, rpc_url: Option<&str>) -> Result<()> {
    let url = need_url(rpc_url)?;
    match cmd {
        DarkPoolCommand::Deploy(a) => deploy(&a, url).await,
        DarkPoolCommand::Matcher { command: MatcherCommand::Run(a) } => matcher_run(&a, url).await,
        DarkPoolCommand::Maker { command } => maker(command, url).await,
        DarkPoolCommand::Requests(a) => requests(&a, url).await,
    }
}

async fn deploy(args: &DeployArgs, url: &str) -> Result<()> {
    let mut m = read_manifest(&args.deployment)?;
    let keys: Vec<B256> = args.owner_key.into_iter().collect();
    let chain = chain_with(url, &keys).await?;
    let chain_id = chain.chain_id().await?;
    m.check_chain(chain_id)?;
    let collateral = m.vault.map(|v| v.asset).ok_or_else(|| {
        eyre::eyre!("the manifest has no vault: `shr deploy --collateral TOKEN` first")
    })?;
    ensure!(m.recovery.is_some(), "the manifest names no agent: `shr agent register` first");
    let admin = owner(&chain, args.owner_key).await?;
    let factory = view(&chain, args.router, &UniswapV2Router02::factoryCall {})
        .await
        .wrap_err_with(|| format!("--router {}: not a Uniswap V2 router", args.router))?;
    let pair =
        view(&chain, factory, &UniswapV2Factory::getPairCall { _0: collateral, _1: args.payment })
            .await?;
    ensure!(
        pair != Address::ZERO,
        "no Uniswap V2 pair of {collateral} and --payment {} (the TWAP needs one)",
        args.payment
    );
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, args.allow_dev_tee)?;
    let oracle = deploy_twap_oracle(&chain, admin, factory).await?;
    update_twap_oracle(&chain, admin, oracle, (collateral, args.payment)).await?;
    let mut matcher = MatcherEnclave::launch(&tee, collateral, args.payment, chain_id)?;
    let pool =
        DarkPool::deploy_for(&chain, admin, &tee, &mut matcher, TwapBound::oracle(oracle)).await?;
    let store = Store::open(&args.mailbox).await?;
    // The fresh state (its blinding) is sealed before anything can depend on it.
    reconcile(&mut matcher, &chain, &pool, &store).await?;
    let identity = matcher.identity();
    let d = DarkPoolDeployment {
        address: pool.address,
        collateral,
        payment: args.payment,
        matcher: identity.signer,
        matcher_hpke: identity.hpke,
        twap_oracle: oracle,
        reference_pair: pair,
    };
    if let Some(r) = m.recovery.as_mut() {
        r.dark_pool = Some(d.clone());
    }
    crate::write_manifest(&args.deployment, &m)?;
    println!("{}", serde_json::to_string(&d)?);
    Ok(())
}

async fn matcher_run(args: &MatcherRunArgs, url: &str) -> Result<()> {
    let m = read_manifest(&args.deployment)?;
    let (pool, d) = dark_pool(&m)?;
    // The last pass that completed, unix seconds: `/healthz` fails once it is older than ten
    // pauses (at least 30 s).
    let last_pass = Arc::new(std::sync::atomic::AtomicU64::new(now_unix()));
    if let Some(addr) = args.metrics {
        let (seen, stale_after) = (last_pass.clone(), (args.poll_ms * 10 / 1_000).max(30));
        let health = move || {
            let last = seen.load(std::sync::atomic::Ordering::Relaxed);
            let age = now_unix().saturating_sub(last);
            let ok = age <= stale_after;
            (
                ok,
                serde_json::json!({ "ok": ok, "last_pass": last, "age_secs": age, "stale_after_secs": stale_after }),
            )
        };
        crate::node_ops::serve_metrics(addr, crate::node_ops::install()?, Arc::new(health)).await?;
    }
    let relayer_key = match args.relayer_key {
        Some(k) => k,
        None if m.chain_id == shr_enclave::DEV_CHAIN_ID => {
            shr_chain::dev_signers(10).pop().expect("dev signers").to_bytes()
        }
        None => bail!("--relayer-key (SHR_RELAYER_KEY) is required on chain {}", m.chain_id),
    };
    let chain = chain_with(url, &[relayer_key]).await?;
    let chain_id = chain.chain_id().await?;
    m.check_chain(chain_id)?;
    let relayer = PrivateKeySigner::from_bytes(&relayer_key)?.address();
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, args.allow_dev_tee)?;
    let store = Store::open(&args.mailbox).await?;
    let Some(sealed) = store.sealed(STATE_KEY.0, STATE_KEY.1).await? else {
        bail!(
            "no sealed matcher state in --mailbox: was the pool deployed with it (`shr darkpool deploy`)?"
        );
    };
    let mut matcher =
        MatcherEnclave::resume(&tee, d.collateral, d.payment, chain_id, &Sealed(sealed))
            .wrap_err("resuming the matcher from its sealed state")?;
    ensure!(
        matcher.identity().signer == d.matcher,
        "this matcher's signer {} is not the pool's {} (another --tee-seed?)",
        matcher.identity().signer,
        d.matcher
    );
    let r = reconcile(&mut matcher, &chain, &pool, &store).await?;
    // The proving keys before the first request: a settlement then costs proving time only.
    let setup = tokio::task::spawn_blocking(shr_darkpool::prepare_proving_keys).await?;
    tracing::info!(target: "shr::darkpool", pool = %pool.address, %relayer, reconciled = ?r, version = matcher.version(), proving_keys_ms = setup.as_millis() as u64, "matcher running");
    let period = ORACLE_WINDOW_SECS / u64::from(ORACLE_GRANULARITY);
    let mut oracle_period = None;
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::node_cmd::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    loop {
        let pass = async {
            admit_makers(&mut matcher, &store).await?;
            // Anyone keeps Uniswap's sliding-window oracle fed; the matcher does, once a period.
            let now = chain.timestamp().await?;
            if oracle_period != Some(now / period) {
                update_twap_oracle(&chain, relayer, d.twap_oracle, (d.collateral, d.payment)).await?;
                oracle_period = Some(now / period);
            }
            // The price every fill is checked against on chain: the oracle's TWAP.
            let twap = match pool.oracle_twap_wad(&chain).await {
                Ok(p) => u128::try_from(p).ok(),
                Err(e) => {
                    tracing::info!(target: "shr::darkpool", error = %crate::error_chain(&e), "no TWAP over a full window yet; requests wait");
                    None
                }
            };
            let Some(twap) = twap else {
                reconcile(&mut matcher, &chain, &pool, &store).await?;
                return Ok::<_, shr_darkpool::Error>(None);
            };
            serve_once(&mut matcher, &chain, &pool, relayer, &store, twap).await.map(Some)
        }
        .await;
        match pass {
            Ok(Some(served)) => {
                last_pass.store(now_unix(), std::sync::atomic::Ordering::Relaxed);
                metrics::gauge!("shr_darkpool_last_pass_timestamp_seconds").set(now_unix() as f64);
                metrics::gauge!("shr_darkpool_commitment_version").set(matcher.version() as f64);
                for (id, status) in served
                    .statuses
                    .iter()
                    .filter(|(_, s)| *s != shr_darkpool::RequestStatus::Pending)
                {
                    metrics::counter!("shr_darkpool_requests_served_total", "status" => format!("{status:?}")).increment(1);
                    tracing::info!(target: "shr::darkpool", request_id = id, ?status, "request served");
                }
                for (id, e) in &served.failures {
                    metrics::counter!("shr_darkpool_request_failures_total").increment(1);
                    tracing::warn!(target: "shr::darkpool", request_id = id, error = %crate::error_chain(e), "request failed");
                }
            }
            Ok(None) => last_pass.store(now_unix(), std::sync::atomic::Ordering::Relaxed),
            Err(e) => {
                metrics::counter!("shr_darkpool_pass_failures_total").increment(1);
                tracing::warn!(target: "shr::darkpool", error = %crate::error_chain(&e), "matcher pass failed; retried next pass");
            }
        }
        if args.once || *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(args.poll_ms)) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

fn now_unix() -> u64 {
    std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or_default()
}

async fn maker(cmd: MakerCommand, url: &str) -> Result<()> {
    if let MakerCommand::Register(a) = &cmd {
        let m = read_manifest(&a.deployment)?;
        let (pool, _) = dark_pool(&m)?;
        let keys: Vec<B256> = a.owner_key.into_iter().collect();
        let chain = chain_with(url, &keys).await?;
        m.check_chain(chain.chain_id().await?)?;
        pool.set_maker(&chain, owner(&chain, a.owner_key).await?, a.maker).await?;
        println!(
            "{}",
            serde_json::json!({ "maker": a.maker, "pool": pool.address, "allowed": true })
        );
        return Ok(());
    }
    let args = match &cmd {
        MakerCommand::Deposit(a) => &a.maker,
        MakerCommand::Commit(a) => &a.maker,
        MakerCommand::Withdraw(a) => a,
        MakerCommand::Register(_) => unreachable!("handled above"),
    };
    let m = read_manifest(&args.deployment)?;
    let (pool, d) = dark_pool(&m)?;
    let chain = chain_with(url, &[args.maker_key]).await?;
    let chain_id = chain.chain_id().await?;
    m.check_chain(chain_id)?;
    let signer = PrivateKeySigner::from_bytes(&args.maker_key)?;
    let maker = signer.address();
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, args.allow_dev_tee)?;
    // One wallet per maker account on its platform.
    let index = u32::from_be_bytes(maker.0[16..20].try_into().expect("4 bytes"));
    let wallet = Enclave::launch_instance(&tee, MAKER_WALLET_PROGRAM, index)?;
    match cmd {
        MakerCommand::Deposit(a) => {
            let r = pool
                .deposit(&chain, maker, d.collateral, U256::from(a.amount), &wallet.identity().hpke)
                .await?;
            println!(
                "{}",
                serde_json::json!({ "maker": maker, "deposited": a.amount.to_string(), "tx": r.tx_hash })
            );
        }
        MakerCommand::Commit(a) => {
            let now = chain.timestamp().await?;
            let commitment = MakerCommitment {
                maker,
                size: a.size,
                min_fill: a.min_fill,
                spread_bps: a.spread_bps,
                expiry: now + a.expiry_secs,
            };
            let body =
                MakerBody::from_wallet(commitment, &wallet, &signer, (chain_id, pool.address))?;
            let sealed = seal_maker(&d.matcher_hpke, &body)?;
            Store::open(&a.mailbox)
                .await?
                .put_sealed(MAKER_KIND, &maker.to_string(), sealed.as_bytes())
                .await?;
            // The size, spread and minimum stay sealed: only that a commitment was made shows.
            println!(
                "{}",
                serde_json::json!({ "maker": maker, "committed": true, "sealed_to": d.matcher })
            );
        }
        MakerCommand::Withdraw(_) => {
            let r = pool.request_forced_withdrawal(&chain, maker, d.collateral).await?;
            println!(
                "{}",
                serde_json::json!({ "maker": maker, "withdrawal_requested": true, "tx": r.tx_hash, "note": "the matcher pays out the whole balance; if it does not, the escape hatch opens after the exit delay" })
            );
        }
        MakerCommand::Register(_) => unreachable!("handled above"),
    }
    Ok(())
}

async fn requests(args: &ManifestArgs, url: &str) -> Result<()> {
    let m = read_manifest(&args.deployment)?;
    let (pool, _) = dark_pool(&m)?;
    let chain = chain_with(url, &[]).await?;
    m.check_chain(chain.chain_id().await?)?;
    for id in 1..=pool.request_count(&chain).await? {
        let (requester, deadline, status, _) = pool.request_info(&chain, id).await?;
        println!(
            "{}",
            serde_json::json!({ "id": id, "requester": requester, "status": status, "deadline": deadline })
        );
    }
    Ok(())
}
