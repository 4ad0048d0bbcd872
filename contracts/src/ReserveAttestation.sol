// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IReceiver} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IReceiver.sol";
// The same IERC165 that Chainlink's IReceiver extends.
import {IERC165} from "@openzeppelin/contracts@5.0.2/utils/introspection/IERC165.sol";

/// @title ReserveAttestation
/// @notice Receives proof-of-reserve reports from Chainlink's KeystoneForwarder and keeps one public
///         fact: whether the reserves cover the token's supply. The report body is
///         `abi.encode(bool isSolvent, uint256 observedAt)`: never an amount or a ratio.
/// @dev Metadata layout (forwarder's raw report bytes 45..109): workflowId (32) | workflowName (10)
///      | workflowOwner (20) | reportId (2).
contract ReserveAttestation is IReceiver {
    /// @notice The only forwarder allowed to deliver reports.
    address public immutable forwarder;
    /// @notice The only workflow owner whose reports are accepted.
    address public immutable workflowOwner;
    /// @notice The only workflow id whose reports are accepted.
    bytes32 public immutable workflowId;

    /// @notice Whether the last accepted report found the reserves sufficient.
    bool public isSolvent;
    /// @notice Observation time of the last accepted report, unix seconds (0 before any).
    uint256 public lastUpdated;

    /// @notice Emitted on every accepted report.
    event ReserveStatusUpdated(bool isSolvent, uint256 timestamp);
    /// @notice Emitted when a report is not newer than the last accepted one; state unchanged.
    event StaleReportIgnored(uint256 observedAt, uint256 lastUpdated);

    /// @notice The caller is not the configured forwarder.
    error InvalidSender(address sender);
    /// @notice The report's workflow owner is not the configured one.
    error InvalidWorkflowOwner(address owner);
    /// @notice The report's workflow id is not the configured one.
    error InvalidWorkflowId(bytes32 id);
    /// @notice Metadata or body of the wrong length.
    error MalformedReport(uint256 metadataLength, uint256 reportLength);

    constructor(address forwarder_, address workflowOwner_, bytes32 workflowId_) {
        forwarder = forwarder_;
        workflowOwner = workflowOwner_;
        workflowId = workflowId_;
    }

    /// @inheritdoc IReceiver
    function onReport(bytes calldata metadata, bytes calldata report) external override {
        if (msg.sender != forwarder) revert InvalidSender(msg.sender);
        if (metadata.length != 64 || report.length != 64) revert MalformedReport(metadata.length, report.length);
        bytes32 id = bytes32(metadata[0:32]);
        address owner = address(bytes20(metadata[42:62]));
        if (id != workflowId) revert InvalidWorkflowId(id);
        if (owner != workflowOwner) revert InvalidWorkflowOwner(owner);
        (bool solvent, uint256 observedAt) = abi.decode(report, (bool, uint256));
        if (observedAt <= lastUpdated) {
            emit StaleReportIgnored(observedAt, lastUpdated);
            return;
        }
        isSolvent = solvent;
        lastUpdated = observedAt;
        emit ReserveStatusUpdated(solvent, observedAt);
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public pure override returns (bool) {
        return interfaceId == type(IReceiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}
