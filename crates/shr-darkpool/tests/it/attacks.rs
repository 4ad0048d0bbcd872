//! The security review's attacks on the dark pool (docs/SECURITY.md, findings 2, 3, 4, 5 and
//! 10) and the escape hatch, each performed against the hardened pool and matcher.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolEvent,
};
use shr_chain::{Chain, ChainLog};
use shr_contracts::bindings::{CREDarkPool, CREDarkPool::CREDarkPoolErrors as E, TestToken};
use shr_contracts::{send, view};
use shr_darkpool::{
    DEFAULT_EXIT_DELAY_SECS, DarkPool, Error, MatcherEnclave, OrderBody, Reconciled, RequestStatus,
    TwapBound, open_exit_ticket, prove_exit, seal_order, serve_once,
};
use shr_enclave::{SimulatedTee, TeePlatform};
use shr_store::Store;

use shr_chain::{RpcChain, RpcConfig};
use shr_contracts::anvil::Anvil;

use crate::contract::{Pool, R, TWAP, order, pool, pool_error, pool_on};

/// Finding 2 (critical): anyone could register a matcher key with a quote bound to nothing, and
/// nothing revoked one. Registration is now the owner's, the quote binds chain, pool and
/// expiry, keys can be revoked, and the public dev seed is refused off the dev chain.
#[tokio::test]
async fn matcher_registration_is_gated_bound_and_revocable() -> R {
    registration_attack(pool(false).await?).await
}

/// The same attack on anvil (a real JSON-RPC node), where the review exploited it.
#[tokio::test]
async fn matcher_registration_attack_fails_on_anvil() -> R {
    let anvil = Anvil::spawn()?;
    let mut cfg = RpcConfig::new(anvil.url());
    cfg.poll_interval = Some(std::time::Duration::from_millis(5));
    let chain = RpcChain::connect(cfg).await?;
    registration_attack(pool_on(chain, false).await?).await
}

async fn registration_attack<C: Chain>(mut p: Pool<C>) -> R {
    let (admin, attacker) = (p.chain.accounts()[0], p.chain.accounts()[9]);
    let now = p.chain.timestamp().await?;
    // The attacker's own enclave on the (public-seed) dev platform, with a valid quote.
    let dev = SimulatedTee::from_seed(SimulatedTee::DEV_SEED);
    let mut rogue = MatcherEnclave::launch(&dev, p.pool.collateral, p.pool.payment, 31337)?;
    rogue.bind(p.pool.address);
    let r = rogue.registration(&p.tee, now + 600)?;
    let e = pool_error(p.pool.register_matcher(&p.chain, attacker, &r).await.unwrap_err());
    assert!(matches!(e, E::OwnableUnauthorizedAccount(_)), "{e:?}");
    // A quote bound to another pool does not verify here, even from the owner.
    let other = DarkPool::deploy(
        &p.chain,
        admin,
        p.pool.collateral,
        p.pool.payment,
        p.tee.root(),
        p.matcher.identity(),
        TwapBound::DEV_UNCHECKED,
    )
    .await?;
    rogue.bind(other.address);
    let foreign = rogue.registration(&p.tee, now + 600)?;
    let e = pool_error(p.pool.register_matcher(&p.chain, admin, &foreign).await.unwrap_err());
    assert!(matches!(e, E::UntrustedPlatform(_)), "{e:?}");
    // An expired quote is refused.
    rogue.bind(p.pool.address);
    let stale = rogue.registration(&p.tee, now.saturating_sub(1))?;
    let e = pool_error(p.pool.register_matcher(&p.chain, admin, &stale).await.unwrap_err());
    assert!(matches!(e, E::QuoteExpired(_)), "{e:?}");
    // Revocation: the matcher's valid settlement no longer lands once its key is revoked.
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    p.pool.revoke_matcher(&p.chain, admin, p.matcher.identity().signer).await?;
    let e = pool_error(p.pool.fill(&p.chain, admin, &s.unwrap()).await.unwrap_err());
    assert!(matches!(e, E::UnregisteredMatcher(_)), "{e:?}");
    // The public dev seed guards nothing off the dev chain unless asked for, loudly.
    assert!(matches!(
        SimulatedTee::for_chain(None, 1, false),
        Err(shr_enclave::Error::DevPlatform { chain_id: 1, .. })
    ));
    assert!(SimulatedTee::for_chain(None, 1, true).is_ok());
    assert!(SimulatedTee::for_chain(None, 31_337, false).is_ok());
    assert!(SimulatedTee::for_chain(Some(B256::repeat_byte(1)), 1, false).is_ok());
    Ok(())
}

