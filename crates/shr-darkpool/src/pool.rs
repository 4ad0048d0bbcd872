//! `CREDarkPool` on chain: deploy, register the matcher, deposit, request, settle, expire,
//! withdraw. IO only; the decisions are in [`crate::matching`] and [`crate::matcher`].

use alloy::{
    primitives::{Address, Bytes, U256, keccak256},
    sol_types::SolEvent,
};
use shr_chain::{Chain, Receipt};
use shr_contracts::{
    bindings::{CREDarkPool, TestToken},
    deploy::deploy_with,
    send, view,
};
use shr_enclave::{EnclaveIdentity, Sealed, TeePlatform};

use crate::{
    DepositView, ExitTicket, Registration, RequestRef, Result, Settlement, WithdrawalAuth,
};

/// The escape hatch's default delay: a forced withdrawal unserved this many seconds opens it
/// (3 days).
pub const DEFAULT_EXIT_DELAY_SECS: u64 = 3 * 86_400;
/// How long a registration quote stays valid by default, seconds.
pub const REGISTRATION_VALIDITY_SECS: u64 = 3_600;

/// Request status, as `CREDarkPool.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequestStatus {
    /// Unknown id.
    None,
    /// Open.
    Pending,
    /// Some fills, open until the deadline.
    PartiallyFilled,
    /// Done.
    Filled,
    /// Deadline passed; nothing more fills.
    Expired,
    /// Withdrawn by the requester.
    Cancelled,
}

impl From<u8> for RequestStatus {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Pending,
            2 => Self::PartiallyFilled,
            3 => Self::Filled,
            4 => Self::Expired,
            5 => Self::Cancelled,
            _ => Self::None,
        }
    }
}

/// A deployed pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DarkPool {
    /// The pool's address.
    pub address: Address,
    /// Collateral token.
    pub collateral: Address,
    /// Payment token.
    pub payment: Address,
}

impl DarkPool {
    /// Deploys `CREDarkPool` from `admin` (its owner): the matcher `identity`'s platform root
    /// and measurement are the ones it will accept; `genesis` is the empty table's commitment;
    /// the escape hatch opens after [`DEFAULT_EXIT_DELAY_SECS`].
    ///
    /// # Errors
    /// Contract errors.
    pub async fn deploy(
        chain: &dyn Chain,
        admin: Address,
        collateral: Address,
        payment: Address,
        platform_root: Address,
        identity: &EnclaveIdentity,
        genesis: alloy::primitives::B256,
    ) -> Result<Self> {
        let args = CREDarkPool::constructorCall {
            collateral_: collateral,
            payment_: payment,
            platformRoot_: platform_root,
            platformKind_: identity.quote.platform.clone(),
            matcherMeasurement_: identity.quote.measurement.0,
            genesisCommitment: genesis,
            owner_: admin,
            exitDelay_: DEFAULT_EXIT_DELAY_SECS,
        };
        let address = deploy_with(chain, admin, &CREDarkPool::BYTECODE, &args).await?;
        Ok(Self { address, collateral, payment })
    }

    /// Deploys the pool `matcher` serves (its tokens, its measurement, its genesis commitment;
    /// owned by `admin`), binds the matcher to it and registers the matcher's key with a quote
    /// from `platform` bound to this chain and pool.
    ///
    /// # Errors
    /// Deployment errors; `UntrustedPlatform` / `WrongMeasurement` reverts.
    pub async fn deploy_for(
        chain: &dyn Chain,
        admin: Address,
        platform: &dyn TeePlatform,
        matcher: &mut crate::MatcherEnclave,
    ) -> Result<Self> {
        let platform_root = platform.root();
        let (collateral, payment) = matcher.tokens();
        let pool = Self::deploy(
            chain,
            admin,
            collateral,
            payment,
            platform_root,
            matcher.identity(),
            matcher.committed(),
        )
        .await?;
        matcher.bind(pool.address);
        let expiry = chain.timestamp().await? + REGISTRATION_VALIDITY_SECS;
        pool.register_matcher(chain, admin, &matcher.registration(platform, expiry)?).await?;
        Ok(pool)
    }

    /// `registerMatcher` (owner only) with a registration quote.
    ///
    /// # Errors
    /// `OwnableUnauthorizedAccount`, `QuoteExpired`, `UntrustedPlatform`, `WrongMeasurement`.
    pub async fn register_matcher(
        &self,
        chain: &dyn Chain,
        owner: Address,
        r: &Registration,
    ) -> Result<Receipt> {
        let call = CREDarkPool::registerMatcherCall {
            signer: r.signer,
            hpkeKey: r.hpke.0.into(),
            measurement: r.measurement,
            kind: r.kind.clone(),
            expiry: r.expiry,
            quoteSignature: r.signature.clone(),
        };
        Ok(send(chain, owner, self.address, &call).await?)
    }

