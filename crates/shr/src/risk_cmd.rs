//! `shr risk simulate | replay`: the reference design's two vaults through a seeded crash or
//! through real price history, with the rebalancing plan of every breached vault.

use alloy::primitives::U256;
use clap::{Args, Subcommand};
use eyre::{Result, bail};
use serde_json::json;
use shr_risk::{
    Asset, PlanConfig, Position, Prices, VaultBook, WAD,
    crash::{Tick, random_drops, replay_yahoo, run},
    plan,
};

/// The real daily prices shipped in `data/prices/` (Yahoo export, 2020-12 .. 2024-12).
const PRICES: &[u8] =
    include_bytes!("../../../data/prices/yahoo_daily_lst_wrapped_stable_2020-12_2024-12.csv");

/// `shr risk` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RiskCommand {
    /// Seeded random drops (each tick one collateral asset -5..-15 %) until the first breach.
    Simulate(SimulateArgs),
    /// Real daily prices between two dates (default: the June 2022 stETH depeg and ETH crash).
    Replay(ReplayArgs),
    /// On the embedded chain: vault A on Morpho Blue, an oracle drop, the plan, and its
    /// atomic execution through `RebalanceAdapter`; the HF read back from chain.
    Execute(ExecuteArgs),
}

/// `shr risk execute` flags.
#[derive(Debug, Args)]
pub(crate) struct ExecuteArgs {
    /// Which vault: 0 (A: wstETH against USDC) or 1 (B: weETH against WETH).
    #[arg(long, default_value_t = 0)]
    vault: usize,
    /// How far the vault's collateral oracle price falls (A from $2,730, B from $2,704), bps.
    #[arg(long, default_value_t = 2_000)]
    drop_bps: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

async fn execute(a: ExecuteArgs) -> Result<()> {
    use shr_agent::{execute_plan, lending::LendingWorld};
    if a.drop_bps >= 10_000 {
        bail!("--drop-bps {}: must be below 10,000", a.drop_bps);
    }
    let l = LendingWorld::deploy(shr_chain::EmbeddedChain::new()).await?;
    let id = a.vault;
    let Some(v) = l.vaults.get(id) else { bail!("--vault {id}: no such vault (0 = A, 1 = B)") };
    let (feed, name) =
        (v.collateral_feed, format!("vault {} ({} against {})", v.name, v.collateral, v.debt));
    let start_e8 = l.price_e8(feed).await?;
    l.set_price(feed, start_e8 * (10_000 - a.drop_bps as i64) / 10_000).await?;
    let hf_before = l.health_factor(id).await?;
    let cfg = PlanConfig::default();
    let mut plans = Vec::new();
    match l.plan(id, &cfg).await {
        Ok(Some(p)) => {
            let now = shr_chain::Chain::timestamp(&l.chain).await?;
            let done = execute_plan(&l.chain, &l.target(id)?, &p, now + 600).await?;
            let hf_after = l.health_factor(id).await?;
            plans.push(json!({
                "vault_id": id, "hf_before": wad_str(hf_before), "hf_projected": wad_str(p.hf_projected_wad),
                "hf_onchain_after": wad_str(hf_after), "sell_collateral_wad": p.sell_collateral_wad.to_string(),
                "repaid": done.repaid.to_string(), "slippage_bps": p.slippage_bps, "gas": done.receipt.gas_used,
                "tx": done.receipt.tx_hash.to_string(),
            }));
        }
        Ok(None) => {}
        Err(shr_agent::Error::Risk(e)) => plans.push(json!({ "vault_id": id, "hf_before": wad_str(hf_before), "error": e.to_string(), "hf_onchain_after": null })),
        Err(e) => return Err(e.into()),
    }
    let report = json!({ "breached": hf_before < U256::from(cfg.trigger_wad), "plans": plans });
    if a.json {
        println!("{report}");
    } else {
        println!("{name} after a {} bps oracle drop: HF {}", a.drop_bps, wad_str(hf_before));
        for p in &plans {
            println!("  {p}");
        }
    }
    Ok(())
}

/// Flags shared by both.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Ticks to run after the first breach.
    #[arg(long = "extra-ticks", default_value_t = 0)]
    extra_ticks: usize,
    /// Starting HF of the vaults, wad-free decimal (1.40 = 140 % of the liquidation point).
    #[arg(long, default_value_t = 1.40)]
    start_hf: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `shr risk simulate` flags.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Seed of the random drops.
    #[arg(long, env = "SEED", default_value_t = 1)]
    seed: u64,
    /// Ticks to generate at most.
    #[arg(long, default_value_t = 50)]
    ticks: u32,
    #[command(flatten)]
    common: Common,
}

/// `shr risk replay` flags.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2022-06-01")]
    from: String,
    /// Last day, YYYY-MM-DD.
    #[arg(long, default_value = "2022-06-30")]
    to: String,
    #[command(flatten)]
    common: Common,
}

