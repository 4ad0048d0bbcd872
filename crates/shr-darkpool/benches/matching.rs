//! One request matched across 10,000 maker commitments (the pure core). A whole settlement now
//! proves a fill: its cost is `shr-zk`'s `proofs` bench.

#![allow(missing_docs)]

use alloy::primitives::Address;
use criterion::{Criterion, criterion_group, criterion_main};
use shr_darkpool::{MakerCommitment, Order, match_order};

fn makers(n: usize) -> Vec<MakerCommitment> {
    (0..n)
        .map(|i| MakerCommitment {
            maker: Address::left_padding_from(&(i as u64 + 1).to_be_bytes()),
            size: 1_000_000_000 + (i as u128 * 7_919) % 5_000_000_000, // 10..60 WBTC, sats
            min_fill: (i as u128 % 3) * 10_000_000,
            spread_bps: (i as u32 * 37) % 60,
            expiry: 2_000_000_000,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let m = makers(10_000);
    let twap = 158_000_000_000_000_000_000_000_000_000u128;
    let order = Order {
        size: 751_400_000_000, // 7,514 WBTC: 5 % of wBTC's supply
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 50,
        min_fill: 0,
        deadline: 1_900_000_000,
    };
    c.bench_function("match 1 request across 10,000 makers", |b| {
        b.iter(|| match_order(&order, &m, twap, 1_800_000_000).unwrap())
    });
}

// The matcher's settlement now proves a fill (Groth16): its cost is `shr-zk`'s `proofs` bench.
criterion_group!(benches, bench);
criterion_main!(benches);
