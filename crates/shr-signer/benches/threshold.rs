//! The treasury's threshold ECDSA (DKLs23), 2-of-3: key generation among three parties, a
//! refresh, the signing protocol's compute alone, and the online signing latency the agent sees
//! (request, policy checks, three rounds, signature) over loopback NATS when a server answers at
//! `SHR_BENCH_NATS_URL` (default `nats://127.0.0.1:4222`), else over the in-process bus.

#![allow(missing_docs)]

use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::{SignableTransaction, TxEip1559},
    primitives::{Address, B256, Bytes, TxKind, U256, address},
    sol_types::SolCall,
};
use criterion::{Criterion, criterion_group, criterion_main};
use shr_enclave::{Enclave, SimulatedTee, TeePlatform};
use shr_signer::{
    Envelope, KeyShare, Ledger, Policy, Signing, ThresholdSigner,
    bus::{Bus, MemoryBus, NatsBus},
    ceremony::{self, Ceremony, Outcome},
    serve::{NoLedgerStore, Service},
    wire::{AgentMsg, PROGRAM, Wire, open_request, seal_request},
};

const TOKEN: Address = address!("0x00000000000000000000000000000000000000a1");
const ROUTER: Address = address!("0x00000000000000000000000000000000000000b2");

alloy::sol! {
    function approve(address spender, uint256 amount) external returns (bool);
}

fn enclaves(tee: &SimulatedTee) -> Vec<Arc<Enclave>> {
    (0..3).map(|_| Arc::new(Enclave::launch_sealed(tee, PROGRAM).expect("enclave").0)).collect()
}

