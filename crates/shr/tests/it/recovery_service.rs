//! Recovery as a service on real parts: anvil (a block a second), NATS, four `shr don node`
//! processes, the `shr darkpool matcher run` process, three makers onboarded with
//! `shr darkpool maker ...`, and `shr agent run --deployment --execute`, driven by an HTTP
//! custodian. A small shortfall is healed by a swap; a large one through the dark pool (the
//! agent killed and restarted while its request is open: one request, one payment); a third,
//! beyond the makers' liquidity, expires twice, escalates (the alert webhook is called), is
//! retried by `shr incident retry` once a maker commits more, with the matcher killed and
//! restarted while it settles, and fills.

use std::{
    collections::BTreeMap,
    process::Child,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::{Address, U256};
use serde_json::Value;
use shr_chain::{Chain, RpcChain, RpcConfig};
use shr_contracts::{
    anvil::Anvil,
    bindings::{ReserveFeed, TestToken},
    deploy::{self, UniswapV2},
    send,
};

use super::{
    don_harness::{free_port, start_nats, unix},
    recovery_harness::*,
};

#[test]
fn recovery_as_a_service_heals_by_swap_and_dark_pool_survives_restarts_and_operator_retry() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The chain starts two and a half hours in the past and is brought to the present in
    // oracle periods below: the TWAP oracle and the agent's sliding window need an hour of
    // history before the dark pool can price anything.
    let genesis = unix() - 9_000;
    let anvil =
        Anvil::spawn_with(&["--block-time", "1", "--timestamp", &genesis.to_string()]).unwrap();
    let rpc = anvil.url();
    // Kept when the test fails (its logs), removed at the end when it passes.
    let dir = tempfile::tempdir().unwrap().keep();
    let port = free_port();
    let mut nats = start_nats(port, &dir.join("nats-store"), &dir.join("nats-server.log"));
    let custodian =
        Arc::new(Mutex::new(Custodian { reserves: SUPPLY + BTC, ..Default::default() }));
    let base = serve(&rt, custodian.clone());

    // The market: tokens, the real-depth Uniswap V2 pair, a BTC/USD Chainlink-interface feed.
    let chain = rt.block_on(RpcChain::connect(RpcConfig::new(&rpc))).unwrap();
    let a = chain.accounts().to_vec();
    let (admin, treasury) = (a[0], a[2]);
    let (wbtc, weth, uni, (feed, reference)) = rt
        .block_on(async {
            let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
            let weth =
                deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
            let uni = UniswapV2::deploy(&chain, admin).await?;
            let t = chain.timestamp().await.expect("chain time");
            uni.seed_pair(
                &chain,
                admin,
                (wbtc, U256::from(POOL_WBTC)),
                (weth, U256::from(POOL_WETH)),
                t + 86_400,
            )
            .await?;
            let feed = deploy::reserve_feed(&chain, admin, 8, "BTC / USD", admin).await?;
            // A second provider's feed of the same price, 18 decimals, the agent cross-checks.
            let reference =
                deploy::reserve_feed(&chain, admin, 18, "BTC / USD (reference)", admin).await?;
            let mint = TestToken::mintCall { to: treasury, amount: U256::from(2_000 * WETH) };
            send(&chain, admin, weth, &mint).await?;
            Ok::<_, shr_contracts::Error>((wbtc, weth, uni, (feed, reference)))
        })
        .unwrap();
    let push_price = || {
        rt.block_on(async {
            let now = chain.timestamp().await.unwrap();
            let call = ReserveFeed::updateAnswerCall {
                answer: alloy::primitives::I256::try_from(6_200_000_000_000i64).unwrap(),
                updatedAt: U256::from(now),
            };
            send(&chain, admin, feed, &call).await.unwrap();
            // 0.5% above the first: within the 200 bps bound.
            let call = ReserveFeed::updateAnswerCall {
                answer: alloy::primitives::I256::try_from(62_310u128 * 10u128.pow(18)).unwrap(),
                updatedAt: U256::from(now),
            };
            send(&chain, admin, reference, &call).await.unwrap();
        })
    };
    push_price();

    // The DON, the agent's registration, the dark pool: the operator's commands.
    let manifest = dir.join("deployment.json").display().to_string();
    let mailbox = format!("sqlite:{}", dir.join("mailbox.db").display());
    let node_dirs: Vec<String> =
        (0..4).map(|i| dir.join(format!("node{i}")).display().to_string()).collect();
    for d in &node_dirs {
        shr(&rpc, &["don", "init", "--dir", d], &[]);
    }
    let (wbtc_s, weth_s) = (wbtc.to_string(), weth.to_string());
    shr(
        &rpc,
        &["deploy", "--don", &node_dirs.join(","), "--collateral", &wbtc_s, "--out", &manifest],
        &[],
    );
    let (treasury_s, feed_s, reference_s) =
        (treasury.to_string(), feed.to_string(), reference.to_string());
    shr(
        &rpc,
        &[
            "agent",
            "register",
            "--deployment",
            &manifest,
            "--treasury",
            &treasury_s,
            "--price-feed",
            &feed_s,
            "--reference-price-feed",
            &reference_s,
        ],
        &[],
    );
    let router = uni.router.to_string();
    let deployed = shr(
        &rpc,
        &[
            "darkpool",
            "deploy",
            "--deployment",
            &manifest,
            "--payment",
            &weth_s,
            "--router",
            &router,
            "--mailbox",
            &mailbox,
        ],
        &[],
    );
    let pool: Value = serde_json::from_str(&deployed).unwrap();
    let svc = Services {
        rpc: rpc.clone(),
        dir: dir.clone(),
        manifest: manifest.clone(),
        mailbox: mailbox.clone(),
        router,
        path: format!("{weth},{wbtc}"),
        webhook: format!("{base}/alert"),
    };

    // Three makers: allow-listed by the owner, then each deposits its inventory (public) and
    // commits part of it sealed to the matcher (private): 12 BTC in all.
    let makers: Vec<Address> = (3..6).map(|i| a[i]).collect();
    for (i, (m, (inventory, size, spread))) in
        makers.iter().zip([(8u64, 5u64, 10u32), (7, 4, 15), (6, 3, 20)]).enumerate()
    {
        rt.block_on(send(
            &chain,
            admin,
            wbtc,
            &TestToken::mintCall { to: *m, amount: U256::from(20 * BTC) },
        ))
        .unwrap();
        shr(
            &rpc,
            &[
                "darkpool",
                "maker",
                "register",
                "--deployment",
                &manifest,
                "--maker",
                &m.to_string(),
            ],
            &[],
        );
        svc.maker_deposit(3 + i as u32, inventory);
        let out = svc.maker_commit(3 + i as u32, size, spread);
        assert!(!out.contains(&(size * BTC).to_string()), "a commitment's size never shows: {out}");
    }
    let treasury_env = [("SHR_TREASURY_KEY", key_hex(2))];
    shr(
        &rpc,
        &[
            "agent",
            "prefund",
            "--deployment",
            &manifest,
            "--db",
            &mailbox,
            "--amount",
            &(1_000 * WETH).to_string(),
        ],
        &treasury_env,
    );

    // Matcher and agent up; then the chain is brought to the present an oracle period at a
    // time, as keepers would: the price feed and Uniswap's TWAP oracle are updated each period
    // (the matcher updates the oracle too, the agent records its own TWAP observations).
    let mut matcher = svc.matcher("matcher");
    let mut agent = svc.agent("agent");
    let oracle: Address = pool["twap_oracle"].as_str().unwrap().parse().unwrap();
    let period = 900;
    let mut t = genesis + period;
    while t + 60 < unix() {
        rt.block_on(async {
            chain.set_next_block_timestamp(t).await.unwrap();
            chain.mine().await.unwrap();
            shr_darkpool::update_twap_oracle(&chain, admin, oracle, (wbtc, weth)).await.unwrap();
        });
        push_price();
        std::thread::sleep(Duration::from_millis(1_500));
        t += period;
    }
    rt.block_on(async {
        let now = unix();
        if chain.timestamp().await.unwrap() < now {
            chain.set_next_block_timestamp(now).await.unwrap();
            chain.mine().await.unwrap();
        }
    });
    push_price();

    // The DON's four node processes, sharing the mailbox with the agent.
    let nats_url = format!("nats://127.0.0.1:{port}");
    let mut nodes: Vec<Child> = (0..4)
        .map(|i| {
            let args = [
                "don",
                "node",
                "--dir",
                &node_dirs[i],
                "--deployment",
                &manifest,
                "--nats",
                &nats_url,
                "--source",
                &format!("{base}/por"),
                "--schedule",
                &format!("*/{PERIOD} * * * * *"),
                "--takeover-ms",
                "500",
                "--round-timeout-ms",
                "1800",
                "--mailbox",
                &mailbox,
            ];
            svc.spawn(&args, &[], &format!("node{i}"))
        })
        .collect();
    svc.wait_solvent(true, 0, "first solvent report");

    // 1. A small shortfall (0.3 BTC): healed by a direct swap into the vault.
    let t0 = unix();
    custodian.lock().unwrap().reserves = SUPPLY - 3 * BTC / 10;
    svc.wait_solvent(false, t0, "small shortfall attested");
    svc.wait_solvent(true, t0, "small shortfall healed by the swap");
    let incidents = svc.incidents();
    svc.check(incidents.len() == 1, &format!("{incidents:?}"));
    svc.check(svc.requests().is_empty(), "a small deficit never reaches the dark pool");
    let healed_small = unix() - t0;

    // 2. A large shortfall (10 BTC, ~6 % price impact): the dark pool. The agent is killed
    // once its request is on chain and restarted: one request, filled once.
    let t1 = unix();
    custodian.lock().unwrap().reserves = SUPPLY - 10 * BTC - 3 * BTC / 10;
    svc.wait_solvent(false, t1, "large shortfall attested");
    svc.wait("the agent's request on chain", Duration::from_secs(60), || {
        !svc.requests().is_empty()
    });
    kill(&mut agent);
    agent = svc.agent("agent-restarted");
    svc.wait_solvent(true, t1, "large shortfall healed through the pool");
    let requests = svc.requests();
    svc.check(
        requests.len() == 1 && requests[0]["status"] == "FILLED",
        &format!("one request, filled, however many agent restarts: {requests:?}"),
    );
    let healed_large = unix() - t1;

    // 3. Another 10 BTC short: the makers have 2 BTC of commitments left. The request and its
    // widened retry expire; the agent escalates and calls the webhook.
    let t2 = unix();
    custodian.lock().unwrap().reserves = SUPPLY - 20 * BTC - 3 * BTC / 10;
    svc.wait_solvent(false, t2, "third shortfall attested");
    svc.wait("escalation", Duration::from_secs(240), || {
        svc.incidents().iter().any(|i| i["status"] == "escalated")
    });
    let id = svc.incidents().into_iter().find(|i| i["status"] == "escalated").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    svc.wait("the alert reached the webhook", Duration::from_secs(20), || {
        custodian.lock().unwrap().alerts.iter().any(|a| a["kind"] == "escalation")
    });
    let requests = svc.requests();
    svc.check(
        requests.len() == 3 && requests[1..].iter().all(|r| r["status"] == "EXPIRED"),
        &format!("{requests:?}"),
    );
    let alerts = custodian.lock().unwrap().alerts.clone();
    let text = serde_json::to_string(&alerts).unwrap();
    assert!(
        !text.contains("1000000000") && !text.contains("2000000000"),
        "no amount in an alert: {text}"
    );

    // A maker deposits and commits more; the operator retries with a wider premium. The
    // matcher is killed once the retried request is on chain and restarted: it fills.
    svc.maker_deposit(3, 12);
    svc.maker_commit(3, 15, 10);
    let shown = shr(
        &rpc,
        &["incident", "show", &id, "--deployment", &manifest, "--db", &mailbox],
        &treasury_env,
    );
    assert!(shown.contains("\"deficit\""), "the operator sees the private detail: {shown}");
    let retried = shr(
        &rpc,
        &[
            "incident",
            "retry",
            &id,
            "--deployment",
            &manifest,
            "--db",
            &mailbox,
            "--premium-bps",
            "60",
            "--timeout-secs",
            "60",
        ],
        &treasury_env,
    );
    assert!(retried.contains("needs_dark_pool"), "{retried}");
    svc.wait("the retried request on chain", Duration::from_secs(60), || svc.requests().len() == 4);
    kill(&mut matcher);
    matcher = svc.matcher("matcher-restarted");
    svc.wait_solvent(true, t2, "the retried request filled and counted");
    let requests = svc.requests();
    svc.check(requests.len() == 4 && requests[3]["status"] == "FILLED", &format!("{requests:?}"));
    // The agent closes each incident once it reads the solvent report.
    svc.wait("every incident restored", Duration::from_secs(30), || {
        let statuses: BTreeMap<String, String> = svc
            .incidents()
            .into_iter()
            .map(|i| (i["id"].as_str().unwrap().into(), i["status"].as_str().unwrap().into()))
            .collect();
        statuses.len() == 3 && statuses.values().all(|s| s == "restored")
    });

    // Every log: no private figure (the deficits, the makers' commitments).
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "log" || x == "out") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // The first deficit and the makers' committed sizes, as a log would carry them.
            for secret in ["30000000", "500000000", "400000000", "300000000", "1500000000"] {
                for form in [
                    format!("\"{secret}\""),
                    format!(":{secret},"),
                    format!(":{secret}}}"),
                    format!("={secret} "),
                ] {
                    assert!(!text.contains(&form), "{form} in {}", p.display());
                }
            }
        }
    }
    let receiver: Address = serde_json::from_str::<Value>(
        &std::fs::read_to_string(&manifest).unwrap(),
    )
    .unwrap()["receiver"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let vault: Address = serde_json::from_str::<Value>(
        &std::fs::read_to_string(&manifest).unwrap(),
    )
    .unwrap()["vault"]["address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let pool_address: Address = pool["address"].as_str().unwrap().parse().unwrap();
    let timings = rt.block_on(heal_blocks(&chain, receiver, (wbtc, vault), pool_address));
    let proving: Vec<(u64, u64, u64)> = ["matcher.log", "matcher-restarted.log"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["message"] == "settled with a validity proof")
                .filter_map(|v| {
                    Some((
                        v["proving_ms"].as_u64()?,
                        v["seen_block"].as_u64()?,
                        v["fill_block"].as_u64()?,
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    eprintln!(
        "recovery service: small shortfall healed {healed_small} s after it began, large {healed_large} s; blocks: {timings}; (proving ms, block the matcher saw the request at, fill block): {proving:?}"
    );
    for c in nodes.iter_mut().chain([&mut agent, &mut matcher]) {
        kill(c);
    }
    kill(&mut nats);
    let _ = std::fs::remove_dir_all(&dir);
}
