//! The persisted agent on the dark-pool route: a deficit beyond the AMM is requested from the
//! dark pool, filled by the matcher service, counted by the next round, restored; a crash right
//! after `requestCollateral` never requests twice; short liquidity expires, is retried once
//! with a wider band, then escalated; a reference pool moved away from its TWAP (a flash loan)
//! prices no order.

use crate::support;

use alloy::primitives::U256;
use shr_agent::{Agent, DarkPoolConfig, DarkPoolPolicy, Error};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_contracts::{bindings::TestToken, send, view};
use shr_darkpool::{
    DEFAULT_TWAP_WINDOW_SECS, DarkPool, MakerBody, MakerCommitment, MatcherEnclave, TwapBound,
    TwapPolicy, onboard_maker, serve_once, sliding_twap,
};
use shr_enclave::Enclave;
use shr_oracle::attested_state;
use support::{R, SUPPLY, TestWorld};

const DEFICIT: u128 = 1_000_000_000; // 10 WBTC: ~6 % impact on the real V2 pair -> dark pool
const TWAP: u128 = 158_000_000_000_000_000_000_000_000_000; // wei per sat, wad

struct Setup {
    w: TestWorld<EmbeddedChain>,
    matcher: MatcherEnclave,
    pool: DarkPool,
}

/// The insolvent world plus a dark pool whose three makers commit `depth` sats in total.
async fn setup(depth: u128) -> R<Setup> {
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_728_000_000,
        ..Default::default()
    });
    let mut w = support::insolvent(chain, U256::from(DEFICIT)).await?;
    let a = w.chain.accounts().to_vec();
    let admin = a[0];
    let (wbtc, weth) = (w.wbtc, w.weth);
    let mut matcher = MatcherEnclave::launch(&w.tee, wbtc, weth, w.chain.chain_id().await?)?;
    let pool =
        DarkPool::deploy_for(&w.chain, admin, &w.tee, &mut matcher, TwapBound::DEV_UNCHECKED)
            .await?;
    for (i, share) in [(3usize, 45u128), (4, 35), (5, 20)] {
        let (maker, size) = (a[i], depth * share / 100);
        let inventory = size * 2 + 1_234_567;
        send(
            &w.chain,
            admin,
            wbtc,
            &TestToken::mintCall { to: maker, amount: U256::from(inventory) },
        )
        .await?;
        let key = Enclave::launch_instance(&w.tee, "maker-wallet", i as u32)?;
        let commitment = MakerCommitment {
            maker,
            size,
            min_fill: 0,
            spread_bps: 5 * i as u32,
            expiry: u64::MAX,
        };
        let signer = &shr_chain::dev_signers(6)[i];
        let body = MakerBody::from_wallet(commitment, &key, signer, (31337, pool.address))?;
        onboard_maker(&w.chain, &pool, &mut matcher, (admin, wbtc, inventory), &body).await?;
    }
    let treasury = w.cfg.treasury;
    let prefund = U256::from(1_000u128 * 10u128.pow(18));
    send(&w.chain, admin, weth, &TestToken::mintCall { to: treasury, amount: prefund }).await?;
    pool.deposit(&w.chain, treasury, weth, prefund, &w.key.identity().hpke).await?;
    // Deposits count once final (the matcher's finality depth).
    w.chain.mine().await?;
    w.chain.mine().await?;
    let pair = view(
        &w.chain,
        w.uni.factory,
        &shr_contracts::bindings::UniswapV2Factory::getPairCall { _0: wbtc, _1: weth },
    )
    .await?;
    w.cfg.dark_pool = Some(DarkPoolConfig {
        pool,
        matcher: matcher.identity().hpke,
        reference_pair: pair,
        twap: TwapPolicy::default(),
        policy: DarkPoolPolicy::default(),
        oracle_nodes: w.oracle_nodes().await,
    });
    // The DON's hosts read the pool's commitment and check the matcher key it registered.
    w.use_dark_pool(&pool, matcher.identity().signer);
    // The agent has watched the reference pair for a TWAP window before the deficit.
    sliding_twap(&w.chain, &w.store().await?, &w.key, (pair, wbtc), &TwapPolicy::default()).await?;
    w.chain.advance_time(DEFAULT_TWAP_WINDOW_SECS).await?;
    Ok(Setup { w, matcher, pool })
}

