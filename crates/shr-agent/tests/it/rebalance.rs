//! A lending-vault rebalance on chain: vault A (wstETH against bUSDC shares) breaches after a
//! price drop; `shr-risk` plans against the route's impact model (wstETH -> WETH -> USDC on the
//! real Uniswap V2 contracts); `RebalanceAdapter` executes it atomically as the owner; the
//! market's HF read back matches the projection. A plan whose `amountInMaximum` is too small
//! reverts and changes nothing; an adapter the owner never authorised cannot act.

use alloy::primitives::U256;
use shr_agent::{execute_plan, lending::LendingWorld};
use shr_chain::{Chain, EmbeddedChain};
use shr_risk::PlanConfig;

type R<T = ()> = eyre::Result<T>;

#[tokio::test]
async fn a_breached_vault_is_rebalanced_atomically_as_its_owner() -> R {
    let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
    assert!(l.health_factor(0).await? > U256::from(1_390_000_000_000_000_000u128));
    // The oracle drops 20 %: HF 1.12 < 1.15.
    let now = l.chain.timestamp().await?;
    l.set_wsteth_price(218_400_000_000).await?;
    let before = l.health_factor(0).await?;
    assert!(before < U256::from(1_150_000_000_000_000_000u128), "{before}");

    // Plan with the oracle price for HF and the route's marginal price and impact for the swap.
    let cfg = PlanConfig::default();
    let p = l.plan(0, &cfg).await?.expect("breached");
    assert_eq!(p.hf_before_wad, before, "the engine's HF is the market's");

    // An unauthorised adapter cannot touch the position.
    let target = l.target(0)?;
    assert!(execute_plan(&l.chain, &target, &p, now + 600).await.is_err());
    l.authorize_adapter().await?;
    // Too small an amountInMaximum reverts inside the router: nothing changes.
    let mut stingy = p;
    stingy.sell_collateral_wad = p.sell_collateral_wad * 9 / 10;
    assert!(execute_plan(&l.chain, &target, &stingy, now + 600).await.is_err());
    assert_eq!(l.health_factor(0).await?, before);

    let done = execute_plan(&l.chain, &target, &p, now + 600).await?;
    let after = done.hf_onchain_after;
    assert!(after >= U256::from(cfg.target_wad), "on-chain HF {after} under the target");
    // Within the post-check band of the projection (unsold collateral goes back to the owner).
    let band = p.hf_projected_wad * U256::from(cfg.band_bps) / U256::from(10_000u32);
    assert!(after <= p.hf_projected_wad + band, "on-chain {after} vs {}", p.hf_projected_wad);
    Ok(())
}

/// The proptest of `shr-risk` checks HF after >= target in the model; here a sample of oracle
/// drops checks it on chain, through the real router and the ERC-4626 vault.
#[tokio::test]
async fn on_chain_hf_reaches_the_target_for_a_sample_of_drops() -> R {
    let cfg = PlanConfig::default();
    let mut executed = 0;
    for drop_bps in [1_300i64, 1_800, 2_200, 2_600] {
        let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
        let price = 273_000_000_000i64 * (10_000 - drop_bps) / 10_000;
        l.set_wsteth_price(price).await?;
        let Some(p) = l.plan(0, &cfg).await? else { continue };
        l.authorize_adapter().await?;
        let now = l.chain.timestamp().await?;
        let done = execute_plan(&l.chain, &l.target(0)?, &p, now + 600).await?;
        assert!(done.hf_onchain_after >= U256::from(cfg.target_wad), "drop {drop_bps}");
        executed += 1;
    }
    assert_eq!(executed, 3, "13 % does not breach; 18, 22 and 26 % do");
    Ok(())
}

/// Vault B (weETH against bETH, an ERC-4626 share of WETH, one hop weETH -> WETH): a weETH
/// oracle drop breaches it; the same adapter rebalances it on its own market, vault A untouched.
#[tokio::test]
async fn vault_b_weeth_against_beth_is_rebalanced() -> R {
    let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
    let cfg = PlanConfig::default();
    let a_before = l.health_factor(0).await?;
    // weETH $2,704 -> $2,200 (-18.6 %): HF 1.40 -> ~1.14.
    l.set_price(l.vaults[1].collateral_feed, 220_000_000_000).await?;
    let before = l.health_factor(1).await?;
    assert!(before < U256::from(cfg.trigger_wad), "{before}");
    assert!(l.plan(0, &cfg).await?.is_none(), "vault A is not breached");
    let p = l.plan(1, &cfg).await?.expect("vault B breached");
    assert_eq!(p.hf_before_wad, before);
    l.authorize_adapter().await?;
    let now = l.chain.timestamp().await?;
    let done = execute_plan(&l.chain, &l.target(1)?, &p, now + 600).await?;
    assert!(done.hf_onchain_after >= U256::from(cfg.target_wad), "{}", done.hf_onchain_after);
    assert_eq!(l.health_factor(0).await?, a_before);
    assert!(l.health_factor(7).await.is_err(), "unknown vault id is refused");
    Ok(())
}
