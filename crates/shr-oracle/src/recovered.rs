//! Collateral recovered since a shortfall, counted from chain state.
//!
//! A node's host reads, at one block it names, the `ReserveVault` balance (direct swaps land
//! there) and the dark pool's current balance commitment, its version and whether the matcher
//! key is registered. The treasury's own balance in the pool is private: the agent forwards its
//! matcher-signed exit ticket (bound to a commitment and version, see `CREDarkPool.exit`)
//! sealed to each node's enclave. Inside the enclave ([`crate::ReserveEnclave`]) the ticket
//! counts only if the pool and matcher are the configured ones, the matcher's signature
//! recovers to that key and it is registered at the block, the ticket names the configured
//! treasury and collateral, the treasury has not exited, and the ticket's commitment and
//! version are the pool's current ones at the named block: a stale or foreign ticket, or a
//! ticket of another party, adds nothing (and never stops the round).
//!
//! Trust: the enclave takes the block's reads from its own host's RPC (no storage proof): a
//! host that lies about the vault's balance or the pool's commitment is believed by its own
//! enclave. In production each node reads through its own RPC and a report needs 2f+1
//! matching observations; the simulated DON here hands every node the same evidence.

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{CREDarkPool, ReserveVault},
    view,
};
use shr_darkpool::ExitTicket;
use shr_enclave::{HpkePublicKey, Sealed};

use crate::{Error, Result};

/// HPKE context of an exit ticket forwarded to a node's enclave.
pub const CREDIT_INFO: &str = "shr/credit/v1";
/// The sealed size of a forwarded ticket, bytes: every ticket has one ciphertext length.
pub const CREDIT_SIZE: usize = 1_024;
/// How old the named block may be at evaluation, seconds.
pub const MAX_EVIDENCE_AGE_SECS: u64 = 3_600;

/// Which accounts recovered collateral must belong to: the enclave counts nothing else. The
/// node's host reads with the same configuration ([`read_evidence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryAccounts {
    /// The chain id the vault and pool live on.
    pub chain_id: u64,
    /// The `ReserveVault` direct swaps pay into.
    pub vault: Address,
    /// The treasury whose dark-pool balance counts.
    pub treasury: Address,
    /// The collateral token (wBTC).
    pub collateral: Address,
    /// The `CREDarkPool` and the matcher signer whose tickets count (from the matcher's verified
    /// registration); `None`: no dark pool, no ticket counts.
    pub pool: Option<(Address, Address)>,
}

/// The dark pool as a node read it at [`ChainEvidence::block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEvidence {
    /// `CREDarkPool` address.
    pub pool: Address,
    /// `balanceCommitment`.
    pub commitment: B256,
    /// `commitmentVersion`.
    pub version: u64,
    /// The matcher signer read about, and `isMatcher(matcher)` at the block.
    pub matcher: (Address, bool),
    /// `exited(treasury, collateral)`: the treasury took its balance out through the escape
    /// hatch (the commitment no longer moves then, so its ticket would stay current).
    pub exited: bool,
}

/// What a node's host read from the chain at one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEvidence {
    /// The block number the reads are at.
    pub block: u64,
    /// Its timestamp, unix seconds.
    pub block_timestamp: u64,
    /// The vault it read.
    pub vault: Address,
    /// `ReserveVault.reserves()`, collateral base units.
    pub vault_balance: U256,
    /// The dark pool, when the accounts name one.
    pub pool: Option<PoolEvidence>,
}

/// Reads the evidence for `accounts` at one block: the block number is read before and after
/// the calls and the reads are retried (up to 5 times) until both agree, so every figure is of
/// the block it names.
///
/// # Errors
/// Chain and contract errors; [`Error::Config`] when the chain moves during every attempt.
pub async fn read_evidence(
    chain: &dyn Chain,
    accounts: &RecoveryAccounts,
) -> Result<ChainEvidence> {
    let vault = accounts.vault;
    for _ in 0..5 {
        let block = chain.block_number().await?;
        let block_timestamp = chain.timestamp().await?;
        let vault_balance = view(chain, vault, &ReserveVault::reservesCall {}).await?;
        let pool = match accounts.pool {
            Some((pool, matcher)) => Some(PoolEvidence {
                pool,
                commitment: view(chain, pool, &CREDarkPool::balanceCommitmentCall {}).await?,
                version: view(chain, pool, &CREDarkPool::commitmentVersionCall {}).await?,
                matcher: (matcher, view(chain, pool, &CREDarkPool::isMatcherCall(matcher)).await?),
                exited: view(
                    chain,
                    pool,
                    &CREDarkPool::exitedCall { _0: accounts.treasury, _1: accounts.collateral },
                )
                .await?,
            }),
            None => None,
        };
        if chain.block_number().await? == block {
            return Ok(ChainEvidence { block, block_timestamp, vault, vault_balance, pool });
        }
    }
    Err(Error::Config("the chain moved during every read of the recovery evidence".into()))
}

