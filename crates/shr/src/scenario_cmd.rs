//! `shr scenario small-deficit | large-deficit | darkpool-failure`.

use alloy::primitives::U256;
use clap::{Args, ValueEnum};
use eyre::{Result, bail};
use shr_agent::{DarkPoolScenarioConfig, SmallDeficitConfig, StrategyConfig};
use shr_enclave::SimulatedTee;

/// The real Uniswap V2 WBTC/WETH pair at block 17,600,000.
const UNIV2_POOL: &str = include_str!("../../../data/uniswap/univ2_wbtc_weth_block17600000.json");

/// Which scenario.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Scenario {
    /// A shortfall the real pool can absorb: detect, attest false, direct swap, attest true.
    SmallDeficit,
    /// Reserves to 95 %: far beyond the AMM, filled by pre-committed makers in the dark pool.
    LargeDeficit,
    /// Committed liquidity short of the deficit: timeout, EXPIRED, widened retry, escalation;
    /// the reserve stays insolvent and the failure is public only as a status.
    DarkpoolFailure,
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
    let price = cfg.price_usd_e8;
    let report = match args.scenario {
        Scenario::SmallDeficit => shr_agent::small_deficit(chain.as_ref(), &tee, &cfg).await?,
        Scenario::LargeDeficit => {
            let c = DarkPoolScenarioConfig::large_deficit(reading, price, cfg.pool);
            shr_agent::dark_pool(chain.as_ref(), &tee, &c).await?
        }
        Scenario::DarkpoolFailure => {
            let c = DarkPoolScenarioConfig::darkpool_failure(reading, price, cfg.pool);
            shr_agent::dark_pool(chain.as_ref(), &tee, &c).await?
        }
    };
    // The failure scenario succeeds when the reserve stays insolvent and nothing was revealed.
    let as_expected = match args.scenario {
        Scenario::DarkpoolFailure => !report.restored && !report.final_is_solvent,
        _ => report.restored && report.final_is_solvent,
    };
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["as_expected"] = as_expected.into();
        println!("{v}");
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
        if report.restored {
            println!(
                "time to heal: {:.2} ms (first short reading to isSolvent = true)",
                report.time_to_heal_ms
            );
        } else {
            println!("not restored: the reserve stays publicly insolvent");
        }
    }
    if !as_expected {
        std::process::exit(1);
    }
    Ok(())
}