/// Finding 3 (high): a settlement was not bound to its request. An attacker's order naming the
/// treasury, or the treasury's public ciphertext replayed under a new request, spent the
/// treasury's pre-funded balance.
#[tokio::test]
async fn a_settlement_is_bound_to_its_request_and_order() -> R {
    let mut p = pool(false).await?;
    let attacker = p.chain.accounts()[9];
    let now = p.chain.timestamp().await?;
    // The attacker seals an order naming the treasury (the requester) and requests with it.
    let body = OrderBody {
        order: order(500_000_000, now),
        requester: p.requester,
        reply_to: p.requester_key.identity().hpke,
        mailbox: alloy::primitives::B256::ZERO,
        salt: shr_zk::OrderOpening::random_salt(),
    };
    let hash = body.order_hash()?;
    let forged = seal_order(&p.matcher.identity().hpke, &body)?;
    let (id, _) = p.pool.request(&p.chain, attacker, (&forged, hash), 50, 3_600).await?;
    let e = p.matcher.settle(&p.rref(id).await?, &forged, TWAP, now).unwrap_err();
    assert!(matches!(e, Error::RequesterMismatch { .. }), "{e}");
    // The treasury's own public ciphertext replayed under a new request: refused on chain.
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let e = pool_error(
        p.pool.request(&p.chain, attacker, (&sealed, B256::ZERO), 50, 3_600).await.unwrap_err(),
    );
    assert!(matches!(e, E::OrderReused(_)), "{e:?}");
    // A host handing the enclave another ciphertext than the request's: refused.
    let e = p.matcher.settle(&p.rref(id).await?, &forged, TWAP, now).unwrap_err();
    assert!(matches!(e, Error::OrderMismatch { .. }), "{e}");
    // Crash recovery finds the request by its order hash however many requests follow.
    for _ in 0..70 {
        let junk = seal_order(&p.matcher.identity().hpke, &body)?;
        p.pool.request(&p.chain, attacker, (&junk, hash), 50, 3_600).await?;
    }
    let found = p.pool.find_request(&p.chain, p.requester, keccak256(sealed.as_bytes())).await?;
    assert_eq!(found, Some(id));
    assert_eq!(p.matcher.balance(p.requester, p.pool.payment), 200 * 10u128.pow(18));
    Ok(())
}

