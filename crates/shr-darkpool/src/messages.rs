//! What crosses the matcher enclave's boundary: the sealed bodies (orders, maker commitments,
//! fill notices, exit tickets), the signed settlement and withdrawal authorisations, and the
//! digests `CREDarkPool` checks, computed independently of the contract.

use alloy::{
    primitives::{Address, B256, Bytes, Signature, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolValue,
};
use serde::{Deserialize, Serialize};
use shr_enclave::{Enclave, HpkePublicKey, Sealed, TeePlatform, seal_sized};

use crate::{Error, MakerCommitment, MatchStatus, Order, Result};

/// The matcher program (its measurement is what `CREDarkPool` expects).
pub const MATCHER_PROGRAM: &str = "shr-darkpool/matcher@0.2.0";
/// HPKE context of orders.
pub const ORDER_INFO: &str = "shr/darkpool/order/v1";
/// HPKE context of maker commitments.
pub const MAKER_INFO: &str = "shr/darkpool/maker/v1";
/// HPKE context of fill notices.
pub const FILL_INFO: &str = "shr/darkpool/fill/v1";
/// HPKE context of exit tickets.
pub const EXIT_INFO: &str = "shr/darkpool/exit/v1";

/// The sealed size of each message kind, bytes (plaintext with its length prefix): every order,
/// maker commitment, fill notice or exit ticket has one ciphertext length
/// (`size + shr_enclave::SEAL_OVERHEAD`), so a length tells nothing of the amounts inside.
pub const SEALED_SIZES: [(&str, usize); 4] =
    [(ORDER_INFO, 1_024), (MAKER_INFO, 1_024), (FILL_INFO, 512), (EXIT_INFO, 1_024)];

/// Seals `value` (JSON) to `to` at its kind's size ([`SEALED_SIZES`]).
///
/// # Errors
/// [`Error::Body`]; sealing errors (a message beyond its size).
pub(crate) fn seal_kind<T: Serialize>(to: &HpkePublicKey, info: &str, value: &T) -> Result<Sealed> {
    let json = serde_json::to_vec(value).map_err(Error::Body)?;
    let size = SEALED_SIZES.iter().find(|(i, _)| *i == info).map_or(4_096, |(_, s)| *s);
    Ok(seal_sized(to, info, &json, size)?)
}

/// What a requester seals to the matcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderBody {
    /// The order.
    pub order: Order,
    /// The requester's pool account (`msg.sender` of `requestCollateral`); the matcher refuses
    /// an order whose request was made by anyone else.
    pub requester: Address,
    /// Where the requester's fill notice is sealed.
    pub reply_to: HpkePublicKey,
    /// The requester's mailbox secret: its notice is stored under
    /// [`mailbox_key`]`(mailbox, request id)`, a key no one else can link to it.
    pub mailbox: B256,
    /// The salt of the order's Poseidon commitment (the request's `orderHash`).
    pub salt: B256,
}

impl OrderBody {
    /// The opening of the order's Poseidon commitment.
    ///
    /// # Errors
    /// [`Error::InvalidOrder`] for a size or minimum fill beyond 64 bits.
    pub fn opening(&self) -> Result<shr_zk::OrderOpening> {
        let u64_of = |field: &'static str, v: u128| {
            u64::try_from(v)
                .map_err(|_| Error::InvalidOrder { field, value: "beyond 64 bits".into() })
        };
        Ok(shr_zk::OrderOpening {
            size: u64_of("size", self.order.size)?,
            min_price_wad: self.order.min_price_wad,
            max_price_wad: self.order.max_price_wad,
            min_fill: u64_of("min_fill", self.order.min_fill)?,
            salt: self.salt,
        })
    }

    /// The order's Poseidon commitment (`requestCollateral`'s `orderHash`).
    ///
    /// # Errors
    /// As [`OrderBody::opening`]; [`Error::Zk`].
    pub fn order_hash(&self) -> Result<B256> {
        Ok(self.opening()?.commitment()?)
    }
}

/// What a maker seals to the matcher: its commitment, signed with the maker account's key so
/// that no host can commit a maker's inventory on its behalf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakerBody {
    /// The commitment.
    pub commitment: MakerCommitment,
    /// Where the maker's fill notices and exit tickets are sealed.
    pub reply_to: HpkePublicKey,
    /// The maker's mailbox secret (see [`OrderBody::mailbox`]).
    pub mailbox: B256,
    /// The maker account's signature over [`maker_digest`].
    pub signature: Bytes,
}

