//! The vault desk: the lending vaults on their own embedded chain, driven by the API (crash
//! simulation on the on-chain oracles, closed-form plans, atomic rebalances as the owner).
//!
//! The desk is an actor: one thread owns the chain and the `LendingWorld`; handlers send it
//! commands and await the reply. Its figures are public on chain (positions, oracle prices,
//! health factors), so every route may serve them.

use alloy::primitives::U256;
use serde::{Deserialize, Serialize};
use shr_agent::{execute_plan, lending::LendingWorld};
use shr_chain::{Chain, EmbeddedChain};
use shr_risk::{PlanConfig, WAD, crash::random_drops, wad_decimal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use utoipa::ToSchema;

use crate::{AppState, Error, Event, Result};

/// A vault as anyone reading the chain sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultView {
    /// Market id (0 = A, 1 = B).
    pub id: usize,
    /// The risk engine reference's vault id (`VAULT-A-WSTETH-BUSDC`, `VAULT-B-WEETH-BETH`).
    #[serde(rename = "vaultId")]
    pub vault_id: String,
    /// `A` or `B`.
    pub name: String,
    /// Collateral symbol.
    pub collateral: String,
    /// Debt share symbol (an ERC-4626 share).
    pub debt: String,
    /// Collateral, whole tokens in wad (decimal string).
    pub collateral_wad: String,
    /// Debt in underlying assets, whole tokens in wad (decimal string).
    pub debt_wad: String,
    /// Collateral oracle price, USD.
    pub collateral_price_usd: f64,
    /// Debt-asset oracle price, USD.
    pub debt_price_usd: f64,
    /// Liquidation threshold, bps.
    pub liquidation_threshold_bps: u32,
    /// The health factor as Morpho Blue judges it (collateral x oracle price x LLTV / borrowed),
    /// exact decimal (`inf` without debt).
    pub health_factor: String,
    /// Whether the HF is under the trigger (1.15).
    pub breached: bool,
}

/// A rebalancing plan, and its execution once done.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    /// Market id.
    pub vault_id: usize,
    /// HF before, exact decimal.
    pub hf_before: String,
    /// Projected HF after, at the oracle prices (`null` when no plan: see `error`).
    pub hf_projected: Option<String>,
    /// Collateral to sell at most (`amountInMaximum`), wad.
    pub sell_collateral_wad: Option<String>,
    /// Debt repaid, wad.
    pub repay_debt_wad: Option<String>,
    /// Slippage the plan was solved with, bps.
    pub slippage_bps: Option<u32>,
    /// HF read back from chain after execution (`null` until executed).
    pub hf_onchain_after: Option<String>,
    /// The rebalance transaction.
    pub tx: Option<String>,
    /// Its gas.
    pub gas: Option<u64>,
    /// Why there is no plan (infeasible target, unsavable vault).
    pub error: Option<String>,
}

/// One tick of a crash simulation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TickView {
    /// Tick number.
    pub label: u32,
    /// When the tick ran, RFC 3339 UTC.
    pub at: String,
    /// The oracle price the tick moved.
    pub changed: Option<PriceChange>,
    /// Oracle prices after the tick, USD: `[wstETH, weETH, USDC, WETH]`.
    pub prices_usd: Vec<f64>,
    /// Each vault's on-chain HF after the tick, exact decimal.
    pub health_factors: Vec<String>,
}

/// One oracle price a tick moved (the reference's `changed`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceChange {
    /// The asset's symbol (`wstETH`, `weETH`).
    pub symbol: String,
    /// Price before, USD.
    pub old: f64,
    /// Price after, USD.
    pub new: f64,
    /// The drop, percent of the old price (two decimals).
    #[serde(rename = "dropPct")]
    pub drop_pct: f64,
}

/// The oracle symbols of [`TickView::prices_usd`], in order.
pub const SYMBOLS: [&str; 4] = ["wstETH", "weETH", "USDC", "WETH"];

/// What `POST /api/simulate` returns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SimulateReport {
    /// Seed of the drops.
    pub seed: u64,
    /// The ticks run (each one collateral asset -5 ... -15 % on its oracle).
    pub ticks: Vec<TickView>,
    /// Whether a vault went under the trigger.
    pub breached: bool,
    /// The first tick with a breached vault.
    pub first_breach: Option<u32>,
    /// A plan per breached vault.
    pub plans: Vec<PlanView>,
}

/// Which vaults `POST /api/execute` rebalances.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// One vault.
    One(usize),
    /// Every breached vault.
    All,
}

enum Cmd {
    Vaults(oneshot::Sender<Result<Vec<VaultView>>>),
    Simulate(u64, usize, oneshot::Sender<Result<SimulateReport>>),
    Execute(Which, oneshot::Sender<Result<Vec<PlanView>>>),
}

