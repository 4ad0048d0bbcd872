//! [`NodeService`] rounds with four nodes running concurrently over the in-memory transport on
//! the embedded chain: a transmission by the round's leader, nothing due on an unchanged
//! outcome, a takeover when the leader is down, and a node fed a different body outvoted.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::U256;
use shr_chain::{Chain, EmbeddedChain};
use shr_enclave::{EnclaveIdentity, SimulatedTee};
use shr_oracle::{
    Don, DonConfig, InMemoryTransport, NodeInput, NodeService, Policy, PorFields, ReserveEnclave,
    ReserveReading, ReserveSource, RoundResult, RoundStatus, ServiceConfig, Transmitter, Transport,
    attested_state, leader,
};

type R<T = ()> = eyre::Result<T>;
const E8: u64 = 100_000_000;
const GENESIS: u64 = 1_750_000_000;

/// One reading for every node, and another for the node marked Byzantine.
#[derive(Debug, Default)]
struct Custodian {
    honest: Mutex<Option<ReserveReading>>,
    lie: Mutex<Option<(EnclaveIdentity, ReserveReading)>>,
}

#[async_trait::async_trait]
impl ReserveSource for Custodian {
    async fn fetch(&self, node: &EnclaveIdentity, _now: u64) -> shr_oracle::Result<NodeInput> {
        if let Some((id, r)) = self.lie.lock().unwrap().as_ref()
            && id.signer == node.signer
        {
            return Ok(NodeInput::Reading(*r));
        }
        Ok(NodeInput::Reading(self.honest.lock().unwrap().expect("a reading is set")))
    }
}

fn reading(t: u64, reserves: u64, supply: u64) -> ReserveReading {
    ReserveReading {
        observed_at: t,
        reserves: U256::from(reserves * E8),
        supply: U256::from(supply * E8),
        ripcord: false,
    }
}

struct World {
    chain: Arc<dyn Chain>,
    nodes: Vec<NodeService>,
    custodian: Arc<Custodian>,
    receiver: alloy::primitives::Address,
}

async fn world() -> R<World> {
    let chain: Arc<dyn Chain> = Arc::new(EmbeddedChain::with_config(shr_chain::EmbeddedConfig {
        genesis_timestamp: GENESIS,
        ..Default::default()
    }));
    let tee = SimulatedTee::new();
    let owner = chain.accounts()[0];
    let mut cfg = DonConfig::new("wbtc-por", owner, 8);
    cfg.policy = Policy { confirmations: 1, ..Policy::default() };
    let don = Don::new(&tee, cfg.clone())?;
    let dep = don.deploy(chain.as_ref(), owner).await?;
    let transport: Arc<dyn Transport> = Arc::new(InMemoryTransport::new(4));
    let custodian = Arc::new(Custodian::default());
    let mut nodes = Vec::new();
    for me in 0..4 {
        let enclave = ReserveEnclave::launch(&tee, me as u32, cfg.policy, PorFields::default(), 8)?;
        let sc = ServiceConfig {
            feed: "wbtc".into(),
            me,
            signers: don.signers().to_vec(),
            f: 1,
            workflow: cfg.workflow,
            deployment: dep,
            heartbeat: cfg.policy.heartbeat,
            // The node process's default: a fixed report gas limit, no estimate.
            transmitter: Transmitter {
                address: chain.accounts()[1 + me],
                gas_limit: Some(500_000),
            },
            takeover: Duration::from_millis(300),
            round_timeout: Duration::from_secs(5),
            state_ttl: Duration::from_secs(60),
        };
        let source: Arc<dyn ReserveSource> = custodian.clone();
        nodes.push(NodeService::new(sc, enclave, chain.clone(), transport.clone(), source).await?);
    }
    Ok(World { chain, nodes, custodian, receiver: dep.receiver })
}

/// Runs `round` on the nodes in `up` at once.
async fn round(w: &mut World, round: u64, up: &[usize]) -> R<Vec<RoundResult>> {
    let futs = w
        .nodes
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| up.contains(i))
        .map(|(_, n)| n.run_round(round));
    Ok(futures_util::future::try_join_all(futs).await?)
}