/// Finding 4 (high): matcher state lived only in memory, with one staged slot. A restart, or
/// an RPC error on a mined fill, left the enclave's commitment different from the chain's and
/// froze the pool. The state is now sealed at rest and reconciled from the chain.
#[tokio::test]
async fn the_matcher_survives_a_restart_and_an_error_after_a_mined_fill() -> R {
    let mut p = pool(false).await?;
    let now = p.chain.timestamp().await?;
    let (id, sealed) = p.request(300_000_000, 3_600).await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    let s = s.unwrap();
    // The fill is mined but the host never hears back (no confirm): the chain decides.
    p.pool.fill(&p.chain, p.requester, &s).await?;
    let (c, v) = p.pool.commitment(&p.chain).await?;
    assert_eq!(p.matcher.reconcile(c, v)?, Reconciled::Advanced(1));
    assert_eq!(p.matcher.committed(), c);
    // Two transitions staged at once: the queue keeps both, each on top of the previous.
    let (m, _) = p.makers[0];
    let a1 = p.matcher.authorize_withdrawal(m, p.pool.collateral, 1_000)?;
    let a2 = p.matcher.authorize_withdrawal(m, p.pool.collateral, 2_000)?;
    p.pool.withdraw(&p.chain, m, &a1).await?;
    p.pool.withdraw(&p.chain, m, &a2).await?;
    let (c, v) = p.pool.commitment(&p.chain).await?;
    assert_eq!(p.matcher.reconcile(c, v)?, Reconciled::Advanced(2));
    let before = p.matcher.balance(m, p.pool.collateral);
    // Restart: the sealed state opens in a new instance of the matcher program only.
    let sealed_state = p.matcher.seal_state()?;
    let (wbtc, weth) = p.matcher.tokens();
    let mut back = MatcherEnclave::resume(&p.tee, wbtc, weth, 31337, &sealed_state)?;
    assert_eq!(back.reconcile(c, v)?, Reconciled::Unchanged(0));
    assert_eq!(back.balance(m, wbtc), before);
    assert!(
        MatcherEnclave::resume(&SimulatedTee::new(), wbtc, weth, 31337, &sealed_state).is_err()
    );
    // And it keeps working: another withdrawal lands.
    let a3 = back.authorize_withdrawal(m, wbtc, 3_000)?;
    p.pool.withdraw(&p.chain, m, &a3).await?;
    back.confirm()?;
    // A commitment it cannot open is refused, not signed over.
    assert!(matches!(back.reconcile(B256::repeat_byte(7), 99), Err(Error::Desynchronised { .. })));
    Ok(())
}

/// Finding 5 (medium): one request's error stopped the matcher loop before its cursor moved.
#[tokio::test]
async fn one_bad_request_does_not_halt_the_matcher_loop() -> R {
    let mut p = pool(false).await?;
    let store = Store::open("sqlite::memory:").await?;
    let attacker = p.chain.accounts()[9];
    // The attacker's request carries a ciphertext the matcher cannot open.
    let junk = shr_enclave::Sealed(vec![7u8; 120]);
    let (bad, _) = p.pool.request(&p.chain, attacker, (&junk, B256::ZERO), 50, 3_600).await?;
    store.put_sealed("order", &bad.to_string(), junk.as_bytes()).await?;
    let (good, sealed) = p.request(100_000_000, 3_600).await?;
    store.put_sealed("order", &good.to_string(), sealed.as_bytes()).await?;
    let relayer = p.chain.accounts()[1];
    let served = serve_once(&mut p.matcher, &p.chain, &p.pool, relayer, &store, TWAP).await?;
    assert_eq!(served.failures.len(), 1, "{:?}", served.failures);
    assert_eq!(served.failures[0].0, bad);
    assert_eq!(served.statuses, vec![(good, RequestStatus::Filled)]);
    Ok(())
}

fn deposit_log(
    pool: Address,
    block: u64,
    party: Address,
    token: Address,
    amount: u128,
    total: u128,
) -> ChainLog {
    let e = CREDarkPool::Deposited {
        party,
        token,
        amount: U256::from(amount),
        total: U256::from(total),
        exitKey: B256::ZERO,
        slot: U256::from(17u64),
    };
    let data = e.encode_log_data();
    ChainLog {
        address: pool,
        topics: data.topics().to_vec(),
        data: data.data,
        block_number: block,
        tx_hash: B256::repeat_byte(1),
        log_index: 0,
    }
}

