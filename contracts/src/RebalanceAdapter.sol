// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LendingMarket, IRepayCallback} from "./LendingMarket.sol";

interface IUniswapV2Router02Min {
    function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] calldata path, address to, uint256 deadline)
        external
        returns (uint256[] memory amounts);
}

/// @title RebalanceAdapter
/// @notice Executes a rebalancing plan atomically **as the position owner**: the owner
///         authorises this adapter on the market and calls `rebalance`; the market reduces the
///         debt, calls back `onRepay`, in which the adapter withdraws the collateral, buys the
///         debt asset with an exact-output swap bounded by `amountInMaximum` (Uniswap V2
///         Router02), deposits it into the ERC-4626 vault to mint the shares, and returns any
///         unsold collateral to the owner's position; then the market pulls the shares. Any
///         failure reverts the whole transaction. (Multicall3 cannot do this: `msg.sender` would
///         be Multicall3, not the owner.)
contract RebalanceAdapter is IRepayCallback {
    using SafeERC20 for IERC20;

    struct Job {
        address owner;
        LendingMarket market;
        uint256 id;
        uint256 amountInMaximum;
        address[] path;
        uint256 deadline;
    }

    IUniswapV2Router02Min public immutable router;
    address private _expectedMarket;

    error UnexpectedCallback(address caller);

    constructor(IUniswapV2Router02Min router_) {
        router = router_;
    }

    /// @notice Repays `repayShares` of the caller's debt in market `id`, selling at most
    ///         `amountInMaximum` collateral along `path` (collateral first, debt asset last).
    function rebalance(LendingMarket market, uint256 id, uint256 repayShares, uint256 amountInMaximum, address[] calldata path, uint256 deadline)
        external
    {
        _expectedMarket = address(market);
        Job memory job = Job(msg.sender, market, id, amountInMaximum, path, deadline);
        market.repay(id, repayShares, msg.sender, abi.encode(job));
        _expectedMarket = address(0);
    }

    /// @inheritdoc IRepayCallback
    function onRepay(uint256 shares, bytes calldata data) external {
        if (msg.sender != _expectedMarket || msg.sender == address(0)) revert UnexpectedCallback(msg.sender);
        Job memory job = abi.decode(data, (Job));
        (IERC20 collateral,, IERC4626 vault,,) = job.market.markets(job.id);
        job.market.withdrawCollateral(job.id, job.amountInMaximum, job.owner, address(this));
        uint256 assets = vault.previewMint(shares);
        collateral.forceApprove(address(router), job.amountInMaximum);
        router.swapTokensForExactTokens(assets, job.amountInMaximum, job.path, address(this), job.deadline);
        IERC20(vault.asset()).forceApprove(address(vault), assets);
        vault.mint(shares, address(this));
        IERC20(address(vault)).forceApprove(address(job.market), shares);
        uint256 left = collateral.balanceOf(address(this));
        if (left > 0) {
            collateral.forceApprove(address(job.market), left);
            job.market.supplyCollateral(job.id, left, job.owner);
        }
    }
}
