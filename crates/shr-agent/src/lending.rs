//! The lending world the rebalance tests, `shr risk execute` and the demo's vault desk run on:
//! the real Morpho Blue (built from `@morpho-org/morpho-blue` 1.0.0 with its own compiler and
//! settings), two isolated markets, `FeedPairOracle` over Chainlink-style feeds, and
//! `RebalanceAdapter` acting through Morpho's `onMorphoRepay` callback.

use alloy::{
    primitives::{Address, B256, I256, U256, keccak256},
    sol_types::SolValue,
};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{FeedPairOracle, Morpho, RebalanceAdapter, ReserveFeed, TestToken, UniswapV2Pair},
    deploy::{self, UniswapV2, deploy_with},
    send, view,
};

use crate::{Result, V2Pool};

const E18: u128 = 1_000_000_000_000_000_000;
/// Morpho's `ORACLE_PRICE_SCALE`.
const ORACLE_PRICE_SCALE: u128 = 1_000_000_000_000_000_000_000_000_000_000_000_000;
/// The oldest feed answer the markets' oracles accept, seconds (a day's heartbeat plus an hour).
pub const ORACLE_MAX_STALENESS_SECS: u64 = 90_000;

/// One market of the world (a vault of the reference design).
#[derive(Debug, Clone)]
pub struct LendingVault {
    /// Index in [`LendingWorld::vaults`].
    pub id: u64,
    /// `A` or `B`.
    pub name: &'static str,
    /// Collateral symbol (`wstETH`, `weETH`).
    pub collateral: &'static str,
    /// Loan token symbol (`USDC`, `WETH`).
    pub debt: &'static str,
    /// Collateral/USD feed (8 decimals).
    pub collateral_feed: Address,
    /// Debt-asset/USD feed (8 decimals).
    pub debt_feed: Address,
    /// The market's `FeedPairOracle`.
    pub oracle: Address,
    /// Morpho market parameters.
    pub params: Morpho::MarketParams,
    /// Morpho market id (`keccak256(abi.encode(params))`).
    pub market_id: B256,
    /// Liquidation threshold (Morpho's LLTV), bps.
    pub liquidation_threshold_bps: u32,
    /// Decimals of the loan token (USDC 6, WETH 18).
    pub debt_decimals: u8,
    /// The swap route's Uniswap V2 pairs, collateral first: `(pair, token in)`.
    pub route: Vec<(Address, Address)>,
    /// The route's token path, collateral first, loan token last.
    pub path: Vec<Address>,
}