/// Finding 10 (high): the host could credit itself deposits it never made. Deposits now come
/// from the pool's own logs, final, continuing the chain's cumulative totals, and enter the
/// tree only through a proven `absorbDeposit` of at most what the chain recorded.
#[tokio::test]
async fn a_host_cannot_credit_deposits_the_chain_does_not_show() -> R {
    let mut p = pool(false).await?;
    let (host, weth) = (p.chain.accounts()[9], p.pool.payment);
    let head = p.chain.block_number().await?;
    let block = p.matcher.deposit_cursor();
    // A log from another contract: refused, nothing counted.
    let fake = deposit_log(Address::repeat_byte(0x66), block, host, weth, 10, 10);
    assert!(matches!(p.matcher.admit_deposits(&[fake], head + 10), Err(Error::DepositLog { .. })));
    // A log whose total does not continue the host's counted deposits (none): refused.
    let jump = deposit_log(p.pool.address, block, host, weth, 10, 20);
    assert!(matches!(p.matcher.admit_deposits(&[jump], head + 10), Err(Error::DepositLog { .. })));
    assert_eq!(p.matcher.balance(host, weth), 0);
    // A real deposit counts only once it is final.
    send(
        &p.chain,
        p.chain.accounts()[0],
        weth,
        &TestToken::mintCall { to: host, amount: U256::from(5u64) },
    )
    .await?;
    p.pool
        .deposit(&p.chain, host, weth, U256::from(5u64), &p.requester_key.identity().hpke)
        .await?;
    shr_darkpool::sync_deposits(&mut p.matcher, &p.chain).await?;
    assert_eq!(p.matcher.pending_deposits(), 0, "not final yet");
    p.chain.mine().await?;
    p.chain.mine().await?;
    shr_darkpool::sync_deposits(&mut p.matcher, &p.chain).await?;
    assert_eq!(p.matcher.pending_deposits(), 1);
    assert_eq!(p.matcher.balance(host, weth), 0, "not in the tree before a proven absorption");
    let admin = p.chain.accounts()[0];
    let real = p.matcher.absorb_next()?.expect("the deposit");
    p.pool.absorb(&p.chain, admin, &real).await?;
    p.matcher.confirm()?;
    assert_eq!(p.matcher.balance(host, weth), 5);
    // The same absorption replayed, or credited twice with a fresh proof (a host feeding the
    // enclave the log again): more than the chain recorded, refused.
    let e = pool_error(p.pool.absorb(&p.chain, admin, &real).await.unwrap_err());
    assert!(matches!(e, E::UncoveredDeposit(_)), "{e:?}");
    let (head, block) = (p.chain.block_number().await?, p.matcher.deposit_cursor());
    let again = deposit_log(p.pool.address, block, host, weth, 5, 10);
    assert_eq!(p.matcher.admit_deposits(&[again], head + 10)?, 1);
    let twice = p.matcher.absorb_next()?.expect("the replayed deposit");
    let e = pool_error(p.pool.absorb(&p.chain, admin, &twice).await.unwrap_err());
    assert!(matches!(e, E::UncoveredDeposit(_)), "{e:?}");
    p.matcher.abort();
    // A forged log of collateral the enclave cannot tell from a real one (the pool's address, a
    // consistent total): it proves the absorption, and the chain refuses it, since
    // `depositedTotal` shows no such deposit; the withdrawal it would fund has no balance.
    let (head, block) = (p.chain.block_number().await?, p.matcher.deposit_cursor());
    let forged =
        deposit_log(p.pool.address, block, host, p.pool.collateral, 300_000_000, 300_000_000);
    assert_eq!(p.matcher.admit_deposits(&[forged], head + 10)?, 1);
    let e = p.matcher.authorize_withdrawal(host, p.pool.collateral, 300_000_000).unwrap_err();
    assert!(matches!(e, Error::InsufficientBalance { .. }), "{e}");
    let held =
        view(&p.chain, p.pool.collateral, &TestToken::balanceOfCall { account: p.pool.address })
            .await?;
    assert_eq!(held, U256::from(1_000_000_000u64), "nothing left the pool");
    // (The enclave's queue now starts with refused deposits: absorption stops until it is
    // restarted from a sealed state before them. A lying host can stop deposits, not rob.)
    Ok(())
}

