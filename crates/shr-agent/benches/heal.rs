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

fn heal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let supply = U256::from(15_028_131_426_528u64);
    let cfg = SmallDeficitConfig {
        reading: ReserveReading {
            observed_at: 1_728_439_000,
            reserves: supply,
            supply,
            ripcord: false,
        },
        price_usd_e8: 62_000 * 100_000_000,
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
                    genesis_timestamp: 1_728_438_000,
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
