//! Privacy is a feature we test: after a replay window of the real wBTC series with an injected
//! sustained shortfall, no reserve amount, reserve ratio or deficit appears in any transaction's
//! calldata, any log, or any storage word the chain holds, in any encoding we can think of
//! (uint256 words and their packed bytes, 8- and 18-decimal scalings, wad and bps ratios, decimal
//! strings). The token supply is public by nature and not scanned.

use std::collections::BTreeSet;

use alloy::primitives::U256;
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig, RecordingChain, observer::Observer};
use shr_contracts::deploy;
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{
    DEFICIT_INFO, Don, DonConfig, RecoveryAccounts, ReserveSeries, SeriesColumns,
    SignedDeficitNotice, WAD, amount::format_amount,
};

type R<T = ()> = eyre::Result<T>;

/// Every byte string a private value could leave behind.
fn encodings(v: U256, decimals: u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let word = v.to_be_bytes::<32>();
    out.push(word.to_vec());
    let packed: Vec<u8> = word.iter().copied().skip_while(|b| *b == 0).collect();
    if packed.len() >= 6 {
        out.push(packed);
    }
    out.push(v.to_string().into_bytes());
    if decimals > 0 {
        out.push(format_amount(v, decimals).into_bytes());
        out.push(format_amount(v, decimals).trim_end_matches('0').as_bytes().to_vec());
    }
    out
}

fn private_values(series: &[shr_oracle::ReserveReading]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let e10 = U256::from(10_000_000_000u64);
    for r in series {
        let ratio_wad = r.reserves * WAD / r.supply;
        let deficit = r.supply.saturating_sub(r.reserves);
        out.extend(encodings(r.reserves, 8)); // sats, 8-decimal
        out.extend(encodings(r.reserves * e10, 18)); // 18-decimal scaling
        out.extend(encodings(ratio_wad, 18)); // wad
        out.extend(encodings(ratio_wad / e10, 8)); // 8-decimal ratio
        out.extend(encodings(ratio_wad / U256::from(100_000_000_000_000u64), 4)); // bps
        if deficit > U256::from(1_000_000u64) {
            out.extend(encodings(deficit, 8));
            out.extend(encodings(deficit * e10, 18));
        }
    }
    out.retain(|e| e.len() >= 6);
    out.sort();
    out.dedup();
    out
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_private_number_reaches_calldata_logs_or_storage() -> R {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv"
    );
    let series = ReserveSeries::from_path(p.as_ref(), &SeriesColumns::wbtc(), 8)?;
    // 2024-10-07 .. 2024-10-10 (the real glitch inside), then a sustained 5 % shortfall.
    let mut window = series.window(Some(1_728_259_200), Some(1_728_518_400)).to_vec();
    let n = window.len();
    for r in &mut window[n - 12..n - 4] {
        r.reserves = r.supply * U256::from(95) / U256::from(100);
    }
    let chain = RecordingChain::new(EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: window[0].observed_at - 1,
        ..Default::default()
    }));
    let tee = SimulatedTee::new();
    let agent = Enclave::launch(&tee, "shr-agent@test")?;
    let mut cfg = DonConfig::new("wbtc-por", chain.accounts()[0], 8);
    cfg.agent_key = Some(agent.identity().hpke);
    let mut don = Don::new(&tee, cfg)?;
    let dep = don.deploy(&chain, chain.accounts()[0]).await?;
    // The production path: each round's nodes read a (still empty) ReserveVault at a block.
    let admin = chain.accounts()[0];
    let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
    let vault = deploy::reserve_vault(&chain, admin, wbtc, admin).await?;
    let chain_id = chain.chain_id().await?;
    let recovery =
        RecoveryAccounts { chain_id, vault, treasury: admin, collateral: wbtc, pool: None };
    don.set_recovery(recovery);
    let transmitter = (chain.accounts()[1], Some(recovery));
    let summary =
        shr_oracle::replay(&mut don, &chain, &dep, transmitter, &window, |_, _| {}).await?;
    assert_eq!(summary.state_changes, 2, "the shortfall went public as a boolean, and back");
    assert!(summary.sealed_deficits.len() >= 2, "f+1 nodes seal the one insolvent report");
    assert!(summary.sealed_deficits.iter().all(|(t, _)| *t == summary.sealed_deficits[0].0));
    // The deficit did reach the agent, sealed.
    let notice: SignedDeficitNotice =
        serde_json::from_slice(&agent.open(DEFICIT_INFO, &summary.sealed_deficits[0].1)?)?;
    let notice = notice.notice;
    assert!(notice.deficit > U256::ZERO);

    // Everything the chain saw or holds.
    let hay = chain.public_bytes().await?;
    assert!(
        summary.transmissions >= 3 && hay.len() > 50,
        "the scan covers a real scenario ({} haystacks)",
        hay.len()
    );

    let private = private_values(&window);
    // Canary: the scanner finds a private value when one is planted.
    let mut planted = hay.clone();
    planted.push([b"xx".as_slice(), &private[private.len() / 2], b"yy"].concat());
    assert!(
        planted.iter().any(|h| private.iter().any(|p| find(h, p))),
        "the scanner must be able to fail"
    );

    let mut hits = Vec::new();
    for (i, h) in hay.iter().enumerate() {
        for p in &private {
            if find(h, p) {
                hits.push((i, alloy::primitives::hex::encode(p)));
            }
        }
    }
    assert!(hits.is_empty(), "private values on chain: {hits:?}");

    // An observer doing arithmetic on every public number, with every reading's (public)
    // supply: reserves, deficits, ratios and their distance to 100 % are not derived.
    let supplies: Vec<U256> =
        window.iter().map(|r| r.supply).collect::<BTreeSet<_>>().into_iter().collect();
    let mut observer = Observer::new(&supplies);
    hay.iter().for_each(|h| observer.read_bytes(h));
    let mut private = BTreeSet::new();
    for r in &window {
        let ratio = r.reserves * WAD / r.supply;
        private.extend([
            r.reserves,
            ratio,
            ratio.abs_diff(WAD),
            r.supply.saturating_sub(r.reserves),
        ]);
    }
    private.retain(|v| *v >= U256::from(1_000u32));
    let short = window[n - 5];
    let mut planted = observer.clone();
    planted.insert(short.reserves * U256::from(10_000_000_000u64)); // 18-decimal reserves
    assert!(planted.finds(&private).contains(&short.reserves), "it can fail");
    let found = observer.finds(&private);
    assert!(found.is_empty(), "an observer derives private values: {found:?}");
    Ok(())
}
