//! Proven changes of one party's leaf: deposits absorbed, withdrawals, forced withdrawals.

use alloy::primitives::{Address, Bytes};
use shr_zk::{BalanceChange, ChangeKind, UpdateWitness};

use super::MatcherEnclave;
use crate::{Error, Result, WithdrawalAuth, change_digest};

impl MatcherEnclave {
    /// Proves and stages one change of `party`'s leaf, signed for the chain.
    pub(super) fn stage_change(
        &mut self,
        party: Address,
        token: Address,
        amount: u128,
        kind: ChangeKind,
    ) -> Result<WithdrawalAuth> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let t = self.token_index(token)?;
        let mut next = self.tip().clone();
        let slot = *next.slots.get(&party).ok_or(Error::InsufficientBalance {
            party,
            token,
            have: 0,
            want: amount,
        })?;
        let change = BalanceChange { party, slot, token: t, amount, kind };
        let w = UpdateWitness {
            change,
            old: *next.tree.leaf(slot)?,
            new_blinding: shr_zk::random_blinding(),
            siblings: next.tree.path(slot)?,
        };
        let (circuit, old_root, new_root) = w.circuit()?;
        if old_root != next.committed {
            return Err(Error::StateMismatch("the tree does not open to the committed root"));
        }
        let proof = shr_zk::prove(shr_zk::CircuitKind::Update, circuit)?;
        next.tree.set(slot, w.new_leaf()?)?;
        let version = next.version + 1;
        let mut auth = WithdrawalAuth {
            party,
            token,
            amount,
            old_commitment: old_root,
            new_commitment: new_root,
            version,
            forced: kind == ChangeKind::Forced,
            proof,
            signature: Bytes::new(),
        };
        let digest = change_digest(self.chain_id, pool, &auth);
        auth.signature = Bytes::from(self.enclave.sign_digest(&digest)?.as_bytes().to_vec());
        next.committed = new_root;
        next.version = version;
        self.staged.push(next);
        Ok(auth)
    }

    /// Proves and stages the absorption of the oldest admitted deposit not yet in the tree, for
    /// `CREDarkPool.absorbDeposit`; `None` when every admitted deposit is absorbed.
    ///
    /// # Errors
    /// [`Error::Unbound`]; proving errors.
    pub fn absorb_next(&mut self) -> Result<Option<WithdrawalAuth>> {
        let Some(&(party, token, amount)) = self.tip().pending.first() else { return Ok(None) };
        let auth = self.stage_change(party, token, amount, ChangeKind::Deposit)?;
        if let Some(tip) = self.staged.last_mut() {
            tip.pending.remove(0);
        }
        Ok(Some(auth))
    }

    /// Deposits admitted and not yet absorbed (in the newest staged state).
    pub fn pending_deposits(&self) -> usize {
        self.tip().pending.len()
    }
}
