//! The performance work of issue #18 changed how nodes sign and verify, not what they sign: a
//! replay of the shipped wBTC series gives the same `report` transactions, byte for byte, as
//! `main` before it (commit 573f24f, where the figure below was recorded by this same test).

use alloy::primitives::{B256, keccak256};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, RecordingChain};
use shr_enclave::SimulatedTee;
use shr_oracle::{Don, DonConfig, NodeInput, ReserveSeries, SeriesColumns};

/// keccak256 over every transaction the replay sent (deployment, `setConfig`, each
/// `KeystoneForwarder.report` with its raw report, context and f+1 signatures), each as
/// `to ‖ calldata ‖ tx hash`, recorded at commit 573f24f.
const BEFORE: &str = "0xb61fd8ca52b5a1669e190e3bbb7448ba73ee39f05e6db4360ad5a2b8e127ae4c";

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
    let mut bytes = Vec::new();
    for (req, receipt) in chain.sent() {
        bytes.extend_from_slice(req.to.map(|a| a.to_vec()).unwrap_or_default().as_slice());
        bytes.extend_from_slice(&req.data);
        bytes.extend_from_slice(receipt.map(|r| r.tx_hash).unwrap_or_default().as_slice());
        if std::env::var_os("SHR_DUMP_TXS").is_some() {
            eprintln!("tx {:?} {}", req.to, keccak256(&req.data));
        }
    }
    let got = keccak256(&bytes).to_string();
    eprintln!("{reports} reports, {} transactions, keccak {got}", chain.sent().len());
    assert!(reports > 50, "{reports} reports");
    assert_eq!(got, BEFORE, "the replay's transactions changed");
    Ok(())
}
