//! A replay of June 2022 from the real daily prices (`data/prices/`): the stETH depeg and the
//! ETH crash breach a wstETH/USDC vault; at the first breach the plan is solved with the
//! depegged DEX price (not the oracle's) and projects the target HF. Also the seeded random
//! crash of the reference design.

use alloy_primitives::U256;
use shr_risk::{
    Asset, PlanConfig, Position, Prices, VaultBook, WAD,
    crash::{random_drops, replay_yahoo, run},
    health_factor, plan,
};

const PRICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/prices/yahoo_daily_lst_wrapped_stable_2020-12_2024-12.csv"
);

#[test]
fn june_2022_breaches_and_the_plan_uses_the_dex_price() {
    let ticks =
        replay_yahoo(std::fs::File::open(PRICES).unwrap(), "2022-06-01", "2022-06-30").unwrap();
    assert_eq!(ticks.len(), 30);
    // Vault A of the reference design, opened on 2022-06-01 at HF 1.40 (oracle prices).
    let p0 = ticks[0].oracle_wad;
    let c = 100 * WAD;
    let debt = U256::from(c) * U256::from(p0[Asset::WstEth as usize]) * U256::from(8_500u32)
        / U256::from(14_000u32)
        / U256::from(p0[Asset::Usdc as usize]);
    let a = Position { collateral_wad: c, debt_wad: debt.to(), liquidation_threshold_bps: 8_500 };
    let mut book = VaultBook::with_capacity(1);
    book.push(a, Asset::WstEth, Asset::Usdc);
    let cfg = PlanConfig::default();
    let out = run(&book, &ticks, cfg.trigger_wad, 2);
    let first = out.first_breach.expect("June 2022 breaches a 1.40 vault");
    assert!((20220610..=20220618).contains(&first), "first breach {first}");
    let tick = ticks.iter().find(|t| t.label == first).unwrap();
    let (oracle, dex) = (tick.oracle_wad[0], tick.dex_wad[0]);
    assert!(
        dex < oracle * 99 / 100,
        "the depeg hits the DEX price ({dex}) not the oracle ({oracle})"
    );
    let prices = Prices {
        collateral_oracle_wad: oracle,
        debt_oracle_wad: tick.oracle_wad[Asset::Usdc as usize],
        collateral_dex_wad: dex,
    };
    let plan = plan(&a, &prices, &cfg, |_| 0).unwrap().expect("breached: a plan");
    assert!(plan.hf_projected_wad >= U256::from(cfg.target_wad));
    // Priced at the oracle (ignoring the depeg), the sale would be too small to reach the target
    // once executed at the real DEX price.
    let naive = Prices { collateral_dex_wad: oracle, ..prices };
    let naive_plan = shr_risk::plan(&a, &naive, &cfg, |_| 0).unwrap().unwrap();
    assert!(naive_plan.sell_collateral_wad < plan.sell_collateral_wad);
    let proceeds =
        U256::from(naive_plan.sell_collateral_wad) * U256::from(dex) * U256::from(9_950u32)
            / U256::from(10_000u32)
            / U256::from(WAD);
    let after = Position {
        collateral_wad: a.collateral_wad - naive_plan.sell_collateral_wad,
        debt_wad: a.debt_wad - proceeds.to::<u128>(),
        ..a
    };
    assert!(health_factor(&after, oracle, WAD) < U256::from(cfg.target_wad));
}

#[test]
fn seeded_random_drops_are_reproducible_and_breach() {
    let start = [2_000 * WAD, 2_100 * WAD, WAD, 2_000 * WAD];
    let a = random_drops(start, 7, 20);
    assert_eq!(a, random_drops(start, 7, 20), "same SEED, same crash");
    assert_ne!(a, random_drops(start, 8, 20));
    for w in a.windows(2) {
        let moved: Vec<usize> =
            (0..2).filter(|&k| w[1].oracle_wad[k] != w[0].oracle_wad[k]).collect();
        assert_eq!(moved.len(), 1, "one asset per tick");
        let k = moved[0];
        let drop = 10_000 - w[1].oracle_wad[k] * 10_000 / w[0].oracle_wad[k];
        assert!((499..=1_500).contains(&drop), "drop {drop} bps");
    }
    let mut book = VaultBook::with_capacity(2);
    book.push(
        Position {
            collateral_wad: 100 * WAD,
            debt_wad: 120_000 * WAD,
            liquidation_threshold_bps: 8_500,
        },
        Asset::WstEth,
        Asset::Usdc,
    );
    book.push(
        Position {
            collateral_wad: 100 * WAD,
            debt_wad: 90 * WAD,
            liquidation_threshold_bps: 9_300,
        },
        Asset::WeEth,
        Asset::Weth,
    );
    let out = run(&book, &a, PlanConfig::default().trigger_wad, 3);
    assert!(out.first_breach.is_some());
    assert!(out.breaches.len() <= a.len());
}

#[test]
fn a_malformed_price_row_names_the_column() {
    let csv = "date,eth_close,steth_close,wsteth_close,weeth_eth_close,usdc_close\n2022-06-01,abc,1,1,,1\n";
    let e = replay_yahoo(csv.as_bytes(), "2022-01-01", "2022-12-31").unwrap_err();
    assert!(e.to_string().contains("eth_close") && e.to_string().contains("abc"), "{e}");
}