async fn keygen(
    bus: Arc<dyn Bus>,
    tee: &SimulatedTee,
    e: &[Arc<Enclave>],
    group: &str,
) -> Vec<Outcome> {
    let runs: Vec<_> = e
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (bus, e, root, group) = (bus.clone(), e.clone(), tee.root(), group.to_string());
            tokio::spawn(async move {
                let c = Ceremony::Keygen { t: 2, n: 3, me: i as u8 + 1 };
                ceremony::run(&*bus, &e, root, &group, c, Duration::from_secs(60)).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for r in runs {
        out.push(r.await.expect("task").expect("keygen"));
    }
    out
}

async fn refresh(bus: Arc<dyn Bus>, tee: &SimulatedTee, e: &[Arc<Enclave>], keys: &[Outcome]) {
    let runs: Vec<_> = keys
        .iter()
        .zip(e)
        .map(|(k, e)| {
            let (bus, e, root) = (bus.clone(), e.clone(), tee.root());
            let c =
                Ceremony::Refresh { share: Box::new(k.share.clone()), roster: k.roster.clone() };
            tokio::spawn(async move {
                ceremony::run(&*bus, &e, root, "bench", c, Duration::from_secs(60)).await
            })
        })
        .collect();
    for r in runs {
        r.await.expect("task").expect("refresh");
    }
}

/// Signing by shares 1 and 3 as state machines, messages handed over in memory.
fn sign_compute(shares: &[&KeyShare], hash: B256, id: &[u8]) {
    let mut ss = Vec::new();
    let mut mail: Vec<Envelope> = Vec::new();
    for s in shares {
        let (x, out) = Signing::start(s, &[1, 3], id, hash).expect("start");
        ss.push(x);
        mail.extend(out);
    }
    let mut next = Vec::new();
    for x in &mut ss {
        next.extend(x.round2(&mail).expect("round 2"));
    }
    let mut last = Vec::new();
    for x in &mut ss {
        last.extend(x.round3(&next).expect("round 3"));
    }
    for x in ss {
        x.finish(&last).expect("signature");
    }
}

fn unsigned(nonce: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: 31_337,
        nonce,
        gas_limit: 60_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(TOKEN),
        input: approveCall { spender: ROUTER, amount: U256::from(1) }.abi_encode().into(),
        ..Default::default()
    };
    let mut b = Vec::new();
    tx.encode_for_signing(&mut b);
    b.into()
}

fn threshold(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let tee = SimulatedTee::from_seed(B256::repeat_byte(9));
    let e = enclaves(&tee);
    let memory: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let mut g = c.benchmark_group("threshold_2of3");
    g.sample_size(10);
    g.bench_function("keygen_in_process_bus", |b| {
        b.iter(|| rt.block_on(keygen(memory.clone(), &tee, &e, "bench")))
    });
    let keys = rt.block_on(keygen(memory.clone(), &tee, &e, "bench"));
    g.bench_function("refresh_in_process_bus", |b| {
        b.iter(|| rt.block_on(refresh(memory.clone(), &tee, &e, &keys)))
    });
    g.finish();

    let mut g = c.benchmark_group("threshold_2of3");
    let hash = B256::repeat_byte(5);
    let mut n = 0u64;
    g.bench_function("sign_compute_only", |b| {
        b.iter(|| {
            n += 1;
            sign_compute(&[&keys[0].share, &keys[2].share], hash, &n.to_be_bytes());
        })
    });

    // What an agent-signed, per-party-sealed request adds: seal to 3 parties, sign, and at
    // two parties verify and open.
    let agent0 = Enclave::launch_sealed(&tee, "shr-agent/key-store@0.1.0").expect("agent").0;
    let roster = keys[0].roster.clone();
    g.bench_function("request_seal_sign_open_2_parties", |b| {
        b.iter(|| {
            let id = B256::random();
            let sealed = seal_request(&id, &unsigned(1), &roster).expect("seal");
            let msg =
                AgentMsg::Request { request: id, sealed, context: "bench".into(), issued_at: 0 };
            let bytes = Wire::sign(&agent0, &msg).expect("sign");
            for (i, e) in e.iter().enumerate().take(2) {
                let (AgentMsg::Request { sealed, .. }, _) =
                    Wire::open_as::<AgentMsg>(&bytes).expect("open")
                else {
                    unreachable!()
                };
                open_request(&id, &sealed, i as u8 + 1, e).expect("open request");
            }
        })
    });

    // Online signing as the agent sees it: parties 1 and 2 serving, party 3 offline.
    let url = std::env::var("SHR_BENCH_NATS_URL").unwrap_or("nats://127.0.0.1:4222".into());
    let (bus, name): (Arc<dyn Bus>, &str) = match rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(2), NatsBus::connect(&url)).await
    }) {
        Ok(Ok(b)) => (Arc::new(b), "sign_online_loopback_nats"),
        _ => {
            eprintln!("no NATS at {url}: online signing over the in-process bus");
            (memory.clone(), "sign_online_in_process_bus")
        }
    };
    let group = format!("bench-{}", std::process::id());
    let keys = rt.block_on(keygen(bus.clone(), &tee, &e, &group));
    let agent =
        Arc::new(Enclave::launch_sealed(&tee, "shr-agent/key-store@0.1.0").expect("agent").0);
    let policy = Policy {
        chain_id: 31_337,
        agents: [agent.identity().signer].into(),
        daily_limits: [(Address::ZERO, U256::MAX), (TOKEN, U256::MAX)].into(),
        routers: [ROUTER].into(),
        ..Default::default()
    };
    for i in 0..2 {
        let s = Service {
            bus: bus.clone(),
            enclave: e[i].clone(),
            group: group.clone(),
            share: Arc::new(keys[i].share.clone()),
            roster: Arc::new(keys[i].roster.clone()),
            policy: policy.clone(),
            sign_timeout: Duration::from_secs(10),
        };
        rt.spawn(async move { s.run(Ledger::default(), &NoLedgerStore).await });
    }
    let (address, roster) = (keys[0].share.address, keys[0].roster.clone());
    let signer = ThresholdSigner::new(bus, &group, address, 2, roster, agent).expect("signer");
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
    let mut nonce = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            nonce += 1;
            rt.block_on(signer.sign_unsigned(unsigned(nonce), "bench")).expect("signature")
        })
    });
    g.finish();
}

criterion_group!(benches, threshold);
criterion_main!(benches);
