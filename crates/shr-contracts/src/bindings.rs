//! alloy `sol!` bindings generated from the build's artifacts (ABI, creation and runtime code).
//!
//! Each module (`TestToken`, `KeystoneForwarder`, ...) has the calls, events and errors of its
//! contract and `BYTECODE`, its creation code.

#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(all_derives)]
    TestToken,
    concat!(env!("OUT_DIR"), "/contracts/TestToken.json")
);
alloy::sol!(
    #[sol(all_derives)]
    ReserveFeed,
    concat!(env!("OUT_DIR"), "/contracts/ReserveFeed.json")
);
alloy::sol!(
    #[sol(all_derives)]
    KeystoneForwarder,
    concat!(env!("OUT_DIR"), "/contracts/KeystoneForwarder.json")
);
alloy::sol!(
    #[sol(all_derives)]
    UniswapV2Factory,
    concat!(env!("OUT_DIR"), "/contracts/UniswapV2Factory.json")
);
alloy::sol!(
    #[sol(all_derives)]
    UniswapV2Pair,
    concat!(env!("OUT_DIR"), "/contracts/UniswapV2Pair.json")
);
alloy::sol!(
    #[sol(all_derives)]
    UniswapV2Router02,
    concat!(env!("OUT_DIR"), "/contracts/UniswapV2Router02.json")
);
alloy::sol!(
    #[sol(all_derives)]
    WETH9,
    concat!(env!("OUT_DIR"), "/contracts/WETH9.json")
);
alloy::sol!(
    /// Uniswap's `ExampleSlidingWindowOracle` (v2-periphery 1.1.0-beta.0, shipped bytecode):
    /// `update(tokenA, tokenB)` records a pair's cumulative prices once per period;
    /// `consult(tokenIn, amountIn, tokenOut)` prices over the window.
    #[sol(all_derives)]
    SlidingWindowOracle,
    concat!(env!("OUT_DIR"), "/contracts/SlidingWindowOracle.json")
);
alloy::sol!(
    #[sol(all_derives)]
    ReserveAttestation,
    concat!(env!("OUT_DIR"), "/contracts/ReserveAttestation.json")
);
alloy::sol!(
    #[sol(all_derives)]
    GasBaselineReceiver,
    concat!(env!("OUT_DIR"), "/contracts/GasBaselineReceiver.json")
);
alloy::sol!(
    #[sol(all_derives)]
    ReserveVault,
    concat!(env!("OUT_DIR"), "/contracts/ReserveVault.json")
);
alloy::sol!(
    #[sol(all_derives)]
    CREDarkPool,
    concat!(env!("OUT_DIR"), "/contracts/CREDarkPool.json")
);
alloy::sol!(
    #[sol(all_derives)]
    ReentrantToken,
    concat!(env!("OUT_DIR"), "/contracts/ReentrantToken.json")
);
alloy::sol!(
    #[sol(all_derives)]
    Morpho,
    concat!(env!("OUT_DIR"), "/contracts/Morpho.json")
);
alloy::sol!(
    #[sol(all_derives)]
    FeedPairOracle,
    concat!(env!("OUT_DIR"), "/contracts/FeedPairOracle.json")
);
alloy::sol!(
    #[sol(all_derives)]
    RebalanceAdapter,
    concat!(env!("OUT_DIR"), "/contracts/RebalanceAdapter.json")
);
alloy::sol!(
    #[sol(all_derives)]
    FillVerifier,
    concat!(env!("OUT_DIR"), "/contracts/FillVerifier.json")
);
alloy::sol!(
    #[sol(all_derives)]
    UpdateVerifier,
    concat!(env!("OUT_DIR"), "/contracts/UpdateVerifier.json")
);