/// The escape hatch: a party may force its withdrawal; a live matcher serves it (the hatch stays
/// shut), a silent one lets the delay pass and anyone opens the hatch; each party then leaves
/// once with its exit ticket for the frozen commitment, and the pool is frozen for good.
#[tokio::test]
async fn parties_exit_through_the_hatch_when_the_matcher_is_gone() -> R {
    let mut p = pool(false).await?;
    let store = Store::open("sqlite::memory:").await?;
    let relayer = p.chain.accounts()[8];
    let now = p.chain.timestamp().await?;
    let (id, sealed) = p.request(700_000_000, 3_600).await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    p.pool.fill(&p.chain, p.requester, &s.unwrap()).await?;
    p.matcher.confirm()?;
    let old_tickets = p.matcher.exit_tickets()?;
    let (wbtc, weth) = p.matcher.tokens();
    // No forced withdrawal outstanding: the hatch is shut.
    let e = pool_error(p.pool.exit(&p.chain, p.requester, wbtc, None).await.unwrap_err());
    assert!(matches!(e, E::ExitNotOpen(_)), "{e:?}");
    let e = pool_error(p.pool.open_exit(&p.chain, relayer, p.requester, wbtc).await.unwrap_err());
    assert!(matches!(e, E::ExitNotOpen(_)), "{e:?}");
    // A live matcher serves a forced withdrawal: the requester's whole balance goes to it.
    p.pool.request_forced_withdrawal(&p.chain, p.requester, wbtc).await?;
    let served = serve_once(&mut p.matcher, &p.chain, &p.pool, relayer, &store, TWAP).await?;
    assert_eq!(served.forced, vec![(p.requester, wbtc)]);
    let got = view(&p.chain, wbtc, &TestToken::balanceOfCall { account: p.requester }).await?;
    assert_eq!(got, U256::from(700_000_000u64));
    p.chain.advance_time(DEFAULT_EXIT_DELAY_SECS + 1).await?;
    let e = pool_error(p.pool.open_exit(&p.chain, relayer, p.requester, wbtc).await.unwrap_err());
    assert!(matches!(e, E::ExitNotOpen(_)), "served: the hatch stays shut");
    // The matcher goes silent: a maker's forced withdrawal waits past the delay.
    let maker = &p.makers[0];
    p.pool.request_forced_withdrawal(&p.chain, maker.0, wbtc).await?;
    p.chain.advance_time(DEFAULT_EXIT_DELAY_SECS + 1).await?;
    p.pool.open_exit(&p.chain, relayer, maker.0, wbtc).await?;
    // A ticket for an older commitment does not pay: the requester's collateral left already.
    let stale = old_tickets
        .iter()
        .filter(|(party, _)| *party == p.requester)
        .map(|(_, t)| open_exit_ticket(&p.requester_key, t))
        .next()
        .expect("a ticket")?;
    assert_eq!(stale.leaf.collateral, 700_000_000);
    let stale = prove_exit(&stale, (wbtc, 0))?;
    let e = pool_error(p.pool.exit(&p.chain, p.requester, wbtc, Some(&stale)).await.unwrap_err());
    assert!(matches!(e, E::StaleCommitment(_)), "{e:?}");
    // The maker proves its own balance from its current ticket and leaves, once; an inflated
    // amount does not verify.
    let tickets = p.matcher.exit_tickets()?;
    let t = tickets
        .iter()
        .filter(|(party, _)| *party == maker.0)
        .map(|(_, t)| open_exit_ticket(&maker.1, t))
        .next()
        .expect("a maker ticket")?;
    let proof = prove_exit(&t, (wbtc, 0))?;
    let inflated = shr_darkpool::WithdrawalAuth { amount: proof.amount + 1, ..proof.clone() };
    let e = pool_error(p.pool.exit(&p.chain, maker.0, wbtc, Some(&inflated)).await.unwrap_err());
    assert!(matches!(e, E::InvalidProof(_)), "{e:?}");
    p.pool.exit(&p.chain, maker.0, wbtc, Some(&proof)).await?;
    let bal = view(&p.chain, wbtc, &TestToken::balanceOfCall { account: maker.0 }).await?;
    assert_eq!(bal, U256::from(t.leaf.collateral));
    let e = pool_error(p.pool.exit(&p.chain, maker.0, wbtc, Some(&proof)).await.unwrap_err());
    assert!(matches!(e, E::AlreadyExited(..)), "{e:?}");
    // Frozen: no deposit, no settlement after.
    let e = pool_error(
        p.pool
            .deposit(
                &p.chain,
                p.requester,
                weth,
                U256::from(1u64),
                &p.requester_key.identity().hpke,
            )
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, E::Frozen(_)), "{e:?}");
    Ok(())
}

