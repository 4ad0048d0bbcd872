//! Faults around the agent: events before their sealed notice, a stale incident, a swap that may
//! still be in flight, the USDC -> WETH -> WBTC route, and on anvil (the RPC backend) a reorg
//! under the confirmation depth, a connection dropped mid-swap, and a non-local signer.

use crate::support;

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use alloy::{
    network::TxSigner,
    primitives::{Address, B256, Bytes, Signature, U256},
    signers::local::PrivateKeySigner,
    transports::TransportErrorKind,
};
use shr_agent::{Agent, Error, route_amount_in};
use shr_chain::{
    Backend, Chain, ChainLog, EmbeddedChain, EmbeddedConfig, LogFilter, Receipt, RpcChain,
    RpcConfig, SharedTxSigner, SnapshotId, TxRequest, dev_signers,
};
use shr_contracts::{
    anvil::Anvil,
    bindings::{TestToken, UniswapV2Router02},
    deploy, send, view,
};
use support::{DEFICIT, R, SUPPLY};

fn embedded() -> EmbeddedChain {
    EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_728_000_000,
        ..Default::default()
    })
}

async fn anvil() -> R<(Anvil, RpcChain)> {
    let anvil = Anvil::spawn()?;
    let mut cfg = RpcConfig::new(anvil.url());
    cfg.poll_interval = Some(std::time::Duration::from_millis(5));
    let chain = RpcChain::connect(cfg).await?;
    Ok((anvil, chain))
}

#[tokio::test]
async fn an_event_before_its_notice_waits_then_resumes_without_a_new_event() -> R {
    let w = support::solvent(embedded()).await?;
    let sealed = w.short(U256::from(DEFICIT), false).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "detected".into())]);
    assert_eq!(w.balances().await?.0, U256::ZERO);
    // One node's notice is not enough (f+1 = 2): still waiting, nothing paid.
    let store = w.store().await?;
    store.put_sealed_deficit(w.t0 + 7200, &sealed[0]).await?;
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "detected".into())]);
    assert_eq!(w.balances().await?.0, U256::ZERO);
    // The rest arrive late; no new event is emitted, the open incident is resumed.
    for s in &sealed[1..] {
        store.put_sealed_deficit(w.t0 + 7200, s).await?;
    }
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "swap_confirmed".into())]);
    assert!(support::one_buy(w.balances().await?.0));

    // A notice that never arrives fails the incident after the timeout, paying nothing.
    let w = support::solvent(embedded()).await?;
    w.short(U256::from(DEFICIT), false).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?[0].1, "detected");
    w.chain.advance_time(w.cfg.notice_timeout_secs + 1).await?;
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "failed".into())]);
    assert_eq!(w.balances().await?.0, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn an_incident_seen_after_solvency_returned_pays_nothing() -> R {
    // The agent was down while the reserve went short and came back by itself: it sees the
    // insolvent and the solvent event in one batch, in chain order.
    let w = support::insolvent(embedded(), U256::from(DEFICIT)).await?;
    w.round(10_800, U256::from(SUPPLY)).await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "restored".into())]);
    assert_eq!(w.balances().await?.0, U256::ZERO, "no swap for a healed reserve");
    Ok(())
}

#[tokio::test]
async fn a_swap_that_may_be_in_flight_is_not_resent_before_its_deadline() -> R {
    let w = support::insolvent(embedded(), U256::from(DEFICIT)).await?;
    let mut crashing = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    crashing.crash_after = Some("deadline_set");
    assert!(matches!(crashing.run_once().await, Err(Error::InjectedCrash("deadline_set"))));
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "decided".into())]);
    assert_eq!(w.balances().await?.0, U256::ZERO, "waits while the old swap could be mined");
    w.chain.advance_time(w.cfg.strategy.deadline_secs + 1).await?;
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "swap_confirmed".into())]);
    assert!(support::one_buy(w.balances().await?.0));
    Ok(())
}

