//! `large-deficit` and `darkpool-failure`: a deficit far beyond the AMM goes to the dark pool,
//! on the embedded chain, each step timed, with what was public beside what stayed private.

use std::time::Instant;

use alloy::primitives::{Address, U256};
use serde_json::json;
use shr_chain::Chain;
use shr_contracts::{bindings::TestToken, deploy, send};
use shr_darkpool::{
    DarkPool, MakerBody, MakerCommitment, MatchStatus, MatcherEnclave, ORACLE_GRANULARITY,
    ORACLE_WINDOW_SECS, Observation, RequestStatus, TwapBound, TwapPolicy, deploy_twap_oracle,
    observe, onboard_maker, open_exit_ticket, open_notice, sync_deposits, twap_checked,
    update_twap_oracle,
};
use shr_enclave::{Enclave, TeePlatform};
use shr_oracle::{
    Don, DonConfig, NodeInput, RecoveryAccounts, ReserveReading, attested_state, read_evidence,
    seal_credit,
};
use tracing::error;

use crate::{
    DarkPoolPolicy, Mechanism, Result, ScenarioReport, Shortfall, Step, StrategyConfig, V2Pool,
    choose,
    darkpool_route::request,
    scenario::{Market, StepObserver, Steps, clock_at, don_signers, ms, opening_rounds},
};

/// One maker's pre-committed liquidity in the scenario.
#[derive(Debug, Clone, Copy)]
pub struct MakerSpec {
    /// What the maker deposits in the pool, sats: its own inventory in round lots, fixed before
    /// and independent of any order (a deposit is public; it must not invert to the deficit).
    pub inventory: u128,
    /// Committed collateral, sats (private; the enclave counts it up to the inventory).
    pub size: u128,
    /// Spread over the TWAP, bps.
    pub spread_bps: u32,
    /// Minimum fill, sats.
    pub min_fill: u128,
}

/// Inputs of the dark-pool scenarios.
#[derive(Debug, Clone)]
pub struct DarkPoolScenarioConfig {
    /// `large-deficit` or `darkpool-failure`.
    pub name: String,
    /// The last solvent real reading before the shortfall (8-decimal base units).
    pub solvent: ReserveReading,
    /// The real reading that shows the shortfall: its deficit is the scenario's.
    pub short: ReserveReading,
    /// Collateral price, USD per whole token with 8 decimals.
    pub price_usd_e8: u128,
    /// The real V2 pool `(collateral, payment)` reserves (for the impact check and the TWAP).
    pub pool: (U256, U256),
    /// The makers (accounts 3.. of the chain, at most 7).
    pub makers: Vec<MakerSpec>,
    /// Route policy.
    pub policy: DarkPoolPolicy,
}

impl DarkPoolScenarioConfig {
    /// `large-deficit`: reserves at 95 % of supply; seven makers committing 122 % of the deficit
    /// between them (spreads 5..40 bps), so the first request fills at premium 30 bps.
    pub fn large_deficit(
        (solvent, short): (ReserveReading, ReserveReading),
        price_usd_e8: u128,
        pool: (U256, U256),
    ) -> Self {
        Self::with_depth("large-deficit", (solvent, short), price_usd_e8, pool, 100)
    }

    /// `darkpool-failure`: the same makers committing half as much (61 % of the deficit): both
    /// the request and its widened retry expire unfilled, and the agent escalates.
    pub fn darkpool_failure(
        (solvent, short): (ReserveReading, ReserveReading),
        price_usd_e8: u128,
        pool: (U256, U256),
    ) -> Self {
        Self::with_depth("darkpool-failure", (solvent, short), price_usd_e8, pool, 50)
    }

    fn with_depth(
        name: &str,
        (solvent, short): (ReserveReading, ReserveReading),
        price_usd_e8: u128,
        pool: (U256, U256),
        depth_pct: u128,
    ) -> Self {
        let deficit: u128 = short.supply.saturating_sub(short.reserves).to();
        // Inventories: whole-WBTC round lots of the makers' own choosing.
        let inventories = [5_000u128, 4_000, 3_000, 2_500, 2_000, 1_500, 1_000];
        let makers = [(35u128, 5u32), (28, 10), (20, 10), (16, 15), (10, 20), (8, 25), (5, 40)]
            .into_iter()
            .zip(inventories)
            .map(|((pct, spread_bps), wbtc)| MakerSpec {
                inventory: wbtc * 100_000_000,
                size: deficit * pct / 100 * depth_pct / 100,
                spread_bps,
                min_fill: deficit / 1_000,
            })
            .collect();
        Self {
            name: name.into(),
            solvent,
            short,
            price_usd_e8,
            pool,
            makers,
            policy: DarkPoolPolicy::default(),
        }
    }
}

