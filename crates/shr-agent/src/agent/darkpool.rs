//! The agent's dark-pool steps: `needs_dark_pool -> dark_pool_requesting -> dark_pool_requested
//! -> dark_pool_filled`, or after two expiries `escalated`. Each step is persisted before its
//! transaction; a crash after `requestCollateral` was sent is recognised by the order's
//! commitment on chain, so a request is never made twice for one attempt.

use alloy::primitives::{Address, U256, keccak256};
use shr_darkpool::{
    DarkPool, OrderBody, RequestStatus, TwapPolicy, exit_key, mailbox_key, mailbox_secret,
    open_exit_ticket, open_notice, seal_order, sliding_twap,
};
use shr_enclave::{HpkePublicKey, Sealed};
use tracing::{info, warn};

use super::{Agent, State};
use crate::{DarkPoolPolicy, Result};

/// Where and how the agent uses the dark pool.
#[derive(Debug, Clone)]
pub struct DarkPoolConfig {
    /// The deployed `CREDarkPool`.
    pub pool: DarkPool,
    /// The matcher enclave's HPKE key (from its verified identity).
    pub matcher: HpkePublicKey,
    /// A Uniswap V2 pair of the collateral and the pool's payment asset, whose TWAP centres
    /// the order's band.
    pub reference_pair: Address,
    /// The TWAP window and the largest spot/TWAP divergence accepted.
    pub twap: TwapPolicy,
    /// Premium, band, retry and timeout.
    pub policy: DarkPoolPolicy,
    /// The oracle nodes' `(signer, HPKE key)` (from their verified identities): once filled, the
    /// agent forwards the treasury's exit ticket sealed to each, under mailbox `credit` keyed
    /// by the node's signer, so that the next round counts the collateral from chain state.
    pub oracle_nodes: Vec<(Address, HpkePublicKey)>,
}

