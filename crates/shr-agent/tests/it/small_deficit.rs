//! Detect -> attest false -> open the sealed deficit -> direct swap on the real-depth Uniswap V2
//! pool -> the next round counts the vault -> attest true, on the embedded chain; with the
//! executor's refusals (insufficient treasury, past deadline, slippage bound) paying nothing.

use crate::support;

use alloy::{primitives::U256, sol_types::SolEvent};
use shr_agent::{
    Error, Mechanism, Shortfall, StrategyConfig, V2Pool, agreed_deficit, choose, execute_swap,
};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, LogCursor, LogFilter};
use shr_contracts::{
    bindings::{ReserveAttestation, ReserveVault, TestToken},
    view,
};
use shr_enclave::Sealed;
use shr_oracle::attested_state;
use support::{R, SUPPLY};

// The real WBTC/WETH V2 pair at block 17,600,000 (data/uniswap/univ2_wbtc_weth_block17600000.json).
use shr_agent::world::{POOL_WBTC, POOL_WETH};

#[tokio::test]
async fn a_small_deficit_heals_through_a_direct_swap() -> R {
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_728_000_000,
        ..Default::default()
    });
    let w = support::solvent(chain).await?;
    let (t0, agent, vault) = (w.t0, w.cfg.treasury, w.cfg.vault);
    let path = vec![w.weth, w.wbtc];
    let pool = V2Pool { reserve_in: U256::from(POOL_WETH), reserve_out: U256::from(POOL_WBTC) };
    let strategy = StrategyConfig::default();
    // The series' real dip of 2023-07-05: 0.379 WBTC.
    let deficit = U256::from(37_946_742u64);
    let short = U256::from(SUPPLY) - deficit;

    // Two short readings: confirmed, attested false, deficit sealed.
    let mut cursor = LogCursor::new(LogFilter::event(
        w.dep.receiver,
        ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH,
        0,
    ));
    let sealed: Vec<Sealed> = w.short(deficit, false).await?.into_iter().map(Sealed).collect();
    let events = cursor.poll(&w.chain).await?;
    let last = ReserveAttestation::ReserveStatusUpdated::decode_log(
        &events.last().unwrap().to_primitive(),
    )?;
    assert!(!last.isSolvent);

    // The agent opens the notice, chooses, and swaps into the vault.
    let notice = agreed_deficit(&w.key, &w.cfg.don, w.t0 + 7200, &sealed)?;
    assert_eq!((notice.deficit, notice.supply), (deficit, U256::from(SUPPLY)));
    let shortfall = Shortfall {
        deficit: notice.deficit,
        supply: notice.supply,
        decimals: 8,
        price_usd_e8: 62_000 * 100_000_000,
        draw: u64::MAX / 2,
    };
    let Mechanism::DirectSwap(plan) = choose(&shortfall, &[pool], &strategy)? else {
        panic!("the real dip plus the restore band goes to the direct swap");
    };
    // The buy is the restore target in whole lots, above the deficit plus the band's draw.
    let buffer = strategy.target.buffer(notice.supply, shortfall.draw);
    assert!(
        plan.amount_out >= deficit + buffer && plan.amount_out % strategy.target.lot == U256::ZERO
    );
    let router = w.uni.router;
    // Insufficient treasury is refused before anything is sent.
    let poor = w.chain.accounts()[3];
    let err = execute_swap(&w.chain, poor, router, path.clone(), &plan, vault, t0 + 7500)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientTreasury { .. }), "{err}");
    // A deadline in the past reverts in the router; nothing is paid.
    let call = TestToken::balanceOfCall { account: agent };
    let balance = || view(&w.chain, w.weth, &call);
    let before = balance().await?;
    let err =
        execute_swap(&w.chain, agent, router, path.clone(), &plan, vault, t0).await.unwrap_err();
    assert!(err.to_string().contains("contract call"), "{err}");
    assert_eq!(balance().await?, before);
    // Too tight a bound (amountInMax below the quote) reverts with EXCESSIVE_INPUT_AMOUNT.
    let mut tight = plan;
    tight.amount_in_max = plan.quote_in - U256::from(1);
    assert!(
        execute_swap(&w.chain, agent, router, path.clone(), &tight, vault, t0 + 7500)
            .await
            .is_err()
    );
    assert_eq!(balance().await?, before);
    let out = execute_swap(&w.chain, agent, router, path, &plan, vault, t0 + 7500).await?;
    assert_eq!(out.amount_in, plan.quote_in, "paid exactly Uniswap V2 getAmountIn");
    let in_vault = view(&w.chain, vault, &ReserveVault::reservesCall {}).await?;
    assert_eq!(in_vault, plan.amount_out);

    // The next round: the custodian still reports the short reserves; each node's host reads the
    // vault at a block it names and the enclave counts it.
    w.round(10_800, short).await?;
    assert_eq!(attested_state(&w.chain, w.dep.receiver).await?, (true, t0 + 10_800));
    Ok(())
}
