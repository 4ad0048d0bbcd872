//! The lending world the rebalance tests, `shr risk execute` and the demo's vault desk run on.

use alloy::primitives::{Address, I256, U256};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{LendingMarket, RebalanceAdapter, ReserveFeed, ShareVault, TestToken},
    deploy::{self, UniswapV2, deploy_with},
    send, view,
};

use crate::{Result, V2Pool};

const E18: u128 = 1_000_000_000_000_000_000;

/// One market of the world (a vault of the reference design).
#[derive(Debug, Clone)]
pub struct LendingVault {
    /// Market id in `LendingMarket`.
    pub id: u64,
    /// `A` or `B`.
    pub name: &'static str,
    /// Collateral symbol (`wstETH`, `weETH`).
    pub collateral: &'static str,
    /// Debt share symbol (`bUSDC`, `bETH`).
    pub debt: &'static str,
    /// Collateral/USD feed (8 decimals).
    pub collateral_feed: Address,
    /// Debt-asset/USD feed (8 decimals).
    pub debt_feed: Address,
    /// Liquidation threshold, bps.
    pub liquidation_threshold_bps: u32,
    /// Decimals of the debt asset (USDC 6, WETH 18).
    pub debt_decimals: u8,
    /// The swap route's pools, collateral first.
    pub route: Vec<V2Pool>,
    /// The route's token path, collateral first, debt asset last.
    pub path: Vec<Address>,
}

/// A lending market on a chain with the reference design's two vaults, both owned by
/// `accounts()[2]` at HF 1.40:
/// - vault A (market 0): 100 wstETH against bUSDC shares (ERC-4626 over USDC), LT 85 %, oracle
///   wstETH $2,730 (ETH $2,600 x 1.05); route wstETH -> WETH -> USDC on Uniswap V2 (the real
///   USDC/WETH reserves of 2022-02-03 and a synthetic 10,000 wstETH / 10,500 WETH pair);
/// - vault B (market 1): 100 weETH against bETH shares (ERC-4626 over WETH), LT 93 % (the
///   ETH-correlated mode), oracle weETH $2,704 (ETH x 1.04); route weETH -> WETH on a
///   synthetic 10,000 weETH / 10,400 WETH pair.
///
/// No recorded wstETH or weETH pair ships in `data/`: those two pools are synthetic and say so.
#[derive(Debug)]
pub struct LendingWorld<C> {
    /// The chain.
    pub chain: C,
    /// `LendingMarket`.
    pub market: Address,
    /// `RebalanceAdapter`.
    pub adapter: Address,
    /// The position owner (`accounts()[2]`).
    pub owner: Address,
    /// The vaults, by market id.
    pub vaults: Vec<LendingVault>,
}

async fn feed<C: Chain>(chain: &C, admin: Address, desc: &str, usd_e8: i64) -> Result<Address> {
    let f = deploy::reserve_feed(chain, admin, 8, desc, admin).await?;
    let now = chain.timestamp().await?;
    let call = ReserveFeed::updateAnswerCall {
        answer: I256::try_from(usd_e8).unwrap_or_default(),
        updatedAt: U256::from(now),
    };
    send(chain, admin, f, &call).await?;
    Ok(f)
}

/// A lender's liquidity: `amount` of `asset` deposited into the ERC-4626 `vault`, its shares
/// supplied to market `id`.
async fn supply_liquidity<C: Chain>(
    chain: &C,
    (admin, lender): (Address, Address),
    (asset, vault, market, id): (Address, Address, Address, u64),
    amount: U256,
) -> Result<()> {
    send(chain, admin, asset, &TestToken::mintCall { to: lender, amount }).await?;
    send(chain, lender, asset, &TestToken::approveCall { spender: vault, value: amount }).await?;
    send(chain, lender, vault, &ShareVault::depositCall { assets: amount, receiver: lender })
        .await?;
    send(chain, lender, vault, &ShareVault::approveCall { spender: market, value: amount }).await?;
    let call = LendingMarket::supplyLiquidityCall { id: U256::from(id), shares: amount };
    send(chain, lender, market, &call).await?;
    Ok(())
}

