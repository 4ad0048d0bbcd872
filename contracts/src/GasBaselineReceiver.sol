// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IReceiver} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IReceiver.sol";
// The same IERC165 that Chainlink's IReceiver extends.
import {IERC165} from "@openzeppelin/contracts@5.0.2/utils/introspection/IERC165.sol";

/// @title GasBaselineReceiver
/// @notice Benchmark baseline only: a receiver that stores the boolean and checks nothing, to
///         measure what `ReserveAttestation`'s checks cost on top of the forwarder.
contract GasBaselineReceiver is IReceiver {
    /// @notice The last boolean delivered.
    bool public isSolvent;

    /// @inheritdoc IReceiver
    function onReport(bytes calldata, bytes calldata report) external override {
        isSolvent = abi.decode(report, (bool));
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public pure override returns (bool) {
        return interfaceId == type(IReceiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}
