use proptest::prelude::*;

use super::*;

const TWAP: u128 = 158_000_000_000_000_000_000_000_000_000; // ~15.8 WETH per WBTC, wei per sat, wad

fn maker(i: u8, size: u128, min_fill: u128, spread_bps: u32) -> MakerCommitment {
    MakerCommitment { maker: Address::repeat_byte(i), size, min_fill, spread_bps, expiry: 1_000 }
}

fn order(size: u128, min_fill: u128) -> Order {
    Order {
        size,
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 100,
        min_fill,
        deadline: 500,
    }
}

#[test]
fn best_ask_first_then_pro_rata() {
    let makers =
        [maker(1, 600, 0, 20), maker(2, 300, 0, 10), maker(3, 100, 0, 20), maker(4, 1_000, 0, 90)];
    let out = match_order(&order(700, 0), &makers, TWAP, 100).unwrap();
    assert_eq!(out.status, MatchStatus::Filled);
    // Maker 2 (10 bps) fills fully; 400 left at 20 bps split 600:100 -> 342.86:57.14.
    let got: Vec<(u8, u128)> = out.fills.iter().map(|f| (f.maker.0[0], f.amount)).collect();
    assert_eq!(got, vec![(2, 300), (1, 343), (3, 57)]);
    assert_eq!(out.fills[0].price_wad, ask_wad(TWAP, 10).unwrap());
    assert!(out.fills.iter().all(|f| f.maker.0[0] != 4), "the worse ask is not needed");
}

#[test]
fn minimum_fills_and_statuses() {
    // Maker 3's pro-rata share (57) is under its minimum (80): it drops out; maker 1 takes 400.
    let makers = [maker(1, 600, 0, 20), maker(3, 100, 80, 20)];
    let out = match_order(&order(400, 0), &makers, TWAP, 100).unwrap();
    assert_eq!(out.fills.iter().map(|f| f.amount).collect::<Vec<_>>(), vec![400]);
    // Short liquidity: partial when above the order's minimum, unfilled (nothing) below it.
    let out = match_order(&order(1_000, 500), &makers, TWAP, 100).unwrap();
    assert_eq!((out.status, out.filled), (MatchStatus::PartiallyFilled, 700));
    let out = match_order(&order(1_000, 800), &makers, TWAP, 100).unwrap();
    assert_eq!((out.status, out.filled, out.fills.len()), (MatchStatus::Unfilled, 0, 0));
    // Expired makers, spreads over the premium and asks outside the band do not count.
    let mut o = order(100, 0);
    o.premium_bps = 15;
    let out = match_order(&o, &[maker(1, 600, 0, 20)], TWAP, 100).unwrap();
    assert_eq!(out.status, MatchStatus::Unfilled);
    let out = match_order(&order(100, 0), &[maker(1, 600, 0, 20)], TWAP, 1_000).unwrap_err();
    assert!(matches!(out, Error::InvalidOrder { field: "deadline", .. }), "{out}");
    let mut o = order(100, 0);
    o.max_price_wad = TWAP;
    let out = match_order(&o, &[maker(1, 600, 0, 20)], TWAP, 100).unwrap();
    assert_eq!(out.status, MatchStatus::Unfilled);
}

#[test]
fn bad_orders_name_the_field() {
    let e = match_order(&order(0, 0), &[], TWAP, 0).unwrap_err();
    assert!(e.to_string().contains("size"), "{e}");
    let mut o = order(10, 0);
    o.min_price_wad = 2;
    o.max_price_wad = 1;
    assert!(match_order(&o, &[], TWAP, 0).unwrap_err().to_string().contains("min_price_wad"));
    assert!(
        match_order(&order(10, 11), &[], TWAP, 0).unwrap_err().to_string().contains("min_fill")
    );
}

fn arb_makers() -> impl Strategy<Value = Vec<MakerCommitment>> {
    prop::collection::vec((1u128..10_000, 0u128..3_000, 0u32..6, 0u64..2), 0..24).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (size, min_fill, spread, exp))| MakerCommitment {
                maker: Address::with_last_byte(i as u8 + 1),
                size,
                min_fill: min_fill.min(size),
                spread_bps: spread * 10,
                expiry: if exp == 0 { 50 } else { 1_000 },
            })
            .collect()
    })
}

