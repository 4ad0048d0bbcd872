//! The matcher enclave program (on the simulated TEE of `shr-enclave`).
//!
//! It opens orders and maker commitments sealed (HPKE) to its key, keeps the pool's balance
//! table and its blinding, runs the matching core, and builds the settlement: the new
//! balance-table commitment, one fill notice sealed to each filled maker and one to the
//! requester, and its signature over the digest `CREDarkPool` checks. Nothing in a settlement
//! reveals a size, a price or an allocation. A settlement is *staged* until the chain accepts
//! it ([`MatcherEnclave::confirm`]); a rejected one is dropped ([`MatcherEnclave::abort`]).

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    sol_types::SolValue,
};
use serde::{Deserialize, Serialize};
use shr_enclave::{Enclave, EnclaveIdentity, HpkePublicKey, Sealed, TeePlatform, seal};

use crate::{
    BalanceTable, Error, MakerCommitment, MatchOutcome, MatchStatus, Order, Result, match_order,
    random_blinding,
};

/// The matcher program (its measurement is what `CREDarkPool` expects).
pub const MATCHER_PROGRAM: &str = "shr-darkpool/matcher@0.1.0";
/// HPKE context of orders.
pub const ORDER_INFO: &str = "shr/darkpool/order/v1";
/// HPKE context of maker commitments.
pub const MAKER_INFO: &str = "shr/darkpool/maker/v1";
/// HPKE context of fill notices.
pub const FILL_INFO: &str = "shr/darkpool/fill/v1";

/// What a requester seals to the matcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderBody {
    /// The order.
    pub order: Order,
    /// The requester's pool account (`msg.sender` of `requestCollateral`).
    pub requester: Address,
    /// Where the requester's fill notice is sealed.
    pub reply_to: HpkePublicKey,
}

/// What a maker seals to the matcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakerBody {
    /// The commitment.
    pub commitment: MakerCommitment,
    /// Where the maker's fill notices are sealed.
    pub reply_to: HpkePublicKey,
}

/// A fill notice: a maker learns its own fill only; the requester learns its total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillNotice {
    /// The request.
    pub request_id: u64,
    /// Whose notice.
    pub party: Address,
    /// Collateral moved for this party, base units (sold by a maker, bought by the requester).
    pub collateral: u128,
    /// Payment moved, base units (received by a maker, paid by the requester).
    pub payment: U256,
    /// The request's status after the settlement.
    pub status: MatchStatus,
}

/// A signed settlement for `CREDarkPool.confidentialFill`.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The request.
    pub request_id: u64,
    /// `PARTIALLY_FILLED` (2) or `FILLED` (3), the contract's enum.
    pub status: u8,
    /// Commitment before.
    pub old_commitment: B256,
    /// Commitment after.
    pub new_commitment: B256,
    /// The commitment's new version.
    pub version: u64,
    /// keccak256 over the sealed notices, in order.
    pub notices_digest: B256,
    /// The matcher's signature over [`settlement_digest`].
    pub signature: Bytes,
    /// `(party, notice sealed to it)`, delivered off-chain.
    pub notices: Vec<(Address, Sealed)>,
}

/// A signed withdrawal authorisation for `CREDarkPool.withdraw`.
#[derive(Debug, Clone)]
pub struct WithdrawalAuth {
    /// Commitment before.
    pub old_commitment: B256,
    /// Commitment after.
    pub new_commitment: B256,
    /// The commitment's new version.
    pub version: u64,
    /// The matcher's signature.
    pub signature: Bytes,
}

/// `CREDarkPool.settlementDigest`, computed independently by the enclave.
#[allow(clippy::too_many_arguments)]
pub fn settlement_digest(
    chain_id: u64,
    pool: Address,
    request_id: u64,
    status: u8,
    old: B256,
    new: B256,
    version: u64,
    notices_digest: B256,
) -> B256 {
    let typehash = keccak256("shr/darkpool/settlement/v1");
    keccak256(
        (
            typehash,
            U256::from(chain_id),
            pool,
            U256::from(request_id),
            U256::from(status),
            old,
            new,
            U256::from(version),
            notices_digest,
        )
            .abi_encode(),
    )
}

/// `CREDarkPool.withdrawalDigest`.
#[allow(clippy::too_many_arguments)]
pub fn withdrawal_digest(
    chain_id: u64,
    pool: Address,
    party: Address,
    token: Address,
    amount: u128,
    old: B256,
    new: B256,
    version: u64,
) -> B256 {
    let typehash = keccak256("shr/darkpool/withdrawal/v1");
    keccak256(
        (
            typehash,
            U256::from(chain_id),
            pool,
            party,
            token,
            U256::from(amount),
            old,
            new,
            U256::from(version),
        )
            .abi_encode(),
    )
}

