//! A rebalancing plan as the encoded transaction that executes it: the one call the owner sends
//! (`RebalanceAdapter.rebalance`), the ordered actions it performs inside that transaction (each
//! with its target, value, calldata and a human description), and its gas estimate from the
//! chain (`eth_estimateGas`). What the risk desk shows is what [`send_bundle`] sends.
//!
//! The reference design's plan has four actions (withdraw, exact-output swap, ERC-4626 deposit
//! minting to the repay target, repay). On Morpho Blue the market lends its underlying token
//! itself (USDC, WETH), so no ERC-4626 deposit sits between the swap and the repay; the
//! adapter's authorisation is granted and revoked inside the same transaction, and the
//! collateral the swap did not spend goes back to the position.

use alloy::{
    primitives::{Address, Bytes, U256, utils::format_units},
    sol,
    sol_types::{SolCall, SolValue},
};
use shr_chain::{Chain, TxRequest};
use shr_contracts::{
    bindings::{Morpho, RebalanceAdapter, TestToken, UniswapV2Router02},
    view,
};
use shr_risk::Plan;

use crate::{Executed, RebalanceTarget, Result, rebalance::rebalance_call};

sol! {
    /// `RebalanceAdapter.Job`, as the adapter hands it to Morpho's repay callback.
    struct MarketParamsJob { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }
    /// The adapter's job encoding (`abi.encode(Job(...))`).
    struct Job { address owner; MarketParamsJob marketParams; uint256 amountInMaximum; address[] path; uint256 deadline; }
}

/// One call: where it goes, the wei it carries, its calldata, what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCall {
    /// Short name of the action (`authorize`, `repay`, `withdraw`, `swap`, `resupply`,
    /// `revoke`, or `rebalance` for the transaction itself).
    pub kind: &'static str,
    /// The contract called.
    pub target: Address,
    /// Value, wei.
    pub value: U256,
    /// ABI-encoded calldata.
    pub calldata: Bytes,
    /// What it does, amounts in whole tokens.
    pub description: String,
}

/// A plan encoded for the chain: a bundler-compatible object (Morpho Bundler3's `Call {to,
/// data, value}` shape) with one transaction and the actions it performs, in order.
#[derive(Debug, Clone)]
pub struct RebalanceBundle {
    /// The chain it was encoded for.
    pub chain_id: u64,
    /// The sender: the position owner.
    pub from: Address,
    /// The transaction [`send_bundle`] sends (to the adapter).
    pub transaction: BundleCall,
    /// What the transaction does, in execution order (issued by the adapter or by Morpho's
    /// callback, all inside the one transaction).
    pub actions: Vec<BundleCall>,
    /// The gas limit the chain's `eth_estimateGas` gives the transaction.
    pub gas_estimate: u64,
    /// Loan token repaid, base units.
    pub repay_assets: U256,
    /// Collateral the swap may spend at most (`amountInMaximum`), base units.
    pub amount_in_maximum: U256,
    /// Collateral the swap spends at the route's reserves now (Uniswap V2 `getAmountsIn`).
    pub expected_amount_in: U256,
    /// The transaction's deadline, unix seconds.
    pub deadline: u64,
    /// The Morpho authorisation nonce its grant signs (the owner's `nonce` when encoded; the
    /// transaction reverts once the owner's nonce has moved on).
    pub auth_nonce: U256,
}

async fn token(chain: &dyn Chain, t: Address) -> Result<(String, u8)> {
    Ok((
        view(chain, t, &TestToken::symbolCall {}).await?,
        view(chain, t, &TestToken::decimalsCall {}).await?,
    ))
}

fn whole(amount: U256, decimals: u8) -> String {
    let s = format_units(amount, decimals).unwrap_or_else(|_| amount.to_string());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".into() } else { s.to_owned() }
}

