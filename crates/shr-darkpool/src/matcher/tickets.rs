//! Exit tickets: each party's matcher-signed balance at a commitment, sealed to it, for
//! `CREDarkPool.exit` once the escape hatch opens.

use alloy::primitives::{Address, Bytes};
use shr_enclave::Sealed;

use super::{MatcherEnclave, State};
use crate::{EXIT_INFO, Error, ExitTicket, Result, exit_digest, messages::seal_kind};

impl MatcherEnclave {
    /// Exit tickets for the confirmed state, sealed to each party with a known key: one per
    /// party and token it holds or has deposited (see `CREDarkPool.exit`).
    ///
    /// # Errors
    /// [`Error::Unbound`]; signing and sealing errors.
    pub fn exit_tickets(&self) -> Result<Vec<(Address, Address, Sealed)>> {
        self.tickets_of(&self.state)
    }

    /// Exit tickets for the newest staged state (the confirmed one when nothing is staged): the
    /// host stores them *before* sending the transition, so that a matcher that dies right after
    /// the chain accepts it still leaves every party a ticket for the chain's version. A ticket
    /// for a commitment that never lands is worthless (`exit` checks the current commitment).
    ///
    /// # Errors
    /// [`Error::Unbound`]; signing and sealing errors.
    pub fn staged_exit_tickets(&self) -> Result<Vec<(Address, Address, Sealed)>> {
        self.tickets_of(self.tip())
    }

    fn tickets_of(&self, s: &State) -> Result<Vec<(Address, Address, Sealed)>> {
        let pool = self.pool.ok_or(Error::Unbound)?;
        let mut out = Vec::new();
        for (&party, key) in &s.reply_keys {
            for token in [self.collateral, self.payment] {
                let (amount, seen) = (s.table.balance(party, token), s.counted(party, token));
                if amount == 0 && seen == 0 {
                    continue;
                }
                let digest = exit_digest(
                    self.chain_id,
                    pool,
                    (party, token),
                    amount,
                    seen,
                    (s.version, s.committed),
                );
                let signature = Bytes::from(self.enclave.sign_digest(&digest)?.as_bytes().to_vec());
                let ticket = ExitTicket {
                    party,
                    token,
                    amount,
                    deposited_seen: seen,
                    version: s.version,
                    commitment: s.committed,
                    signature,
                };
                out.push((party, token, seal_kind(key, EXIT_INFO, &ticket)?));
            }
        }
        Ok(out)
    }
}
