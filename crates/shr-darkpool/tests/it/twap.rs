//! The fill's TWAP against the on-chain sliding-window oracle: whoever controls the matcher
//! (its key and the tree's openings) names the TWAP every maker's price derives from; the chain
//! refuses one that strays from Uniswap's oracle.

use alloy::primitives::U256;
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_contracts::{
    bindings::{CREDarkPool::CREDarkPoolErrors as E, SlidingWindowOracle},
    deploy,
};
use shr_darkpool::{
    DarkPool, MatchStatus, MatcherEnclave, ORACLE_GRANULARITY, ORACLE_WINDOW_SECS, RequestStatus,
    TwapBound, deploy_twap_oracle, update_twap_oracle,
};
use shr_enclave::{SimulatedTee, TeePlatform};

use crate::contract::{R, TWAP, pool_error, priced_pool};

#[tokio::test]
async fn a_fill_priced_off_the_on_chain_twap_is_refused() -> R {
    let mut p = priced_pool().await?;
    let admin = p.chain.accounts()[0];
    let (wbtc, weth) = (p.pool.collateral, p.pool.payment);
    // Anyone updates the oracle; a window later it averages over the last 30 to 60 minutes.
    update_twap_oracle(&p.chain, admin, p.twap_oracle, (wbtc, weth)).await?;
    let period = ORACLE_WINDOW_SECS / u64::from(ORACLE_GRANULARITY);
    let updated = p.chain.timestamp().await?;
    let opens = (updated / period + 3) * period + period / 2;
    p.chain.advance_time(opens - updated).await?;
    let oracle = p.pool.oracle_twap_wad(&p.chain).await?;
    let distance = oracle.abs_diff(U256::from(TWAP)) * U256::from(10_000u32);
    assert!(distance <= U256::from(TWAP), "the oracle prices the pair's 15.8 WETH/WBTC: {oracle}");

    // The order's band is wide open (0 ..= max): only the TWAP bounds the makers' prices.
    let (id, sealed) = p.request(700_000_000, 3_600).await?;
    let before = p.state(id).await?;
    // Under the oracle by more than 50 bps (the makers' side), over it by more than 200 bps.
    for lie in [TWAP / 1_000, TWAP / 100 * 97, TWAP / 10_000 * 9_940, TWAP / 100 * 103] {
        let now = p.chain.timestamp().await?;
        let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, lie, now)?;
        let s = s.expect("the matcher proves a fill at any TWAP it is given");
        let e = pool_error(p.pool.fill(&p.chain, admin, &s).await.unwrap_err());
        assert!(matches!(e, E::TwapOutOfBand(ref x) if x.twapWad == lie), "{e:?}");
        assert_eq!(p.state(id).await?, before, "a refused fill changes nothing");
        p.matcher.abort();
    }
    // Within 50 bps under the oracle, the fill settles (the next request: 150 bps over).
    let now = p.chain.timestamp().await?;
    let rref = p.rref(id).await?;
    let (outcome, s) = p.matcher.settle(&rref, &sealed, TWAP / 10_000 * 9_960, now)?;
    assert_eq!(outcome.status, MatchStatus::Filled);
    p.pool.fill(&p.chain, admin, &s.expect("a settlement")).await?;
    p.matcher.confirm()?;
    assert_eq!(p.pool.status(&p.chain, id).await?, RequestStatus::Filled);
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let now = p.chain.timestamp().await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP / 10_000 * 10_150, now)?;
    p.pool.fill(&p.chain, admin, &s.expect("a settlement")).await?;
    p.matcher.confirm()?;
    assert_eq!(p.pool.status(&p.chain, id).await?, RequestStatus::Filled);
    Ok(())
}

#[tokio::test]
async fn a_pool_off_the_dev_chain_needs_a_twap_oracle() -> R {
    let chain = EmbeddedChain::with_config(EmbeddedConfig { chain_id: 1, ..Default::default() });
    let admin = chain.accounts()[0];
    let tee = SimulatedTee::new();
    let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let weth = deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
    let matcher = MatcherEnclave::launch(&tee, wbtc, weth, 1)?;
    let deploy =
        |twap| DarkPool::deploy(&chain, admin, wbtc, weth, tee.root(), matcher.identity(), twap);
    let e = pool_error(deploy(TwapBound::DEV_UNCHECKED).await.unwrap_err());
    assert!(matches!(e, E::NoTwapOracle(ref x) if x.chainId == U256::from(1)), "{e:?}");
    // The oracle must average an hour or more of a pair of the pool's tokens that exists.
    let uni = deploy::UniswapV2::deploy(&chain, admin).await?;
    let oracle = deploy_twap_oracle(&chain, admin, uni.factory).await?;
    let e = pool_error(deploy(TwapBound::oracle(oracle)).await.unwrap_err());
    assert!(matches!(e, E::NoPair(ref x) if x.factory == uni.factory), "{e:?}");
    let (sats, wei) = (U256::from(10u128.pow(9)), U256::from(158u128 * 10u128.pow(17)));
    uni.seed_pair(&chain, admin, (wbtc, sats), (weth, wei), u64::MAX / 2).await?;
    let args = SlidingWindowOracle::constructorCall {
        factory_: uni.factory,
        windowSize_: U256::from(1_800),
        granularity_: 2,
    };
    let short = deploy::deploy_with(&chain, admin, &SlidingWindowOracle::BYTECODE, &args).await?;
    let e = pool_error(deploy(TwapBound::oracle(short)).await.unwrap_err());
    assert!(matches!(e, E::BadTwapWindow(_)), "{e:?}");
    for (below, above) in [(0, 200), (101, 200), (50, 0), (50, 1_001)] {
        let bound = TwapBound { oracle, max_below_bps: below, max_above_bps: above };
        let e = pool_error(deploy(bound).await.unwrap_err());
        assert!(matches!(e, E::BadTwapDeviation(_)), "{below}/{above}: {e:?}");
    }
    // With a sound oracle, the dev-setup verifiers are what it refuses next.
    let e = pool_error(deploy(TwapBound::oracle(oracle)).await.unwrap_err());
    assert!(matches!(e, E::DevSetup(_)), "{e:?}");
    Ok(())
}
