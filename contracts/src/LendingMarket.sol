// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

/// @notice Called by `LendingMarket.repay` after the debt is reduced and before the shares are
///         pulled (Morpho Blue's `onMorphoRepay` pattern): the caller may withdraw collateral,
///         swap and mint the shares it is about to pay, all in one transaction.
interface IRepayCallback {
    function onRepay(uint256 shares, bytes calldata data) external;
}

/// @title LendingMarket
/// @notice A minimal but real isolated lending market: collateral against debt counted in
///         ERC-4626 shares (bUSDC, bETH), oracle prices from Chainlink-style feeds, a liquidation
///         threshold, the Aave health factor (wad), and authorisations so that an adapter can act
///         on a position for its owner. No interest accrues (a demo simplification).
contract LendingMarket is Ownable {
    using SafeERC20 for IERC20;

    struct Market {
        IERC20 collateral;
        AggregatorV3Interface collateralFeed;
        IERC4626 debtVault;
        AggregatorV3Interface debtFeed;
        uint16 liquidationThresholdBps;
    }

    Market[] public markets;
    mapping(uint256 => mapping(address => uint256)) public collateralOf;
    mapping(uint256 => mapping(address => uint256)) public debtSharesOf;
    mapping(uint256 => uint256) public liquidity;
    mapping(address => mapping(address => bool)) public isAuthorized;

    event MarketCreated(uint256 indexed id);
    event Authorization(address indexed owner, address indexed operator, bool allowed);
    event CollateralSupplied(uint256 indexed id, address indexed onBehalf, uint256 amount);
    event CollateralWithdrawn(uint256 indexed id, address indexed onBehalf, uint256 amount);
    event Borrowed(uint256 indexed id, address indexed onBehalf, uint256 shares);
    event Repaid(uint256 indexed id, address indexed onBehalf, uint256 shares);

    error Unauthorized(address caller, address onBehalf);
    error Unhealthy(uint256 healthFactor);
    error RepayExceedsDebt(uint256 shares, uint256 debt);
    error InsufficientLiquidity(uint256 shares, uint256 available);
    error BadPrice(address feed);

    constructor(address owner_) Ownable(owner_) {}

    /// @notice Adds a market; returns its id.
    function createMarket(Market calldata m) external onlyOwner returns (uint256 id) {
        markets.push(m);
        id = markets.length - 1;
        emit MarketCreated(id);
    }

    /// @notice Lets `operator` act on the caller's positions (or stops it).
    function setAuthorization(address operator, bool allowed) external {
        isAuthorized[msg.sender][operator] = allowed;
        emit Authorization(msg.sender, operator, allowed);
    }

    /// @notice Lenders' debt-vault shares available to borrow.
    function supplyLiquidity(uint256 id, uint256 shares) external {
        IERC20(address(markets[id].debtVault)).safeTransferFrom(msg.sender, address(this), shares);
        liquidity[id] += shares;
    }

    function supplyCollateral(uint256 id, uint256 amount, address onBehalf) external {
        collateralOf[id][onBehalf] += amount;
        markets[id].collateral.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralSupplied(id, onBehalf, amount);
    }

    function withdrawCollateral(uint256 id, uint256 amount, address onBehalf, address receiver) external {
        _authorized(onBehalf);
        collateralOf[id][onBehalf] -= amount;
        _requireHealthy(id, onBehalf);
        markets[id].collateral.safeTransfer(receiver, amount);
        emit CollateralWithdrawn(id, onBehalf, amount);
    }

    function borrow(uint256 id, uint256 shares, address onBehalf, address receiver) external {
        _authorized(onBehalf);
        if (shares > liquidity[id]) revert InsufficientLiquidity(shares, liquidity[id]);
        liquidity[id] -= shares;
        debtSharesOf[id][onBehalf] += shares;
        _requireHealthy(id, onBehalf);
        IERC20(address(markets[id].debtVault)).safeTransfer(receiver, shares);
        emit Borrowed(id, onBehalf, shares);
    }

    /// @notice Repays `shares` of `onBehalf`'s debt (never more than it owes). The debt falls
    ///         first; with `data`, the caller's `onRepay` runs; then the shares are pulled.
    function repay(uint256 id, uint256 shares, address onBehalf, bytes calldata data) external {
        uint256 debt = debtSharesOf[id][onBehalf];
        if (shares > debt) revert RepayExceedsDebt(shares, debt);
        debtSharesOf[id][onBehalf] = debt - shares;
        liquidity[id] += shares;
        emit Repaid(id, onBehalf, shares);
        if (data.length > 0) IRepayCallback(msg.sender).onRepay(shares, data);
        IERC20(address(markets[id].debtVault)).safeTransferFrom(msg.sender, address(this), shares);
    }

    /// @notice Debt in underlying assets (ERC-4626 `previewMint`, rounded up).
    function debtAssetsOf(uint256 id, address user) public view returns (uint256) {
        return markets[id].debtVault.previewMint(debtSharesOf[id][user]);
    }

    /// @notice Aave's health factor in wad: collateral value x threshold / debt value;
    ///         `type(uint256).max` without debt.
    function healthFactor(uint256 id, address user) public view returns (uint256) {
        Market storage m = markets[id];
        uint256 debtAssets = debtAssetsOf(id, user);
        if (debtAssets == 0) return type(uint256).max;
        uint256 c = _valueWad(m.collateralFeed, collateralOf[id][user], _decimals(address(m.collateral)));
        uint256 d = _valueWad(m.debtFeed, debtAssets, _decimals(m.debtVault.asset()));
        return c * m.liquidationThresholdBps * 1e18 / (d * 10_000);
    }

    /// @notice Whether `user` can be liquidated (HF < 1).
    function isLiquidatable(uint256 id, address user) external view returns (bool) {
        return healthFactor(id, user) < 1e18;
    }

    function marketCount() external view returns (uint256) {
        return markets.length;
    }

    function _valueWad(AggregatorV3Interface feed, uint256 amount, uint8 tokenDecimals) private view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        if (answer <= 0) revert BadPrice(address(feed));
        return amount * uint256(answer) * 1e18 / (10 ** tokenDecimals * 10 ** feed.decimals());
    }

    function _decimals(address token) private view returns (uint8) {
        return IERC20Metadata(token).decimals();
    }

    function _authorized(address onBehalf) private view {
        if (msg.sender != onBehalf && !isAuthorized[onBehalf][msg.sender]) revert Unauthorized(msg.sender, onBehalf);
    }

    function _requireHealthy(uint256 id, address user) private view {
        uint256 hf = healthFactor(id, user);
        if (hf < 1e18) revert Unhealthy(hf);
    }
}

interface IERC20Metadata {
    function decimals() external view returns (uint8);
}
