// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title CREDarkPool
/// @notice A confidential dark pool for collateral. Allow-listed market makers deposit collateral;
///         a requester pre-funds its payment asset, then asks for collateral with an order sealed
///         to the matcher enclave. The matcher (a TEE whose key is registered here with a quote
///         naming the expected code measurement) matches the order against the makers' sealed
///         commitments and settles by replacing the commitment to the pool's balance table.
///         Per-party balances live only in that table (a Poseidon/bn254 commitment with blinding,
///         so a Groth16 proof can later open it); they become public only when a party
///         withdraws. Events carry ids, statuses and versions, never sizes or prices.
/// @dev Hardened (docs/SECURITY.md): only the owner registers matcher keys, with a quote bound to
///      this chain, this pool and an expiry, and can revoke them; a settlement is bound to its
///      request's requester and order commitment, and an order hash is used by one request only;
///      deposits are counted on chain per party (`depositedTotal`) and every transition carries
///      the enclave's view of them, refused when it exceeds the chain's (a host cannot credit
///      deposits nobody made); a party can force its withdrawal, and if one is not served within
///      `exitDelay` seconds the pool freezes and each party leaves with its exit ticket (a
///      matcher-signed balance bound to the frozen commitment) plus its deposits since.
contract CREDarkPool is Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Request lifecycle.
    enum Status {
        NONE,
        PENDING,
        PARTIALLY_FILLED,
        FILLED,
        EXPIRED,
        CANCELLED
    }

    struct Request {
        address requester;
        uint64 deadline;
        uint16 premiumBps;
        Status status;
        bytes32 orderCommitment;
    }

    /// @notice A settlement the matcher enclave signs.
    struct Settlement {
        /// PARTIALLY_FILLED or FILLED.
        Status status;
        /// The balance-table commitment the match started from.
        bytes32 oldCommitment;
        /// The balance-table commitment after the fills.
        bytes32 newCommitment;
        /// `commitmentVersion + 1`.
        uint64 version;
        /// keccak256 of the fill notices sealed to each maker and the requester (off-chain).
        bytes32 noticesDigest;
    }

    /// @notice The enclave's count of one party's deposits of one token (`seen` <= the chain's
    ///         `depositedTotal`, checked on every transition).
    struct DepositView {
        address party;
        address token;
        uint256 seen;
    }

    bytes32 public constant SETTLEMENT_TYPEHASH = keccak256("shr/darkpool/settlement/v1");
    bytes32 public constant WITHDRAWAL_TYPEHASH = keccak256("shr/darkpool/withdrawal/v1");
    bytes32 public constant EXIT_TYPEHASH = keccak256("shr/darkpool/exit/v1");
    bytes32 public constant REGISTRATION_TYPEHASH = keccak256("shr/darkpool/matcher/v1");
    /// @notice The shortest escape-hatch delay a pool may be deployed with, seconds.
    uint64 public constant MIN_EXIT_DELAY = 1 days;

    /// @notice The collateral makers sell (wBTC).
    IERC20 public immutable collateral;
    /// @notice The asset requesters pay with (WETH, USDC).
    IERC20 public immutable payment;
    /// @notice The TEE platform's root key, which signs quotes.
    address public immutable platformRoot;
    /// @notice keccak256 of the platform kind carried in quotes ("simulated" here).
    bytes32 public immutable platformKind;
    /// @notice The matcher program's code measurement a registered key must be quoted with.
    bytes32 public immutable matcherMeasurement;
    /// @notice Seconds a forced withdrawal may stay unserved before the escape hatch opens.
    uint64 public immutable exitDelay;

    /// @notice Allow-listed makers.
    mapping(address => bool) public isMaker;
    /// @notice Registered matcher-enclave signing keys.
    mapping(address => bool) public isMatcher;
    /// @notice Requests by id (ids start at 1).
    mapping(uint256 => Request) public requests;
    /// @notice Number of requests made.
    uint256 public requestCount;
    /// @notice Commitment to the balance table (Poseidon over bn254, blinded).
    bytes32 public balanceCommitment;
    /// @notice Version of `balanceCommitment`, +1 per settlement or withdrawal.
    uint64 public commitmentVersion;
    /// @notice When a settlement or withdrawal was last accepted (deployment before any).
    uint64 public lastProgress;
    /// @notice Set when the escape hatch opens: the pool is frozen at `commitmentVersion`.
    bool public exitMode;
    /// @notice When a party asked for its whole balance of a token (0: no open request).
    mapping(address => mapping(address => uint64)) public forcedAt;
    /// @notice The request that used an order commitment (0: unused). A requester that crashed
    ///         after sending finds its request here, whatever came after it.
    mapping(bytes32 => uint256) public requestOfOrder;
    /// @dev A party's deposits of a token: the cumulative total (public: ERC-20 transfers) and
    ///      whether a landed transition counted some of them (one slot: the flag costs no cold
    ///      write on top of the total's read).
    struct DepositRecord {
        uint248 total;
        bool counted;
    }

    mapping(address => mapping(address => DepositRecord)) private _deposits;
    /// @notice Whether a party has exited a token.
    mapping(address => mapping(address => bool)) public exited;

    event MakerSet(address indexed maker, bool allowed);
    event MatcherRegistered(address indexed signer, bytes32 hpkeKey);
    event MatcherRevoked(address indexed signer);
    /// @notice `amount` and `total` are public anyway: the ERC-20 `Transfer` carries the amount.
    /// @notice `exitKey`: the party's HPKE key for its sealed exit tickets (public key).
    event Deposited(address indexed party, address indexed token, uint256 amount, uint256 total, bytes32 exitKey);
    event ForcedWithdrawalRequested(address indexed party, address indexed token);
    event ExitOpened(uint64 version);
    event Exited(address indexed party, address indexed token);
    event Withdrawn(address indexed party, address indexed token);
    event CollateralRequested(uint256 indexed requestId, address indexed requester);
    event RequestStatusChanged(uint256 indexed requestId, Status status);
    event CommitmentUpdated(uint64 indexed version, bytes32 commitment);

    error NotMaker(address account);
    error UnsupportedToken(address token);
    error ZeroAmount();
    error UntrustedPlatform(address signer);
    error WrongMeasurement(bytes32 found);
    error UnregisteredMatcher(address signer);
    error UnknownRequest(uint256 requestId);
    error NotOpen(uint256 requestId, Status status);
    error Expired(uint256 requestId, uint64 deadline);
    error NotExpired(uint256 requestId, uint64 deadline);
    error NotRequester(address account);
    error StaleCommitment(bytes32 expected, bytes32 found);
    error BadVersion(uint64 expected, uint64 found);
    error BadStatus(Status status);
    error BadTimeout(uint64 timeout);
    error BadPremium(uint256 premiumBps);
    error QuoteExpired(uint64 expiry);
    error OrderReused(bytes32 orderCommitment);
    error Frozen();
    error ExitNotOpen(uint64 opensAt);
    error UncoveredDeposit(address party, address token);
    error NothingDeposited(address party);
    error NotForced(address party);
    error NoExitKey();
    error AlreadyExited(address party, address token);
    error BadTicket(uint256 depositedSeen, uint256 depositedTotal);
    error BadExitDelay(uint64 exitDelay);

    /// @param collateral_ Collateral token.
    /// @param payment_ Payment token.
    /// @param platformRoot_ The TEE platform's quote-signing root.
    /// @param platformKind_ The platform kind string carried in quotes.
    /// @param matcherMeasurement_ The matcher program's measurement.
    /// @param genesisCommitment The commitment to the empty balance table.
    /// @param owner_ Manages the maker allow-list and the matcher keys.
    /// @param exitDelay_ How long a forced withdrawal may stay unserved, seconds (>= `MIN_EXIT_DELAY`).
    constructor(
        IERC20 collateral_,
        IERC20 payment_,
        address platformRoot_,
        string memory platformKind_,
        bytes32 matcherMeasurement_,
        bytes32 genesisCommitment,
        address owner_,
        uint64 exitDelay_
    ) Ownable(owner_) {
        if (exitDelay_ < MIN_EXIT_DELAY) revert BadExitDelay(exitDelay_);
        collateral = collateral_;
        payment = payment_;
        platformRoot = platformRoot_;
        platformKind = keccak256(bytes(platformKind_));
        matcherMeasurement = matcherMeasurement_;
        balanceCommitment = genesisCommitment;
        exitDelay = exitDelay_;
        lastProgress = uint64(block.timestamp);
    }

    /// @notice Adds or removes a maker. Owner only.
    function setMaker(address maker, bool allowed) external onlyOwner {
        isMaker[maker] = allowed;
        emit MakerSet(maker, allowed);
    }

    /// @notice The report data a registration quote must carry for `signer` and `hpkeKey`:
    ///         `keccak256(abi.encode(REGISTRATION_TYPEHASH, signer, hpkeKey, chainid, pool, expiry))`.
    function registrationReportData(address signer, bytes32 hpkeKey, uint64 expiry) public view returns (bytes32) {
        return keccak256(abi.encode(REGISTRATION_TYPEHASH, signer, hpkeKey, block.chainid, address(this), expiry));
    }

    /// @notice Registers a matcher-enclave key. Owner only: the platform root's quote signature
    ///         over `keccak256(kind ‖ measurement ‖ registrationReportData(signer, hpkeKey, expiry))`
    ///         must verify, name `matcherMeasurement`, and not be past `expiry`. The report data
    ///         binds the quote to this chain and this pool, so a quote cannot be replayed elsewhere.
    function registerMatcher(
        address signer,
        bytes32 hpkeKey,
        bytes32 measurement,
        string calldata kind,
        uint64 expiry,
        bytes calldata quoteSignature
    ) external onlyOwner {
        if (block.timestamp > expiry) revert QuoteExpired(expiry);
        if (keccak256(bytes(kind)) != platformKind) revert UntrustedPlatform(address(0));
        bytes32 digest = keccak256(abi.encodePacked(kind, measurement, registrationReportData(signer, hpkeKey, expiry)));
        address root = ECDSA.recover(digest, quoteSignature);
        if (root != platformRoot) revert UntrustedPlatform(root);
        if (measurement != matcherMeasurement) revert WrongMeasurement(measurement);
        isMatcher[signer] = true;
        emit MatcherRegistered(signer, hpkeKey);
    }

    /// @notice Revokes a matcher key (a compromised or retired enclave). Owner only.
    function revokeMatcher(address signer) external onlyOwner {
        if (!isMatcher[signer]) revert UnregisteredMatcher(signer);
        isMatcher[signer] = false;
        emit MatcherRevoked(signer);
    }

    /// @notice Deposits `amount` of `token` into the pool under the caller's balance. Collateral
    ///         only from makers; the payment asset from anyone (requesters pre-fund). The amount
    ///         is public (it is an ERC-20 transfer); what happens to it next is not.
    /// @param exitKey The depositor's HPKE public key its exit tickets are sealed to (required:
    ///        without it a party whose deposits were counted could not leave by the hatch).
    function deposit(IERC20 token, uint256 amount, bytes32 exitKey) external nonReentrant {
        if (exitMode) revert Frozen();
        if (amount == 0) revert ZeroAmount();
        if (exitKey == bytes32(0)) revert NoExitKey();
        if (token == collateral) {
            if (!isMaker[msg.sender]) revert NotMaker(msg.sender);
        } else if (token != payment) {
            revert UnsupportedToken(address(token));
        }
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        DepositRecord storage rec = _deposits[msg.sender][address(token)];
        uint256 total = uint256(rec.total) + received;
        rec.total = uint248(total);
        emit Deposited(msg.sender, address(token), received, total, exitKey);
    }

    /// @notice Asks for collateral. Moves no tokens: the payment was pre-funded.
    ///         An order commitment is usable once: replaying a public `encryptedOrder` under a
    ///         new request is refused.
    /// @param orderCommitment Commitment to the order (hash of the sealed order).
    /// @param encryptedOrder The order sealed (HPKE) to the matcher enclave; opaque here.
    /// @param premiumBps The premium over the oracle TWAP the requester accepts, bps (<= 10,000).
    /// @param timeout Seconds until the request can be expired (1 .. 30 days).
    /// @return requestId The new request's id.
    function requestCollateral(bytes32 orderCommitment, bytes calldata encryptedOrder, uint256 premiumBps, uint64 timeout)
        external
        returns (uint256 requestId)
    {
        if (exitMode) revert Frozen();
        if (premiumBps > 10_000) revert BadPremium(premiumBps);
        if (timeout == 0 || timeout > 30 days) revert BadTimeout(timeout);
        if (keccak256(encryptedOrder) != orderCommitment) revert StaleCommitment(orderCommitment, keccak256(encryptedOrder));
        if (requestOfOrder[orderCommitment] != 0) revert OrderReused(orderCommitment);
        requestId = ++requestCount;
        requestOfOrder[orderCommitment] = requestId;
        requests[requestId] = Request({
            requester: msg.sender,
            deadline: uint64(block.timestamp) + timeout,
            premiumBps: uint16(premiumBps),
            status: Status.PENDING,
            orderCommitment: orderCommitment
        });
        emit CollateralRequested(requestId, msg.sender);
        emit RequestStatusChanged(requestId, Status.PENDING);
    }

    /// @notice The digest the matcher enclave signs for `s` on `requestId`: it binds the
    ///         request's requester and order commitment, so a settlement can only spend the
    ///         balance of the party that made the request, for the order it committed to.
    function settlementDigest(uint256 requestId, Settlement calldata s, DepositView[] calldata deposits)
        public
        view
        returns (bytes32)
    {
        Request storage r = requests[requestId];
        return keccak256(
            abi.encode(
                SETTLEMENT_TYPEHASH,
                block.chainid,
                address(this),
                requestId,
                r.requester,
                r.orderCommitment,
                s.status,
                s.oldCommitment,
                s.newCommitment,
                s.version,
                s.noticesDigest,
                depositsDigest(deposits)
            )
        );
    }

    /// @notice `h_0 = 0`, `h_{i+1} = keccak256(abi.encode(h_i, party_i, token_i, seen_i))`.
    function depositsDigest(DepositView[] calldata deposits) public pure returns (bytes32 h) {
        for (uint256 i = 0; i < deposits.length; i++) {
            h = keccak256(abi.encode(h, deposits[i].party, deposits[i].token, deposits[i].seen));
        }
    }

    /// @notice Settles fills on `requestId`: accepted only when signed by a registered matcher
    ///         key, before the deadline, on the current commitment and the next version, with
    ///         the enclave's deposit counts (`deposits`) within the chain's.
    function confidentialFill(
        uint256 requestId,
        Settlement calldata settlement,
        DepositView[] calldata deposits,
        bytes calldata enclaveSignature
    ) external nonReentrant {
        Request storage r = requests[requestId];
        if (r.status == Status.NONE) revert UnknownRequest(requestId);
        if (r.status != Status.PENDING && r.status != Status.PARTIALLY_FILLED) revert NotOpen(requestId, r.status);
        if (block.timestamp > r.deadline) revert Expired(requestId, r.deadline);
        if (settlement.status != Status.PARTIALLY_FILLED && settlement.status != Status.FILLED) {
            revert BadStatus(settlement.status);
        }
        address signer = ECDSA.recover(settlementDigest(requestId, settlement, deposits), enclaveSignature);
        if (!isMatcher[signer]) revert UnregisteredMatcher(signer);
        _checkDeposits(deposits);
        _advance(settlement.oldCommitment, settlement.newCommitment, settlement.version);
        r.status = settlement.status;
        emit RequestStatusChanged(requestId, settlement.status);
    }

    /// @notice A withdrawal the matcher enclave authorises: `forced` when it is the party's whole
    ///         balance, signed to serve a forced withdrawal (the enclave signs that flag for the
    ///         whole balance only, so a host cannot serve a forced request with a token amount).
    struct Withdrawal {
        address party;
        IERC20 token;
        uint256 amount;
        bytes32 oldCommitment;
        bytes32 newCommitment;
        uint64 version;
        bool forced;
    }

    /// @notice The digest the matcher enclave signs to authorise a withdrawal.
    function withdrawalDigest(Withdrawal calldata w, DepositView[] calldata deposits) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                WITHDRAWAL_TYPEHASH,
                block.chainid,
                address(this),
                w.party,
                w.token,
                w.amount,
                w.oldCommitment,
                w.newCommitment,
                w.version,
                w.forced,
                depositsDigest(deposits)
            )
        );
    }

    /// @notice Withdraws `w.amount` of `w.token` to `w.party` (anyone may submit it: the matcher
    ///         enclave signs only within the party's private balance, and the funds go to the
    ///         party). The commitment moves to the table without it. This is where an amount
    ///         becomes public. A `forced` withdrawal (the whole balance, possibly zero) serves
    ///         the party's open forced request, and only it does.
    function withdraw(Withdrawal calldata w, DepositView[] calldata deposits, bytes calldata enclaveSignature)
        external
        nonReentrant
    {
        if (w.forced) {
            if (forcedAt[w.party][address(w.token)] == 0) revert NotForced(w.party);
        } else if (w.amount == 0) {
            revert ZeroAmount();
        }
        if (w.token != collateral && w.token != payment) revert UnsupportedToken(address(w.token));
        address signer = ECDSA.recover(withdrawalDigest(w, deposits), enclaveSignature);
        if (!isMatcher[signer]) revert UnregisteredMatcher(signer);
        _checkDeposits(deposits);
        _advance(w.oldCommitment, w.newCommitment, w.version);
        if (w.forced) forcedAt[w.party][address(w.token)] = 0;
        if (w.amount > 0) w.token.safeTransfer(w.party, w.amount);
        emit Withdrawn(w.party, address(w.token));
    }

    /// @notice Asks the matcher for the caller's whole balance of `token`. If no withdrawal of
    ///         it is accepted within `exitDelay` seconds, anyone may open the escape hatch
    ///         (`openExit`). A live matcher serves it (possibly with a zero amount).
    function requestForcedWithdrawal(IERC20 token) external {
        if (exitMode) revert Frozen();
        if (token != collateral && token != payment) revert UnsupportedToken(address(token));
        if (depositedTotal(msg.sender, collateral) == 0 && depositedTotal(msg.sender, payment) == 0) {
            revert NothingDeposited(msg.sender);
        }
        if (forcedAt[msg.sender][address(token)] == 0) {
            forcedAt[msg.sender][address(token)] = uint64(block.timestamp);
            emit ForcedWithdrawalRequested(msg.sender, address(token));
        }
    }

    /// @notice Ends an open request after its deadline: EXPIRED; the requester's pre-funded
    ///         payment, never moved by an unfilled request, stays withdrawable. Anyone may call.
    function expire(uint256 requestId) external {
        Request storage r = requests[requestId];
        if (r.status == Status.NONE) revert UnknownRequest(requestId);
        if (r.status != Status.PENDING && r.status != Status.PARTIALLY_FILLED) revert NotOpen(requestId, r.status);
        if (block.timestamp <= r.deadline) revert NotExpired(requestId, r.deadline);
        r.status = Status.EXPIRED;
        emit RequestStatusChanged(requestId, Status.EXPIRED);
    }

    /// @notice Cancels a pending request. Requester only.
    function cancel(uint256 requestId) external {
        Request storage r = requests[requestId];
        if (r.status == Status.NONE) revert UnknownRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(msg.sender);
        if (r.status != Status.PENDING) revert NotOpen(requestId, r.status);
        r.status = Status.CANCELLED;
        emit RequestStatusChanged(requestId, Status.CANCELLED);
    }

    /// @notice Cumulative deposits of `party` in `token`, base units.
    function depositedTotal(address party, IERC20 token) public view returns (uint256) {
        return _deposits[party][address(token)].total;
    }

    /// @notice Whether a landed transition has counted some of `party`'s deposits of `token`
    ///         (then the table may hold them; otherwise they leave ticketless through `exit`).
    function counted(address party, IERC20 token) public view returns (bool) {
        return _deposits[party][address(token)].counted;
    }

    /// @notice The status of `requestId` (NONE for an unknown id).
    function getRequestStatus(uint256 requestId) external view returns (Status) {
        return requests[requestId].status;
    }

    /// @notice The digest the matcher enclave signs in an exit ticket: `party` holds `amount` of
    ///         `token` in the table committed to by `commitment` (version `version`), having had
    ///         `depositedSeen` of its deposits counted.
    function exitDigest(
        address party,
        IERC20 token,
        uint256 amount,
        uint256 depositedSeen,
        uint64 version,
        bytes32 commitment
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                EXIT_TYPEHASH, block.chainid, address(this), party, token, amount, depositedSeen, version, commitment
            )
        );
    }

    /// @notice Opens the escape hatch: `party`'s forced withdrawal of `token` has waited more
    ///         than `exitDelay` seconds. Anyone may call. The pool freezes at the current
    ///         commitment for good.
    function openExit(address party, IERC20 token) public {
        uint64 at = forcedAt[party][address(token)];
        if (at == 0 || block.timestamp <= at + exitDelay) revert ExitNotOpen(at == 0 ? type(uint64).max : at + exitDelay);
        if (!exitMode) {
            exitMode = true;
            emit ExitOpened(commitmentVersion);
        }
    }

    /// @notice The escape hatch, once open (`openExit`): each party withdraws, once per token,
    ///         the balance of its exit ticket for the frozen commitment (signed by a registered
    ///         matcher key, sealed to the party off-chain) plus the deposits the ticket had not
    ///         counted. A party none of whose deposits of `token` a landed transition counted
    ///         (the table cannot hold them) leaves with its deposits and no ticket
    ///         (`amount = depositedSeen = 0`, empty signature). What it reveals: each exiting
    ///         party's balance at the frozen version, as a withdrawal would.
    function exit(IERC20 token, uint256 amount, uint256 depositedSeen, bytes calldata ticketSignature)
        external
        nonReentrant
    {
        if (!exitMode) revert ExitNotOpen(type(uint64).max);
        if (token != collateral && token != payment) revert UnsupportedToken(address(token));
        if (exited[msg.sender][address(token)]) revert AlreadyExited(msg.sender, address(token));
        uint256 total = depositedTotal(msg.sender, token);
        if (ticketSignature.length == 0) {
            if (amount != 0 || depositedSeen != 0 || counted(msg.sender, token)) {
                revert UnregisteredMatcher(address(0));
            }
        } else {
            bytes32 digest = exitDigest(msg.sender, token, amount, depositedSeen, commitmentVersion, balanceCommitment);
            address signer = ECDSA.recover(digest, ticketSignature);
            if (!isMatcher[signer]) revert UnregisteredMatcher(signer);
        }
        if (depositedSeen > total) revert BadTicket(depositedSeen, total);
        exited[msg.sender][address(token)] = true;
        uint256 payout = amount + (total - depositedSeen);
        if (payout > 0) token.safeTransfer(msg.sender, payout);
        emit Exited(msg.sender, address(token));
    }

    /// @dev A transition carries the deposit counts that changed since the transition it builds
    ///      on (the enclave checks every count once, when it first enters the table).
    function _checkDeposits(DepositView[] calldata deposits) private {
        for (uint256 i = 0; i < deposits.length; i++) {
            DepositView calldata d = deposits[i];
            DepositRecord storage rec = _deposits[d.party][d.token];
            if (d.seen > rec.total) revert UncoveredDeposit(d.party, d.token);
            if (d.seen > 0 && !rec.counted) rec.counted = true;
        }
    }

    function _advance(bytes32 oldCommitment, bytes32 newCommitment, uint64 version) private {
        if (exitMode) revert Frozen();
        if (oldCommitment != balanceCommitment) revert StaleCommitment(balanceCommitment, oldCommitment);
        if (version != commitmentVersion + 1) revert BadVersion(commitmentVersion + 1, version);
        balanceCommitment = newCommitment;
        commitmentVersion = version;
        lastProgress = uint64(block.timestamp);
        emit CommitmentUpdated(version, newCommitment);
    }
}
