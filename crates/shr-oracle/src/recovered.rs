//! Collateral recovered since a shortfall, counted from chain state.
//!
//! A node's host reads, at one block it names, the `ReserveVault` balance (direct swaps land
//! there) and the dark pool's current balance commitment, its version and whether the matcher
//! key is registered. The treasury's own balance in the pool is private: the agent forwards its
//! matcher-signed exit ticket (bound to a commitment and version, see `CREDarkPool.exit`)
//! sealed to each node's enclave. Inside the enclave ([`crate::ReserveEnclave`]) the ticket
//! counts only if the matcher's signature recovers to the registered key, it names the
//! configured treasury and collateral, and its commitment and version are the pool's current
//! ones at the named block: a stale or foreign ticket, or a ticket of another party, adds
//! nothing and the round refuses it.
//!
//! Trust: the enclave takes the block's reads from its own host's RPC (no storage proof); each
//! node reads through its own, and a report needs f+1 matching observations.

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use shr_chain::Chain;
use shr_contracts::{bindings::ReserveVault, view};
use shr_darkpool::{DarkPool, ExitTicket};
use shr_enclave::{HpkePublicKey, Sealed};

use crate::{Error, Result};

/// HPKE context of an exit ticket forwarded to a node's enclave.
pub const CREDIT_INFO: &str = "shr/credit/v1";
/// The sealed size of a forwarded ticket, bytes: every ticket has one ciphertext length.
pub const CREDIT_SIZE: usize = 1_024;
/// How old the named block may be at evaluation, seconds.
pub const MAX_EVIDENCE_AGE_SECS: u64 = 3_600;

/// Which accounts recovered collateral must belong to: the enclave counts nothing else.
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
    /// The matcher signer the host expects, and `isMatcher(matcher)` at the block.
    pub matcher: (Address, bool),
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
    /// The dark pool, when the treasury uses one.
    pub pool: Option<PoolEvidence>,
}

