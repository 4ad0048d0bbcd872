//! One test body, run against both chain backends: the embedded revm chain and a real anvil.
//!
//! It deploys our contracts, Chainlink's real `KeystoneForwarder` and Uniswap V2's factory, WETH9
//! and Router02, then exercises every method of the `Chain` trait, typed reverts included.

use alloy::{
    primitives::{Address, U256, aliases::U112},
    sol_types::{SolCall, SolEvent},
};
use shr_chain::{
    Chain, EmbeddedChain, Error as ChainError, LogCursor, LogFilter, RpcChain, RpcConfig, TxRequest,
};
use shr_contracts::{
    Error, Revert,
    anvil::Anvil,
    bindings::{
        KeystoneForwarder, ReserveFeed, TestToken, UniswapV2Factory, UniswapV2Pair,
        UniswapV2Router02,
    },
    deploy::{self, UniswapV2},
    send, view,
};

type R<T = ()> = eyre::Result<T>;

const E8: u64 = 100_000_000;

async fn suite(chain: &dyn Chain) -> R {
    let [admin, alice, bob] = [chain.accounts()[0], chain.accounts()[1], chain.accounts()[2]];
    assert_eq!(chain.chain_id().await?, 31337);

    // --- ERC-20: deploy, mint, transfer, view, logs.
    let wbtc = deploy::test_token(chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    assert_eq!(view(chain, wbtc, &TestToken::decimalsCall {}).await?, 8);
    send(chain, admin, wbtc, &TestToken::mintCall { to: alice, amount: U256::from(5 * E8) })
        .await?;
    let mut cursor = LogCursor::new(LogFilter::event(wbtc, TestToken::Transfer::SIGNATURE_HASH, 0));
    let r =
        send(chain, alice, wbtc, &TestToken::transferCall { to: bob, value: U256::from(2 * E8) })
            .await?;
    assert!(r.gas_used > 21_000 && r.gas_used < 100_000, "ERC-20 transfer gas {}", r.gas_used);
    assert_eq!(r.logs.len(), 1);
    let ev = TestToken::Transfer::decode_log(&r.logs[0].to_primitive())?;
    assert_eq!((ev.from, ev.to, ev.value), (alice, bob, U256::from(2 * E8)));
    assert_eq!(
        view(chain, wbtc, &TestToken::balanceOfCall { account: bob }).await?,
        U256::from(2 * E8)
    );
    let seen = cursor.poll(chain).await?;
    assert_eq!(seen.len(), 2, "mint + transfer");
    assert!(cursor.poll(chain).await?.is_empty(), "the cursor moved past what it read");

    // --- A reverted transaction carries its decoded custom error and changes nothing.
    let before = chain.block_number().await?;
    let err =
        send(chain, alice, wbtc, &TestToken::transferCall { to: bob, value: U256::from(9 * E8) })
            .await
            .unwrap_err();
    match err.revert() {
        Some(Revert::TestToken(TestToken::TestTokenErrors::ERC20InsufficientBalance(e))) => {
            assert_eq!(
                (e.sender, e.balance, e.needed),
                (alice, U256::from(3 * E8), U256::from(9 * E8))
            );
        }
        other => panic!("expected ERC20InsufficientBalance, got {other:?} ({err})"),
    }
    assert!(err.to_string().contains("ERC20InsufficientBalance"), "{err}");
    assert!(chain.block_number().await? <= before + 1);
    assert_eq!(
        view(chain, wbtc, &TestToken::balanceOfCall { account: alice }).await?,
        U256::from(3 * E8)
    );
    // Access control: only the minter mints.
    let err = send(chain, bob, wbtc, &TestToken::mintCall { to: bob, amount: U256::from(1) })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.revert(),
            Some(Revert::TestToken(TestToken::TestTokenErrors::AccessControlUnauthorizedAccount(
                _
            )))
        ),
        "{err}"
    );

    // --- AggregatorV3 feed.
    let feed = deploy::reserve_feed(chain, admin, 8, "WBTC PoR", admin).await?;
    let err = view(chain, feed, &ReserveFeed::latestRoundDataCall {}).await.unwrap_err();
    assert!(
        matches!(
            err.revert(),
            Some(Revert::ReserveFeed(ReserveFeed::ReserveFeedErrors::NoDataPresent(_)))
        ),
        "{err}"
    );
    let now = chain.timestamp().await?;
    send(
        chain,
        admin,
        feed,
        &ReserveFeed::updateAnswerCall {
            answer: alloy::primitives::I256::try_from(150_000 * E8)?,
            updatedAt: U256::from(now),
        },
    )
    .await?;
    let round = view(chain, feed, &ReserveFeed::latestRoundDataCall {}).await?;
    assert_eq!(round._1, alloy::primitives::I256::try_from(150_000 * E8)?);

    // --- Chainlink's real KeystoneForwarder.
    let fwd = deploy::keystone_forwarder(chain, admin).await?;
    let tv = view(chain, fwd, &KeystoneForwarder::typeAndVersionCall {}).await?;
    assert_eq!(tv, "KeystoneForwarder 1.0.0");
    let signers: Vec<Address> = chain.accounts()[3..7].to_vec();
    send(
        chain,
        admin,
        fwd,
        &KeystoneForwarder::setConfigCall {
            donId: 1,
            configVersion: 1,
            f: 1,
            signers: signers.clone(),
        },
    )
    .await?;
    let err = send(
        chain,
        admin,
        fwd,
        &KeystoneForwarder::setConfigCall { donId: 1, configVersion: 2, f: 0, signers },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err.revert(),
            Some(Revert::KeystoneForwarder(
                KeystoneForwarder::KeystoneForwarderErrors::FaultToleranceMustBePositive(_)
            ))
        ),
        "{err}"
    );

    // --- Uniswap V2 from npm bytecode: the router's init-code hash must match the pair's.
    let uni = UniswapV2::deploy(chain, admin).await?;
    let weth_t = deploy::test_token(chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
    let e18 = U256::from(10u64).pow(U256::from(18));
    for (t, amt) in [(wbtc, U256::from(100 * E8)), (weth_t, U256::from(1_600u64) * e18)] {
        send(chain, admin, t, &TestToken::mintCall { to: admin, amount: amt * U256::from(2) })
            .await?;
        send(chain, admin, t, &TestToken::approveCall { spender: uni.router, value: U256::MAX })
            .await?;
    }
    let deadline = U256::from(chain.timestamp().await? + 3600);
    send(
        chain,
        admin,
        uni.router,
        &UniswapV2Router02::addLiquidityCall {
            tokenA: wbtc,
            tokenB: weth_t,
            amountADesired: U256::from(100 * E8),
            amountBDesired: U256::from(1_600u64) * e18,
            amountAMin: U256::ZERO,
            amountBMin: U256::ZERO,
            to: admin,
            deadline,
        },
    )
    .await?;
    let pair =
        view(chain, uni.factory, &UniswapV2Factory::getPairCall { _0: wbtc, _1: weth_t }).await?;
    assert_ne!(pair, Address::ZERO);
    let reserves = view(chain, pair, &UniswapV2Pair::getReservesCall {}).await?;
    let (r_wbtc, r_weth) = if wbtc < weth_t {
        (reserves._reserve0, reserves._reserve1)
    } else {
        (reserves._reserve1, reserves._reserve0)
    };
    assert_eq!((r_wbtc, r_weth), (U112::from(100 * E8), U112::from(U256::from(1_600u64) * e18)));
    // Exact-output quote through the router equals Uniswap V2 getAmountIn.
    let out = U256::from(E8);
    let amounts = view(
        chain,
        uni.router,
        &UniswapV2Router02::getAmountsInCall { amountOut: out, path: vec![weth_t, wbtc] },
    )
    .await?;
    let (rin, rout) = (U256::from(1_600u64) * e18, U256::from(100 * E8));
    let expected_in =
        rin * out * U256::from(1000) / ((rout - out) * U256::from(997)) + U256::from(1);
    assert_eq!(amounts[0], expected_in);
    // A Uniswap require-string revert decodes as a message.
    let err = send(
        chain,
        admin,
        uni.router,
        &UniswapV2Router02::swapTokensForExactTokensCall {
            amountOut: out,
            amountInMax: expected_in - U256::from(1),
            path: vec![weth_t, wbtc],
            to: admin,
            deadline,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.revert(),
        Some(&Revert::Message("UniswapV2Router: EXCESSIVE_INPUT_AMOUNT".into())),
        "{err}"
    );
    let r = send(
        chain,
        admin,
        uni.router,
        &UniswapV2Router02::swapTokensForExactTokensCall {
            amountOut: out,
            amountInMax: expected_in,
            path: vec![weth_t, wbtc],
            to: bob,
            deadline,
        },
    )
    .await?;
    assert!(r.logs.iter().any(|l| l.topics[0] == UniswapV2Pair::Swap::SIGNATURE_HASH));
    assert_eq!(
        view(chain, wbtc, &TestToken::balanceOfCall { account: bob }).await?,
        U256::from(3 * E8)
    );

    // --- Time.
    let t0 = chain.timestamp().await?;
    let t1 = chain.advance_time(3600).await?;
    assert_eq!(t1, t0 + 3600);
    assert_eq!(chain.timestamp().await?, t0 + 3600);
    let err = chain.set_next_block_timestamp(t0).await.unwrap_err();
    assert!(matches!(err, ChainError::TimestampNotIncreasing { .. }), "{err}");
    chain.set_next_block_timestamp(t1 + 100).await?;
    let r = send(chain, alice, wbtc, &TestToken::transferCall { to: bob, value: U256::from(1) })
        .await?;
    assert_eq!(r.block_timestamp, t1 + 100);

    // --- Storage reads: OpenZeppelin ERC20 keeps _totalSupply in slot 2.
    let supply = view(chain, wbtc, &TestToken::totalSupplyCall {}).await?;
    assert_eq!(U256::from_be_bytes(chain.storage_at(wbtc, U256::from(2)).await?.0), supply);

    // --- Snapshot and revert.
    let block = chain.block_number().await?;
    let snap = chain.snapshot().await?;
    send(chain, alice, wbtc, &TestToken::transferCall { to: bob, value: U256::from(E8) }).await?;
    chain.revert_to(snap).await?;
    assert_eq!(chain.block_number().await?, block);
    assert_eq!(
        view(chain, wbtc, &TestToken::balanceOfCall { account: alice }).await?,
        U256::from(3 * E8 - 1)
    );

    // --- Raw sends: a value transfer, and an unknown sender.
    let r = chain
        .send(TxRequest { from: alice, to: Some(bob), value: U256::from(1), ..Default::default() })
        .await?;
    assert_eq!(r.gas_used, 21_000);
    let err = chain
        .send(TxRequest::call(
            Address::repeat_byte(0x42),
            bob,
            TestToken::decimalsCall {}.abi_encode(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::UnknownSender(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn embedded_backend_passes_the_chain_suite() -> R {
    suite(&EmbeddedChain::new()).await
}

#[tokio::test]
async fn anvil_backend_passes_the_chain_suite() -> R {
    let anvil = Anvil::spawn()?;
    let chain = RpcChain::connect(RpcConfig::new(anvil.url())).await?;
    suite(&chain).await
}

#[tokio::test]
async fn unreachable_rpc_names_the_url_after_bounded_retries() {
    // Port 9 (discard) is closed on loopback here.
    let url = "http://127.0.0.1:9";
    let mut cfg = RpcConfig::new(url);
    cfg.connect_attempts = 2;
    cfg.retry_delay = std::time::Duration::from_millis(10);
    let err = RpcChain::connect(cfg).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { attempts: 2, .. }), "{err}");
    assert!(err.to_string().contains(url), "{err}");
}

#[tokio::test]
async fn malformed_rpc_url_is_refused() {
    let err = RpcChain::connect(RpcConfig::new("not a url")).await.unwrap_err();
    assert!(matches!(err, ChainError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("not a url"));
}

#[tokio::test]
async fn reverted_call_without_transaction_is_typed() {
    let chain = EmbeddedChain::new();
    let feed = deploy::reserve_feed(&chain, chain.accounts()[0], 8, "x", chain.accounts()[0])
        .await
        .unwrap();
    let err = view(
        &chain,
        feed,
        &ReserveFeed::getRoundDataCall { roundId: alloy::primitives::aliases::U80::from(7) },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Reverted { function: "getRoundData(uint80)", .. }), "{err}");
}