    /// `revokeMatcher` (owner only).
    ///
    /// # Errors
    /// `OwnableUnauthorizedAccount`, `UnregisteredMatcher`.
    pub async fn revoke_matcher(
        &self,
        chain: &dyn Chain,
        owner: Address,
        signer: Address,
    ) -> Result<Receipt> {
        Ok(send(chain, owner, self.address, &CREDarkPool::revokeMatcherCall { signer }).await?)
    }

    /// `exit` with `party`'s ticket (or none: `amount = depositedSeen = 0`, no signature), once
    /// the hatch is open.
    ///
    /// # Errors
    /// `ExitNotOpen`, `AlreadyExited`, `UnregisteredMatcher`, `BadTicket`.
    pub async fn exit(
        &self,
        chain: &dyn Chain,
        party: Address,
        token: Address,
        ticket: Option<&ExitTicket>,
    ) -> Result<Receipt> {
        let call = CREDarkPool::exitCall {
            token,
            amount: U256::from(ticket.map_or(0, |t| t.amount)),
            depositedSeen: U256::from(ticket.map_or(0, |t| t.deposited_seen)),
            ticketSignature: ticket.map(|t| t.signature.clone()).unwrap_or_default(),
        };
        Ok(send(chain, party, self.address, &call).await?)
    }