proptest! {
    /// Against a naive reference: no overfill (order or maker), value conserved (the requester
    /// pays exactly what the makers receive, each at least its ask), every fill inside the band
    /// and premium, minimum fills honoured, best ask first, and deterministic under shuffling.
    #[test]
    fn invariants(makers in arb_makers(), size in 1u128..40_000, min_fill in 0u128..40_000, premium in 0u32..60, band in 0u32..60, seed in any::<u64>()) {
        let o = Order { size, min_price_wad: 0, max_price_wad: ask_wad(TWAP, band).unwrap(), premium_bps: premium, min_fill: min_fill.min(size), deadline: 500 };
        let out = match_order(&o, &makers, TWAP, 100).unwrap();
        prop_assert!(out.filled <= o.size);
        prop_assert_eq!(out.filled, out.fills.iter().map(|f| f.amount).sum::<u128>());
        prop_assert_eq!(out.payment, out.fills.iter().map(|f| f.payment).fold(U256::ZERO, |a, b| a + b));
        let eligible = |m: &MakerCommitment| m.expiry > 100 && m.spread_bps <= premium && ask_wad(TWAP, m.spread_bps).unwrap() <= o.max_price_wad;
        for f in &out.fills {
            let m = makers.iter().find(|m| m.maker == f.maker).unwrap();
            prop_assert!(eligible(m));
            prop_assert!(f.amount <= m.size && f.amount >= m.min_fill && f.amount > 0);
            prop_assert!(f.price_wad <= o.max_price_wad && f.price_wad >= o.min_price_wad);
            prop_assert!(f.payment * U256::from(WAD) >= U256::from(f.amount) * U256::from(f.price_wad));
        }
        // Naive reference: with no minimum fills anywhere, the fill is min(size, eligible depth).
        if makers.iter().all(|m| m.min_fill == 0) && o.min_fill == 0 {
            let depth: u128 = makers.iter().filter(|m| eligible(m)).map(|m| m.size).sum();
            prop_assert_eq!(out.filled, o.size.min(depth));
        }
        // Best ask first: no fill at a worse ask while a better eligible maker has capacity
        // it could have given (its whole size fits in what is left).
        if let Some(worst) = out.fills.iter().map(|f| f.price_wad).max() {
            for m in makers.iter().filter(|m| eligible(m) && ask_wad(TWAP, m.spread_bps).unwrap() < worst) {
                let got = out.fills.iter().find(|f| f.maker == m.maker).map_or(0, |f| f.amount);
                prop_assert!(got == m.size || m.min_fill > 0, "better maker {:?} left with {got}", m);
            }
        }
        match out.status {
            MatchStatus::Filled => prop_assert_eq!(out.filled, o.size),
            MatchStatus::PartiallyFilled => prop_assert!(out.filled >= o.min_fill && out.filled < o.size),
            MatchStatus::Unfilled => prop_assert!(out.fills.is_empty()),
        }
        // Deterministic: any maker order gives the same outcome.
        let mut shuffled = makers.clone();
        let n = shuffled.len();
        if n > 1 {
            let mut x = seed;
            for i in (1..n).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (x >> 33) as usize % (i + 1));
            }
        }
        prop_assert_eq!(match_order(&o, &shuffled, TWAP, 100).unwrap(), out);
    }
}

/// The first implementation (every maker's ask in `U256`, the whole eligible book sorted by ask
/// then address), kept as the reference the grouped matcher must equal.
fn reference_match(
    order: &Order,
    makers: &[MakerCommitment],
    twap_wad: u128,
    now: u64,
) -> Result<MatchOutcome> {
    let mut eligible: Vec<(u128, MakerCommitment)> = Vec::new();
    for m in makers {
        if m.expiry <= now || m.spread_bps > order.premium_bps || m.size == 0 || m.min_fill > m.size
        {
            continue;
        }
        let ask = ask_wad(twap_wad, m.spread_bps)?;
        if ask < order.min_price_wad || ask > order.max_price_wad {
            continue;
        }
        eligible.push((ask, *m));
    }
    eligible.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.maker.cmp(&b.1.maker)));
    let (mut fills, mut left, mut i) = (Vec::new(), order.size, 0);
    while i < eligible.len() && left > 0 {
        let ask = eligible[i].0;
        let mut j = i;
        while j < eligible.len() && eligible[j].0 == ask {
            j += 1;
        }
        let level: Vec<MakerCommitment> = eligible[i..j].iter().map(|e| e.1).collect();
        for (m, amount) in fill_level(&level, left) {
            left -= amount;
            fills.push(Fill { maker: m, amount, price_wad: ask, payment: payment(amount, ask) });
        }
        i = j;
    }
    Ok(outcome(order, fills, left))
}

proptest! {
    /// The grouped matcher equals the reference on books with wide and tiny TWAPs (asks that
    /// round together across spreads), spreads spanning far more than the book (the comparison
    /// sort), price bands that cut levels on both sides, and minimum fills.
    #[test]
    fn equals_the_reference(
        v in prop::collection::vec((1u128..10_000, 0u128..3_000, prop_oneof![0u32..80, 0u32..100_000], 0u64..2), 0..60),
        twap in prop_oneof![Just(TWAP), 1u128..30_000, Just(u128::MAX / 2)],
        size in 1u128..200_000, min_fill in 0u128..200_000, premium in prop_oneof![0u32..80, Just(u32::MAX)],
        lo_bps in 0u32..40, hi_bps in 0u32..100,
    ) {
        let makers: Vec<MakerCommitment> = v.into_iter().enumerate().map(|(i, (size, min_fill, spread_bps, exp))| MakerCommitment {
            maker: Address::with_last_byte((i * 37 % 251) as u8 + 1),
            size, min_fill: min_fill.min(size), spread_bps, expiry: if exp == 0 { 50 } else { 1_000 },
        }).collect();
        let band = |bps: u32| ask_wad(twap, bps).unwrap_or(u128::MAX);
        let o = Order { size, min_price_wad: band(lo_bps).min(band(hi_bps)), max_price_wad: band(hi_bps), premium_bps: premium, min_fill: min_fill.min(size), deadline: 500 };
        let got = match_order(&o, &makers, twap, 100);
        let want = reference_match(&o, &makers, twap, 100);
        prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }
}
