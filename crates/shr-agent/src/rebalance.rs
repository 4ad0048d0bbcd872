//! Executing a lending-vault rebalancing plan (`shr-risk`) on Morpho Blue, atomically, as the
//! position owner, through `RebalanceAdapter` and Morpho's `onMorphoRepay` callback.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolValue,
};
use shr_chain::{Chain, Receipt};
use shr_contracts::{
    bindings::{Morpho, RebalanceAdapter},
    send, view,
};
use shr_primitives::amm::v2;
use shr_risk::Plan;

use crate::{Result, V2Pool};

/// Where a plan executes.
#[derive(Debug, Clone)]
pub struct RebalanceTarget {
    /// Morpho Blue.
    pub morpho: Address,
    /// The market.
    pub params: Morpho::MarketParams,
    /// Its id.
    pub market_id: B256,
    /// `RebalanceAdapter`.
    pub adapter: Address,
    /// The position owner's key: it sends the transaction and signs the per-call Morpho
    /// authorisation of the adapter and its revocation.
    pub owner: PrivateKeySigner,
    /// Swap path, collateral first, the loan token last.
    pub path: Vec<Address>,
    /// The loan token's decimals (6 for USDC).
    pub debt_decimals: u8,
}

/// What an execution did.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The rebalance transaction.
    pub receipt: Receipt,
    /// Loan token repaid, base units.
    pub repaid: U256,
}

/// Morpho's EIP-712 `Authorization` typehash.
fn authorization_typehash() -> B256 {
    keccak256(
        "Authorization(address authorizer,address authorized,bool isAuthorized,uint256 nonce,uint256 deadline)",
    )
}

/// The owner's signed Morpho `Authorization` of `authorized` (EIP-712 over Morpho's
/// `DOMAIN_SEPARATOR`, as `setAuthorizationWithSig` checks it).
///
/// # Errors
/// Signing errors.
pub fn sign_authorization(
    owner: &PrivateKeySigner,
    domain_separator: B256,
    auth: &Morpho::Authorization,
) -> Result<Morpho::Signature> {
    let hash_struct = keccak256(
        (
            authorization_typehash(),
            auth.authorizer,
            auth.authorized,
            auth.isAuthorized,
            auth.nonce,
            auth.deadline,
        )
            .abi_encode(),
    );
    let digest = keccak256(
        [&[0x19u8, 0x01][..], domain_separator.as_slice(), hash_struct.as_slice()].concat(),
    );
    let sig = owner.sign_hash_sync(&digest).map_err(crate::Error::Sign)?;
    Ok(Morpho::Signature { v: 27 + u8::from(sig.v()), r: sig.r().into(), s: sig.s().into() })
}

/// Sends `rebalance(params, repayAssets, amountInMaximum = plan.sell_collateral_wad, path,
/// deadline, grant, revoke)` from the owner: `plan.repay_debt_wad` (wad) becomes loan base
/// units, capped at the debt; the owner signs the adapter's authorisation (nonce n) and its
/// revocation (nonce n + 1), both expiring at `deadline` (unix seconds).
/// [`crate::encode_plan`] gives the same transaction with its actions and gas estimate for
/// display, [`crate::send_bundle`] sends that.
///
/// # Errors
/// Contract errors; a revert (slippage over `amountInMaximum`, deadline, unhealthy) changes
/// nothing.
pub async fn execute_plan(
    chain: &dyn Chain,
    t: &RebalanceTarget,
    plan: &Plan,
    deadline: u64,
) -> Result<Executed> {
    let (call, repaid) = rebalance_call(chain, t, plan, deadline).await?;
    let receipt = send(chain, t.owner.address(), t.adapter, &call).await?;
    Ok(Executed { receipt, repaid })
}

