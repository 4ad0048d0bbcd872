//! The DON end to end on the embedded chain with Chainlink's real `KeystoneForwarder`: rounds,
//! the confirmation policy on the real 2024-10-08 glitch, Byzantine and offline nodes, the
//! forwarder's and the receiver's refusals, and the sealed deficit channel.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolCall, SolEvent},
};
use shr_chain::{Chain, EmbeddedChain, RecordingChain};
use shr_contracts::{
    Revert,
    bindings::{KeystoneForwarder, ReserveAttestation, TestToken},
    deploy, send,
};
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{
    Behavior, DEFICIT_INFO, Deployment, Don, DonConfig, NodeInput, ReserveReading, ReserveSeries,
    SeriesColumns, SignedDeficitNotice, attested_state,
    report::{forwarder_signature, report_digest},
};

type R<T = ()> = eyre::Result<T>;
const E8: u64 = 100_000_000;

fn wbtc_series() -> ReserveSeries {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv"
    );
    ReserveSeries::from_path(p.as_ref(), &SeriesColumns::wbtc(), 8)
        .expect("the shipped series parses")
}

struct Setup {
    chain: RecordingChain<EmbeddedChain>,
    don: Don,
    dep: Deployment,
    agent: Enclave,
}

async fn setup(genesis: u64) -> R<Setup> {
    let chain = RecordingChain::new(EmbeddedChain::with_config(shr_chain::EmbeddedConfig {
        genesis_timestamp: genesis,
        ..Default::default()
    }));
    let tee = SimulatedTee::new();
    let agent = Enclave::launch(&tee, "shr-agent@test")?;
    let owner = chain.accounts()[0];
    let mut cfg = DonConfig::new("wbtc-por", owner, 8);
    cfg.agent_key = Some(agent.identity().hpke);
    let don = Don::new(&tee, cfg)?;
    let dep = don.deploy(&chain, owner).await?;
    Ok(Setup { chain, don, dep, agent })
}

async fn run(s: &mut Setup, readings: &[ReserveReading]) -> R<Vec<shr_oracle::RoundReport>> {
    let tx = s.chain.accounts()[1];
    let mut out = Vec::new();
    for r in readings {
        let r = *r;
        out.push(
            s.don.round(&s.chain, &s.dep, tx, r.observed_at, |_| NodeInput::Reading(r)).await?,
        );
    }
    Ok(out)
}

fn reading(t: u64, reserves: u64, supply: u64) -> ReserveReading {
    ReserveReading {
        observed_at: t,
        reserves: U256::from(reserves),
        supply: U256::from(supply),
        ripcord: false,
    }
}

#[tokio::test]
async fn real_glitch_is_absorbed_and_a_sustained_shortfall_is_attested_with_a_sealed_deficit() -> R
{
    let series = wbtc_series();
    // 2024-10-08 20:00Z .. 2024-10-09 04:00Z: the single-sample glitch at 23:17:29Z.
    let window = series.window(Some(1_728_417_600), Some(1_728_446_400)).to_vec();
    assert!(window.iter().any(|r| r.observed_at == 1_728_429_449));
    let mut s = setup(window[0].observed_at - 10).await?;
    let reports = run(&mut s, &window).await?;
    let transmissions: Vec<_> = reports.iter().filter_map(|r| r.transmission.as_ref()).collect();
    assert_eq!(transmissions.len(), 1, "only the first report: the glitch changes nothing public");
    assert!(transmissions.iter().all(|t| t.body.is_solvent && t.accepted));
    let (solvent, _) = attested_state(&s.chain, s.dep.receiver).await?;
    assert!(solvent);

    // A sustained 5 % shortfall: confirmed at the second short reading.
    let last = window.last().unwrap();
    let supply = 150_000 * E8;
    let short = [
        reading(last.observed_at + 3600, supply / 100 * 95, supply),
        reading(last.observed_at + 7200, supply / 100 * 95, supply),
    ];
    let reports = run(&mut s, &short).await?;
    assert!(reports[0].transmission.is_none());
    let t = reports[1].transmission.as_ref().expect("confirmed shortfall is transmitted");
    assert!(!t.body.is_solvent && t.accepted);
    assert_eq!(attested_state(&s.chain, s.dep.receiver).await?, (false, last.observed_at + 7200));
    assert!(reports[1].sealed_deficits.len() >= 2, "f+1 nodes seal the deficit to the agent");
    let signed: SignedDeficitNotice =
        serde_json::from_slice(&s.agent.open(DEFICIT_INFO, &reports[1].sealed_deficits[0])?)?;
    let signer = signed
        .signer(&s.agent.identity().hpke, (0, alloy::primitives::Address::ZERO))
        .expect("signed by a node enclave");
    assert!(s.don.signers().contains(&signer), "{signer} is one of the DON's signers");
    let notice = signed.notice;
    assert_eq!(notice.deficit, U256::from(supply / 100 * 5));
    assert_eq!(notice.ratio_wad, U256::from(950_000_000_000_000_000u64));
    // Back to full reserves: reported at once.
    let reports = run(&mut s, &[reading(last.observed_at + 10_800, supply, supply)]).await?;
    assert!(reports[0].transmission.as_ref().is_some_and(|t| t.body.is_solvent));
    Ok(())
}

