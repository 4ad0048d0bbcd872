//! The treasury key split across three `shr signer` processes over NATS: key generation (one
//! address at every party), a refresh that keeps it (and an old share that no longer signs with
//! a new one), then the small-deficit heal on anvil paid by the threshold treasury with one
//! party offline; a policy-violating payment stopped by the parties; below the threshold the
//! agent cannot pay and nothing is sent.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use alloy::primitives::{Address, B256, Bytes, U256};
use serde_json::Value;
use shr_agent::world::{World, WorldConfig};
use shr_chain::{Chain, RpcChain, RpcConfig, TxRequest};
use shr_contracts::{anvil::Anvil, bindings::TestToken, send, view};

use crate::don_harness::{free_port, start_nats};

const TEE: &str = "0x7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e";

struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn shr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shr"));
    c.env("RUST_LOG", "info").env_remove("SHR_RPC_URL").env_remove("SHR_NATS_URL");
    c
}

fn party_dir(root: &Path, i: u8) -> PathBuf {
    root.join(format!("party{i}"))
}

/// Runs `shr signer <cmd>` at every party at once; their JSON lines.
fn ceremony(cmd: &str, root: &Path, nats: &str, parties: &[u8]) -> Vec<Value> {
    let children: Vec<_> = parties
        .iter()
        .map(|&i| {
            shr()
                .args(["signer", cmd, "--party", &i.to_string(), "--nats", nats, "--tee-seed", TEE])
                .args(["--group", "it-treasury", "--timeout-secs", "60", "--dir"])
                .arg(party_dir(root, i))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("shr runs")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "signer {cmd}: {err}");
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"))
        })
        .collect()
}

fn run_parties(root: &Path, nats: &str, parties: &[u8], policy: &Path) -> Kill {
    Kill(
        parties
            .iter()
            .map(|&i| {
                let log = std::fs::File::create(root.join(format!("run{i}.log"))).unwrap();
                shr()
                    .args(["signer", "run", "--party", &i.to_string(), "--nats", nats])
                    .args(["--tee-seed", TEE, "--group", "it-treasury", "--dir"])
                    .arg(party_dir(root, i))
                    .arg("--policy")
                    .arg(policy)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("shr runs")
            })
            .collect(),
    )
}

