//! The matcher's host loop: admit the pool's deposits, read new requests from the chain, hand
//! their sealed orders to the enclave, send the settlements, reconcile with the chain, deliver
//! the sealed notices and exit tickets, keep the enclave's state sealed at rest.
//!
//! Sealed orders arrive through the store's mailbox (`order`, request id), written by the
//! requester next to the `requestCollateral` calldata that carries the same ciphertext; notices
//! leave through it (`fill`, under an opaque `mailbox_key` only their party can compute), exit
//! tickets too (`exit`, `"{party}:{root}"`, stored before the transition they are for is sent).
//! Admitted deposits are proven into the tree one `absorbDeposit` each. All are HPKE
//! ciphertexts. One request's failure is logged and skipped: it never holds up the requests
//! behind it.

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolEvent,
};
use shr_chain::{Chain, LogFilter};
use shr_contracts::{bindings::CREDarkPool, view};
use shr_enclave::Sealed;
use shr_store::Store;
use tracing::{debug, info, warn};

use crate::{
    DarkPool, Error, MakerBody, MatcherEnclave, Reconciled, RequestStatus, Result, seal_maker,
};

const CURSOR: &str = "matcher/requests";
const FORCED_CURSOR: &str = "matcher/forced";
/// Mailbox kind and key of the ids of requests still open (public: request ids are on chain).
const OPEN_REQUESTS: (&str, &str) = ("matcher", "open-requests");
/// Mailbox kind and key of the matcher's sealed state.
pub const STATE_KEY: (&str, &str) = ("matcher", "state");

/// Onboards the maker of `body`: `admin` allow-lists it on `pool`, the maker deposits
/// `inventory` base units of `token` it already holds (public: an ERC-20 transfer), and the
/// commitment reaches the matcher sealed to its HPKE key (private). The matcher counts the
/// deposit from the chain's log once it is final ([`sync_deposits`]).
///
/// # Errors
/// Chain and contract errors (allow-list, approve, deposit), enclave errors (sealing, opening).
pub async fn onboard_maker(
    chain: &dyn Chain,
    pool: &DarkPool,
    matcher: &mut MatcherEnclave,
    (admin, token, inventory): (Address, Address, u128),
    body: &MakerBody,
) -> Result<()> {
    let maker = body.commitment.maker;
    pool.set_maker(chain, admin, maker).await?;
    pool.deposit(chain, maker, token, U256::from(inventory), &body.reply_to).await?;
    matcher.add_maker(&seal_maker(&matcher.identity().hpke, body)?)
}

/// Mailbox kind of the makers' sealed commitments (keyed by the maker's address).
pub const MAKER_KIND: &str = "maker";

/// Admits every maker commitment waiting in the mailbox (`maker`, keyed by the maker's
/// address; a new one replaces the maker's earlier one), persists the sealed state once any
/// was admitted, then removes them from the mailbox; one that does not open or is not signed
/// by its maker is logged and removed. Returns how many were admitted.
///
/// # Errors
/// Store and sealing errors.
pub async fn admit_makers(matcher: &mut MatcherEnclave, store: &Store) -> Result<usize> {
    let waiting = store.sealed_all(MAKER_KIND).await.map_err(Error::Store)?;
    let mut admitted = 0;
    for (key, blob) in &waiting {
        match matcher.add_maker(&Sealed(blob.clone())) {
            Ok(()) => admitted += 1,
            Err(e) => {
                warn!(target: "shr::darkpool", maker = %key, error = %e, "maker commitment refused");
            }
        }
    }
    if admitted > 0 {
        // Persisted before the mailbox copies go: a crash in between admits them again.
        persist(matcher, store).await?;
        info!(target: "shr::darkpool", makers = admitted, "maker commitments admitted");
    }
    for (key, _) in &waiting {
        store.delete_sealed(MAKER_KIND, key).await.map_err(Error::Store)?;
    }
    Ok(admitted)
}