impl MakerBody {
    /// The body of `commitment` for the pool at `pool` on chain `chain_id`, signed by `maker`
    /// (whose address must be `commitment.maker`).
    ///
    /// # Errors
    /// [`Error::Enclave`] when the key cannot sign.
    pub fn signed(
        commitment: MakerCommitment,
        (reply_to, mailbox): (HpkePublicKey, B256),
        maker: &PrivateKeySigner,
        (chain_id, pool): (u64, Address),
    ) -> Result<Self> {
        let digest = maker_digest(chain_id, pool, &commitment, &reply_to);
        let sig = maker
            .sign_hash_sync(&digest)
            .map_err(|e| Error::Enclave(shr_enclave::Error::Sign(e)))?;
        Ok(Self { commitment, reply_to, mailbox, signature: Bytes::from(sig.as_bytes().to_vec()) })
    }

    /// [`MakerBody::signed`] with the notice key and mailbox secret of the maker's `wallet`
    /// (its key store).
    ///
    /// # Errors
    /// As [`MakerBody::signed`].
    pub fn from_wallet(
        commitment: MakerCommitment,
        wallet: &Enclave,
        maker: &PrivateKeySigner,
        target: (u64, Address),
    ) -> Result<Self> {
        let keys = (wallet.identity().hpke, mailbox_secret(wallet)?);
        Self::signed(commitment, keys, maker, target)
    }

    /// Whether the signature is `commitment.maker`'s over this body for `pool` on `chain_id`.
    pub fn verify(&self, chain_id: u64, pool: Address) -> bool {
        let digest = maker_digest(chain_id, pool, &self.commitment, &self.reply_to);
        Signature::try_from(self.signature.as_ref())
            .ok()
            .and_then(|s| s.recover_address_from_prehash(&digest).ok())
            == Some(self.commitment.maker)
    }
}

/// What a maker signs: `keccak256(abi.encode(typehash, chainid, pool, maker, size, minFill,
/// spreadBps, expiry, replyTo))`.
pub fn maker_digest(
    chain_id: u64,
    pool: Address,
    c: &MakerCommitment,
    reply_to: &HpkePublicKey,
) -> B256 {
    keccak256(
        (
            typehash("shr/darkpool/maker/v1"),
            U256::from(chain_id),
            pool,
            c.maker,
            U256::from(c.size),
            U256::from(c.min_fill),
            U256::from(c.spread_bps),
            U256::from(c.expiry),
            B256::from(reply_to.0),
        )
            .abi_encode(),
    )
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

/// A party's exit ticket: the opening of its leaf in the balance tree at one root, sealed to it.
/// With it the party proves its own balance to `CREDarkPool.exit` once the escape hatch opens
/// (no matcher signature: the proof is checked against the frozen root), and the treasury's
/// ticket lets the oracle count its collateral in the pool against the on-chain root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitTicket {
    /// The party's slot in the tree.
    pub slot: usize,
    /// The party's leaf (party, balances, blinding).
    pub leaf: shr_zk::Leaf,
    /// The slot's Merkle path, leaf level first.
    pub siblings: Vec<B256>,
    /// The root version the ticket is for.
    pub version: u64,
    /// The root the ticket opens against.
    pub commitment: B256,
}

impl ExitTicket {
    /// The party.
    pub fn party(&self) -> Address {
        self.leaf.party
    }

    /// Whether the opening leads to `root` (the check the oracle and the exit proof make).
    pub fn opens_to(&self, root: B256) -> bool {
        shr_zk::root_of(&self.leaf, self.slot, &self.siblings).is_ok_and(|r| r == root)
    }
}

/// The request a settlement is for, as the chain holds it (`CREDarkPool.requests(id)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRef {
    /// The request id.
    pub id: u64,
    /// Who made it.
    pub requester: Address,
    /// `keccak256(encryptedOrder)`.
    pub order_commitment: B256,
    /// The Poseidon commitment to the order's terms the fill proof opens.
    pub order_hash: B256,
    /// The premium the request accepts, bps (a public input of the fill proof).
    pub premium_bps: u32,
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
    /// The TWAP the prices were set from, wad (a public input of the proof).
    pub twap_wad: u128,
    /// The Groth16 proof of the fill circuit.
    pub proof: shr_zk::ProofWords,
    /// How long proving took, milliseconds (measured in the enclave; public).
    pub proving_ms: u64,
    /// The matcher's signature over [`settlement_digest`].
    pub signature: Bytes,
    /// `(mailbox key, notice sealed to its party)`, delivered off-chain: the key is
    /// [`mailbox_key`] of the party's secret, so neither the host nor the store learns whose.
    pub notices: Vec<(B256, Sealed)>,
}

