//! Kill the agent at every step of its state machine and restart it: it never swaps twice and
//! never loses the incident. Also: duplicate deliveries, dry run, a sealed deficit that does not
//! open.

use alloy::primitives::{Address, U256};
use shr_agent::{Agent, AgentConfig, Error, StrategyConfig};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_contracts::{
    bindings::{ReserveVault, TestToken},
    deploy::{self, UniswapV2},
    send, view,
};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{Deployment, Don, DonConfig, NodeInput, ReserveReading, attested_state};
use shr_store::Store;

type R<T = ()> = eyre::Result<T>;
const POOL_WBTC: u64 = 16_231_137_593;
const POOL_WETH: u128 = 2_571_336_301_536_722_443_178;
const T0: u64 = 1_728_000_000;
const SUPPLY: u64 = 15_028_131_426_528;

struct World {
    chain: EmbeddedChain,
    don: Don,
    dep: Deployment,
    key: Enclave,
    cfg: AgentConfig,
    weth: Address,
    _dir: tempfile::TempDir,
    url: String,
}

async fn world(deficit: U256) -> R<World> {
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: T0 - 10,
        ..Default::default()
    });
    let [admin, transmitter, treasury] =
        [chain.accounts()[0], chain.accounts()[1], chain.accounts()[2]];
    let tee = SimulatedTee::from_seed(alloy::primitives::B256::repeat_byte(3));
    let key = Enclave::launch_instance(&tee, "shr-agent/key-store@test", 0)?;
    let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let weth = deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
    let uni = UniswapV2::deploy(&chain, admin).await?;
    let pair = uni
        .seed_pair(
            &chain,
            admin,
            (wbtc, U256::from(POOL_WBTC)),
            (weth, U256::from(POOL_WETH)),
            T0 + 86_400,
        )
        .await?;
    let vault = deploy::reserve_vault(&chain, admin, wbtc, admin).await?;
    send(
        &chain,
        admin,
        weth,
        &TestToken::mintCall { to: treasury, amount: U256::from(10u128.pow(20)) },
    )
    .await?;
    let mut dcfg = DonConfig::new("wbtc-por", admin, 8);
    dcfg.agent_key = Some(key.identity().hpke);
    let mut don = Don::new(&tee, dcfg)?;
    let dep = don.deploy(&chain, admin).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite:{}", dir.path().join("agent.db").display());
    let store = Store::open(&url).await?;
    let supply = U256::from(SUPPLY);
    for (i, reserves) in [supply, supply - deficit, supply - deficit].into_iter().enumerate() {
        let r =
            ReserveReading { observed_at: T0 + i as u64 * 3600, reserves, supply, ripcord: false };
        let rep =
            don.round(&chain, &dep, transmitter, r.observed_at, |_| NodeInput::Reading(r)).await?;
        if let Some(s) = rep.sealed_deficit {
            store.put_sealed_deficit(r.observed_at, s.as_bytes()).await?; // the DON's off-chain hand-off
        }
    }
    assert_eq!(attested_state(&chain, dep.receiver).await?, (false, T0 + 7200));
    let cfg = AgentConfig {
        receiver: dep.receiver,
        router: uni.router,
        pair,
        path: vec![weth, wbtc],
        vault,
        treasury,
        decimals: 8,
        price_usd_e8: 62_000 * 100_000_000,
        strategy: StrategyConfig::default(),
        execute: true,
    };
    Ok(World { chain, don, dep, key, cfg, weth, _dir: dir, url })
}

async fn balances(w: &World) -> R<(U256, U256)> {
    let vault = view(&w.chain, w.cfg.vault, &ReserveVault::reservesCall {}).await?;
    let treasury =
        view(&w.chain, w.weth, &TestToken::balanceOfCall { account: w.cfg.treasury }).await?;
    Ok((vault, treasury))
}

const DEFICIT: u64 = 20_000_000; // 0.2 WBTC: within 50 bps on the real pool

