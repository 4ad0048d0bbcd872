//! The matcher's intake of deposits: the pool's `Deposited` logs, checked inside the enclave
//! boundary (emitting contract, finality depth, cumulative totals).

use alloy::sol_types::SolEvent;
use shr_chain::ChainLog;
use shr_contracts::bindings::CREDarkPool;
use shr_enclave::HpkePublicKey;

use super::MatcherEnclave;
use crate::{Error, Result};

impl MatcherEnclave {
    /// Admits the pool's `Deposited` logs up to block `head - finality`: each must come from the
    /// bound pool, be a `Deposited` event of a pool token, and continue the party's cumulative
    /// total (`total = counted + amount`). Logs of blocks already counted are skipped; logs not
    /// yet final are left for a later call. The host passes every log from
    /// [`MatcherEnclave::deposit_cursor`] to `head` (a real TEE backend would check them against
    /// block headers; the simulated one trusts their completeness, see docs/SECURITY.md).
    /// Counted deposits wait in a queue for [`MatcherEnclave::absorb_next`], which proves
    /// each into the tree. Returns how many deposits were counted.
    ///
    /// # Errors
    /// [`Error::Unbound`]; [`Error::DepositLog`] for a log that fails a check (nothing is
    /// counted then).
    pub fn admit_deposits(&mut self, logs: &[ChainLog], head: u64) -> Result<usize> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let Some(last_final) = head.checked_sub(self.finality) else { return Ok(0) };
        let mut next = self.state.clone();
        let mut credits = Vec::new();
        let mut logs: Vec<&ChainLog> = logs
            .iter()
            .filter(|l| l.block_number >= next.deposit_block && l.block_number <= last_final)
            .collect();
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        for l in logs {
            let bad = |why| Error::DepositLog { block: l.block_number, why };
            if l.address != pool {
                return Err(bad("emitted by another contract"));
            }
            let e = CREDarkPool::Deposited::decode_log(&l.to_primitive())
                .map_err(|_| bad("not a Deposited event"))?;
            if e.token != self.collateral && e.token != self.payment {
                return Err(bad("token not traded by the pool"));
            }
            let amount = u128::try_from(e.amount).map_err(|_| bad("amount beyond 128 bits"))?;
            let total = u128::try_from(e.total).map_err(|_| bad("total beyond 128 bits"))?;
            let counted = next.counted(e.party, e.token);
            if counted.checked_add(amount) != Some(total) {
                return Err(bad("cumulative total does not continue the counted deposits"));
            }
            let slot = usize::try_from(e.slot).ok().filter(|s| *s < shr_zk::LEAVES);
            let slot = slot.ok_or_else(|| bad("slot outside the tree"))?;
            if next.slots.get(&e.party).is_some_and(|s| *s != slot) {
                return Err(bad("the party's slot changed"));
            }
            next.slots.insert(e.party, slot);
            next.deposits.entry(e.party).or_default().insert(e.token, total);
            next.pending.push((e.party, e.token, amount));
            if !e.exitKey.is_zero() {
                next.reply_keys.entry(e.party).or_insert(HpkePublicKey(e.exitKey.0));
            }
            credits.push((e.party, e.token, amount, total, e.exitKey, slot));
        }
        next.deposit_block = last_final + 1;
        // Staged transitions were built before these deposits: they gain them too.
        for s in &mut self.staged {
            for &(party, token, amount, total, key, slot) in &credits {
                s.deposits.entry(party).or_default().insert(token, total);
                s.slots.insert(party, slot);
                s.pending.push((party, token, amount));
                if !key.is_zero() {
                    s.reply_keys.entry(party).or_insert(HpkePublicKey(key.0));
                }
            }
            s.deposit_block = next.deposit_block;
        }
        self.state = next;
        Ok(credits.len())
    }
}