/// A proven change of one party's leaf for `CREDarkPool.absorbDeposit`, `withdraw` or `exit`.
#[derive(Debug, Clone)]
pub struct WithdrawalAuth {
    /// The party.
    pub party: Address,
    /// The token.
    pub token: Address,
    /// The public amount, base units.
    pub amount: u128,
    /// Commitment before.
    pub old_commitment: B256,
    /// Commitment after.
    pub new_commitment: B256,
    /// The commitment's new version.
    pub version: u64,
    /// The party's whole balance, serving its forced withdrawal.
    pub forced: bool,
    /// The Groth16 proof of the balance-change circuit.
    pub proof: shr_zk::ProofWords,
    /// The matcher's signature over [`change_digest`] (empty for an exit the party proves).
    pub signature: Bytes,
}

impl Settlement {
    /// The contract's `Settlement` struct.
    pub fn call(&self) -> shr_contracts::bindings::CREDarkPool::Settlement {
        shr_contracts::bindings::CREDarkPool::Settlement {
            status: self.status,
            oldCommitment: self.old_commitment,
            newCommitment: self.new_commitment,
            version: self.version,
            noticesDigest: self.notices_digest,
            twapWad: self.twap_wad,
            proof: self.proof,
        }
    }
}

impl WithdrawalAuth {
    /// The contract's `Change` struct.
    pub fn call(&self) -> shr_contracts::bindings::CREDarkPool::Change {
        shr_contracts::bindings::CREDarkPool::Change {
            party: self.party,
            token: self.token,
            amount: U256::from(self.amount),
            oldCommitment: self.old_commitment,
            newCommitment: self.new_commitment,
            version: self.version,
            forced: self.forced,
            proof: self.proof,
        }
    }
}

/// A registration of the matcher's key for `CREDarkPool.registerMatcher`: a platform quote whose
/// report data binds the keys, the chain, the pool and an expiry.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The enclave's signing address.
    pub signer: Address,
    /// The enclave's HPKE key.
    pub hpke: HpkePublicKey,
    /// The program measurement.
    pub measurement: B256,
    /// The platform kind.
    pub kind: String,
    /// Unix seconds after which the quote is refused.
    pub expiry: u64,
    /// The platform root's quote signature.
    pub signature: Bytes,
}

impl Registration {
    /// A registration of `enclave`'s key on `pool` (chain `chain_id`): a fresh quote from
    /// `platform` over [`registration_report_data`], valid until `expiry` (unix seconds).
    ///
    /// # Errors
    /// Platform errors.
    pub fn of(
        enclave: &Enclave,
        platform: &dyn TeePlatform,
        (chain_id, pool): (u64, Address),
        expiry: u64,
    ) -> Result<Self> {
        let id = enclave.identity();
        let data = registration_report_data(id.signer, &id.hpke, chain_id, pool, expiry);
        let quote = enclave.quote_for(platform, data)?;
        Ok(Self {
            signer: id.signer,
            hpke: id.hpke,
            measurement: quote.measurement.0,
            kind: quote.platform,
            expiry,
            signature: Bytes::from(quote.signature.as_bytes().to_vec()),
        })
    }
}

/// Where a party's fill notice for `request_id` is stored: `keccak256(secret ‖ request id)`,
/// opaque to anyone without the party's mailbox secret.
pub fn mailbox_key(secret: &B256, request_id: u64) -> B256 {
    keccak256([secret.as_slice(), &request_id.to_be_bytes()].concat())
}

/// A party's mailbox secret derived from its key store (a deterministic signature over a fixed
/// digest): the same after a restart, known to no one else.
///
/// # Errors
/// [`Error::Enclave`] when the key cannot sign.
pub fn mailbox_secret(key: &Enclave) -> Result<B256> {
    let sig = key.sign_digest(&keccak256("shr/darkpool/mailbox/v1"))?;
    Ok(keccak256(sig.as_bytes()))
}

fn typehash(name: &str) -> B256 {
    keccak256(name)
}

/// `CREDarkPool.settlementDigest`, computed independently by the enclave: binds the chain, the
/// pool, the request, its requester and order commitment, the transition, the notices and the
/// TWAP.
#[allow(clippy::too_many_arguments)]
pub fn settlement_digest(
    chain_id: u64,
    pool: Address,
    request: &RequestRef,
    status: u8,
    old: B256,
    new: B256,
    version: u64,
    notices_digest: B256,
    twap_wad: u128,
) -> B256 {
    keccak256(
        (
            typehash("shr/darkpool/settlement/v2"),
            U256::from(chain_id),
            pool,
            U256::from(request.id),
            request.requester,
            request.order_commitment,
            U256::from(status),
            old,
            new,
            U256::from(version),
            notices_digest,
            U256::from(twap_wad),
        )
            .abi_encode(),
    )
}

