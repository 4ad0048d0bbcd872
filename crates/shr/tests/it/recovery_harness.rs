//! The harness of the recovery-as-a-service test (`recovery_service`): an HTTP custodian
//! with an alert webhook, the `shr` processes it starts and the chain reads it measures with.
use std::{
    collections::BTreeMap,
    fs::File,
    path::PathBuf,
    process::{Child, Command},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, U256};
use serde_json::Value;
use shr_chain::{Chain, RpcChain};
use shr_contracts::bindings::TestToken;

use super::don_harness::unix;

/// Seconds between DON rounds.
pub(crate) const PERIOD: u64 = 2;
/// Supply, sats (150,000 BTC).
pub(crate) const SUPPLY: u64 = 15_000_000_000_000;
pub(crate) const BTC: u64 = 100_000_000;
/// The real WBTC/WETH V2 pair at block 17,600,000.
pub(crate) const POOL_WBTC: u64 = 16_231_137_593;
pub(crate) const POOL_WETH: u128 = 2_571_336_301_536_722_443_178;
pub(crate) const WETH: u128 = 1_000_000_000_000_000_000;

#[derive(Debug, Default)]
pub(crate) struct Custodian {
    /// Reserves the custodian reports, sats (the vault and the pool are counted by the nodes).
    pub(crate) reserves: u64,
    /// Alert bodies the webhook received.
    pub(crate) alerts: Vec<Value>,
}