#[tokio::test]
async fn heartbeat_retransmits_an_unchanged_outcome() -> R {
    let mut s = setup(1_000).await?;
    let rs: Vec<_> = (0..30).map(|i| reading(2_000 + i * 3_600, 100, 100)).collect();
    let reports = run(&mut s, &rs).await?;
    let n = reports.iter().filter(|r| r.transmission.is_some()).count();
    assert_eq!(n, 2, "first report and one heartbeat after 24 h over 29 h");
    Ok(())
}

/// Every `ReserveStatusUpdated(isSolvent, observedAt)` published, and the honest outcome per
/// observation time, after running `readings` with `node` misbehaving.
async fn published_with(
    node: Option<(usize, Behavior)>,
    readings: &[ReserveReading],
) -> R<(Vec<(bool, u64)>, Vec<(u64, bool)>)> {
    let mut s = setup(readings[0].observed_at - 10).await?;
    if let Some((i, b)) = node {
        s.don.set_behavior(i, b);
    }
    let reports = run(&mut s, readings).await?;
    let outcomes =
        reports.iter().filter_map(|r| r.outcome.map(|o| (o.observed_at, o.is_solvent))).collect();
    Ok((shr_oracle::status_history(&s.chain, s.dep.receiver).await?, outcomes))
}

#[tokio::test]
async fn one_byzantine_or_offline_node_of_four_cannot_change_the_outcome() -> R {
    let supply = 1_000 * E8;
    let mut rs: Vec<_> = (0..12).map(|i| reading(10_000 + i * 3_600, supply, supply)).collect();
    for r in &mut rs[4..8] {
        r.reserves = U256::from(supply / 10 * 9);
    }
    let (honest_pub, honest) = published_with(None, &rs).await?;
    assert_eq!(honest_pub.iter().map(|p| p.0).collect::<Vec<_>>(), vec![true, false, true]);
    let truth = |t: u64| honest.iter().find(|(ht, _)| *ht == t).map(|(_, s)| *s);
    for node in 0..4 {
        for b in [Behavior::FlipOutcome, Behavior::ForgeSignatures, Behavior::Offline] {
            let (published, _) = published_with(Some((node, b)), &rs).await?;
            // A faulty node may delay a change by the round it leads; it never publishes a false value.
            for (s, t) in &published {
                assert_eq!(Some(*s), truth(*t), "node {node} {b:?} published {s} for {t}");
            }
            assert_eq!(
                published.iter().map(|p| p.0).collect::<Vec<_>>(),
                vec![true, false, true],
                "node {node} {b:?}"
            );
        }
    }
    Ok(())
}

/// Sends the recorded first transmission again with changes; returns the forwarder's result.
struct Recorded {
    raw: Bytes,
    context: Bytes,
    sigs: Vec<Bytes>,
}

fn first_report(s: &Setup) -> Recorded {
    let (tx, _) = s
        .chain
        .sent()
        .into_iter()
        .find(|(tx, r)| {
            tx.to == Some(s.dep.forwarder)
                && r.is_some()
                && tx.data.starts_with(&KeystoneForwarder::reportCall::SELECTOR)
        })
        .expect("a transmission");
    let c = KeystoneForwarder::reportCall::abi_decode(&tx.data).unwrap();
    Recorded { raw: c.rawReport, context: c.reportContext, sigs: c.signatures }
}

async fn resend(
    s: &Setup,
    receiver: Address,
    raw: &Bytes,
    context: &Bytes,
    sigs: Vec<Bytes>,
) -> Result<bool, shr_contracts::Error> {
    let call = KeystoneForwarder::reportCall {
        receiver,
        rawReport: raw.clone(),
        reportContext: context.clone(),
        signatures: sigs,
    };
    let r = send(&s.chain, s.chain.accounts()[2], s.dep.forwarder, &call).await?;
    Ok(r.logs
        .iter()
        .find_map(|l| KeystoneForwarder::ReportProcessed::decode_log(&l.to_primitive()).ok())
        .is_some_and(|e| e.result))
}

fn fwd_err(e: &shr_contracts::Error) -> &KeystoneForwarder::KeystoneForwarderErrors {
    match e.revert() {
        Some(Revert::KeystoneForwarder(x)) => x,
        other => panic!("expected a forwarder error, got {other:?} ({e})"),
    }
}

