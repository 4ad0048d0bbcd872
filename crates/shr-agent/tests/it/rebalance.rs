//! A lending-vault rebalance on Morpho Blue: vault A (wstETH against USDC) breaches after a price
//! drop; `shr-risk` plans against the route's live reserves (wstETH -> WETH -> USDC on the real
//! Uniswap V2 contracts); `RebalanceAdapter` executes it atomically for the owner through
//! Morpho's `onMorphoRepay`, authorised for that transaction only; the HF read back from Morpho
//! matches the projection. A plan whose `amountInMaximum` is too small reverts and changes
//! nothing. The attacks on the first adapter fail (docs/SECURITY.md, finding 1), and a vault the
//! engine did not save is liquidated by a third party through Morpho's own `liquidate`.

use alloy::primitives::{Address, Bytes, U256};
use shr_agent::{execute_plan, lending::LendingWorld, sign_authorization};
use shr_chain::{Chain, EmbeddedChain};
use shr_contracts::{
    bindings::{Morpho, RebalanceAdapter, TestToken},
    send, view,
};
use shr_risk::PlanConfig;

type R<T = ()> = eyre::Result<T>;

fn close(a: U256, b: U256) -> bool {
    let d = if a > b { a - b } else { b - a };
    d * U256::from(1_000_000_000u64) <= a.max(b)
}

#[tokio::test]
async fn a_breached_vault_is_rebalanced_atomically_as_its_owner() -> R {
    let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
    assert!(l.health_factor(0).await? > U256::from(1_390_000_000_000_000_000u128));
    // The oracle drops 20 %: HF 1.12 < 1.15.
    let now = l.chain.timestamp().await?;
    l.set_wsteth_price(218_400_000_000).await?;
    let before = l.health_factor(0).await?;
    assert!(before < U256::from(1_150_000_000_000_000_000u128), "{before}");

    let cfg = PlanConfig::default();
    let p = l.plan(0, &cfg).await?.expect("breached");
    assert!(
        close(p.hf_before_wad, before),
        "the engine's HF {} is Morpho's {before}",
        p.hf_before_wad
    );

    let target = l.target(0)?;
    // Too small an amountInMaximum reverts inside the router: nothing changes.
    let mut stingy = p;
    stingy.sell_collateral_wad = p.sell_collateral_wad * 9 / 10;
    assert!(execute_plan(&l.chain, &target, &stingy, now + 600).await.is_err());
    assert_eq!(l.health_factor(0).await?, before);

    let done = execute_plan(&l.chain, &target, &p, now + 600).await?;
    let after = l.health_factor(0).await?;
    assert!(after >= U256::from(cfg.target_wad), "on-chain HF {after} under the target");
    let band = p.hf_projected_wad * U256::from(cfg.band_bps) / U256::from(10_000u32);
    assert!(after <= p.hf_projected_wad + band, "on-chain {after} vs {}", p.hf_projected_wad);
    assert!(done.repaid > U256::ZERO);
    // The adapter was authorised for that transaction only.
    let call = Morpho::isAuthorizedCall { _0: l.owner, _1: l.adapter };
    assert!(!view(&l.chain, l.morpho, &call).await?, "authorisation revoked in the same tx");
    Ok(())
}

/// The proptest of `shr-risk` checks HF after >= target in the model; here a sample of oracle
/// drops checks it on chain, through Morpho, the real router and live reserves.
#[tokio::test]
async fn on_chain_hf_reaches_the_target_for_a_sample_of_drops() -> R {
    let cfg = PlanConfig::default();
    let mut executed = 0;
    for drop_bps in [1_300i64, 1_800, 2_200, 2_600] {
        let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
        let price = 273_000_000_000i64 * (10_000 - drop_bps) / 10_000;
        l.set_wsteth_price(price).await?;
        let Some(p) = l.plan(0, &cfg).await? else { continue };
        let now = l.chain.timestamp().await?;
        execute_plan(&l.chain, &l.target(0)?, &p, now + 600).await?;
        let after = l.health_factor(0).await?;
        assert!(after >= U256::from(cfg.target_wad), "drop {drop_bps}: {after}");
        executed += 1;
    }
    assert_eq!(executed, 3, "13 % does not breach; 18, 22 and 26 % do");
    Ok(())
}

/// Vault B (weETH against WETH, one hop weETH -> WETH): a weETH oracle drop breaches it; the
/// same adapter rebalances it on its own market, vault A untouched.
#[tokio::test]
async fn vault_b_weeth_against_weth_is_rebalanced() -> R {
    let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
    let cfg = PlanConfig::default();
    let a_before = l.health_factor(0).await?;
    l.set_price(l.vaults[1].collateral_feed, 220_000_000_000).await?;
    let before = l.health_factor(1).await?;
    assert!(before < U256::from(cfg.trigger_wad), "{before}");
    assert!(l.plan(0, &cfg).await?.is_none(), "vault A is not breached");
    let p = l.plan(1, &cfg).await?.expect("vault B breached");
    assert!(close(p.hf_before_wad, before));
    let now = l.chain.timestamp().await?;
    execute_plan(&l.chain, &l.target(1)?, &p, now + 600).await?;
    assert!(l.health_factor(1).await? >= U256::from(cfg.target_wad));
    assert_eq!(l.health_factor(0).await?, a_before);
    assert!(l.health_factor(7).await.is_err(), "unknown vault id is refused");
    Ok(())
}

