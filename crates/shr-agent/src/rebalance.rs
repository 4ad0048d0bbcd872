//! Executing a lending-vault rebalancing plan (`shr-risk`) on chain, atomically, as the position
//! owner, through `RebalanceAdapter` and `LendingMarket`, then reading the health factor back.

use alloy::primitives::{Address, U256};
use shr_chain::{Chain, Receipt};
use shr_contracts::{
    bindings::{LendingMarket, RebalanceAdapter, ShareVault},
    send, view,
};
use shr_primitives::amm::v2;
use shr_risk::Plan;

use crate::{Result, V2Pool};

/// Where a plan executes.
#[derive(Debug, Clone)]
pub struct RebalanceTarget {
    /// `LendingMarket`.
    pub market: Address,
    /// Market id.
    pub id: u64,
    /// `RebalanceAdapter` (authorised by the owner on the market).
    pub adapter: Address,
    /// The position owner, who sends the transaction.
    pub owner: Address,
    /// Swap path, collateral first, the debt vault's underlying last.
    pub path: Vec<Address>,
    /// The debt vault's underlying decimals (6 for USDC).
    pub debt_decimals: u8,
}

/// What an execution did.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The rebalance transaction.
    pub receipt: Receipt,
    /// Debt-vault shares repaid.
    pub shares: U256,
    /// The market's `healthFactor` after, wad.
    pub hf_onchain_after: U256,
}

/// Sends `rebalance(market, id, shares, amountInMaximum = plan.sell_collateral_wad, path,
/// deadline)` from the owner: `plan.repay_debt_wad` (wad) becomes underlying base units, then
/// shares (ERC-4626 `previewWithdraw`, rounded up, capped at the debt). Reads HF back.
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
    let id = U256::from(t.id);
    let m = view(chain, t.market, &LendingMarket::marketsCall(id)).await?;
    let scale = U256::from(10u64).pow(U256::from(18 - t.debt_decimals as u64));
    let assets = U256::from(plan.repay_debt_wad) / scale;
    let debt =
        view(chain, t.market, &LendingMarket::debtSharesOfCall { _0: id, _1: t.owner }).await?;
    let shares =
        view(chain, m.debtVault, &ShareVault::previewWithdrawCall { assets }).await?.min(debt);
    let call = RebalanceAdapter::rebalanceCall {
        market: t.market,
        id,
        repayShares: shares,
        amountInMaximum: U256::from(plan.sell_collateral_wad),
        path: t.path.clone(),
        deadline: U256::from(deadline),
    };
    let receipt = send(chain, t.owner, t.adapter, &call).await?;
    let hf_onchain_after =
        view(chain, t.market, &LendingMarket::healthFactorCall { id, user: t.owner }).await?;
    Ok(Executed { receipt, shares, hf_onchain_after })
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
