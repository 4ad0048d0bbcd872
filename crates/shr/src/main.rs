//! `shr`: the Self-Healing Reserve command line.
//!
//! The binary is the edge of the system: it parses flags (clap), sets up tracing (`RUST_LOG`),
//! picks a chain backend (embedded revm by default, `--rpc-url` for any JSON-RPC node) and runs
//! the subcommand.

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chain operations.
    Chain {
        #[command(subcommand)]
        command: ChainCommand,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let chain = connect(cli.rpc_url.as_deref()).await?;
    match cli.command {
        Command::Chain { command: ChainCommand::Info { json } } => {
            chain_info(chain.as_ref(), json).await
        }
    }
}

async fn connect(rpc_url: Option<&str>) -> Result<Arc<dyn Chain>> {
    Ok(match rpc_url {
        Some(url) => Arc::new(RpcChain::connect(RpcConfig::new(url)).await?),
        None => Arc::new(EmbeddedChain::new()),
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