/// Morpho Blue with the reference design's two vaults, both owned by `accounts()[2]` at HF
/// 1.40:
/// - vault A: 100 wstETH against USDC, LLTV 85 %, oracle wstETH $2,730 (ETH $2,600 x 1.05); route
///   wstETH -> WETH -> USDC on Uniswap V2 (the real USDC/WETH reserves of 2022-02-03 and a
///   synthetic 10,000 wstETH / 10,500 WETH pair);
/// - vault B: 100 weETH against WETH, LLTV 93 % (the ETH-correlated mode), oracle weETH $2,704
///   (ETH x 1.04); route weETH -> WETH on a synthetic 10,000 weETH / 10,400 WETH pair.
///
/// The IRM is `address(0)`, Morpho's zero-rate model (no interest accrues: a demo choice,
/// stated). No recorded wstETH or weETH pair ships in `data/`: those pools are synthetic.
#[derive(Debug)]
pub struct LendingWorld<C> {
    /// The chain.
    pub chain: C,
    /// Morpho Blue.
    pub morpho: Address,
    /// `RebalanceAdapter`.
    pub adapter: Address,
    /// The position owner (`accounts()[2]`).
    pub owner: Address,
    /// A lender with loan tokens to spare (`accounts()[1]`), also the liquidator in tests.
    pub lender: Address,
    /// The vaults.
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

/// Morpho's market id: `keccak256(abi.encode(marketParams))`.
pub fn market_id(p: &Morpho::MarketParams) -> B256 {
    keccak256((p.loanToken, p.collateralToken, p.oracle, p.irm, p.lltv).abi_encode())
}

struct MarketSpec {
    collateral: Address,
    loan: Address,
    collateral_feed: Address,
    loan_feed: Address,
    loan_decimals: u8,
    lltv_bps: u32,
}

async fn create_market<C: Chain>(
    c: &C,
    (admin, morpho): (Address, Address),
    m: &MarketSpec,
) -> Result<(Address, Morpho::MarketParams)> {
    let oracle = deploy_with(
        c,
        admin,
        &FeedPairOracle::BYTECODE,
        &FeedPairOracle::constructorCall {
            baseFeed_: m.collateral_feed,
            quoteFeed_: m.loan_feed,
            collateralDecimals: 18,
            loanDecimals: m.loan_decimals,
            maxStaleness_: U256::from(ORACLE_MAX_STALENESS_SECS),
        },
    )
    .await?;
    let lltv = U256::from(m.lltv_bps) * U256::from(E18 / 10_000);
    send(c, admin, morpho, &Morpho::enableLltvCall { lltv }).await?;
    let params = Morpho::MarketParams {
        loanToken: m.loan,
        collateralToken: m.collateral,
        oracle,
        irm: Address::ZERO,
        lltv,
    };
    send(c, admin, morpho, &Morpho::createMarketCall { marketParams: params.clone() }).await?;
    Ok((oracle, params))
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
        let tok = |name: &'static str, sym: &'static str, dec: u8| async move {
            deploy::test_token(c, admin, name, sym, dec, admin).await
        };
        let wst = tok("Wrapped liquid staked Ether 2.0", "wstETH", 18).await?;
        let we = tok("Wrapped eETH", "weETH", 18).await?;
        let weth = tok("Wrapped Ether", "WETH", 18).await?;
        let usdc = tok("USD Coin", "USDC", 6).await?;
        let now = chain.timestamp().await?;
        let (p_wst, p_we, p_usdc, p_weth) =
            (273_000_000_000i64, 270_400_000_000, 100_000_000, 260_000_000_000);
        let feed_wst = feed(c, admin, "wstETH / USD", p_wst).await?;
        let feed_we = feed(c, admin, "weETH / USD", p_we).await?;
        let feed_usdc = feed(c, admin, "USDC / USD", p_usdc).await?;
        let feed_weth = feed(c, admin, "WETH / USD", p_weth).await?;
        let morpho =
            deploy_with(c, admin, &Morpho::BYTECODE, &Morpho::constructorCall { newOwner: admin })
                .await?;
        // Morpho's zero-rate IRM: address(0), enabled by the owner like any IRM.
        send(c, admin, morpho, &Morpho::enableIrmCall { irm: Address::ZERO }).await?;
        let specs = [
            MarketSpec {
                collateral: wst,
                loan: usdc,
                collateral_feed: feed_wst,
                loan_feed: feed_usdc,
                loan_decimals: 6,
                lltv_bps: 8_500,
            },
            MarketSpec {
                collateral: we,
                loan: weth,
                collateral_feed: feed_we,
                loan_feed: feed_weth,
                loan_decimals: 18,
                lltv_bps: 9_300,
            },
        ];
        let mut markets = Vec::new();
        for m in &specs {
            markets.push(create_market(c, (admin, morpho), m).await?);
        }
        let uni = UniswapV2::deploy(c, admin).await?;
        let (r_usdc, r_weth) = (107_882_978_172_857u128, 41_492_995_329_546_261_157_873u128);
        let seeds = [
            ((usdc, r_usdc), (weth, r_weth)),
            ((wst, 10_000 * E18), (weth, 10_500 * E18)),
            ((we, 10_000 * E18), (weth, 10_400 * E18)),
        ];
        let mut pairs = Vec::new();
        for ((t0, r0), (t1, r1)) in seeds {
            pairs.push(
                uni.seed_pair(c, admin, (t0, U256::from(r0)), (t1, U256::from(r1)), now + 86_400)
                    .await?,
            );
        }
        // Lenders: 1,000,000 USDC in market A, 2,000 WETH in market B.
        for ((_, params), amount) in
            markets.iter().zip([U256::from(1_000_000_000_000u64), U256::from(2_000 * E18)])
        {
            let loan = params.loanToken;
            send(c, admin, loan, &TestToken::mintCall { to: lender, amount }).await?;
            send(c, lender, loan, &TestToken::approveCall { spender: morpho, value: U256::MAX })
                .await?;
            let call = Morpho::supplyCall {
                marketParams: params.clone(),
                assets: amount,
                shares: U256::ZERO,
                onBehalf: lender,
                data: Default::default(),
            };
            send(c, lender, morpho, &call).await?;
        }
        // Both vaults at HF 1.40: debt = C x Pc x LT / (1.40 x Pd).
        for ((_, params), (pc, lt, pd, unit)) in markets
            .iter()
            .zip([(p_wst, 8_500u128, p_usdc, 1_000_000u128), (p_we, 9_300, p_weth, E18)])
        {
            let coll = U256::from(100 * E18);
            let token = params.collateralToken;
            send(c, admin, token, &TestToken::mintCall { to: owner, amount: coll }).await?;
            send(c, owner, token, &TestToken::approveCall { spender: morpho, value: coll }).await?;
            let call = Morpho::supplyCollateralCall {
                marketParams: params.clone(),
                assets: coll,
                onBehalf: owner,
                data: Default::default(),
            };
            send(c, owner, morpho, &call).await?;
            let debt = U256::from(100 * pc as u128 * lt) * U256::from(unit)
                / U256::from(14_000 * pd as u128);
            let call = Morpho::borrowCall {
                marketParams: params.clone(),
                assets: debt,
                shares: U256::ZERO,
                onBehalf: owner,
                receiver: owner,
            };
            send(c, owner, morpho, &call).await?;
        }
        let adapter = deploy_with(
            c,
            admin,
            &RebalanceAdapter::BYTECODE,
            &RebalanceAdapter::constructorCall { morpho, router: uni.router },
        )
        .await?;
        let [(oracle_a, params_a), (oracle_b, params_b)] = <[_; 2]>::try_from(markets)
            .map_err(|_| crate::Error::UnknownVault { id: 2, count: 2 })?;
        let vaults = vec![
            LendingVault {
                id: 0,
                name: "A",
                collateral: "wstETH",
                debt: "USDC",
                collateral_feed: feed_wst,
                debt_feed: feed_usdc,
                oracle: oracle_a,
                market_id: market_id(&params_a),
                params: params_a,
                liquidation_threshold_bps: 8_500,
                debt_decimals: 6,
                route: vec![(pairs[1], wst), (pairs[0], weth)],
                path: vec![wst, weth, usdc],
            },
            LendingVault {
                id: 1,
                name: "B",
                collateral: "weETH",
                debt: "WETH",
                collateral_feed: feed_we,
                debt_feed: feed_weth,
                oracle: oracle_b,
                market_id: market_id(&params_b),
                params: params_b,
                liquidation_threshold_bps: 9_300,
                debt_decimals: 18,
                route: vec![(pairs[2], we)],
                path: vec![we, weth],
            },
        ];
        Ok(Self { chain, morpho, adapter, owner, lender, vaults })
    }

