//! Executing the direct swap on chain.

use alloy::primitives::{Address, U256};
use shr_chain::{Chain, Receipt};
use shr_contracts::{
    bindings::{TestToken, UniswapV2Router02},
    send, view,
};
use tracing::info;

use crate::{Error, Result, SwapPlan};

/// What a direct swap did.
#[derive(Debug, Clone)]
pub struct SwapOutcome {
    /// The approval's receipt (`None` when the allowance sufficed).
    pub approve: Option<Receipt>,
    /// The swap's receipt.
    pub swap: Receipt,
    /// Input actually paid, base units.
    pub amount_in: U256,
}

/// Buys exactly `plan.amount_out` of `path.last()` with `path[0]` from `treasury` through the
/// real Uniswap V2 Router02 (`swapTokensForExactTokens`, `amountInMax`, deadline
/// `deadline` unix s), sending the collateral to `vault`.
///
/// # Errors
/// [`Error::InsufficientTreasury`] before sending anything when the treasury cannot pay
/// `amount_in_max`; [`Error::Contract`] with the router's decoded revert (e.g.
/// `UniswapV2Router: EXCESSIVE_INPUT_AMOUNT` on slippage, `UniswapV2Router: EXPIRED` past the
/// deadline), after which nothing was paid.
pub async fn execute_swap(
    chain: &dyn Chain,
    treasury: Address,
    router: Address,
    path: Vec<Address>,
    plan: &SwapPlan,
    vault: Address,
    deadline: u64,
) -> Result<SwapOutcome> {
    let pay = path[0];
    let have = view(chain, pay, &TestToken::balanceOfCall { account: treasury }).await?;
    if have < plan.amount_in_max {
        return Err(Error::InsufficientTreasury { have, need: plan.amount_in_max });
    }
    let allowance =
        view(chain, pay, &TestToken::allowanceCall { owner: treasury, spender: router }).await?;
    let approve = if allowance < plan.amount_in_max {
        Some(
            send(
                chain,
                treasury,
                pay,
                &TestToken::approveCall { spender: router, value: plan.amount_in_max },
            )
            .await?,
        )
    } else {
        None
    };
    let call = UniswapV2Router02::swapTokensForExactTokensCall {
        amountOut: plan.amount_out,
        amountInMax: plan.amount_in_max,
        path,
        to: vault,
        deadline: U256::from(deadline),
    };
    let swap = send(chain, treasury, router, &call).await?;
    let after = view(chain, pay, &TestToken::balanceOfCall { account: treasury }).await?;
    let amount_in = have - after;
    info!(target: "shr::agent", tx = %swap.tx_hash, gas = swap.gas_used, "direct swap executed");
    Ok(SwapOutcome { approve, swap, amount_in })
}