/// Seals the treasury's exit ticket to a node's enclave (context [`CREDIT_INFO`], padded to
/// [`CREDIT_SIZE`]).
///
/// # Errors
/// [`Error::Enclave`] for an invalid key.
pub fn seal_credit(node: &HpkePublicKey, ticket: &ExitTicket) -> Result<Sealed> {
    let json = serde_json::to_vec(ticket).expect("a plain struct serializes");
    Ok(shr_enclave::seal_sized(node, CREDIT_INFO, &json, CREDIT_SIZE)?)
}

/// Inside the enclave: the vault's balance in `evidence`, if the evidence holds at `now`.
///
/// # Errors
/// [`Error::Recovery`] naming what does not hold: the evidence reads another vault, or its
/// block is more than [`MAX_EVIDENCE_AGE_SECS`] old or more than 15 minutes ahead.
pub(crate) fn vault_credit(
    accounts: &RecoveryAccounts,
    evidence: &ChainEvidence,
    now: u64,
) -> Result<U256> {
    let refuse = |why| Err(Error::Recovery { block: evidence.block, why });
    if evidence.vault != accounts.vault {
        return refuse("the evidence reads another vault");
    }
    if evidence.block_timestamp > now + 900 {
        return refuse("the named block is in the future");
    }
    if now.saturating_sub(evidence.block_timestamp) > MAX_EVIDENCE_AGE_SECS {
        return refuse("the named block is too old");
    }
    Ok(evidence.vault_balance)
}