/// Handle of the desk's thread.
#[derive(Debug, Clone)]
pub struct VaultDesk {
    tx: mpsc::UnboundedSender<Cmd>,
}

fn to_usd(e8: i64) -> f64 {
    e8 as f64 / 1e8
}

fn vault_err(e: shr_agent::Error) -> Error {
    Error::Vault(Box::new(e))
}

impl VaultDesk {
    /// Deploys the lending world on a fresh embedded chain on its own thread; tick and
    /// snapshot events go to `state`'s SSE clients.
    ///
    /// # Errors
    /// [`Error::Vault`] when the deployment fails.
    pub fn spawn(state: AppState) -> Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shr-vaults".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(Error::Serve(e)))),
                };
                rt.block_on(async move {
                    let world = match LendingWorld::deploy(EmbeddedChain::new()).await {
                        Ok(w) => w,
                        Err(e) => return drop(ready_tx.send(Err(vault_err(e)))),
                    };
                    let _ = ready_tx.send(Ok(()));
                    let mut desk = Desk { world, state, initial: None };
                    while let Some(cmd) = rx.recv().await {
                        match cmd {
                            Cmd::Vaults(r) => drop(r.send(desk.vaults().await)),
                            Cmd::Simulate(seed, extra, r) => {
                                drop(r.send(desk.simulate(seed, extra).await))
                            }
                            Cmd::Execute(which, r) => drop(r.send(desk.execute(which).await)),
                        }
                    }
                });
            })
            .map_err(Error::Serve)?;
        ready_rx.recv().map_err(|_| Error::DeskGone)??;
        Ok(Self { tx })
    }

    async fn ask<T>(&self, f: impl FnOnce(oneshot::Sender<Result<T>>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| Error::DeskGone)?;
        rx.await.map_err(|_| Error::DeskGone)?
    }

    /// Every vault as read from chain now.
    ///
    /// # Errors
    /// [`Error::Vault`], [`Error::DeskGone`].
    pub async fn vaults(&self) -> Result<Vec<VaultView>> {
        self.ask(Cmd::Vaults).await
    }

    /// Seeded random drops on the collateral oracles, tick by tick on chain, until the first
    /// breach and `extra_ticks` more (at most 50 ticks); then a plan per breached vault.
    ///
    /// # Errors
    /// [`Error::Vault`], [`Error::DeskGone`].
    pub async fn simulate(&self, seed: u64, extra_ticks: usize) -> Result<SimulateReport> {
        self.ask(|r| Cmd::Simulate(seed, extra_ticks, r)).await
    }

    /// Plans (at the current prices) and executes atomically the rebalance of `which`; the HF
    /// read back from chain.
    ///
    /// # Errors
    /// [`Error::NotBreached`] when the one vault asked for is above the trigger,
    /// [`Error::Vault`] (unknown vault, an unsavable position, a reverted transaction).
    pub async fn execute(&self, which: Which) -> Result<Vec<PlanView>> {
        self.ask(|r| Cmd::Execute(which, r)).await
    }
}

struct Desk {
    world: LendingWorld<EmbeddedChain>,
    state: AppState,
    /// The collateral oracles' prices before the first simulation, e8: each simulation
    /// restarts the crash from them.
    initial: Option<[i64; 2]>,
}

