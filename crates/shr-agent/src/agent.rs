//! The agent's persisted incident state machine.
//!
//! One incident per insolvent report (idempotency key `receiver:observedAt`). Each step is
//! persisted before the next starts, with the private state sealed at rest by the agent's key:
//! `detected -> decided (plan, vault balance before) -> swap_confirmed -> restored`, or
//! `needs_dark_pool` / `failed`. After a crash anywhere, the next run resumes from the stored
//! step; a `decided` incident first checks the vault on chain, so a swap that was sent but not
//! yet recorded is recognised and never paid twice. Events are read from a persisted cursor;
//! duplicate and out-of-order deliveries are harmless.

use alloy::{
    primitives::{Address, U256},
    sol_types::SolEvent,
};
use serde::{Deserialize, Serialize};
use shr_chain::{Chain, LogCursor, LogFilter};
use shr_contracts::{
    bindings::{ReserveAttestation, ReserveVault, UniswapV2Pair},
    view,
};
use shr_enclave::{Enclave, Sealed};
use shr_store::{IncidentRow, Store};
use tracing::info;

use crate::{Error, Mechanism, Result, StrategyConfig, V2Pool, choose, execute_swap, open_deficit};

const STATE_INFO: &str = "shr/agent-incident/v1";
const CURSOR: &str = "agent/reserve-status";

/// Where the agent acts.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `ReserveAttestation` to watch.
    pub receiver: Address,
    /// Uniswap V2 Router02.
    pub router: Address,
    /// The V2 pair of `path` (read for its real reserves).
    pub pair: Address,
    /// `[treasury asset, collateral]`.
    pub path: Vec<Address>,
    /// `ReserveVault`, which receives the collateral.
    pub vault: Address,
    /// The treasury account that pays (signs the swap).
    pub treasury: Address,
    /// Collateral decimals.
    pub decimals: u8,
    /// Collateral price, USD per whole token with 8 decimals.
    pub price_usd_e8: u128,
    /// Strategy bounds.
    pub strategy: StrategyConfig,
    /// Send transactions (`false`: dry run, log what would be sent).
    pub execute: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
enum State {
    Detected,
    Decided {
        deficit: U256,
        amount_out: U256,
        amount_in_max: U256,
        quote_in: U256,
        impact_bps: U256,
        vault_before: U256,
    },
    SwapConfirmed {
        amount_out: U256,
        vault_after: U256,
    },
    Restored,
    NeedsDarkPool {
        deficit: U256,
    },
    Failed {
        reason: String,
    },
}

impl State {
    fn status(&self) -> &'static str {
        match self {
            Self::Detected => "detected",
            Self::Decided { .. } => "decided",
            Self::SwapConfirmed { .. } => "swap_confirmed",
            Self::Restored => "restored",
            Self::NeedsDarkPool { .. } => "needs_dark_pool",
            Self::Failed { .. } => "failed",
        }
    }
}

/// The recovery agent.
#[derive(Debug)]
pub struct Agent<'a> {
    chain: &'a dyn Chain,
    store: Store,
    key: &'a Enclave,
    cfg: AgentConfig,
    /// Test hook: fail right after this stage is reached.
    pub crash_after: Option<&'static str>,
}

impl<'a> Agent<'a> {
    /// An agent acting on `chain`, persisting to `store`, opening with `key`.
    pub fn new(chain: &'a dyn Chain, store: Store, key: &'a Enclave, cfg: AgentConfig) -> Self {
        Self { chain, store, key, cfg, crash_after: None }
    }

    fn crash(&self, stage: &'static str) -> Result<()> {
        if self.crash_after == Some(stage) { Err(Error::InjectedCrash(stage)) } else { Ok(()) }
    }

    async fn save(&self, id: &str, observed_at: u64, s: &State) -> Result<()> {
        let json = serde_json::to_vec(s).map_err(Error::Notice)?;
        let sealed = self.key.seal_at_rest(STATE_INFO, &json).map_err(Error::SealedDeficit)?;
        let updated_at = self.chain.timestamp().await?;
        let row = IncidentRow {
            id: id.into(),
            observed_at,
            status: s.status().into(),
            sealed_state: sealed.0,
            updated_at,
        };
        self.store.put_incident(&row).await?;
        info!(target: "shr::agent", incident = id, status = s.status(), "incident step");
        Ok(())
    }

    async fn load(&self, id: &str) -> Result<Option<State>> {
        let Some(row) = self.store.incident(id).await? else { return Ok(None) };
        let plain = self
            .key
            .open_at_rest(STATE_INFO, &Sealed(row.sealed_state))
            .map_err(|_| Error::IncidentState(id.into()))?;
        Ok(Some(serde_json::from_slice(&plain).map_err(Error::Notice)?))
    }

