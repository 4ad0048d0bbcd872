//! The vault desk: the lending vaults on their own embedded chain, driven by the API (a crash
//! simulation paced tick by tick on the on-chain oracles, closed-form plans encoded as the
//! transaction that executes them, atomic rebalances as the owner).
//!
//! The desk is an actor: one thread owns the chain and the `LendingWorld`; handlers send it
//! commands and await the reply, and the running simulation's ticks interleave with them. Its
//! figures are public on chain (positions, oracle prices, health factors), so every route may
//! serve them.

mod desk;
mod views;

use shr_agent::lending::LendingWorld;
use shr_chain::EmbeddedChain;
use tokio::sync::{mpsc, oneshot};

pub use views::{
    EncodedCall, Execution, PlanBundle, PlanMetadata, PriceChange, RebalanceEvent, SYMBOLS,
    SimulationView, TickView, VaultView, Which,
};

use crate::{AppState, Error, Result};

/// How a simulation is asked for.
#[derive(Debug, Clone, Copy)]
pub struct SimulateRequest {
    /// Seed of the drops.
    pub seed: u64,
    /// Ticks after the first breach (0..=50).
    pub extra_ticks: usize,
    /// Pause between ticks, ms; `None`: a random 2000-3000 ms (seeded), as the reference.
    pub tick_ms: Option<u64>,
    /// Answer when the simulation has finished rather than at once.
    pub wait: bool,
}

enum Cmd {
    Vaults(oneshot::Sender<Result<Vec<VaultView>>>),
    Simulate(SimulateRequest, oneshot::Sender<Result<SimulationView>>),
    Simulation(Option<String>, oneshot::Sender<Option<SimulationView>>),
    Execute(Which, oneshot::Sender<Result<Vec<RebalanceEvent>>>),
}

/// Handle of the desk's thread.
#[derive(Debug, Clone)]
pub struct VaultDesk {
    tx: mpsc::UnboundedSender<Cmd>,
}

fn vault_err(e: shr_agent::Error) -> Error {
    Error::Vault(Box::new(e))
}

impl VaultDesk {
    /// Deploys the lending world on a fresh embedded chain on its own thread; tick, snapshot
    /// and rebalance events go to `state`'s SSE clients, rebalance events to its store.
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
                    let mut desk = desk::Desk::new(world, state);
                    // After `ready`: the spawning thread may be the store's runtime, blocked
                    // until then.
                    if let Err(e) = desk.abandon_stored().await {
                        tracing::error!(target: "shr::vaults", error = %crate::state::error_chain(&e), "marking an earlier process's plans abandoned");
                    }
                    loop {
                        let next = desk.next_tick_at();
                        tokio::select! {
                            cmd = rx.recv() => match cmd {
                                None => break,
                                Some(Cmd::Vaults(r)) => drop(r.send(desk.vaults().await)),
                                Some(Cmd::Simulate(req, r)) => desk.start(req, r).await,
                                Some(Cmd::Simulation(id, r)) => drop(r.send(desk.simulation(id.as_deref()))),
                                Some(Cmd::Execute(which, r)) => drop(r.send(desk.execute(which).await)),
                            },
                            () = tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)), if next.is_some() => {
                                desk.step().await;
                            }
                        }
                    }
                });
            })
            .map_err(Error::Serve)?;
        ready_rx.recv().map_err(|_| Error::DeskGone)??;
        Ok(Self { tx })
    }

    async fn ask<T>(&self, f: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| Error::DeskGone)?;
        rx.await.map_err(|_| Error::DeskGone)
    }

    /// Every vault as read from chain now.
    ///
    /// # Errors
    /// [`Error::Vault`], [`Error::DeskGone`].
    pub async fn vaults(&self) -> Result<Vec<VaultView>> {
        self.ask(Cmd::Vaults).await?
    }

    /// (Re)starts the crash from the initial oracle prices: seeded random drops on the
    /// collateral oracles, one tick every `tick_ms`, until the first breach and `extra_ticks`
    /// more (at most 50 ticks); then a plan per breached vault, persisted and streamed as a
    /// `rebalance` event. Answers at once with the running simulation, or when it finishes
    /// with `wait`. A running simulation is superseded, and so are the plans not executed.
    ///
    /// # Errors
    /// [`Error::Vault`], [`Error::DeskGone`].
    pub async fn simulate(&self, req: SimulateRequest) -> Result<SimulationView> {
        self.ask(|r| Cmd::Simulate(req, r)).await?
    }

    /// The simulation `id` (the latest when `None`), among the running one and the 16 most
    /// recent.
    ///
    /// # Errors
    /// [`Error::DeskGone`].
    pub async fn simulation(&self, id: Option<String>) -> Result<Option<SimulationView>> {
        self.ask(|r| Cmd::Simulation(id, r)).await
    }

    /// Executes the latest pending plan of `which` (a plan is made at the current prices when
    /// none is pending): sends exactly the plan's transaction; the HF read back from chain;
    /// the event persisted and streamed.
    ///
    /// # Errors
    /// [`Error::NotBreached`] when the one vault asked for has no plan and is above the
    /// trigger, [`Error::PlanReverted`] when its transaction reverted (nothing changed),
    /// [`Error::Vault`] (unknown vault, a chain failure), [`Error::Store`].
    pub async fn execute(&self, which: Which) -> Result<Vec<RebalanceEvent>> {
        self.ask(|r| Cmd::Execute(which, r)).await?
    }
}
