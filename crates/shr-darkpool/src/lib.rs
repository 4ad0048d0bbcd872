//! The confidential dark pool of Self-Healing Reserve.
//!
//! Large deficits cannot go through an AMM without moving the market and telling everyone the
//! size. Here market makers pre-commit collateral ([`MakerCommitment`], sealed to the matcher),
//! the recovery agent seals its [`Order`] to the matcher and calls `requestCollateral` on
//! `CREDarkPool`, and the [`MatcherEnclave`] (a simulated TEE program) matches it with the pure
//! core ([`match_order`]: best ask first, pro rata at a level, minimum fills honoured, priced at
//! the oracle TWAP plus each maker's spread inside the requester's band), updates the private
//! balance tree (`shr_zk::BalanceTree`, one Poseidon leaf per party) and settles on chain with
//! the new root and a Groth16 proof that the transition is valid ([`DarkPool::fill`]); deposits
//! enter the tree and withdrawals leave it the same way, proven. Only statuses, ids and commitments are public; each maker learns its
//! own fill and the requester its total, from notices sealed to their keys.
//!
//! Data flow: attestation false -> agent (`shr-agent`) -> this crate -> `CREDarkPool` -> the
//! oracle's next round counts the credited collateral.

mod error;
mod exit;
mod matcher;
mod matching;
mod messages;
mod pool;
mod service;
mod twap;
mod twap_oracle;

pub use error::{Error, Result};
pub use exit::prove_exit;
pub use matcher::{DEFAULT_FINALITY_DEPTH, MatcherEnclave, Reconciled, STATE_INFO};
pub use matching::{
    Fill, MakerCommitment, MatchOutcome, MatchStatus, Order, ask_wad, match_order, payment,
};
pub use messages::{
    EXIT_INFO, ExitTicket, FILL_INFO, FillNotice, MAKER_INFO, MATCHER_PROGRAM, MakerBody,
    ORDER_INFO, OrderBody, Registration, RequestRef, SEALED_SIZES, Settlement, WithdrawalAuth,
    change_digest, mailbox_key, mailbox_secret, maker_digest, open_exit_ticket, open_notice,
    registration_report_data, seal_maker, seal_order, settlement_digest,
};
pub use pool::{DEFAULT_EXIT_DELAY_SECS, DarkPool, REGISTRATION_VALIDITY_SECS, RequestStatus};
pub use service::{
    MAKER_KIND, STATE_KEY, Served, absorb_deposits, admit_makers, exit_key, onboard_maker,
    prepare_proving_keys, reconcile, serve_once, sync_deposits,
};
pub use twap::{
    DEFAULT_TWAP_WINDOW_SECS, Observation, ObservationWindow, TWAP_INFO, TwapPolicy, observe,
    sliding_twap, twap_checked, twap_wad,
};
pub use twap_oracle::{
    DEFAULT_MAX_TWAP_ABOVE_BPS, DEFAULT_MAX_TWAP_BELOW_BPS, ORACLE_GRANULARITY, ORACLE_WINDOW_SECS,
    TwapBound, deploy_twap_oracle, update_twap_oracle,
};