/// Vault A (wstETH against USDC) and vault B (weETH against WETH) at `start_hf` on `t`.
fn reference_book(t: &Tick, start_hf: f64) -> Result<VaultBook> {
    if !(start_hf > 0.0 && start_hf.is_finite()) {
        bail!("--start-hf {start_hf}: must be a positive number");
    }
    let hf_bps = (start_hf * 10_000.0) as u128;
    let mut b = VaultBook::with_capacity(2);
    for (c, l, coll, debt) in
        [(100u128, 8_500u32, Asset::WstEth, Asset::Usdc), (100, 9_300, Asset::WeEth, Asset::Weth)]
    {
        let value = U256::from(c * WAD) * U256::from(t.oracle_wad[coll as usize]);
        let d =
            value * U256::from(l) / U256::from(hf_bps) / U256::from(t.oracle_wad[debt as usize]);
        b.push(
            Position { collateral_wad: c * WAD, debt_wad: d.to(), liquidation_threshold_bps: l },
            coll,
            debt,
        );
    }
    Ok(b)
}

pub(crate) async fn run_cmd(cmd: RiskCommand) -> Result<()> {
    let json = match &cmd {
        RiskCommand::Simulate(a) => a.common.json,
        RiskCommand::Replay(a) => a.common.json,
        RiskCommand::Execute(a) => a.json,
    };
    let result = match cmd {
        RiskCommand::Execute(a) => execute(a).await,
        other => run_inner(other),
    };
    match result {
        Err(e) if json => {
            println!("{}", json!({ "error": format!("{e:#}") }));
            std::process::exit(1);
        }
        other => other,
    }
}

fn run_inner(cmd: RiskCommand) -> Result<()> {
    let (ticks, common, source) = match cmd {
        RiskCommand::Simulate(a) => {
            let start = [2_000 * WAD, 2_100 * WAD, WAD, 2_000 * WAD];
            (
                random_drops(start, a.seed, a.ticks),
                a.common,
                format!("random drops, seed {}", a.seed),
            )
        }
        RiskCommand::Execute(_) => unreachable!("handled by run_cmd"),
        RiskCommand::Replay(a) => {
            let t = replay_yahoo(PRICES, &a.from, &a.to)?;
            if t.is_empty() {
                bail!(
                    "no price rows between --from {} and --to {} (data covers 2020-12-23 .. 2024-12-07)",
                    a.from,
                    a.to
                );
            }
            (t, a.common, format!("real daily prices {} .. {}", a.from, a.to))
        }
    };
    let cfg = PlanConfig::default();
    let start = if source.starts_with("random") {
        Tick {
            label: 0,
            oracle_wad: [2_000 * WAD, 2_100 * WAD, WAD, 2_000 * WAD],
            dex_wad: [2_000 * WAD, 2_100 * WAD, WAD, 2_000 * WAD],
        }
    } else {
        ticks[0]
    };
    let book = reference_book(&start, common.start_hf)?;
    let out = run(&book, &ticks, cfg.trigger_wad, common.extra_ticks);
    let last_label = out.breaches.last().map(|b| b.0);
    let tick = ticks.iter().find(|t| Some(t.label) == out.first_breach.or(last_label)).copied();
    let mut plans = Vec::new();
    if let (Some(t), Some(first)) = (tick, out.first_breach) {
        for &i in
            &out.breaches.iter().find(|b| b.0 == first).map(|b| b.1.clone()).unwrap_or_default()
        {
            let (c, d) = book.assets(i);
            let prices = Prices {
                collateral_oracle_wad: t.oracle_wad[c as usize],
                debt_oracle_wad: t.oracle_wad[d as usize],
                collateral_dex_wad: t.dex_wad[c as usize],
            };
            let hf_before = book.health_factor(i, &t.oracle_wad);
            let v = match plan(&book.position(i), &prices, &cfg, |_| 0) {
                Ok(Some(p)) => json!({
                    "vault_id": i, "hf_before": wad_str(hf_before), "hf_projected": wad_str(p.hf_projected_wad),
                    "sell_collateral_wad": p.sell_collateral_wad.to_string(), "repay_debt_wad": p.repay_debt_wad.to_string(),
                    "slippage_bps": p.slippage_bps, "oracle_price_wad": prices.collateral_oracle_wad.to_string(),
                    "dex_price_wad": prices.collateral_dex_wad.to_string(), "hf_onchain_after": null,
                }),
                Ok(None) => continue,
                Err(e) => {
                    json!({ "vault_id": i, "hf_before": wad_str(hf_before), "error": e.to_string(), "hf_onchain_after": null })
                }
            };
            plans.push(v);
        }
    }
    let report = json!({
        "source": source,
        "ticks_run": out.breaches.len(),
        "breached": out.first_breach.is_some(),
        "first_breach": out.first_breach,
        "plans": plans,
    });
    if common.json {
        println!("{report}");
    } else {
        println!("{source}: {} ticks run", out.breaches.len());
        match out.first_breach {
            Some(f) => println!("first breach (HF < 1.15) at {f}"),
            None => println!("no breach"),
        }
        for p in &plans {
            println!("  {p}");
        }
    }
    Ok(())
}

fn wad_str(v: U256) -> String {
    shr_risk::wad_decimal(v)
}
