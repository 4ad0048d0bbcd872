//! The confidential proof-of-reserve workflow of Self-Healing Reserve.
//!
//! Data flow: a reserve source (a custodian API whose body is HPKE-sealed to each node's
//! enclave, a recorded CSV series, or a public on-chain feed plus ERC-20 `totalSupply`) feeds N
//! oracle nodes ([`Don`], default 4 with f = 1). Each node evaluates the reading inside its
//! simulated enclave ([`ReserveEnclave`]: reserve ratio against a threshold in bps, staleness,
//! ripcord, a confirmation policy) and sends only the signed boolean outcome to the round's
//! leader over a [`Transport`]. With 2f+1 identical outcomes the leader builds a Keystone report
//! ([`report`]), gathers exactly f+1 signatures, and transmits through Chainlink's real
//! `KeystoneForwarder` to `ReserveAttestation`, which stores `isSolvent` and emits
//! `ReserveStatusUpdated`. When a shortfall is confirmed, the leader's enclave seals the deficit
//! to the recovery agent's HPKE key ([`DeficitNotice`]).
//!
//! Run as separate processes, each node is a [`NodeService`]: rounds on a cron schedule
//! ([`RoundSchedule`]), observations broadcast over NATS JetStream ([`NatsTransport`]), agreement
//! counted by every node ([`RoundTally`]), a rotating leader with takeover ([`leader`]).

pub mod amount;
mod don;
mod error;
mod feeds;
mod handoff;
mod manifest;
mod mapping;
mod nats;
mod node;
mod policy;
mod program;
mod reading;
mod recovered;
mod replay;
pub mod report;
mod schedule;
mod secrets;
mod series;
mod service;
mod source;
mod tally;
mod timefmt;
mod transport;

pub use don::{
    Deployment, Don, DonConfig, RoundReport, Transmission, Transmitter, attested_state,
    attested_status, build_report, status_history, status_updates, transmit,
};
pub use error::{Error, Result};
pub use feeds::{FeedSpec, FeedsFile};
pub use handoff::{MemoryMailbox, NodeMailbox, NodeRecovery};
pub use manifest::{
    DarkPoolDeployment, DeploymentManifest, FeedDeployment, PriceFeedDeployment,
    RecoveryDeployment, VaultDeployment,
};
pub use mapping::POR_PROFILES;
pub use nats::{
    DEFAULT_FEED, MAX_QUEUED, NATS_ACK_WAIT_SECS, NATS_MAX_AGE_SECS, NATS_MAX_MESSAGE_BYTES,
    NATS_MAX_STREAM_BYTES, NatsError, NatsTransport, inbox_prefix as nats_inbox_prefix,
    nats_permissions, provision as nats_provision,
};
pub use node::{Behavior, OracleNode};
pub use policy::{Evaluation, Evaluator, Policy, WAD};
pub use program::{
    DEFICIT_INFO, DEFICIT_SIZE, DeficitNotice, NodeInput, Outcome, POR_INFO, PROGRAM,
    ReserveEnclave, SignedDeficitNotice, deficit_digest,
};
pub use reading::{PorFields, ReserveReading, parse_por_json, parse_time};
pub use recovered::{
    CREDIT_INFO, CREDIT_SIZE, ChainEvidence, MAX_EVIDENCE_AGE_SECS, PoolEvidence, RecoveryAccounts,
    read_evidence, seal_credit,
};
pub use replay::{ReplaySummary, replay};
pub use schedule::RoundSchedule;
pub use secrets::{Secrets, origin_of, seal_secret, secret_info, valid_secret_name};
pub use series::{
    Order, OutOfOrder, ReserveSeries, SeriesColumns, SeriesReport, StaleReading, ValueSeries,
};
pub use service::{NodeService, RoundResult, RoundStatus, ServiceConfig};
pub use source::{
    ChainSupplySource, CustodianApiSource, FeedSource, HttpPorSource, MAX_POR_BODY, ReserveSource,
    SeriesSource,
};
pub use tally::{Inbox, RoundTally, leader};
pub use timefmt::TimeFormat;
pub use transport::{InMemoryTransport, Message, NodeId, Transport};
