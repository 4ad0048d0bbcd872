//! `CREDarkPool` with the matcher enclave on the embedded chain: a proven settlement goes
//! through, and every refusal reverts with the pool's state unchanged: an unregistered enclave
//! key, a forged settlement (also signed with the stolen matcher key: the proof refuses it), a
//! fill after expiry, a double settlement, a withdrawal beyond balance or stretched, and
//! reentrancy.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolCall,
};
use shr_chain::{Chain, EmbeddedChain};
use shr_contracts::{
    Revert,
    bindings::{CREDarkPool::CREDarkPoolErrors as E, ReentrantToken, TestToken},
    deploy, send, view,
};
use shr_darkpool::{
    DarkPool, Error, MakerBody, MakerCommitment, MatchStatus, MatcherEnclave, Order, OrderBody,
    Registration, RequestRef, RequestStatus, Settlement, TwapBound, deploy_twap_oracle,
    onboard_maker, open_notice, seal_order, sync_deposits, update_twap_oracle,
};
use shr_enclave::{Enclave, SimulatedTee};

pub(crate) type R<T = ()> = eyre::Result<T>;

pub(crate) const TWAP: u128 = 158_000_000_000_000_000_000_000_000_000; // wei per sat, wad (~15.8 WETH/WBTC)

pub(crate) struct Pool<C = EmbeddedChain> {
    pub(crate) chain: C,
    pub(crate) tee: SimulatedTee,
    pub(crate) matcher: MatcherEnclave,
    pub(crate) pool: DarkPool,
    pub(crate) requester_key: Enclave,
    pub(crate) makers: Vec<(Address, Enclave)>,
    pub(crate) requester: Address,
    /// The sliding-window oracle fills are checked against (`Address::ZERO`: unchecked).
    pub(crate) twap_oracle: Address,
}

/// A pool with two makers (6 and 4 WBTC committed) and a requester pre-funded with 200 WETH;
/// `hostile`: the payment token is the reentrancy test's `ReentrantToken`.
pub(crate) async fn pool(hostile: bool) -> R<Pool> {
    pool_on(EmbeddedChain::new(), hostile).await
}

/// [`pool`] on any chain (the anvil runs of the exploited attacks).
pub(crate) async fn pool_on<C: Chain>(chain: C, hostile: bool) -> R<Pool<C>> {
    pool_with(chain, hostile, false).await
}

/// [`pool`] whose fills are checked against Uniswap's sliding-window oracle over a WBTC/WETH
/// V2 pair seeded at [`TWAP`] (100 WBTC, 1,580 WETH), updated once at deployment.
pub(crate) async fn priced_pool() -> R<Pool> {
    pool_with(EmbeddedChain::new(), false, true).await
}

async fn pool_with<C: Chain>(chain: C, hostile: bool, priced: bool) -> R<Pool<C>> {
    let a = chain.accounts().to_vec();
    let (admin, requester) = (a[0], a[1]);
    let tee = SimulatedTee::new();
    let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let weth = if hostile {
        deploy::deploy_code(&chain, admin, &ReentrantToken::BYTECODE).await?
    } else {
        deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?
    };
    let mut twap = TwapBound::DEV_UNCHECKED;
    if priced {
        let uni = deploy::UniswapV2::deploy(&chain, admin).await?;
        let (sats, wei) =
            (U256::from(100u128 * 10u128.pow(8)), U256::from(1_580u128 * 10u128.pow(18)));
        let deadline = chain.timestamp().await? + 3_600;
        uni.seed_pair(&chain, admin, (wbtc, sats), (weth, wei), deadline).await?;
        let oracle = deploy_twap_oracle(&chain, admin, uni.factory).await?;
        update_twap_oracle(&chain, admin, oracle, (wbtc, weth)).await?;
        twap = TwapBound::oracle(oracle);
    }
    let mut matcher = MatcherEnclave::launch(&tee, wbtc, weth, chain.chain_id().await?)?;
    let pool = DarkPool::deploy_for(&chain, admin, &tee, &mut matcher, twap).await?;
    let mut makers = Vec::new();
    for (i, size) in [(3usize, 600_000_000u128), (4, 400_000_000)] {
        let m = a[i];
        send(&chain, admin, wbtc, &TestToken::mintCall { to: m, amount: U256::from(size) }).await?;
        let key = Enclave::launch_instance(&tee, "maker-wallet", i as u32)?;
        let commitment = MakerCommitment {
            maker: m,
            size,
            min_fill: 0,
            spread_bps: 10 * i as u32,
            expiry: u64::MAX,
        };
        let signer = &shr_chain::dev_signers(5)[i];
        let body = MakerBody::from_wallet(commitment, &key, signer, (31337, pool.address))?;
        onboard_maker(&chain, &pool, &mut matcher, (admin, wbtc, size), &body).await?;
        makers.push((m, key));
    }
    let funding = U256::from(200u128 * 10u128.pow(18));
    // (`mint(address,uint256)` has the same selector on the hostile token, where it is open.)
    send(&chain, admin, weth, &TestToken::mintCall { to: requester, amount: funding }).await?;
    let requester_key = Enclave::launch(&tee, "shr-agent/key-store@test")?;
    pool.deposit(&chain, requester, weth, funding, &requester_key.identity().hpke).await?;
    // The matcher counts deposits from the pool's logs once they are final (2 blocks).
    chain.mine().await?;
    chain.mine().await?;
    assert_eq!(sync_deposits(&mut matcher, &chain).await?, 3);
    assert_eq!(absorb_all(&mut matcher, &chain, &pool, admin).await?, 3);
    Ok(Pool {
        chain,
        tee,
        matcher,
        pool,
        requester_key,
        makers,
        requester,
        twap_oracle: twap.oracle,
    })
}

