//! `shr scenario small-deficit`.

use alloy::primitives::U256;
use clap::{Args, ValueEnum};
use eyre::{Result, bail};
use shr_agent::{SmallDeficitConfig, StrategyConfig};
use shr_enclave::SimulatedTee;

/// The real Uniswap V2 WBTC/WETH pair at block 17,600,000.
const UNIV2_POOL: &str = include_str!("../../../data/uniswap/univ2_wbtc_weth_block17600000.json");

/// Which scenario.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Scenario {
    /// A shortfall the real pool can absorb: detect, attest false, direct swap, attest true.
    SmallDeficit,
}

/// `shr scenario` flags.
#[derive(Debug, Args)]
pub(crate) struct ScenarioArgs {
    /// The scenario.
    scenario: Scenario,
    /// Start from the real wBTC reading at or after this time (RFC 3339).
    #[arg(long, default_value = "2024-10-09T02:00:00Z")]
    at: String,
    /// WBTC price, whole USD (for the direct-swap USD limit).
    #[arg(long, default_value_t = 62_000)]
    price_usd: u64,
    /// Largest price impact of a direct swap, bps (LP fee included).
    #[arg(long, default_value_t = 50)]
    max_impact_bps: u32,
    /// Slippage over the quote for `amountInMax`, bps.
    #[arg(long, default_value_t = 50)]
    slippage_bps: u32,
    /// Treasury funding, whole WETH.
    #[arg(long, default_value_t = 100)]
    treasury_weth: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Deserialize)]
struct Pool {
    reserves_token0: u128,
    reserves_token1: u128,
}

pub(crate) async fn run(args: ScenarioArgs, rpc_url: Option<&str>) -> Result<()> {
    let Scenario::SmallDeficit = args.scenario;
    let at = shr_oracle::parse_time("at", &args.at)?;
    let series = crate::oracle_cmd::wbtc_series(8)?;
    let Some(reading) = series.window(Some(at), None).first().copied() else {
        bail!("no reading at or after {}", args.at)
    };
    let pool: Pool = serde_json::from_str(UNIV2_POOL)?;
    let cfg = SmallDeficitConfig {
        reading,
        price_usd_e8: u128::from(args.price_usd) * 100_000_000,
        pool: (U256::from(pool.reserves_token0), U256::from(pool.reserves_token1)),
        treasury: U256::from(args.treasury_weth) * U256::from(10u64).pow(U256::from(18)),
        strategy: StrategyConfig {
            max_impact_bps: args.max_impact_bps,
            slippage_bps: args.slippage_bps,
            ..StrategyConfig::default()
        },
    };
    let chain = crate::connect(rpc_url, Some(reading.observed_at.saturating_sub(10))).await?;
    let tee = SimulatedTee::new();
    let report = shr_agent::small_deficit(chain.as_ref(), &tee, &cfg).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scenario {}: mechanism {}, restored {}, final isSolvent {}",
            report.scenario, report.mechanism, report.restored, report.final_is_solvent
        );
        println!("why: {}", report.why);
        for s in &report.steps {
            println!("  {:<32} {:>8.2} ms  gas {:>7}  {}", s.name, s.ms, s.gas, s.tx.join(" "));
            println!("      public : {}", s.public);
            println!("      private: {}", s.private);
        }
        println!(
            "time to heal: {:.2} ms (first short reading to isSolvent = true)",
            report.time_to_heal_ms
        );
    }
    if !report.restored {
        std::process::exit(1);
    }
    Ok(())
}
