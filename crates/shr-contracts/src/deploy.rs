//! Deploy helpers: creation code plus ABI-encoded constructor arguments, on any [`Chain`].

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::SolConstructor,
};
use shr_chain::Chain;

use crate::{
    Error, Result,
    bindings::{
        KeystoneForwarder, ReserveAttestation, ReserveFeed, ReserveVault, TestToken,
        UniswapV2Factory, UniswapV2Router02, WETH9,
    },
};

/// Deploys `bytecode` with `args` appended, from `from`.
///
/// # Errors
/// [`Error::Reverted`] when the constructor reverts.
pub async fn deploy_with<A: SolConstructor>(
    chain: &dyn Chain,
    from: Address,
    bytecode: &Bytes,
    args: &A,
) -> Result<Address> {
    let mut code = bytecode.to_vec();
    code.extend_from_slice(&args.abi_encode());
    chain
        .deploy(from, code.into())
        .await
        .map(|(a, _)| a)
        .map_err(|e| Error::from_chain("constructor", e))
}

/// Deploys a [`TestToken`]: an OpenZeppelin ERC-20 with `decimals` and `admin` as minter.
pub async fn test_token(
    chain: &dyn Chain,
    from: Address,
    name: &str,
    symbol: &str,
    decimals: u8,
    admin: Address,
) -> Result<Address> {
    let args = TestToken::constructorCall {
        name_: name.into(),
        symbol_: symbol.into(),
        decimals_: decimals,
        admin,
    };
    deploy_with(chain, from, &TestToken::BYTECODE, &args).await
}

/// Deploys a [`ReserveFeed`] (`AggregatorV3Interface`) with `decimals`; `admin` may push rounds.
pub async fn reserve_feed(
    chain: &dyn Chain,
    from: Address,
    decimals: u8,
    description: &str,
    admin: Address,
) -> Result<Address> {
    let args = ReserveFeed::constructorCall {
        decimals_: decimals,
        description_: description.into(),
        admin,
    };
    deploy_with(chain, from, &ReserveFeed::BYTECODE, &args).await
}

/// Deploys Chainlink's real `KeystoneForwarder`; `from` becomes its owner.
pub async fn keystone_forwarder(chain: &dyn Chain, from: Address) -> Result<Address> {
    deploy_code(chain, from, &KeystoneForwarder::BYTECODE).await
}

/// Deploys `bytecode` whose constructor takes no arguments.
pub async fn deploy_code(chain: &dyn Chain, from: Address, bytecode: &Bytes) -> Result<Address> {
    chain
        .deploy(from, bytecode.clone())
        .await
        .map(|(a, _)| a)
        .map_err(|e| Error::from_chain("constructor", e))
}

/// The Uniswap V2 deployment: WETH9, factory and Router02.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniswapV2 {
    /// WETH9.
    pub weth: Address,
    /// `UniswapV2Factory`.
    pub factory: Address,
    /// `UniswapV2Router02`.
    pub router: Address,
}

impl UniswapV2 {
    /// Creates and seeds the pair of two [`TestToken`]s: mints `amount_a` and `amount_b` (base
    /// units) to `admin` (their minter), approves the router and adds the liquidity. Returns the
    /// pair's address.
    ///
    /// # Errors
    /// Contract errors (e.g. `admin` is not the tokens' minter).
    pub async fn seed_pair(
        &self,
        chain: &dyn Chain,
        admin: Address,
        (token_a, amount_a): (Address, alloy::primitives::U256),
        (token_b, amount_b): (Address, alloy::primitives::U256),
        deadline: u64,
    ) -> Result<Address> {
        use alloy::primitives::U256;
        for (t, a) in [(token_a, amount_a), (token_b, amount_b)] {
            crate::send(chain, admin, t, &TestToken::mintCall { to: admin, amount: a }).await?;
            crate::send(
                chain,
                admin,
                t,
                &TestToken::approveCall { spender: self.router, value: U256::MAX },
            )
            .await?;
        }
        let add = UniswapV2Router02::addLiquidityCall {
            tokenA: token_a,
            tokenB: token_b,
            amountADesired: amount_a,
            amountBDesired: amount_b,
            amountAMin: U256::ZERO,
            amountBMin: U256::ZERO,
            to: admin,
            deadline: U256::from(deadline),
        };
        crate::send(chain, admin, self.router, &add).await?;
        crate::view(
            chain,
            self.factory,
            &UniswapV2Factory::getPairCall { _0: token_a, _1: token_b },
        )
        .await
    }

    /// Deploys WETH9, the factory (`feeToSetter = from`) and Router02 from their npm bytecode.
    pub async fn deploy(chain: &dyn Chain, from: Address) -> Result<Self> {
        let weth = deploy_code(chain, from, &WETH9::BYTECODE).await?;
        let factory = deploy_with(
            chain,
            from,
            &UniswapV2Factory::BYTECODE,
            &UniswapV2Factory::constructorCall { _feeToSetter: from },
        )
        .await?;
        let router = deploy_with(
            chain,
            from,
            &UniswapV2Router02::BYTECODE,
            &UniswapV2Router02::constructorCall { _factory: factory, _WETH: weth },
        )
        .await?;
        Ok(Self { weth, factory, router })
    }
}

/// The receiver's default freshness: `(heartbeat, grace)`, seconds (Chainlink PoR feeds' usual
/// 24 h heartbeat, one hour of grace).
pub const DEFAULT_FRESHNESS: (u64, u64) = (86_400, 3_600);

/// Deploys a `ReserveAttestation` receiver accepting reports only from `forwarder` for
/// `workflow_owner` and `workflow_id`, with [`DEFAULT_FRESHNESS`].
pub async fn reserve_attestation(
    chain: &dyn Chain,
    from: Address,
    forwarder: Address,
    workflow_owner: Address,
    workflow_id: alloy::primitives::B256,
) -> Result<Address> {
    let (heartbeat, grace) = DEFAULT_FRESHNESS;
    let args = ReserveAttestation::constructorCall {
        forwarder_: forwarder,
        workflowOwner_: workflow_owner,
        workflowId_: workflow_id,
        heartbeat_: U256::from(heartbeat),
        grace_: U256::from(grace),
    };
    deploy_with(chain, from, &ReserveAttestation::BYTECODE, &args).await
}

/// Deploys a `ReserveVault` holding `asset`; `admin` is its custodian.
pub async fn reserve_vault(
    chain: &dyn Chain,
    from: Address,
    asset: Address,
    admin: Address,
) -> Result<Address> {
    deploy_with(
        chain,
        from,
        &ReserveVault::BYTECODE,
        &ReserveVault::constructorCall { asset_: asset, admin },
    )
    .await
}