/// Proves every admitted deposit into the tree (`absorbDeposit`), as the service does.
pub(crate) async fn absorb_all<C: Chain>(
    matcher: &mut MatcherEnclave,
    chain: &C,
    pool: &DarkPool,
    from: Address,
) -> R<usize> {
    let mut n = 0;
    while let Some(auth) = matcher.absorb_next()? {
        pool.absorb(chain, from, &auth).await?;
        matcher.confirm()?;
        n += 1;
    }
    Ok(n)
}

/// The registered matcher's signing key as anyone with the (simulated) platform derives it: the
/// "stolen matcher key" of the proofs' threat model.
pub(crate) fn stolen_key(tee: &SimulatedTee) -> R<Enclave> {
    Ok(Enclave::launch_instance(tee, shr_darkpool::MATCHER_PROGRAM, 0)?)
}

pub(crate) fn order(size: u128, now: u64) -> Order {
    Order {
        size,
        min_price_wad: 0,
        max_price_wad: u128::MAX,
        premium_bps: 50,
        min_fill: 0,
        deadline: now + 3_600,
    }
}

impl<C: Chain> Pool<C> {
    pub(crate) async fn rref(&self, id: u64) -> R<RequestRef> {
        Ok(self.pool.request_ref(&self.chain, id).await?)
    }

    pub(crate) async fn request(&self, size: u128, timeout: u64) -> R<(u64, shr_enclave::Sealed)> {
        let now = self.chain.timestamp().await?;
        let body = OrderBody {
            order: order(size, now),
            requester: self.requester,
            reply_to: self.requester_key.identity().hpke,
            mailbox: shr_darkpool::mailbox_secret(&self.requester_key)?,
            salt: shr_zk::OrderOpening::random_salt(),
        };
        let sealed = seal_order(&self.matcher.identity().hpke, &body)?;
        let (id, _) = self
            .pool
            .request(&self.chain, self.requester, (&sealed, body.order_hash()?), 50, timeout)
            .await?;
        Ok((id, sealed))
    }

    /// Everything a refused call must leave as it was.
    pub(crate) async fn state(&self, id: u64) -> R<(B256, u64, RequestStatus, U256)> {
        let (c, v) = self.pool.commitment(&self.chain).await?;
        let held = view(
            &self.chain,
            self.pool.collateral,
            &TestToken::balanceOfCall { account: self.pool.address },
        )
        .await?;
        Ok((c, v, self.pool.status(&self.chain, id).await?, held))
    }
}

pub(crate) fn pool_error(e: Error) -> E {
    match e {
        Error::Contract(c) => match c.revert() {
            Some(Revert::CREDarkPool(e)) => e.clone(),
            other => panic!("not a pool revert: {other:?} ({c})"),
        },
        other => panic!("not a contract error: {other}"),
    }
}

