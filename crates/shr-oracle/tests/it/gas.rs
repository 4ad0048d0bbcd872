//! Gas of a `report` transaction through the real forwarder: our `ReserveAttestation` against
//! a baseline receiver that only stores the boolean, for the same signed reports.

use alloy::{primitives::U256, sol_types::SolCall};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, RecordingChain};
use shr_contracts::{
    bindings::{GasBaselineReceiver, KeystoneForwarder},
    deploy, send,
};
use shr_enclave::SimulatedTee;
use shr_oracle::{Don, DonConfig, NodeInput, ReserveReading};

#[tokio::test]
async fn steady_state_report_costs_within_10k_gas_of_a_minimal_receiver() -> eyre::Result<()> {
    let chain = RecordingChain::new(EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_000,
        ..Default::default()
    }));
    let mut cfg = DonConfig::new("wbtc-por", chain.accounts()[0], 8);
    cfg.policy.heartbeat = 0; // every round transmits
    let mut don = Don::new(&SimulatedTee::new(), cfg)?;
    let dep = don.deploy(&chain, chain.accounts()[0]).await?;
    let mut ours = Vec::new();
    for i in 0..4u64 {
        let r = ReserveReading {
            observed_at: 2_000 + i * 3_600,
            reserves: U256::from(100),
            supply: U256::from(100),
            ripcord: false,
        };
        let rep = don
            .round(&chain, &dep, chain.accounts()[1], r.observed_at, |_| NodeInput::Reading(r))
            .await?;
        ours.push(rep.transmission.expect("heartbeat 0 transmits every round").gas_used);
    }
    let baseline_receiver =
        deploy::deploy_code(&chain, chain.accounts()[0], &GasBaselineReceiver::BYTECODE).await?;
    let mut baseline = Vec::new();
    for (tx, _) in chain.sent().into_iter().filter(|(tx, r)| {
        r.is_some() && tx.data.starts_with(&KeystoneForwarder::reportCall::SELECTOR)
    }) {
        let mut c = KeystoneForwarder::reportCall::abi_decode(&tx.data)?;
        c.receiver = baseline_receiver;
        baseline.push(send(&chain, chain.accounts()[2], dep.forwarder, &c).await?.gas_used);
    }
    let (steady_ours, steady_base) = (ours[3], baseline[3]);
    eprintln!("report gas: ours {ours:?}, baseline {baseline:?}");
    assert!(steady_ours <= steady_base + 10_000, "ours {steady_ours} vs baseline {steady_base}");
    Ok(())
}