    /// Vault `id`.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`].
    pub fn vault(&self, id: usize) -> Result<&LendingVault> {
        self.vaults.get(id).ok_or(crate::Error::UnknownVault { id, count: self.vaults.len() })
    }

    /// `user`'s collateral and debt in vault `id`: `(collateral base units, borrowed loan base
    /// units rounded up as Morpho's `toAssetsUp`)`.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn position_of(&self, id: usize, user: Address) -> Result<(U256, U256)> {
        let v = self.vault(id)?;
        let p = view(&self.chain, self.morpho, &Morpho::positionCall { _0: v.market_id, _1: user })
            .await?;
        let m = view(&self.chain, self.morpho, &Morpho::marketCall(v.market_id)).await?;
        // SharesMathLib.toAssetsUp with VIRTUAL_SHARES 1e6, VIRTUAL_ASSETS 1.
        let num = U256::from(p.borrowShares) * (U256::from(m.totalBorrowAssets) + U256::from(1));
        let den = U256::from(m.totalBorrowShares) + U256::from(1_000_000u64);
        Ok((U256::from(p.collateral), num.div_ceil(den)))
    }

    /// The market oracle's price of vault `id` (Morpho's `IOracle.price`, scaled 1e36).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`]; the oracle's `StalePrice` / `BadAnswer`.
    pub async fn oracle_price(&self, id: usize) -> Result<U256> {
        let v = self.vault(id)?;
        Ok(view(&self.chain, v.oracle, &FeedPairOracle::priceCall {}).await?)
    }

    /// Vault `id`'s health factor as Morpho judges it, wad: `collateral x price / 1e36 x LLTV /
    /// borrowed` (Morpho's `_isHealthy` is `HF >= 1`); `U256::MAX` without debt.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn health_factor(&self, id: usize) -> Result<U256> {
        let v = self.vault(id)?;
        let (coll, borrowed) = self.position_of(id, self.owner).await?;
        if borrowed.is_zero() {
            return Ok(U256::MAX);
        }
        let price = self.oracle_price(id).await?;
        Ok(coll * price * v.params.lltv / (U256::from(ORACLE_PRICE_SCALE) * borrowed))
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

    /// Vault `id`'s position as the risk engine sees it, read from Morpho: wad amounts (a
    /// 6-decimal debt scaled up).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn position(&self, id: usize) -> Result<shr_risk::Position> {
        let v = self.vault(id)?;
        let (coll, debt) = self.position_of(id, self.owner).await?;
        let scale = U256::from(10u64).pow(U256::from(18 - u64::from(v.debt_decimals)));
        Ok(shr_risk::Position {
            collateral_wad: coll.saturating_to(),
            debt_wad: (debt * scale).saturating_to(),
            liquidation_threshold_bps: v.liquidation_threshold_bps,
        })
    }

    /// The route's live reserves of vault `id` (read from the pairs now), collateral first.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn route(&self, id: usize) -> Result<Vec<V2Pool>> {
        let v = self.vault(id)?;
        let mut out = Vec::new();
        for &(pair, token_in) in &v.route {
            let r = view(&self.chain, pair, &UniswapV2Pair::getReservesCall {}).await?;
            let t0 = view(&self.chain, pair, &UniswapV2Pair::token0Call {}).await?;
            let (r0, r1) = (U256::from(r._reserve0), U256::from(r._reserve1));
            let (reserve_in, reserve_out) = if t0 == token_in { (r0, r1) } else { (r1, r0) };
            out.push(V2Pool { reserve_in, reserve_out });
        }
        Ok(out)
    }

    /// Plan inputs of vault `id`, read from chain: both oracle prices, and the route's live
    /// marginal price for the swap in USD (kept apart from the oracle's: a depeg hits the swap,
    /// not the oracle).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn prices(&self, id: usize) -> Result<shr_risk::Prices> {
        let v = self.vault(id)?;
        let e8_to_wad = |p: i64| p.max(0) as u128 * 10_000_000_000;
        let debt_oracle_wad = e8_to_wad(self.price_e8(v.debt_feed).await?);
        let dex = self.dex_price_wad(id).await?;
        Ok(shr_risk::Prices {
            collateral_oracle_wad: e8_to_wad(self.price_e8(v.collateral_feed).await?),
            debt_oracle_wad,
            collateral_dex_wad: (U256::from(dex) * U256::from(debt_oracle_wad) / U256::from(E18))
                .saturating_to(),
        })
    }

    /// The rebalancing plan of vault `id` at the chain's current prices and live reserves, the
    /// slippage iterated against the route's impact (`None` when the HF is above the trigger).
    ///
    /// # Errors
    /// Contract errors; the plan's guards as [`crate::Error::Risk`].
    pub async fn plan(
        &self,
        id: usize,
        cfg: &shr_risk::PlanConfig,
    ) -> Result<Option<shr_risk::Plan>> {
        let route = self.route(id).await?;
        let pos = self.position(id).await?;
        let prices = self.prices(id).await?;
        shr_risk::plan(&pos, &prices, cfg, |x| crate::sell_impact_bps(U256::from(x), &route))
            .map_err(crate::Error::Risk)
    }

    /// Where [`crate::execute_plan`] sends a plan for vault `id`, signed by the owner's dev key
    /// (the world runs on a dev chain: `accounts()[2]` of the standard test mnemonic).
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`].
    pub fn target(&self, id: usize) -> Result<crate::RebalanceTarget> {
        let v = self.vault(id)?;
        let owner_key = shr_chain::dev_signers(3).swap_remove(2);
        Ok(crate::RebalanceTarget {
            morpho: self.morpho,
            params: v.params.clone(),
            market_id: v.market_id,
            adapter: self.adapter,
            owner: owner_key,
            path: v.path.clone(),
            debt_decimals: v.debt_decimals,
        })
    }

    /// The owner's next Morpho authorisation nonce (`Morpho.nonce(owner)`): a plan encoded
    /// with another one reverts.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn authorization_nonce(&self) -> Result<U256> {
        Ok(view(&self.chain, self.morpho, &Morpho::nonceCall(self.owner)).await?)
    }

    /// The route's fee-free marginal price of vault `id`'s collateral in its loan token at the
    /// live reserves, wad.
    ///
    /// # Errors
    /// [`crate::Error::UnknownVault`], contract errors.
    pub async fn dex_price_wad(&self, id: usize) -> Result<u128> {
        let v = self.vault(id)?;
        let mut p = U256::from(E18);
        for hop in self.route(id).await? {
            p = p * hop.reserve_out / hop.reserve_in;
        }
        p *= U256::from(10u64).pow(U256::from(18 - u64::from(v.debt_decimals)));
        Ok(p.saturating_to())
    }
}
