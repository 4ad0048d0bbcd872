//! The agent's persisted incident state machine.
//!
//! One incident per insolvent report (idempotency key `receiver:observedAt`). Each step is
//! persisted before the next starts, with the private state sealed at rest by the agent's key:
//! `detected -> decided (plan, vault balance before) -> swap_confirmed -> restored`, or
//! `needs_dark_pool` / `failed`. After a crash anywhere, the next run resumes from the stored
//! step; a `decided` incident first checks the vault on chain, so a swap that was sent but not
//! yet recorded is recognised and never paid twice. The swap's deadline is persisted before the
//! swap is sent: after a crash or a dropped RPC connection the agent sends a new swap only once
//! that deadline has passed (the router rejects the old one from then on), so a swap still in a
//! mempool can never be paid a second time. Events are read from a persisted cursor,
//! only once they are `confirmations` blocks deep (a reorg shallower than that never reaches the
//! agent); duplicate and out-of-order deliveries are harmless: an incident whose sealed deficit
//! has not arrived yet waits in `detected` (up to `notice_timeout_secs`) and is resumed on every
//! run, whether or not a new event arrives.

use alloy::{
    primitives::{Address, U256},
    sol_types::SolEvent,
};
use serde::{Deserialize, Serialize};
use shr_chain::{Chain, LogFilter};
use shr_contracts::{
    bindings::{
        ReserveAttestation, ReserveVault, TestToken, UniswapV2Factory, UniswapV2Pair,
        UniswapV2Router02,
    },
    view,
};
use shr_enclave::{Enclave, Sealed};
use shr_store::{IncidentRow, Store};
use tracing::{debug, info, warn};

use crate::{
    DonSigners, Error, Mechanism, Result, Shortfall, StrategyConfig, V2Pool, agreed_deficit,
    choose, execute_swap,
};

mod darkpool;
mod operator;

pub use darkpool::DarkPoolConfig;
pub use operator::{IncidentSummary, RetryPolicy};

const STATE_INFO: &str = "shr/agent-incident/v1";
const CURSOR: &str = "agent/reserve-status";

/// Where the agent acts.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `ReserveAttestation` to watch.
    pub receiver: Address,
    /// Uniswap V2 Router02 (its factory gives the pair of every hop).
    pub router: Address,
    /// The swap route, treasury asset first, collateral last: `[WETH, WBTC]` or
    /// `[USDC, WETH, WBTC]`.
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
    /// The dark pool for deficits beyond the direct swap (`None`: such incidents stop at
    /// `needs_dark_pool`).
    pub dark_pool: Option<DarkPoolConfig>,
    /// Blocks an event must be buried under before the agent acts on it (0: act on the latest
    /// block, right for the embedded chain; 2 or more on a live network).
    pub confirmations: u64,
    /// How long an incident waits for f+1 signed deficit notices before failing, seconds of
    /// chain time after the report's `observedAt` (default 3,600).
    pub notice_timeout_secs: u64,
    /// The DON whose signed deficit notices count (f+1 needed; with no signers none counts).
    pub don: DonSigners,
}

