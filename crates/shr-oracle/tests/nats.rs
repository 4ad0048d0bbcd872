//! [`NatsTransport`] against a real NATS server with JetStream (`SHR_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`; `scripts/test` starts one when none answers): delivery to the
//! addressed node only, catch-up after a restart from the durable consumer, and a message whose
//! claimed sender is not its publisher dropped.

use std::time::{Duration, Instant};

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