impl<C: Chain> LendingWorld<C> {
    /// Deploys it on `chain`.
    ///
    /// # Errors
    /// Contract and chain errors.
    pub async fn deploy(chain: C) -> Result<Self> {
        let a = chain.accounts().to_vec();
        let (admin, lender, owner) = (a[0], a[1], a[2]);
        let c = &chain;
        let wst =
            deploy::test_token(c, admin, "Wrapped liquid staked Ether 2.0", "wstETH", 18, admin)
                .await?;
        let we = deploy::test_token(c, admin, "Wrapped eETH", "weETH", 18, admin).await?;
        let weth = deploy::test_token(c, admin, "Wrapped Ether", "WETH", 18, admin).await?;
        let usdc = deploy::test_token(c, admin, "USD Coin", "USDC", 6, admin).await?;
        let now = chain.timestamp().await?;
        let (p_wst, p_we, p_usdc, p_weth) =
            (273_000_000_000i64, 270_400_000_000, 100_000_000, 260_000_000_000);
        let feed_wst = feed(c, admin, "wstETH / USD", p_wst).await?;
        let feed_we = feed(c, admin, "weETH / USD", p_we).await?;
        let feed_usdc = feed(c, admin, "USDC / USD", p_usdc).await?;
        let feed_weth = feed(c, admin, "WETH / USD", p_weth).await?;
        let share = |asset: Address, sym: &str| ShareVault::constructorCall {
            asset_: asset,
            name_: sym.into(),
            symbol_: sym.into(),
        };
        let busdc = deploy_with(c, admin, &ShareVault::BYTECODE, &share(usdc, "bUSDC")).await?;
        let beth = deploy_with(c, admin, &ShareVault::BYTECODE, &share(weth, "bETH")).await?;
        let market = deploy_with(
            c,
            admin,
            &LendingMarket::BYTECODE,
            &LendingMarket::constructorCall { owner_: admin },
        )
        .await?;
        for (collateral, cf, debt_vault, df, lt) in
            [(wst, feed_wst, busdc, feed_usdc, 8_500u16), (we, feed_we, beth, feed_weth, 9_300)]
        {
            let m = LendingMarket::Market {
                collateral,
                collateralFeed: cf,
                debtVault: debt_vault,
                debtFeed: df,
                liquidationThresholdBps: lt,
            };
            send(c, admin, market, &LendingMarket::createMarketCall { m }).await?;
        }
        let uni = UniswapV2::deploy(c, admin).await?;
        let (r_usdc, r_weth) = (107_882_978_172_857u128, 41_492_995_329_546_261_157_873u128);
        let pools = [
            ((usdc, r_usdc), (weth, r_weth)),
            ((wst, 10_000 * E18), (weth, 10_500 * E18)),
            ((we, 10_000 * E18), (weth, 10_400 * E18)),
        ];
        for ((t0, r0), (t1, r1)) in pools {
            uni.seed_pair(c, admin, (t0, U256::from(r0)), (t1, U256::from(r1)), now + 86_400)
                .await?;
        }
        let pool = |r_in: u128, r_out: u128| V2Pool {
            reserve_in: U256::from(r_in),
            reserve_out: U256::from(r_out),
        };
        // Lenders: 1,000,000 USDC of bUSDC in market 0, 2,000 WETH of bETH in market 1.
        supply_liquidity(
            c,
            (admin, lender),
            (usdc, busdc, market, 0),
            U256::from(1_000_000_000_000u64),
        )
        .await?;
        supply_liquidity(c, (admin, lender), (weth, beth, market, 1), U256::from(2_000 * E18))
            .await?;
        // Both vaults at HF 1.40: debt = C x Pc x LT / (1.40 x Pd).
        for (id, token, pc, lt, pd, debt_unit) in [
            (0u64, wst, p_wst, 8_500u128, p_usdc, 1_000_000u128),
            (1, we, p_we, 9_300, p_weth, E18),
        ] {
            let coll = U256::from(100 * E18);
            send(c, admin, token, &TestToken::mintCall { to: owner, amount: coll }).await?;
            send(c, owner, token, &TestToken::approveCall { spender: market, value: coll }).await?;
            let call = LendingMarket::supplyCollateralCall {
                id: U256::from(id),
                amount: coll,
                onBehalf: owner,
            };
            send(c, owner, market, &call).await?;
            let debt = U256::from(100 * pc as u128 * lt) * U256::from(debt_unit)
                / U256::from(14_000 * pd as u128);
            let call = LendingMarket::borrowCall {
                id: U256::from(id),
                shares: debt,
                onBehalf: owner,
                receiver: owner,
            };
            send(c, owner, market, &call).await?;
        }
        let adapter = deploy_with(
            c,
            admin,
            &RebalanceAdapter::BYTECODE,
            &RebalanceAdapter::constructorCall { router_: uni.router },
        )
        .await?;
        let vaults = vec![
            LendingVault {
                id: 0,
                name: "A",
                collateral: "wstETH",
                debt: "bUSDC",
                collateral_feed: feed_wst,
                debt_feed: feed_usdc,
                liquidation_threshold_bps: 8_500,
                debt_decimals: 6,
                route: vec![pool(10_000 * E18, 10_500 * E18), pool(r_weth, r_usdc)],
                path: vec![wst, weth, usdc],
            },
            LendingVault {
                id: 1,
                name: "B",
                collateral: "weETH",
                debt: "bETH",
                collateral_feed: feed_we,
                debt_feed: feed_weth,
                liquidation_threshold_bps: 9_300,
                debt_decimals: 18,
                route: vec![pool(10_000 * E18, 10_400 * E18)],
                path: vec![we, weth],
            },
        ];
        Ok(Self { chain, market, adapter, owner, vaults })
    }

    fn vault(&self, id: usize) -> Result<&LendingVault> {
        self.vaults.get(id).ok_or(crate::Error::UnknownVault { id, count: self.vaults.len() })
    }

