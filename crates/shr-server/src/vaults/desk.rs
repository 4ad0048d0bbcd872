//! The desk's state and logic, run on its own thread (see [`super::VaultDesk`]).

use std::collections::VecDeque;

use alloy::primitives::U256;
use shr_agent::{RebalanceBundle, encode_plan, lending::LendingWorld, send_bundle};
use shr_chain::{Chain, EmbeddedChain};
use shr_risk::{
    PlanConfig, WAD,
    crash::{Rng, Tick, random_drops},
    wad_decimal,
};
use shr_store::RebalancePlanRow;
use tokio::{sync::oneshot, time::Instant};
use tracing::{debug, error, info, warn};

use super::{
    EncodedCall, Execution, PlanBundle, PlanMetadata, PriceChange, RebalanceEvent, SYMBOLS,
    SimulateRequest, SimulationView, TickView, VaultView, Which, vault_err,
};
use crate::{AppState, Error, Event, Result, events::rfc3339_ms, state::now_ms};

/// Ticks a simulation runs at most.
const MAX_TICKS: u32 = 50;
/// Finished simulations kept for `GET /api/simulations/{id}`.
const RECENT: usize = 16;
/// How long a plan's transaction stays valid, seconds of chain time.
const PLAN_VALIDITY_SECS: u64 = 3_600;

fn to_usd(e8: i64) -> f64 {
    e8 as f64 / 1e8
}

fn usd(wad: u128) -> f64 {
    wad as f64 / WAD as f64
}

/// The running simulation.
struct Sim {
    view: SimulationView,
    ticks: Vec<Tick>,
    pos: usize,
    previous: [u128; 4],
    after: usize,
    next_at: Instant,
    rng: Rng,
    waiters: Vec<oneshot::Sender<Result<SimulationView>>>,
}

impl Sim {
    fn delay(&mut self) -> std::time::Duration {
        let ms = self.view.tick_ms.unwrap_or_else(|| 2_000 + self.rng.next_u64() % 1_001);
        std::time::Duration::from_millis(ms)
    }
}

pub(super) struct Desk {
    world: LendingWorld<EmbeddedChain>,
    state: AppState,
    /// The collateral oracles' prices before the first simulation, e8: each simulation
    /// restarts the crash from them.
    initial: Option<[i64; 2]>,
    sim: Option<Sim>,
    recent: VecDeque<SimulationView>,
    /// Per vault, the latest plan not executed: its event and the bundle the event shows.
    pending: Vec<Option<(RebalanceEvent, RebalanceBundle)>>,
    seq: u64,
    /// This process's random tag in event and simulation ids: ids stay unique across restarts
    /// and across processes sharing one store.
    instance: String,
}

fn encoded(c: &shr_agent::BundleCall) -> EncodedCall {
    EncodedCall {
        kind: c.kind.into(),
        target: c.target.to_string(),
        value: c.value.to_string(),
        calldata: c.calldata.to_string(),
        description: c.description.clone(),
    }
}

fn bundle_view(b: &RebalanceBundle, plan: &shr_risk::Plan) -> PlanBundle {
    PlanBundle {
        chain_id: b.chain_id,
        from: b.from.to_string(),
        transaction: encoded(&b.transaction),
        actions: b.actions.iter().map(encoded).collect(),
        metadata: PlanMetadata {
            gas_estimate: b.gas_estimate,
            projected_hf: wad_decimal(plan.hf_projected_wad),
            repay_assets: b.repay_assets.to_string(),
            amount_in_maximum: b.amount_in_maximum.to_string(),
            expected_amount_in: b.expected_amount_in.to_string(),
            slippage_bps: plan.slippage_bps,
            deadline: b.deadline,
        },
    }
}

impl Desk {
    pub(super) fn new(world: LendingWorld<EmbeddedChain>, state: AppState) -> Self {
        let n = world.vaults.len();
        Self {
            world,
            state,
            initial: None,
            sim: None,
            recent: VecDeque::new(),
            pending: vec![None; n],
            seq: 0,
            instance: alloy::primitives::B256::random().to_string()[2..10].to_owned(),
        }
    }

    /// Marks the stored plans a previous process left `planned` as `abandoned`: they were
    /// made on that process's chain and can never be executed here.
    pub(super) async fn abandon_stored(&self) -> Result<()> {
        let n = self.state.store().abandon_planned_rebalances(now_ms()).await?;
        if n > 0 {
            info!(target: "shr::vaults", plans = n, "plans of an earlier process marked abandoned");
        }
        Ok(())
    }

