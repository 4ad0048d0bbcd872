//! `shr agent run` against a world deployed on anvil: a dry run logs the exact transactions and
//! pays nothing; `--execute` restores the vault once; a route without a pair is named.

use std::process::Command;

use alloy::primitives::{Address, B256, U256};
use shr_agent::world::{World, WorldConfig};
use shr_chain::{RpcChain, RpcConfig};
use shr_contracts::anvil::Anvil;

fn agent_run(url: &str, w: &World<RpcChain>, db: &str, extra: &[&str]) -> (i32, String, String) {
    agent_run_logging(url, w, db, extra, "info")
}

fn agent_run_logging(
    url: &str,
    w: &World<RpcChain>,
    db: &str,
    extra: &[&str],
    rust_log: &str,
) -> (i32, String, String) {
    let path = format!("{},{}", w.weth, w.wbtc);
    let (receiver, router, vault) =
        (w.dep.receiver.to_string(), w.uni.router.to_string(), w.cfg.vault.to_string());
    let signers = w.cfg.don.signers.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let f = w.cfg.don.f.to_string();
    let mut args = vec![
        "--rpc-url",
        url,
        "agent",
        "run",
        "--receiver",
        &receiver,
        "--router",
        &router,
        "--path",
        &path,
        "--vault",
        &vault,
        "--price-usd",
        "62000",
        "--db",
        db,
        "--confirmations",
        "0",
        "--don-signers",
        &signers,
        "--don-f",
        &f,
        "--once",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(&args)
        .env("RUST_LOG", rust_log)
        .env_remove("SHR_RPC_URL")
        .output()
        .expect("shr runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn agent_run_is_a_dry_run_until_execute() -> eyre::Result<()> {
    let anvil = Anvil::spawn()?;
    let mut rpc = RpcConfig::new(anvil.url());
    rpc.poll_interval = Some(std::time::Duration::from_millis(5));
    let dir = std::env::temp_dir().join(format!("shr-agent-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = format!("sqlite:{}", dir.join("agent.db").display());
    // The CLI's defaults: the dev TEE seed and the agent's key-store program.
    let wc = WorldConfig {
        tee_seed: B256::repeat_byte(0x5e),
        agent_program: "shr-agent/key-store@0.1.0".into(),
        db_url: db.clone(),
        price_usd_e8: 62_000 * 100_000_000,
    };
    let deficit = U256::from(20_000_000u64);
    let w = World::insolvent(RpcChain::connect(rpc).await?, &wc, deficit).await?;

    let (code, out, err) = agent_run(&anvil.url(), &w, &db, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""status":"decided""#), "{out}");
    assert!(err.contains("would send approve and swapTokensForExactTokens"), "{err}");
    assert!(!err.contains("data=0x"), "no calldata (amounts) at the default level: {err}");
    // The exact calldata at debug, under the dry run's own target.
    let debug = "info,shr::agent::dry_run=debug";
    let (code, _, err) = agent_run_logging(&anvil.url(), &w, &db, &[], debug);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("data=0x8803dbee"), "the exact calldata at debug: {err}");
    assert_eq!(w.balances().await?.0, U256::ZERO, "a dry run pays nothing");

    let (code, out, err) = agent_run(&anvil.url(), &w, &db, &["--execute"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""status":"swap_confirmed""#), "{out}");
    // The restore target: the deficit plus the band's draw (1-4 ppm of supply), whole lots.
    let (bought, treasury) = w.balances().await?;
    let t = shr_agent::StrategyConfig::default().target;
    let supply = U256::from(shr_agent::world::SUPPLY);
    assert!(bought % t.lot == U256::ZERO, "{bought}");
    assert!(bought >= deficit + t.buffer(supply, 0), "{bought}");
    assert!(bought < deficit + t.buffer(supply, u64::MAX) + t.lot, "{bought}");
    // Run again: nothing is paid twice.
    let (code, _, err) = agent_run(&anvil.url(), &w, &db, &["--execute"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.balances().await?, (bought, treasury));

    // A route with no pair is refused up front, naming the hop.
    let bogus = Address::repeat_byte(0x11).to_string();
    let path = format!("{bogus},{}", w.wbtc);
    let (code, _, err) = agent_run(&anvil.url(), &w, &db, &["--path", &path]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no Uniswap V2 pair") && err.to_lowercase().contains(&bogus.to_lowercase()),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn agent_run_without_an_rpc_url_says_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args([
            "agent",
            "run",
            "--receiver",
            "0x0000000000000000000000000000000000000001",
            "--router",
            "0x0000000000000000000000000000000000000002",
            "--path",
            "0x0000000000000000000000000000000000000003,0x0000000000000000000000000000000000000004",
            "--vault",
            "0x0000000000000000000000000000000000000005",
            "--price-usd",
            "1",
        ])
        .env_remove("SHR_RPC_URL")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rpc-url"));
}