#[tokio::test]
async fn forwarder_and_receiver_refuse_bad_reports_and_state_stays() -> R {
    use KeystoneForwarder::KeystoneForwarderErrors as F;
    let mut s = setup(1_000).await?;
    run(&mut s, &[reading(2_000, 100, 100)]).await?;
    let state = attested_state(&s.chain, s.dep.receiver).await?;
    assert_eq!(state, (true, 2_000));
    let rec = first_report(&s);

    // f signatures, f+2 signatures.
    let e = resend(&s, s.dep.receiver, &rec.raw, &rec.context, rec.sigs[..1].to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(fwd_err(&e), F::InvalidSignatureCount(x) if x.expected == 2 && x.received == U256::from(1))
    );
    let mut three = rec.sigs.clone();
    three.push(Bytes::from(vec![1u8; 65]));
    let e = resend(&s, s.dep.receiver, &rec.raw, &rec.context, three).await.unwrap_err();
    assert!(matches!(fwd_err(&e), F::InvalidSignatureCount(_)));
    // A signature from a key outside the config.
    let stranger = PrivateKeySigner::random();
    let forged =
        forwarder_signature(&stranger.sign_hash_sync(&report_digest(&rec.raw, &rec.context))?);
    let e = resend(
        &s,
        s.dep.receiver,
        &rec.raw,
        &rec.context,
        vec![rec.sigs[0].clone(), Bytes::copy_from_slice(&forged)],
    )
    .await
    .unwrap_err();
    assert!(matches!(fwd_err(&e), F::InvalidSigner(x) if x.signer == stranger.address()));
    // A duplicated signer.
    let e = resend(
        &s,
        s.dep.receiver,
        &rec.raw,
        &rec.context,
        vec![rec.sigs[0].clone(), rec.sigs[0].clone()],
    )
    .await
    .unwrap_err();
    assert!(matches!(fwd_err(&e), F::DuplicateSigner(_)));
    // The same report again: replay protection by transmission id.
    let e = resend(&s, s.dep.receiver, &rec.raw, &rec.context, rec.sigs.clone()).await.unwrap_err();
    assert!(matches!(fwd_err(&e), F::AlreadyAttempted(_)), "{e}");
    // A wrong config version in the header.
    let mut raw = rec.raw.to_vec();
    raw[44] ^= 0x02;
    let e =
        resend(&s, s.dep.receiver, &raw.into(), &rec.context, rec.sigs.clone()).await.unwrap_err();
    assert!(matches!(fwd_err(&e), F::InvalidConfig(_)), "{e}");
    // A tampered body (insolvent): signatures no longer recover to the DON.
    let mut raw = rec.raw.to_vec();
    raw[109 + 31] = 0;
    let e =
        resend(&s, s.dep.receiver, &raw.into(), &rec.context, rec.sigs.clone()).await.unwrap_err();
    assert!(matches!(fwd_err(&e), F::InvalidSigner(_)), "{e}");
    assert_eq!(attested_state(&s.chain, s.dep.receiver).await?, state);

    // A receiver for another workflow id: the forwarder delivers, our receiver refuses.
    let owner = s.chain.accounts()[0];
    let foreign = deploy::reserve_attestation(
        &s.chain,
        owner,
        s.dep.forwarder,
        owner,
        B256::repeat_byte(0xEE),
    )
    .await?;
    assert!(!resend(&s, foreign, &rec.raw, &rec.context, rec.sigs.clone()).await?);
    assert_eq!(attested_state(&s.chain, foreign).await?, (false, 0));
    // Finding 7: a redeployment with the same forwarder, workflow id and owner. The forwarder's
    // signatures do not cover the receiver, so it delivers; the body names the original
    // receiver, and the redeployment refuses it.
    let w0 = s.don.config().workflow;
    let twin = deploy::reserve_attestation(
        &s.chain,
        owner,
        s.dep.forwarder,
        w0.workflow_owner,
        w0.workflow_id,
    )
    .await?;
    assert!(!resend(&s, twin, &rec.raw, &rec.context, rec.sigs.clone()).await?);
    assert_eq!(attested_state(&s.chain, twin).await?, (false, 0));
    // A receiver for another workflow owner.
    let w = s.don.config().workflow.workflow_id;
    let other_owner =
        deploy::reserve_attestation(&s.chain, owner, s.dep.forwarder, s.chain.accounts()[5], w)
            .await?;
    assert!(!resend(&s, other_owner, &rec.raw, &rec.context, rec.sigs.clone()).await?);
    // A contract that is not a receiver (no ERC-165 IReceiver).
    let token = deploy::test_token(&s.chain, owner, "T", "T", 8, owner).await?;
    assert!(!resend(&s, token, &rec.raw, &rec.context, rec.sigs.clone()).await?);
    // A caller other than the forwarder.
    let direct = ReserveAttestation::onReportCall {
        metadata: rec.raw.slice(45..109),
        report: rec.raw.slice(109..),
    };
    let e = send(&s.chain, owner, s.dep.receiver, &direct).await.unwrap_err();
    assert!(
        matches!(
            e.revert(),
            Some(Revert::ReserveAttestation(
                ReserveAttestation::ReserveAttestationErrors::InvalidSender(_)
            ))
        ),
        "{e}"
    );
    assert_eq!(attested_state(&s.chain, s.dep.receiver).await?, state);
    let _ = TestToken::decimalsCall {};
    Ok(())
}