    pub(super) fn next_tick_at(&self) -> Option<Instant> {
        self.sim.as_ref().map(|s| s.next_at)
    }

    pub(super) async fn vaults(&self) -> Result<Vec<VaultView>> {
        let trigger = U256::from(PlanConfig::default().trigger_wad);
        let w = &self.world;
        let mut out = Vec::new();
        for (i, v) in w.vaults.iter().enumerate() {
            let pos = w.position(i).await.map_err(vault_err)?;
            let hf = w.health_factor(i).await.map_err(vault_err)?;
            out.push(VaultView {
                id: i,
                vault_id: crate::api::vault_reference_id(i),
                name: v.name.into(),
                collateral: v.collateral.into(),
                debt: v.debt.into(),
                collateral_wad: wad_decimal(U256::from(pos.collateral_wad)),
                debt_wad: wad_decimal(U256::from(pos.debt_wad)),
                collateral_price_usd: to_usd(
                    w.price_e8(v.collateral_feed).await.map_err(vault_err)?,
                ),
                debt_price_usd: to_usd(w.price_e8(v.debt_feed).await.map_err(vault_err)?),
                liquidation_threshold_bps: v.liquidation_threshold_bps,
                health_factor: wad_decimal(hf),
                breached: hf < trigger,
            });
        }
        Ok(out)
    }

    pub(super) fn simulation(&self, id: Option<&str>) -> Option<SimulationView> {
        let running = self.sim.as_ref().map(|s| &s.view);
        match id {
            None => running.or(self.recent.back()).cloned(),
            Some(id) => running
                .into_iter()
                .chain(self.recent.iter())
                .find(|v| v.simulation_id == id)
                .cloned(),
        }
    }

    /// The rebalance event of vault `id` at the current prices (`None` when not breached):
    /// the plan encoded with its gas estimate, or `infeasible` with the reason. Persisted and
    /// streamed; a pending plan of the vault is superseded by it.
    async fn plan_event(
        &mut self,
        id: usize,
        simulation_id: &str,
        tick: Option<u32>,
    ) -> Result<Option<(RebalanceEvent, Option<RebalanceBundle>)>> {
        let hf = self.world.health_factor(id).await.map_err(vault_err)?;
        let plan = match self.world.plan(id, &PlanConfig::default()).await {
            Ok(None) => return Ok(None),
            Ok(Some(p)) => Ok(p),
            Err(shr_agent::Error::Risk(e)) => Err(crate::state::error_chain(&e)),
            Err(e) => return Err(vault_err(e)),
        };
        let vault_ref = crate::api::vault_reference_id(id);
        self.seq += 1;
        let event_id = if simulation_id.is_empty() {
            format!("exec-{}-{}-{}-{vault_ref}", now_ms(), self.instance, self.seq)
        } else {
            format!("{simulation_id}-{vault_ref}")
        };
        let mut ev = RebalanceEvent {
            event_id,
            vault_id: id,
            vault_ref,
            simulation_id: simulation_id.into(),
            status: "infeasible".into(),
            created_at: rfc3339_ms(now_ms()),
            tick,
            hf_before: wad_decimal(hf),
            hf_projected: None,
            sell_collateral_wad: None,
            repay_debt_wad: None,
            slippage_bps: None,
            plan: None,
            execution: None,
            hf_onchain_after: None,
            tx: None,
            gas: None,
            error: None,
        };
        let mut bundle = None;
        match plan {
            Err(reason) => ev.error = Some(reason),
            Ok(p) => {
                ev.hf_projected = Some(wad_decimal(p.hf_projected_wad));
                ev.sell_collateral_wad = Some(p.sell_collateral_wad.to_string());
                ev.repay_debt_wad = Some(p.repay_debt_wad.to_string());
                ev.slippage_bps = Some(p.slippage_bps);
                let now = self.world.chain.timestamp().await.map_err(|e| vault_err(e.into()))?;
                let target = self.world.target(id).map_err(vault_err)?;
                match encode_plan(&self.world.chain, &target, &p, now + PLAN_VALIDITY_SECS).await {
                    Ok(b) => {
                        ev.plan = Some(bundle_view(&b, &p));
                        ev.status = "planned".into();
                        bundle = Some(b);
                    }
                    // The transaction would revert now (its gas estimate runs it).
                    Err(e) => ev.error = Some(crate::state::error_chain(&e)),
                }
            }
        }
        self.supersede(id).await?;
        self.persist(&ev, None).await?;
        info!(target: "shr::vaults", event = %ev.event_id, status = %ev.status, "rebalance planned");
        self.state.publish(Event::Rebalance { event: Box::new(ev.clone()) });
        Ok(Some((ev, bundle)))
    }

