//! `on_report`: `ReserveAttestation.onReport` on the embedded chain (revm), called by the
//! forwarder's account with fuzzed metadata and report, and by a stranger.
//!
//! Input layout: byte 0 picks the mode. 0: the rest is the report under the receiver's own
//! metadata. 1: the first 64 bytes are the metadata, the rest the report. Otherwise a
//! well-formed report with fuzzed fields, from the bytes after byte 0: the first is the boolean
//! word's low byte (any value, not only 0/1), the next four a signed offset of `observedAt`
//! from the chain's time, then the chain id (31337 or another), the receiver (this one or
//! another), and a junk byte for the address word's top byte.
//!
//! What must hold: an accepted report sets exactly the status it carries (or, when not newer,
//! changes nothing); a refused one changes nothing and reverts with a named
//! `ReserveAttestation` error, never an empty revert or a panic; a stranger is always refused.

use std::{cell::RefCell, sync::OnceLock};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolValue,
};
use shr_chain::{Chain, EmbeddedChain};
use shr_contracts::{
    Error as ContractError, Revert,
    bindings::ReserveAttestation as RA,
    deploy::{self},
    send, view,
};

/// Inputs run against one chain before it is replaced (its history grows with each).
const INPUTS_PER_CHAIN: u32 = 2_000;

struct World {
    chain: EmbeddedChain,
    used: u32,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime")
    })
}

thread_local! {
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
}

/// The workflow the receiver accepts.
const WORKFLOW_ID: B256 = B256::repeat_byte(0x42);

/// The harness.
pub fn run(data: &[u8]) {
    let [mode, rest @ ..] = data else { return };
    WORLD.with(|w| {
        let mut w = w.borrow_mut();
        if w.as_ref().is_none_or(|w| w.used >= INPUTS_PER_CHAIN) {
            *w = Some(World { chain: EmbeddedChain::new(), used: 0 });
        }
        let world = w.as_mut().expect("a world");
        world.used += 1;
        runtime().block_on(one(&world.chain, *mode, rest));
    });
}

async fn one(chain: &EmbeddedChain, mode: u8, rest: &[u8]) {
    let a = chain.accounts().to_vec();
    let (forwarder, owner, stranger) = (a[7], a[8], a[9]);
    let receiver = deploy::reserve_attestation(chain, a[0], forwarder, owner, WORKFLOW_ID)
        .await
        .expect("deploy the receiver");
    let now = chain.timestamp().await.expect("chain time");
    // One honest report first, so that "not newer" and "changes nothing" are both reachable.
    let first = (true, U256::from(now), U256::from(31337u64), receiver).abi_encode();
    send(chain, forwarder, receiver, &call(metadata(owner), first)).await.expect("first report");

    let (metadata, report) = match mode % 3 {
        0 => (metadata(owner), rest.to_vec()),
        1 => match rest.split_at_checked(64) {
            Some((m, r)) => (Bytes::copy_from_slice(m), r.to_vec()),
            None => (Bytes::copy_from_slice(rest), Vec::new()),
        },
        _ => (metadata(owner), structured(rest, now, receiver)),
    };
    let before = state(chain, receiver).await;
    let refused = send(chain, stranger, receiver, &call(metadata.clone(), report.clone())).await;
    assert!(refused.is_err(), "a stranger's report was accepted");
    assert_eq!(state(chain, receiver).await, before, "a stranger's report changed the status");
    match send(chain, forwarder, receiver, &call(metadata.clone(), report.clone())).await {
        Ok(_) => {
            let (solvent, at, chain_id, to) =
                <(bool, U256, U256, Address)>::abi_decode(&report).expect("an accepted report");
            assert_eq!((chain_id, to), (U256::from(31337u64), receiver), "accepted elsewhere's");
            assert_eq!(metadata.len(), 64);
            let after = state(chain, receiver).await;
            if at > before.1 {
                assert_eq!((after.0, after.1), (solvent, at), "accepted but not applied");
            } else {
                assert_eq!(after, before, "a report not newer changed the status");
            }
        }
        Err(ContractError::Reverted { revert, .. }) => {
            assert!(
                matches!(revert, Revert::ReserveAttestation(_)),
                "onReport refused without a named error: {revert:?} (metadata {metadata}, report 0x{})",
                alloy::hex::encode(&report)
            );
            assert_eq!(state(chain, receiver).await, before, "a refused report changed the status");
        }
        Err(e) => panic!("onReport failed other than by a revert: {e}"),
    }
}

/// A 128-byte report with fuzzed fields (see the module docs).
fn structured(b: &[u8], now: u64, receiver: Address) -> Vec<u8> {
    let byte = |i: usize| b.get(i).copied().unwrap_or(0);
    let offset = i64::from(i32::from_be_bytes([byte(1), byte(2), byte(3), byte(4)]));
    let at = now.saturating_add_signed(offset);
    let chain_id = if byte(5) % 2 == 0 { 31337u64 } else { u64::from(byte(5)) };
    let to = if byte(6) % 2 == 0 { receiver } else { Address::repeat_byte(byte(6)) };
    let mut out = (false, U256::from(at), U256::from(chain_id), to).abi_encode();
    out[31] = byte(0); // the boolean word: 0, 1 or anything else
    out[96] = byte(7); // the address word's top byte: zero or junk
    out
}

fn metadata(owner: Address) -> Bytes {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(WORKFLOW_ID.as_slice());
    m.extend_from_slice(&[0u8; 10]);
    m.extend_from_slice(owner.as_slice());
    m.extend_from_slice(&[0u8; 2]);
    m.into()
}

fn call(metadata: Bytes, report: Vec<u8>) -> RA::onReportCall {
    RA::onReportCall { metadata, report: report.into() }
}

async fn state(chain: &EmbeddedChain, receiver: Address) -> (bool, U256, bool) {
    let s = view(chain, receiver, &RA::latestStatusCall {}).await.expect("latestStatus");
    (s.solvent, s.observedAt, s.fresh)
}
