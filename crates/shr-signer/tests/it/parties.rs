use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::{SignableTransaction, TxEip1559},
    network::TxSigner,
    primitives::{Address, B256, Bytes, TxKind, U256, address},
    sol_types::SolCall,
};
use shr_enclave::{Enclave, SimulatedTee, TeePlatform};
use shr_signer::{
    Error, Ledger, Policy, ThresholdSigner,
    bus::{Bus, MemoryBus},
    ceremony::{self, Ceremony, Outcome},
    serve::{NoLedgerStore, Service},
    wire::{PROGRAM, Wire},
};

const GROUP: &str = "test-treasury";
const TOKEN: Address = address!("0x00000000000000000000000000000000000000a1");
const ROUTER: Address = address!("0x00000000000000000000000000000000000000b2");

alloy::sol! {
    function approve(address spender, uint256 amount) external returns (bool);
}

struct Parties {
    tee: SimulatedTee,
    enclaves: Vec<Arc<Enclave>>,
    agent: Arc<Enclave>,
}

fn parties(n: u8) -> Parties {
    let tee = SimulatedTee::from_seed(B256::repeat_byte(7));
    let enclaves =
        (0..n).map(|_| Arc::new(Enclave::launch_sealed(&tee, PROGRAM).unwrap().0)).collect();
    let agent = Arc::new(Enclave::launch_sealed(&tee, "shr-agent/key-store@0.1.0").unwrap().0);
    Parties { tee, enclaves, agent }
}

async fn keygen(bus: &MemoryBus, p: &Parties, t: u8) -> Vec<Outcome> {
    let n = p.enclaves.len() as u8;
    // Every message fits NATS's default 1 MiB payload limit.
    let bus = bus.intercepted(Arc::new(|subject: &str, m: &mut Vec<u8>| {
        assert!(m.len() < 1 << 20, "{subject}: {} bytes", m.len());
        true
    }));
    let runs = p.enclaves.iter().enumerate().map(|(i, e)| {
        let (bus, e, root) = (bus.clone(), e.clone(), p.tee.root());
        tokio::spawn(async move {
            let c = Ceremony::Keygen { t, n, me: i as u8 + 1 };
            ceremony::run(&bus, &e, root, GROUP, c, Duration::from_secs(20)).await
        })
    });
    let mut out = Vec::new();
    for r in runs.collect::<Vec<_>>() {
        out.push(r.await.unwrap().unwrap());
    }
    out
}

fn policy(p: &Parties) -> Policy {
    Policy {
        agents: [p.agent.identity().signer].into(),
        chain_id: 31_337,
        daily_limits: [(Address::ZERO, U256::from(10u128.pow(18))), (TOKEN, U256::from(1000))]
            .into(),
        routers: [ROUTER].into(),
        ..Default::default()
    }
}

/// Serves party `i` (0-based) of `keys` on `bus` in the background.
fn serve(bus: Arc<dyn Bus>, p: &Parties, keys: &[Outcome], i: usize, policy: Policy) {
    let s = Service {
        bus,
        enclave: p.enclaves[i].clone(),
        group: GROUP.into(),
        share: Arc::new(keys[i].share.clone()),
        roster: Arc::new(keys[i].roster.clone()),
        policy,
        sign_timeout: Duration::from_secs(3),
    };
    tokio::spawn(async move { s.run(Ledger::default(), &NoLedgerStore).await });
}

fn approve(amount: u64, spender: Address) -> TxEip1559 {
    TxEip1559 {
        chain_id: 31_337,
        nonce: 3,
        gas_limit: 60_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(TOKEN),
        input: Bytes::from(approveCall { spender, amount: U256::from(amount) }.abi_encode()),
        ..Default::default()
    }
}