/// Runs a dark-pool scenario on `chain` (clock before `cfg.solvent.observed_at`), handing each
/// step to `observer` as it completes.
///
/// # Errors
/// Chain, contract, oracle, matcher, dark-pool and agent errors.
pub async fn dark_pool(
    chain: &dyn Chain,
    tee: &dyn TeePlatform,
    cfg: &DarkPoolScenarioConfig,
    observer: Option<StepObserver<'_>>,
) -> Result<ScenarioReport> {
    let accts = chain.accounts().to_vec();
    let [admin, transmitter, treasury] = [accts[0], accts[1], accts[2]];
    let mut steps = Steps::new(observer);
    let t = Instant::now();
    let t0 = cfg.solvent.observed_at;
    let (pool_wbtc, pool_weth) = cfg.pool;
    let Market { agent_key, wbtc, weth, uni, pair } =
        Market::deploy(chain, tee, admin, cfg.pool, t0).await?;
    let first_obs = observe(chain, pair, wbtc).await?;
    // Uniswap's sliding-window oracle, the on-chain TWAP every fill is checked against; anyone
    // keeps it updated (here the admin, once per period it needs).
    let twap_oracle = deploy_twap_oracle(chain, admin, uni.factory).await?;
    update_twap_oracle(chain, admin, twap_oracle, (wbtc, weth)).await?;
    let oracle_updated_at = chain.timestamp().await?;
    let vault = deploy::reserve_vault(chain, admin, wbtc, admin).await?;
    let mut matcher = MatcherEnclave::launch(tee, wbtc, weth, chain.chain_id().await?)?;
    let twap_bound = TwapBound::oracle(twap_oracle);
    let pool = DarkPool::deploy_for(chain, admin, tee, &mut matcher, twap_bound).await?;
    let mut maker_keys = Vec::new();
    // The makers' account keys (dev accounts of the embedded chain) sign their commitments.
    let signers = shr_chain::dev_signers(10);
    let chain_id = chain.chain_id().await?;
    for (i, spec) in cfg.makers.iter().enumerate().take(7) {
        let maker = accts[3 + i];
        // The maker's own inventory (round lots, independent of the deficit): the deposit is
        // public, the commitment inside it is not.
        let inventory = spec.inventory;
        send(chain, admin, wbtc, &TestToken::mintCall { to: maker, amount: U256::from(inventory) })
            .await?;
        let key = Enclave::launch_instance(tee, "shr-darkpool/maker-wallet@0.1.0", i as u32)
            .map_err(crate::Error::SealedDeficit)?;
        let commitment = MakerCommitment {
            maker,
            size: spec.size,
            min_fill: spec.min_fill,
            spread_bps: spec.spread_bps,
            expiry: t0 + 30 * 86_400,
        };
        let body =
            MakerBody::from_wallet(commitment, &key, &signers[3 + i], (chain_id, pool.address))?;
        onboard_maker(chain, &pool, &mut matcher, (admin, wbtc, inventory), &body).await?;
        maker_keys.push((maker, key));
    }
    // The treasury pre-funds the pool with the payment asset well before any request.
    let supply = cfg.short.supply;
    let prefund = U256::from(pool_weth) * supply / U256::from(pool_wbtc) / U256::from(10u64);
    send(chain, admin, weth, &TestToken::mintCall { to: treasury, amount: prefund }).await?;
    pool.deposit(chain, treasury, weth, prefund, &agent_key.identity().hpke).await?;
    let mut dcfg = DonConfig::new("wbtc-por", admin, 8);
    dcfg.agent_key = Some(agent_key.identity().hpke);
    let mut don = Don::new(tee, dcfg)?;
    let dep = don.deploy(chain, admin).await?;
    let matcher_signer = matcher.identity().signer;
    let recovery = RecoveryAccounts {
        chain_id,
        vault,
        treasury,
        collateral: wbtc,
        pool: Some((pool.address, matcher_signer)),
    };
    don.set_recovery(recovery);
    steps.push(Step {
        name: "deploy".into(), ms: ms(t), gas: 0, tx: vec![],
        public: json!({ "receiver": dep.receiver, "dark_pool": pool.address, "matcher": matcher.identity().signer, "makers": cfg.makers.len(), "treasury_prefund_wei": prefund.to_string(), "note": "deposits are ERC-20 transfers, public by nature; commitments are sealed" }),
        private: json!({ "maker_commitments_sats": cfg.makers.iter().map(|m| m.size.to_string()).collect::<Vec<_>>(), "maker_spreads_bps": cfg.makers.iter().map(|m| m.spread_bps).collect::<Vec<_>>() }),
    });

    let short = cfg.short.reserves;
    let (sealed, heal_start) =
        opening_rounds(chain, &mut don, &dep, transmitter, (&cfg.solvent, &cfg.short), &mut steps)
            .await?;

    let t = Instant::now();
    if sealed.is_empty() {
        return Err(crate::Error::NoNotice);
    }
    let notice =
        crate::agreed_deficit(&agent_key, &don_signers(&don, &recovery), t0 + 7_200, &sealed)?;
    let route = [V2Pool { reserve_in: pool_weth, reserve_out: pool_wbtc }];
    let strategy = StrategyConfig::default();
    let shortfall = Shortfall::of(&notice, 8, cfg.price_usd_e8, rand::random());
    let decision = choose(&shortfall, &route, &strategy)?;
    let why = crate::scenario::why(&decision, &strategy);
    steps.push(Step {
        name: "agent opens deficit, chooses".into(), ms: ms(t), gas: 0, tx: vec![],
        public: json!({}),
        private: json!({ "deficit_sats": notice.deficit.to_string(), "decision": format!("{decision:?}") }),
    });
    let deficit: u128 = notice.deficit.to();
    let size: u128 = match decision {
        Mechanism::DarkPool { size, .. } => size.to(),
        Mechanism::DirectSwap(p) => p.amount_out.to(),
    };
    // The oracle TWAP over a bounded window (30 min to 1 h) of the pair's cumulative prices,
    // refused when the spot price diverges from it by more than 2 %; the chain checks it
    // against the sliding-window oracle.
    let market = TwapMarket { admin, oracle: twap_oracle, pair, tokens: (wbtc, weth) };
    let mut twap = market.twap_after_window(chain, Some((first_obs, oracle_updated_at))).await?;
    // The matcher counts the pool's deposits from the chain's logs once they are final.
    chain.mine().await?;
    chain.mine().await?;
    sync_deposits(&mut matcher, chain).await?;
    // Each deposit enters the tree through a proven transition (`absorbDeposit`).
    let t = Instant::now();
    let (mut absorbed, mut absorb_gas, mut verify_gas, mut txs) = (0usize, 0u64, 0u64, Vec::new());
    while let Some(auth) = matcher.absorb_next()? {
        let r = pool.absorb(chain, admin, &auth).await?;
        matcher.confirm()?;
        verify_gas =
            verify_gas.max(pool.change_verification_gas(chain, admin, &auth, false).await?);
        absorbed += 1;
        absorb_gas += r.gas_used;
        txs.push(r.tx_hash.to_string());
    }
    steps.push(Step {
        name: "matcher absorbs deposits (proven)".into(), ms: ms(t), gas: absorb_gas, tx: txs,
        public: json!({ "deposits_absorbed": absorbed, "proof": "Groth16 (bn254) of the balance-change circuit per deposit, verified on chain", "verification_gas": verify_gas, "note": "each deposit's amount is public (an ERC-20 transfer); the proof adds exactly it to the party's leaf" }),
        private: json!({ "tree_root": matcher.committed() }),
    });

    let mut ticket = None;
    let mut restored_at = None;
    let (mut request_ids, mut escalated) = (Vec::new(), false);
    for attempt in 0..2u32 {
        let t = Instant::now();
        let now = chain.timestamp().await?;
        let order = cfg.policy.order((size, deficit), twap, attempt, now);
        let (id, sealed_order, rr) = request(
            chain,
            &pool,
            treasury,
            &matcher.identity().hpke,
            &agent_key,
            order,
            &cfg.policy,
        )
        .await?;
        request_ids.push(id);
        steps.push(Step {
            name: format!("requestCollateral (attempt {})", attempt + 1), ms: ms(t), gas: rr.gas_used, tx: vec![rr.tx_hash.to_string()],
            public: json!({ "request_id": id, "status": pool.status(chain, id).await?, "premium_bps": order.premium_bps, "twap_wad": twap.to_string(), "note": "the TWAP is public: anyone computes it from the pair's cumulative prices" }),
            private: json!({ "order_size_sats": order.size.to_string(), "band_wad": [order.min_price_wad.to_string(), order.max_price_wad.to_string()] }),
        });
        let t = Instant::now();
        let request = pool.request_ref(chain, id).await?;
        let (outcome, settlement) =
            matcher.settle(&request, &sealed_order, twap, chain.timestamp().await?)?;
        if let Some(s) = settlement {
            let r = pool.fill(chain, admin, &s).await?;
            matcher.confirm()?;
            let verification_gas = pool.fill_verification_gas(chain, admin, &s).await?;
            let key = shr_darkpool::mailbox_key(&shr_darkpool::mailbox_secret(&agent_key)?, id);
            let mine = s.notices.iter().find(|(k, _)| *k == key).ok_or(crate::Error::NoNotice)?;
            let n = open_notice(&agent_key, &mine.1)?;
            // The matcher's exit ticket for the treasury at the new commitment, sealed to it
            // (the service stores it under `exit`); the agent forwards it to the oracle nodes.
            ticket = matcher
                .exit_tickets()?
                .into_iter()
                .find(|(party, _)| *party == treasury)
                .map(|(_, sealed)| open_exit_ticket(&agent_key, &sealed))
                .transpose()?;
            steps.push(Step {
                name: "matcher settles (confidentialFill)".into(), ms: ms(t), gas: r.gas_used, tx: vec![r.tx_hash.to_string()],
                public: json!({ "request_id": id, "status": pool.status(chain, id).await?, "commitment": s.new_commitment, "version": s.version, "proof": "Groth16 (bn254) of the fill circuit, verified on chain", "proving_ms": s.proving_ms, "verification_gas": verification_gas, "anonymity_set_makers": shr_zk::MAKER_SLOTS }),
                private: json!({ "fills": outcome.fills.iter().map(|f| json!({"maker": f.maker, "sats": f.amount.to_string(), "price_wad": f.price_wad.to_string()})).collect::<Vec<_>>(), "paid_wei": outcome.payment.to_string(), "requester_notice_sats": n.collateral.to_string() }),
            });
            if outcome.status == MatchStatus::Filled {
                break;
            }
        } else {
            // Nothing fills: wait out the timeout, expire (refund), nothing revealed.
            chain.advance_time(cfg.policy.timeout_secs + 1).await?;
            let r = pool.expire(chain, admin, id).await?;
            let status = pool.status(chain, id).await?;
            if attempt == 0 {
                // The retry is priced at the TWAP of the window that follows.
                twap = market.twap_after_window(chain, None).await?;
            }
            steps.push(Step {
                name: format!("timeout, expire (attempt {})", attempt + 1), ms: ms(t), gas: r.gas_used, tx: vec![r.tx_hash.to_string()],
                public: json!({ "request_id": id, "status": status }),
                private: json!({ "committed_liquidity_within_band_short": true, "filled_sats": "0" }),
            });
            if attempt == 1 {
                escalated = true;
                error!(target: "shr::agent::alert", request_id = id, "dark-pool recovery failed twice; escalating to the operator");
                steps.push(Step {
                    name: "escalate (alert)".into(), ms: 0.0, gas: 0, tx: vec![],
                    public: json!({ "last_request_status": status }),
                    private: json!({ "alert": "dark-pool recovery failed after one widened retry", "deficit_sats": deficit.to_string() }),
                });
            }
        }
    }

    // The next round counts the vault and the treasury's credited collateral in the pool.
    let r = ReserveReading {
        observed_at: t0 + 10_800 + 2 * cfg.policy.timeout_secs,
        reserves: short,
        supply,
        ripcord: false,
    };
    let t = Instant::now();
    // Each node's host reads the vault and the pool's commitment at one block it names; each
    // enclave opens the forwarded ticket and checks it against that commitment.
    let now = r.observed_at.max(chain.timestamp().await? + 1);
    clock_at(chain, now).await?;
    let evidence = read_evidence(chain, &recovery).await?;
    let mut forwarded = Vec::new();
    for signer in don.signers() {
        let node = don.nodes().iter().find(|n| n.identity().signer == *signer);
        forwarded.push(match (node, &ticket) {
            (Some(n), Some(t)) => Some(seal_credit(&n.identity().hpke, t)?),
            _ => None,
        });
    }
    let credit =
        evidence.vault_balance + U256::from(ticket.as_ref().map_or(0, |t| t.leaf.collateral));
    let rep = don
        .round(chain, &dep, transmitter, now, |i| NodeInput::Recovered {
            inner: Box::new(NodeInput::Reading(r)),
            evidence,
            ticket: forwarded.get(i).cloned().flatten(),
        })
        .await?;
    let tx = rep.transmission.as_ref();
    if tx.is_some_and(|t| t.accepted && t.body.is_solvent) {
        restored_at = heal_start.map(|s| s.elapsed().as_secs_f64() * 1e3);
    }
    let (final_is_solvent, _) = attested_state(chain, dep.receiver).await?;
    steps.push(Step {
        name: if final_is_solvent { "attest (restored)".into() } else { "attest (still insolvent)".into() },
        ms: ms(t), gas: tx.map_or(0, |t| t.gas_used),
        tx: tx.map(|t| vec![t.tx_hash.to_string()]).unwrap_or_default(),
        public: json!({ "isSolvent": final_is_solvent, "evidence_block": evidence.block, "commitment_version": evidence.pool.map(|p| p.version) }),
        private: json!({ "reserve_ratio_wad_with_credit": ((short + credit) * shr_oracle::WAD / supply).to_string() }),
    });
    let _: (Address, Address) = (vault, uni.router);
    let mut request_statuses = Vec::new();
    for id in request_ids {
        let s =
            serde_json::to_value(pool.status(chain, id).await?).map_err(crate::Error::Notice)?;
        request_statuses.push(s.as_str().unwrap_or_default().to_string());
    }
    Ok(ScenarioReport {
        scenario: cfg.name.clone(),
        mechanism: match decision {
            Mechanism::DarkPool { .. } => "dark_pool",
            Mechanism::DirectSwap(_) => "direct_swap",
        }
        .into(),
        request_statuses,
        escalated,
        restored: restored_at.is_some(),
        final_is_solvent,
        time_to_heal_ms: restored_at.unwrap_or(0.0),
        why,
        steps: steps.into_vec(),
    })
}

