//! A party's own proof for the escape hatch: from its exit ticket (its leaf's opening), the
//! proof that it holds its whole balance of a token in the frozen root, for `CREDarkPool.exit`.
//! No matcher is involved: the party proves with the public proving key.

use alloy::primitives::{Address, Bytes};
use shr_zk::{BalanceChange, ChangeKind, UpdateWitness};

use crate::{Error, ExitTicket, Result, WithdrawalAuth};

/// The proof of `ticket`'s whole balance of token `token` (`token_index` 0: collateral,
/// 1: payment), for `CREDarkPool.exit` sent by the ticket's party.
///
/// # Errors
/// [`Error::Zk`] for a ticket whose opening does not satisfy the circuit.
pub fn prove_exit(
    ticket: &ExitTicket,
    (token, token_index): (Address, usize),
) -> Result<WithdrawalAuth> {
    let amount = ticket.leaf.balance(token_index);
    let change = BalanceChange {
        party: ticket.leaf.party,
        slot: ticket.slot,
        token: token_index,
        amount,
        kind: ChangeKind::Forced,
    };
    let w = UpdateWitness {
        change,
        old: ticket.leaf,
        new_blinding: shr_zk::random_blinding(),
        siblings: ticket.siblings.clone(),
    };
    let (circuit, old_root, new_root) = w.circuit().map_err(Error::Zk)?;
    let proof = shr_zk::prove(shr_zk::CircuitKind::Update, circuit)?;
    Ok(WithdrawalAuth {
        party: ticket.leaf.party,
        token,
        amount,
        old_commitment: old_root,
        new_commitment: new_root,
        version: ticket.version,
        forced: true,
        proof,
        signature: Bytes::new(),
    })
}
