//! The dark pool's pure core and its settlement, proving excluded:
//!
//! - one request matched across 100 to 100,000 maker commitments (`match_order`);
//! - a whole settlement in the matcher enclave with 100 makers in the table (16 of them holding
//!   collateral in the maker slots of the balance tree): open the sealed order, match, build
//!   the fill witness (the tree's Poseidon roots and path, the order's Poseidon commitment),
//!   seal the notices (HPKE), sign. Proving is the `shr-zk` `proofs` bench; here the prover
//!   is a stand-in returning zeros ([`MatcherEnclave::settle_with`]).

#![allow(missing_docs)]

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use shr_chain::ChainLog;
use shr_contracts::bindings::CREDarkPool;
use shr_darkpool::{
    MakerBody, MakerCommitment, MatcherEnclave, Order, OrderBody, RequestRef, match_order,
    seal_maker, seal_order,
};
use shr_enclave::{Enclave, SimulatedTee};

const TWAP: u128 = 158_000_000_000_000_000_000_000_000_000;
const NOW: u64 = 1_800_000_000;

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

fn order(size: u128) -> Order {
    Order {
        size,
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 50,
        min_fill: 0,
        deadline: 1_900_000_000,
    }
}

fn matching(c: &mut Criterion) {
    // 7,514 WBTC: 5 % of wBTC's supply, the large-deficit scenario's order.
    let o = order(751_400_000_000);
    let m = makers(10_000);
    c.bench_function("match 1 request across 10,000 makers", |b| {
        b.iter(|| match_order(&o, &m, TWAP, NOW).unwrap())
    });
    let mut g = c.benchmark_group("match versus makers");
    for n in [100usize, 1_000, 10_000, 100_000] {
        let m = makers(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| match_order(&o, m, TWAP, NOW).unwrap())
        });
    }
    g.finish();
}

fn deposited(pool: Address, party: Address, token: Address, amount: u128, slot: usize) -> ChainLog {
    let e = CREDarkPool::Deposited {
        party,
        token,
        amount: U256::from(amount),
        total: U256::from(amount),
        exitKey: B256::ZERO,
        slot: U256::from(slot),
    };
    let data = e.encode_log_data();
    ChainLog {
        address: pool,
        topics: data.topics().to_vec(),
        data: data.data,
        block_number: 1,
        tx_hash: keccak256(party),
        log_index: slot as u64,
    }
}

fn settlement(c: &mut Criterion) {
    let tee = SimulatedTee::from_seed(B256::repeat_byte(18));
    let (wbtc, weth, pool) =
        (Address::repeat_byte(0xb1), Address::repeat_byte(0xe7), Address::repeat_byte(0x9c));
    let mut m = MatcherEnclave::launch(&tee, wbtc, weth, 31_337).unwrap();
    m.bind(pool);
    m.set_finality_depth(0);
    let keys: Vec<PrivateKeySigner> = (0..100u8)
        .map(|i| PrivateKeySigner::from_bytes(&B256::left_padding_from(&[1, i])).unwrap())
        .collect();
    let wallet = Enclave::launch_instance(&tee, "maker-wallet", 0).unwrap();
    let requester = Address::repeat_byte(0xaa);
    // 16 makers fund the maker slots with 100 WBTC each; the requester funds its payment.
    let mut logs: Vec<ChainLog> = keys
        .iter()
        .take(16)
        .enumerate()
        .map(|(i, k)| deposited(pool, k.address(), wbtc, 10_000_000_000, i))
        .collect();
    logs.push(deposited(pool, requester, weth, 10u128.pow(25), 17));
    m.admit_deposits(&logs, 1).unwrap();
    // Each absorption is proven (the update circuit), as on chain; setup only.
    while m.absorb_next().unwrap().is_some() {
        m.confirm().unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        let commitment = MakerCommitment {
            maker: k.address(),
            size: 1_000_000_000 + (i as u128 * 7_919) % 5_000_000_000,
            min_fill: 0,
            spread_bps: (i as u32 * 37) % 50,
            expiry: 2_000_000_000,
        };
        let body = MakerBody::from_wallet(commitment, &wallet, k, (31_337, pool)).unwrap();
        m.add_maker(&seal_maker(&m.identity().hpke, &body).unwrap()).unwrap();
    }
    // 500 WBTC: more than the 16 funded makers commit, so every one fills (16 fills and 17
    // notices, the most a settlement seals) and the order ends partially filled.
    let body = OrderBody {
        order: order(50_000_000_000),
        requester,
        reply_to: wallet.identity().hpke,
        mailbox: B256::ZERO,
        salt: shr_zk::OrderOpening::random_salt(),
    };
    let sealed = seal_order(&m.identity().hpke, &body).unwrap();
    let request = RequestRef {
        id: 1,
        requester,
        order_commitment: keccak256(sealed.as_bytes()),
        order_hash: body.order_hash().unwrap(),
        premium_bps: 50,
    };
    let state = m.seal_state().unwrap();
    let resume = || {
        let mut m = MatcherEnclave::resume(&tee, wbtc, weth, 31_337, &state).unwrap();
        m.set_finality_depth(0);
        m
    };
    let (outcome, s) =
        resume().settle_with(&request, &sealed, TWAP, NOW, |_| Ok([U256::ZERO; 8])).unwrap();
    eprintln!(
        "settlement: {:?}, {} fills, {} notices",
        outcome.status,
        outcome.fills.len(),
        s.map_or(0, |s| s.notices.len())
    );
    c.bench_function("settlement, 100 makers, proving excluded", |b| {
        b.iter_batched(
            resume,
            |mut m| m.settle_with(&request, &sealed, TWAP, NOW, |_| Ok([U256::ZERO; 8])).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = matching, settlement
}
criterion_main!(benches);