/// Hands the enclave every `Deposited` log of its pool from its cursor to the head; it counts
/// those buried under its finality depth. Returns how many it counted.
///
/// # Errors
/// [`Error::Unbound`], chain errors, [`Error::DepositLog`].
pub async fn sync_deposits(matcher: &mut MatcherEnclave, chain: &dyn Chain) -> Result<usize> {
    let pool = matcher.pool().ok_or(Error::Unbound)?;
    let head = chain.block_number().await?;
    let from = matcher.deposit_cursor();
    let logs = events(chain, pool, CREDarkPool::Deposited::SIGNATURE_HASH, from..=head).await?;
    matcher.admit_deposits(&logs, head)
}

/// The pool's logs of event `topic0` in the block range (none for an empty range).
async fn events(
    chain: &dyn Chain,
    pool: Address,
    topic0: B256,
    blocks: std::ops::RangeInclusive<u64>,
) -> Result<Vec<shr_chain::ChainLog>> {
    // Nothing mined since the cursor: a node refuses a range that starts past its head.
    if blocks.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = LogFilter::event(pool, topic0, *blocks.start());
    filter.to_block = Some(*blocks.end());
    Ok(chain.logs(&filter).await?)
}

/// The mailbox key of `party`'s exit ticket at root `commitment`.
pub fn exit_key(party: Address, commitment: B256) -> String {
    format!("{party}:{commitment}")
}