#[derive(Debug, Clone)]
struct State {
    table: BalanceTable,
    makers: Vec<(MakerCommitment, HpkePublicKey)>,
    committed: B256,
    version: u64,
}

/// The matcher enclave (simulated TEE; see `shr-enclave`).
#[derive(Debug)]
pub struct MatcherEnclave {
    enclave: Enclave,
    collateral: Address,
    payment: Address,
    chain_id: u64,
    pool: Option<Address>,
    blinding: B256,
    state: State,
    staged: Option<State>,
}

impl MatcherEnclave {
    /// Launches the matcher on `platform` for a pool trading `collateral` against `payment` on
    /// chain `chain_id`, with an empty table under a fresh blinding.
    ///
    /// # Errors
    /// Enclave errors.
    pub fn launch(
        platform: &dyn TeePlatform,
        collateral: Address,
        payment: Address,
        chain_id: u64,
    ) -> Result<Self> {
        let enclave = Enclave::launch(platform, MATCHER_PROGRAM)?;
        let blinding = random_blinding();
        let table = BalanceTable::default();
        let committed = table.commitment(blinding)?;
        let state = State { table, makers: Vec::new(), committed, version: 0 };
        Ok(Self {
            enclave,
            collateral,
            payment,
            chain_id,
            pool: None,
            blinding,
            state,
            staged: None,
        })
    }

    /// The matcher's public identity (signer, HPKE key, quote).
    pub fn identity(&self) -> &EnclaveIdentity {
        self.enclave.identity()
    }

    /// The pool's tokens: `(collateral, payment)`.
    pub fn tokens(&self) -> (Address, Address) {
        (self.collateral, self.payment)
    }

    /// The commitment the chain holds (genesis before any settlement).
    pub fn committed(&self) -> B256 {
        self.state.committed
    }

    /// Binds the matcher to the deployed pool its signatures name.
    pub fn bind(&mut self, pool: Address) {
        self.pool = Some(pool);
    }

    /// Records a deposit seen on chain (public: an ERC-20 transfer into the pool).
    ///
    /// # Errors
    /// [`Error::UnsupportedToken`]; [`Error::Overflow`].
    pub fn credit_deposit(&mut self, party: Address, token: Address, amount: u128) -> Result<()> {
        if token != self.collateral && token != self.payment {
            return Err(Error::UnsupportedToken(token));
        }
        self.state.table.credit(party, token, amount)
    }

    /// Opens a maker commitment sealed to this enclave and keeps it.
    ///
    /// # Errors
    /// [`Error::Enclave`] when it does not open, [`Error::Body`] when it does not parse.
    pub fn add_maker(&mut self, sealed: &Sealed) -> Result<()> {
        let plain = self.enclave.open(MAKER_INFO, sealed)?;
        let body: MakerBody = serde_json::from_slice(&plain).map_err(Error::Body)?;
        self.state.makers.push((body.commitment, body.reply_to));
        Ok(())
    }