impl AgentConfig {
    /// A configuration with the default strategy, dry run, no confirmations and a one-hour
    /// notice timeout.
    pub fn new(
        receiver: Address,
        router: Address,
        path: Vec<Address>,
        vault: Address,
        treasury: Address,
    ) -> Self {
        Self {
            receiver,
            router,
            path,
            vault,
            treasury,
            decimals: 8,
            price_usd_e8: 0,
            strategy: StrategyConfig::default(),
            execute: false,
            dark_pool: None,
            confirmations: 0,
            notice_timeout_secs: 3_600,
            don: DonSigners::default(),
        }
    }
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
        /// The deadline of a swap that may have been sent: until it passes, the swap may still
        /// be mined, so none is re-sent.
        #[serde(default)]
        in_flight_deadline: Option<u64>,
    },
    SwapConfirmed {
        amount_out: U256,
        vault_after: U256,
    },
    Restored,
    NeedsDarkPool {
        deficit: U256,
        /// The order size: the restore target in whole lots (zero in a state saved before
        /// there was one: the deficit is ordered).
        #[serde(default)]
        size: U256,
        /// 0 for the first request, 1 for the widened retry.
        #[serde(default)]
        attempt: u32,
    },
    /// The sealed order is in the mailbox under `incident id`; the request may have been sent.
    DarkPoolRequesting {
        deficit: U256,
        #[serde(default)]
        size: U256,
        attempt: u32,
        order_hash: alloy::primitives::B256,
        /// The order's Poseidon commitment (`requestCollateral`'s `orderHash`; public).
        #[serde(default)]
        order_poseidon: alloy::primitives::B256,
    },
    DarkPoolRequested {
        deficit: U256,
        #[serde(default)]
        size: U256,
        attempt: u32,
        request_id: u64,
    },
    DarkPoolFilled {
        deficit: U256,
        request_id: u64,
        credited: u128,
    },
    Escalated {
        deficit: U256,
        last_request: u64,
        /// The order size of the attempts (zero in a state saved before there was one).
        #[serde(default)]
        size: U256,
    },
    /// The operator cancelled the pending request (`shr incident cancel`); nothing more is
    /// bought for this incident unless the operator retries.
    Cancelled {
        deficit: U256,
        #[serde(default)]
        size: U256,
        last_request: Option<u64>,
    },
    /// The operator restored the reserve by hand (`shr incident resume`): the agent buys
    /// nothing more and waits for the DON's solvent report.
    ManualTopUp,
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
            Self::DarkPoolRequesting { .. } => "dark_pool_requesting",
            Self::DarkPoolRequested { .. } => "dark_pool_requested",
            Self::DarkPoolFilled { .. } => "dark_pool_filled",
            Self::Escalated { .. } => "escalated",
            Self::Cancelled { .. } => "cancelled",
            Self::ManualTopUp => "manual_top_up",
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
    /// Where alerts go besides the log.
    alerts: Option<std::sync::Arc<dyn crate::AlertSink>>,
    /// No valid collateral price this pass: nothing new is decided.
    price_unknown: bool,
    /// The pool commitment whose exit ticket was last forwarded to the oracle nodes.
    forwarded: std::sync::Mutex<Option<alloy::primitives::B256>>,
    /// Test hook: fail right after this stage is reached.
    pub crash_after: Option<&'static str>,
}

impl<'a> Agent<'a> {
    /// An agent acting on `chain`, persisting to `store`, opening with `key`.
    pub fn new(chain: &'a dyn Chain, store: Store, key: &'a Enclave, cfg: AgentConfig) -> Self {
        Self {
            chain,
            store,
            key,
            cfg,
            alerts: None,
            price_unknown: false,
            forwarded: Default::default(),
            crash_after: None,
        }
    }

    /// Sends alerts (escalations) to `sink` besides the log.
    pub fn with_alerts(mut self, sink: std::sync::Arc<dyn crate::AlertSink>) -> Self {
        self.alerts = Some(sink);
        self
    }

    /// The alert sink, if any.
    pub fn alerts(&self) -> Option<std::sync::Arc<dyn crate::AlertSink>> {
        self.alerts.clone()
    }

