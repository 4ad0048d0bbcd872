//! Stateful invariant fuzzing of `CREDarkPool` with the matcher enclave on the embedded chain:
//! random sequences of deposits, requests, honest settlements and withdrawals, forged
//! settlements and withdrawals, expiries and time jumps, from honest and hostile callers. After
//! every call: the pool's token balances cover what the table can release, the chain's
//! commitment is the enclave's (no transition without an accepted signature), and a request in
//! a final state never changes. Every transition carries a Groth16 proof, so a sequence costs
//! about a second: `SHR_FUZZ_CASES` sets the number of sequences (24 by default, in CI; 1,000
//! for a long run). Forged fills and withdrawals are signed with the stolen matcher key too.

use std::{cell::Cell, collections::BTreeMap};

use alloy::primitives::{B256, Bytes, U256};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use shr_chain::Chain;
use shr_contracts::{bindings::TestToken, send, view};
use shr_darkpool::{MatcherEnclave, OrderBody, RequestStatus, seal_order, sync_deposits};

use crate::contract::{Pool, TWAP, absorb_all, order, pool, stolen_key};

#[derive(Debug, Clone)]
enum Op {
    MakerDeposit { maker: usize, amount: u32 },
    Fund { amount: u32 },
    Request { size: u32, timeout: u16 },
    Settle,
    ForgedFill { byte: u8 },
    Withdraw { maker: usize, amount: u32 },
    StolenWithdraw { amount: u32 },
    Expire,
    Advance { secs: u16 },
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..1_000_000_000u32)
            .prop_map(|(maker, amount)| Op::MakerDeposit { maker, amount }),
        (1..u32::MAX).prop_map(|amount| Op::Fund { amount }),
        (1..2_000_000_000u32, 1..4_000u16)
            .prop_map(|(size, timeout)| Op::Request { size, timeout }),
        Just(Op::Settle),
        Just(Op::Settle),
        any::<u8>().prop_map(|byte| Op::ForgedFill { byte }),
        (0..2usize, 1..800_000_000u32).prop_map(|(maker, amount)| Op::Withdraw { maker, amount }),
        (1..u32::MAX).prop_map(|amount| Op::StolenWithdraw { amount }),
        Just(Op::Expire),
        (1..5_000u16).prop_map(|secs| Op::Advance { secs }),
        Just(Op::Sync),
    ]
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

async fn check(p: &Pool, statuses: &mut BTreeMap<u64, RequestStatus>) -> Result<(), TestCaseError> {
    for token in [p.pool.collateral, p.pool.payment] {
        let held = view(&p.chain, token, &TestToken::balanceOfCall { account: p.pool.address })
            .await
            .map_err(fail)?;
        let owed = U256::from(p.matcher.total(token));
        prop_assert!(held >= owed, "pool holds {held} of {token}, the table can release {owed}");
    }
    let (c, v) = p.pool.commitment(&p.chain).await.map_err(fail)?;
    prop_assert_eq!((c, v), (p.matcher.committed(), p.matcher.version()));
    for (id, before) in statuses.iter_mut() {
        let now = p.pool.status(&p.chain, *id).await.map_err(fail)?;
        if matches!(
            before,
            RequestStatus::Filled | RequestStatus::Expired | RequestStatus::Cancelled
        ) {
            prop_assert_eq!(now, *before, "request {} left a final state", id);
        }
        *before = now;
    }
    Ok(())
}

/// How many honest transitions landed and forged ones were refused, over all sequences: the
/// fuzzing must reach them, or it proves nothing.
#[derive(Debug, Default)]
struct Reached {
    settled: Cell<u32>,
    withdrawn: Cell<u32>,
    forged_refused: Cell<u32>,
}

fn bump(c: &Cell<u32>) {
    c.set(c.get() + 1);
}