/// Finding 1 (critical): the first adapter trusted a job handed back by whatever market the
/// caller named, under a standing authorisation; an attacker's fake market withdrew a victim's
/// collateral and swapped it through pairs the attacker seeded. Each way in is now closed.
#[tokio::test]
async fn attacks_on_the_adapter_move_nothing() -> R {
    adapter_attacks(LendingWorld::deploy(EmbeddedChain::new()).await?).await
}

/// The same attacks on anvil (a real JSON-RPC node), where the review exploited the first
/// adapter.
#[tokio::test]
async fn attacks_on_the_adapter_move_nothing_on_anvil() -> R {
    let anvil = shr_contracts::anvil::Anvil::spawn()?;
    let mut cfg = shr_chain::RpcConfig::new(anvil.url());
    cfg.poll_interval = Some(std::time::Duration::from_millis(5));
    let chain = shr_chain::RpcChain::connect(cfg).await?;
    adapter_attacks(LendingWorld::deploy(chain).await?).await
}

async fn adapter_attacks<C: Chain>(l: LendingWorld<C>) -> R {
    let attacker = l.chain.accounts()[9];
    let v = &l.vaults[0];
    let (coll_before, debt_before) = l.position_of(0, l.owner).await?;
    let p = |x: &Morpho::MarketParams| RebalanceAdapter::MarketParams {
        loanToken: x.loanToken,
        collateralToken: x.collateralToken,
        oracle: x.oracle,
        irm: x.irm,
        lltv: x.lltv,
    };
    // 1. The callback straight from the attacker (a fake market or an EOA): refused.
    let job = Bytes::from(vec![0u8; 64]);
    let call = RebalanceAdapter::onMorphoRepayCall { assets: U256::from(1u64), data: job };
    let e = send(&l.chain, attacker, l.adapter, &call).await.unwrap_err();
    assert!(e.to_string().contains("UnexpectedCallback"), "{e}");

    // 2. The victim's own signed grant, submitted by the attacker: the authorizer must be the
    //    caller, so the attacker can act on no position but its own.
    let domain = view(&l.chain, l.morpho, &Morpho::DOMAIN_SEPARATORCall {}).await?;
    let owner_key = l.target(0)?.owner;
    let deadline = U256::from(l.chain.timestamp().await? + 600);
    let auth = |ok: bool, nonce: u64| Morpho::Authorization {
        authorizer: l.owner,
        authorized: l.adapter,
        isAuthorized: ok,
        nonce: U256::from(nonce),
        deadline,
    };
    let conv = |a: &Morpho::Authorization| RebalanceAdapter::Authorization {
        authorizer: a.authorizer,
        authorized: a.authorized,
        isAuthorized: a.isAuthorized,
        nonce: a.nonce,
        deadline: a.deadline,
    };
    let sig = |a: &Morpho::Authorization| -> eyre::Result<RebalanceAdapter::Signature> {
        let s = sign_authorization(&owner_key, domain, a)?;
        Ok(RebalanceAdapter::Signature { v: s.v, r: s.r, s: s.s })
    };
    let (grant, revoke) = (auth(true, 0), auth(false, 1));
    let steal = RebalanceAdapter::rebalanceCall {
        marketParams: p(&v.params),
        repayAssets: U256::from(1_000_000u64),
        amountInMaximum: U256::from(30u128 * 1_000_000_000_000_000_000),
        path: v.path.clone(),
        deadline,
        grant: conv(&grant),
        grantSig: sig(&grant)?,
        revoke: conv(&revoke),
        revokeSig: sig(&revoke)?,
    };
    let e = send(&l.chain, attacker, l.adapter, &steal).await.unwrap_err();
    assert!(e.to_string().contains("BadAuthorization"), "{e}");

    // 3. A market Morpho does not know (the attacker's own oracle and tokens): refused.
    let mut fake = p(&v.params);
    fake.oracle = attacker;
    let e = send(
        &l.chain,
        attacker,
        l.adapter,
        &RebalanceAdapter::rebalanceCall { marketParams: fake, ..steal.clone() },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("UnknownMarket"), "{e}");

    // 4. The owner's own call with a path that leaves the market's tokens: refused.
    let mut detour = steal.clone();
    detour.path = vec![v.path[0], Address::repeat_byte(0x66)];
    let e = send(&l.chain, l.owner, l.adapter, &detour).await.unwrap_err();
    assert!(e.to_string().contains("BadPath"), "{e}");

    // 5. No standing authorisation exists for anyone to ride on.
    let call = Morpho::isAuthorizedCall { _0: l.owner, _1: l.adapter };
    assert!(!view(&l.chain, l.morpho, &call).await?);
    assert_eq!(l.position_of(0, l.owner).await?, (coll_before, debt_before), "victim untouched");
    Ok(())
}