async fn serve(
    m: &mut MatcherEnclave,
    w: &TestWorld<EmbeddedChain>,
    pool: &DarkPool,
) -> R<Vec<(u64, shr_darkpool::RequestStatus)>> {
    let relayer = w.chain.accounts()[1];
    let served = serve_once(m, &w.chain, pool, relayer, &w.store().await?, TWAP).await?;
    assert!(served.failures.is_empty(), "{:?}", served.failures);
    Ok(served.statuses)
}

#[tokio::test]
async fn a_large_deficit_is_requested_filled_counted_and_restored() -> R {
    let Setup { w, mut matcher, pool } = setup(2 * DEFICIT).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "dark_pool_requested".into())]);
    let served = serve(&mut matcher, &w, &pool).await?;
    assert_eq!(served, vec![(1, shr_darkpool::RequestStatus::Filled)]);
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "dark_pool_filled".into())]);
    // The order was the restore target: the deficit plus the band's draw, in whole lots.
    let credited = matcher.balance(w.cfg.treasury, w.wbtc);
    assert!(credited > DEFICIT && credited % 1_000_000 == 0, "{credited}");
    // The next round counts the treasury's balance in the pool from chain state: each node's
    // host reads the pool's commitment at a block, each enclave checks the exit ticket the
    // agent forwarded against it.
    let store = w.store().await?;
    let tickets: Vec<_> = {
        let mut v = Vec::new();
        for (signer, _) in w.oracle_nodes().await {
            v.push(store.sealed("credit", &signer.to_string()).await?);
        }
        v
    };
    assert!(tickets.iter().all(Option::is_some), "the agent forwarded a ticket to every node");
    assert!(tickets.iter().flatten().all(|t| t.len() == tickets[0].as_ref().unwrap().len()));
    w.round(10_800, U256::from(SUPPLY - DEFICIT as u64)).await?;
    assert!(attested_state(&w.chain, w.dep.receiver).await?.0);
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "restored".into())]);
    // A ticket that does not open (a lying agent's, or garbage) neither counts nor stops the
    // round: the nodes still report, counting the reserve without it.
    for (signer, _) in w.oracle_nodes().await {
        store.put_sealed("credit", &signer.to_string(), &[7u8; 1_072]).await?;
    }
    // (Two short readings: the confirmation policy flips the boolean on the second.)
    w.round(14_400, U256::from(SUPPLY - DEFICIT as u64)).await?;
    w.round(18_000, U256::from(SUPPLY - DEFICIT as u64)).await?;
    assert_eq!(attested_state(&w.chain, w.dep.receiver).await?, (false, w.t0 + 18_000));
    Ok(())
}

#[tokio::test]
async fn a_crash_after_the_request_never_requests_twice() -> R {
    let Setup { w, pool, .. } = setup(2 * DEFICIT).await?;
    let mut crashing = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    crashing.crash_after = Some("dark_pool_request_sent");
    assert!(matches!(crashing.run_once().await, Err(Error::InjectedCrash(_))));
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "dark_pool_requested".into())]);
    let count =
        view(&w.chain, pool.address, &shr_contracts::bindings::CREDarkPool::requestCountCall {})
            .await?;
    assert_eq!(count, U256::from(1), "one request for one attempt");
    Ok(())
}

