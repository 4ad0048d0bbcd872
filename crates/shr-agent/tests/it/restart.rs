//! Kill the agent at every step of its state machine and restart it: it never swaps twice and
//! never loses the incident. Also: duplicate deliveries, dry run, junk and forged (unsigned)
//! deficit notices.

use crate::support;

use alloy::primitives::U256;
use shr_agent::{Agent, Error};
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_oracle::attested_state;
use support::{DEFICIT, R, SUPPLY};

async fn world() -> R<support::TestWorld<EmbeddedChain>> {
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_728_000_000,
        ..Default::default()
    });
    support::insolvent(chain, U256::from(DEFICIT)).await
}

#[tokio::test]
async fn killed_at_any_step_the_agent_resumes_and_pays_once() -> R {
    for stage in ["detected", "decided", "swap_sent", "swap_confirmed"] {
        let w = world().await?;
        let (_, treasury_before) = w.balances().await?;
        let mut crashing = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
        crashing.crash_after = Some(stage);
        let err = crashing.run_once().await.unwrap_err();
        assert!(matches!(err, Error::InjectedCrash(s) if s == stage), "{err}");
        drop(crashing);
        // Restart: a new process with the same database.
        let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
        let touched = agent.run_once().await?;
        assert_eq!(touched, vec![(w.incident(), "swap_confirmed".into())], "{stage}: not lost");
        let (vault, treasury) = w.balances().await?;
        assert!(support::one_buy(vault), "{stage}: exactly one swap ({vault})");
        let paid = treasury_before - treasury;
        assert!(
            paid > U256::ZERO && paid < U256::from(12u128 * 10u128.pow(18)),
            "{stage}: paid once ({paid})"
        );
        // A duplicate delivery (cursor rewound) changes nothing.
        let store = w.store().await?;
        store.set_cursor("agent/reserve-status", 0).await?;
        Agent::new(&w.chain, store, &w.key, w.cfg.clone()).run_once().await?;
        assert_eq!(
            w.balances().await?,
            (vault, treasury),
            "{stage}: duplicate delivery paid again"
        );
    }
    Ok(())
}

#[tokio::test]
async fn restored_after_the_next_attestation() -> R {
    let w = world().await?;
    let agent = Agent::new(&w.chain, w.store().await?, &w.key, w.cfg.clone());
    agent.run_once().await?;
    let (vault, _) = w.balances().await?;
    assert!(vault >= U256::from(DEFICIT), "the swap bought at least the deficit");
    w.round(10_800, U256::from(SUPPLY - DEFICIT)).await?;
    assert!(attested_state(&w.chain, w.dep.receiver).await?.0);
    let touched = agent.run_once().await?;
    assert_eq!(touched, vec![(w.incident(), "restored".to_string())]);
    // Nothing private in the plain columns.
    let row = w.store().await?.incidents().await?.remove(0);
    assert_eq!(row.status, "restored");
    assert!(!row.sealed_state.windows(8).any(|x| x == DEFICIT.to_string().as_bytes()));
    Ok(())
}

#[tokio::test]
async fn dry_run_sends_nothing_and_bad_or_forged_notices_fail_safely() -> R {
    let w = world().await?;
    let before = w.balances().await?;
    let mut cfg = w.cfg.clone();
    cfg.execute = false;
    let touched = Agent::new(&w.chain, w.store().await?, &w.key, cfg).run_once().await?;
    assert_eq!(touched[0].1, "decided");
    assert_eq!(w.balances().await?, before, "dry run pays nothing");

    // The attack: whoever can write the mailbox seals notices to the agent's public key (junk,
    // and a well-formed unsigned notice of a huge deficit). None counts: the incident waits,
    // pays nothing, and fails at the notice timeout.
    let w = support::solvent(EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: 1_728_000_000,
        ..Default::default()
    }))
    .await?;
    w.short(U256::from(DEFICIT), false).await?;
    let store = w.store().await?;
    store.put_sealed_deficit(w.t0 + 7200, &[0u8; 80]).await?;
    let forged = shr_oracle::DeficitNotice {
        deficit: U256::from(50 * DEFICIT),
        ratio_wad: U256::ZERO,
        supply: U256::from(support::SUPPLY),
        observed_at: w.t0 + 7200,
    };
    let sealed = shr_enclave::seal_sized(
        &w.key.identity().hpke,
        shr_oracle::DEFICIT_INFO,
        &serde_json::to_vec(&forged)?,
        shr_oracle::DEFICIT_SIZE,
    )?;
    store.put_sealed_deficit(w.t0 + 7200, sealed.as_bytes()).await?;
    let agent = Agent::new(&w.chain, store, &w.key, w.cfg.clone());
    assert_eq!(agent.run_once().await?[0].1, "detected");
    assert_eq!(w.balances().await?.0, U256::ZERO);
    w.chain.advance_time(w.cfg.notice_timeout_secs + 1).await?;
    assert_eq!(agent.run_once().await?[0].1, "failed");
    assert_eq!(w.balances().await?.0, U256::ZERO);
    Ok(())
}
