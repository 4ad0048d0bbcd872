//! The performance work of issue #18 changed how nodes sign and verify, not what they sign: a
//! replay of the shipped wBTC series gives the same `report` transactions, byte for byte, as
//! `main` before it (commit 573f24f; how the figure below ties to it is on [`REPORTS`]).

use alloy::primitives::{B256, keccak256};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, RecordingChain};
use shr_enclave::SimulatedTee;
use shr_oracle::{Don, DonConfig, NodeInput, ReserveSeries, SeriesColumns};

/// keccak256 over every `KeystoneForwarder.report` transaction the replay sent (its raw
/// report, context and f+1 signatures), each as `to ‖ calldata`. Recorded at the commit that
/// made `ReserveAttestation` refuse non-canonical bodies by name (issue #19), whose replay with
/// the receiver as it was sent every transaction (deployments and `setConfig` included, each as
/// `to ‖ calldata ‖ tx hash`) with keccak256
/// `0xb61fd8ca52b5a1669e190e3bbb7448ba73ee39f05e6db4360ad5a2b8e127ae4c`, the figure this test
/// recorded at 573f24f. Deployments carry the contracts' bytecode and transaction hashes the
/// gas limit, so only the reports themselves are compared across contract changes.
const REPORTS: &str = "0xa4c30ee0c68f16db3869936805937e438cbcf6e626115f438236a4a9c6b01b9f";

/// Readings replayed: the series' first 3,000 (2023-07-05 to 2023-09-09), through its real
/// 2023-07-05 dip (two state changes) 127 reports in all.
const READINGS: usize = 3_000;

#[tokio::test]
async fn a_replay_sends_the_same_reports_as_before_the_performance_work() -> eyre::Result<()> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv"
    );
    let series = ReserveSeries::from_path(p.as_ref(), &SeriesColumns::wbtc(), 8)?;
    let all_readings = series.window(None, None);
    let readings = &all_readings[..READINGS];
    let chain = RecordingChain::new(EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: readings[0].observed_at - 3_600,
        ..Default::default()
    }));
    // Fixed enclave keys: signatures are deterministic (RFC 6979), so they are compared too.
    let tee = SimulatedTee::from_seed(B256::repeat_byte(0x18));
    let owner = chain.accounts()[0];
    let mut don = Don::new(&tee, DonConfig::new("wbtc-por", owner, 8))?;
    let dep = don.deploy(&chain, owner).await?;
    let tx = chain.accounts()[1];
    let mut reports = 0;
    for r in readings {
        let r = *r;
        let rep = don.round(&chain, &dep, tx, r.observed_at, |_| NodeInput::Reading(r)).await?;
        reports += usize::from(rep.transmission.is_some());
    }
    let (mut all, mut report_txs) = (Vec::new(), Vec::new());
    for (req, receipt) in chain.sent() {
        let to = req.to.map(|a| a.to_vec()).unwrap_or_default();
        all.extend_from_slice(&to);
        all.extend_from_slice(&req.data);
        all.extend_from_slice(receipt.map(|r| r.tx_hash).unwrap_or_default().as_slice());
        if req.to == Some(dep.forwarder) {
            report_txs.extend_from_slice(&to);
            report_txs.extend_from_slice(&req.data);
        }
        if std::env::var_os("SHR_DUMP_TXS").is_some() {
            eprintln!("tx {:?} {}", req.to, keccak256(&req.data));
        }
    }
    let (got_all, got) = (keccak256(&all).to_string(), keccak256(&report_txs).to_string());
    eprintln!(
        "{reports} reports, {} transactions, keccak of all {got_all}, of the reports {got}",
        chain.sent().len()
    );
    assert!(reports > 50, "{reports} reports");
    assert_eq!(got, REPORTS, "the replay's report transactions changed");
    Ok(())
}
