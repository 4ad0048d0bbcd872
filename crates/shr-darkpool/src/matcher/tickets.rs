//! Exit tickets: each party's leaf opening at a root, sealed to it, for `CREDarkPool.exit`
//! (the party proves its own balance from it) and for the oracle (the treasury's collateral in
//! the pool, checked against the on-chain root).

use alloy::primitives::Address;
use shr_enclave::Sealed;

use super::{MatcherEnclave, State};
use crate::{EXIT_INFO, Error, ExitTicket, Result, messages::seal_kind};

impl MatcherEnclave {
    /// Exit tickets for the confirmed state, sealed to each party with a known key and a slot.
    ///
    /// # Errors
    /// [`Error::Unbound`]; sealing errors.
    pub fn exit_tickets(&self) -> Result<Vec<(Address, Sealed)>> {
        self.tickets_of(&self.state)
    }

    /// Exit tickets for the newest staged state (the confirmed one when nothing is staged): the
    /// host stores them *before* sending the transition, so that a matcher that dies right after
    /// the chain accepts it still leaves every party a ticket for the chain's root. A ticket for
    /// a root that never lands is worthless (`exit` checks the current root).
    ///
    /// # Errors
    /// [`Error::Unbound`]; sealing errors.
    pub fn staged_exit_tickets(&self) -> Result<Vec<(Address, Sealed)>> {
        self.tickets_of(self.tip())
    }

    fn tickets_of(&self, s: &State) -> Result<Vec<(Address, Sealed)>> {
        self.pool.ok_or(Error::Unbound)?;
        let mut out = Vec::new();
        for (&party, key) in &s.reply_keys {
            let Some(&slot) = s.slots.get(&party) else { continue };
            let ticket = ExitTicket {
                slot,
                leaf: *s.tree.leaf(slot)?,
                siblings: s.tree.path(slot)?,
                version: s.version,
                commitment: s.committed,
            };
            out.push((party, seal_kind(key, EXIT_INFO, &ticket)?));
        }
        Ok(out)
    }
}