impl Desk {
    async fn vaults(&self) -> Result<Vec<VaultView>> {
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

    /// The plan of vault `id` at the current prices and its view (`None` when not breached;
    /// a view with `error` and no plan when a guard refuses).
    async fn plan(&self, id: usize) -> Result<Option<(PlanView, Option<shr_risk::Plan>)>> {
        let hf = self.world.health_factor(id).await.map_err(vault_err)?;
        let mut v = PlanView {
            vault_id: id,
            hf_before: wad_decimal(hf),
            hf_projected: None,
            sell_collateral_wad: None,
            repay_debt_wad: None,
            slippage_bps: None,
            hf_onchain_after: None,
            tx: None,
            gas: None,
            error: None,
        };
        let plan = match self.world.plan(id, &PlanConfig::default()).await {
            Ok(None) => return Ok(None),
            Ok(Some(p)) => {
                v.hf_projected = Some(wad_decimal(p.hf_projected_wad));
                v.sell_collateral_wad = Some(p.sell_collateral_wad.to_string());
                v.repay_debt_wad = Some(p.repay_debt_wad.to_string());
                v.slippage_bps = Some(p.slippage_bps);
                Some(p)
            }
            Err(shr_agent::Error::Risk(e)) => {
                v.error = Some(e.to_string());
                None
            }
            Err(e) => return Err(vault_err(e)),
        };
        Ok(Some((v, plan)))
    }

    async fn simulate(&mut self, seed: u64, extra_ticks: usize) -> Result<SimulateReport> {
        let w = &self.world;
        let feeds = [
            w.vaults[0].collateral_feed,
            w.vaults[1].collateral_feed,
            w.vaults[0].debt_feed,
            w.vaults[1].debt_feed,
        ];
        // Every simulation restarts from the prices before the first one.
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
        let usd = |wad: u128| wad as f64 / WAD as f64;
        let prices = SYMBOLS.iter().zip(start).map(|(s, p)| ((*s).to_owned(), usd(p))).collect();
        self.state.publish(Event::SimulationStart { prices });
        let mut previous = start;
        let trigger = U256::from(PlanConfig::default().trigger_wad);
        let (mut ticks, mut first_breach, mut after) = (Vec::new(), None, 0);
        for t in random_drops(start, seed, 50) {
            // Only collateral oracles move (the debt assets are the numeraire's side).
            for (asset, feed) in feeds.iter().enumerate().take(2) {
                let e8 = (t.oracle_wad[asset] / 10_000_000_000) as i64;
                w.set_price(*feed, e8).await.map_err(vault_err)?;
            }
            let mut hfs = Vec::new();
            let mut any = false;
            for i in 0..w.vaults.len() {
                let hf = w.health_factor(i).await.map_err(vault_err)?;
                any |= hf < trigger;
                hfs.push(wad_decimal(hf));
            }
            let changed = (0..SYMBOLS.len()).find(|&a| t.oracle_wad[a] != previous[a]).map(|a| {
                let (old, new) = (usd(previous[a]), usd(t.oracle_wad[a]));
                PriceChange {
                    symbol: SYMBOLS[a].into(),
                    old,
                    new,
                    drop_pct: ((old - new) / old * 10_000.0).round() / 100.0,
                }
            });
            previous = t.oracle_wad;
            let tick = TickView {
                label: t.label,
                at: crate::events::rfc3339_ms(crate::state::now_ms()),
                changed,
                prices_usd: t.oracle_wad.iter().map(|p| usd(*p)).collect(),
                health_factors: hfs,
            };
            self.state.publish(Event::Tick { tick: tick.clone() });
            ticks.push(tick);
            if first_breach.is_none() && any {
                first_breach = Some(t.label);
            }
            if first_breach.is_some() {
                if after == extra_ticks {
                    break;
                }
                after += 1;
            }
        }
        let mut plans = Vec::new();
        for i in 0..self.world.vaults.len() {
            if let Some((v, _)) = self.plan(i).await? {
                plans.push(v);
            }
        }
        info!(target: "shr::vaults", seed, ticks = ticks.len(), ?first_breach, plans = plans.len(), "crash simulated");
        self.state.publish(Event::Snapshot { vaults: self.vaults().await? });
        Ok(SimulateReport { seed, ticks, breached: first_breach.is_some(), first_breach, plans })
    }

    async fn execute(&mut self, which: Which) -> Result<Vec<PlanView>> {
        let ids: Vec<usize> = match which {
            Which::One(id) => {
                if id >= self.world.vaults.len() {
                    return Err(vault_err(shr_agent::Error::UnknownVault {
                        id,
                        count: self.world.vaults.len(),
                    }));
                }
                vec![id]
            }
            Which::All => (0..self.world.vaults.len()).collect(),
        };
        let mut done = Vec::new();
        for id in ids {
            let Some((mut v, plan)) = self.plan(id).await? else {
                if let Which::One(_) = which {
                    return Err(Error::NotBreached {
                        vault_id: id,
                        health_factor: wad_decimal(
                            self.world.health_factor(id).await.map_err(vault_err)?,
                        ),
                    });
                }
                continue;
            };
            let Some(plan) = plan else {
                warn!(target: "shr::vaults", vault_id = id, error = ?v.error, "no plan: not executed");
                done.push(v);
                continue;
            };
            let now = self.world.chain.timestamp().await.map_err(|e| vault_err(e.into()))?;
            let target = self.world.target(id).map_err(vault_err)?;
            let x = execute_plan(&self.world.chain, &target, &plan, now + 600)
                .await
                .map_err(vault_err)?;
            let hf_after = self.world.health_factor(id).await.map_err(vault_err)?;
            v.hf_onchain_after = Some(wad_decimal(hf_after));
            v.tx = Some(x.receipt.tx_hash.to_string());
            v.gas = Some(x.receipt.gas_used);
            info!(target: "shr::vaults", vault_id = id, tx = %x.receipt.tx_hash, "rebalanced");
            debug!(target: "shr::vaults", vault_id = id, hf_after = %wad_decimal(hf_after), gas = x.receipt.gas_used, "rebalance read back");
            done.push(v);
        }
        Ok(done)
    }
}
