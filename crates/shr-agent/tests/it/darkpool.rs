//! `large-deficit` and `darkpool-failure` on the embedded chain with the real wBTC reading and
//! the real V2 depth: final on-chain state, and a privacy scan over both: no order size, fill
//! size, price or maker allocation in calldata, logs or storage.

use alloy::primitives::U256;
use serde_json::Value;
use shr_agent::{DarkPoolScenarioConfig, ScenarioReport, dark_pool};
use shr_chain::{EmbeddedChain, EmbeddedConfig, RecordingChain};
use shr_enclave::SimulatedTee;
use shr_oracle::{ReserveReading, ReserveSeries, SeriesColumns};

type R<T = ()> = eyre::Result<T>;

// The real WBTC/WETH V2 pair at block 17,600,000.
const POOL: (u64, u128) = (16_231_137_593, 2_571_336_301_536_722_443_178);

/// The series' real shortfall of 2024-10-08 (9,623 WBTC): the last solvent reading before it
/// and the short one.
fn reading() -> R<(ReserveReading, ReserveReading)> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv"
    );
    let series = ReserveSeries::from_path(p.as_ref(), &SeriesColumns::wbtc(), 8)?;
    let w = series.window(Some(1_728_345_600), None); // 2024-10-08T00:00Z
    let i = w.iter().position(|r| r.reserves < r.supply).expect("the shortfall");
    Ok((w[i - 1], w[i]))
}

async fn run(cfg: &DarkPoolScenarioConfig) -> R<(ScenarioReport, Vec<Vec<u8>>)> {
    let chain = RecordingChain::new(EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: cfg.solvent.observed_at - 10,
        ..Default::default()
    }));
    let report = dark_pool(&chain, &SimulatedTee::new(), cfg, None).await?;
    let hay = chain.public_bytes().await?;
    Ok((report, hay))
}

/// Every number in the steps' private views, as it could appear on chain.
fn private_numbers(report: &ScenarioReport) -> Vec<Vec<u8>> {
    fn walk(v: &Value, out: &mut Vec<U256>) {
        match v {
            // Decimal numbers only: `0x..` strings are addresses (makers are public).
            Value::String(s) if !s.starts_with("0x") => {
                if let Ok(n) = s.parse::<U256>() {
                    out.push(n)
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut nums = Vec::new();
    for s in &report.steps {
        walk(&s.private, &mut nums);
    }
    let mut out = Vec::new();
    for n in nums.into_iter().filter(|n| *n > U256::from(1_000_000u64)) {
        let word = n.to_be_bytes::<32>();
        out.push(word.to_vec());
        let packed: Vec<u8> = word.iter().copied().skip_while(|b| *b == 0).collect();
        if packed.len() >= 5 {
            out.push(packed);
        }
        out.push(n.to_string().into_bytes());
    }
    out.sort();
    out.dedup();
    out
}

fn scan(report: &ScenarioReport, hay: &[Vec<u8>]) {
    let private = private_numbers(report);
    assert!(private.len() > 10, "the scan has private values to look for ({})", private.len());
    let find = |h: &[u8], p: &[u8]| h.windows(p.len()).any(|w| w == p);
    let planted = [b"xx".as_slice(), &private[private.len() / 2], b"yy"].concat();
    assert!(private.iter().any(|p| find(&planted, p)), "the scanner must be able to fail");
    let hits: Vec<String> = hay
        .iter()
        .flat_map(|h| private.iter().filter(|p| find(h, p)).map(alloy::primitives::hex::encode))
        .collect();
    assert!(hits.is_empty(), "{}: private values on chain: {hits:?}", report.scenario);
}

#[tokio::test]
async fn large_deficit_heals_through_the_dark_pool_privately() -> R {
    let cfg = DarkPoolScenarioConfig::large_deficit(
        reading()?,
        62_000 * 100_000_000,
        (U256::from(POOL.0), U256::from(POOL.1)),
    );
    let (report, hay) = run(&cfg).await?;
    assert_eq!(report.mechanism, "dark_pool");
    assert!(report.restored && report.final_is_solvent, "{report:#?}");
    let fill =
        report.steps.iter().find(|s| s.name.starts_with("matcher settles")).expect("a settlement");
    assert_eq!(fill.public["status"], "FILLED");
    assert!(fill.gas > 0);
    scan(&report, &hay);
    Ok(())
}

#[tokio::test]
async fn insufficient_liquidity_expires_and_stays_insolvent() -> R {
    let cfg = DarkPoolScenarioConfig::darkpool_failure(
        reading()?,
        62_000 * 100_000_000,
        (U256::from(POOL.0), U256::from(POOL.1)),
    );
    let (report, hay) = run(&cfg).await?;
    assert_eq!(report.mechanism, "dark_pool");
    assert!(!report.restored && !report.final_is_solvent, "{report:#?}");
    let expired: Vec<_> =
        report.steps.iter().filter(|s| s.name.starts_with("timeout, expire")).collect();
    assert_eq!(expired.len(), 2, "the request and its widened retry");
    assert!(expired.iter().all(|s| s.public["status"] == "EXPIRED"));
    assert!(report.steps.iter().any(|s| s.name == "escalate (alert)"));
    scan(&report, &hay);
    Ok(())
}