#[tokio::test]
async fn the_treasury_route_usdc_weth_wbtc_is_configuration() -> R {
    let mut w = support::insolvent(embedded(), U256::from(DEFICIT)).await?;
    let admin = w.chain.accounts()[0];
    let usdc = deploy::test_token(&w.chain, admin, "USD Coin", "USDC", 6, admin).await?;
    // The real USDC/WETH V2 pair on 2022-02-03 (data/uniswap/univ2_reserve_points.json).
    let (r_usdc, r_weth) =
        (U256::from(107_882_978_172_857u64), U256::from(41_492_995_329_546_261_157_873u128));
    w.uni.seed_pair(&w.chain, admin, (usdc, r_usdc), (w.weth, r_weth), w.t0 + 86_400).await?;
    let budget = U256::from(100_000_000_000u64); // 100,000 USDC
    send(&w.chain, admin, usdc, &TestToken::mintCall { to: w.cfg.treasury, amount: budget })
        .await?;
    w.cfg.path = vec![usdc, w.weth, w.wbtc];
    w.cfg.strategy.max_impact_bps = 150; // two hops pay two 30 bps LP fees
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    // The agent's route quote is the router's own `getAmountsIn`.
    let quote = route_amount_in(U256::from(DEFICIT), &agent.route().await?)?;
    let router = view(
        &w.chain,
        w.uni.router,
        &UniswapV2Router02::getAmountsInCall {
            amountOut: U256::from(DEFICIT),
            path: w.cfg.path.clone(),
        },
    )
    .await?;
    assert_eq!(quote, router[0]);
    let route = agent.route().await?;
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "swap_confirmed".into())]);
    let bought = w.balances().await?.0;
    assert!(support::one_buy(bought), "{bought}");
    let left = view(&w.chain, usdc, &TestToken::balanceOfCall { account: w.cfg.treasury }).await?;
    assert_eq!(budget - left, route_amount_in(bought, &route)?, "paid exactly the quote in USDC");

    // A hop without a pair is named.
    w.cfg.path = vec![w.wbtc, usdc];
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    let err = agent.route().await.unwrap_err();
    assert!(matches!(err, Error::NoPair { from, to } if from == w.wbtc && to == usdc), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_reorg_under_the_confirmation_depth_never_reaches_the_agent() -> R {
    let (_anvil, chain) = anvil().await?;
    let mut w = support::solvent(chain).await?;
    w.cfg.confirmations = 3;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    let fork = w.chain.snapshot().await?;
    w.short(U256::from(DEFICIT), true).await?;
    w.chain.mine().await?;
    // The insolvent report is one block deep: not yet acted on.
    assert_eq!(agent.run_once().await?, vec![]);
    // The node reorgs it away (evm_revert drops the blocks); the chain grows past the depth.
    w.chain.revert_to(fork).await?;
    for _ in 0..5 {
        w.chain.mine().await?;
    }
    assert_eq!(agent.run_once().await?, vec![], "a reorged-away report opens no incident");
    assert!(w.store().await?.incidents().await?.is_empty());
    assert_eq!(w.balances().await?.0, U256::ZERO);

    // Without the reorg, the same report is acted on once it is 3 blocks deep.
    let w = {
        let (anvil, chain) = anvil().await?;
        let mut w = support::insolvent(chain, U256::from(DEFICIT)).await?;
        w.cfg.confirmations = 3;
        (anvil, w)
    };
    let agent = Agent::new(&w.1.chain, w.1.store().await?, &w.1.key, w.1.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![]);
    for _ in 0..3 {
        w.1.chain.mine().await?;
    }
    assert_eq!(agent.run_once().await?, vec![(w.1.incident(), "swap_confirmed".into())]);
    Ok(())
}

/// A connection that drops on the first swap sent to `router`: before the node gets it
/// (`deliver = false`) or after (`deliver = true`, the receipt is lost).
#[derive(Debug)]
struct Dropping<'a> {
    inner: &'a dyn Chain,
    router: Address,
    deliver: bool,
    dropped: AtomicBool,
}