#[tokio::test]
async fn short_liquidity_expires_retries_once_wider_then_escalates() -> R {
    let Setup { w, mut matcher, pool } = setup(DEFICIT / 2).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    let timeout = DarkPoolPolicy::default().timeout_secs;
    assert_eq!(agent.run_once().await?[0].1, "dark_pool_requested");
    assert_eq!(
        serve(&mut matcher, &w, &pool).await?,
        vec![(1, shr_darkpool::RequestStatus::Pending)]
    );
    w.chain.advance_time(timeout + 1).await?;
    // Expired: the agent expires it and sends the widened retry.
    assert_eq!(agent.run_once().await?[0].1, "dark_pool_requested");
    assert_eq!(pool.status(&w.chain, 1).await?, shr_darkpool::RequestStatus::Expired);
    let (_, _, status, _) = pool.request_info(&w.chain, 2).await?;
    assert_eq!(status, shr_darkpool::RequestStatus::Pending);
    assert_eq!(
        serve(&mut matcher, &w, &pool).await?,
        vec![(2, shr_darkpool::RequestStatus::Pending)]
    );
    w.chain.advance_time(timeout + 1).await?;
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "escalated".into())]);
    assert!(!attested_state(&w.chain, w.dep.receiver).await?.0, "still insolvent");
    assert_eq!(matcher.balance(w.cfg.treasury, w.wbtc), 0, "nothing filled");
    Ok(())
}

/// Finding 8: the agent centred its order band on the reference pair's spot price, which a
/// flash loan moves for one block. It now prices from the TWAP over a bounded window and
/// refuses to price while the spot strays from it by more than 2 %.
#[tokio::test]
async fn a_reference_pool_moved_off_its_twap_prices_no_order() -> R {
    let Setup { w, pool, .. } = setup(2 * DEFICIT).await?;
    let pair = w.cfg.dark_pool.as_ref().expect("configured").reference_pair;
    // The attacker pushes 20 % more WETH into the pair and syncs its reserves.
    let held = view(&w.chain, w.weth, &TestToken::balanceOfCall { account: pair }).await?;
    let admin = w.chain.accounts()[0];
    let pump = held / U256::from(5u64);
    send(&w.chain, admin, w.weth, &TestToken::mintCall { to: pair, amount: pump }).await?;
    send(&w.chain, admin, pair, &shr_contracts::bindings::UniswapV2Pair::syncCall {}).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "needs_dark_pool".into())]);
    let count =
        view(&w.chain, pool.address, &shr_contracts::bindings::CREDarkPool::requestCountCall {})
            .await?;
    assert_eq!(count, U256::ZERO, "no order priced off the moved pool");
    Ok(())
}

/// Whoever can write the agent's store cannot plant an old observation to steer its TWAP: the
/// window is sealed by the agent's key store, and one that does not open is started over.
#[tokio::test]
async fn a_planted_twap_window_is_not_used() -> R {
    let Setup { w, pool, .. } = setup(2 * DEFICIT).await?;
    let pair = w.cfg.dark_pool.as_ref().expect("configured").reference_pair;
    // A window an attacker computed so that the TWAP is the price of its choosing (here the spot
    // itself, inside the 2 % bound): an observation 2,000 s "old".
    let o = shr_darkpool::observe(&w.chain, pair, w.wbtc).await?;
    let r =
        view(&w.chain, pair, &shr_contracts::bindings::UniswapV2Pair::getReservesCall {}).await?;
    let t0 = view(&w.chain, pair, &shr_contracts::bindings::UniswapV2Pair::token0Call {}).await?;
    let (base, quote) =
        if t0 == w.wbtc { (r._reserve0, r._reserve1) } else { (r._reserve1, r._reserve0) };
    let price = (U256::from(quote) << 112usize) / U256::from(base);
    let planted = shr_darkpool::Observation {
        cumulative: o.cumulative.wrapping_sub(price * U256::from(2_000u64)),
        timestamp: o.timestamp - 2_000,
    };
    let planted = serde_json::json!({ "observations": [planted] });
    let store = w.store().await?;
    store.put_sealed("twap", &pair.to_string(), planted.to_string().as_bytes()).await?;
    let agent = Agent::new(&w.chain, store, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "needs_dark_pool".into())]);
    let count =
        view(&w.chain, pool.address, &shr_contracts::bindings::CREDarkPool::requestCountCall {})
            .await?;
    assert_eq!(count, U256::ZERO, "no order priced off a planted window");
    Ok(())
}