    /// Writes `ev`: a new row, or the transition from status `from`; the kept simulation views
    /// that list it follow.
    async fn persist(&mut self, ev: &RebalanceEvent, from: Option<&str>) -> Result<()> {
        for view in self.recent.iter_mut().chain(self.sim.as_mut().map(|s| &mut s.view)) {
            for p in view.plans.iter_mut().filter(|p| p.event_id == ev.event_id) {
                *p = ev.clone();
            }
        }
        let json = serde_json::to_string(ev)?;
        let store = self.state.store();
        match from {
            None => {
                let now = now_ms();
                store
                    .put_rebalance_plan(&RebalancePlanRow {
                        id: ev.event_id.clone(),
                        vault_id: ev.vault_ref.clone(),
                        simulation_id: ev.simulation_id.clone(),
                        status: ev.status.clone(),
                        planned_at: now,
                        updated_at: now,
                        event_json: json,
                    })
                    .await?;
            }
            Some(from) => {
                if !store
                    .update_rebalance_plan(&ev.event_id, from, &ev.status, now_ms(), &json)
                    .await?
                {
                    warn!(target: "shr::vaults", event = %ev.event_id, from, to = %ev.status, "rebalance event was not in the expected status");
                }
            }
        }
        Ok(())
    }

    /// Marks vault `id`'s pending plan superseded.
    async fn supersede(&mut self, id: usize) -> Result<()> {
        if let Some((mut old, _)) = self.pending[id].take() {
            old.status = "superseded".into();
            self.persist(&old, Some("planned")).await?;
            self.state.publish(Event::Rebalance { event: Box::new(old) });
        }
        Ok(())
    }

    pub(super) async fn start(
        &mut self,
        req: SimulateRequest,
        reply: oneshot::Sender<Result<SimulationView>>,
    ) {
        if let Some(mut old) = self.sim.take() {
            old.view.status = "superseded".into();
            self.retire(old);
        }
        match self.begin(req).await {
            Ok(mut sim) => {
                if req.wait {
                    sim.waiters.push(reply);
                } else {
                    let _ = reply.send(Ok(sim.view.clone()));
                }
                self.sim = Some(sim);
            }
            Err(e) => drop(reply.send(Err(e))),
        }
    }

    async fn begin(&mut self, req: SimulateRequest) -> Result<Sim> {
        for id in 0..self.pending.len() {
            self.supersede(id).await?;
        }
        let w = &self.world;
        let feeds = [
            w.vaults[0].collateral_feed,
            w.vaults[1].collateral_feed,
            w.vaults[0].debt_feed,
            w.vaults[1].debt_feed,
        ];
        let initial = match self.initial {
            Some(p) => p,
            None => [
                w.price_e8(feeds[0]).await.map_err(vault_err)?,
                w.price_e8(feeds[1]).await.map_err(vault_err)?,
            ],
        };
        self.initial = Some(initial);
        for (feed, e8) in feeds.iter().zip(initial) {
            w.set_price(*feed, e8).await.map_err(vault_err)?;
        }
        let mut start = [0u128; 4];
        for (s, f) in start.iter_mut().zip(feeds) {
            *s = w.price_e8(f).await.map_err(vault_err)?.max(0) as u128 * 10_000_000_000;
        }
        let prices = SYMBOLS.iter().zip(start).map(|(s, p)| ((*s).to_owned(), usd(p))).collect();
        self.seq += 1;
        let started = now_ms();
        let view = SimulationView {
            simulation_id: format!("sim-{started}-{}-{}", self.instance, self.seq),
            status: "running".into(),
            seed: req.seed,
            extra_ticks: req.extra_ticks,
            tick_ms: req.tick_ms,
            started_at: rfc3339_ms(started),
            ticks: Vec::new(),
            breached: false,
            first_breach: None,
            plans: Vec::new(),
            error: None,
        };
        info!(target: "shr::vaults", id = %view.simulation_id, seed = req.seed, extra = req.extra_ticks, tick_ms = ?req.tick_ms, "crash simulation started");
        self.state
            .publish(Event::SimulationStart { simulation_id: view.simulation_id.clone(), prices });
        let mut sim = Sim {
            view,
            ticks: random_drops(start, req.seed, MAX_TICKS),
            pos: 0,
            previous: start,
            after: 0,
            next_at: Instant::now(),
            rng: Rng::new(req.seed ^ 0x7469_636b),
            waiters: Vec::new(),
        };
        sim.next_at = Instant::now() + sim.delay();
        Ok(sim)
    }