async fn run(p: &mut Pool, ops: &[Op], reached: &Reached) -> Result<(), TestCaseError> {
    let a = p.chain.accounts().to_vec();
    let (admin, attacker) = (a[0], a[9]);
    let (wbtc, weth) = (p.pool.collateral, p.pool.payment);
    let mut statuses = BTreeMap::new();
    let mut last: Option<(u64, shr_enclave::Sealed)> = None;
    for op in ops {
        match *op {
            Op::MakerDeposit { maker, amount } => {
                let m = p.makers[maker].0;
                let amount = U256::from(amount);
                send(&p.chain, admin, wbtc, &TestToken::mintCall { to: m, amount })
                    .await
                    .map_err(fail)?;
                let key = p.makers[maker].1.identity().hpke;
                p.pool.deposit(&p.chain, m, wbtc, amount, &key).await.map_err(fail)?;
            }
            Op::Fund { amount } => {
                let amount = U256::from(amount) * U256::from(1_000_000_000u64);
                send(&p.chain, admin, weth, &TestToken::mintCall { to: p.requester, amount })
                    .await
                    .map_err(fail)?;
                let key = p.requester_key.identity().hpke;
                p.pool.deposit(&p.chain, p.requester, weth, amount, &key).await.map_err(fail)?;
            }
            Op::Request { size, timeout } => {
                let now = p.chain.timestamp().await.map_err(fail)?;
                let body = OrderBody {
                    order: order(u128::from(size), now),
                    requester: p.requester,
                    reply_to: p.requester_key.identity().hpke,
                    mailbox: alloy::primitives::B256::ZERO,
                    salt: shr_zk::OrderOpening::random_salt(),
                };
                let hash = body.order_hash().map_err(fail)?;
                let sealed = seal_order(&p.matcher.identity().hpke, &body).map_err(fail)?;
                let (id, _) = p
                    .pool
                    .request(&p.chain, p.requester, (&sealed, hash), 50, u64::from(timeout))
                    .await
                    .map_err(fail)?;
                statuses.insert(id, RequestStatus::Pending);
                last = Some((id, sealed));
            }
            Op::Settle => {
                let Some((id, sealed)) = &last else { continue };
                let now = p.chain.timestamp().await.map_err(fail)?;
                let r = p.pool.request_ref(&p.chain, *id).await.map_err(fail)?;
                if let Ok((_, Some(s))) = p.matcher.settle(&r, sealed, TWAP, now) {
                    match p.pool.fill(&p.chain, admin, &s).await {
                        Ok(_) => {
                            p.matcher.confirm().map_err(fail)?;
                            bump(&reached.settled);
                        }
                        Err(_) => p.matcher.abort(),
                    }
                }
            }
            Op::ForgedFill { byte } => {
                let Some((id, sealed)) = &last else { continue };
                let now = p.chain.timestamp().await.map_err(fail)?;
                let r = p.pool.request_ref(&p.chain, *id).await.map_err(fail)?;
                if let Ok((_, Some(mut s))) = p.matcher.settle(&r, sealed, TWAP, now) {
                    p.matcher.abort();
                    s.new_commitment = B256::repeat_byte(byte % 0x20);
                    if byte % 2 == 0 {
                        // The stolen matcher key signs the forged root: the proof refuses it.
                        let d = shr_darkpool::settlement_digest(
                            31337,
                            p.pool.address,
                            &r,
                            s.status,
                            s.old_commitment,
                            s.new_commitment,
                            s.version,
                            s.notices_digest,
                            s.twap_wad,
                        );
                        let key = stolen_key(&p.tee).map_err(fail)?;
                        s.signature =
                            Bytes::from(key.sign_digest(&d).map_err(fail)?.as_bytes().to_vec());
                    } else {
                        s.signature = Bytes::from(vec![byte; 65]);
                    }
                    let refused = p.pool.fill(&p.chain, attacker, &s).await.is_err();
                    prop_assert!(refused, "a forged settlement was accepted");
                    bump(&reached.forged_refused);
                }
            }
            Op::Withdraw { maker, amount } => {
                let m = p.makers[maker].0;
                if let Ok(auth) = p.matcher.authorize_withdrawal(m, wbtc, u128::from(amount)) {
                    match p.pool.withdraw(&p.chain, m, &auth).await {
                        Ok(_) => {
                            p.matcher.confirm().map_err(fail)?;
                            bump(&reached.withdrawn);
                        }
                        Err(_) => p.matcher.abort(),
                    }
                }
            }
            Op::StolenWithdraw { amount } => {
                let (c, v) = p.pool.commitment(&p.chain).await.map_err(fail)?;
                let mut auth = shr_darkpool::WithdrawalAuth {
                    party: attacker,
                    token: wbtc,
                    amount: u128::from(amount),
                    old_commitment: c,
                    new_commitment: B256::repeat_byte(1),
                    version: v + 1,
                    forced: false,
                    proof: [U256::from(amount); 8],
                    signature: Bytes::new(),
                };
                // Signed with the stolen matcher key: only the proof stands in the way.
                let d = shr_darkpool::change_digest(31337, p.pool.address, &auth);
                let key = stolen_key(&p.tee).map_err(fail)?;
                auth.signature =
                    Bytes::from(key.sign_digest(&d).map_err(fail)?.as_bytes().to_vec());
                let stolen = p.pool.withdraw(&p.chain, attacker, &auth);
                prop_assert!(stolen.await.is_err(), "a forged withdrawal was accepted");
                bump(&reached.forged_refused);
            }
            Op::Expire => {
                if let Some((id, _)) = &last {
                    let _ = p.pool.expire(&p.chain, attacker, *id).await;
                }
            }
            Op::Advance { secs } => {
                p.chain.advance_time(u64::from(secs)).await.map_err(fail)?;
            }
            Op::Sync => {
                p.chain.mine().await.map_err(fail)?;
                p.chain.mine().await.map_err(fail)?;
                sync_deposits(&mut p.matcher, &p.chain).await.map_err(fail)?;
                absorb_all(&mut p.matcher, &p.chain, &p.pool, admin).await.map_err(fail)?;
            }
        }
        check(p, &mut statuses).await?;
    }
    Ok(())
}

#[test]
fn dark_pool_invariants_hold_under_random_call_sequences() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = tokio::sync::Mutex::new(rt.block_on(pool(false)).unwrap());
    let initial = p.blocking_lock().matcher.seal_state().unwrap();
    let cases = std::env::var("SHR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let reached = Reached::default();
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&vec(op(), 1..10), |ops| {
            rt.block_on(async {
                let mut p = p.lock().await;
                let snap = p.chain.snapshot().await.map_err(fail)?;
                let (wbtc, weth) = p.matcher.tokens();
                p.matcher =
                    MatcherEnclave::resume(&p.tee, wbtc, weth, 31337, &initial).map_err(fail)?;
                let out = run(&mut p, &ops, &reached).await;
                p.chain.revert_to(snap).await.map_err(fail)?;
                out
            })
        })
        .unwrap();
    assert!(
        reached.settled.get() > 0
            && reached.withdrawn.get() > 0
            && reached.forged_refused.get() > 0,
        "the sequences never reached a transition: {reached:?}"
    );
    eprintln!("dark-pool invariants over {cases} sequences: {reached:?}");
}
