//! Proving time of each circuit (fills with 1, 4 and 8 makers in the 16-maker anonymity set; a
//! withdrawal; a deposit), with the constraint counts and proving-key sizes printed once.
//! `cargo bench -p shr-zk --bench proofs`. Gas is measured on chain by the scenario and the
//! verifier tests (docs/PERFORMANCE.md).

#![allow(missing_docs)]

use alloy_primitives::Address;
use ark_serialize::{CanonicalSerialize, Compress};
use criterion::{Criterion, criterion_group, criterion_main};
use shr_zk::{
    BalanceChange, BalanceTree, ChangeKind, CircuitKind, FillWitness, Leaf, MAKER_SLOTS, MakerFill,
    OrderOpening, UpdateWitness, constraints, keys, prove, random_blinding,
};

const TWAP: u128 = 158_000_000_000_000_000_000_000_000_000;

fn tree() -> BalanceTree {
    let mut t = BalanceTree::default();
    for s in 0..MAKER_SLOTS {
        let party = Address::left_padding_from(&[0x10, s as u8 + 1]);
        t.set(
            s,
            Leaf { party, collateral: 10_000_000_000, payment: 0, blinding: random_blinding() },
        )
        .unwrap();
    }
    let r = Leaf {
        party: Address::repeat_byte(0xaa),
        collateral: 0,
        payment: 10u128.pow(24),
        blinding: random_blinding(),
    };
    t.set(17, r).unwrap();
    t
}

fn fill(n: usize) -> FillWitness {
    FillWitness {
        tree: tree(),
        requester: (Address::repeat_byte(0xaa), 17),
        twap_wad: TWAP,
        premium_bps: 100,
        order: OrderOpening {
            size: n as u64 * 1_000_000_000,
            min_price_wad: TWAP,
            max_price_wad: TWAP * 2,
            min_fill: 1,
            salt: random_blinding(),
        },
        fills: (0..n)
            .map(|i| MakerFill {
                slot: i * 2 % MAKER_SLOTS + i / 8,
                amount: 1_000_000_000,
                spread_bps: 5 * i as u32,
            })
            .collect(),
    }
}

fn update(kind: ChangeKind) -> UpdateWitness {
    let t = tree();
    let party = Address::repeat_byte(0xaa);
    UpdateWitness {
        change: BalanceChange { party, slot: 17, token: 1, amount: 10u128.pow(20), kind },
        old: *t.leaf(17).unwrap(),
        new_blinding: random_blinding(),
        siblings: t.path(17).unwrap(),
    }
}

fn bench(c: &mut Criterion) {
    for kind in [CircuitKind::Fill, CircuitKind::Update] {
        let k = keys(kind);
        eprintln!(
            "{kind:?}: {} constraints, proving key {} bytes compressed, {} public inputs",
            constraints(kind).unwrap(),
            k.pk.serialized_size(Compress::Yes),
            kind.inputs()
        );
    }
    let mut g = c.benchmark_group("prove");
    g.sample_size(10);
    for n in [1usize, 4, 8] {
        let circuit = fill(n).prepare().unwrap().circuit;
        g.bench_function(format!("fill_{n}_of_16_makers"), |b| {
            b.iter(|| prove(CircuitKind::Fill, circuit.clone()).unwrap())
        });
    }
    for (name, kind) in [("withdrawal", ChangeKind::Withdraw), ("deposit", ChangeKind::Deposit)] {
        let (circuit, ..) = update(kind).circuit().unwrap();
        g.bench_function(name, |b| b.iter(|| prove(CircuitKind::Update, circuit.clone()).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