/// The operator's commands on an escalated incident: the escalation reaches the alert sink
/// (no amount in it); `retry` requests again at the operator's premium; `cancel` cancels that
/// request on the pool; `resume` records a manual top-up, which the next solvent report closes;
/// an action that does not apply names the incident's status and changes nothing.
#[tokio::test]
async fn the_operator_retries_cancels_and_resumes_an_escalated_incident() -> R {
    let Setup { w, mut matcher, pool } = setup(DEFICIT / 2).await?;
    let alerts = std::sync::Arc::new(shr_agent::MemoryAlerts::default());
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone())
        .with_alerts(alerts.clone() as std::sync::Arc<dyn shr_agent::AlertSink>);
    let timeout = DarkPoolPolicy::default().timeout_secs;
    let id = w.incident();
    for _ in 0..2 {
        assert_eq!(agent.run_once().await?[0].1, "dark_pool_requested");
        serve(&mut matcher, &w, &pool).await?;
        w.chain.advance_time(timeout + 1).await?;
    }
    assert_eq!(agent.run_once().await?, vec![(id.clone(), "escalated".into())]);
    let sent = alerts.alerts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].kind, shr_agent::AlertKind::Escalation);
    assert_eq!(sent[0].incident.as_deref(), Some(id.as_str()));
    assert!(!serde_json::to_string(&sent[0])?.contains(&DEFICIT.to_string()));
    // Nothing in flight: a cancel does not apply, and says why.
    let e = agent.cancel(&id).await.unwrap_err().to_string();
    assert!(e.contains("escalated"), "{e}");
    let e = agent.retry("nope", shr_agent::RetryPolicy::default()).await.unwrap_err();
    assert!(matches!(e, Error::UnknownIncident(_)), "{e}");

    // Retry at a premium of 80 bps and a 10-minute timeout: one new request, at that premium.
    let change = shr_agent::RetryPolicy {
        premium_bps: Some(80),
        band_bps: Some(200),
        timeout_secs: Some(600),
    };
    agent.retry(&id, change).await?;
    assert_eq!(agent.incidents().await?[0].status, "needs_dark_pool");
    let detail = agent.incident_detail(&id).await?;
    assert_eq!(detail["policy_override"]["premium_bps"], 80, "{detail}");
    assert_eq!(detail["state"]["deficit"], DEFICIT.to_string(), "{detail}");
    assert_eq!(detail["state"]["status"], "needs_dark_pool", "{detail}");
    assert_eq!(agent.run_once().await?, vec![(id.clone(), "dark_pool_requested".into())]);
    assert_eq!(pool.request_ref(&w.chain, 3).await?.premium_bps, 80);
    let (_, deadline, ..) = pool.request_info(&w.chain, 3).await?;
    assert!(deadline <= w.chain.timestamp().await? + 600, "the operator's timeout");

    // Cancel it: the pool says CANCELLED, the incident stops.
    agent.cancel(&id).await?;
    assert_eq!(pool.status(&w.chain, 3).await?, shr_darkpool::RequestStatus::Cancelled);
    assert_eq!(agent.incidents().await?[0].status, "cancelled");
    assert_eq!(agent.run_once().await?, vec![], "a cancelled incident is not driven");

    // The operator topped the vault up by hand: resume, and the solvent report closes it.
    agent.resume(&id).await?;
    assert_eq!(agent.incidents().await?[0].status, "manual_top_up");
    w.round(10_800, U256::from(SUPPLY)).await?;
    assert!(attested_state(&w.chain, w.dep.receiver).await?.0);
    assert_eq!(agent.run_once().await?, vec![(id.clone(), "restored".into())]);
    let e = agent.resume(&id).await.unwrap_err().to_string();
    assert!(e.contains("restored"), "{e}");
    Ok(())
}
