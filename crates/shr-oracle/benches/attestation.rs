//! One attestation round of the 4-node DON on the embedded chain: evaluation in each enclave,
//! signed observations, consensus, and (when due) f+1 report signatures and the `report`
//! transaction through the real `KeystoneForwarder`.

#![allow(missing_docs)]

use alloy::primitives::U256;
use criterion::{Criterion, criterion_group, criterion_main};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_enclave::SimulatedTee;
use shr_oracle::{Don, DonConfig, NodeInput, ReserveReading};

fn bench_round(c: &mut Criterion, name: &str, heartbeat: u64) {
    bench_round_of(c, name, heartbeat, 4);
}

fn bench_round_of(c: &mut Criterion, name: &str, heartbeat: u64, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_000,
        ..Default::default()
    });
    let mut cfg = DonConfig::new("wbtc-por", chain.accounts()[0], 8);
    cfg.policy.heartbeat = heartbeat;
    cfg.n = n;
    cfg.f = (n - 1) / 3;
    let mut don = Don::new(&SimulatedTee::new(), cfg).expect("don");
    let dep = rt.block_on(don.deploy(&chain, chain.accounts()[0])).expect("deploy");
    let tx = chain.accounts()[1];
    let mut t = 2_000u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            t += 60;
            let r = ReserveReading {
                observed_at: t,
                reserves: U256::from(15_000_000_000_000u64),
                supply: U256::from(15_000_000_000_000u64),
                ripcord: false,
            };
            rt.block_on(don.round(&chain, &dep, tx, t, |_| NodeInput::Reading(r))).expect("round")
        })
    });
}

fn attestation(c: &mut Criterion) {
    bench_round(c, "attestation/round_4_nodes_no_transmission", 86_400 * 365 * 100);
    bench_round(c, "attestation/round_4_nodes_with_report_tx", 0);
    // The round versus DON size, f = (n - 1) / 3: n observations signed, 2f + 1 recovered.
    for n in [4usize, 7, 10, 16] {
        bench_round_of(c, &format!("attestation/round versus nodes/{n}"), 86_400 * 365 * 100, n);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = attestation
}
criterion_main!(benches);
