// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {
    IMorpho, MarketParams, Authorization, Signature, Id
} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {IMorphoRepayCallback} from "@morpho-org/morpho-blue/src/interfaces/IMorphoCallbacks.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

interface IUniswapV2Router02Min {
    function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] calldata path, address to, uint256 deadline)
        external
        returns (uint256[] memory amounts);
}

/// @title RebalanceAdapter
/// @notice Executes a lending-vault rebalancing plan on Morpho Blue atomically, for the position
///         owner who calls it: Morpho reduces the debt by `repayAssets` and calls back
///         `onMorphoRepay`, in which the adapter withdraws at most `amountInMaximum` collateral,
///         buys exactly `repayAssets` of the loan token along `path` (Uniswap V2 Router02
///         `swapTokensForExactTokens`, exact-output), returns the unsold collateral to the
///         owner's position, and Morpho pulls the loan token. Any failure reverts everything.
/// @dev Hardened against the attacks on the first version (docs/SECURITY.md, finding 1):
///      - one immutable Morpho: the callback is accepted from it only;
///      - the job is bound to the call: `rebalance` stores its hash in transient storage
///        (EIP-1153) and the callback refuses any other job (and any callback outside a call);
///      - the owner is always `msg.sender` of `rebalance`, and the path must start at the
///        market's collateral and end at its loan token;
///      - authorisation is per call: the owner signs two Morpho `Authorization`s (grant with nonce
///        n, revoke with nonce n + 1, both with a deadline); the adapter submits the grant before
///        the repay and the revoke after it, so it is never authorised outside this transaction.
///        (A front-runner that submits the grant alone changes nothing; one that submits both
///        signatures first makes this call revert: a denial of service, never a theft, since
///        the adapter acts only for `msg.sender`. Send through a private relay.)
contract RebalanceAdapter is IMorphoRepayCallback {
    using SafeERC20 for IERC20;
    using MarketParamsLib for MarketParams;

    struct Job {
        address owner;
        MarketParams marketParams;
        uint256 amountInMaximum;
        address[] path;
        uint256 deadline;
    }

    /// @notice The only Morpho Blue this adapter acts on.
    IMorpho public immutable MORPHO;
    /// @notice Uniswap V2 Router02.
    IUniswapV2Router02Min public immutable ROUTER;

    /// @dev Transient slot holding keccak256 of the running job's encoding (0 outside a call).
    bytes32 private constant JOB_SLOT = keccak256("shr.RebalanceAdapter.job");

    error UnexpectedCallback(address caller);
    error JobMismatch();
    error Busy();
    error UnknownMarket(Id id);
    error BadPath(address first, address last);
    error BadAuthorization(string which);

    constructor(IMorpho morpho, IUniswapV2Router02Min router) {
        MORPHO = morpho;
        ROUTER = router;
    }

    /// @notice Repays `repayAssets` (loan token base units) of the caller's debt in the market of
    ///         `marketParams`, selling at most `amountInMaximum` collateral base units along
    ///         `path` (collateral first, loan token last) before `deadline` (unix seconds).
    /// @param grant The caller's signed Morpho authorisation of this adapter (nonce n).
    /// @param revoke The caller's signed revocation of it (nonce n + 1), applied at the end.
    function rebalance(
        MarketParams calldata marketParams,
        uint256 repayAssets,
        uint256 amountInMaximum,
        address[] calldata path,
        uint256 deadline,
        Authorization calldata grant,
        Signature calldata grantSig,
        Authorization calldata revoke,
        Signature calldata revokeSig
    ) external {
        if (_job() != bytes32(0)) revert Busy();
        Id id = marketParams.id();
        if (MORPHO.market(id).lastUpdate == 0) revert UnknownMarket(id);
        if (path.length < 2 || path[0] != marketParams.collateralToken || path[path.length - 1] != marketParams.loanToken) {
            revert BadPath(path.length > 0 ? path[0] : address(0), path.length > 0 ? path[path.length - 1] : address(0));
        }
        if (grant.authorizer != msg.sender || grant.authorized != address(this) || !grant.isAuthorized) {
            revert BadAuthorization("grant");
        }
        if (
            revoke.authorizer != msg.sender || revoke.authorized != address(this) || revoke.isAuthorized
                || revoke.nonce != grant.nonce + 1
        ) revert BadAuthorization("revoke");

        // Anyone can submit the owner's signed grant first (Morpho's setAuthorizationWithSig is
        // open): then the adapter is already authorised and the grant's nonce is spent; go on.
        if (!MORPHO.isAuthorized(msg.sender, address(this))) MORPHO.setAuthorizationWithSig(grant, grantSig);
        bytes memory data = abi.encode(Job(msg.sender, marketParams, amountInMaximum, path, deadline));
        _setJob(keccak256(data));
        MORPHO.repay(marketParams, repayAssets, 0, msg.sender, data);
        _setJob(bytes32(0));
        MORPHO.setAuthorizationWithSig(revoke, revokeSig);
    }

    /// @inheritdoc IMorphoRepayCallback
    function onMorphoRepay(uint256 assets, bytes calldata data) external {
        if (msg.sender != address(MORPHO)) revert UnexpectedCallback(msg.sender);
        bytes32 expected = _job();
        if (expected == bytes32(0) || keccak256(data) != expected) revert JobMismatch();
        Job memory job = abi.decode(data, (Job));
        IERC20 collateral = IERC20(job.marketParams.collateralToken);
        MORPHO.withdrawCollateral(job.marketParams, job.amountInMaximum, job.owner, address(this));
        collateral.forceApprove(address(ROUTER), job.amountInMaximum);
        uint256[] memory amounts =
            ROUTER.swapTokensForExactTokens(assets, job.amountInMaximum, job.path, address(this), job.deadline);
        collateral.forceApprove(address(ROUTER), 0);
        IERC20(job.marketParams.loanToken).forceApprove(address(MORPHO), assets);
        uint256 left = job.amountInMaximum - amounts[0];
        if (left > 0) {
            collateral.forceApprove(address(MORPHO), left);
            MORPHO.supplyCollateral(job.marketParams, left, job.owner, "");
        }
    }

    function _job() private view returns (bytes32 h) {
        bytes32 slot = JOB_SLOT;
        assembly {
            h := tload(slot)
        }
    }

    function _setJob(bytes32 h) private {
        bytes32 slot = JOB_SLOT;
        assembly {
            tstore(slot, h)
        }
    }
}
