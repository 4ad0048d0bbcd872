// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ReserveFeed
/// @notice A Chainlink `AggregatorV3Interface` data feed whose rounds are pushed by an updater:
///         a proof-of-reserve feed or a price feed on development chains.
contract ReserveFeed is AggregatorV3Interface, AccessControl {
    /// @notice Role allowed to push new rounds.
    bytes32 public constant UPDATER_ROLE = keccak256("UPDATER_ROLE");

    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    /// @notice Thrown by `getRoundData` and `latestRoundData` for a round that does not exist.
    error NoDataPresent(uint80 roundId);
    /// @notice Thrown when an update carries a time older than the latest round's.
    error StaleUpdate(uint256 updatedAt, uint256 latestUpdatedAt);

    /// @notice Emitted on each new round, as Chainlink aggregators do.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    uint8 public immutable override decimals;
    string public override description;
    uint256 public constant override version = 1;

    uint80 public latestRound;
    mapping(uint80 => Round) private _rounds;

    /// @param decimals_ Decimals of `answer` (8 for the wBTC PoR feed).
    /// @param description_ Human-readable feed name.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and UPDATER_ROLE.
    constructor(uint8 decimals_, string memory description_, address admin) {
        decimals = decimals_;
        description = description_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPDATER_ROLE, admin);
    }

    /// @notice Pushes a new round with `answer` observed at `updatedAt` (unix seconds).
    function updateAnswer(int256 answer, uint256 updatedAt) external onlyRole(UPDATER_ROLE) returns (uint80 roundId) {
        uint256 last = _rounds[latestRound].updatedAt;
        if (updatedAt < last) revert StaleUpdate(updatedAt, last);
        roundId = latestRound + 1;
        _rounds[roundId] = Round(answer, uint64(block.timestamp), uint64(updatedAt));
        latestRound = roundId;
        emit AnswerUpdated(answer, roundId, updatedAt);
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId)
        public
        view
        override
        returns (uint80, int256, uint256, uint256, uint80)
    {
        Round memory r = _rounds[roundId];
        if (roundId == 0 || r.updatedAt == 0) revert NoDataPresent(roundId);
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }
}
