//! The lending world the rebalance tests and `shr risk execute` run on.

use alloy::primitives::{Address, U256};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{LendingMarket, RebalanceAdapter, ReserveFeed, ShareVault, TestToken},
    deploy::{self, UniswapV2, deploy_with},
    send, view,
};

use crate::{Result, V2Pool};

const E18: u128 = 1_000_000_000_000_000_000;

/// A lending market on a chain: vault A of the reference design (100 wstETH against bUSDC
/// shares at HF 1.40, oracle wstETH $2,730 = ETH $2,600 x 1.05), a lender's liquidity, the
/// Uniswap V2 route wstETH -> WETH -> USDC (the real USDC/WETH reserves of 2022-02-03, a
/// synthetic 10,000 wstETH / 10,500 WETH pair: no recorded wstETH pair ships), and the adapter.
#[derive(Debug)]
pub struct LendingWorld<C> {
    /// The chain.
    pub chain: C,
    /// `LendingMarket` (market 0 is vault A's).
    pub market: Address,
    /// `RebalanceAdapter`.
    pub adapter: Address,
    /// wstETH/USD feed (8 decimals).
    pub feed_wst: Address,
    /// The position owner (`accounts()[2]`).
    pub owner: Address,
    /// The route's pools, collateral first.
    pub route: [V2Pool; 2],
    /// `[wstETH, WETH, USDC]`.
    pub path: Vec<Address>,
}

impl<C: Chain> LendingWorld<C> {
    /// Deploys it on `chain`.
    ///
    /// # Errors
    /// Contract and chain errors.
    pub async fn deploy(chain: C) -> Result<Self> {
        let a = chain.accounts().to_vec();
        let (admin, lender, owner) = (a[0], a[1], a[2]);
        let wst = deploy::test_token(
            &chain,
            admin,
            "Wrapped liquid staked Ether 2.0",
            "wstETH",
            18,
            admin,
        )
        .await?;
        let weth = deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
        let usdc = deploy::test_token(&chain, admin, "USD Coin", "USDC", 6, admin).await?;
        let now = chain.timestamp().await?;
        // Feeds (8 decimals): wstETH $2,730 (ETH $2,600 x 1.05), USDC $1.
        let feed_wst = deploy::reserve_feed(&chain, admin, 8, "wstETH / USD", admin).await?;
        let feed_usdc = deploy::reserve_feed(&chain, admin, 8, "USDC / USD", admin).await?;
        for (f, p) in [(feed_wst, 273_000_000_000i64), (feed_usdc, 100_000_000)] {
            send(
                &chain,
                admin,
                f,
                &ReserveFeed::updateAnswerCall {
                    answer: alloy::primitives::I256::try_from(p).unwrap_or_default(),
                    updatedAt: U256::from(now),
                },
            )
            .await?;
        }
        let busdc = deploy_with(
            &chain,
            admin,
            &ShareVault::BYTECODE,
            &ShareVault::constructorCall {
                asset_: usdc,
                name_: "bUSDC".into(),
                symbol_: "bUSDC".into(),
            },
        )
        .await?;
        let market = deploy_with(
            &chain,
            admin,
            &LendingMarket::BYTECODE,
            &LendingMarket::constructorCall { owner_: admin },
        )
        .await?;
        let m = LendingMarket::Market {
            collateral: wst,
            collateralFeed: feed_wst,
            debtVault: busdc,
            debtFeed: feed_usdc,
            liquidationThresholdBps: 8_500,
        };
        send(&chain, admin, market, &LendingMarket::createMarketCall { m }).await?;
        // Pools: the real USDC/WETH V2 reserves of 2022-02-03; wstETH/WETH at 1.05 with 10,000
        // wstETH of depth (no recorded pair: synthetic, documented).
        let uni = UniswapV2::deploy(&chain, admin).await?;
        let (r_usdc, r_weth) = (107_882_978_172_857u128, 41_492_995_329_546_261_157_873u128);
        uni.seed_pair(
            &chain,
            admin,
            (usdc, U256::from(r_usdc)),
            (weth, U256::from(r_weth)),
            now + 86_400,
        )
        .await?;
        let (r_wst, r_weth2) = (10_000 * E18, 10_500 * E18);
        uni.seed_pair(
            &chain,
            admin,
            (wst, U256::from(r_wst)),
            (weth, U256::from(r_weth2)),
            now + 86_400,
        )
        .await?;
        let route = [
            V2Pool { reserve_in: U256::from(r_wst), reserve_out: U256::from(r_weth2) },
            V2Pool { reserve_in: U256::from(r_weth), reserve_out: U256::from(r_usdc) },
        ];
        // A lender supplies 1,000,000 USDC of bUSDC shares.
        let liq = U256::from(1_000_000_000_000u64);
        send(&chain, admin, usdc, &TestToken::mintCall { to: lender, amount: liq }).await?;
        send(&chain, lender, usdc, &TestToken::approveCall { spender: busdc, value: liq }).await?;
        send(&chain, lender, busdc, &ShareVault::depositCall { assets: liq, receiver: lender })
            .await?;
        send(&chain, lender, busdc, &ShareVault::approveCall { spender: market, value: liq })
            .await?;
        send(
            &chain,
            lender,
            market,
            &LendingMarket::supplyLiquidityCall { id: U256::ZERO, shares: liq },
        )
        .await?;
        // Vault A: 100 wstETH, HF 1.40 -> debt = 100 * 2,730 * 0.85 / 1.40 = 165,750 USDC.
        let coll = U256::from(100 * E18);
        send(&chain, admin, wst, &TestToken::mintCall { to: owner, amount: coll }).await?;
        send(&chain, owner, wst, &TestToken::approveCall { spender: market, value: coll }).await?;
        send(
            &chain,
            owner,
            market,
            &LendingMarket::supplyCollateralCall { id: U256::ZERO, amount: coll, onBehalf: owner },
        )
        .await?;
        send(
            &chain,
            owner,
            market,
            &LendingMarket::borrowCall {
                id: U256::ZERO,
                shares: U256::from(165_750_000_000u64),
                onBehalf: owner,
                receiver: owner,
            },
        )
        .await?;
        let adapter = deploy_with(
            &chain,
            admin,
            &RebalanceAdapter::BYTECODE,
            &RebalanceAdapter::constructorCall { router_: uni.router },
        )
        .await?;
        Ok(Self { chain, market, adapter, feed_wst, owner, route, path: vec![wst, weth, usdc] })
    }

