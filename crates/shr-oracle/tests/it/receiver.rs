//! `ReserveAttestation` against a hostile or broken report stream (docs/SECURITY.md, findings 6
//! and 7), called directly by a stand-in forwarder account: a report from the far future, a
//! report for another chain or receiver, and freshness when reports stop. Then stateful
//! invariant fuzzing: random report sequences never lower `lastUpdated`, and a refused report
//! changes nothing. `SHR_FUZZ_CASES` sets the number of sequences (1,000 in CI).

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolValue,
};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use shr_chain::{Chain, EmbeddedChain};
use shr_contracts::{bindings::ReserveAttestation as RA, deploy, send, view};

type R<T = ()> = eyre::Result<T>;

struct Rx {
    chain: EmbeddedChain,
    forwarder: Address,
    receiver: Address,
    id: B256,
    owner: Address,
}

async fn receiver() -> R<Rx> {
    let chain = EmbeddedChain::new();
    let a = chain.accounts().to_vec();
    let (forwarder, owner) = (a[7], a[8]);
    let id = B256::repeat_byte(0x42);
    let receiver = deploy::reserve_attestation(&chain, a[0], forwarder, owner, id).await?;
    Ok(Rx { chain, forwarder, receiver, id, owner })
}

impl Rx {
    fn metadata(&self) -> alloy::primitives::Bytes {
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(self.id.as_slice());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(self.owner.as_slice());
        m.extend_from_slice(&[0u8; 2]);
        m.into()
    }

    async fn report(&self, solvent: bool, at: u64, chain_id: u64, to: Address) -> R<()> {
        let body = (solvent, U256::from(at), U256::from(chain_id), to).abi_encode();
        let call = RA::onReportCall { metadata: self.metadata(), report: body.into() };
        send(&self.chain, self.forwarder, self.receiver, &call).await?;
        Ok(())
    }

    async fn state(&self) -> R<(bool, U256, bool)> {
        let s = view(&self.chain, self.receiver, &RA::latestStatusCall {}).await?;
        Ok((s.solvent, s.observedAt, s.fresh))
    }
}

/// Found by the `on_report` fuzz target: a body whose boolean word is 2 (or whose receiver word
/// has high bits) made `abi.decode` revert with no reason; it is now named, and the nodes'
/// decoder refuses it too (`ReportBody::decode`).
#[tokio::test]
async fn a_non_canonical_report_is_refused_by_name() -> R {
    let r = receiver().await?;
    let now = r.chain.timestamp().await?;
    let mut body = (true, U256::from(now), U256::from(31337u64), r.receiver).abi_encode();
    body[31] = 2;
    assert!(shr_oracle::report::ReportBody::decode(&body).is_none(), "nodes decode it");
    let call = RA::onReportCall { metadata: r.metadata(), report: body.clone().into() };
    let e = send(&r.chain, r.forwarder, r.receiver, &call).await.unwrap_err();
    assert!(e.to_string().contains("NonCanonicalReport"), "{e}");
    body[31] = 1;
    body[96] = 0xff;
    let call = RA::onReportCall { metadata: r.metadata(), report: body.into() };
    let e = send(&r.chain, r.forwarder, r.receiver, &call).await.unwrap_err();
    assert!(e.to_string().contains("NonCanonicalReport"), "{e}");
    assert_eq!(r.state().await?, (false, U256::ZERO, false), "nothing changed");
    Ok(())
}

#[tokio::test]
async fn a_future_report_is_refused_and_a_silent_feed_goes_stale() -> R {
    let r = receiver().await?;
    let now = r.chain.timestamp().await?;
    assert_eq!(r.state().await?, (false, U256::ZERO, false), "no report: not fresh");
    r.report(true, now, 31337, r.receiver).await?;
    assert_eq!(r.state().await?, (true, U256::from(now), true));
    // Finding 6: a report dated a day ahead would make every honest later report "stale".
    let e = r.report(false, now + 86_400, 31337, r.receiver).await.unwrap_err();
    assert!(e.to_string().contains("FutureReport"), "{e}");
    assert_eq!(r.state().await?, (true, U256::from(now), true));
    // Within the 15-minute skew it is accepted.
    r.report(true, now + 600, 31337, r.receiver).await?;
    // Reports stop: past heartbeat + grace the status is stale, whatever the boolean says.
    let (heartbeat, grace) = deploy::DEFAULT_FRESHNESS;
    r.chain.advance_time(heartbeat + grace + 601).await?;
    assert_eq!(r.state().await?, (true, U256::from(now + 600), false));
    Ok(())
}

#[tokio::test]
async fn a_report_for_another_chain_or_receiver_is_refused() -> R {
    let r = receiver().await?;
    let now = r.chain.timestamp().await?;
    let e = r.report(true, now, 1, r.receiver).await.unwrap_err();
    assert!(e.to_string().contains("WrongTarget"), "{e}");
    let e = r.report(true, now, 31337, Address::repeat_byte(1)).await.unwrap_err();
    assert!(e.to_string().contains("WrongTarget"), "{e}");
    assert_eq!(r.state().await?, (false, U256::ZERO, false));
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

#[test]
fn receiver_invariants_hold_under_random_report_sequences() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(receiver()).unwrap();
    let cases = std::env::var("SHR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    // (solvent, observedAt offset from now in s, wrong chain, wrong receiver, time jump in s)
    let report = (any::<bool>(), -90_000i64..2_000, 0..8u8, 0..8u8, 0..4_000u32);
    runner
        .run(&vec(report, 1..12), |reports| {
            rt.block_on(async {
                let r = &r;
                let snap = r.chain.snapshot().await.map_err(fail)?;
                for (solvent, offset, bad_chain, bad_rx, jump) in reports {
                    r.chain.advance_time(u64::from(jump)).await.map_err(fail)?;
                    let now = r.chain.timestamp().await.map_err(fail)?;
                    let at = now.saturating_add_signed(offset);
                    let before = r.state().await.map_err(fail)?;
                    let chain_id = if bad_chain == 0 { 1 } else { 31337 };
                    let to = if bad_rx == 0 { Address::repeat_byte(9) } else { r.receiver };
                    let ok = r.report(solvent, at, chain_id, to).await.is_ok();
                    let after = r.state().await.map_err(fail)?;
                    prop_assert!(
                        after.1 >= before.1,
                        "lastUpdated went back: {before:?} -> {after:?}"
                    );
                    if !ok || U256::from(at) <= before.1 {
                        prop_assert_eq!(
                            (after.0, after.1),
                            (before.0, before.1),
                            "a refused report changed state"
                        );
                    } else {
                        prop_assert_eq!((after.0, after.1), (solvent, U256::from(at)));
                    }
                    prop_assert!(
                        after.1 <= U256::from(now + 901),
                        "a report from the future was kept"
                    );
                }
                r.chain.revert_to(snap).await.map_err(fail)?;
                Ok(())
            })
        })
        .unwrap();
}