    /// Reads new `ReserveStatusUpdated` events from the persisted cursor and drives every
    /// incident as far as it can go. Returns `(incident id, public status)` of what it touched.
    ///
    /// # Errors
    /// Chain, store and contract errors; the cursor only advances past events fully handled.
    pub async fn run_once(&self) -> Result<Vec<(String, String)>> {
        let from = self.store.cursor(CURSOR).await?.unwrap_or(0);
        let mut cursor = LogCursor::new(LogFilter::event(
            self.cfg.receiver,
            ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH,
            from,
        ));
        let logs = cursor.poll(self.chain).await?;
        let mut touched = Vec::new();
        for l in &logs {
            let Ok(e) = ReserveAttestation::ReserveStatusUpdated::decode_log(&l.to_primitive())
            else {
                continue;
            };
            let t: u64 = e.timestamp.try_into().unwrap_or(u64::MAX);
            if e.isSolvent {
                // Solvency is back: every earlier open incident is restored.
                for row in self.store.incidents().await? {
                    if row.observed_at < t
                        && matches!(row.status.as_str(), "swap_confirmed" | "decided" | "detected")
                    {
                        self.save(&row.id, row.observed_at, &State::Restored).await?;
                        touched.push((row.id, "restored".into()));
                    }
                }
            } else {
                let id = format!("{}:{t}", self.cfg.receiver);
                let status = self.drive(&id, t).await?;
                touched.push((id, status));
            }
        }
        self.store.set_cursor(CURSOR, cursor.next_block()).await?;
        Ok(touched)
    }

    async fn drive(&self, id: &str, observed_at: u64) -> Result<String> {
        let mut state = match self.load(id).await? {
            Some(s) => s,
            None => {
                self.save(id, observed_at, &State::Detected).await?;
                State::Detected
            }
        };
        self.crash("detected")?;
        if state == State::Detected {
            state = self.decide(observed_at).await?;
            self.save(id, observed_at, &state).await?;
        }
        self.crash("decided")?;
        if let State::Decided {
            amount_out,
            amount_in_max,
            quote_in,
            impact_bps,
            vault_before,
            ..
        } = state.clone()
        {
            let vault_now =
                view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {}).await?;
            if vault_now >= vault_before + amount_out {
                // Sent before a crash, not yet recorded: never pay twice.
                state = State::SwapConfirmed { amount_out, vault_after: vault_now };
            } else if !self.cfg.execute {
                info!(target: "shr::agent", incident = id, router = %self.cfg.router, %amount_out, %amount_in_max, "dry run: would send swapTokensForExactTokens to the vault");
                return Ok("decided".into());
            } else {
                let plan = crate::SwapPlan { amount_out, quote_in, amount_in_max, impact_bps };
                let deadline = self.chain.timestamp().await? + self.cfg.strategy.deadline_secs;
                execute_swap(
                    self.chain,
                    self.cfg.treasury,
                    self.cfg.router,
                    self.cfg.path.clone(),
                    &plan,
                    self.cfg.vault,
                    deadline,
                )
                .await?;
                self.crash("swap_sent")?;
                let vault_after =
                    view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {}).await?;
                state = State::SwapConfirmed { amount_out, vault_after };
            }
            self.save(id, observed_at, &state).await?;
        }
        self.crash("swap_confirmed")?;
        Ok(state.status().into())
    }

    async fn decide(&self, observed_at: u64) -> Result<State> {
        let Some(blob) = self.store.sealed_deficit(observed_at).await? else {
            return Ok(State::Failed { reason: "no sealed deficit notice for this report".into() });
        };
        let notice = match open_deficit(self.key, &Sealed(blob)) {
            Ok(n) => n,
            Err(e) => return Ok(State::Failed { reason: format!("{e}") }),
        };
        let reserves = view(self.chain, self.cfg.pair, &UniswapV2Pair::getReservesCall {}).await?;
        let token0 = view(self.chain, self.cfg.pair, &UniswapV2Pair::token0Call {}).await?;
        let (r0, r1) = (U256::from(reserves._reserve0), U256::from(reserves._reserve1));
        let collateral = self.cfg.path[self.cfg.path.len() - 1];
        let pool = if token0 == collateral {
            V2Pool { reserve_in: r1, reserve_out: r0 }
        } else {
            V2Pool { reserve_in: r0, reserve_out: r1 }
        };
        Ok(
            match choose(
                notice.deficit,
                self.cfg.decimals,
                self.cfg.price_usd_e8,
                &pool,
                &self.cfg.strategy,
            )? {
                Mechanism::DirectSwap(p) => State::Decided {
                    deficit: notice.deficit,
                    amount_out: p.amount_out,
                    amount_in_max: p.amount_in_max,
                    quote_in: p.quote_in,
                    impact_bps: p.impact_bps,
                    vault_before: view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {})
                        .await?,
                },
                Mechanism::DarkPool { .. } => State::NeedsDarkPool { deficit: notice.deficit },
            },
        )
    }
}