/// Reads the evidence at one block: the block number is read before and after the calls and
/// the reads are retried (up to 5 times) until both agree, so every figure is of the block it
/// names.
///
/// # Errors
/// Chain and contract errors; [`Error::Config`] when the chain moves during every attempt.
pub async fn read_evidence(
    chain: &dyn Chain,
    vault: Address,
    pool: Option<(&DarkPool, Address)>,
) -> Result<ChainEvidence> {
    for _ in 0..5 {
        let block = chain.block_number().await?;
        let block_timestamp = chain.timestamp().await?;
        let vault_balance = view(chain, vault, &ReserveVault::reservesCall {}).await?;
        let pool = match pool {
            Some((p, matcher)) => {
                let (commitment, version) = p.commitment(chain).await.map_err(Box::new)?;
                let registered = p.is_matcher(chain, matcher).await.map_err(Box::new)?;
                Some(PoolEvidence {
                    pool: p.address,
                    commitment,
                    version,
                    matcher: (matcher, registered),
                })
            }
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

/// Inside the enclave: the collateral `evidence` and `ticket` add to the reserves at `now`.
///
/// # Errors
/// [`Error::Recovery`] naming what does not hold (the evidence is for another vault, too old
/// or from the future; the ticket's signer is not the registered matcher, names another party,
/// token or pool, or is for another commitment or version than the chain's).
pub(crate) fn credited(
    accounts: &RecoveryAccounts,
    evidence: &ChainEvidence,
    ticket: Option<&ExitTicket>,
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
    let mut total = evidence.vault_balance;
    let Some(t) = ticket else { return Ok(total) };
    let Some(pool) = evidence.pool else { return refuse("a ticket without the pool's state") };
    if (t.party, t.token) != (accounts.treasury, accounts.collateral) {
        return refuse("the ticket is for another party or token");
    }
    if (t.version, t.commitment) != (pool.version, pool.commitment) {
        return refuse("the ticket is not for the pool's current commitment");
    }
    let digest = shr_darkpool::exit_digest(
        accounts.chain_id,
        pool.pool,
        (t.party, t.token),
        t.amount,
        t.deposited_seen,
        (t.version, t.commitment),
    );
    let signer = alloy::primitives::Signature::try_from(t.signature.as_ref())
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&digest).ok());
    if signer != Some(pool.matcher.0) || !pool.matcher.1 {
        return refuse("the ticket is not signed by the registered matcher");
    }
    total = total.saturating_add(U256::from(t.amount));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Bytes, address},
        signers::{SignerSync, local::PrivateKeySigner},
    };

    use super::*;

    const NOW: u64 = 1_728_439_200;

    struct Case {
        accounts: RecoveryAccounts,
        evidence: ChainEvidence,
        ticket: ExitTicket,
    }

    /// A vault holding 0.5 WBTC and a pool whose registered matcher signed the treasury's ticket
    /// for 10 WBTC at the pool's current commitment.
    fn case() -> (Case, PrivateKeySigner) {
        let matcher = PrivateKeySigner::random();
        let accounts = RecoveryAccounts {
            chain_id: 31_337,
            vault: address!("0x00000000000000000000000000000000000000aa"),
            treasury: address!("0x00000000000000000000000000000000000000bb"),
            collateral: address!("0x00000000000000000000000000000000000000cc"),
        };
        let pool = PoolEvidence {
            pool: address!("0x00000000000000000000000000000000000000dd"),
            commitment: B256::repeat_byte(7),
            version: 4,
            matcher: (matcher.address(), true),
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
        sign(&mut ticket, &matcher, &accounts, pool.pool);
        (Case { accounts, evidence, ticket }, matcher)
    }

    fn sign(t: &mut ExitTicket, key: &PrivateKeySigner, a: &RecoveryAccounts, pool: Address) {
        let d = shr_darkpool::exit_digest(
            a.chain_id,
            pool,
            (t.party, t.token),
            t.amount,
            t.deposited_seen,
            (t.version, t.commitment),
        );
        t.signature = Bytes::from(key.sign_hash_sync(&d).unwrap().as_bytes().to_vec());
    }

    fn refused(c: &Case) -> Option<&'static str> {
        match credited(&c.accounts, &c.evidence, Some(&c.ticket), NOW) {
            Err(Error::Recovery { why, .. }) => Some(why),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_valid_ticket_and_the_vault_count() {
        let (c, _) = case();
        assert_eq!(
            credited(&c.accounts, &c.evidence, Some(&c.ticket), NOW).unwrap(),
            U256::from(1_050_000_000u64)
        );
        assert_eq!(
            credited(&c.accounts, &c.evidence, None, NOW).unwrap(),
            U256::from(50_000_000u64)
        );
    }

    /// Each lie a host, an agent or a colluding maker could tell costs nothing: the ticket or
    /// the evidence is refused and nothing is credited.
    #[test]
    fn lies_are_refused() {
        let (c, matcher) = case();
        let pool = c.evidence.pool.unwrap();
        // A maker's ticket (another party), or the payment token's.
        let mut x = case().0;
        x.ticket.party = address!("0x00000000000000000000000000000000000000ee");
        sign(&mut x.ticket, &matcher, &x.accounts, pool.pool);
        x.evidence.pool = Some(PoolEvidence { matcher: (matcher.address(), true), ..pool });
        assert_eq!(refused(&x), Some("the ticket is for another party or token"));
        // A stale ticket: an older version, or another table under the current version.
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.pool = Some(PoolEvidence { version: 5, ..pool });
        assert_eq!(refused(&x), Some("the ticket is not for the pool's current commitment"));
        x.evidence.pool = Some(PoolEvidence { commitment: B256::repeat_byte(8), ..pool });
        assert_eq!(refused(&x), Some("the ticket is not for the pool's current commitment"));
        // Signed by a key that is not the registered matcher, or by a revoked one.
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.pool = Some(pool);
        sign(&mut x.ticket, &PrivateKeySigner::random(), &x.accounts, pool.pool);
        assert_eq!(refused(&x), Some("the ticket is not signed by the registered matcher"));
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.pool = Some(PoolEvidence { matcher: (matcher.address(), false), ..pool });
        assert_eq!(refused(&x), Some("the ticket is not signed by the registered matcher"));
        // An inflated amount under the matcher's signature.
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.ticket.amount *= 10;
        assert_eq!(refused(&x), Some("the ticket is not signed by the registered matcher"));
        // Another pool's ticket (same matcher key registered on two pools).
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        sign(&mut x.ticket, &matcher, &x.accounts, Address::repeat_byte(0x42));
        assert_eq!(refused(&x), Some("the ticket is not signed by the registered matcher"));
        // Evidence of another vault, an old block, a block from the future, no pool state.
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.vault = Address::repeat_byte(1);
        assert_eq!(refused(&x), Some("the evidence reads another vault"));
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.block_timestamp = NOW - MAX_EVIDENCE_AGE_SECS - 1;
        assert_eq!(refused(&x), Some("the named block is too old"));
        x.evidence.block_timestamp = NOW + 901;
        assert_eq!(refused(&x), Some("the named block is in the future"));
        let mut x = Case { ticket: c.ticket.clone(), ..c };
        x.evidence.pool = None;
        assert_eq!(refused(&x), Some("a ticket without the pool's state"));
    }
}