/// Second review, 1: a host serving a forced withdrawal with a token amount (1 wei) does not
/// serve it; only the enclave's forced withdrawal of the whole balance does. A deposit names
/// an exit key.
#[tokio::test]
async fn a_forced_withdrawal_is_served_only_by_the_whole_balance() -> R {
    let mut p = pool(false).await?;
    let (m, _) = p.makers[0];
    let (wbtc, weth) = p.matcher.tokens();
    let relayer = p.chain.accounts()[8];
    // A deposit without an exit key is refused (its owner could not leave by the hatch).
    let e = pool_error(
        p.pool
            .deposit(
                &p.chain,
                p.requester,
                weth,
                U256::from(1u64),
                &shr_enclave::HpkePublicKey([0; 32]),
            )
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, E::NoExitKey(_)), "{e:?}");
    p.pool.request_forced_withdrawal(&p.chain, m, wbtc).await?;
    let token_amount = p.matcher.authorize_withdrawal(m, wbtc, 1)?;
    p.pool.withdraw(&p.chain, m, &token_amount).await?;
    p.matcher.confirm()?;
    p.chain.advance_time(DEFAULT_EXIT_DELAY_SECS + 1).await?;
    p.pool.open_exit(&p.chain, relayer, m, wbtc).await?;
    assert!(view(&p.chain, p.pool.address, &CREDarkPool::exitModeCall {}).await?);
    Ok(())
}

/// Second review, 2: a transition signed, dropped (no receipt in time) and relayed later lands
/// after the enclave signed another on the same base: the enclave adopts the one that landed
/// instead of bricking.
#[tokio::test]
async fn a_dropped_transition_that_lands_late_is_adopted() -> R {
    let mut p = pool(false).await?;
    let (m, _) = p.makers[0];
    let wbtc = p.pool.collateral;
    let w1 = p.matcher.authorize_withdrawal(m, wbtc, 1_000)?;
    p.matcher.abort(); // the host gave up waiting for W1's receipt
    let t2 = p.matcher.authorize_withdrawal(m, wbtc, 2_000)?;
    // W1 lands after all (someone relays its calldata); T2 is refused on the moved commitment.
    p.pool.withdraw(&p.chain, m, &w1).await?;
    assert!(p.pool.withdraw(&p.chain, m, &t2).await.is_err());
    let (c, v) = p.pool.commitment(&p.chain).await?;
    assert_eq!(p.matcher.reconcile(c, v)?, Reconciled::Advanced(1));
    assert_eq!(p.matcher.balance(m, wbtc), 600_000_000 - 1_000);
    let next = p.matcher.authorize_withdrawal(m, wbtc, 3_000)?;
    p.pool.withdraw(&p.chain, m, &next).await?;
    p.matcher.confirm()?;
    Ok(())
}