fn transmitted(rs: &[RoundResult]) -> Vec<(u64, bool)> {
    rs.iter()
        .filter_map(|r| match r.status {
            RoundStatus::Transmitted { attempt, accepted, .. } => Some((attempt, accepted)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn leader_transmits_takeover_covers_a_down_leader_and_a_lying_node_is_outvoted() -> R {
    let mut w = world().await?;
    let all = [0, 1, 2, 3];

    // Round 1: the chain holds nothing; the leader transmits, the others see it land.
    let r1 = GENESIS - 600;
    *w.custodian.honest.lock().unwrap() = Some(reading(r1 - 60, 150_000, 140_000));
    let rs = round(&mut w, r1, &all).await?;
    assert_eq!(transmitted(&rs), vec![(0, true)], "{rs:?}");
    let leader_node = leader(w.receiver, r1, 0, 4);
    assert!(matches!(rs[leader_node].status, RoundStatus::Transmitted { .. }));
    assert!(rs.iter().all(|r| r.agreed.is_some_and(|(o, v)| o.is_solvent && v >= 3)));
    assert_eq!(attested_state(w.chain.as_ref(), w.receiver).await?, (true, r1 - 60));

    // Round 2, same outcome: nothing is due, nothing is sent.
    let r2 = r1 + 10;
    *w.custodian.honest.lock().unwrap() = Some(reading(r2 - 5, 150_000, 140_000));
    let rs = round(&mut w, r2, &all).await?;
    assert!(rs.iter().all(|r| r.status == RoundStatus::NotDue), "{rs:?}");

    // A shortfall in a round whose first leader is down: the next one takes over.
    let r3 = (r2 + 10..).find(|r| leader(w.receiver, *r, 0, 4) == 3).unwrap();
    *w.custodian.honest.lock().unwrap() = Some(reading(r3 - 5, 130_000, 140_000));
    let rs = round(&mut w, r3, &[0, 1, 2]).await?;
    assert_eq!(transmitted(&rs), vec![(1, true)], "{rs:?}");
    assert_eq!(attested_state(w.chain.as_ref(), w.receiver).await?, (false, r3 - 5));

    // Restored, with node 2 fed a body that says the hole is still there: outvoted.
    let r4 = r3 + 10;
    *w.custodian.honest.lock().unwrap() = Some(reading(r4 - 5, 150_000, 140_000));
    let liar = w.nodes[2].identity().clone();
    *w.custodian.lie.lock().unwrap() = Some((liar, reading(r4 - 5, 100_000, 140_000)));
    let rs = round(&mut w, r4, &all).await?;
    assert_eq!(rs[2].own.as_ref().ok().map(|o| o.is_solvent), Some(false));
    assert!(rs.iter().all(|r| r.agreed.is_some_and(|(o, _)| o.is_solvent)), "{rs:?}");
    assert_eq!(transmitted(&rs).len(), 1, "{rs:?}");
    assert_eq!(attested_state(w.chain.as_ref(), w.receiver).await?, (true, r4 - 5));
    Ok(())
}

/// A custodian body that states reserves and time only.
#[derive(Debug)]
struct ReservesOnly(String);

#[async_trait::async_trait]
impl ReserveSource for ReservesOnly {
    async fn fetch(&self, node: &EnclaveIdentity, _now: u64) -> shr_oracle::Result<NodeInput> {
        let sealed = shr_enclave::seal(&node.hpke, shr_oracle::POR_INFO, self.0.as_bytes())?;
        Ok(NodeInput::SealedPor(sealed))
    }
}

#[tokio::test]
async fn supply_from_chain_is_the_tokens_total_supply_and_only_where_the_mapping_says_so() -> R {
    use shr_contracts::{bindings::TestToken, deploy, send};
    let chain: Arc<dyn Chain> = Arc::new(EmbeddedChain::with_config(shr_chain::EmbeddedConfig {
        genesis_timestamp: GENESIS,
        ..Default::default()
    }));
    let admin = chain.accounts()[0];
    let token = deploy::test_token(chain.as_ref(), admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let mint = TestToken::mintCall { to: admin, amount: U256::from(140_000 * E8) };
    send(chain.as_ref(), admin, token, &mint).await?;
    let body = |reserves: u64| {
        ReservesOnly(format!(r#"{{"totalReserve": "{reserves}", "timestamp": {}}}"#, GENESIS - 60))
    };
    let tee = SimulatedTee::new();
    let mut fields = PorFields::default();
    fields.set("supply=chain")?;
    let policy = Policy { confirmations: 1, ..Policy::default() };
    let mut enclave = ReserveEnclave::launch(&tee, 0, policy, fields, 8)?;
    let id = enclave.identity().clone();
    for (reserves, solvent) in [(150_000, true), (139_999, false), (140_000, true)] {
        let src =
            shr_oracle::ChainSupplySource::new(Arc::new(body(reserves)), chain.clone(), token);
        let input = src.fetch(&id, GENESIS).await?;
        assert_eq!(enclave.evaluate(&input, GENESIS)?.is_solvent, solvent, "{reserves}");
    }
    // The body alone carries no supply: refused, never judged against zero.
    let alone = body(150_000).fetch(&id, GENESIS).await?;
    assert!(matches!(enclave.evaluate(&alone, GENESIS), Err(shr_oracle::Error::ZeroSupply)));
    // A feed that reads supply from the body refuses a host's chain figure.
    let mut plain = ReserveEnclave::launch(&tee, 1, policy, PorFields::default(), 8)?;
    let src = shr_oracle::ChainSupplySource::new(Arc::new(body(150_000)), chain.clone(), token);
    let input = src.fetch(plain.identity(), GENESIS).await?;
    assert!(plain.evaluate(&input, GENESIS).is_err());
    Ok(())
}