#[async_trait::async_trait]
impl Chain for Dropping<'_> {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn accounts(&self) -> &[Address] {
        self.inner.accounts()
    }
    async fn chain_id(&self) -> shr_chain::Result<u64> {
        self.inner.chain_id().await
    }
    async fn estimate_gas(&self, tx: TxRequest) -> shr_chain::Result<u64> {
        self.inner.estimate_gas(tx).await
    }
    async fn send(&self, tx: TxRequest) -> shr_chain::Result<Receipt> {
        if tx.to == Some(self.router) && !self.dropped.swap(true, Ordering::SeqCst) {
            if self.deliver {
                self.inner.send(tx).await?;
            }
            return Err(shr_chain::Error::Rpc {
                url: "http://dropped".into(),
                method: "eth_sendRawTransaction",
                source: TransportErrorKind::backend_gone(),
            });
        }
        self.inner.send(tx).await
    }
    async fn call(
        &self,
        from: Option<Address>,
        to: Address,
        data: Bytes,
    ) -> shr_chain::Result<Bytes> {
        self.inner.call(from, to, data).await
    }
    async fn block_number(&self) -> shr_chain::Result<u64> {
        self.inner.block_number().await
    }
    async fn timestamp(&self) -> shr_chain::Result<u64> {
        self.inner.timestamp().await
    }
    async fn set_next_block_timestamp(&self, t: u64) -> shr_chain::Result<()> {
        self.inner.set_next_block_timestamp(t).await
    }
    async fn mine(&self) -> shr_chain::Result<()> {
        self.inner.mine().await
    }
    async fn logs(&self, filter: &LogFilter) -> shr_chain::Result<Vec<ChainLog>> {
        self.inner.logs(filter).await
    }
    async fn balance(&self, a: Address) -> shr_chain::Result<U256> {
        self.inner.balance(a).await
    }
    async fn storage_at(&self, a: Address, slot: U256) -> shr_chain::Result<B256> {
        self.inner.storage_at(a, slot).await
    }
    async fn snapshot(&self) -> shr_chain::Result<SnapshotId> {
        self.inner.snapshot().await
    }
    async fn revert_to(&self, id: SnapshotId) -> shr_chain::Result<()> {
        self.inner.revert_to(id).await
    }
}

#[tokio::test]
async fn an_rpc_drop_mid_swap_never_pays_twice() -> R {
    for deliver in [true, false] {
        let (_anvil, chain) = anvil().await?;
        let w = support::insolvent(chain, U256::from(DEFICIT)).await?;
        let (_, treasury_before) = w.balances().await?;
        let flaky = Dropping {
            inner: &w.chain,
            router: w.cfg.router,
            deliver,
            dropped: AtomicBool::new(false),
        };
        let err = Agent::new(&flaky, w.store().await?, &w.key, w.cfg.clone()).run_once().await;
        assert!(matches!(err, Err(Error::Contract(_)) | Err(Error::Chain(_))), "{err:?}");
        // Restarted on a good connection.
        let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
        let status = agent.run_once().await?;
        if deliver {
            assert_eq!(status, vec![(w.incident(), "swap_confirmed".into())], "recognised as sent");
        } else {
            assert_eq!(status, vec![(w.incident(), "decided".into())], "waits out the deadline");
            w.chain.advance_time(w.cfg.strategy.deadline_secs + 1).await?;
            assert_eq!(agent.run_once().await?, vec![(w.incident(), "swap_confirmed".into())]);
        }
        let (vault, treasury) = w.balances().await?;
        assert!(support::one_buy(vault), "deliver={deliver}: bought once ({vault})");
        assert!(treasury_before - treasury < U256::from(12u128 * 10u128.pow(18)), "paid once");
    }
    Ok(())
}

/// A signer outside the process's key store (a KMS or threshold-signing client would sit here):
/// it signs on request and counts the requests.
#[derive(Debug)]
struct RemoteSigner {
    key: PrivateKeySigner,
    requests: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl TxSigner<Signature> for RemoteSigner {
    fn address(&self) -> Address {
        self.key.address()
    }
    async fn sign_transaction(
        &self,
        tx: &mut dyn alloy::consensus::SignableTransaction<Signature>,
    ) -> alloy::signers::Result<Signature> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        TxSigner::sign_transaction(&self.key, tx).await
    }
}

#[tokio::test]
async fn the_treasury_signs_through_any_tx_signer() -> R {
    let anvil = Anvil::spawn()?;
    let requests = Arc::new(AtomicUsize::new(0));
    let mut signers: Vec<SharedTxSigner> =
        dev_signers(3).into_iter().map(|s| Arc::new(s) as SharedTxSigner).collect();
    let treasury = dev_signers(3).remove(2);
    signers[2] = Arc::new(RemoteSigner { key: treasury, requests: requests.clone() });
    let mut cfg = RpcConfig::new(anvil.url()).with_signers(signers);
    cfg.poll_interval = Some(std::time::Duration::from_millis(5));
    let w = support::insolvent(RpcChain::connect(cfg).await?, U256::from(DEFICIT)).await?;
    let before = requests.load(Ordering::SeqCst);
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?, vec![(w.incident(), "swap_confirmed".into())]);
    assert_eq!(requests.load(Ordering::SeqCst) - before, 2, "approve and swap signed remotely");
    assert!(support::one_buy(w.balances().await?.0));
    Ok(())
}
