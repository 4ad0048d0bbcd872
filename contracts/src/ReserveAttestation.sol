// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IReceiver} from "@chainlink/contracts/src/v0.8/keystone/interfaces/IReceiver.sol";
// The same IERC165 that Chainlink's IReceiver extends.
import {IERC165} from "@openzeppelin/contracts@5.0.2/utils/introspection/IERC165.sol";

/// @title ReserveAttestation
/// @notice Receives proof-of-reserve reports from Chainlink's KeystoneForwarder and keeps one public
///         fact: whether the reserves cover the token's supply. The report body is
///         `abi.encode(bool isSolvent, uint256 observedAt, uint256 chainId, address receiver)`:
///         never an amount or a ratio; the chain id and the receiver bind a report to this
///         contract, so no other receiver (a redeployment, another chain) accepts the same bytes.
/// @dev Metadata layout (forwarder's raw report bytes 45..109): workflowId (32) | workflowName (10)
///      | workflowOwner (20) | reportId (2).
///
///      Freshness: a status is only as good as its age. `latestStatus()` returns the boolean, its
///      observation time and whether it is fresh (observed within `heartbeat + grace` seconds).
///      A consumer must treat a stale status as unknown, not as the last boolean: when reports
///      stop (a halted DON, a ripcord), `isSolvent` keeps its last value forever.
contract ReserveAttestation is IReceiver {
    /// @notice Reports observed further than this in the future (seconds past `block.timestamp`)
    ///         are refused: one such report would make every honest later report "stale".
    uint256 public constant MAX_FUTURE_SKEW = 15 minutes;

    /// @notice The only forwarder allowed to deliver reports.
    address public immutable forwarder;
    /// @notice The only workflow owner whose reports are accepted.
    address public immutable workflowOwner;
    /// @notice The only workflow id whose reports are accepted.
    bytes32 public immutable workflowId;
    /// @notice The DON's heartbeat: the longest gap between reports when nothing changes, seconds.
    uint256 public immutable heartbeat;
    /// @notice Tolerance on top of the heartbeat before a status is stale, seconds.
    uint256 public immutable grace;

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
    /// @notice A body word outside its type: the boolean not 0 or 1, or the receiver address
    ///         with bits above 160 (`abi.decode` would revert without a reason).
    error NonCanonicalReport(bytes32 solventWord, bytes32 receiverWord);
    /// @notice The body names another chain or receiver.
    error WrongTarget(uint256 chainId, address receiver);
    /// @notice The body's observation time is beyond `block.timestamp + MAX_FUTURE_SKEW`.
    error FutureReport(uint256 observedAt, uint256 blockTimestamp);
    /// @notice A constructor parameter out of range.
    error BadConfig(string field, uint256 value);

    /// @param heartbeat_ Seconds (1 .. 30 days).
    /// @param grace_ Seconds (<= heartbeat_).
    constructor(address forwarder_, address workflowOwner_, bytes32 workflowId_, uint256 heartbeat_, uint256 grace_) {
        if (heartbeat_ == 0 || heartbeat_ > 30 days) revert BadConfig("heartbeat", heartbeat_);
        if (grace_ > heartbeat_) revert BadConfig("grace", grace_);
        forwarder = forwarder_;
        workflowOwner = workflowOwner_;
        workflowId = workflowId_;
        heartbeat = heartbeat_;
        grace = grace_;
    }

    /// @inheritdoc IReceiver
    function onReport(bytes calldata metadata, bytes calldata report) external override {
        if (msg.sender != forwarder) revert InvalidSender(msg.sender);
        if (metadata.length != 64 || report.length != 128) revert MalformedReport(metadata.length, report.length);
        bytes32 id = bytes32(metadata[0:32]);
        address owner = address(bytes20(metadata[42:62]));
        if (id != workflowId) revert InvalidWorkflowId(id);
        if (owner != workflowOwner) revert InvalidWorkflowOwner(owner);
        if (uint256(bytes32(report[0:32])) > 1 || uint256(bytes32(report[96:128])) >> 160 != 0) {
            revert NonCanonicalReport(bytes32(report[0:32]), bytes32(report[96:128]));
        }
        (bool solvent, uint256 observedAt, uint256 chainId, address receiver) =
            abi.decode(report, (bool, uint256, uint256, address));
        if (chainId != block.chainid || receiver != address(this)) revert WrongTarget(chainId, receiver);
        if (observedAt > block.timestamp + MAX_FUTURE_SKEW) revert FutureReport(observedAt, block.timestamp);
        if (observedAt <= lastUpdated) {
            emit StaleReportIgnored(observedAt, lastUpdated);
            return;
        }
        isSolvent = solvent;
        lastUpdated = observedAt;
        emit ReserveStatusUpdated(solvent, observedAt);
    }

    /// @notice The last status, its observation time (unix seconds, 0 before any report) and
    ///         whether it is fresh: observed no more than `heartbeat + grace` seconds ago. A stale
    ///         status means "unknown".
    function latestStatus() external view returns (bool solvent, uint256 observedAt, bool fresh) {
        solvent = isSolvent;
        observedAt = lastUpdated;
        fresh = observedAt != 0 && block.timestamp <= observedAt + heartbeat + grace;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public pure override returns (bool) {
        return interfaceId == type(IReceiver).interfaceId || interfaceId == type(IERC165).interfaceId;
    }
}
