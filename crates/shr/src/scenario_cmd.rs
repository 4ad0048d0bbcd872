//! `shr scenario small-deficit | large-deficit | darkpool-failure`.

use alloy::primitives::U256;
use clap::{Args, ValueEnum};
use eyre::{Result, bail};
use shr_agent::{
    DarkPoolScenarioConfig, ScenarioReport, SmallDeficitConfig, Step, StepObserver, StrategyConfig,
};
use shr_chain::Chain;
use shr_enclave::SimulatedTee;
use shr_oracle::{ReserveReading, ReserveSeries};

/// The real Uniswap V2 WBTC/WETH pair at block 17,600,000.
const UNIV2_POOL: &str = include_str!("../../../data/uniswap/univ2_wbtc_weth_block17600000.json");

/// Which scenario.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Scenario {
    /// The series' real dip of 2023-07-05 (a fraction of a WBTC): detect, attest false, a direct
    /// swap to the restore target in whole lots, attest true.
    SmallDeficit,
    /// The series' real shortfall of 2024-10-08 (thousands of WBTC): far beyond the AMM, filled
    /// by pre-committed makers in the dark pool.
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
    /// Take the first shortfall in the real wBTC series at or after this time (RFC 3339);
    /// default: 2023-07-05 for `small-deficit`, 2024-10-08 for the dark-pool scenarios.
    #[arg(long)]
    at: Option<String>,
    /// WBTC price, whole USD (for the direct-swap USD limit); default: the series' price on the
    /// default day (30,498 or 61,953).
    #[arg(long)]
    price_usd: Option<u64>,
    /// Largest price impact of a direct swap, bps (LP fee included).
    #[arg(long, default_value_t = 100)]
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

impl Scenario {
    /// Where the scenario looks for its shortfall, and the WBTC price that day (whole USD).
    fn default_day(self) -> (&'static str, u64) {
        match self {
            Self::SmallDeficit => ("2023-07-05T00:00:00Z", 30_498),
            Self::LargeDeficit | Self::DarkpoolFailure => ("2024-10-08T00:00:00Z", 61_953),
        }
    }
}

/// The first shortfall in `series` at or after `at` (unix s): the last solvent reading before
/// it and the first short one.
fn dip(series: &ReserveSeries, at: u64) -> Result<(ReserveReading, ReserveReading)> {
    let mut solvent = None;
    for r in series.window(Some(at), None) {
        if r.reserves >= r.supply {
            solvent = Some(*r);
        } else if let Some(s) = solvent {
            return Ok((s, *r));
        }
    }
    bail!("no shortfall after a solvent reading in the wBTC series at or after {at}")
}

/// The real-data inputs a scenario starts from: the first shortfall at or after `at` (default:
/// the scenario's day) in the shipped wBTC series, and the real Uniswap V2 pair.
fn config(
    scenario: Scenario,
    at: Option<&str>,
    price_usd: Option<u64>,
    strategy: StrategyConfig,
    treasury_weth: u64,
) -> Result<SmallDeficitConfig> {
    let (day, price) = scenario.default_day();
    let at = shr_oracle::parse_time("at", at.unwrap_or(day))?;
    let (solvent, short) = dip(&crate::oracle_cmd::wbtc_series(8)?, at)?;
    let pool: Pool = serde_json::from_str(UNIV2_POOL)?;
    Ok(SmallDeficitConfig {
        solvent,
        short,
        price_usd_e8: u128::from(price_usd.unwrap_or(price)) * 100_000_000,
        pool: (U256::from(pool.reserves_token0), U256::from(pool.reserves_token1)),
        treasury: U256::from(treasury_weth) * U256::from(10u64).pow(U256::from(18)),
        strategy,
    })
}

/// Runs `scenario` on `chain` with `cfg`, handing each step to `on_step`.
async fn run_on(
    scenario: Scenario,
    chain: &dyn Chain,
    cfg: &SmallDeficitConfig,
    on_step: Option<StepObserver<'_>>,
) -> Result<ScenarioReport> {
    let tee = SimulatedTee::new();
    let (readings, price) = ((cfg.solvent, cfg.short), cfg.price_usd_e8);
    Ok(match scenario {
        Scenario::SmallDeficit => shr_agent::small_deficit(chain, &tee, cfg, on_step).await?,
        Scenario::LargeDeficit => {
            let c = DarkPoolScenarioConfig::large_deficit(readings, price, cfg.pool);
            shr_agent::dark_pool(chain, &tee, &c, on_step).await?
        }
        Scenario::DarkpoolFailure => {
            let c = DarkPoolScenarioConfig::darkpool_failure(readings, price, cfg.pool);
            shr_agent::dark_pool(chain, &tee, &c, on_step).await?
        }
    })
}

/// The demo's scenarios: each run on a fresh embedded chain seeded from the real data (its
/// day's shortfall in the wBTC series, the real Uniswap V2 WBTC/WETH reserves).
#[derive(Debug, Clone)]
pub(crate) struct ScenarioSet {
    strategy: StrategyConfig,
}

impl ScenarioSet {
    /// The defaults of `shr scenario`.
    pub(crate) fn real() -> Result<Self> {
        Ok(Self { strategy: StrategyConfig::default() })
    }
}

impl shr_server::ScenarioRunner for ScenarioSet {
    fn names(&self) -> Vec<String> {
        Scenario::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect()
    }

    fn run(
        &self,
        name: &str,
        on_step: &(dyn Fn(&Step) + Send + Sync),
    ) -> std::result::Result<ScenarioReport, Box<dyn std::error::Error + Send + Sync>> {
        let scenario = Scenario::from_str(name, false)?;
        let cfg = config(scenario, None, None, self.strategy, 100)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let chain = shr_chain::EmbeddedChain::with_config(shr_chain::EmbeddedConfig {
                genesis_timestamp: cfg.solvent.observed_at.saturating_sub(10),
                ..Default::default()
            });
            run_on(scenario, &chain, &cfg, Some(on_step)).await.map_err(Into::into)
        })
    }
}

pub(crate) async fn run(args: ScenarioArgs, rpc_url: Option<&str>) -> Result<()> {
    let strategy = StrategyConfig {
        max_impact_bps: args.max_impact_bps,
        slippage_bps: args.slippage_bps,
        ..StrategyConfig::default()
    };
    let cfg =
        config(args.scenario, args.at.as_deref(), args.price_usd, strategy, args.treasury_weth)?;
    let chain = crate::connect(rpc_url, Some(cfg.solvent.observed_at.saturating_sub(10))).await?;
    let report = run_on(args.scenario, chain.as_ref(), &cfg, None).await?;
    // The failure scenario succeeds when the reserve stays insolvent and nothing was revealed.
    let as_expected = report.as_expected();
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