    /// Ends `sim`: answers its waiters (an `error` status carries the cause) and keeps it
    /// among the recent ones.
    fn retire(&mut self, sim: Sim) {
        for w in sim.waiters {
            let _ = w.send(Ok(sim.view.clone()));
        }
        self.recent.push_back(sim.view);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Runs the next tick of the running simulation; at its end, the plans.
    pub(super) async fn step(&mut self) {
        let Some(mut sim) = self.sim.take() else { return };
        match self.tick(&mut sim).await {
            Ok(true) => {
                sim.next_at = Instant::now() + sim.delay();
                self.sim = Some(sim);
            }
            Ok(false) => match self.finish(&mut sim).await {
                Ok(()) => self.retire(sim),
                Err(e) => self.fail(sim, e).await,
            },
            Err(e) => self.fail(sim, e).await,
        }
    }

    async fn fail(&mut self, mut sim: Sim, e: Error) {
        // A plan this simulation made before it failed is not left executable.
        for id in 0..self.pending.len() {
            let mine = self.pending[id]
                .as_ref()
                .is_some_and(|(ev, _)| ev.simulation_id == sim.view.simulation_id);
            if mine && let Err(e) = self.supersede(id).await {
                warn!(target: "shr::vaults", error = %crate::state::error_chain(&e), "superseding a failed simulation's plan");
            }
        }
        warn!(target: "shr::vaults", id = %sim.view.simulation_id, error = %crate::state::error_chain(&e), "crash simulation failed");
        sim.view.status = "error".into();
        sim.view.error = Some(crate::state::error_chain(&e));
        self.retire(sim);
    }

    /// One tick on chain; `false` when the simulation is over.
    async fn tick(&mut self, sim: &mut Sim) -> Result<bool> {
        let Some(t) = sim.ticks.get(sim.pos).copied() else { return Ok(false) };
        sim.pos += 1;
        let w = &self.world;
        let feeds = [w.vaults[0].collateral_feed, w.vaults[1].collateral_feed];
        // Only collateral oracles move (the debt assets are the numeraire's side).
        for (asset, feed) in feeds.iter().enumerate() {
            let e8 = (t.oracle_wad[asset] / 10_000_000_000) as i64;
            w.set_price(*feed, e8).await.map_err(vault_err)?;
        }
        let trigger = U256::from(PlanConfig::default().trigger_wad);
        let (mut hfs, mut any) = (Vec::new(), false);
        for i in 0..w.vaults.len() {
            let hf = w.health_factor(i).await.map_err(vault_err)?;
            any |= hf < trigger;
            hfs.push(wad_decimal(hf));
        }
        let previous = sim.previous;
        let changed = (0..SYMBOLS.len()).find(|&a| t.oracle_wad[a] != previous[a]).map(|a| {
            let (old, new) = (usd(previous[a]), usd(t.oracle_wad[a]));
            PriceChange {
                symbol: SYMBOLS[a].into(),
                old,
                new,
                drop_pct: ((old - new) / old * 10_000.0).round() / 100.0,
            }
        });
        sim.previous = t.oracle_wad;
        let tick = TickView {
            label: t.label,
            at: rfc3339_ms(now_ms()),
            changed,
            prices_usd: t.oracle_wad.iter().map(|p| usd(*p)).collect(),
            health_factors: hfs,
        };
        debug!(target: "shr::vaults", id = %sim.view.simulation_id, label = t.label, "tick");
        self.state.publish(Event::Tick { tick: tick.clone() });
        sim.view.ticks.push(tick);
        if sim.view.first_breach.is_none() && any {
            sim.view.first_breach = Some(t.label);
            sim.view.breached = true;
        }
        if sim.view.first_breach.is_some() {
            if sim.after == sim.view.extra_ticks {
                return Ok(false);
            }
            sim.after += 1;
        }
        Ok(sim.pos < sim.ticks.len())
    }

    async fn finish(&mut self, sim: &mut Sim) -> Result<()> {
        let last = sim.view.ticks.last().map(|t| t.label);
        for i in 0..self.world.vaults.len() {
            if let Some((ev, bundle)) =
                self.plan_event(i, &sim.view.simulation_id.clone(), last).await?
            {
                if let Some(b) = bundle {
                    self.pending[i] = Some((ev.clone(), b));
                }
                sim.view.plans.push(ev);
            }
        }
        sim.view.status = "done".into();
        info!(target: "shr::vaults", id = %sim.view.simulation_id, ticks = sim.view.ticks.len(), first_breach = ?sim.view.first_breach, plans = sim.view.plans.len(), "crash simulated");
        self.state.publish(Event::Snapshot { vaults: self.vaults().await? });
        Ok(())
    }

    pub(super) async fn execute(&mut self, which: Which) -> Result<Vec<RebalanceEvent>> {
        let n = self.world.vaults.len();
        let ids: Vec<usize> = match which {
            Which::One(id) if id >= n => {
                return Err(vault_err(shr_agent::Error::UnknownVault { id, count: n }));
            }
            Which::One(id) => vec![id],
            Which::All => (0..n).collect(),
        };
        let mut done = Vec::new();
        for id in ids {
            // A pending plan whose authorisation nonce the owner has since used (another
            // vault's plan executed first: one owner, one nonce sequence) would revert: it is
            // superseded by a plan made now.
            if let Some((_, b)) = &self.pending[id] {
                let nonce = self.world.authorization_nonce().await.map_err(vault_err)?;
                if nonce != b.auth_nonce {
                    self.supersede(id).await?;
                }
            }
            let (ev, bundle) = match self.pending[id].take() {
                Some(p) => p,
                None => match self.plan_event(id, "", None).await? {
                    Some((ev, Some(b))) => (ev, b),
                    Some((ev, None)) => {
                        done.push(ev);
                        continue;
                    }
                    None if matches!(which, Which::One(_)) => {
                        return Err(Error::NotBreached {
                            vault_id: id,
                            health_factor: wad_decimal(
                                self.world.health_factor(id).await.map_err(vault_err)?,
                            ),
                        });
                    }
                    None => continue,
                },
            };
            match self.send(ev, &bundle).await? {
                Ok(ev) => done.push(ev),
                Err((ev, e)) if matches!(which, Which::One(_)) => {
                    return Err(Error::PlanReverted { event_id: ev.event_id, source: Box::new(e) });
                }
                Err((ev, _)) => done.push(ev),
            }
        }
        if !done.is_empty() {
            self.state.publish(Event::Snapshot { vaults: self.vaults().await? });
        }
        Ok(done)
    }

    /// Sends `bundle`, the one `ev` shows, exactly as encoded; the event executed or failed,
    /// persisted and streamed.
    async fn send(
        &mut self,
        mut ev: RebalanceEvent,
        bundle: &RebalanceBundle,
    ) -> Result<Result<RebalanceEvent, (RebalanceEvent, shr_agent::Error)>> {
        match send_bundle(&self.world.chain, bundle).await {
            Ok(x) => {
                let hf_after = self.world.health_factor(ev.vault_id).await.map_err(vault_err)?;
                ev.status = "executed".into();
                ev.hf_onchain_after = Some(wad_decimal(hf_after));
                ev.tx = Some(x.receipt.tx_hash.to_string());
                ev.gas = Some(x.receipt.gas_used);
                ev.execution = Some(Execution {
                    tx: x.receipt.tx_hash.to_string(),
                    gas: x.receipt.gas_used,
                    executed_at: rfc3339_ms(now_ms()),
                    hf_onchain_after: wad_decimal(hf_after),
                });
                info!(target: "shr::vaults", event = %ev.event_id, tx = %x.receipt.tx_hash, gas = x.receipt.gas_used, "rebalanced");
                // The transaction is mined: a store failure must not hide it from the caller.
                if let Err(e) = self.persist(&ev, Some("planned")).await {
                    error!(target: "shr::vaults", event = %ev.event_id, error = %crate::state::error_chain(&e), "rebalance executed but not recorded");
                }
                self.state.publish(Event::Rebalance { event: Box::new(ev.clone()) });
                Ok(Ok(ev))
            }
            Err(e) => {
                ev.status = "failed".into();
                ev.error = Some(crate::state::error_chain(&e));
                warn!(target: "shr::vaults", event = %ev.event_id, error = ?ev.error, "rebalance reverted; nothing changed");
                self.persist(&ev, Some("planned")).await?;
                self.state.publish(Event::Rebalance { event: Box::new(ev.clone()) });
                Ok(Err((ev, e)))
            }
        }
    }
}