/// A vault the engine did not save: the price falls through the LLTV and a third party
/// liquidates it with Morpho's own `liquidate`, seizing collateral at Morpho's incentive.
#[tokio::test]
async fn an_unsaved_vault_is_liquidated_by_a_third_party() -> R {
    let l = LendingWorld::deploy(EmbeddedChain::new()).await?;
    let v = l.vaults[0].clone();
    // -35 %: HF 1.40 x 0.65 = 0.91.
    l.set_wsteth_price(177_450_000_000).await?;
    assert!(l.health_factor(0).await? < U256::from(1_000_000_000_000_000_000u128));
    let liquidator = l.lender;
    let admin = l.chain.accounts()[0];
    let usdc = v.params.loanToken;
    let funds = U256::from(1_000_000_000_000u64);
    send(&l.chain, admin, usdc, &TestToken::mintCall { to: liquidator, amount: funds }).await?;
    let seized = U256::from(10u128 * 1_000_000_000_000_000_000);
    let call = Morpho::liquidateCall {
        marketParams: v.params.clone(),
        borrower: l.owner,
        seizedAssets: seized,
        repaidShares: U256::ZERO,
        data: Default::default(),
    };
    let (coll_before, debt_before) = l.position_of(0, l.owner).await?;
    send(&l.chain, liquidator, l.morpho, &call).await?;
    let (coll_after, debt_after) = l.position_of(0, l.owner).await?;
    assert_eq!(coll_before - coll_after, seized);
    assert!(debt_after < debt_before);
    let got =
        view(&l.chain, v.params.collateralToken, &TestToken::balanceOfCall { account: liquidator })
            .await?;
    assert_eq!(got, seized, "the liquidator holds the seized wstETH");
    Ok(())
}

/// The plan as the desk shows it (one transaction, the actions inside it, the chain's gas
/// estimate) is what is sent: the calldata on the wire is the bundle's, byte for byte, and the
/// estimate is enough gas.
#[tokio::test]
async fn the_encoded_plan_is_what_is_sent() -> R {
    use alloy::sol_types::SolCall;
    use shr_agent::{encode_plan, send_bundle};
    use shr_chain::RecordingChain;
    use shr_contracts::bindings::UniswapV2Router02;

    let l = LendingWorld::deploy(RecordingChain::new(EmbeddedChain::new())).await?;
    l.set_wsteth_price(218_400_000_000).await?;
    let p = l.plan(0, &PlanConfig::default()).await?.expect("breached");
    let now = l.chain.timestamp().await?;
    let blocks = l.chain.block_number().await?;
    let b = encode_plan(&l.chain, &l.target(0)?, &p, now + 3600).await?;
    assert_eq!(l.chain.block_number().await?, blocks, "encoding mines nothing");
    assert_eq!(b.transaction.target, l.adapter);
    assert_eq!(b.from, l.owner);
    let kinds: Vec<_> = b.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["authorize", "repay", "withdraw", "swap", "resupply", "revoke"]);
    let swap = UniswapV2Router02::swapTokensForExactTokensCall::abi_decode(&b.actions[3].calldata)?;
    assert_eq!(swap.amountOut, b.repay_assets);
    assert_eq!(swap.amountInMax, U256::from(p.sell_collateral_wad));
    assert!(b.expected_amount_in <= b.amount_in_maximum);
    assert!(
        b.actions[3].description.contains("wstETH -> WETH -> USDC"),
        "{}",
        b.actions[3].description
    );
    assert!(b.gas_estimate > 100_000, "{}", b.gas_estimate);

    let done = send_bundle(&l.chain, &b).await?;
    let (sent, receipt) = l.chain.sent().pop().expect("a transaction");
    assert_eq!(sent.data, b.transaction.calldata, "sent exactly the plan's calldata");
    assert_eq!(sent.to, Some(l.adapter));
    assert_eq!(sent.gas_limit, Some(b.gas_estimate));
    assert!(receipt.expect("mined").gas_used <= b.gas_estimate);
    assert_eq!(done.repaid, b.repay_assets);
    assert!(l.health_factor(0).await? >= U256::from(PlanConfig::default().target_wad));
    // The same bundle again: its authorisation nonce is spent, the revert changes nothing.
    let hf = l.health_factor(0).await?;
    assert!(send_bundle(&l.chain, &b).await.is_err());
    assert_eq!(l.health_factor(0).await?, hf);
    Ok(())
}