/// The adapter call that executes `plan` and the loan token it repays (base units):
/// `plan.repay_debt_wad` (wad) becomes loan base units, capped at the debt (Morpho's
/// `toAssetsUp` of the borrow shares); `amountInMaximum = plan.sell_collateral_wad`. The owner
/// signs the adapter's authorisation (nonce n) and its revocation (nonce n + 1), both expiring
/// at `deadline` (unix seconds): the adapter is authorised for that transaction only.
///
/// # Errors
/// Contract reads, signing.
pub(crate) async fn rebalance_call(
    chain: &dyn Chain,
    t: &RebalanceTarget,
    plan: &Plan,
    deadline: u64,
) -> Result<(RebalanceAdapter::rebalanceCall, U256)> {
    let owner = t.owner.address();
    let scale = U256::from(10u64).pow(U256::from(18 - t.debt_decimals as u64));
    let p = view(chain, t.morpho, &Morpho::positionCall { _0: t.market_id, _1: owner }).await?;
    let m = view(chain, t.morpho, &Morpho::marketCall(t.market_id)).await?;
    let debt = (U256::from(p.borrowShares) * (U256::from(m.totalBorrowAssets) + U256::from(1)))
        .div_ceil(U256::from(m.totalBorrowShares) + U256::from(1_000_000u64));
    let repaid = (U256::from(plan.repay_debt_wad) / scale).min(debt);
    let domain = view(chain, t.morpho, &Morpho::DOMAIN_SEPARATORCall {}).await?;
    let nonce = view(chain, t.morpho, &Morpho::nonceCall(owner)).await?;
    let auth = |is_authorized: bool, nonce: U256| Morpho::Authorization {
        authorizer: owner,
        authorized: t.adapter,
        isAuthorized: is_authorized,
        nonce,
        deadline: U256::from(deadline),
    };
    let (grant, revoke) = (auth(true, nonce), auth(false, nonce + U256::from(1)));
    let call = RebalanceAdapter::rebalanceCall {
        marketParams: conv_params(&t.params),
        repayAssets: repaid,
        amountInMaximum: U256::from(plan.sell_collateral_wad),
        path: t.path.clone(),
        deadline: U256::from(deadline),
        grantSig: conv_sig(sign_authorization(&t.owner, domain, &grant)?),
        revokeSig: conv_sig(sign_authorization(&t.owner, domain, &revoke)?),
        grant: conv_auth(&grant),
        revoke: conv_auth(&revoke),
    };
    Ok((call, repaid))
}

fn conv_params(p: &Morpho::MarketParams) -> RebalanceAdapter::MarketParams {
    RebalanceAdapter::MarketParams {
        loanToken: p.loanToken,
        collateralToken: p.collateralToken,
        oracle: p.oracle,
        irm: p.irm,
        lltv: p.lltv,
    }
}

fn conv_auth(a: &Morpho::Authorization) -> RebalanceAdapter::Authorization {
    RebalanceAdapter::Authorization {
        authorizer: a.authorizer,
        authorized: a.authorized,
        isAuthorized: a.isAuthorized,
        nonce: a.nonce,
        deadline: a.deadline,
    }
}

fn conv_sig(s: Morpho::Signature) -> RebalanceAdapter::Signature {
    RebalanceAdapter::Signature { v: s.v, r: s.r, s: s.s }
}

/// Price impact, bps, of selling `amount_in` along `route` (exact input, every hop's
/// `getAmountOut`) against the fee-free marginal price: the `s(x)` the risk plan iterates on.
pub fn sell_impact_bps(amount_in: U256, route: &[V2Pool]) -> u32 {
    let mut out = amount_in;
    let (mut num, mut den) = (U256::from(1), U256::from(1));
    for p in route {
        match v2::get_amount_out(out, p.reserve_in, p.reserve_out) {
            Ok(o) => out = o,
            Err(_) => return 10_000,
        }
        num = num.saturating_mul(p.reserve_out);
        den = den.saturating_mul(p.reserve_in);
    }
    // ideal = amount_in * num / den; impact = 1 - out / ideal.
    let ideal = amount_in.saturating_mul(num) / den.max(U256::from(1));
    if ideal.is_zero() || out >= ideal {
        return 0;
    }
    let bps = (ideal - out) * U256::from(10_000u32) / ideal;
    u32::try_from(bps + U256::from(1)).unwrap_or(10_000)
}
