//! The matcher's host loop: read new requests from the chain, hand their sealed orders to the
//! enclave, send the settlements, deliver the sealed notices.
//!
//! Sealed orders arrive through the store's mailbox (`order`, request id), written by the
//! requester next to the `requestCollateral` calldata that carries the same ciphertext; notices
//! leave through it (`fill`, `"{request id}:{party}"`). Both are HPKE ciphertexts.

use alloy::{
    primitives::{Address, U256},
    sol_types::SolEvent,
};
use shr_chain::{Chain, LogFilter};
use shr_contracts::bindings::CREDarkPool;
use shr_enclave::Sealed;
use shr_store::Store;
use tracing::{info, warn};

use crate::{DarkPool, MakerBody, MatcherEnclave, RequestStatus, Result, seal_maker};

const CURSOR: &str = "matcher/requests";

/// Onboards the maker of `body`: `admin` allow-lists it on `pool`, the maker deposits
/// `inventory` base units of `token` it already holds (public: an ERC-20 transfer), the matcher
/// is credited, and the commitment reaches the matcher sealed to its HPKE key (private).
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
    pool.deposit(chain, maker, token, U256::from(inventory)).await?;
    matcher.credit_deposit(maker, token, inventory)?;
    matcher.add_maker(&seal_maker(&matcher.identity().hpke, body)?)
}

/// The mailbox key of `party`'s fill notice for `request_id`.
pub fn fill_key(request_id: u64, party: Address) -> String {
    format!("{request_id}:{party}")
}

/// One pass: every `CollateralRequested` since the persisted cursor that is still open and has
/// its sealed order in the mailbox is matched at `twap_wad`; a fill is sent from `relayer`, and
/// the enclave's staged table is confirmed only once the chain accepted it. Returns
/// `(request id, status after)` for each request looked at.
///
/// # Errors
/// Chain, contract, store and enclave errors (a refused settlement is aborted, then returned).
pub async fn serve_once(
    matcher: &mut MatcherEnclave,
    chain: &dyn Chain,
    pool: &DarkPool,
    relayer: Address,
    store: &Store,
    twap_wad: u128,
) -> Result<Vec<(u64, RequestStatus)>> {
    let from = store.cursor(CURSOR).await.map_err(crate::Error::Store)?.unwrap_or(0);
    let head = chain.block_number().await?;
    let mut filter =
        LogFilter::event(pool.address, CREDarkPool::CollateralRequested::SIGNATURE_HASH, from);
    filter.to_block = Some(head);
    let mut out = Vec::new();
    for l in chain.logs(&filter).await? {
        let Ok(e) = CREDarkPool::CollateralRequested::decode_log(&l.to_primitive()) else {
            continue;
        };
        let id: u64 = e.requestId.to();
        if pool.status(chain, id).await? != RequestStatus::Pending {
            continue;
        }
        let Some(blob) =
            store.sealed("order", &id.to_string()).await.map_err(crate::Error::Store)?
        else {
            warn!(target: "shr::darkpool", request_id = id, "no sealed order in the mailbox yet");
            continue;
        };
        let now = chain.timestamp().await?;
        let (outcome, settlement) = matcher.settle(id, &Sealed(blob), twap_wad, now)?;
        let Some(s) = settlement else {
            info!(target: "shr::darkpool", request_id = id, "not enough committed liquidity; the request will expire");
            out.push((id, RequestStatus::Pending));
            continue;
        };
        if let Err(err) = pool.fill(chain, relayer, &s).await {
            matcher.abort();
            return Err(err);
        }
        matcher.confirm()?;
        for (party, sealed) in &s.notices {
            store
                .put_sealed("fill", &fill_key(id, *party), sealed.as_bytes())
                .await
                .map_err(crate::Error::Store)?;
        }
        info!(target: "shr::darkpool", request_id = id, fills = outcome.fills.len(), "settled");
        out.push((id, pool.status(chain, id).await?));
    }
    store.set_cursor(CURSOR, head + 1).await.map_err(crate::Error::Store)?;
    Ok(out)
}
