//! `shr`: the Self-Healing Reserve command line.
//!
//! The binary is the edge of the system: it parses flags (clap), sets up tracing (`RUST_LOG`),
//! picks a chain backend (embedded revm by default, `--rpc-url` for any JSON-RPC node) and runs
//! the subcommand.

mod agent_cmd;
mod custodian_cmd;
mod darkpool_cmd;
mod demo_cmd;
mod deploy_cmd;
mod don_cmd;
mod mailbox;
mod node_cmd;
mod node_ops;
mod oracle_cmd;
mod risk_cmd;
mod scenario_cmd;
mod series_args;
mod signer_cmd;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use eyre::Result;
use shr_chain::{Chain, EmbeddedChain, RpcChain, RpcConfig};

/// Self-Healing Reserve: confidential proof of reserve with autonomous recovery.
#[derive(Debug, Parser)]
#[command(name = "shr", version, about)]
struct Cli {
    /// JSON-RPC endpoint; without it the embedded revm chain runs in-process.
    #[arg(long, global = true, env = "SHR_RPC_URL")]
    rpc_url: Option<String>,
    /// Log as JSON lines (one object per event) instead of text.
    #[arg(long, global = true, env = "SHR_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: the whole system on the embedded chain with the real data, dashboard at
    /// http://127.0.0.1:3002 (`--headless` runs the three scenarios and exits).
    Demo(demo_cmd::DemoArgs),
    /// Chain operations.
    Chain {
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Replay a reserve series through the DON onto the chain (default: the real wBTC series).
    Replay(oracle_cmd::ReplayArgs),
    /// Evaluate one custodian reading and transmit one report.
    Attest(oracle_cmd::AttestArgs),
    /// Deploy a DON of node directories (`shr don init`): verifies their quotes, deploys the
    /// forwarder and receiver, registers the signers, writes a deployment manifest.
    Deploy(deploy_cmd::DeployArgs),
    /// The public state of a deployment: isSolvent, last update, freshness, the last reports.
    Status(deploy_cmd::StatusArgs),
    /// Run a scenario end to end on the embedded chain.
    Scenario(scenario_cmd::ScenarioArgs),
    /// Serve a custodian reserve API (sealed PoR bodies) from a series.
    Custodian(custodian_cmd::CustodianArgs),
    /// The recovery agent.
    Agent {
        #[command(subcommand)]
        command: agent_cmd::AgentCommand,
    },
    /// Operator control of the agent's incidents (list, show, retry, cancel, resume).
    Incident {
        #[command(subcommand)]
        command: agent_cmd::IncidentCommand,
    },
    /// The confidential dark pool: deploy, run the matcher, market makers' operations.
    Darkpool {
        #[command(subcommand)]
        command: darkpool_cmd::DarkPoolCommand,
    },
    /// The lending-vault risk engine.
    Risk {
        #[command(subcommand)]
        command: risk_cmd::RiskCommand,
    },
    /// A treasury signer party (threshold ECDSA): keygen, refresh, run.
    Signer {
        #[command(subcommand)]
        command: signer_cmd::SignerCommand,
    },
    /// The DON.
    Don {
        #[command(subcommand)]
        command: DonCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DonCommand {
    /// Creates one node's enclave state in a directory (keys drawn inside the enclave, sealed at
    /// rest) and prints its identity: signer, hpke_public_key, quote.
    Init(don_cmd::InitArgs),
    /// Runs one node until SIGTERM: rounds on a cron schedule, its own source fetch, the other
    /// nodes over NATS JetStream, a rotating leader with takeover.
    Node(Box<node_cmd::NodeArgs>),
    /// Seals a secret read from stdin (a custodian API key) to the node's enclave, for
    /// `{{secrets.NAME}}` in its source URL or `--source-header`s.
    Secret(don_cmd::SecretArgs),
    /// The NATS `permissions` block of each node's user for a deployment (JSON, by node index):
    /// a node may publish only as itself and read only its own inbox.
    NatsPermissions {
        /// The deployment manifest (`shr deploy --out`).
        #[arg(long)]
        deployment: std::path::PathBuf,
    },
    /// Creates the DON's NATS stream and each node's consumer, with the operator's credentials
    /// (nodes with `nats-permissions` may not create them); prints their names.
    NatsSetup {
        /// The deployment manifest (`shr deploy --out`).
        #[arg(long)]
        deployment: std::path::PathBuf,
        /// The NATS server (JetStream enabled).
        #[arg(long, env = "SHR_NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats: String,
        /// The operator's NATS credentials file (`.creds`).
        #[arg(long, env = "SHR_NATS_CREDS", conflicts_with = "nats_user")]
        nats_creds: Option<std::path::PathBuf>,
        /// The operator's NATS user (with SHR_NATS_PASSWORD).
        #[arg(long, env = "SHR_NATS_USER")]
        nats_user: Option<String>,
    },
    /// The nodes' signer addresses (for the forwarder's setConfig) and HPKE keys.
    Signers {
        /// Seed of the simulated TEE platform (hex, 32 bytes); default: the fixed dev seed.
        #[arg(long)]
        tee_seed: Option<alloy::primitives::B256>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ChainCommand {
    /// Backend, chain id, latest block and dev accounts.
    Info {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // arkworks' gadget spans (targets gr1cs, r1cs) format whole circuits: never wanted.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into())
        .add_directive("gr1cs=off".parse()?)
        .add_directive("r1cs=off".parse()?);
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_json {
        fmt.json().flatten_event(true).init();
    } else {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    let rpc = cli.rpc_url.as_deref();
    match cli.command {
        Command::Chain { command: ChainCommand::Info { json } } => {
            chain_info(connect(rpc, None).await?.as_ref(), json).await
        }
        Command::Demo(args) => demo_cmd::run(args).await,
        Command::Replay(args) => oracle_cmd::replay(args, rpc).await,
        Command::Attest(args) => oracle_cmd::attest(args, rpc).await,
        Command::Deploy(args) => deploy_cmd::deploy(&args, rpc).await,
        Command::Status(args) => deploy_cmd::status(&args, rpc).await,
        Command::Custodian(args) => custodian_cmd::run(args).await,
        Command::Scenario(args) => scenario_cmd::run(args, rpc).await,
        Command::Agent { command } => agent_cmd::run(command, rpc).await,
        Command::Incident { command } => agent_cmd::incident(command, rpc).await,
        Command::Darkpool { command } => darkpool_cmd::run(command, rpc).await,
        Command::Risk { command } => risk_cmd::run_cmd(command).await,
        Command::Don { command: DonCommand::Signers { tee_seed, json } } => {
            oracle_cmd::signers(tee_seed, json)
        }
        Command::Signer { command } => signer_cmd::run(command).await,
        Command::Don { command: DonCommand::Init(args) } => don_cmd::init(&args),
        Command::Don { command: DonCommand::Secret(args) } => don_cmd::secret(&args),
        Command::Don {
            command: DonCommand::NatsSetup { deployment, nats, nats_creds, nats_user },
        } => {
            node_cmd::nats_setup(&deployment, &nats, nats_creds.as_deref(), nats_user.as_deref())
                .await
        }
        Command::Don { command: DonCommand::Node(args) } => node_cmd::run(*args, rpc).await,
        Command::Don { command: DonCommand::NatsPermissions { deployment } } => {
            node_cmd::nats_permissions(&deployment)
        }
    }
}

/// An error and its sources, `outer: inner: root`, for a log line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes a deployment manifest to `path` (pretty JSON, replaced atomically).
fn write_manifest(path: &std::path::Path, m: &shr_oracle::DeploymentManifest) -> Result<()> {
    use eyre::WrapErr;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(m)?)
        .and_then(|()| std::fs::rename(&tmp, path))
        .wrap_err_with(|| format!("writing {}", path.display()))
}

/// The embedded chain (its genesis at `genesis`, default now), or the node at `rpc_url`.
async fn connect(rpc_url: Option<&str>, genesis: Option<u64>) -> Result<Arc<dyn Chain>> {
    Ok(match rpc_url {
        Some(url) => Arc::new(RpcChain::connect(RpcConfig::new(url)).await?),
        None => {
            let mut cfg = shr_chain::EmbeddedConfig::default();
            if let Some(g) = genesis {
                cfg.genesis_timestamp = g;
            }
            Arc::new(EmbeddedChain::with_config(cfg))
        }
    })
}

async fn chain_info(chain: &dyn Chain, json: bool) -> Result<()> {
    let chain_id = chain.chain_id().await?;
    let block = chain.block_number().await?;
    let timestamp = chain.timestamp().await?;
    let mut accounts = Vec::new();
    for a in chain.accounts() {
        accounts.push((*a, chain.balance(*a).await?));
    }
    if json {
        let v = serde_json::json!({
            "backend": chain.backend().to_string(),
            "chain_id": chain_id,
            "block": block,
            "timestamp": timestamp,
            "accounts": accounts.iter().map(|(a, b)| serde_json::json!({"address": a, "balance_wei": b.to_string()})).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        println!("backend    {}", chain.backend());
        println!("chain id   {chain_id}");
        println!("block      {block} (timestamp {timestamp})");
        println!("dev accounts:");
        for (a, b) in &accounts {
            println!("  {a}  {} ETH", alloy::primitives::utils::format_ether(*b));
        }
    }
    Ok(())
}
