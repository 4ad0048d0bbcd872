// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ReserveVault
/// @notice The on-chain account that receives collateral recovered by the agent (swap proceeds,
///         dark-pool fills). The oracle counts its balance of `asset` as reserves, so the next
///         attestation round sees the recovery. Its balance is public (ERC-20 transfers are).
contract ReserveVault is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to move collateral out (the custodian).
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");

    /// @notice The collateral token (wBTC).
    IERC20 public immutable asset;

    /// @notice Emitted when the custodian takes collateral out.
    event Withdrawn(address indexed to, uint256 amount);

    /// @param asset_ The collateral token.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and CUSTODIAN_ROLE.
    constructor(IERC20 asset_, address admin) {
        asset = asset_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CUSTODIAN_ROLE, admin);
    }

    /// @notice Collateral held, base units of `asset`.
    function reserves() external view returns (uint256) {
        return asset.balanceOf(address(this));
    }

    /// @notice Moves `amount` of collateral to `to`. Only CUSTODIAN_ROLE.
    function withdraw(address to, uint256 amount) external onlyRole(CUSTODIAN_ROLE) {
        asset.safeTransfer(to, amount);
        emit Withdrawn(to, amount);
    }
}