impl Agent<'_> {
    pub(super) async fn drive_dark_pool(
        &self,
        id: &str,
        observed_at: u64,
        mut state: State,
    ) -> Result<State> {
        let Some(mut dp) = self.cfg.dark_pool.clone() else { return Ok(state) };
        // An operator's retry (`shr incident retry`) sets this incident's own premium, band
        // and timeout.
        if let Some(p) = self.policy_override(id).await? {
            dp.policy = p;
        }
        loop {
            state = match state {
                State::NeedsDarkPool { deficit, size, attempt } => {
                    if !self.cfg.execute {
                        info!(target: "shr::agent::dry_run", incident = id, attempt, "dry run: would seal an order to the matcher and call requestCollateral");
                        return Ok(State::NeedsDarkPool { deficit, size, attempt });
                    }
                    let Some(price) = self.twap_wad(&dp).await? else {
                        return Ok(State::NeedsDarkPool { deficit, size, attempt });
                    };
                    let now = self.chain.timestamp().await?;
                    let order = dp.policy.order(
                        (size.max(deficit).to(), deficit.to()),
                        price,
                        attempt,
                        now,
                    );
                    let body = OrderBody {
                        order,
                        requester: self.cfg.treasury,
                        reply_to: self.key.identity().hpke,
                        mailbox: mailbox_secret(self.key)?,
                        salt: shr_zk::OrderOpening::random_salt(),
                    };
                    let order_poseidon = body.order_hash()?;
                    let sealed = seal_order(&dp.matcher, &body)?;
                    self.store.put_sealed("order-pending", id, sealed.as_bytes()).await?;
                    let next = State::DarkPoolRequesting {
                        deficit,
                        size,
                        attempt,
                        order_hash: keccak256(sealed.as_bytes()),
                        order_poseidon,
                    };
                    self.save(id, observed_at, &next).await?;
                    next
                }
                State::DarkPoolRequesting {
                    deficit,
                    size,
                    attempt,
                    order_hash,
                    order_poseidon,
                } => {
                    let sealed =
                        Sealed(self.store.sealed("order-pending", id).await?.unwrap_or_default());
                    let found =
                        dp.pool.find_request(self.chain, self.cfg.treasury, order_hash).await?;
                    let request_id = match found {
                        Some(r) => r,
                        None => {
                            let (r, _) = dp
                                .pool
                                .request(
                                    self.chain,
                                    self.cfg.treasury,
                                    (&sealed, order_poseidon),
                                    dp.policy.premium_bps + dp.policy.widen_bps * attempt,
                                    dp.policy.timeout_secs,
                                )
                                .await?;
                            self.crash("dark_pool_request_sent")?;
                            r
                        }
                    };
                    // The matcher's mailbox copy of the ciphertext in the calldata.
                    self.store
                        .put_sealed("order", &request_id.to_string(), sealed.as_bytes())
                        .await?;
                    let next = State::DarkPoolRequested { deficit, size, attempt, request_id };
                    self.save(id, observed_at, &next).await?;
                    info!(target: "shr::agent", incident = id, request_id, attempt, "collateral requested from the dark pool");
                    next
                }
                State::DarkPoolRequested { deficit, size, attempt, request_id } => {
                    let (_, deadline, status, _) =
                        dp.pool.request_info(self.chain, request_id).await?;
                    let now = self.chain.timestamp().await?;
                    let next = match status {
                        RequestStatus::Filled | RequestStatus::PartiallyFilled => {
                            let key = mailbox_key(&mailbox_secret(self.key)?, request_id);
                            let Some(blob) = self.store.sealed("fill", &key.to_string()).await?
                            else {
                                return Ok(State::DarkPoolRequested {
                                    deficit,
                                    size,
                                    attempt,
                                    request_id,
                                });
                            };
                            match open_notice(self.key, &Sealed(blob)) {
                                Ok(notice) => State::DarkPoolFilled {
                                    deficit,
                                    request_id,
                                    credited: notice.collateral,
                                },
                                Err(e) => {
                                    warn!(target: "shr::agent", incident = id, request_id, error = %e, "the fill notice does not open; waiting for the matcher's");
                                    return Ok(State::DarkPoolRequested {
                                        deficit,
                                        size,
                                        attempt,
                                        request_id,
                                    });
                                }
                            }
                        }
                        RequestStatus::Pending if now > deadline => {
                            dp.pool.expire(self.chain, self.cfg.treasury, request_id).await?;
                            continue_expired(deficit, size, attempt, request_id)
                        }
                        RequestStatus::Pending => {
                            return Ok(State::DarkPoolRequested {
                                deficit,
                                size,
                                attempt,
                                request_id,
                            });
                        }
                        // The operator cancelled it (`shr incident cancel`): final, never retried
                        // behind the operator's back.
                        RequestStatus::Cancelled => {
                            State::Cancelled { deficit, size, last_request: Some(request_id) }
                        }
                        RequestStatus::Expired | RequestStatus::None => {
                            continue_expired(deficit, size, attempt, request_id)
                        }
                    };
                    self.save(id, observed_at, &next).await?;
                    if let State::Escalated { .. } = next {
                        let alert = crate::Alert {
                            kind: crate::AlertKind::Escalation,
                            incident: Some(id.into()),
                            message: format!(
                                "dark-pool request {request_id} expired after the widened retry; the incident waits for `shr incident retry|cancel|resume`"
                            ),
                            at: now,
                        };
                        crate::raise(self.alerts(), alert);
                    }
                    next
                }
                other => return Ok(other),
            };
        }
    }

    /// Forwards the treasury's exit ticket for the pool's current commitment (the matcher
    /// service stores it sealed to the treasury under `exit`) to every oracle node's enclave,
    /// once per commitment:
    /// opened with the agent's key, sealed again to each node ([`shr_oracle::seal_credit`]).
    /// Returns whether a ticket was there to forward.
    ///
    /// # Errors
    /// Chain, store and enclave errors.
    pub(super) async fn forward_credit(&self) -> Result<bool> {
        let Some(dp) = &self.cfg.dark_pool else { return Ok(false) };
        let (commitment, _) = dp.pool.commitment(self.chain).await?;
        if *self.forwarded.lock().expect("forwarded lock") == Some(commitment) {
            return Ok(true);
        }
        let key = exit_key(self.cfg.treasury, commitment);
        let Some(blob) = self.store.sealed("exit", &key).await? else { return Ok(false) };
        let ticket = match open_exit_ticket(self.key, &Sealed(blob)) {
            Ok(t) => t,
            Err(e) => {
                // Anyone who can write the mailbox can plant a row here: never stop the pass.
                warn!(target: "shr::agent", error = %e, "the treasury's exit ticket does not open; not forwarded");
                return Ok(false);
            }
        };
        for (signer, hpke) in &dp.oracle_nodes {
            let sealed = shr_oracle::seal_credit(hpke, &ticket)?;
            self.store.put_sealed("credit", &signer.to_string(), sealed.as_bytes()).await?;
        }
        *self.forwarded.lock().expect("forwarded lock") = Some(commitment);
        info!(target: "shr::agent", nodes = dp.oracle_nodes.len(), "exit ticket forwarded to the oracle nodes");
        Ok(true)
    }

    /// Keeps the reference pair's observations (every pass) and returns its TWAP of the
    /// collateral in the payment asset over the bounded window, wad; `None` while no
    /// observation is a window old, or while the spot price strays from the TWAP (a pool moved
    /// by a flash loan: the agent waits rather than price an order off it).
    pub(super) async fn twap_wad(&self, dp: &DarkPoolConfig) -> Result<Option<u128>> {
        let pair = (dp.reference_pair, dp.pool.collateral);
        match sliding_twap(self.chain, &self.store, self.key, pair, &dp.twap).await {
            Ok(None) => {
                info!(target: "shr::agent", "waiting for a TWAP window on the reference pair");
                Ok(None)
            }
            Ok(Some(p)) => Ok(Some(p)),
            Err(shr_darkpool::Error::InvalidOrder { field: "spot_divergence_bps", value }) => {
                warn!(target: "shr::agent", divergence_bps = %value, "spot price strays from the TWAP; not pricing an order off it");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// After an expiry: one widened retry, then escalation.
fn continue_expired(deficit: U256, size: U256, attempt: u32, request_id: u64) -> State {
    if attempt == 0 {
        State::NeedsDarkPool { deficit, size, attempt: 1 }
    } else {
        State::Escalated { deficit, last_request: request_id, size }
    }
}