    /// Matches the sealed order of `request_id` at `twap_wad` (payment base units per
    /// collateral base unit, wad) at `now`, and stages the resulting settlement. Makers'
    /// commitments count only up to their collateral in the pool; the requester must hold the
    /// payment. Returns the outcome (inside the enclave) and the settlement to send, `None`
    /// when nothing fills (nothing is revealed then).
    ///
    /// # Errors
    /// [`Error::Unbound`]; opening/parsing errors; [`Error::InvalidOrder`];
    /// [`Error::InsufficientBalance`] when the requester's pre-funded payment is short.
    pub fn settle(
        &mut self,
        request_id: u64,
        sealed_order: &Sealed,
        twap_wad: u128,
        now: u64,
    ) -> Result<(MatchOutcome, Option<Settlement>)> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let plain = self.enclave.open(ORDER_INFO, sealed_order)?;
        let body: OrderBody = serde_json::from_slice(&plain).map_err(Error::Body)?;
        let mut next = self.state.clone();
        let backed: Vec<MakerCommitment> = next
            .makers
            .iter()
            .map(|(m, _)| MakerCommitment {
                size: m.size.min(next.table.balance(m.maker, self.collateral)),
                ..*m
            })
            .collect();
        let outcome = match_order(&body.order, &backed, twap_wad, now)?;
        if outcome.status == MatchStatus::Unfilled {
            return Ok((outcome, None));
        }
        let total_payment =
            u128::try_from(outcome.payment).map_err(|_| Error::Overflow("payment"))?;
        next.table.debit(body.requester, self.payment, total_payment)?;
        next.table.credit(body.requester, self.collateral, outcome.filled)?;
        let mut notices = Vec::new();
        for f in &outcome.fills {
            let pay = u128::try_from(f.payment).map_err(|_| Error::Overflow("payment"))?;
            next.table.debit(f.maker, self.collateral, f.amount)?;
            next.table.credit(f.maker, self.payment, pay)?;
            let (m, key) = next
                .makers
                .iter_mut()
                .find(|(m, _)| m.maker == f.maker)
                .expect("a fill comes from a known maker");
            m.size -= f.amount.min(m.size);
            let notice = FillNotice {
                request_id,
                party: f.maker,
                collateral: f.amount,
                payment: f.payment,
                status: outcome.status,
            };
            notices.push((f.maker, self.seal_notice(key, &notice)?));
        }
        let mine = FillNotice {
            request_id,
            party: body.requester,
            collateral: outcome.filled,
            payment: outcome.payment,
            status: outcome.status,
        };
        notices.push((body.requester, self.seal_notice(&body.reply_to, &mine)?));
        let new = next.table.commitment(self.blinding)?;
        let version = next.version + 1;
        let status = if outcome.status == MatchStatus::Filled { 3 } else { 2 };
        let notices_digest =
            keccak256(notices.iter().flat_map(|(_, s)| s.as_bytes().to_vec()).collect::<Vec<_>>());
        let digest = settlement_digest(
            self.chain_id,
            pool,
            request_id,
            status,
            next.committed,
            new,
            version,
            notices_digest,
        );
        let signature = Bytes::from(self.enclave.sign_digest(&digest)?.as_bytes().to_vec());
        let s = Settlement {
            request_id,
            status,
            old_commitment: next.committed,
            new_commitment: new,
            version,
            notices_digest,
            signature,
            notices,
        };
        next.committed = new;
        next.version = version;
        self.staged = Some(next);
        Ok((outcome, Some(s)))
    }

    /// Authorises `party` to withdraw `amount` of `token`, staging the table without it.
    ///
    /// # Errors
    /// [`Error::Unbound`], [`Error::UnsupportedToken`], and [`Error::InsufficientBalance`]
    /// beyond the party's private balance (nothing is signed then).
    pub fn authorize_withdrawal(
        &mut self,
        party: Address,
        token: Address,
        amount: u128,
    ) -> Result<WithdrawalAuth> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        if token != self.collateral && token != self.payment {
            return Err(Error::UnsupportedToken(token));
        }
        let mut next = self.state.clone();
        next.table.debit(party, token, amount)?;
        let new = next.table.commitment(self.blinding)?;
        let version = next.version + 1;
        let digest = withdrawal_digest(
            self.chain_id,
            pool,
            party,
            token,
            amount,
            next.committed,
            new,
            version,
        );
        let signature = Bytes::from(self.enclave.sign_digest(&digest)?.as_bytes().to_vec());
        let auth = WithdrawalAuth {
            old_commitment: next.committed,
            new_commitment: new,
            version,
            signature,
        };
        next.committed = new;
        next.version = version;
        self.staged = Some(next);
        Ok(auth)
    }

    /// The chain accepted the staged settlement or withdrawal: make it current.
    ///
    /// # Errors
    /// [`Error::NothingStaged`].
    pub fn confirm(&mut self) -> Result<()> {
        self.state = self.staged.take().ok_or(Error::NothingStaged)?;
        Ok(())
    }

    /// The chain refused the staged change: drop it (the table is as before).
    pub fn abort(&mut self) {
        self.staged = None;
    }

    /// A party's private balance (inside the enclave; for the operator view and tests).
    pub fn balance(&self, party: Address, token: Address) -> u128 {
        self.state.table.balance(party, token)
    }

    fn seal_notice(&self, to: &HpkePublicKey, notice: &FillNotice) -> Result<Sealed> {
        let json = serde_json::to_vec(notice).map_err(Error::Body)?;
        Ok(seal(to, FILL_INFO, &json)?)
    }
}

/// Seals `body` to the matcher (what a requester does before `requestCollateral`).
///
/// # Errors
/// Sealing errors.
pub fn seal_order(matcher: &HpkePublicKey, body: &OrderBody) -> Result<Sealed> {
    let json = serde_json::to_vec(body).map_err(Error::Body)?;
    Ok(seal(matcher, ORDER_INFO, &json)?)
}

/// Seals a maker's commitment to the matcher.
///
/// # Errors
/// Sealing errors.
pub fn seal_maker(matcher: &HpkePublicKey, body: &MakerBody) -> Result<Sealed> {
    let json = serde_json::to_vec(body).map_err(Error::Body)?;
    Ok(seal(matcher, MAKER_INFO, &json)?)
}

/// Opens a fill notice with the recipient's key.
///
/// # Errors
/// [`Error::Enclave`] when it is not for this key; [`Error::Body`].
pub fn open_notice(key: &Enclave, sealed: &Sealed) -> Result<FillNotice> {
    let plain = key.open(FILL_INFO, sealed)?;
    serde_json::from_slice(&plain).map_err(Error::Body)
}