#[tokio::test]
async fn a_matched_request_settles_and_each_party_learns_only_its_own_fill() -> R {
    let mut p = pool(false).await?;
    let (id, sealed) = p.request(700_000_000, 3_600).await?;
    assert_eq!(p.pool.status(&p.chain, id).await?, RequestStatus::Pending);
    let now = p.chain.timestamp().await?;
    let (outcome, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    assert_eq!(outcome.status, MatchStatus::Filled);
    let s = s.expect("a settlement");
    let r = p.pool.fill(&p.chain, p.requester, &s).await?;
    p.matcher.confirm()?;
    assert_eq!(p.pool.status(&p.chain, id).await?, RequestStatus::Filled);
    assert_eq!(p.pool.commitment(&p.chain).await?, (s.new_commitment, s.version));
    println!("confidentialFill gas: {}", r.gas_used);
    // The makers' notices open with their own keys only, and say only their own fill.
    let (m3, k3) = &p.makers[0];
    let mine_key = shr_darkpool::mailbox_key(&shr_darkpool::mailbox_secret(k3)?, id);
    let mine = s.notices.iter().find(|(k, _)| *k == mine_key).unwrap();
    let n = open_notice(k3, &mine.1)?;
    assert_eq!((n.party, n.collateral), (*m3, 600_000_000));
    assert!(open_notice(&p.makers[1].1, &mine.1).is_err(), "another maker cannot read it");
    let req_key = shr_darkpool::mailbox_key(&shr_darkpool::mailbox_secret(&p.requester_key)?, id);
    let req = s.notices.iter().find(|(k, _)| *k == req_key).unwrap();
    assert!(s.notices.iter().all(|(k, _)| !k.to_string().contains(&format!("{:x}", p.requester))));
    let n = open_notice(&p.requester_key, &req.1)?;
    assert_eq!(n.collateral, 700_000_000);
    assert_eq!(p.matcher.balance(p.requester, p.pool.collateral), 700_000_000);
    Ok(())
}

#[tokio::test]
async fn an_unregistered_key_or_platform_or_measurement_is_refused() -> R {
    let mut p = pool(false).await?;
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let before = p.state(id).await?;
    // A second matcher on the same platform and program, never registered, signs a settlement.
    let mut rogue = MatcherEnclave::launch(&p.tee, p.pool.collateral, p.pool.payment, 31337)?;
    rogue.bind(p.pool.address);
    let now = p.chain.timestamp().await?;
    // (It knows nothing of the table; it still cannot get a settlement accepted.)
    let rogue_order = seal_order(
        &rogue.identity().hpke,
        &OrderBody {
            order: order(1, now),
            requester: p.requester,
            reply_to: p.requester_key.identity().hpke,
            mailbox: alloy::primitives::B256::ZERO,
            salt: B256::ZERO,
        },
    )?;
    let _ = rogue.settle(&p.rref(id).await?, &rogue_order, TWAP, now);
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    let mut s = s.unwrap();
    p.matcher.abort();
    let rogue_sig = rogue_sign(&p.tee, &s, &p.rref(id).await?, p.pool.address)?;
    s.signature = rogue_sig;
    let e = pool_error(p.pool.fill(&p.chain, p.requester, &s).await.unwrap_err());
    assert!(matches!(e, E::UnregisteredMatcher(_)), "{e:?}");
    assert_eq!(p.state(id).await?, before);
    // Registration is the owner's, with the platform root's quote naming the matcher
    // measurement and bound to this chain, this pool and an expiry.
    let admin = p.chain.accounts()[0];
    let expiry = p.chain.timestamp().await? + 600;
    let other_program = Enclave::launch(&p.tee, "not-the-matcher")?;
    let wrong = Registration::of(&other_program, &p.tee, (31337, p.pool.address), expiry)?;
    let e = pool_error(p.pool.register_matcher(&p.chain, admin, &wrong).await.unwrap_err());
    assert!(matches!(e, E::WrongMeasurement(_)), "{e:?}");
    let other_tee = SimulatedTee::new();
    let mut other_platform =
        MatcherEnclave::launch(&other_tee, p.pool.collateral, p.pool.payment, 31337)?;
    other_platform.bind(p.pool.address);
    let r = other_platform.registration(&other_tee, expiry)?;
    let e = pool_error(p.pool.register_matcher(&p.chain, admin, &r).await.unwrap_err());
    assert!(matches!(e, E::UntrustedPlatform(_)), "{e:?}");
    Ok(())
}

/// A validly shaped signature over `s` by an enclave the pool never registered.
fn rogue_sign(tee: &SimulatedTee, s: &Settlement, r: &RequestRef, pool: Address) -> R<Bytes> {
    let rogue = Enclave::launch(tee, shr_darkpool::MATCHER_PROGRAM)?;
    let d = shr_darkpool::settlement_digest(
        31337,
        pool,
        r,
        s.status,
        s.old_commitment,
        s.new_commitment,
        s.version,
        s.notices_digest,
        s.twap_wad,
    );
    Ok(Bytes::from(rogue.sign_digest(&d)?.as_bytes().to_vec()))
}

#[tokio::test]
async fn a_forged_settlement_is_refused() -> R {
    let mut p = pool(false).await?;
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let before = p.state(id).await?;
    let now = p.chain.timestamp().await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    p.matcher.abort();
    let mut forged = s.unwrap();
    forged.new_commitment = B256::repeat_byte(0x06); // a tree of the forger's choosing
    let e = pool_error(p.pool.fill(&p.chain, p.requester, &forged).await.unwrap_err());
    assert!(matches!(e, E::UnregisteredMatcher(_)), "{e:?}");
    let mut forged2 = forged.clone();
    forged2.signature = Bytes::from(vec![0u8; 65]);
    assert!(p.pool.fill(&p.chain, p.requester, &forged2).await.is_err());
    // The matcher key stolen: the forger signs its own root, and the proof refuses it.
    let key = stolen_key(&p.tee)?;
    let r = p.rref(id).await?;
    let d = |f: &Settlement| {
        shr_darkpool::settlement_digest(
            31337,
            p.pool.address,
            &r,
            f.status,
            f.old_commitment,
            f.new_commitment,
            f.version,
            f.notices_digest,
            f.twap_wad,
        )
    };
    forged.signature = Bytes::from(key.sign_digest(&d(&forged))?.as_bytes().to_vec());
    let e = pool_error(p.pool.fill(&p.chain, p.requester, &forged).await.unwrap_err());
    assert!(matches!(e, E::InvalidProof(_)), "{e:?}");
    assert_eq!(p.state(id).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_fill_after_expiry_is_refused_and_expire_refunds() -> R {
    let mut p = pool(false).await?;
    let (id, sealed) = p.request(100_000_000, 600).await?;
    let now = p.chain.timestamp().await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    let s = s.unwrap();
    p.chain.advance_time(601).await?;
    let before = p.state(id).await?;
    let e = pool_error(p.pool.fill(&p.chain, p.requester, &s).await.unwrap_err());
    assert!(matches!(e, E::Expired(_)), "{e:?}");
    p.matcher.abort();
    assert_eq!(p.state(id).await?, before);
    p.pool.expire(&p.chain, p.makers[0].0, id).await?;
    assert_eq!(p.pool.status(&p.chain, id).await?, RequestStatus::Expired);
    // The pre-funded payment was never moved: still the requester's to withdraw.
    assert_eq!(p.matcher.balance(p.requester, p.pool.payment), 200 * 10u128.pow(18));
    // Expire twice or before the deadline: refused.
    let e = pool_error(p.pool.expire(&p.chain, p.requester, id).await.unwrap_err());
    assert!(matches!(e, E::NotOpen(_)), "{e:?}");
    let (id2, _) = p.request(1, 600).await?;
    let e = pool_error(p.pool.expire(&p.chain, p.requester, id2).await.unwrap_err());
    assert!(matches!(e, E::NotExpired(_)), "{e:?}");
    Ok(())
}

#[tokio::test]
async fn a_double_settlement_is_refused() -> R {
    let mut p = pool(false).await?;
    let (id, sealed) = p.request(100_000_000, 3_600).await?;
    let now = p.chain.timestamp().await?;
    let (_, s) = p.matcher.settle(&p.rref(id).await?, &sealed, TWAP, now)?;
    let s = s.unwrap();
    p.pool.fill(&p.chain, p.requester, &s).await?;
    p.matcher.confirm()?;
    let before = p.state(id).await?;
    let e = pool_error(p.pool.fill(&p.chain, p.requester, &s).await.unwrap_err());
    assert!(matches!(e, E::NotOpen(_)), "{e:?}");
    // The same settlement replayed on another open request: the commitment moved on.
    let (id2, _) = p.request(100_000_000, 3_600).await?;
    let mut replay = s.clone();
    replay.request_id = id2;
    assert!(p.pool.fill(&p.chain, p.requester, &replay).await.is_err());
    assert_eq!(p.state(id).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_withdrawal_beyond_balance_is_refused() -> R {
    let mut p = pool(false).await?;
    let (m, _) = p.makers[0];
    let wbtc = p.pool.collateral;
    let e = p.matcher.authorize_withdrawal(m, wbtc, 600_000_001).unwrap_err();
    assert!(
        matches!(e, Error::InsufficientBalance { have: 600_000_000, want: 600_000_001, .. }),
        "{e}"
    );
    // A valid proven withdrawal of 1 WBTC cannot be stretched to 6.000001 WBTC or used by
    // another party, not even re-signed with the stolen matcher key: the proof refuses it.
    let auth = p.matcher.authorize_withdrawal(m, wbtc, 100_000_000)?;
    let before = p.state(0).await?;
    let key = stolen_key(&p.tee)?;
    let resign = |mut a: shr_darkpool::WithdrawalAuth| -> R<shr_darkpool::WithdrawalAuth> {
        let d = shr_darkpool::change_digest(31337, p.pool.address, &a);
        a.signature = Bytes::from(key.sign_digest(&d)?.as_bytes().to_vec());
        Ok(a)
    };
    let stretched = shr_darkpool::WithdrawalAuth { amount: 600_000_001, ..auth.clone() };
    let e = pool_error(p.pool.withdraw(&p.chain, m, &stretched).await.unwrap_err());
    assert!(matches!(e, E::UnregisteredMatcher(_)), "{e:?}");
    let e = pool_error(p.pool.withdraw(&p.chain, m, &resign(stretched)?).await.unwrap_err());
    assert!(matches!(e, E::InvalidProof(_)), "{e:?}");
    let other = shr_darkpool::WithdrawalAuth { party: p.makers[1].0, ..auth.clone() };
    let e = pool_error(p.pool.withdraw(&p.chain, m, &resign(other)?).await.unwrap_err());
    assert!(matches!(e, E::InvalidProof(_)), "{e:?}");
    let zeroed = shr_darkpool::WithdrawalAuth { proof: [U256::ZERO; 8], ..auth.clone() };
    let e = pool_error(p.pool.withdraw(&p.chain, m, &resign(zeroed)?).await.unwrap_err());
    assert!(matches!(e, E::InvalidProof(_)), "{e:?}");
    assert_eq!(p.state(0).await?, before);
    // The real one goes through, once; its amount is public from here.
    p.pool.withdraw(&p.chain, m, &auth).await?;
    p.matcher.confirm()?;
    assert_eq!(
        view(&p.chain, wbtc, &TestToken::balanceOfCall { account: m }).await?,
        U256::from(100_000_000u64)
    );
    let e = pool_error(p.pool.withdraw(&p.chain, m, &auth).await.unwrap_err());
    assert!(matches!(e, E::StaleCommitment(_)), "{e:?}");
    Ok(())
}

#[tokio::test]
async fn reentrancy_is_refused() -> R {
    let mut p = pool(true).await?;
    let token = p.pool.payment;
    let amount = 50u128 * 10u128.pow(18);
    let auth = p.matcher.authorize_withdrawal(p.requester, token, amount)?;
    // The hostile token re-enters withdraw with the same authorisation while paying out.
    let reenter = shr_contracts::bindings::CREDarkPool::withdrawCall {
        c: auth.call(),
        enclaveSignature: auth.signature.clone(),
    };
    send(
        &p.chain,
        p.requester,
        token,
        &ReentrantToken::armCall { target_: p.pool.address, payload_: reenter.abi_encode().into() },
    )
    .await?;
    let before = p.state(0).await?;
    let held = view(&p.chain, token, &TestToken::balanceOfCall { account: p.pool.address }).await?;
    let e = pool_error(p.pool.withdraw(&p.chain, p.requester, &auth).await.unwrap_err());
    assert!(matches!(e, E::ReentrancyGuardReentrantCall(_)), "{e:?}");
    p.matcher.abort();
    assert_eq!(p.state(0).await?, before);
    assert_eq!(
        view(&p.chain, token, &TestToken::balanceOfCall { account: p.pool.address }).await?,
        held
    );
    Ok(())
}
