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

/// Inside the enclave: what the treasury's exit ticket adds, verified rather than reported:
/// the ticket is the opening of the treasury's leaf (party, collateral, payment, blinding and
/// its Merkle path), and it counts only if it hashes to the pool's root as the chain holds it at
/// the evidence block. No signature is trusted: a matcher key, stolen or not, cannot make a
/// leaf the root does not contain. The caller counts zero for a refused ticket (a bad or stale
/// ticket never stops a round: the reserve is then counted without it, which can only make the
/// boolean more conservative).
///
/// # Errors
/// [`Error::Recovery`] naming what does not hold: no dark pool configured or read, another
/// pool than the configured one, the treasury already exited, a ticket of another party, for
/// another root or version than the chain's, or an opening that does not lead to the root.
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
    if read.exited {
        return refuse("the treasury has exited the pool");
    }
    if t.party() != accounts.treasury {
        return refuse("the ticket is for another party");
    }
    if (t.version, t.commitment) != (read.version, read.commitment) {
        return refuse("the ticket is not for the pool's current commitment");
    }
    if !t.opens_to(read.commitment) {
        return refuse("the ticket's opening does not lead to the pool's root");
    }
    Ok(U256::from(t.leaf.collateral))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    const NOW: u64 = 1_728_439_200;
    const POOL: Address = address!("0x00000000000000000000000000000000000000dd");

    /// A vault holding 0.5 WBTC and a pool whose root holds the treasury's leaf with 10 WBTC
    /// (and a maker's), the ticket opening it.
    fn case() -> (RecoveryAccounts, ChainEvidence, ExitTicket, shr_zk::BalanceTree) {
        let matcher = Address::repeat_byte(0x4d);
        let accounts = RecoveryAccounts {
            chain_id: 31_337,
            vault: address!("0x00000000000000000000000000000000000000aa"),
            treasury: address!("0x00000000000000000000000000000000000000bb"),
            collateral: address!("0x00000000000000000000000000000000000000cc"),
            pool: Some((POOL, matcher)),
        };
        let mut tree = shr_zk::BalanceTree::default();
        let leaf = |party, collateral| shr_zk::Leaf {
            party,
            collateral,
            payment: 7,
            blinding: shr_zk::random_blinding(),
        };
        tree.set(16, leaf(accounts.treasury, 1_000_000_000)).unwrap();
        tree.set(0, leaf(address!("0x00000000000000000000000000000000000000ee"), 5)).unwrap();
        let pool = PoolEvidence {
            pool: POOL,
            commitment: tree.root().unwrap(),
            version: 4,
            matcher: (matcher, true),
            exited: false,
        };
        let evidence = ChainEvidence {
            block: 100,
            block_timestamp: NOW - 60,
            vault: accounts.vault,
            vault_balance: U256::from(50_000_000u64),
            pool: Some(pool),
        };
        let ticket = opening(&tree, 16, 4);
        (accounts, evidence, ticket, tree)
    }

    fn opening(tree: &shr_zk::BalanceTree, slot: usize, version: u64) -> ExitTicket {
        ExitTicket {
            slot,
            leaf: *tree.leaf(slot).unwrap(),
            siblings: tree.path(slot).unwrap(),
            version,
            commitment: tree.root().unwrap(),
        }
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
        let (a, e, t, tree) = case();
        let read = e.pool.unwrap();
        let with = |p: PoolEvidence| ChainEvidence { pool: Some(p), ..e };
        // A maker's opening (another party), true against the root.
        let x = opening(&tree, 0, 4);
        assert!(x.opens_to(read.commitment));
        assert_eq!(why(ticket_credit(&a, &e, &x)), "the ticket is for another party");
        // A stale ticket: an older version, or another root under the current version.
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
        // An inflated amount, another blinding, another slot: the opening no longer leads to
        // the root (a stolen matcher key signs nothing that would help).
        for lie in [
            ExitTicket {
                leaf: shr_zk::Leaf { collateral: t.leaf.collateral * 10, ..t.leaf },
                ..t.clone()
            },
            ExitTicket { leaf: t.leaf.reblinded(), ..t.clone() },
            ExitTicket { slot: 17, ..t.clone() },
            ExitTicket { siblings: vec![B256::ZERO; shr_zk::DEPTH], ..t.clone() },
        ] {
            assert_eq!(
                why(ticket_credit(&a, &e, &lie)),
                "the ticket's opening does not lead to the pool's root"
            );
        }
        // Another pool; a treasury that already exited.
        let e2 = with(PoolEvidence { pool: Address::repeat_byte(9), ..read });
        assert_eq!(why(ticket_credit(&a, &e2, &t)), "the evidence reads another pool or matcher");
        let e2 = with(PoolEvidence { exited: true, ..read });
        assert_eq!(why(ticket_credit(&a, &e2, &t)), "the treasury has exited the pool");
    }

    #[test]
    fn missing_evidence_is_refused() {
        let (a, e, t, _) = case();
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