    /// `lastProgress`: when a settlement or withdrawal was last accepted.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn last_progress(&self, chain: &dyn Chain) -> Result<u64> {
        Ok(view(chain, self.address, &CREDarkPool::lastProgressCall {}).await?)
    }

    /// The request as the chain holds it, for [`crate::MatcherEnclave::settle`].
    ///
    /// # Errors
    /// Contract errors.
    pub async fn request_ref(&self, chain: &dyn Chain, id: u64) -> Result<RequestRef> {
        let (requester, _, _, order_commitment) = self.request_info(chain, id).await?;
        Ok(RequestRef { id, requester, order_commitment })
    }

    /// Allow-lists `maker` (owner only).
    ///
    /// # Errors
    /// `OwnableUnauthorizedAccount` revert.
    pub async fn set_maker(&self, chain: &dyn Chain, owner: Address, maker: Address) -> Result<()> {
        send(chain, owner, self.address, &CREDarkPool::setMakerCall { maker, allowed: true })
            .await?;
        Ok(())
    }

    /// Approves and deposits `amount` of `token` from `from`, naming the HPKE key its exit
    /// tickets are sealed to.
    ///
    /// # Errors
    /// `NotMaker`, `UnsupportedToken`, `Frozen`, `NoExitKey`, ERC-20 reverts.
    pub async fn deposit(
        &self,
        chain: &dyn Chain,
        from: Address,
        token: Address,
        amount: U256,
        exit_key: &shr_enclave::HpkePublicKey,
    ) -> Result<Receipt> {
        let approve = TestToken::approveCall { spender: self.address, value: amount };
        send(chain, from, token, &approve).await?;
        let call = CREDarkPool::depositCall { token, amount, exitKey: exit_key.0.into() };
        Ok(send(chain, from, self.address, &call).await?)
    }

    /// `requestCollateral` with the sealed order; returns the request id and the receipt.
    ///
    /// # Errors
    /// `BadPremium`, `BadTimeout` reverts.
    pub async fn request(
        &self,
        chain: &dyn Chain,
        from: Address,
        sealed_order: &Sealed,
        premium_bps: u32,
        timeout_secs: u64,
    ) -> Result<(u64, Receipt)> {
        let call = CREDarkPool::requestCollateralCall {
            orderCommitment: keccak256(sealed_order.as_bytes()),
            encryptedOrder: Bytes::from(sealed_order.as_bytes().to_vec()),
            premiumBps: U256::from(premium_bps),
            timeout: timeout_secs,
        };
        let r = send(chain, from, self.address, &call).await?;
        let id = r
            .logs
            .iter()
            .find_map(|l| CREDarkPool::CollateralRequested::decode_log(&l.to_primitive()).ok())
            .map(|e| u64::try_from(e.requestId).unwrap_or(u64::MAX))
            .unwrap_or_default();
        Ok((id, r))
    }

    /// `confidentialFill` with a matcher settlement.
    ///
    /// # Errors
    /// `UnregisteredMatcher`, `Expired`, `NotOpen`, `StaleCommitment`, `BadVersion` reverts.
    pub async fn fill(&self, chain: &dyn Chain, from: Address, s: &Settlement) -> Result<Receipt> {
        let call = CREDarkPool::confidentialFillCall {
            requestId: U256::from(s.request_id),
            settlement: CREDarkPool::Settlement {
                status: s.status,
                oldCommitment: s.old_commitment,
                newCommitment: s.new_commitment,
                version: s.version,
                noticesDigest: s.notices_digest,
            },
            deposits: views(&s.deposits),
            enclaveSignature: s.signature.clone(),
        };
        Ok(send(chain, from, self.address, &call).await?)
    }

    /// `withdraw` with a matcher authorisation, sent by the party `from` for itself.
    ///
    /// # Errors
    /// `UnregisteredMatcher` (a signature for another amount or party), `StaleCommitment`,
    /// `UncoveredDeposit`.
    pub async fn withdraw(
        &self,
        chain: &dyn Chain,
        from: Address,
        token: Address,
        amount: U256,
        auth: &WithdrawalAuth,
    ) -> Result<Receipt> {
        self.withdraw_for(chain, from, from, token, amount, auth).await
    }

    /// `withdraw` for `party`, sent by `relayer` (the funds go to the party).
    ///
    /// # Errors
    /// As [`DarkPool::withdraw`].
    pub async fn withdraw_for(
        &self,
        chain: &dyn Chain,
        relayer: Address,
        party: Address,
        token: Address,
        amount: U256,
        auth: &WithdrawalAuth,
    ) -> Result<Receipt> {
        let call = CREDarkPool::withdrawCall {
            w: CREDarkPool::Withdrawal {
                party,
                token,
                amount,
                oldCommitment: auth.old_commitment,
                newCommitment: auth.new_commitment,
                version: auth.version,
                forced: auth.forced,
            },
            deposits: views(&auth.deposits),
            enclaveSignature: auth.signature.clone(),
        };
        Ok(send(chain, relayer, self.address, &call).await?)
    }

    /// `requestForcedWithdrawal`: `from` asks for its whole balance of `token`.
    ///
    /// # Errors
    /// `NothingDeposited`, `UnsupportedToken`, `Frozen`.
    pub async fn request_forced_withdrawal(
        &self,
        chain: &dyn Chain,
        from: Address,
        token: Address,
    ) -> Result<Receipt> {
        let call = CREDarkPool::requestForcedWithdrawalCall { token };
        Ok(send(chain, from, self.address, &call).await?)
    }

    /// `openExit`: `party`'s forced withdrawal of `token` waited past the exit delay.
    ///
    /// # Errors
    /// `ExitNotOpen`.
    pub async fn open_exit(
        &self,
        chain: &dyn Chain,
        from: Address,
        party: Address,
        token: Address,
    ) -> Result<Receipt> {
        Ok(send(chain, from, self.address, &CREDarkPool::openExitCall { party, token }).await?)
    }

    /// `expire` (anyone, after the deadline).
    ///
    /// # Errors
    /// `NotExpired`, `NotOpen` reverts.
    pub async fn expire(&self, chain: &dyn Chain, from: Address, id: u64) -> Result<Receipt> {
        let call = CREDarkPool::expireCall { requestId: U256::from(id) };
        Ok(send(chain, from, self.address, &call).await?)
    }

    /// `getRequestStatus`.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn status(&self, chain: &dyn Chain, id: u64) -> Result<RequestStatus> {
        let call = CREDarkPool::getRequestStatusCall { requestId: U256::from(id) };
        Ok(RequestStatus::from(view(chain, self.address, &call).await?))
    }

    /// `(requester, deadline unix s, status, orderCommitment)` of request `id`.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn request_info(
        &self,
        chain: &dyn Chain,
        id: u64,
    ) -> Result<(Address, u64, RequestStatus, alloy::primitives::B256)> {
        let r = view(chain, self.address, &CREDarkPool::requestsCall(U256::from(id))).await?;
        Ok((r.requester, r.deadline, RequestStatus::from(r.status), r.orderCommitment))
    }

    /// The id of `requester`'s request whose order commitment is `order_hash`
    /// (`requestOfOrder`: a requester that crashed after sending finds its request however
    /// many requests came after it). `None` when there is none, or it is someone else's.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn find_request(
        &self,
        chain: &dyn Chain,
        requester: Address,
        order_hash: alloy::primitives::B256,
    ) -> Result<Option<u64>> {
        let call = CREDarkPool::requestOfOrderCall(order_hash);
        let id: u64 = view(chain, self.address, &call).await?.saturating_to();
        if id == 0 {
            return Ok(None);
        }
        let (who, _, _, _) = self.request_info(chain, id).await?;
        Ok((who == requester).then_some(id))
    }

    /// `isMatcher(signer)`: whether `signer` is a registered (unrevoked) matcher key.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn is_matcher(&self, chain: &dyn Chain, signer: Address) -> Result<bool> {
        Ok(view(chain, self.address, &CREDarkPool::isMatcherCall(signer)).await?)
    }

    /// `(balanceCommitment, commitmentVersion)`.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn commitment(&self, chain: &dyn Chain) -> Result<(alloy::primitives::B256, u64)> {
        let c = view(chain, self.address, &CREDarkPool::balanceCommitmentCall {}).await?;
        let v = view(chain, self.address, &CREDarkPool::commitmentVersionCall {}).await?;
        Ok((c, v))
    }
}

fn views(d: &[DepositView]) -> Vec<CREDarkPool::DepositView> {
    d.iter()
        .map(|d| CREDarkPool::DepositView {
            party: d.party,
            token: d.token,
            seen: U256::from(d.seen),
        })
        .collect()
}
