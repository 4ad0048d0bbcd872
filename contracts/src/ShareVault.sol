// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";

/// @title ShareVault
/// @notice OpenZeppelin's ERC-4626 over one underlying: bUSDC (shares of USDC) and bETH (shares
///         of WETH), the debt assets of the lending markets.
contract ShareVault is ERC4626 {
    /// @param asset_ The underlying (USDC, WETH).
    /// @param name_ Share name.
    /// @param symbol_ Share symbol.
    constructor(IERC20 asset_, string memory name_, string memory symbol_) ERC20(name_, symbol_) ERC4626(asset_) {}
}
