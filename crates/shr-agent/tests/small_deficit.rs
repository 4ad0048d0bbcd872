//! Detect -> attest false -> open the sealed deficit -> direct swap on the real-depth Uniswap V2
//! pool -> the next round counts the vault -> attest true, on the embedded chain.

use alloy::{primitives::U256, sol_types::SolEvent};
use shr_agent::{
    Error, Mechanism, StrategyConfig, V2Pool, choose, execute_swap, largest_direct_swap,
    open_deficit,
};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, LogCursor, LogFilter};
use shr_contracts::{
    bindings::{ReserveAttestation, ReserveVault, TestToken},
    deploy::{self, UniswapV2},
    send, view,
};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{Don, DonConfig, NodeInput, ReserveReading, attested_state};

type R<T = ()> = eyre::Result<T>;

// The real WBTC/WETH V2 pair at block 17,600,000 (data/uniswap/univ2_wbtc_weth_block17600000.json).
const POOL_WBTC: u64 = 16_231_137_593;
const POOL_WETH: u128 = 2_571_336_301_536_722_443_178;

#[tokio::test]
async fn a_small_deficit_heals_through_a_direct_swap() -> R {
    let t0 = 1_728_000_000u64;
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: t0 - 10,
        ..Default::default()
    });
    let [admin, transmitter, agent] =
        [chain.accounts()[0], chain.accounts()[1], chain.accounts()[2]];
    let tee = SimulatedTee::new();
    let agent_key = Enclave::launch(&tee, "shr-agent@test")?;

    let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let weth = deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
    let uni = UniswapV2::deploy(&chain, admin).await?;
    uni.seed_pair(
        &chain,
        admin,
        (wbtc, U256::from(POOL_WBTC)),
        (weth, U256::from(POOL_WETH)),
        t0 + 3600,
    )
    .await?;
    let vault = deploy::reserve_vault(&chain, admin, wbtc, admin).await?;
    send(
        &chain,
        admin,
        weth,
        &TestToken::mintCall { to: agent, amount: U256::from(10u128.pow(19)) },
    )
    .await?; // 10 WETH treasury

    let mut cfg = DonConfig::new("wbtc-por", admin, 8);
    cfg.agent_key = Some(agent_key.identity().hpke);
    let mut don = Don::new(&tee, cfg)?;
    let dep = don.deploy(&chain, admin).await?;

    let pool = V2Pool { reserve_in: U256::from(POOL_WETH), reserve_out: U256::from(POOL_WBTC) };
    let strategy = StrategyConfig::default();
    let deficit = largest_direct_swap(&pool, &strategy);
    let supply = U256::from(15_028_131_426_528_u64);
    let short = supply - deficit;
    let reading = |t: u64, reserves: U256| ReserveReading {
        observed_at: t,
        reserves,
        supply,
        ripcord: false,
    };
    let vault_input =
        |r: ReserveReading, v: U256| NodeInput::WithVault(Box::new(NodeInput::Reading(r)), v);

    // Solvent, then two short readings: confirmed, attested false, deficit sealed.
    let mut cursor = LogCursor::new(LogFilter::event(
        dep.receiver,
        ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH,
        0,
    ));
    let mut sealed = None;
    for (i, reserves) in [supply, short, short].into_iter().enumerate() {
        let r = reading(t0 + i as u64 * 3600, reserves);
        let rep = don
            .round(&chain, &dep, transmitter, r.observed_at, |_| vault_input(r, U256::ZERO))
            .await?;
        sealed = sealed.or(rep.sealed_deficit);
    }
    assert_eq!(attested_state(&chain, dep.receiver).await?, (false, t0 + 7200));
    let events = cursor.poll(&chain).await?;
    let last = ReserveAttestation::ReserveStatusUpdated::decode_log(
        &events.last().unwrap().to_primitive(),
    )?;
    assert!(!last.isSolvent);

    // The agent opens the notice, chooses, and swaps into the vault.
    let notice = open_deficit(&agent_key, sealed.as_ref().unwrap())?;
    assert_eq!(notice.deficit, deficit);
    let Mechanism::DirectSwap(plan) =
        choose(notice.deficit, 8, 62_000 * 100_000_000, &pool, &strategy)?
    else {
        panic!("a deficit at the impact limit goes to the direct swap");
    };
    // Insufficient treasury is refused before anything is sent.
    let poor = chain.accounts()[3];
    let err = execute_swap(&chain, poor, uni.router, vec![weth, wbtc], &plan, vault, t0 + 7500)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientTreasury { .. }), "{err}");
    // A deadline in the past reverts in the router; nothing is paid.
    let before = view(&chain, weth, &TestToken::balanceOfCall { account: agent }).await?;
    let err = execute_swap(&chain, agent, uni.router, vec![weth, wbtc], &plan, vault, t0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("contract call"), "{err}");
    assert_eq!(view(&chain, weth, &TestToken::balanceOfCall { account: agent }).await?, before);
    // Too tight a bound (amountInMax below the quote) reverts with EXCESSIVE_INPUT_AMOUNT.
    let mut tight = plan;
    tight.amount_in_max = plan.quote_in - U256::from(1);
    assert!(
        execute_swap(&chain, agent, uni.router, vec![weth, wbtc], &tight, vault, t0 + 7500)
            .await
            .is_err()
    );
    let out =
        execute_swap(&chain, agent, uni.router, vec![weth, wbtc], &plan, vault, t0 + 7500).await?;
    assert_eq!(out.amount_in, plan.quote_in, "paid exactly Uniswap V2 getAmountIn");
    let in_vault = view(&chain, vault, &ReserveVault::reservesCall {}).await?;
    assert_eq!(in_vault, deficit);

    // The next round: the custodian still reports the short reserves, the vault closes the gap.
    let r = reading(t0 + 10_800, short);
    let rep =
        don.round(&chain, &dep, transmitter, r.observed_at, |_| vault_input(r, in_vault)).await?;
    assert!(rep.transmission.as_ref().is_some_and(|t| t.accepted && t.body.is_solvent));
    assert_eq!(attested_state(&chain, dep.receiver).await?, (true, t0 + 10_800));
    Ok(())
}
