//! [`NatsTransport`] against a real NATS server with JetStream (`SHR_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`; `scripts/test` starts one when none answers): delivery to the
//! addressed node only, catch-up after a restart from the durable consumer, and a message whose
//! claimed sender is not its publisher dropped.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use shr_oracle::{Message, NatsTransport, Outcome, Transport};

fn url() -> String {
    std::env::var("SHR_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn obs(round: u64, from: usize) -> Message {
    Message::Observation {
        round,
        from,
        outcome: Outcome {
            is_solvent: round.is_multiple_of(2),
            observed_at: 1_700_000_000 + round,
        },
        signature: [from as u8; 65],
    }
}

/// Everything `t` receives within `wait`, once `want` messages arrived or the time is up.
async fn receive(t: &NatsTransport, want: usize, wait: Duration) -> Vec<Message> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < wait {
        got.extend(t.drain(t.node()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    got
}

#[tokio::test]
async fn messages_reach_their_node_survive_its_restart_and_cannot_be_spoofed() {
    let don = format!(
        "test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let url = url();
    let connect = |me| {
        let (url, don) = (url.clone(), don.clone());
        async move {
            NatsTransport::connect(&url, &don, me)
                .await
                .unwrap_or_else(|e| panic!("NATS at {url} (scripts/test starts one): {e:?}"))
        }
    };
    let (a, b, c) = (connect(0).await, connect(1).await, connect(2).await);
    a.send(1, obs(1, 0));
    assert_eq!(receive(&b, 1, Duration::from_secs(5)).await, vec![obs(1, 0)]);
    assert!(receive(&c, 1, Duration::from_millis(300)).await.is_empty(), "addressed to node 1");

    // Node 1 goes down; what is sent meanwhile waits in the stream.
    drop(b);
    a.send(1, obs(2, 0));
    c.send(1, obs(2, 2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = connect(1).await;
    let mut got = receive(&b, 2, Duration::from_secs(10)).await;
    got.sort_by_key(|m| match m {
        Message::Observation { from, .. } => *from,
        _ => usize::MAX,
    });
    assert_eq!(got, vec![obs(2, 0), obs(2, 2)], "caught up after the restart");

    // Node 2 publishing an observation that claims to be node 0's is dropped on arrival.
    c.send(1, obs(3, 0));
    c.send(1, obs(3, 2));
    assert_eq!(receive(&b, 2, Duration::from_secs(2)).await, vec![obs(3, 2)]);

    let client = async_nats::connect(&url).await.unwrap();
    async_nats::jetstream::new(client).delete_stream(format!("SHR_DON_{don}")).await.unwrap();
}

fn nats_server_bin() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("SHR_NATS_SERVER") {
        return Some(p.into());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| p.exists())
}

/// A server whose users are the DON's nodes, each with [`nats_permissions`], and the operator
/// who provisions the stream and consumers: a node can neither publish as another, nor read
/// another's inbox, nor create a consumer that would.
#[tokio::test]
async fn per_node_credentials_stop_a_node_speaking_for_or_reading_another() {
    let bin =
        nats_server_bin().expect("nats-server (scripts/test installs it; or SHR_NATS_SERVER)");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let don = "perm";
    let mut users: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({
                "user": format!("node{i}"),
                "password": format!("secret-{i}"),
                "permissions": shr_oracle::nats_permissions(don, i),
            })
        })
        .collect();
    // The operator, who makes the stream and the consumers (`shr don nats-setup`).
    users.push(serde_json::json!({ "user": "operator", "password": "op" }));
    let conf = serde_json::json!({
        "listen": format!("127.0.0.1:{port}"),
        "jetstream": { "store_dir": dir.join("js").display().to_string() },
        "accounts": { "DON": { "jetstream": "enabled", "users": users } },
    });
    let conf_path = dir.join("server.json");
    std::fs::write(&conf_path, conf.to_string()).unwrap();
    let mut server = std::process::Command::new(bin)
        .arg("-c")
        .arg(&conf_path)
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let login = |i: usize| {
        async_nats::ConnectOptions::new()
            .user_and_password(format!("node{i}"), format!("secret-{i}"))
    };
    let feeds = [shr_oracle::DEFAULT_FEED.to_string()];
    // Without the operator's set-up a node cannot start: it may create nothing.
    let early = tokio::time::timeout(
        Duration::from_secs(5),
        NatsTransport::connect_with(login(0), &url, don, 0, &feeds),
    )
    .await;
    assert!(!matches!(early, Ok(Ok(_))), "a node created the DON's stream");
    let operator = async_nats::ConnectOptions::new()
        .user_and_password("operator".into(), "op".into())
        .connect(&url)
        .await
        .unwrap();
    shr_oracle::nats_provision(&operator, don, 3).await.unwrap();
    shr_oracle::nats_provision(&operator, don, 3).await.expect("idempotent");
    let a = NatsTransport::connect_with(login(0), &url, don, 0, &feeds).await.unwrap();
    let b = NatsTransport::connect_with(login(1), &url, don, 1, &feeds).await.unwrap();
    a.send(1, obs(1, 0));
    assert_eq!(receive(&b, 1, Duration::from_secs(5)).await, vec![obs(1, 0)], "allowed");

    // Node 2's credentials publishing on node 0's subject: refused by the server.
    let raw = login(2).connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(raw.clone());
    let forged = format!("shr.don.{don}.main.2.obs.0.1");
    let sent = match js.publish(forged, "{}".into()).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    assert!(!sent, "a node published as another");
    // ... nor can it pull node 1's inbox.
    let next = format!("$JS.API.CONSUMER.MSG.NEXT.SHR_DON_{don}.node-1");
    let pull = |client: async_nats::Client| {
        let next = next.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(2),
                client.request(next, "{\"batch\":1,\"expires\":500000000}".into()),
            )
            .await
        }
    };
    assert!(!matches!(pull(raw.clone()).await, Ok(Ok(_))), "a node read another's inbox");
    // ... nor make a consumer of its own that filters node 1's inbox (the filter is in the body).
    let stream = format!("SHR_DON_{don}");
    let body = serde_json::json!({
        "stream_name": stream,
        "config": { "durable_name": "spy", "filter_subject": format!("shr.don.{don}.*.*.*.*.1"),
                    "ack_policy": "explicit", "deliver_policy": "all" },
    });
    for api in [
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.spy"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.node-2.shr.don.{don}.*.*.*.*.1"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
    ] {
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            raw.request(api.clone(), body.to_string().into()),
        )
        .await;
        let created = match answer {
            Ok(Ok(m)) => !String::from_utf8_lossy(&m.payload).contains("error"),
            _ => false,
        };
        assert!(!created, "{api}: a node created a consumer on another's inbox");
    }
    // ... nor overhear node 1's pull deliveries, which are replies under node 1's prefix.
    let mut spies = Vec::new();
    for subject in [format!("{}.>", shr_oracle::nats_inbox_prefix(don, 1)), "_INBOX.>".into()] {
        spies.push(raw.subscribe(subject).await.unwrap());
    }
    a.send(1, obs(2, 0));
    assert_eq!(receive(&b, 1, Duration::from_secs(5)).await, vec![obs(2, 0)], "delivered");
    for spy in &mut spies {
        let overheard = tokio::time::timeout(Duration::from_secs(1), spy.next()).await;
        assert!(!matches!(overheard, Ok(Some(_))), "a node overheard another's deliveries");
    }
    // The control: node 1's own credentials get an answer on the same request.
    let own = login(1)
        .custom_inbox_prefix(shr_oracle::nats_inbox_prefix(don, 1))
        .connect(&url)
        .await
        .unwrap();
    assert!(matches!(pull(own).await, Ok(Ok(_))), "the owner pulls its inbox");
    // Its own subjects still work.
    let c = NatsTransport::connect_with(login(2), &url, don, 2, &feeds).await.unwrap();
    c.send(1, obs(2, 2));
    assert_eq!(receive(&b, 1, Duration::from_secs(5)).await, vec![obs(2, 2)]);
    server.kill().ok();
    server.wait().ok();
}