/// Encodes `plan` for vault `t`: signs the owner's one-transaction authorisation (nonces from
/// Morpho), reads the route's `getAmountsIn` for the expected spend, and asks the chain for the
/// gas estimate of exactly the transaction returned.
///
/// # Errors
/// Contract and signing errors; [`crate::Error::Contract`] with the decoded revert when the
/// transaction would fail now (the estimate runs it against the latest state).
pub async fn encode_plan(
    chain: &dyn Chain,
    t: &RebalanceTarget,
    plan: &Plan,
    deadline: u64,
) -> Result<RebalanceBundle> {
    let (call, repaid) = rebalance_call(chain, t, plan, deadline).await?;
    let owner = t.owner.address();
    let router = view(chain, t.adapter, &RebalanceAdapter::ROUTERCall {}).await?;
    let expected_in = view(
        chain,
        router,
        &UniswapV2Router02::getAmountsInCall { amountOut: repaid, path: t.path.clone() },
    )
    .await?
    .first()
    .copied()
    .unwrap_or_default();
    let mut syms = Vec::with_capacity(t.path.len());
    for a in &t.path {
        syms.push(token(chain, *a).await?);
    }
    let ((coll, cd), (loan, ld)) = (syms[0].clone(), syms[syms.len() - 1].clone());
    let route = syms.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(" -> ");
    let params = t.params.clone();
    let job = Job {
        owner,
        marketParams: MarketParamsJob {
            loanToken: params.loanToken,
            collateralToken: params.collateralToken,
            oracle: params.oracle,
            irm: params.irm,
            lltv: params.lltv,
        },
        amountInMaximum: call.amountInMaximum,
        path: t.path.clone(),
        deadline: U256::from(deadline),
    };
    let auth = |a: &RebalanceAdapter::Authorization| Morpho::Authorization {
        authorizer: a.authorizer,
        authorized: a.authorized,
        isAuthorized: a.isAuthorized,
        nonce: a.nonce,
        deadline: a.deadline,
    };
    let sig = |s: &RebalanceAdapter::Signature| Morpho::Signature { v: s.v, r: s.r, s: s.s };
    let morpho = |kind, calldata: Vec<u8>, description: String| BundleCall {
        kind,
        target: t.morpho,
        value: U256::ZERO,
        calldata: calldata.into(),
        description,
    };
    let left = call.amountInMaximum.saturating_sub(expected_in);
    let market = t.market_id;
    let actions = vec![
        morpho(
            "authorize",
            Morpho::setAuthorizationWithSigCall {
                authorization: auth(&call.grant),
                signature: sig(&call.grantSig),
            }
            .abi_encode(),
            format!(
                "authorise the adapter {} on Morpho Blue for this transaction (the owner's signed Authorization, nonce {})",
                t.adapter, call.grant.nonce
            ),
        ),
        morpho(
            "repay",
            Morpho::repayCall {
                marketParams: params.clone(),
                assets: repaid,
                shares: U256::ZERO,
                onBehalf: owner,
                data: job.abi_encode().into(),
            }
            .abi_encode(),
            format!(
                "repay {} {loan} of the owner's debt in market {market}; Morpho calls the adapter back (onMorphoRepay) before it pulls the {loan}",
                whole(repaid, ld)
            ),
        ),
        morpho(
            "withdraw",
            Morpho::withdrawCollateralCall {
                marketParams: params.clone(),
                assets: call.amountInMaximum,
                onBehalf: owner,
                receiver: t.adapter,
            }
            .abi_encode(),
            format!(
                "withdraw {} {coll} of collateral (amountInMaximum) to the adapter",
                whole(call.amountInMaximum, cd)
            ),
        ),
        BundleCall {
            kind: "swap",
            target: router,
            value: U256::ZERO,
            calldata: UniswapV2Router02::swapTokensForExactTokensCall {
                amountOut: repaid,
                amountInMax: call.amountInMaximum,
                path: t.path.clone(),
                to: t.adapter,
                deadline: U256::from(deadline),
            }
            .abi_encode()
            .into(),
            description: format!(
                "exact-output swap on Uniswap V2 ({route}): {} {loan} out for at most {} {coll} in (amountInMaximum; {} {coll} at the reserves now)",
                whole(repaid, ld),
                whole(call.amountInMaximum, cd),
                whole(expected_in, cd)
            ),
        },
        morpho(
            "resupply",
            Morpho::supplyCollateralCall {
                marketParams: params.clone(),
                assets: left,
                onBehalf: owner,
                data: Bytes::new(),
            }
            .abi_encode(),
            format!(
                "supply the collateral the swap did not spend back to the position ({} {coll} at the reserves now)",
                whole(left, cd)
            ),
        ),
        morpho(
            "revoke",
            Morpho::setAuthorizationWithSigCall {
                authorization: auth(&call.revoke),
                signature: sig(&call.revokeSig),
            }
            .abi_encode(),
            format!(
                "revoke the adapter's authorisation (the owner's signed Authorization, nonce {})",
                call.revoke.nonce
            ),
        ),
    ];
    let calldata: Bytes = call.abi_encode().into();
    let gas_estimate =
        chain.estimate_gas(TxRequest::call(owner, t.adapter, calldata.clone())).await.map_err(
            |e| shr_contracts::Error::from_chain(RebalanceAdapter::rebalanceCall::SIGNATURE, e),
        )?;
    Ok(RebalanceBundle {
        chain_id: chain.chain_id().await?,
        from: owner,
        transaction: BundleCall {
            kind: "rebalance",
            target: t.adapter,
            value: U256::ZERO,
            calldata,
            description: format!(
                "one atomic transaction from the owner: repay {} {loan} by selling at most {} {coll}, before {deadline} (unix seconds)",
                whole(repaid, ld),
                whole(call.amountInMaximum, cd)
            ),
        },
        actions,
        gas_estimate,
        repay_assets: repaid,
        amount_in_maximum: call.amountInMaximum,
        expected_amount_in: expected_in,
        deadline,
        auth_nonce: call.grant.nonce,
    })
}

/// Sends exactly `bundle.transaction` from `bundle.from` with the estimated gas limit.
///
/// # Errors
/// [`crate::Error::Contract`] with the decoded revert: one (deadline passed, an authorisation nonce already spent, a
/// swap over `amountInMaximum`) changes nothing.
pub async fn send_bundle(chain: &dyn Chain, bundle: &RebalanceBundle) -> Result<Executed> {
    let tx = &bundle.transaction;
    let req = TxRequest {
        from: bundle.from,
        to: Some(tx.target),
        data: tx.calldata.clone(),
        value: tx.value,
        gas_limit: Some(bundle.gas_estimate),
    };
    let receipt = chain.send(req).await.map_err(|e| {
        shr_contracts::Error::from_chain(RebalanceAdapter::rebalanceCall::SIGNATURE, e)
    })?;
    Ok(Executed { receipt, repaid: bundle.repay_assets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_amounts_drop_trailing_zeros() {
        assert_eq!(whole(U256::from(1_500_000u64), 6), "1.5");
        assert_eq!(whole(U256::from(2_000_000u64), 6), "2");
        assert_eq!(whole(U256::ZERO, 18), "0");
        assert_eq!(whole(U256::from(1u64), 18), "0.000000000000000001");
    }
}
