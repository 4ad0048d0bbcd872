//! One request matched across 10,000 maker commitments (the pure core), and one whole settlement
//! inside the matcher enclave (open the sealed order, match, Poseidon commitment over the table,
//! HPKE-sealed notices, signature) with 100 makers.

#![allow(missing_docs)]

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolEvent,
};
use criterion::{Criterion, criterion_group, criterion_main};
use shr_chain::ChainLog;
use shr_contracts::bindings::CREDarkPool;
use shr_darkpool::{
    MakerBody, MakerCommitment, MatcherEnclave, Order, OrderBody, RequestRef, match_order,
    seal_maker, seal_order,
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
    let pool = Address::repeat_byte(0xd);
    matcher.bind(pool);
    let reply = Enclave::launch(&tee, "maker-wallet").unwrap().identity().hpke;
    // The pool's Deposited logs, as the host hands them to the enclave.
    let log = |i: usize, party: Address, token: Address, amount: u128| {
        let e = CREDarkPool::Deposited {
            party,
            token,
            amount: U256::from(amount),
            total: U256::from(amount),
            exitKey: B256::ZERO,
        };
        let data = e.encode_log_data();
        ChainLog {
            address: pool,
            topics: data.topics().to_vec(),
            data: data.data,
            block_number: 1,
            tx_hash: keccak256(i.to_be_bytes()),
            log_index: i as u64,
        }
    };
    let requester = Address::repeat_byte(0xaa);
    let mut logs = vec![log(0, requester, weth, u128::MAX / 4)];
    for (i, m) in makers(100).into_iter().enumerate() {
        // Each maker's own key signs its commitment.
        let key = alloy::signers::local::PrivateKeySigner::random();
        let m = MakerCommitment { maker: key.address(), ..m };
        logs.push(log(i + 1, m.maker, wbtc, m.size));
        let body = MakerBody::signed(m, (reply, B256::ZERO), &key, (31337, pool)).unwrap();
        matcher.add_maker(&seal_maker(&matcher.identity().hpke, &body).unwrap()).unwrap();
    }
    matcher.admit_deposits(&logs, 10).unwrap();
    let order = Order {
        size: 50_000_000_000, // 500 WBTC: about ten makers
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 50,
        min_fill: 0,
        deadline: 1_900_000_000,
    };
    let sealed = seal_order(
        &matcher.identity().hpke,
        &OrderBody { order, requester, reply_to: reply, mailbox: B256::ZERO },
    )
    .unwrap();
    let twap = 158_000_000_000_000_000_000_000_000_000u128;
    let request = RequestRef { id: 1, requester, order_commitment: keccak256(sealed.as_bytes()) };
    c.bench_function("matcher enclave settles 1 request (100 makers)", |b| {
        b.iter(|| {
            let out = matcher.settle(&request, &sealed, twap, 1_800_000_000).unwrap();
            matcher.abort();
            out
        })
    });
}

criterion_group!(benches, bench, settle);
criterion_main!(benches);
