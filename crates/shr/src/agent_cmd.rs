//! `shr agent run`: the recovery agent against a deployed system on a JSON-RPC chain.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use clap::{Args, Subcommand};
use eyre::{Result, bail};
use shr_agent::{Agent, AgentConfig, RestoreTarget, StrategyConfig};
use shr_chain::{Chain, RpcChain, RpcConfig, SharedTxSigner};
use shr_enclave::{Enclave, SimulatedTee};
use shr_store::Store;

use crate::oracle_cmd::AGENT_KEY_PROGRAM;

/// `shr agent` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Watch `ReserveStatusUpdated` and restore deficits (dry run unless `--execute`).
    Run(RunArgs),
}

/// `shr agent run` flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// `ReserveAttestation` to watch.
    #[arg(long)]
    receiver: Address,
    /// Uniswap V2 Router02.
    #[arg(long)]
    router: Address,
    /// Swap route, comma-separated token addresses, treasury asset first, collateral last
    /// (e.g. `WETH,WBTC` or `USDC,WETH,WBTC`).
    #[arg(long, value_delimiter = ',', required = true)]
    path: Vec<Address>,
    /// `ReserveVault`, which receives the collateral.
    #[arg(long)]
    vault: Address,
    /// Treasury account that pays; must be one the chain can sign for (see --treasury-key).
    #[arg(long)]
    treasury: Option<Address>,
    /// Private key of the treasury (hex); default: the node's dev accounts sign. A remote or
    /// threshold signer plugs into the same `TxSigner` seam in code.
    #[arg(long, env = "SHR_TREASURY_KEY", hide_env_values = true)]
    treasury_key: Option<B256>,
    /// Collateral decimals.
    #[arg(long, default_value_t = 8)]
    decimals: u8,
    /// Collateral price, whole USD (for the direct-swap USD limit).
    #[arg(long)]
    price_usd: u64,
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
    /// Blocks an event must be buried under before the agent acts (reorg safety).
    #[arg(long, default_value_t = 2)]
    confirmations: u64,
    /// Seconds an insolvent report waits for its sealed deficit notice before failing.
    #[arg(long, default_value_t = 3_600)]
    notice_timeout_secs: u64,
    /// The agent's database (sealed notices in, incidents out): `sqlite:PATH` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:shr.db")]
    db: String,
    /// Seed of the simulated TEE platform holding the agent's key (hex, 32 bytes).
    #[arg(long)]
    tee_seed: Option<B256>,
    /// Accept the simulated platform's public dev seed on a chain other than the dev chain
    /// 31337 (anyone can derive the agent's key from it: experiments only).
    #[arg(long)]
    allow_dev_tee: bool,
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

pub(crate) async fn run(cmd: AgentCommand, rpc_url: Option<&str>) -> Result<()> {
    let AgentCommand::Run(args) = cmd;
    let Some(url) = rpc_url else {
        bail!(
            "shr agent run watches a chain that already holds the system: pass --rpc-url (or SHR_RPC_URL); on the embedded chain the agent runs inside `shr scenario`"
        )
    };
    if args.path.len() < 2 {
        bail!(
            "--path {:?}: needs at least two tokens (treasury asset, ..., collateral)",
            args.path
        );
    }
    let mut rpc = RpcConfig::new(url);
    if let Some(k) = args.treasury_key {
        let signer = PrivateKeySigner::from_bytes(&k)
            .map_err(|e| eyre::eyre!("--treasury-key is not a secp256k1 private key: {e}"))?;
        rpc.signers.push(std::sync::Arc::new(signer) as SharedTxSigner);
    }
    let chain = RpcChain::connect(rpc).await?;
    let treasury = match (args.treasury, args.treasury_key) {
        (Some(t), _) => t,
        (None, Some(k)) => PrivateKeySigner::from_bytes(&k)?.address(),
        (None, None) => chain.accounts()[2],
    };
    if !chain.accounts().contains(&treasury) {
        bail!("--treasury {treasury}: no signer for this account (give --treasury-key)");
    }
    let chain_id = chain.chain_id().await?;
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, args.allow_dev_tee)?;
    if args.allow_dev_tee && chain_id != shr_enclave::DEV_CHAIN_ID {
        tracing::warn!(target: "shr::cli", chain_id, "--allow-dev-tee: the agent's key derives from the public dev seed on this chain");
    }
    let key = Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
    let mut cfg = AgentConfig::new(args.receiver, args.router, args.path, args.vault, treasury);
    cfg.decimals = args.decimals;
    cfg.price_usd_e8 = u128::from(args.price_usd) * 100_000_000;
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
    // A one-point band makes the swap's size the deficit plus a constant, to within a lot.
    if args.band_ppm[0] >= args.band_ppm[1] || args.lot == 0 {
        bail!(
            "--band-ppm {:?} --lot {}: the band's minimum must be below its maximum (a one-point band publishes the deficit to within a lot), and a lot must be positive",
            args.band_ppm,
            args.lot
        );
    }
    cfg.execute = args.execute;
    cfg.confirmations = args.confirmations;
    cfg.notice_timeout_secs = args.notice_timeout_secs;
    let store = Store::open(&args.db).await?;
    let agent = Agent::new(&chain, store, &key, cfg);
    // Fail early, naming the hop, when the route has no pool.
    agent.route().await?;
    tracing::info!(target: "shr::agent", url, execute = args.execute, %treasury, "agent running");
    loop {
        let touched = agent.run_once().await?;
        if args.json {
            let v: Vec<_> = touched
                .iter()
                .map(|(id, status)| serde_json::json!({ "incident": id, "status": status }))
                .collect();
            println!("{}", serde_json::json!({ "incidents": v, "execute": args.execute }));
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
    }
}
