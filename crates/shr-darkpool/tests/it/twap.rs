//! The fill's TWAP against the on-chain sliding-window oracle: whoever controls the matcher
//! (its key and the tree's openings) names the TWAP every maker's price derives from; the chain
//! refuses one that strays from Uniswap's oracle.

use alloy::primitives::{Address, U256};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_contracts::{bindings::CREDarkPool::CREDarkPoolErrors as E, deploy};
use shr_darkpool::{
    DarkPool, MatchStatus, MatcherEnclave, ORACLE_GRANULARITY, ORACLE_WINDOW_SECS, RequestStatus,
    TwapBound, update_twap_oracle,
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
    for lie in [TWAP / 1_000, TWAP / 100 * 97, TWAP / 100 * 103] {
        let now = p.chain.timestamp().await?;
        let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, lie, now)?;
        let s = s.expect("the matcher proves a fill at any TWAP it is given");
        let e = pool_error(p.pool.fill(&p.chain, admin, &s).await.unwrap_err());
        assert!(matches!(e, E::TwapOutOfBand(ref x) if x.twapWad == lie), "{e:?}");
        assert_eq!(p.state(id).await?, before, "a refused fill changes nothing");
        p.matcher.abort();
    }
    // Within the pool's 200 bps of the oracle, the fill settles.
    let now = p.chain.timestamp().await?;
    let (outcome, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP / 1_000 * 1_010, now)?;
    assert_eq!(outcome.status, MatchStatus::Filled);
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
    // With an oracle, the dev-setup verifiers are what it refuses next.
    let e = pool_error(deploy(TwapBound::oracle(Address::repeat_byte(7))).await.unwrap_err());
    assert!(matches!(e, E::DevSetup(_)), "{e:?}");
    let wide = TwapBound { oracle: Address::repeat_byte(7), max_deviation_bps: 1_001 };
    let e = pool_error(deploy(wide).await.unwrap_err());
    assert!(matches!(e, E::BadTwapDeviation(_)), "{e:?}");
    Ok(())
}