fn client(bus: Arc<dyn Bus>, p: &Parties, keys: &[Outcome]) -> ThresholdSigner {
    let (address, t, roster) = (keys[0].share.address, keys[0].t, keys[0].roster.clone());
    let mut c = ThresholdSigner::new(bus, GROUP, address, t, roster, p.agent.clone()).unwrap();
    c.ready_timeout = Duration::from_secs(2);
    c
}

async fn sign(c: &ThresholdSigner, mut tx: TxEip1559) -> alloy::signers::Result<B256> {
    let sig = c.sign_transaction(&mut tx).await?;
    let signed = tx.into_signed(sig);
    let from = signed.signature().recover_address_from_prehash(&signed.signature_hash());
    assert_eq!(from.unwrap(), c.address(), "recovers to the treasury");
    Ok(*signed.hash())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parties_generate_a_key_and_any_two_sign() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    let addr = keys[0].share.address;
    assert!(keys.iter().all(|k| k.share.address == addr && k.roster == keys[0].roster));
    assert_eq!(keys[0].roster.len(), 3);

    // Party 3 offline: 1 and 2 sign.
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    serve(shared.clone(), &p, &keys, 0, policy(&p));
    serve(shared.clone(), &p, &keys, 1, policy(&p));
    let c = client(shared.clone(), &p, &keys);
    sign(&c, approve(500, ROUTER)).await.expect("two of three sign");

    // A policy-violating transaction (approving a spender not on the list) is refused, named.
    let e = sign(&c, approve(1, Address::repeat_byte(0xee))).await.unwrap_err().to_string();
    assert!(e.contains("refused") && e.contains("spender"), "{e}");
    // A transaction for another chain is refused too.
    let mut wrong = approve(1, ROUTER);
    wrong.chain_id = 1;
    let e = sign(&c, wrong).await.unwrap_err().to_string();
    assert!(e.contains("chain id 1"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_threshold_the_treasury_cannot_sign_and_says_who_is_missing() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    serve(shared.clone(), &p, &keys, 1, policy(&p));
    let e = client(shared, &p, &keys).sign_unsigned(unsigned(approve(1, ROUTER)), "test").await;
    match e {
        Err(Error::BelowThreshold { ready, t: 2, missing }) => {
            assert_eq!((ready, missing), (vec![2], vec![1, 3]));
        }
        other => panic!("{other:?}"),
    }
}

/// The signed message `m` with one bit of its body's last byte (inside the protocol payload)
/// flipped: still a well-formed message of the same party, only the signature can tell.
fn tamper(m: &[u8]) -> Vec<u8> {
    let mut w: Wire = ciborium::from_reader(m).unwrap();
    let mut body = w.body.to_vec();
    *body.last_mut().unwrap() ^= 1;
    w.body = body.into();
    let mut out = Vec::new();
    ciborium::into_writer(&w, &mut out).unwrap();
    out
}

/// An error with its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(x) = cur {
        s += &format!(": {x}");
        cur = x.source();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_by_a_key_the_policy_does_not_name_gets_no_answer() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    for i in 0..3 {
        serve(shared.clone(), &p, &keys, i, policy(&p));
    }
    let stranger = Arc::new(Enclave::launch_sealed(&p.tee, "shr-agent/key-store@0.1.0").unwrap().0);
    let (address, roster) = (keys[0].share.address, keys[0].roster.clone());
    let mut c = ThresholdSigner::new(shared, GROUP, address, 2, roster, stranger).unwrap();
    c.ready_timeout = Duration::from_secs(2);
    match c.sign_unsigned(unsigned(approve(1, ROUTER)), "test").await {
        Err(Error::BelowThreshold { ready, .. }) => assert!(ready.is_empty()),
        other => panic!("{other:?}"),
    }
}

/// A bus on which every signing message of one party arrives twice (a replay by anyone who
/// listens).
#[derive(Debug)]
struct Twice(MemoryBus);

#[async_trait::async_trait]
impl Bus for Twice {
    async fn publish(&self, subject: String, payload: Vec<u8>) -> shr_signer::Result<()> {
        if subject.contains(".sign.") {
            self.0.publish(subject.clone(), payload.clone()).await?;
        }
        self.0.publish(subject, payload).await
    }

    async fn subscribe(&self, subject: String) -> shr_signer::Result<shr_signer::bus::Inbox> {
        self.0.subscribe(subject).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_protocol_message_is_ignored_and_the_signature_comes() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    serve(shared.clone(), &p, &keys, 0, policy(&p));
    serve(Arc::new(Twice(bus.clone())), &p, &keys, 1, policy(&p));
    sign(&client(shared, &p, &keys), approve(3, ROUTER)).await.expect("signed despite replays");
}

fn unsigned(tx: TxEip1559) -> Bytes {
    let mut b = Vec::new();
    tx.encode_for_signing(&mut b);
    b.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_protocol_message_is_caught_and_names_the_party() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    // Party 2's outgoing signing messages get one bit of their payload flipped in flight.
    let flip: Arc<dyn Bus> =
        Arc::new(bus.intercepted(Arc::new(|subject: &str, m: &mut Vec<u8>| {
            if subject.contains(".sign.") {
                *m = tamper(m);
            }
            true
        })));
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    serve(shared.clone(), &p, &keys, 0, policy(&p));
    serve(flip, &p, &keys, 1, policy(&p));
    let e = client(shared, &p, &keys).sign_unsigned(unsigned(approve(1, ROUTER)), "test").await;
    let e = chain(&e.unwrap_err());
    assert!(e.contains("party 2") && e.contains("does not verify"), "{e}");
    assert!(e.contains("may exist"), "a failure after the start may have a signature: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_over_the_bus_keeps_the_address_and_the_new_shares_sign() {
    let bus = MemoryBus::new();
    let p = parties(3);
    let keys = keygen(&bus, &p, 2).await;
    let addr = keys[0].share.address;
    let runs: Vec<_> = keys
        .iter()
        .zip(&p.enclaves)
        .map(|(k, e)| {
            let (bus, e, root) = (bus.clone(), e.clone(), p.tee.root());
            let c =
                Ceremony::Refresh { share: Box::new(k.share.clone()), roster: k.roster.clone() };
            tokio::spawn(async move {
                ceremony::run(&bus, &e, root, GROUP, c, Duration::from_secs(20)).await
            })
        })
        .collect();
    let mut new = Vec::new();
    for r in runs {
        new.push(r.await.unwrap().unwrap());
    }
    assert!(new.iter().all(|k| k.share.address == addr));
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    serve(shared.clone(), &p, &new, 0, policy(&p));
    serve(shared.clone(), &p, &new, 2, policy(&p));
    sign(&client(shared, &p, &new), approve(7, ROUTER)).await.expect("new shares 1 and 3 sign");
}

#[tokio::test]
async fn a_party_on_another_platform_is_refused_at_key_generation() {
    let bus = MemoryBus::new();
    let p = parties(2);
    let other = SimulatedTee::from_seed(B256::repeat_byte(8));
    let stranger = Enclave::launch_sealed(&other, PROGRAM).unwrap().0;
    let (b2, root) = (bus.clone(), p.tee.root());
    let honest = tokio::spawn(async move {
        ceremony::run(
            &b2,
            &p.enclaves[0],
            root,
            GROUP,
            Ceremony::Keygen { t: 2, n: 2, me: 1 },
            Duration::from_secs(5),
        )
        .await
    });
    // The stranger trusts the parties' platform, but its own quote comes from another one.
    let c = Ceremony::Keygen { t: 2, n: 2, me: 2 };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        ceremony::run(&bus, &stranger, root, GROUP, c, Duration::from_secs(1)),
    )
    .await;
    let e = honest.await.unwrap().unwrap_err().to_string();
    assert!(e.contains("party 2") && e.contains("quote"), "{e}");
}