#[tokio::test]
async fn a_report_not_newer_than_the_last_is_ignored() -> R {
    let mut s = setup(1_000).await?;
    run(&mut s, &[reading(5_000, 100, 100)]).await?;
    // A second DON round with an older observation: the DON itself does not transmit it...
    let reports = run(&mut s, &[reading(4_000, 50, 100), reading(4_500, 50, 100)]).await?;
    assert!(reports.iter().all(|r| r.transmission.is_none()));
    // ...and the receiver ignores one delivered anyway (emits StaleReportIgnored).
    assert_eq!(attested_state(&s.chain, s.dep.receiver).await?, (true, 5_000));
    assert_eq!(shr_oracle::status_history(&s.chain, s.dep.receiver).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_don_reports_through_the_real_forwarder_on_anvil_too() -> R {
    let anvil = shr_contracts::anvil::Anvil::spawn()?;
    let chain = shr_chain::RpcChain::connect(shr_chain::RpcConfig::new(anvil.url())).await?;
    let tee = SimulatedTee::new();
    let owner = chain.accounts()[0];
    let mut don = Don::new(&tee, DonConfig::new("wbtc-por", owner, 8))?;
    let dep = don.deploy(&chain, owner).await?;
    let now = chain.timestamp().await?;
    let supply = 1_000 * E8;
    let mut published = Vec::new();
    for (i, reserves) in [supply, supply / 10 * 9, supply / 10 * 9, supply].into_iter().enumerate()
    {
        let r = reading(now + 10 + i as u64 * 3_600, reserves, supply);
        let rep = don
            .round(&chain, &dep, chain.accounts()[1], r.observed_at, |_| NodeInput::Reading(r))
            .await?;
        if let Some(t) = rep.transmission {
            assert!(t.accepted);
            published.push(t.body.is_solvent);
        }
    }
    assert_eq!(published, vec![true, false, true]);
    assert!(attested_state(&chain, dep.receiver).await?.0);
    Ok(())
}

#[tokio::test]
async fn public_feed_source_reads_an_aggregator_v3_feed_and_total_supply() -> R {
    use shr_contracts::bindings::ReserveFeed;
    use shr_oracle::{FeedSource, ReserveSource};
    let s = setup(1_000).await?;
    let chain: std::sync::Arc<dyn Chain> =
        std::sync::Arc::new(EmbeddedChain::with_config(shr_chain::EmbeddedConfig {
            genesis_timestamp: 1_000,
            ..Default::default()
        }));
    let admin = chain.accounts()[0];
    // A PoR feed with 8 decimals and an 8-decimal token: 150 BTC of reserves, 149 minted.
    let feed = deploy::reserve_feed(chain.as_ref(), admin, 8, "WBTC PoR", admin).await?;
    let token = deploy::test_token(chain.as_ref(), admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    send(
        chain.as_ref(),
        admin,
        token,
        &TestToken::mintCall { to: admin, amount: U256::from(149 * E8) },
    )
    .await?;
    send(
        chain.as_ref(),
        admin,
        feed,
        &ReserveFeed::updateAnswerCall {
            answer: alloy::primitives::I256::try_from(150 * E8)?,
            updatedAt: U256::from(1_500),
        },
    )
    .await?;
    let src = FeedSource::new(chain.clone(), feed, token);
    let r = src.read().await?;
    assert_eq!(
        (r.reserves, r.supply, r.observed_at),
        (U256::from(150 * E8), U256::from(149 * E8), 1_500)
    );
    let input = src.fetch(s.don.nodes()[0].identity(), 1_600).await?;
    assert!(matches!(input, NodeInput::Public(x) if x == r));
    // A negative answer is refused, naming the field.
    send(
        chain.as_ref(),
        admin,
        feed,
        &ReserveFeed::updateAnswerCall {
            answer: alloy::primitives::I256::try_from(-1)?,
            updatedAt: U256::from(1_600),
        },
    )
    .await?;
    let e = src.read().await.unwrap_err().to_string();
    assert!(e.contains("latestRoundData.answer") && e.contains("negative"), "{e}");
    Ok(())
}
