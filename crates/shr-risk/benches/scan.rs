//! One price tick over a book of 1,000,000 vaults (the HF scan), the scan from 10^4 to 10^7
//! vaults, and the plans for every breached vault. One core.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use shr_risk::{Asset, PlanConfig, Position, Prices, VaultBook, WAD, crash::Rng, plan};

fn book(n: usize) -> VaultBook {
    let mut rng = Rng::new(42);
    let mut b = VaultBook::with_capacity(n);
    for _ in 0..n {
        let c = 1 + rng.next_u64() % 1_000; // 1..1,000 wstETH
        // Debt at HF 1.15..1.65 at $2,000 (L = 0.85).
        let hf_bps = 11_500 + rng.next_u64() % 5_000;
        let debt = c as u128 * 2_000 * 8_500 * WAD / hf_bps as u128;
        let p = Position {
            collateral_wad: c as u128 * WAD,
            debt_wad: debt,
            liquidation_threshold_bps: 8_500,
        };
        b.push(p, Asset::WstEth, Asset::Usdc);
    }
    b
}

fn bench(c: &mut Criterion) {
    let b = book(1_000_000);
    // A 10 % drop from $2,000: roughly a fifth of the book breaches the 1.15 trigger.
    let prices = [1_800 * WAD, 2_000 * WAD, WAD, 2_000 * WAD];
    let cfg = PlanConfig::default();
    let breached = b.scan(&prices, cfg.trigger_wad);
    eprintln!("breached at $1,800: {} of {}", breached.len(), b.len());
    c.bench_function("HF scan, 1,000,000 vaults, one tick", |bn| {
        bn.iter(|| b.scan(&prices, cfg.trigger_wad))
    });
    let mut g = c.benchmark_group("HF scan versus vaults");
    for n in [10_000usize, 100_000, 1_000_000, 10_000_000] {
        let b = book(n);
        g.bench_with_input(criterion::BenchmarkId::from_parameter(n), &b, |bn, b| {
            bn.iter(|| b.scan(&prices, cfg.trigger_wad))
        });
    }
    g.finish();
    let pr = Prices {
        collateral_oracle_wad: prices[0],
        debt_oracle_wad: WAD,
        collateral_dex_wad: prices[0],
    };
    c.bench_function("plans for every breached vault (one tick)", |bn| {
        bn.iter(|| {
            breached
                .iter()
                .filter(|&&i| plan(&b.position(i), &pr, &cfg, |_| 0).is_ok_and(|p| p.is_some()))
                .count()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