/// Proves every deposit the enclave admitted into the tree, one `absorbDeposit` each, sent by
/// `relayer`. Returns how many landed. A refused absorption is dropped from the staged queue
/// and retried on the next pass (reconciled from the chain's root first).
///
/// # Errors
/// [`Error::Desynchronised`]; chain, contract and store errors.
pub async fn absorb_deposits(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    (relayer, store): (Address, &Store),
) -> Result<usize> {
    let mut n = 0;
    while let Some(auth) = matcher.absorb_next()? {
        put_tickets(store, auth.new_commitment, matcher.staged_exit_tickets()?).await?;
        match pool.absorb(chain, relayer, &auth).await {
            Ok(_) => {
                matcher.confirm()?;
                n += 1;
            }
            Err(err) => {
                if reconcile(matcher, chain, pool, store).await? == Reconciled::Advanced(1) {
                    n += 1;
                    continue;
                }
                warn!(target: "shr::darkpool", party = %auth.party, error = %err, "deposit not absorbed; retried next pass");
                break;
            }
        }
    }
    if n > 0 {
        persist(matcher, store).await?;
        info!(target: "shr::darkpool", deposits = n, "deposits absorbed with proofs");
    }
    Ok(n)
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Served {
    /// `(request id, status after)` for each open request looked at (still `Pending` when it
    /// could not fill yet).
    pub statuses: Vec<(u64, RequestStatus)>,
    /// Requests that failed in the enclave or on chain, with why; the loop went on.
    pub failures: Vec<(u64, Error)>,
    /// Forced withdrawals served: `(party, token)`.
    pub forced: Vec<(Address, Address)>,
}

/// Brings the enclave to the chain's commitment and, when that changed anything (or nothing is
/// stored yet), persists its sealed state and exit tickets.
///
/// # Errors
/// [`Error::Desynchronised`]; chain, contract and store errors.
pub async fn reconcile(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    store: &Store,
) -> Result<Reconciled> {
    let (c, v) = pool.commitment(chain).await?;
    let r = matcher.reconcile(c, v)?;
    // Sealing the state and signing every ticket again is only worth it when something moved
    // (or nothing was stored yet: a fresh matcher's blinding must survive a restart).
    let stored = store.sealed(STATE_KEY.0, STATE_KEY.1).await.map_err(Error::Store)?.is_some();
    if r != Reconciled::Unchanged(0) || !stored {
        persist(matcher, store).await?;
    }
    Ok(r)
}

async fn persist(matcher: &MatcherEnclave, store: &Store) -> Result<()> {
    let sealed = matcher.seal_state()?;
    store.put_sealed(STATE_KEY.0, STATE_KEY.1, sealed.as_bytes()).await.map_err(Error::Store)?;
    put_tickets(store, matcher.committed(), matcher.exit_tickets()?).await
}

async fn put_tickets(
    store: &Store,
    commitment: B256,
    tickets: Vec<(Address, Sealed)>,
) -> Result<()> {
    for (party, ticket) in tickets {
        store
            .put_sealed("exit", &exit_key(party, commitment), ticket.as_bytes())
            .await
            .map_err(Error::Store)?;
    }
    Ok(())
}

/// Makes the proving keys of both circuits (fill, update) now and returns how long that took: a
/// matcher calls it at start (CPU-bound: off the async runtime) so its first settlement costs
/// proving time only, not the keys' setup (seconds on two cores).
pub fn prepare_proving_keys() -> std::time::Duration {
    let started = std::time::Instant::now();
    shr_zk::keys(shr_zk::CircuitKind::Fill);
    shr_zk::keys(shr_zk::CircuitKind::Update);
    started.elapsed()
}

/// One pass: deposits are synced, then every `CollateralRequested` since the persisted cursor
/// that is still open and has its sealed order in the mailbox is matched at `twap_wad`; a fill
/// is sent from `relayer`. The enclave's staged table becomes current only once the chain shows
/// it (an error after a mined fill is reconciled from the chain's commitment, not aborted). A
/// failing request is recorded in [`Served::failures`] and the pass goes on. Requests still
/// open are kept by id (not by pinning the log cursor, which anyone's request without an order
/// could hold back) and matched again each pass until they fill, end or pass their deadline:
/// an order that reaches the mailbox late, or liquidity that arrives before the deadline, is
/// matched then. Forced withdrawals still open are
/// served (the party's whole balance, sent by `relayer` to the party), so the escape hatch
/// stays shut while the matcher is alive.
///
/// # Errors
/// Chain and store errors outside a request; [`Error::Desynchronised`].
pub async fn serve_once(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    relayer: Address,
    store: &Store,
    twap_wad: u128,
) -> Result<Served> {
    reconcile(matcher, chain, pool, store).await?;
    sync_deposits(matcher, chain).await?;
    absorb_deposits(matcher, chain, pool, (relayer, store)).await?;
    let from = store.cursor(CURSOR).await.map_err(Error::Store)?.unwrap_or(0);
    let head = chain.block_number().await?;
    let topic0 = CREDarkPool::CollateralRequested::SIGNATURE_HASH;
    let mut out = Served::default();
    // The requests still open after earlier passes, then the new ones.
    let mut open: std::collections::BTreeSet<u64> =
        match store.sealed(OPEN_REQUESTS.0, OPEN_REQUESTS.1).await.map_err(Error::Store)? {
            Some(json) => serde_json::from_slice(&json).unwrap_or_default(),
            None => Default::default(),
        };
    for l in events(chain, pool.address, topic0, from..=head).await? {
        let Ok(e) = CREDarkPool::CollateralRequested::decode_log(&l.to_primitive()) else {
            continue;
        };
        if let Ok(id) = u64::try_from(e.requestId) {
            open.insert(id);
        }
    }
    let mut still_open = std::collections::BTreeSet::new();
    for id in open {
        match serve_request(matcher, chain, pool, relayer, store, twap_wad, id).await {
            Ok(Some(status)) => {
                out.statuses.push((id, status));
                if status == RequestStatus::Pending {
                    still_open.insert(id);
                }
            }
            Ok(None) => {}
            Err(err) => {
                warn!(target: "shr::darkpool", request_id = id, error = %err, "request failed; moving on");
                out.failures.push((id, err));
                still_open.insert(id);
            }
        }
    }
    // A request still open (its order not in the mailbox yet, not enough liquidity yet, a
    // failure) is looked at again next pass, until it fills, ends or passes its deadline.
    let json = serde_json::to_vec(&still_open).map_err(Error::Body)?;
    store.put_sealed(OPEN_REQUESTS.0, OPEN_REQUESTS.1, &json).await.map_err(Error::Store)?;
    store.set_cursor(CURSOR, head + 1).await.map_err(Error::Store)?;
    serve_forced(matcher, chain, pool, (relayer, store), head, &mut out).await?;
    Ok(out)
}

/// Serves every forced withdrawal requested since the persisted cursor and still open.
async fn serve_forced(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    (relayer, store): (Address, &Store),
    head: u64,
    out: &mut Served,
) -> Result<()> {
    let from = store.cursor(FORCED_CURSOR).await.map_err(Error::Store)?.unwrap_or(0);
    let topic0 = CREDarkPool::ForcedWithdrawalRequested::SIGNATURE_HASH;
    // A request that could not be served is read again next pass.
    let mut next = head + 1;
    for l in events(chain, pool.address, topic0, from..=head).await? {
        let Ok(e) = CREDarkPool::ForcedWithdrawalRequested::decode_log(&l.to_primitive()) else {
            continue;
        };
        let (party, token) = (e.party, e.token);
        let open =
            view(chain, pool.address, &CREDarkPool::forcedAtCall { _0: party, _1: token }).await?;
        if open == 0 {
            continue;
        }
        let served = async {
            let (_, auth) = matcher.authorize_forced(party, token)?;
            put_tickets(store, auth.new_commitment, matcher.staged_exit_tickets()?).await?;
            pool.withdraw_for(chain, relayer, &auth).await?;
            Ok::<_, Error>(())
        }
        .await;
        match served {
            Ok(()) => {
                matcher.confirm()?;
                persist(matcher, store).await?;
                info!(target: "shr::darkpool", %party, %token, "forced withdrawal served");
                out.forced.push((party, token));
            }
            Err(err) => {
                matcher.abort();
                reconcile(matcher, chain, pool, store).await?;
                warn!(target: "shr::darkpool", %party, error = %err, "forced withdrawal not served; retried next pass");
                next = next.min(l.block_number);
            }
        }
    }
    store.set_cursor(FORCED_CURSOR, next).await.map_err(Error::Store)?;
    Ok(())
}

async fn serve_request(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    relayer: Address,
    store: &Store,
    twap_wad: u128,
    id: u64,
) -> Result<Option<RequestStatus>> {
    let (_, deadline, status, _) = pool.request_info(chain, id).await?;
    // Ended, or past its deadline (the pool refuses a late fill): no longer the matcher's.
    if status != RequestStatus::Pending || chain.timestamp().await? > deadline {
        return Ok(None);
    }
    let Some(blob) = store.sealed("order", &id.to_string()).await.map_err(Error::Store)? else {
        debug!(target: "shr::darkpool", request_id = id, "no sealed order in the mailbox yet");
        return Ok(Some(RequestStatus::Pending));
    };
    let request = pool.request_ref(chain, id).await?;
    let now = chain.timestamp().await?;
    let seen_block = chain.block_number().await?;
    let (outcome, settlement) = matcher.settle(&request, &Sealed(blob), twap_wad, now)?;
    let Some(s) = settlement else {
        info!(target: "shr::darkpool", request_id = id, "not enough committed liquidity; the request will expire");
        return Ok(Some(RequestStatus::Pending));
    };
    // Tickets for the version this fill creates go out first: if the matcher dies once the
    // chain accepts it, every party can still leave through the escape hatch.
    put_tickets(store, s.new_commitment, matcher.staged_exit_tickets()?).await?;
    let mut fill_block = None;
    let sent = pool.fill(chain, relayer, &s).await;
    if let Ok(r) = &sent {
        fill_block = Some(r.block_number);
    }
    if let Err(err) = sent {
        // The transaction may have been mined even though the call failed (an RPC error after
        // broadcast): the chain's commitment decides.
        match reconcile(matcher, chain, pool, store).await? {
            Reconciled::Advanced(_) => {
                warn!(target: "shr::darkpool", request_id = id, error = %err, "fill reported an error but the chain accepted it");
            }
            Reconciled::Unchanged(_) => return Err(err),
        }
    } else {
        matcher.confirm()?;
        persist(matcher, store).await?;
    }
    for (key, sealed) in &s.notices {
        store
            .put_sealed("fill", &key.to_string(), sealed.as_bytes())
            .await
            .map_err(Error::Store)?;
    }
    info!(target: "shr::darkpool", request_id = id, fills = outcome.fills.len(), proving_ms = s.proving_ms, seen_block, fill_block, "settled with a validity proof");
    Ok(Some(pool.status(chain, id).await?))
}