#[tokio::test]
async fn killed_at_any_step_the_agent_resumes_and_pays_once() -> R {
    for stage in ["detected", "decided", "swap_sent", "swap_confirmed"] {
        let w = world(U256::from(DEFICIT)).await?;
        let (_, treasury_before) = balances(&w).await?;
        let mut crashing = Agent::new(&w.chain, Store::open(&w.url).await?, &w.key, w.cfg.clone());
        crashing.crash_after = Some(stage);
        let err = crashing.run_once().await.unwrap_err();
        assert!(matches!(err, Error::InjectedCrash(s) if s == stage), "{err}");
        drop(crashing);
        // Restart: a new process with the same database.
        let agent = Agent::new(&w.chain, Store::open(&w.url).await?, &w.key, w.cfg.clone());
        let touched = agent.run_once().await?;
        assert_eq!(touched.len(), 1, "{stage}: the incident was not lost");
        assert_eq!(touched[0].1, "swap_confirmed", "{stage}");
        let (vault, treasury) = balances(&w).await?;
        assert_eq!(vault, U256::from(DEFICIT), "{stage}: exactly one swap");
        let paid = treasury_before - treasury;
        assert!(
            paid > U256::ZERO && paid < U256::from(4u128 * 10u128.pow(18)),
            "{stage}: paid once ({paid})"
        );
        // A duplicate delivery (cursor rewound) changes nothing.
        let store = Store::open(&w.url).await?;
        store.set_cursor("agent/reserve-status", 0).await?;
        Agent::new(&w.chain, store, &w.key, w.cfg.clone()).run_once().await?;
        assert_eq!(
            balances(&w).await?,
            (vault, treasury),
            "{stage}: duplicate delivery paid again"
        );
    }
    Ok(())
}

#[tokio::test]
async fn restored_after_the_next_attestation() -> R {
    let mut w = world(U256::from(DEFICIT)).await?;
    let agent = Agent::new(&w.chain, Store::open(&w.url).await?, &w.key, w.cfg.clone());
    agent.run_once().await?;
    let (vault, _) = balances(&w).await?;
    let supply = U256::from(SUPPLY);
    let r = ReserveReading {
        observed_at: T0 + 10_800,
        reserves: supply - U256::from(DEFICIT),
        supply,
        ripcord: false,
    };
    let tx = w.chain.accounts()[1];
    let dep = w.dep;
    w.don
        .round(&w.chain, &dep, tx, r.observed_at, |_| {
            NodeInput::WithVault(Box::new(NodeInput::Reading(r)), vault)
        })
        .await?;
    assert!(attested_state(&w.chain, dep.receiver).await?.0);
    let touched = agent.run_once().await?;
    assert_eq!(touched, vec![(format!("{}:{}", dep.receiver, T0 + 7200), "restored".to_string())]);
    // Nothing private in the plain columns.
    let row = Store::open(&w.url).await?.incidents().await?.remove(0);
    assert_eq!(row.status, "restored");
    assert!(!row.sealed_state.windows(8).any(|x| x == DEFICIT.to_string().as_bytes()));
    Ok(())
}

#[tokio::test]
async fn dry_run_sends_nothing_and_a_bad_sealed_deficit_fails_safely() -> R {
    let w = world(U256::from(DEFICIT)).await?;
    let before = balances(&w).await?;
    let mut cfg = w.cfg.clone();
    cfg.execute = false;
    let touched = Agent::new(&w.chain, Store::open(&w.url).await?, &w.key, cfg).run_once().await?;
    assert_eq!(touched[0].1, "decided");
    assert_eq!(balances(&w).await?, before, "dry run pays nothing");

    let w = world(U256::from(DEFICIT)).await?;
    let store = Store::open(&w.url).await?;
    store.put_sealed_deficit(T0 + 7200, &[0u8; 80]).await?;
    let touched = Agent::new(&w.chain, store, &w.key, w.cfg.clone()).run_once().await?;
    assert_eq!(touched[0].1, "failed");
    assert_eq!(balances(&w).await?.0, U256::ZERO);
    Ok(())
}
