use proptest::prelude::*;

use super::*;

fn vault_a() -> Position {
    // 100 wstETH against 150,000 USDC, L = 0.85.
    Position {
        collateral_wad: 100 * WAD,
        debt_wad: 150_000 * WAD,
        liquidation_threshold_bps: 8_500,
    }
}

fn prices(pc: u128, dex: u128) -> Prices {
    Prices { collateral_oracle_wad: pc * WAD, debt_oracle_wad: WAD, collateral_dex_wad: dex * WAD }
}

#[test]
fn reference_formula_brings_hf_to_target() {
    let cfg = PlanConfig::default();
    let plan = plan(&vault_a(), &prices(2_000, 2_000), &cfg, |_| 0).unwrap().unwrap();
    // x = (C Pc L - T D Pd) / (Pc (L - T (1 - s))) = (170,000 - 187,500) / (2,000 * (0.85 - 1.24375))
    let expected = 17_500.0 / (2_000.0 * (1.24375 - 0.85));
    let got = plan.sell_collateral_wad as f64 / WAD as f64;
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    assert!(plan.hf_projected_wad >= U256::from(cfg.target_wad));
    assert!(plan.hf_projected_wad < U256::from(cfg.target_wad + 1_000));
}

#[test]
fn not_breached_means_no_plan() {
    assert_eq!(
        plan(&vault_a(), &prices(2_500, 2_500), &PlanConfig::default(), |_| 0).unwrap(),
        None
    );
}

#[test]
fn infeasible_target_is_refused() {
    let cfg = PlanConfig {
        target_wad: 850_000_000_000_000_000,
        trigger_wad: 2 * WAD,
        ..Default::default()
    };
    let e = plan(&vault_a(), &prices(2_000, 2_000), &cfg, |_| 0).unwrap_err();
    assert!(matches!(e, Error::InfeasibleTarget { threshold_bps: 8_500, .. }), "{e}");
    // A deep DEX discount makes it infeasible too (the depeg hits the swap, not the oracle).
    let e = plan(&vault_a(), &prices(2_000, 1_300), &PlanConfig::default(), |_| 0).unwrap_err();
    assert!(matches!(e, Error::InfeasibleTarget { .. }), "{e}");
}

#[test]
fn an_unsavable_vault_gets_no_plan() {
    // Collateral worth 140,000 after slippage against 150,000 of debt.
    let e = plan(&vault_a(), &prices(1_407, 1_407), &PlanConfig::default(), |_| 0).unwrap_err();
    assert!(matches!(e, Error::Unsavable { .. }), "{e}");
}

#[test]
fn never_repays_more_than_the_debt_and_clamps_below_collateral() {
    // Exactly, HF reaches any finite target before the debt is gone; the guards catch the
    // rounding at dust sizes, where the rounded-up sale would otherwise overshoot.
    for c in 1..60u128 {
        for d in 1..60u128 {
            let p = Position { collateral_wad: c, debt_wad: d, liquidation_threshold_bps: 8_500 };
            if let Ok((x, repay)) = sell_size(&p, &prices(1, 1), 5 * WAD, 50) {
                assert!(repay <= d, "c={c} d={d}: repays {repay}");
                assert!(x < c, "c={c} d={d}: sells {x}");
            }
        }
    }
}

#[test]
fn slippage_iterates_against_the_impact_model() {
    let cfg = PlanConfig::default();
    // Impact grows with size: 5 bps per wstETH sold.
    let impact = |x: u128| (x / WAD) as u32 * 5;
    let p = plan(&vault_a(), &prices(2_000, 2_000), &cfg, impact).unwrap().unwrap();
    assert!(p.iterations > 1 && p.slippage_bps > cfg.slippage_bps, "{p:?}");
    assert!(p.slippage_bps >= impact(p.sell_collateral_wad));
}

proptest! {
    /// Whenever a plan is emitted, the HF after it, with the swap actually executed at the
    /// model's slippage for its size, is at least the target; repayment never exceeds the debt.
    #[test]
    fn hf_after_reaches_target_when_feasible(c in 1u128..10_000, d in 1u128..20_000_000, pc in 100u128..5_000, pd in prop::sample::select(vec![WAD, 999_700_000_000_000_000, 2_000 * WAD, 1_789_123_456_789_000_000_000]), depeg_bps in 0u128..800, lbps in 5_000u32..9_500, k in 0u32..5) {
        // Debt of `d` USD in tokens worth `pd` each, to the wei (not a round number of tokens).
        let debt = (U256::from(d) * U256::from(WAD) * U256::from(WAD) / U256::from(pd)).to::<u128>() + 7;
        let p = Position { collateral_wad: c * WAD, debt_wad: debt, liquidation_threshold_bps: lbps };
        let pr = Prices { collateral_oracle_wad: pc * WAD, debt_oracle_wad: pd, collateral_dex_wad: pc * WAD * (10_000 - depeg_bps) / 10_000 };
        let impact = |x: u128| ((x / WAD) as u32).saturating_mul(k);
        let cfg = PlanConfig::default();
        match plan(&p, &pr, &cfg, impact) {
            Ok(Some(plan)) => {
                prop_assert!(plan.repay_debt_wad <= p.debt_wad);
                prop_assert!(plan.sell_collateral_wad < p.collateral_wad);
                // Execute at the model's slippage for this size.
                let s = cfg.slippage_bps.max(impact(plan.sell_collateral_wad));
                prop_assert!(s <= plan.slippage_bps);
                let proceeds = U256::from(plan.sell_collateral_wad) * U256::from(pr.collateral_dex_wad) * U256::from(10_000 - s) / U256::from(10_000u32) / U256::from(pd);
                prop_assert!(proceeds >= U256::from(plan.repay_debt_wad), "the swap covers the repayment");
                let after = Position { collateral_wad: p.collateral_wad - plan.sell_collateral_wad, debt_wad: p.debt_wad - plan.repay_debt_wad, ..p };
                let hf = health_factor(&after, pr.collateral_oracle_wad, pr.debt_oracle_wad);
                prop_assert!(hf >= U256::from(cfg.target_wad), "hf {hf} after {plan:?}");
            }
            Ok(None) => prop_assert!(health_factor(&p, pr.collateral_oracle_wad, pd) >= U256::from(cfg.trigger_wad)),
            Err(_) => {}
        }
    }

    /// HF is monotone: more collateral or a higher price never lowers it, more debt never raises it.
    #[test]
    fn hf_is_monotone(c in 1u128..1_000_000, d in 1u128..1_000_000, pc in 1u128..100_000, dc in 0u128..1_000, dd in 0u128..1_000) {
        let p = Position { collateral_wad: c * WAD, debt_wad: d * WAD, liquidation_threshold_bps: 8_500 };
        let hf = health_factor(&p, pc * WAD, WAD);
        let more_c = Position { collateral_wad: (c + dc) * WAD, ..p };
        let more_d = Position { debt_wad: (d + dd) * WAD, ..p };
        prop_assert!(health_factor(&more_c, pc * WAD, WAD) >= hf);
        prop_assert!(health_factor(&more_d, pc * WAD, WAD) <= hf);
        prop_assert!(health_factor(&p, (pc + dc) * WAD, WAD) >= hf);
    }
}
