//! Seed inputs for every target, made from the real bodies in `data/` (the Network Firm's
//! proof-of-reserve JSON, rows of the wBTC reserve series) and from real encodings (a Keystone
//! report and its signature, a sealed message, a feeds file, a deployment manifest), each in
//! its target's input layout.

use std::{io, path::Path};

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolValue,
};
use shr_darkpool::FILL_INFO;
use shr_enclave::{HpkePublicKey, seal};
use shr_oracle::{
    DeploymentManifest,
    report::{
        RawReport, ReportBody, WorkflowConfig, forwarder_signature, report_context, report_digest,
    },
};

const NETWORK_FIRM: &[u8] = include_bytes!("../../../data/por/the-network-firm.json");
const WBTC_SERIES: &str =
    include_str!("../../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv");

/// The feeds file of `shr-oracle`'s documentation.
const FEEDS: &str = r#"[[feed]]
name = "cbbtc"
source = "https://api.example/por"
headers = ["X-API-Key: {{secrets.cb_key}}"]
por_fields = ["reserves=/reservesTotal/amount", "supply=/wrappedAssetsTotal/amount", "time=/lastUpdatedAt"]
decimals = 8
schedule = "0 */5 * * * *"
threshold_bps = 10000
confirmations = 2
heartbeat = 86400
max_staleness = 10800

[[feed]]
name = "wbtc"
source = "csv:data/wbtc.csv"
confirmations = 1
"#;

fn with(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    [prefix, body].concat()
}

/// The seeds of target `name` (empty for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "custodian_json" => {
            let chainlink = br#"{"totalReserve":"154523.40213","totalToken":"154100.1","timestamp":"2024-05-01T00:00:00Z","ripcord":false}"#;
            vec![
                with(&[2, 8], NETWORK_FIRM),
                with(&[1, 8], chainlink),
                with(&[0, 8, b'r'], b"eserves=/totalReserve\nsupply=/totalToken\n\n{\"totalReserve\":1,\"totalToken\":\"2\",\"timestamp\":1700000000}"),
            ]
        }
        "series_csv" => {
            let lines: Vec<&str> = WBTC_SERIES.lines().collect();
            let head = lines[..40.min(lines.len())].join("\n");
            let mid =
                [&lines[..1], &lines[lines.len() / 2..lines.len() / 2 + 20]].concat().join("\n");
            vec![with(&[0, 8], head.as_bytes()), with(&[0, 8], mid.as_bytes())]
        }
        "sealed_open" => {
            let notice = br#"{"request_id":1,"maker":"0x0000000000000000000000000000000000000001","fill":"1","price_wad":"1"}"#;
            let key = &crate::sealed::enclave().identity().hpke;
            let sealed = seal(key, FILL_INFO, notice).expect("seal a seed");
            vec![with(&[0], &sealed.0), with(&[1], notice), vec![1]]
        }
        "keystone_report" => {
            let raw = raw_report();
            let ctx = report_context(B256::repeat_byte(7), 1);
            let signer = alloy::signers::local::PrivateKeySigner::from_bytes(&B256::repeat_byte(9))
                .expect("a key");
            let sig =
                alloy::signers::SignerSync::sign_hash_sync(&signer, &report_digest(&raw, &ctx))
                    .expect("sign");
            vec![
                raw.clone(),
                with(&raw, &forwarder_signature(&sig)),
                ReportBody::decode(&raw[109..]).map(|b| b.encode()).unwrap_or_default(),
            ]
        }
        "on_report" => {
            let body = (true, U256::from(1u64), U256::from(31337u64), Address::ZERO).abi_encode();
            vec![
                with(&[0], &body),
                vec![2, 1, 0, 0, 0, 60, 0, 0, 0],
                vec![2, 0, 0xff, 0xff, 0xff, 0xc4, 0, 0, 0],
                vec![2, 2, 0, 0, 0, 0, 0, 0, 0],
                with(&[1], &[&[0x42; 32][..], &[0; 32], &body].concat()),
            ]
        }
        "config_files" => vec![with(&[0], FEEDS.as_bytes()), with(&[1], &manifest())],
        _ => Vec::new(),
    }
}

fn raw_report() -> Vec<u8> {
    let body = ReportBody {
        is_solvent: true,
        observed_at: 1_700_000_000,
        chain_id: 31337,
        receiver: Address::repeat_byte(2),
    };
    RawReport {
        execution_id: B256::repeat_byte(1),
        timestamp: 1_700_000_001,
        workflow: WorkflowConfig::named("wbtc-por", Address::repeat_byte(6)),
        body: body.encode(),
    }
    .encode()
    .to_vec()
}

fn manifest() -> Vec<u8> {
    let m = DeploymentManifest {
        chain_id: 31337,
        forwarder: Address::repeat_byte(1),
        receiver: Address::repeat_byte(2),
        don_id: 1,
        config_version: 1,
        f: 1,
        signers: vec![Address::repeat_byte(3); 4],
        node_hpke_keys: vec![HpkePublicKey([4; 32]); 4],
        platform_root: Address::repeat_byte(5),
        workflow: "wbtc-por".into(),
        workflow_owner: Address::repeat_byte(6),
        workflow_id: WorkflowConfig::named("wbtc-por", Address::repeat_byte(6)).workflow_id,
        deployed_at_block: 9,
        feeds: vec![],
        vault: None,
        recovery: None,
    };
    serde_json::to_vec_pretty(&m).expect("a manifest serialises")
}

/// Writes every target's seeds into `dir/<target>/seed-<i>` (the corpus `cargo fuzz` starts
/// from); returns how many files it wrote.
///
/// # Errors
/// The file system's.
pub fn write_all(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for t in crate::TARGETS {
        let d = dir.join(t.name);
        std::fs::create_dir_all(&d)?;
        for (i, s) in seeds(t.name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s)?;
            n += 1;
        }
    }
    Ok(n)
}