/// Second review, 3: a deposit no proven transition absorbed (it was not final yet when the
/// matcher died) leaves without a proof; an absorbed one cannot.
#[tokio::test]
async fn an_uncounted_deposit_leaves_ticketless() -> R {
    let mut p = pool(false).await?;
    let late = p.chain.accounts()[6];
    let (wbtc, weth) = p.matcher.tokens();
    let admin = p.chain.accounts()[0];
    let amount = U256::from(5u128 * 10u128.pow(18));
    send(&p.chain, admin, weth, &TestToken::mintCall { to: late, amount }).await?;
    p.pool.deposit(&p.chain, late, weth, amount, &p.requester_key.identity().hpke).await?;
    // A transition lands before the deposit is final, then the matcher is gone.
    let (m, _) = p.makers[0];
    let w = p.matcher.authorize_withdrawal(m, wbtc, 1_000)?;
    p.pool.withdraw(&p.chain, m, &w).await?;
    p.matcher.confirm()?;
    p.pool.request_forced_withdrawal(&p.chain, late, weth).await?;
    p.chain.advance_time(DEFAULT_EXIT_DELAY_SECS + 1).await?;
    p.pool.open_exit(&p.chain, admin, late, weth).await?;
    p.pool.exit(&p.chain, late, weth, None).await?;
    let got = view(&p.chain, weth, &TestToken::balanceOfCall { account: late }).await?;
    assert_eq!(got, amount);
    // The requester's deposit was absorbed: no exit without a proof of its leaf.
    let e = pool_error(p.pool.exit(&p.chain, p.requester, weth, None).await.unwrap_err());
    assert!(matches!(e, E::StaleCommitment(_)), "{e:?}");
    Ok(())
}

/// Second review, 5: a host cannot commit a maker's inventory on its behalf: the enclave takes a
/// commitment only with the maker account's signature, for this pool.
#[tokio::test]
async fn a_maker_commitment_needs_the_makers_signature() -> R {
    let mut p = pool(false).await?;
    let (victim, _) = p.makers[0];
    let host_key = alloy::signers::local::PrivateKeySigner::random();
    let c = shr_darkpool::MakerCommitment {
        maker: victim,
        size: 600_000_000,
        min_fill: 0,
        spread_bps: 0,
        expiry: u64::MAX,
    };
    let reply = p.requester_key.identity().hpke;
    let forged = shr_darkpool::MakerBody::signed(
        c,
        (reply, B256::ZERO),
        &host_key,
        (31337, p.pool.address),
    )?;
    let sealed = shr_darkpool::seal_maker(&p.matcher.identity().hpke, &forged)?;
    assert!(matches!(p.matcher.add_maker(&sealed), Err(Error::StateMismatch(_))));
    // The victim's own signature for another pool does not do either.
    let victim_key = &shr_chain::dev_signers(4)[3];
    let elsewhere = shr_darkpool::MakerBody::signed(
        c,
        (reply, B256::ZERO),
        victim_key,
        (31337, Address::repeat_byte(1)),
    )?;
    let sealed = shr_darkpool::seal_maker(&p.matcher.identity().hpke, &elsewhere)?;
    assert!(matches!(p.matcher.add_maker(&sealed), Err(Error::StateMismatch(_))));
    Ok(())
}

