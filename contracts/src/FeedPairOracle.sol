// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @title FeedPairOracle
/// @notice Morpho Blue `IOracle` over two Chainlink `AggregatorV3` feeds quoted in the same unit
///         (collateral/USD and loan/USD): the price of one collateral base unit in loan base
///         units, scaled by 1e36 as Morpho defines it, i.e.
///         `price = base * 10^(36 + loanDecimals + quoteFeedDecimals - collateralDecimals - baseFeedDecimals) / quote`.
///         A feed whose answer is not positive, or whose `updatedAt` is older than `maxStaleness`
///         seconds (or in the future), makes `price()` revert: Morpho then refuses borrows,
///         withdrawals and liquidations rather than act on a dead price.
contract FeedPairOracle is IOracle {
    /// @notice Collateral / USD feed.
    AggregatorV3Interface public immutable baseFeed;
    /// @notice Loan asset / USD feed.
    AggregatorV3Interface public immutable quoteFeed;
    /// @notice The oldest answer accepted, seconds.
    uint256 public immutable maxStaleness;
    /// @notice The constant factor of the price formula.
    uint256 public immutable scaleFactor;

    /// @notice A feed's answer is zero or negative.
    error BadAnswer(address feed, int256 answer);
    /// @notice A feed's answer is older than `maxStaleness` (or dated in the future).
    error StalePrice(address feed, uint256 updatedAt, uint256 blockTimestamp);
    /// @notice Parameters that cannot give a price.
    error BadConfig(string field, uint256 value);

    /// @param baseFeed_ Collateral / USD.
    /// @param quoteFeed_ Loan asset / USD.
    /// @param collateralDecimals Collateral token decimals.
    /// @param loanDecimals Loan token decimals.
    /// @param maxStaleness_ Seconds (1 .. 7 days).
    constructor(
        AggregatorV3Interface baseFeed_,
        AggregatorV3Interface quoteFeed_,
        uint8 collateralDecimals,
        uint8 loanDecimals,
        uint256 maxStaleness_
    ) {
        if (maxStaleness_ == 0 || maxStaleness_ > 7 days) revert BadConfig("maxStaleness", maxStaleness_);
        uint256 up = 36 + uint256(loanDecimals) + quoteFeed_.decimals();
        uint256 down = uint256(collateralDecimals) + baseFeed_.decimals();
        if (down > up || up - down > 70) revert BadConfig("decimals", down);
        baseFeed = baseFeed_;
        quoteFeed = quoteFeed_;
        maxStaleness = maxStaleness_;
        scaleFactor = 10 ** (up - down);
    }

    /// @inheritdoc IOracle
    function price() external view returns (uint256) {
        return _answer(baseFeed) * scaleFactor / _answer(quoteFeed);
    }

    function _answer(AggregatorV3Interface feed) private view returns (uint256) {
        (, int256 answer,, uint256 updatedAt,) = feed.latestRoundData();
        if (answer <= 0) revert BadAnswer(address(feed), answer);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > maxStaleness) {
            revert StalePrice(address(feed), updatedAt, block.timestamp);
        }
        return uint256(answer);
    }
}