    /// The market's health factor of the owner, wad.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn health_factor(&self) -> Result<U256> {
        let call = LendingMarket::healthFactorCall { id: U256::ZERO, user: self.owner };
        Ok(shr_contracts::view(&self.chain, self.market, &call).await?)
    }

    /// Sets the wstETH oracle price, USD with 8 decimals.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn set_wsteth_price(&self, usd_e8: i64) -> Result<()> {
        let now = self.chain.timestamp().await?;
        let call = ReserveFeed::updateAnswerCall {
            answer: alloy::primitives::I256::try_from(usd_e8).unwrap_or_default(),
            updatedAt: U256::from(now),
        };
        send(&self.chain, self.chain.accounts()[0], self.feed_wst, &call).await?;
        Ok(())
    }

    /// The owner's position as the risk engine sees it: wad amounts (USDC debt scaled by 1e12).
    ///
    /// # Errors
    /// Contract errors.
    pub async fn position(&self) -> Result<shr_risk::Position> {
        let (id, user) = (U256::ZERO, self.owner);
        let m = self.market;
        let debt = view(&self.chain, m, &LendingMarket::debtAssetsOfCall { id, user }).await?;
        let coll =
            view(&self.chain, m, &LendingMarket::collateralOfCall { _0: id, _1: user }).await?;
        Ok(shr_risk::Position {
            collateral_wad: coll.saturating_to(),
            debt_wad: (debt * U256::from(1_000_000_000_000u64)).saturating_to(),
            liquidation_threshold_bps: 8_500,
        })
    }

    /// Plan inputs: the oracle's wstETH price (`usd_e8`, as set on the feed), USDC at $1, and
    /// the route's marginal price for the swap (kept apart from the oracle's).
    pub fn prices(&self, usd_e8: i64) -> shr_risk::Prices {
        shr_risk::Prices {
            collateral_oracle_wad: usd_e8.max(0) as u128 * 10_000_000_000,
            debt_oracle_wad: E18,
            collateral_dex_wad: self.dex_price_wad(),
        }
    }

    /// The rebalancing plan at oracle price `usd_e8`, the slippage iterated against the route's
    /// impact (`None` when HF is above the trigger).
    ///
    /// # Errors
    /// Contract errors; the plan's guards as [`crate::Error::Risk`].
    pub async fn plan(
        &self,
        usd_e8: i64,
        cfg: &shr_risk::PlanConfig,
    ) -> Result<Option<shr_risk::Plan>> {
        let route = self.route;
        let pos = self.position().await?;
        shr_risk::plan(&pos, &self.prices(usd_e8), cfg, |x| {
            crate::sell_impact_bps(U256::from(x), &route)
        })
        .map_err(crate::Error::Risk)
    }

    /// Where [`crate::execute_plan`] sends a plan for this world's vault A.
    pub fn target(&self) -> crate::RebalanceTarget {
        crate::RebalanceTarget {
            market: self.market,
            id: 0,
            adapter: self.adapter,
            owner: self.owner,
            path: self.path.clone(),
            debt_decimals: 6,
        }
    }

    /// The owner authorises the adapter on the market.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn authorize_adapter(&self) -> Result<()> {
        let call = LendingMarket::setAuthorizationCall { operator: self.adapter, allowed: true };
        send(&self.chain, self.owner, self.market, &call).await?;
        Ok(())
    }

    /// The route's marginal price of wstETH in USD, wad (fee-free).
    pub fn dex_price_wad(&self) -> u128 {
        let r = &self.route;
        let v = U256::from(E18) * r[0].reserve_out / r[0].reserve_in
            * r[1].reserve_out
            * U256::from(10u64.pow(12))
            / r[1].reserve_in;
        v.saturating_to()
    }
}
