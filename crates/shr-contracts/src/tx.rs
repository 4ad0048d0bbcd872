//! Typed transactions and views over any [`Chain`].

use alloy::{primitives::Address, sol_types::SolCall};
use shr_chain::{Chain, Receipt, TxRequest};

use crate::{Error, Result};

/// Sends `call` to `to` from `from` and returns the receipt.
///
/// # Errors
/// [`Error::Reverted`] with the decoded custom error when the transaction reverts.
pub async fn send<C: SolCall>(
    chain: &dyn Chain,
    from: Address,
    to: Address,
    call: &C,
) -> Result<Receipt> {
    chain
        .send(TxRequest::call(from, to, call.abi_encode()))
        .await
        .map_err(|e| Error::from_chain(C::SIGNATURE, e))
}

/// Calls the view `call` on `to` and decodes its return value.
///
/// # Errors
/// [`Error::Reverted`] when the call reverts, [`Error::Decode`] on malformed return data.
pub async fn view<C: SolCall>(chain: &dyn Chain, to: Address, call: &C) -> Result<C::Return> {
    let out = chain
        .call(None, to, call.abi_encode().into())
        .await
        .map_err(|e| Error::from_chain(C::SIGNATURE, e))?;
    C::abi_decode_returns(&out).map_err(|source| Error::Decode { function: C::SIGNATURE, source })
}