pub(crate) fn serve(rt: &tokio::runtime::Runtime, state: Arc<Mutex<Custodian>>) -> String {
    use axum::{Json, Router, routing::get, routing::post};
    let alerts = state.clone();
    let app = Router::new()
        .route(
            "/por",
            get(move || {
                let state = state.clone();
                async move {
                    let r = state.lock().unwrap().reserves;
                    Json(serde_json::json!({
                        "totalReserve": format!("{}.{:08}", r / BTC, r % BTC),
                        "totalToken": format!("{}.{:08}", SUPPLY / BTC, SUPPLY % BTC),
                        "timestamp": unix() / PERIOD * PERIOD,
                    }))
                }
            }),
        )
        .route(
            "/alert",
            post(move |Json(v): Json<Value>| {
                let state = alerts.clone();
                async move {
                    state.lock().unwrap().alerts.push(v);
                    "ok"
                }
            }),
        );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Runs `shr` to completion with `env`; returns stdout.
pub(crate) fn shr(rpc: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(args)
        .args(["--rpc-url", rpc])
        .env("RUST_LOG", "warn")
        .env_remove("SHR_TEE_SEED")
        .env_remove("DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .output()
        .expect("shr runs");
    assert!(
        out.status.success(),
        "shr {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn lines(out: &str) -> Vec<Value> {
    out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub(crate) fn key_hex(i: u32) -> String {
    shr_chain::dev_signers(i + 1).pop().unwrap().to_bytes().to_string()
}

pub(crate) struct Services {
    pub(crate) rpc: String,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: String,
    pub(crate) mailbox: String,
    pub(crate) router: String,
    pub(crate) path: String,
    pub(crate) webhook: String,
}

impl Services {
    pub(crate) fn spawn(&self, args: &[&str], env: &[(&str, String)], log: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_shr"))
            .args(args)
            .args(["--rpc-url", &self.rpc, "--log-json"])
            .env("RUST_LOG", "info")
            .env_remove("SHR_TEE_SEED")
            .env_remove("DATABASE_URL")
            .envs(env.iter().map(|(k, v)| (k, v.as_str())))
            .stdout(File::create(self.dir.join(format!("{log}.out"))).unwrap())
            .stderr(File::create(self.dir.join(format!("{log}.log"))).unwrap())
            .spawn()
            .expect("shr starts")
    }

    pub(crate) fn agent(&self, log: &str) -> Child {
        let args = [
            "agent",
            "run",
            "--deployment",
            &self.manifest,
            "--db",
            &self.mailbox,
            "--router",
            &self.router,
            "--path",
            &self.path,
            "--confirmations",
            "0",
            "--request-timeout-secs",
            "45",
            "--poll-ms",
            "250",
            "--execute",
            "--alert-webhook",
            &self.webhook,
        ];
        self.spawn(&args, &[("SHR_TREASURY_KEY", key_hex(2))], log)
    }

    pub(crate) fn matcher(&self, log: &str) -> Child {
        let args = [
            "darkpool",
            "matcher",
            "run",
            "--deployment",
            &self.manifest,
            "--mailbox",
            &self.mailbox,
            "--poll-ms",
            "250",
        ];
        self.spawn(&args, &[], log)
    }

    /// `shr darkpool maker deposit` of `btc` whole BTC, as the maker with dev key `key`.
    pub(crate) fn maker_deposit(&self, key: u32, btc: u64) {
        let amount = (btc * BTC).to_string();
        let args =
            ["darkpool", "maker", "deposit", "--deployment", &self.manifest, "--amount", &amount];
        shr(&self.rpc, &args, &[("SHR_MAKER_KEY", key_hex(key))]);
    }

    /// `shr darkpool maker commit` of `btc` whole BTC at `spread` bps; its output.
    pub(crate) fn maker_commit(&self, key: u32, btc: u64, spread: u32) -> String {
        let (size, spread) = ((btc * BTC).to_string(), spread.to_string());
        let args = [
            "darkpool",
            "maker",
            "commit",
            "--deployment",
            &self.manifest,
            "--mailbox",
            &self.mailbox,
            "--size",
            &size,
            "--spread-bps",
            &spread,
        ];
        shr(&self.rpc, &args, &[("SHR_MAKER_KEY", key_hex(key))])
    }

    pub(crate) fn incidents(&self) -> Vec<Value> {
        let args = ["incident", "list", "--deployment", &self.manifest, "--db", &self.mailbox];
        lines(&shr(&self.rpc, &args, &[("SHR_TREASURY_KEY", key_hex(2))]))
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        lines(&shr(&self.rpc, &["darkpool", "requests", "--deployment", &self.manifest], &[]))
    }

    pub(crate) fn status(&self) -> Value {
        let out = shr(&self.rpc, &["status", "--deployment", &self.manifest, "--json"], &[]);
        serde_json::from_str(&out).unwrap()
    }

    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(12).collect();
                out += &format!("--- {}\n", p.display());
                for l in tail.into_iter().rev() {
                    out += l;
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Panics with `what` and the processes' logs unless `ok`.
    pub(crate) fn check(&self, ok: bool, what: &str) {
        assert!(ok, "{what}\n{}", self.logs());
    }

    /// Waits until `check` holds, polling every 250 ms.
    pub(crate) fn wait(&self, what: &str, within: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !check() {
            assert!(Instant::now() < deadline, "{what}: timed out\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the receiver says `solvent` with a report observed after `since`.
    pub(crate) fn wait_solvent(&self, solvent: bool, since: u64, what: &str) {
        self.wait(what, Duration::from_secs(120), || {
            let s = self.status();
            s["is_solvent"] == solvent && s["last_updated"].as_u64().unwrap_or(0) > since
        });
    }
}

/// For each shortfall: the blocks from the insolvent report to the restoring one, and inside
/// it the route's own blocks (the swap into the vault after the report; the fill after the
/// request).
pub(crate) async fn heal_blocks(
    chain: &RpcChain,
    receiver: Address,
    (wbtc, vault): (Address, Address),
    pool: Address,
) -> String {
    use alloy::sol_types::SolEvent;
    use shr_contracts::bindings::{CREDarkPool, ReserveAttestation};
    let logs = |address, topic| {
        let f = shr_chain::LogFilter::event(address, topic, 0);
        async move { chain.logs(&f).await.unwrap() }
    };
    let reports: Vec<(u64, bool)> =
        logs(receiver, ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH)
            .await
            .iter()
            .map(|l| {
                let e = ReserveAttestation::ReserveStatusUpdated::decode_log(&l.to_primitive())
                    .unwrap();
                (l.block_number, e.isSolvent)
            })
            .collect();
    let swaps: Vec<u64> = logs(wbtc, TestToken::Transfer::SIGNATURE_HASH)
        .await
        .iter()
        .filter(|l| TestToken::Transfer::decode_log(&l.to_primitive()).is_ok_and(|e| e.to == vault))
        .map(|l| l.block_number)
        .collect();
    let requested: Vec<(U256, u64)> = logs(pool, CREDarkPool::CollateralRequested::SIGNATURE_HASH)
        .await
        .iter()
        .map(|l| {
            let e = CREDarkPool::CollateralRequested::decode_log(&l.to_primitive()).unwrap();
            (e.requestId, l.block_number)
        })
        .collect();
    // Status 3 is FILLED in `CREDarkPool.Status`.
    let filled: BTreeMap<U256, u64> = logs(pool, CREDarkPool::RequestStatusChanged::SIGNATURE_HASH)
        .await
        .iter()
        .filter_map(|l| {
            let e = CREDarkPool::RequestStatusChanged::decode_log(&l.to_primitive()).unwrap();
            (e.status == 3).then_some((e.requestId, l.block_number))
        })
        .collect();
    let mut out = Vec::new();
    let mut insolvent_at = None;
    for (block, solvent) in &reports {
        match (solvent, insolvent_at) {
            (false, None) => insolvent_at = Some(*block),
            (true, Some(b)) => {
                let swap = swaps.iter().find(|s| **s > b && *s <= block).map(|s| s - b);
                out.push(format!(
                    "report {b} -> restored {block} ({} blocks, swap +{swap:?})",
                    block - b
                ));
                insolvent_at = None;
            }
            _ => {}
        }
    }
    for (id, r) in &requested {
        if let Some(f) = filled.get(id) {
            out.push(format!("request {id} at {r} -> filled at {f} (+{} blocks)", f - r));
        }
    }
    out.join("; ")
}

pub(crate) fn kill(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}
