//! One request matched across 10,000 maker commitments (the pure core), and one whole settlement
//! inside the matcher enclave (open the sealed order, match, Poseidon commitment over the table,
//! HPKE-sealed notices, signature) with 100 makers.

#![allow(missing_docs)]

use alloy::primitives::{Address, B256};
use criterion::{Criterion, criterion_group, criterion_main};
use shr_darkpool::{
    MakerBody, MakerCommitment, MatcherEnclave, Order, OrderBody, match_order, seal_maker,
    seal_order,
};
use shr_enclave::{Enclave, SimulatedTee};

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

fn settle(c: &mut Criterion) {
    let tee = SimulatedTee::from_seed(B256::repeat_byte(9));
    let (wbtc, weth) = (Address::repeat_byte(0xb), Address::repeat_byte(0xe));
    let mut matcher = MatcherEnclave::launch(&tee, wbtc, weth, 31337).unwrap();
    matcher.bind(Address::repeat_byte(0xd));
    let reply = Enclave::launch(&tee, "maker-wallet").unwrap().identity().hpke;
    for m in makers(100) {
        matcher.credit_deposit(m.maker, wbtc, m.size).unwrap();
        let body = MakerBody { commitment: m, reply_to: reply };
        matcher.add_maker(&seal_maker(&matcher.identity().hpke, &body).unwrap()).unwrap();
    }
    let requester = Address::repeat_byte(0xaa);
    matcher.credit_deposit(requester, weth, u128::MAX / 4).unwrap();
    let order = Order {
        size: 50_000_000_000, // 500 WBTC: about ten makers
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 50,
        min_fill: 0,
        deadline: 1_900_000_000,
    };
    let sealed =
        seal_order(&matcher.identity().hpke, &OrderBody { order, requester, reply_to: reply })
            .unwrap();
    let twap = 158_000_000_000_000_000_000_000_000_000u128;
    c.bench_function("matcher enclave settles 1 request (100 makers)", |b| {
        b.iter(|| {
            let out = matcher.settle(1, &sealed, twap, 1_800_000_000).unwrap();
            matcher.abort();
            out
        })
    });
}

criterion_group!(benches, bench, settle);
criterion_main!(benches);
