//! Time-to-heal on the swap path (embedded chain, rounds back to back): from the DON's round on
//! the shortfall's first reading to the round that puts `isSolvent = true` on chain, through the
//! confirmation round, the sealed hand-off, the agent's decision and the direct swap. Deployment
//! is excluded (criterion's `iter_custom` adds only the measured heal time).

#![allow(missing_docs)]

use std::time::Duration;

use alloy::primitives::U256;
use criterion::{Criterion, criterion_group, criterion_main};
use shr_agent::{SmallDeficitConfig, StrategyConfig, small_deficit};
use shr_chain::{EmbeddedChain, EmbeddedConfig};
use shr_enclave::SimulatedTee;
use shr_oracle::ReserveReading;

/// 2023-07-05T21:13:56Z, the last solvent reading before the dip.
const SOLVENT_AT: u64 = 1_688_591_636;
const SOLVENT_RESERVES: u64 = 15_692_936_569_888;
const SOLVENT_SUPPLY: u64 = 15_692_639_744_634;

fn heal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The series' real dip: the last solvent reading of 2023-07-05 and the first short one
    // (0.379 WBTC short of 156,926 WBTC), sats.
    let reading = |observed_at, reserves: u64, supply: u64| ReserveReading {
        observed_at,
        reserves: U256::from(reserves),
        supply: U256::from(supply),
        ripcord: false,
    };
    let cfg = SmallDeficitConfig {
        solvent: reading(SOLVENT_AT, SOLVENT_RESERVES, SOLVENT_SUPPLY),
        short: reading(SOLVENT_AT + 3_600, 15_692_601_797_892, 15_692_639_744_634),
        price_usd_e8: 30_498 * 100_000_000,
        pool: (U256::from(16_231_137_593u64), U256::from(2_571_336_301_536_722_443_178u128)),
        treasury: U256::from(10u128.pow(20)),
        strategy: StrategyConfig::default(),
    };
    let tee = SimulatedTee::new();
    c.bench_function("heal/small_deficit_first_short_reading_to_solvent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let chain = EmbeddedChain::with_config(EmbeddedConfig {
                    genesis_timestamp: SOLVENT_AT - 1_000,
                    ..Default::default()
                });
                let r = rt.block_on(small_deficit(&chain, &tee, &cfg, None)).expect("scenario");
                assert!(r.restored);
                total += Duration::from_secs_f64(r.time_to_heal_ms / 1e3);
            }
            total
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(10));
    targets = heal
}
criterion_main!(benches);