/// Whether a request status is final.
pub fn is_final(s: RequestStatus) -> bool {
    matches!(s, RequestStatus::Filled | RequestStatus::Expired | RequestStatus::Cancelled)
}

/// The pair whose TWAP prices the dark pool's fills and the sliding-window oracle the chain
/// checks them against.
struct TwapMarket {
    admin: Address,
    oracle: Address,
    pair: Address,
    tokens: (Address, Address),
}

impl TwapMarket {
    /// The matcher's TWAP a window after `earlier` (an observation and the time the oracle was
    /// updated with it), or after an observation and oracle update made now when `earlier` is
    /// `None` or more than one oracle period old: advances the dev chain to the middle of the
    /// third period after the update, where the oracle averages over 30 to 60 minutes.
    async fn twap_after_window(
        &self,
        chain: &dyn Chain,
        earlier: Option<(Observation, u64)>,
    ) -> Result<u128> {
        let period = ORACLE_WINDOW_SECS / u64::from(ORACLE_GRANULARITY);
        let now = chain.timestamp().await?;
        let (earlier, updated_at) = match earlier {
            Some((o, at)) if now.saturating_sub(at) <= period => (o, at),
            _ => {
                let o = observe(chain, self.pair, self.tokens.0).await?;
                update_twap_oracle(chain, self.admin, self.oracle, self.tokens).await?;
                (o, chain.timestamp().await?)
            }
        };
        let opens = (updated_at / period + 3) * period + period / 2;
        let now = chain.timestamp().await?;
        chain.advance_time(opens.saturating_sub(now)).await?;
        Ok(twap_checked(chain, self.pair, self.tokens.0, &earlier, &TwapPolicy::default()).await?)
    }
}