/// Inside the enclave: what the treasury's exit ticket adds. The caller counts zero for a
/// refused ticket (a bad or stale ticket never stops a round: the reserve is then counted
/// without it, which can only make the boolean more conservative).
///
/// # Errors
/// [`Error::Recovery`] naming what does not hold: no dark pool configured or read, another
/// pool or matcher than the configured ones, the matcher not registered at the block, the
/// treasury already exited, a ticket of another party or token, for another commitment or
/// version than the chain's, or not signed by the matcher.
pub(crate) fn ticket_credit(
    accounts: &RecoveryAccounts,
    evidence: &ChainEvidence,
    t: &ExitTicket,
) -> Result<U256> {
    let refuse = |why| Err(Error::Recovery { block: evidence.block, why });
    let (Some((pool, matcher)), Some(read)) = (accounts.pool, evidence.pool) else {
        return refuse("a ticket without a configured and read dark pool");
    };
    if (read.pool, read.matcher.0) != (pool, matcher) {
        return refuse("the evidence reads another pool or matcher");
    }
    if !read.matcher.1 {
        return refuse("the matcher is not registered at the named block");
    }
    if read.exited {
        return refuse("the treasury has exited the pool");
    }
    if (t.party, t.token) != (accounts.treasury, accounts.collateral) {
        return refuse("the ticket is for another party or token");
    }
    if (t.version, t.commitment) != (read.version, read.commitment) {
        return refuse("the ticket is not for the pool's current commitment");
    }
    let digest = shr_darkpool::exit_digest(
        accounts.chain_id,
        pool,
        (t.party, t.token),
        t.amount,
        t.deposited_seen,
        (t.version, t.commitment),
    );
    let signer = alloy::primitives::Signature::try_from(t.signature.as_ref())
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&digest).ok());
    if signer != Some(matcher) {
        return refuse("the ticket is not signed by the configured matcher");
    }
    Ok(U256::from(t.amount))
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Bytes, address},
        signers::{SignerSync, local::PrivateKeySigner},
    };

    use super::*;

    const NOW: u64 = 1_728_439_200;
    const POOL: Address = address!("0x00000000000000000000000000000000000000dd");

    /// A vault holding 0.5 WBTC and a pool whose configured, registered matcher signed the
    /// treasury's ticket for 10 WBTC at the pool's current commitment.
    fn case() -> (RecoveryAccounts, ChainEvidence, ExitTicket, PrivateKeySigner) {
        let matcher = PrivateKeySigner::random();
        let accounts = RecoveryAccounts {
            chain_id: 31_337,
            vault: address!("0x00000000000000000000000000000000000000aa"),
            treasury: address!("0x00000000000000000000000000000000000000bb"),
            collateral: address!("0x00000000000000000000000000000000000000cc"),
            pool: Some((POOL, matcher.address())),
        };
        let pool = PoolEvidence {
            pool: POOL,
            commitment: B256::repeat_byte(7),
            version: 4,
            matcher: (matcher.address(), true),
            exited: false,
        };
        let evidence = ChainEvidence {
            block: 100,
            block_timestamp: NOW - 60,
            vault: accounts.vault,
            vault_balance: U256::from(50_000_000u64),
            pool: Some(pool),
        };
        let mut ticket = ExitTicket {
            party: accounts.treasury,
            token: accounts.collateral,
            amount: 1_000_000_000,
            deposited_seen: 0,
            version: 4,
            commitment: pool.commitment,
            signature: Bytes::new(),
        };
        sign(&mut ticket, &matcher, accounts.chain_id, POOL);
        (accounts, evidence, ticket, matcher)
    }

    fn sign(t: &mut ExitTicket, key: &PrivateKeySigner, chain_id: u64, pool: Address) {
        let d = shr_darkpool::exit_digest(
            chain_id,
            pool,
            (t.party, t.token),
            t.amount,
            t.deposited_seen,
            (t.version, t.commitment),
        );
        t.signature = Bytes::from(key.sign_hash_sync(&d).unwrap().as_bytes().to_vec());
    }

    fn why<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Err(Error::Recovery { why, .. }) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_valid_ticket_and_the_vault_count() {
        let (a, e, t, _) = case();
        assert_eq!(vault_credit(&a, &e, NOW).unwrap(), U256::from(50_000_000u64));
        assert_eq!(ticket_credit(&a, &e, &t).unwrap(), U256::from(1_000_000_000u64));
    }

    /// Each lie a host, an agent or a colluding maker could tell is refused.
    #[test]
    fn lies_are_refused() {
        let (a, e, t, matcher) = case();
        let read = e.pool.unwrap();
        let with = |p: PoolEvidence| ChainEvidence { pool: Some(p), ..e };
        // A maker's ticket (another party), properly signed.
        let mut x = t.clone();
        x.party = address!("0x00000000000000000000000000000000000000ee");
        sign(&mut x, &matcher, a.chain_id, POOL);
        assert_eq!(why(ticket_credit(&a, &e, &x)), "the ticket is for another party or token");
        // A stale ticket: an older version, or another table under the current version.
        let e2 = with(PoolEvidence { version: 5, ..read });
        assert_eq!(
            why(ticket_credit(&a, &e2, &t)),
            "the ticket is not for the pool's current commitment"
        );
        let e2 = with(PoolEvidence { commitment: B256::repeat_byte(8), ..read });
        assert_eq!(
            why(ticket_credit(&a, &e2, &t)),
            "the ticket is not for the pool's current commitment"
        );
        // A host's own key, claimed as the matcher of a pool of its own or of the real pool.
        let rogue = PrivateKeySigner::random();
        let mut x = t.clone();
        sign(&mut x, &rogue, a.chain_id, POOL);
        let e2 = with(PoolEvidence { matcher: (rogue.address(), true), ..read });
        assert_eq!(why(ticket_credit(&a, &e2, &x)), "the evidence reads another pool or matcher");
        let e2 = with(PoolEvidence { pool: Address::repeat_byte(9), ..read });
        assert_eq!(why(ticket_credit(&a, &e2, &t)), "the evidence reads another pool or matcher");
        assert_eq!(
            why(ticket_credit(&a, &e, &x)),
            "the ticket is not signed by the configured matcher"
        );
        // A revoked matcher; an inflated amount; a ticket signed for another pool or chain.
        let e2 = with(PoolEvidence { matcher: (matcher.address(), false), ..read });
        assert_eq!(
            why(ticket_credit(&a, &e2, &t)),
            "the matcher is not registered at the named block"
        );
        let mut x = t.clone();
        x.amount *= 10;
        assert_eq!(
            why(ticket_credit(&a, &e, &x)),
            "the ticket is not signed by the configured matcher"
        );
        let mut x = t.clone();
        sign(&mut x, &matcher, a.chain_id, Address::repeat_byte(0x42));
        assert_eq!(
            why(ticket_credit(&a, &e, &x)),
            "the ticket is not signed by the configured matcher"
        );
        let mut x = t.clone();
        sign(&mut x, &matcher, 1, POOL);
        assert_eq!(
            why(ticket_credit(&a, &e, &x)),
            "the ticket is not signed by the configured matcher"
        );
        // The escape hatch: the commitment no longer moves, so after the treasury exited (and
        // perhaps moved the collateral into the vault) its ticket would stay current.
        let e2 = with(PoolEvidence { exited: true, ..read });
        assert_eq!(why(ticket_credit(&a, &e2, &t)), "the treasury has exited the pool");
        // No pool configured, or none read.
        let none = RecoveryAccounts { pool: None, ..a };
        assert_eq!(
            why(ticket_credit(&none, &e, &t)),
            "a ticket without a configured and read dark pool"
        );
        let e2 = ChainEvidence { pool: None, ..e };
        assert_eq!(
            why(ticket_credit(&a, &e2, &t)),
            "a ticket without a configured and read dark pool"
        );
        // Evidence of another vault, an old block, a block from the future.
        let e2 = ChainEvidence { vault: Address::repeat_byte(1), ..e };
        assert_eq!(why(vault_credit(&a, &e2, NOW)), "the evidence reads another vault");
        let e2 = ChainEvidence { block_timestamp: NOW - MAX_EVIDENCE_AGE_SECS - 1, ..e };
        assert_eq!(why(vault_credit(&a, &e2, NOW)), "the named block is too old");
        let e2 = ChainEvidence { block_timestamp: NOW + 901, ..e };
        assert_eq!(why(vault_credit(&a, &e2, NOW)), "the named block is in the future");
    }
}