    /// Vault `id`'s health factor as `LendingMarket` computes it, wad.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn health_factor(&self, id: usize) -> Result<U256> {
        self.vault(id)?;
        let call = LendingMarket::healthFactorCall { id: U256::from(id), user: self.owner };
        Ok(view(&self.chain, self.market, &call).await?)
    }

    /// Sets an oracle feed's answer, USD with 8 decimals (the admin is its updater).
    ///
    /// # Errors
    /// Contract errors.
    pub async fn set_price(&self, feed: Address, usd_e8: i64) -> Result<()> {
        let now = self.chain.timestamp().await?;
        let call = ReserveFeed::updateAnswerCall {
            answer: I256::try_from(usd_e8).unwrap_or_default(),
            updatedAt: U256::from(now),
        };
        send(&self.chain, self.chain.accounts()[0], feed, &call).await?;
        Ok(())
    }

    /// Sets vault A's wstETH oracle price, USD with 8 decimals.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn set_wsteth_price(&self, usd_e8: i64) -> Result<()> {
        self.set_price(self.vaults[0].collateral_feed, usd_e8).await
    }

    /// A feed's latest answer, USD with 8 decimals.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn price_e8(&self, feed: Address) -> Result<i64> {
        let r = view(&self.chain, feed, &ReserveFeed::latestRoundDataCall {}).await?;
        Ok(r._1.try_into().unwrap_or(0))
    }

    /// Vault `id`'s position as the risk engine sees it: wad amounts (a 6-decimal debt scaled up).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn position(&self, id: usize) -> Result<shr_risk::Position> {
        let v = self.vault(id)?;
        let (mid, user) = (U256::from(id), self.owner);
        let m = self.market;
        let debt = view(&self.chain, m, &LendingMarket::debtAssetsOfCall { id: mid, user }).await?;
        let coll =
            view(&self.chain, m, &LendingMarket::collateralOfCall { _0: mid, _1: user }).await?;
        let scale = U256::from(10u64).pow(U256::from(18 - u64::from(v.debt_decimals)));
        Ok(shr_risk::Position {
            collateral_wad: coll.saturating_to(),
            debt_wad: (debt * scale).saturating_to(),
            liquidation_threshold_bps: v.liquidation_threshold_bps,
        })
    }

    /// Plan inputs of vault `id`, read from chain: both oracle prices, and the route's marginal
    /// price for the swap in USD (kept apart from the oracle's: a depeg hits the swap, not the
    /// oracle).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn prices(&self, id: usize) -> Result<shr_risk::Prices> {
        let v = self.vault(id)?;
        let e8_to_wad = |p: i64| p.max(0) as u128 * 10_000_000_000;
        let debt_oracle_wad = e8_to_wad(self.price_e8(v.debt_feed).await?);
        Ok(shr_risk::Prices {
            collateral_oracle_wad: e8_to_wad(self.price_e8(v.collateral_feed).await?),
            debt_oracle_wad,
            collateral_dex_wad: (U256::from(self.dex_price_wad(id)?) * U256::from(debt_oracle_wad)
                / U256::from(E18))
            .saturating_to(),
        })
    }

    /// The rebalancing plan of vault `id` at the chain's current prices, the slippage iterated
    /// against the route's impact (`None` when the HF is above the trigger).
    ///
    /// # Errors
    /// Contract errors; the plan's guards as [`crate::Error::Risk`].
    pub async fn plan(
        &self,
        id: usize,
        cfg: &shr_risk::PlanConfig,
    ) -> Result<Option<shr_risk::Plan>> {
        let route = self.vault(id)?.route.clone();
        let pos = self.position(id).await?;
        let prices = self.prices(id).await?;
        shr_risk::plan(&pos, &prices, cfg, |x| crate::sell_impact_bps(U256::from(x), &route))
            .map_err(crate::Error::Risk)
    }

    /// Where [`crate::execute_plan`] sends a plan for vault `id`.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`].
    pub fn target(&self, id: usize) -> Result<crate::RebalanceTarget> {
        let v = self.vault(id)?;
        Ok(crate::RebalanceTarget {
            market: self.market,
            id: v.id,
            adapter: self.adapter,
            owner: self.owner,
            path: v.path.clone(),
            debt_decimals: v.debt_decimals,
        })
    }

    /// The owner authorises the adapter on the market (all its vaults).
    ///
    /// # Errors
    /// Contract errors.
    pub async fn authorize_adapter(&self) -> Result<()> {
        let call = LendingMarket::setAuthorizationCall { operator: self.adapter, allowed: true };
        send(&self.chain, self.owner, self.market, &call).await?;
        Ok(())
    }

    /// The route's fee-free marginal price of vault `id`'s collateral in its debt asset, wad.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`].
    pub fn dex_price_wad(&self, id: usize) -> Result<u128> {
        let v = self.vault(id)?;
        let mut p = U256::from(E18);
        for hop in &v.route {
            p = p * hop.reserve_out / hop.reserve_in;
        }
        p *= U256::from(10u64).pow(U256::from(18 - u64::from(v.debt_decimals)));
        Ok(p.saturating_to())
    }
}