/// Waits until every running party logged that it serves.
fn wait_serving(root: &Path, parties: &[u8]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for i in parties {
        let log = root.join(format!("run{i}.log"));
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("serving signing requests")
        {
            assert!(std::time::Instant::now() < deadline, "party {i}: {log:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn agent(url: &str, w: &World<RpcChain>, db: &str, group: &Path, nats: &str) -> (i32, String) {
    let path = format!("{},{}", w.weth, w.wbtc);
    let signers = w.cfg.don.signers.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let out = shr()
        .args(["--rpc-url", url, "agent", "run", "--receiver", &w.dep.receiver.to_string()])
        .args(["--router", &w.uni.router.to_string(), "--path", &path])
        .args(["--vault", &w.cfg.vault.to_string(), "--price-usd", "62000", "--db", db])
        .args(["--confirmations", "0", "--don-signers", &signers])
        .args(["--don-f", &w.cfg.don.f.to_string(), "--once", "--json", "--execute"])
        .arg("--treasury")
        .arg(format!("threshold:{}", group.display()))
        .args(["--nats", nats])
        .output()
        .expect("shr runs");
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), all)
}

/// Parties 1 (old share) and 2 (new share) asked directly for an approval: the error chain.
async fn old_and_new_sign(w: &World<RpcChain>, group: &Path, nats: &str) -> Result<(), String> {
    use alloy::{
        consensus::{SignableTransaction, TxEip1559},
        primitives::TxKind,
        sol_types::SolCall,
    };
    let g: shr_signer::store::Group =
        serde_json::from_slice(&std::fs::read(group).unwrap()).unwrap();
    let bus = std::sync::Arc::new(shr_signer::bus::NatsBus::connect(nats).await.unwrap());
    let tee = shr_enclave::SimulatedTee::from_seed(B256::repeat_byte(0x5e));
    let agent =
        shr_enclave::Enclave::launch_instance(&tee, "shr-agent/key-store@0.1.0", 0).unwrap();
    let signer = shr_signer::ThresholdSigner::new(
        bus,
        &g.group,
        g.address,
        g.threshold,
        g.roster,
        std::sync::Arc::new(agent),
    )
    .unwrap();
    let approve = TestToken::approveCall { spender: w.uni.router, value: U256::from(1) };
    let tx = TxEip1559 {
        chain_id: 31_337,
        gas_limit: 60_000,
        max_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(w.weth),
        input: approve.abi_encode().into(),
        ..Default::default()
    };
    let mut unsigned = Vec::new();
    tx.encode_for_signing(&mut unsigned);
    signer.sign_unsigned(unsigned.into(), "test").await.map(|_| ()).map_err(|e| {
        let mut s = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(x) = cur {
            s += &format!(": {x}");
            cur = x.source();
        }
        s
    })
}

fn write_policy(root: &Path, name: &str, w: &World<RpcChain>, weth_limit: U256) -> PathBuf {
    let policy = serde_json::json!({
        "chainId": 31337,
        "dailyLimits": {
            Address::ZERO.to_string(): (U256::from(10u128.pow(18))).to_string(),
            w.weth.to_string(): weth_limit.to_string(),
        },
        "routers": [w.uni.router],
        "spenders": [],
        "recipients": [w.cfg.vault],
        "swapPaths": [[w.weth, w.wbtc]],
        "agents": [w.key.identity().signer],
    });
    let path = root.join(name);
    std::fs::write(&path, policy.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_signer_processes_pay_the_small_deficit_heal_on_anvil() -> eyre::Result<()> {
    let root = std::env::temp_dir().join(format!("shr-signer-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let port = free_port();
    let _nats = Kill(vec![start_nats(port, &root.join("js"), &root.join("nats.log"))]);
    let nats = format!("nats://127.0.0.1:{port}");

    // Key generation among three processes: one address, printed by every party.
    let lines = ceremony("keygen", &root, &nats, &[1, 2, 3]);
    let address = lines[0]["address"].as_str().unwrap().to_string();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["address"], address.as_str());
        assert_eq!(
            (l["party"].as_u64(), l["threshold"].as_u64(), l["parties"].as_u64()),
            (Some(i as u64 + 1), Some(2), Some(3))
        );
    }
    let treasury: Address = address.parse()?;
    for i in 1..=3 {
        let files: Vec<_> = std::fs::read_dir(party_dir(&root, i))?
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(files.contains(&"share.sealed".to_string()), "{files:?}");
    }

    // Refresh: the same address; party 1's pre-refresh share is kept aside.
    let old_share = std::fs::read(party_dir(&root, 1).join("share.sealed"))?;
    let lines = ceremony("refresh", &root, &nats, &[1, 2, 3]);
    assert!(lines.iter().all(|l| l["address"] == address.as_str() && l["refreshed"] == true));
    assert_ne!(std::fs::read(party_dir(&root, 1).join("share.sealed"))?, old_share);

    // A world on anvil whose treasury is the threshold address.
    let anvil = Anvil::spawn()?;
    let mut rpc = RpcConfig::new(anvil.url());
    rpc.poll_interval = Some(Duration::from_millis(5));
    let db = format!("sqlite:{}", root.join("agent.db").display());
    let wc = WorldConfig {
        tee_seed: B256::repeat_byte(0x5e),
        agent_program: "shr-agent/key-store@0.1.0".into(),
        db_url: db.clone(),
        price_usd_e8: 62_000 * 100_000_000,
    };
    let deficit = U256::from(20_000_000u64);
    let w = World::insolvent(RpcChain::connect(rpc).await?, &wc, deficit).await?;
    let admin = w.chain.accounts()[0];
    let weth = U256::from(100u128 * 10u128.pow(18));
    send(&w.chain, admin, w.weth, &TestToken::mintCall { to: treasury, amount: weth }).await?;
    let gas = U256::from(10u128.pow(18));
    w.chain.send(TxRequest::call(admin, treasury, Bytes::new()).with_value(gas)).await?;
    let group = party_dir(&root, 1).join("group.json");
    let vault_before = w.balances().await?.0;

    // The parties' policy caps WETH at 1 wei a day: they refuse, the agent pays nothing.
    let strict = write_policy(&root, "strict.json", &w, U256::from(1));
    let parties = run_parties(&root, &nats, &[1, 2, 3], &strict);
    wait_serving(&root, &[1, 2, 3]);
    let (code, out) = agent(&anvil.url(), &w, &db, &group, &nats);
    assert!(out.contains("refused to sign") && out.contains("daily limit"), "{code}: {out}");
    assert_eq!(w.balances().await?.0, vault_before, "nothing paid");
    drop(parties);

    // Party 1 back on its pre-refresh share, with the fresh share of party 2: no signature.
    let fresh = std::fs::read(party_dir(&root, 1).join("share.sealed"))?;
    std::fs::write(party_dir(&root, 1).join("share.sealed"), &old_share)?;
    let policy = write_policy(&root, "policy.json", &w, weth);
    let parties = run_parties(&root, &nats, &[1, 2], &policy);
    wait_serving(&root, &[1, 2]);
    let e = old_and_new_sign(&w, &group, &nats).await.expect_err("no signature");
    assert!(e.contains("may exist"), "a failed session may still have a signature: {e}");
    drop(parties);
    std::fs::write(party_dir(&root, 1).join("share.sealed"), &fresh)?;

    // One party alone is below the threshold: the agent cannot pay and says so.
    let parties = run_parties(&root, &nats, &[2], &policy);
    wait_serving(&root, &[2]);
    let (code, out) = agent(&anvil.url(), &w, &db, &group, &nats);
    assert!(out.contains("cannot sign") && out.contains("[1, 3]"), "{code}: {out}");
    assert_eq!(w.balances().await?.0, vault_before, "nothing paid");
    drop(parties);

    // Parties 1 and 3 (party 2 offline) sign the heal: approve and swap, mined on anvil.
    let _parties = run_parties(&root, &nats, &[1, 3], &policy);
    wait_serving(&root, &[1, 3]);
    let (code, out) = agent(&anvil.url(), &w, &db, &group, &nats);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(r#""status":"swap_confirmed""#), "{out}");
    let bought = w.balances().await?.0 - vault_before;
    assert!(bought >= deficit, "{bought}");
    let left = view(&w.chain, w.weth, &TestToken::balanceOfCall { account: treasury }).await?;
    assert!(left < weth, "the threshold treasury paid");
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
