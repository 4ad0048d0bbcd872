//! A node process's hand-offs with the recovery side, through a mailbox both sides reach
//! (the agent's database in production: [`NodeMailbox`] is the seam, [`MemoryMailbox`] the
//! in-memory implementation).
//!
//! Two sealed messages cross it, never a plaintext figure:
//! - out: after an insolvent report lands, each node whose enclave evaluated the agreed outcome
//!   seals the deficit to the agent's HPKE key and signs it
//!   ([`crate::ReserveEnclave::seal_deficit`]), and hands it off under the report's
//!   `observedAt`; the agent acts once f+1 distinct nodes did, so the mailbox keeps every copy;
//! - in: the treasury's exit ticket the agent forwarded to this node's enclave (mailbox
//!   `credit`, keyed by the node's signer), counted with the chain evidence the host reads at
//!   one block ([`crate::read_evidence`]).

use std::{collections::BTreeMap, sync::Mutex};

use alloy::primitives::Address;
use shr_enclave::{HpkePublicKey, Sealed};

use crate::{RecoveryAccounts, Result};

/// The mailbox a node exchanges sealed hand-offs through.
#[async_trait::async_trait]
pub trait NodeMailbox: Send + Sync + std::fmt::Debug {
    /// The treasury's exit ticket forwarded to the node whose signer is `signer`, sealed to its
    /// enclave (`None` when the agent forwarded none).
    ///
    /// # Errors
    /// [`crate::Error::Mailbox`] when the mailbox cannot be read.
    async fn credit(&self, signer: Address) -> Result<Option<Sealed>>;

    /// Hands the deficit of the insolvent report observed at `observed_at` (unix seconds),
    /// sealed to the agent, to the agent.
    ///
    /// # Errors
    /// [`crate::Error::Mailbox`] when the mailbox cannot be written.
    async fn hand_off_deficit(&self, observed_at: u64, sealed: &Sealed) -> Result<()>;
}

/// What a node process counts as recovered and whom it tells about a deficit.
#[derive(Debug, Clone)]
pub struct NodeRecovery {
    /// The vault, treasury, collateral and dark pool whose balances count (from the manifest).
    pub accounts: RecoveryAccounts,
    /// The agent enclave's HPKE key the deficit is sealed to.
    pub agent: HpkePublicKey,
    /// Where the credit arrives and the deficit leaves.
    pub mailbox: std::sync::Arc<dyn NodeMailbox>,
}

/// An in-memory mailbox (tests, and a DON run in one process).
#[derive(Debug, Default)]
pub struct MemoryMailbox {
    credits: Mutex<BTreeMap<Address, Sealed>>,
    deficits: Mutex<BTreeMap<u64, Vec<Sealed>>>,
}

impl MemoryMailbox {
    /// Forwards `sealed` to the node with signer `signer` (what the agent does).
    pub fn put_credit(&self, signer: Address, sealed: Sealed) {
        self.credits.lock().expect("mailbox lock").insert(signer, sealed);
    }

    /// Every sealed deficit notice handed off for `observed_at`, in arrival order.
    pub fn deficits(&self, observed_at: u64) -> Vec<Sealed> {
        self.deficits.lock().expect("mailbox lock").get(&observed_at).cloned().unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl NodeMailbox for MemoryMailbox {
    async fn credit(&self, signer: Address) -> Result<Option<Sealed>> {
        Ok(self.credits.lock().expect("mailbox lock").get(&signer).cloned())
    }

    async fn hand_off_deficit(&self, observed_at: u64, sealed: &Sealed) -> Result<()> {
        let mut deficits = self.deficits.lock().expect("mailbox lock");
        let copies = deficits.entry(observed_at).or_default();
        if !copies.contains(sealed) {
            copies.push(sealed.clone());
        }
        Ok(())
    }
}