/// `CREDarkPool.changeDigest`.
pub fn change_digest(chain_id: u64, pool: Address, c: &WithdrawalAuth) -> B256 {
    keccak256(
        (
            typehash("shr/darkpool/change/v2"),
            U256::from(chain_id),
            pool,
            c.party,
            c.token,
            U256::from(c.amount),
            c.old_commitment,
            c.new_commitment,
            U256::from(c.version),
            c.forced,
        )
            .abi_encode(),
    )
}

/// `CREDarkPool.registrationReportData`: what a registration quote's report data must be.
pub fn registration_report_data(
    signer: Address,
    hpke: &HpkePublicKey,
    chain_id: u64,
    pool: Address,
    expiry: u64,
) -> B256 {
    keccak256(
        (
            typehash("shr/darkpool/matcher/v1"),
            signer,
            B256::from(hpke.0),
            U256::from(chain_id),
            pool,
            U256::from(expiry),
        )
            .abi_encode(),
    )
}

/// Seals `body` to the matcher (what a requester does before `requestCollateral`).
///
/// # Errors
/// Sealing errors.
pub fn seal_order(matcher: &HpkePublicKey, body: &OrderBody) -> Result<Sealed> {
    seal_kind(matcher, ORDER_INFO, body)
}

/// Seals a maker's commitment to the matcher.
///
/// # Errors
/// Sealing errors.
pub fn seal_maker(matcher: &HpkePublicKey, body: &MakerBody) -> Result<Sealed> {
    seal_kind(matcher, MAKER_INFO, body)
}

/// Opens a fill notice with the recipient's key.
///
/// # Errors
/// [`Error::Enclave`] when it is not for this key; [`Error::Body`].
pub fn open_notice(key: &Enclave, sealed: &Sealed) -> Result<FillNotice> {
    let plain = key.open(FILL_INFO, sealed)?;
    serde_json::from_slice(&plain).map_err(Error::Body)
}

/// Opens an exit ticket with the recipient's key.
///
/// # Errors
/// [`Error::Enclave`] when it is not for this key; [`Error::Body`].
pub fn open_exit_ticket(key: &Enclave, sealed: &Sealed) -> Result<ExitTicket> {
    let plain = key.open(EXIT_INFO, sealed)?;
    serde_json::from_slice(&plain).map_err(Error::Body)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;
    use shr_enclave::{SEAL_OVERHEAD, SimulatedTee};

    use super::*;

    fn order(size: u128, price: u128) -> Order {
        Order {
            size,
            min_price_wad: price,
            max_price_wad: price * 2,
            premium_bps: 50,
            min_fill: size,
            deadline: 1_900_000_000,
        }
    }

    #[test]
    fn orders_of_very_different_size_seal_to_equal_lengths() {
        let tee = SimulatedTee::new();
        let matcher = Enclave::launch(&tee, MATCHER_PROGRAM).unwrap();
        let reply = Enclave::launch(&tee, "wallet").unwrap().identity().hpke;
        let body = |o| OrderBody {
            order: o,
            requester: Address::repeat_byte(1),
            reply_to: reply,
            mailbox: B256::repeat_byte(7),
            salt: B256::repeat_byte(8),
        };
        let small = seal_order(&matcher.identity().hpke, &body(order(1, 1))).unwrap();
        let huge =
            seal_order(&matcher.identity().hpke, &body(order(u128::MAX, u128::MAX / 2))).unwrap();
        assert_eq!(small.as_bytes().len(), huge.as_bytes().len());
        assert_eq!(small.as_bytes().len(), 1_024 + SEAL_OVERHEAD);
        let opened: OrderBody =
            serde_json::from_slice(&matcher.open(ORDER_INFO, &huge).unwrap()).unwrap();
        assert_eq!(opened.order.size, u128::MAX);
        // Fill notices of one sat and of the whole supply: one length.
        let notice = |c: u128| FillNotice {
            request_id: u64::MAX,
            party: Address::repeat_byte(2),
            collateral: c,
            payment: U256::MAX,
            status: MatchStatus::PartiallyFilled,
        };
        let a = seal_kind(&reply, FILL_INFO, &notice(1)).unwrap();
        let b = seal_kind(&reply, FILL_INFO, &notice(u128::MAX)).unwrap();
        assert_eq!(a.as_bytes().len(), b.as_bytes().len());
        // Exit tickets at their largest fit their size.
        let ticket = ExitTicket {
            slot: 31,
            leaf: shr_zk::Leaf {
                party: Address::repeat_byte(3),
                collateral: u64::MAX,
                payment: u128::MAX,
                blinding: B256::repeat_byte(0x30),
            },
            siblings: vec![B256::repeat_byte(0x30); shr_zk::DEPTH],
            version: u64::MAX,
            commitment: B256::repeat_byte(5),
        };
        assert!(seal_kind(&reply, EXIT_INFO, &ticket).is_ok());
    }
}