/// Recovery-service review: whoever can write the mailbox could copy a maker's earlier signed
/// commitment back after it was admitted (consumed by fills, or superseded by a smaller one)
/// and restore the old offer. A signed commitment is admitted once.
#[tokio::test]
async fn a_replayed_maker_commitment_is_refused() -> R {
    let mut p = pool(false).await?;
    let victim_key = &shr_chain::dev_signers(4)[3];
    let c = shr_darkpool::MakerCommitment {
        maker: victim_key.address(),
        size: 600_000_000,
        min_fill: 0,
        spread_bps: 10,
        expiry: u64::MAX,
    };
    let reply = p.requester_key.identity().hpke;
    let body = shr_darkpool::MakerBody::signed(
        c,
        (reply, B256::ZERO),
        victim_key,
        (31337, p.pool.address),
    )?;
    let sealed = shr_darkpool::seal_maker(&p.matcher.identity().hpke, &body)?;
    p.matcher.add_maker(&sealed)?;
    // The maker withdraws its offer to 1 sat; the old blob, written back, does not restore it.
    let smaller = shr_darkpool::MakerBody::signed(
        shr_darkpool::MakerCommitment { size: 1, ..c },
        (reply, B256::ZERO),
        victim_key,
        (31337, p.pool.address),
    )?;
    p.matcher.add_maker(&shr_darkpool::seal_maker(&p.matcher.identity().hpke, &smaller)?)?;
    let e = p.matcher.add_maker(&sealed).unwrap_err();
    assert!(e.to_string().contains("already admitted"), "{e}");
    // Re-sealed (a fresh ciphertext of the same signed body): still refused.
    let resealed = shr_darkpool::seal_maker(&p.matcher.identity().hpke, &body)?;
    assert!(matches!(p.matcher.add_maker(&resealed), Err(Error::StateMismatch(_))));
    Ok(())
}

/// Proofs review (b): a forced withdrawal served while one of the party's deposits waits
/// unabsorbed would clear the request and strand that deposit (the "whole balance" proven would
/// miss it, and the matcher could repeat this forever). The pool refuses it; once the deposit is
/// absorbed, the forced withdrawal pays everything.
#[tokio::test]
async fn a_forced_withdrawal_is_not_served_around_an_unabsorbed_deposit() -> R {
    let mut p = pool(false).await?;
    let store = Store::open("sqlite::memory:").await?;
    let relayer = p.chain.accounts()[8];
    let admin = p.chain.accounts()[0];
    let (m, _) = p.makers[0];
    let wbtc = p.pool.collateral;
    let before = p.matcher.balance(m, wbtc);
    let more = U256::from(5_000u64);
    send(&p.chain, admin, wbtc, &TestToken::mintCall { to: m, amount: more }).await?;
    p.pool.deposit(&p.chain, m, wbtc, more, &p.requester_key.identity().hpke).await?;
    p.pool.request_forced_withdrawal(&p.chain, m, wbtc).await?;
    // Griefing: a deposit while the forced withdrawal is pending would keep every serve
    // refused (`UnabsorbedDeposits`) until the hatch opened for the whole pool.
    send(&p.chain, admin, wbtc, &TestToken::mintCall { to: m, amount: U256::from(1) }).await?;
    let hpke = p.requester_key.identity().hpke;
    let e = pool_error(p.pool.deposit(&p.chain, m, wbtc, U256::from(1), &hpke).await.unwrap_err());
    assert!(matches!(e, E::ForcedWithdrawalPending(_)), "{e:?}");
    let (amount, auth) = p.matcher.authorize_forced(m, wbtc)?;
    assert_eq!(amount, before, "the enclave's tip does not hold the new deposit yet");
    let commitment = p.pool.commitment(&p.chain).await?;
    let e = pool_error(p.pool.withdraw(&p.chain, m, &auth).await.unwrap_err());
    assert!(matches!(e, E::UnabsorbedDeposits(_)), "{e:?}");
    assert_eq!(p.pool.commitment(&p.chain).await?, commitment, "state unchanged");
    let forced = CREDarkPool::forcedAtCall { _0: m, _1: wbtc };
    assert_ne!(view(&p.chain, p.pool.address, &forced).await?, 0, "the request stays open");
    p.matcher.abort();
    // The service absorbs first, then serves the whole balance.
    let held = view(&p.chain, wbtc, &TestToken::balanceOfCall { account: m }).await?;
    let served = serve_once(&mut p.matcher, &p.chain, &p.pool, relayer, &store, TWAP).await?;
    assert_eq!(served.forced, vec![(m, wbtc)]);
    let got = view(&p.chain, wbtc, &TestToken::balanceOfCall { account: m }).await?;
    assert_eq!(got - held, U256::from(before) + more);
    Ok(())
}