    /// Sets the collateral's USD price (e8) the next decisions use (the caller reads it from a
    /// Chainlink feed each pass: [`crate::feed_price_usd_e8`]); `None` when the feed gave no
    /// answer the agent may act on: new incidents then wait in `detected` (nothing is decided
    /// on a stale price) while those already decided go on.
    pub fn set_price_usd_e8(&mut self, price_usd_e8: Option<u128>) {
        self.price_unknown = price_usd_e8.is_none();
        self.cfg.price_usd_e8 = price_usd_e8.unwrap_or(0);
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    fn crash(&self, stage: &'static str) -> Result<()> {
        if self.crash_after == Some(stage) { Err(Error::InjectedCrash(stage)) } else { Ok(()) }
    }

    async fn save(&self, id: &str, observed_at: u64, s: &State) -> Result<()> {
        let json = serde_json::to_vec(s).map_err(Error::Notice)?;
        // Bound to the incident: a sealed state copied into another incident's row does not
        // open there.
        let info = format!("{STATE_INFO}/{id}");
        let sealed = self.key.seal_at_rest(&info, &json).map_err(Error::SealedDeficit)?;
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
        let sealed = Sealed(row.sealed_state);
        let plain = self
            .key
            .open_at_rest(&format!("{STATE_INFO}/{id}"), &sealed)
            // A state sealed before states were bound to their incident.
            .or_else(|_| self.key.open_at_rest(STATE_INFO, &sealed))
            .map_err(|_| Error::IncidentState(id.into()))?;
        Ok(Some(serde_json::from_slice(&plain).map_err(Error::Notice)?))
    }

    /// Resumes every open incident, then reads the `ReserveStatusUpdated` events that are at
    /// least `confirmations` blocks deep from the persisted cursor and drives every incident as
    /// far as it can go. Returns `(incident id, public status)` of what it touched.
    ///
    /// # Errors
    /// Chain, store and contract errors; the cursor only advances past events fully handled.
    pub async fn run_once(&self) -> Result<Vec<(String, String)>> {
        let mut touched = Vec::new();
        if let Some(dp) = &self.cfg.dark_pool {
            // Every pass keeps the reference pair's observations, so that a TWAP over the
            // bounded window is ready when a deficit needs the dark pool.
            self.twap_wad(dp).await?;
        }
        for row in self.store.incidents().await? {
            if matches!(
                row.status.as_str(),
                "detected"
                    | "decided"
                    | "needs_dark_pool"
                    | "dark_pool_requesting"
                    | "dark_pool_requested"
            ) {
                let status = self.drive(&row.id, row.observed_at).await?;
                touched.push((row.id, status));
            }
        }
        // The treasury's dark-pool balance counts only through a ticket for the pool's current
        // commitment: every change of the commitment (a fill, a deposit absorbed) is followed
        // by a fresh ticket to the oracle nodes, so that collateral bought never drops out.
        if self.cfg.dark_pool.is_some() {
            self.forward_credit().await?;
        }
        let from = self.store.cursor(CURSOR).await?.unwrap_or(0);
        let head = self.chain.block_number().await?;
        let Some(to) = head.checked_sub(self.cfg.confirmations).filter(|to| *to >= from) else {
            return Ok(touched);
        };
        let mut filter = LogFilter::event(
            self.cfg.receiver,
            ReserveAttestation::ReserveStatusUpdated::SIGNATURE_HASH,
            from,
        );
        filter.to_block = Some(to);
        let logs = self.chain.logs(&filter).await?;
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
                        && matches!(
                            row.status.as_str(),
                            "swap_confirmed"
                                | "decided"
                                | "detected"
                                | "dark_pool_requested"
                                | "dark_pool_filled"
                                | "escalated"
                                | "cancelled"
                                | "manual_top_up"
                        )
                    {
                        self.save(&row.id, row.observed_at, &State::Restored).await?;
                        upsert(&mut touched, row.id, "restored");
                    }
                }
            } else {
                let id = format!("{}:{t}", self.cfg.receiver);
                let status = self.drive(&id, t).await?;
                upsert(&mut touched, id, &status);
            }
        }
        self.store.set_cursor(CURSOR, to + 1).await?;
        Ok(touched)
    }

    /// The pools of the configured path, from the treasury asset to the collateral, with their
    /// current reserves (the router's factory's `getPair` for each hop).
    ///
    /// # Errors
    /// [`Error::EmptyRoute`] for a path shorter than two; [`Error::NoPair`] naming the hop
    /// without a pair; contract errors.
    pub async fn route(&self) -> Result<Vec<V2Pool>> {
        if self.cfg.path.len() < 2 {
            return Err(Error::EmptyRoute);
        }
        let factory = view(self.chain, self.cfg.router, &UniswapV2Router02::factoryCall {}).await?;
        let mut route = Vec::new();
        for hop in self.cfg.path.windows(2) {
            let (from, to) = (hop[0], hop[1]);
            let pair =
                view(self.chain, factory, &UniswapV2Factory::getPairCall { _0: from, _1: to })
                    .await?;
            if pair == Address::ZERO {
                return Err(Error::NoPair { from, to });
            }
            let reserves = view(self.chain, pair, &UniswapV2Pair::getReservesCall {}).await?;
            let token0 = view(self.chain, pair, &UniswapV2Pair::token0Call {}).await?;
            let (r0, r1) = (U256::from(reserves._reserve0), U256::from(reserves._reserve1));
            route.push(if token0 == from {
                V2Pool { reserve_in: r0, reserve_out: r1 }
            } else {
                V2Pool { reserve_in: r1, reserve_out: r0 }
            });
        }
        Ok(route)
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
            match self.decide(observed_at).await? {
                Some(next) => {
                    state = next;
                    self.save(id, observed_at, &state).await?;
                }
                None => return Ok("detected".into()),
            }
        }
        self.crash("decided")?;
        if let State::Decided {
            amount_out,
            amount_in_max,
            quote_in,
            impact_bps,
            vault_before,
            in_flight_deadline,
            ..
        } = state.clone()
        {
            let vault_now =
                view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {}).await?;
            let now = self.chain.timestamp().await?;
            if vault_now >= vault_before + amount_out {
                // Sent before a crash, not yet recorded: never pay twice.
                state = State::SwapConfirmed { amount_out, vault_after: vault_now };
            } else if in_flight_deadline.is_some_and(|d| now <= d) {
                // A swap sent before a crash or a dropped connection may still be mined until
                // its deadline; only after it can a new one be sent without paying twice.
                warn!(target: "shr::agent", incident = id, deadline = in_flight_deadline, now, "a swap may be in flight; waiting for its deadline");
                return Ok("decided".into());
            } else if !self.cfg.execute {
                self.log_dry_run(id, amount_out, amount_in_max).await?;
                return Ok("decided".into());
            } else {
                let plan = crate::SwapPlan { amount_out, quote_in, amount_in_max, impact_bps };
                let deadline = now + self.cfg.strategy.deadline_secs;
                if let State::Decided { in_flight_deadline, .. } = &mut state {
                    *in_flight_deadline = Some(deadline);
                }
                self.save(id, observed_at, &state).await?;
                self.crash("deadline_set")?;
                let sent = execute_swap(
                    self.chain,
                    self.cfg.treasury,
                    self.cfg.router,
                    self.cfg.path.clone(),
                    &plan,
                    self.cfg.vault,
                    deadline,
                )
                .await;
                if let Err(e) = sent {
                    if nothing_sent(&e) {
                        // The treasury's signer refused or could not reach its threshold:
                        // no swap is in flight, so the next pass may try again at once.
                        if let State::Decided { in_flight_deadline, .. } = &mut state {
                            *in_flight_deadline = None;
                        }
                        self.save(id, observed_at, &state).await?;
                        crate::alert::raise(
                            self.alerts(),
                            crate::Alert {
                                kind: crate::AlertKind::Escalation,
                                incident: Some(id.to_string()),
                                message: format!(
                                    "the treasury {} did not sign: the agent cannot pay ({e})",
                                    self.cfg.treasury
                                ),
                                at: now,
                            },
                        );
                    }
                    return Err(e);
                }
                self.crash("swap_sent")?;
                let vault_after =
                    view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {}).await?;
                state = State::SwapConfirmed { amount_out, vault_after };
            }
            self.save(id, observed_at, &state).await?;
        }
        self.crash("swap_confirmed")?;
        if matches!(
            state,
            State::NeedsDarkPool { .. }
                | State::DarkPoolRequesting { .. }
                | State::DarkPoolRequested { .. }
        ) {
            state = self.drive_dark_pool(id, observed_at, state).await?;
        }
        Ok(state.status().into())
    }

    /// Logs the transactions an executing agent would send, sending none: at `info` only that
    /// it would (a dry run makes nothing public, so its log carries no amount); the exact
    /// calldata (whose amounts a swap would publish) at `debug` on target `shr::agent::dry_run`.
    async fn log_dry_run(&self, id: &str, amount_out: U256, amount_in_max: U256) -> Result<()> {
        use alloy::sol_types::SolCall;
        let deadline = self.chain.timestamp().await? + self.cfg.strategy.deadline_secs;
        let approve =
            TestToken::approveCall { spender: self.cfg.router, value: amount_in_max }.abi_encode();
        let swap = UniswapV2Router02::swapTokensForExactTokensCall {
            amountOut: amount_out,
            amountInMax: amount_in_max,
            path: self.cfg.path.clone(),
            to: self.cfg.vault,
            deadline: U256::from(deadline),
        }
        .abi_encode();
        let (from, pay) = (self.cfg.treasury, self.cfg.path[0]);
        info!(target: "shr::agent", incident = id, %from, router = %self.cfg.router, "dry run: would send approve and swapTokensForExactTokens (calldata at debug, target shr::agent::dry_run)");
        debug!(target: "shr::agent::dry_run", incident = id, %from, to = %pay, data = %alloy::hex::encode_prefixed(approve), "dry run: would send approve");
        debug!(target: "shr::agent::dry_run", incident = id, %from, to = %self.cfg.router, data = %alloy::hex::encode_prefixed(swap), "dry run: would send swapTokensForExactTokens");
        Ok(())
    }

    /// The next state of a `detected` incident, `None` while its notice has not arrived.
    async fn decide(&self, observed_at: u64) -> Result<Option<State>> {
        // Out of order: a later solvent report is already on chain (the agent was behind).
        let (solvent_now, latest) =
            shr_oracle::attested_state(self.chain, self.cfg.receiver).await?;
        if solvent_now && latest > observed_at {
            info!(target: "shr::agent", observed_at, latest, "a later report is solvent; nothing to do");
            return Ok(Some(State::Restored));
        }
        if self.price_unknown {
            warn!(target: "shr::agent", observed_at, "no valid collateral price; the incident waits");
            return Ok(None);
        }
        let sealed: Vec<Sealed> =
            self.store.sealed_deficits(observed_at).await?.into_iter().map(Sealed).collect();
        let notice = match agreed_deficit(self.key, &self.cfg.don, observed_at, &sealed) {
            Ok(n) => n,
            Err(e) => {
                let waited = self.chain.timestamp().await?.saturating_sub(observed_at);
                if waited > self.cfg.notice_timeout_secs {
                    return Ok(Some(State::Failed {
                        reason: format!(
                            "{e}, {waited} s after the report (timeout {} s)",
                            self.cfg.notice_timeout_secs
                        ),
                    }));
                }
                warn!(target: "shr::agent", observed_at, waited, error = %e, "insolvent report seen before f+1 signed deficit notices; waiting");
                return Ok(None);
            }
        };
        let route = self.route().await?;
        // The band's draw: taken once per incident here and kept in the state it leads to.
        let shortfall =
            Shortfall::of(&notice, self.cfg.decimals, self.cfg.price_usd_e8, rand::random());
        Ok(Some(match choose(&shortfall, &route, &self.cfg.strategy)? {
            Mechanism::DirectSwap(p) => State::Decided {
                deficit: notice.deficit,
                amount_out: p.amount_out,
                amount_in_max: p.amount_in_max,
                quote_in: p.quote_in,
                impact_bps: p.impact_bps,
                vault_before: view(self.chain, self.cfg.vault, &ReserveVault::reservesCall {})
                    .await?,
                in_flight_deadline: None,
            },
            Mechanism::DarkPool { size, .. } => {
                State::NeedsDarkPool { deficit: notice.deficit, size, attempt: 0 }
            }
        }))
    }
}

fn upsert(touched: &mut Vec<(String, String)>, id: String, status: &str) {
    match touched.iter_mut().find(|(i, _)| *i == id) {
        Some(t) => t.1 = status.into(),
        None => touched.push((id, status.into())),
    }
}

/// Whether `e` says the treasury's signer did not sign, so that no transaction left the agent
/// (`shr_chain::Error::NotSigned` anywhere in its sources).
fn nothing_sent(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        let not_signed = matches!(
            x.downcast_ref::<shr_chain::Error>(),
            Some(shr_chain::Error::NotSigned { .. })
        ) || {
            // A transparent wrapper (boxed or not): its `source()` skips the chain error.
            let c = x
                .downcast_ref::<shr_contracts::Error>()
                .or_else(|| x.downcast_ref::<Box<shr_contracts::Error>>().map(|b| &**b));
            matches!(c, Some(shr_contracts::Error::Chain(shr_chain::Error::NotSigned { .. })))
        };
        if not_signed {
            return true;
        }
        cur = x.source();
    }
    false
}
