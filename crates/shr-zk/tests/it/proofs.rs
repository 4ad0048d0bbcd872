use alloy_primitives::{Address, B256};
use shr_zk::{
    BalanceChange, BalanceTree, ChangeKind, CircuitKind, Error, FillWitness, Leaf, MAKER_SLOTS,
    MakerFill, OrderOpening, UpdateWitness, prove, random_blinding, verify,
};

/// wBTC sats priced in WETH wei, wad: 20 ETH per BTC.
const TWAP: u128 = 200_000_000_000 * 1_000_000_000_000_000_000;
const REQ_SLOT: usize = 17;

fn requester() -> Address {
    Address::repeat_byte(0xaa)
}

/// 16 makers with 1 BTC each, a requester with 500 WETH.
fn tree() -> BalanceTree {
    let mut t = BalanceTree::default();
    for s in 0..MAKER_SLOTS {
        let party = Address::left_padding_from(&[0x10, s as u8 + 1]);
        t.set(s, Leaf { party, collateral: 100_000_000, payment: 0, blinding: random_blinding() })
            .unwrap();
    }
    let r = Leaf {
        party: requester(),
        collateral: 0,
        payment: 500 * 10u128.pow(18),
        blinding: random_blinding(),
    };
    t.set(REQ_SLOT, r).unwrap();
    t
}

fn order(size: u64) -> OrderOpening {
    OrderOpening {
        size,
        min_price_wad: TWAP,
        max_price_wad: TWAP + TWAP / 100,
        min_fill: 1,
        salt: OrderOpening::random_salt(),
    }
}

fn witness(fills: usize, size: u64) -> FillWitness {
    FillWitness {
        tree: tree(),
        requester: (requester(), REQ_SLOT),
        twap_wad: TWAP,
        premium_bps: 50,
        order: order(size),
        fills: (0..fills)
            .map(|i| MakerFill { slot: i * 2, amount: 10_000_000, spread_bps: 10 + i as u32 })
            .collect(),
    }
}

#[test]
fn a_fill_of_eight_makers_proves_and_verifies_and_a_lie_does_not() {
    let w = witness(8, 80_000_000);
    let p = w.prepare().unwrap();
    assert!(p.filled);
    assert_eq!(p.total, 80_000_000);
    assert_eq!(p.tree.leaf(REQ_SLOT).unwrap().collateral, 80_000_000);
    let t = std::time::Instant::now();
    let proof = prove(CircuitKind::Fill, p.circuit.clone()).unwrap();
    eprintln!("fill proof {:?}", t.elapsed());
    assert!(verify(CircuitKind::Fill, &p.publics, &proof).unwrap());
    for i in 0..p.publics.len() {
        let mut lie = p.publics.clone();
        lie[i] += ark_bn254::Fr::from(1u64);
        assert!(!verify(CircuitKind::Fill, &lie, &proof).unwrap(), "public input {i} tampered");
    }
    // Every maker leaf was re-blinded: the tree after differs in all 16 maker slots.
    for s in 0..MAKER_SLOTS {
        assert_ne!(p.tree.leaf(s).unwrap().blinding, w.tree.leaf(s).unwrap().blinding, "slot {s}");
    }
}

#[test]
fn fills_that_break_the_rules_are_refused() {
    let over = witness(8, 70_000_000);
    assert!(matches!(over.prepare(), Err(Error::Fill("fills above the order's size"))));
    let mut band = witness(2, 20_000_000);
    band.fills[1].spread_bps = 200;
    band.premium_bps = 300;
    assert!(matches!(band.prepare(), Err(Error::Fill("price outside the order's band"))));
    let mut premium = witness(2, 20_000_000);
    premium.fills[0].spread_bps = 51;
    assert!(matches!(premium.prepare(), Err(Error::Fill("spread above the premium"))));
    let mut maker = witness(1, 200_000_000);
    maker.fills[0].amount = 100_000_001;
    assert!(matches!(maker.prepare(), Err(Error::Fill("fill above the maker's collateral"))));
    let mut partial = witness(1, 20_000_000);
    partial.order.min_fill = 10_000_001;
    assert!(matches!(partial.prepare(), Err(Error::Fill("fills below the order's minimum fill"))));
}

#[test]
fn deposit_withdraw_and_forced_exit_prove_and_overdraw_does_not() {
    let mut t = BalanceTree::default();
    let party = Address::repeat_byte(0x42);
    let step = |t: &mut BalanceTree, kind, amount| -> Result<(), Error> {
        let change = BalanceChange { party, slot: 20, token: 1, amount, kind };
        let w = UpdateWitness {
            change,
            old: *t.leaf(20)?,
            new_blinding: random_blinding(),
            siblings: t.path(20)?,
        };
        let (circuit, old_root, new_root) = w.circuit()?;
        assert_eq!(old_root, t.root()?);
        let proof = prove(CircuitKind::Update, circuit)?;
        let publics = change.public_inputs(old_root, new_root)?;
        assert!(verify(CircuitKind::Update, &publics, &proof)?);
        let mut lie = change;
        lie.amount += 1;
        assert!(!verify(CircuitKind::Update, &lie.public_inputs(old_root, new_root)?, &proof)?);
        t.set(20, w.new_leaf()?)?;
        assert_eq!(t.root()?, new_root);
        Ok(())
    };
    step(&mut t, ChangeKind::Deposit, 1_000).unwrap();
    step(&mut t, ChangeKind::Withdraw, 400).unwrap();
    assert!(matches!(step(&mut t, ChangeKind::Withdraw, 601), Err(Error::Balance { .. })));
    assert!(matches!(step(&mut t, ChangeKind::Forced, 599), Err(Error::Balance { .. })));
    step(&mut t, ChangeKind::Forced, 600).unwrap();
    assert_eq!(t.leaf(20).unwrap().payment, 0);
    // A slot held by another party cannot be moved by this one.
    let w = UpdateWitness {
        change: BalanceChange {
            party: Address::repeat_byte(1),
            slot: 20,
            token: 1,
            amount: 0,
            kind: ChangeKind::Deposit,
        },
        old: *t.leaf(20).unwrap(),
        new_blinding: B256::ZERO,
        siblings: t.path(20).unwrap(),
    };
    assert!(matches!(w.circuit(), Err(Error::NotOwner { slot: 20, .. })));
}
