//! The reserve evaluator: the program each oracle node runs inside its (simulated) enclave.
//!
//! Plaintext reserves, the ratio and the deficit live only in this value. Out of it come the
//! public outcome, signatures over observations and reports, and the deficit sealed to the
//! recovery agent's HPKE key.

use alloy::primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};
use shr_enclave::{Enclave, EnclaveIdentity, HpkePublicKey, Sealed, TeePlatform};

use crate::{
    ChainEvidence, Error, Evaluation, Evaluator, Policy, PorFields, RecoveryAccounts,
    ReserveReading, Result,
    reading::parse_por_json,
    report::{RawReport, ReportBody, WorkflowConfig, forwarder_signature, report_digest},
};

/// The measured program name; its measurement is what verifiers expect.
pub const PROGRAM: &str = concat!("shr-oracle/reserve-evaluator@", env!("CARGO_PKG_VERSION"));
/// HPKE context of custodian bodies sealed to a node's enclave.
pub const POR_INFO: &str = "shr/por/v1";
/// HPKE context of deficit notices sealed to the agent.
pub const DEFICIT_INFO: &str = "shr/deficit/v1";
/// The sealed size of a deficit notice, bytes: every notice has one ciphertext length.
pub const DEFICIT_SIZE: usize = 512;

/// What a node's enclave is given to evaluate.
#[derive(Debug, Clone)]
pub enum NodeInput {
    /// A reading from a source inside the enclave boundary (a reserve series the enclave reads).
    Reading(ReserveReading),
    /// A custodian PoR body sealed to this enclave's HPKE key (context [`POR_INFO`]).
    SealedPor(Sealed),
    /// Another input plus collateral recovered since the shortfall, counted from chain state
    /// the host read at one block ([`ChainEvidence`]): the `ReserveVault` balance, and the
    /// treasury's dark-pool balance as its matcher-signed exit ticket sealed to this enclave
    /// (context [`crate::CREDIT_INFO`]), checked against the pool's commitment at that block.
    Recovered {
        /// The reserve reading.
        inner: Box<NodeInput>,
        /// What the host read at one block.
        evidence: ChainEvidence,
        /// The treasury's exit ticket, sealed to this enclave.
        ticket: Option<Sealed>,
    },
    /// Another input (a custodian body) whose liabilities are the token's ERC-20 `totalSupply`
    /// the host read on chain (`supply=chain`): public, and each node reads it itself, so one
    /// lying host is outvoted. Refused unless the field mapping says `supply=chain`.
    ChainSupply {
        /// The reserve reading (its liabilities unread).
        inner: Box<NodeInput>,
        /// `totalSupply()`, token base units.
        supply: U256,
        /// The block it was read at.
        block: u64,
    },
    /// Public inputs: reserves from an on-chain feed (e.g. a live Chainlink PoR feed), supply
    /// from ERC-20 `totalSupply`.
    Public(ReserveReading),
}

/// The public result of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Confirmed solvency.
    pub is_solvent: bool,
    /// Observation time, unix seconds.
    pub observed_at: u64,
}

/// The deficit notice the agent receives, sealed. Amounts in token base units; ratio in wad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeficitNotice {
    /// Base units missing to reach the threshold.
    pub deficit: U256,
    /// Reserve ratio, wad.
    pub ratio_wad: U256,
    /// Token supply the ratio is of, base units (public: ERC-20 `totalSupply`); the agent sizes
    /// its restore target from it.
    #[serde(default)]
    pub supply: U256,
    /// Observation time, unix seconds.
    pub observed_at: u64,
}

/// A deficit notice as sealed: the notice and its enclave's signature over
/// [`deficit_digest`], so the agent acts only on notices a DON node's enclave wrote (the HPKE
/// seal alone proves nothing: anyone can seal to the agent's public key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedDeficitNotice {
    /// The notice.
    pub notice: DeficitNotice,
    /// The node enclave's signature over [`deficit_digest`] (65 bytes, forwarder format).
    pub signature: alloy::primitives::Bytes,
}

impl SignedDeficitNotice {
    /// The node signer that signed this notice for the agent whose HPKE key is `agent`, about
    /// the vault `vault` on chain `chain_id` (`None` when the signature does not recover).
    pub fn signer(
        &self,
        agent: &HpkePublicKey,
        (chain_id, vault): (u64, Address),
    ) -> Option<Address> {
        let sig: &[u8; 65] = self.signature.as_ref().try_into().ok()?;
        let digest = deficit_digest(agent, (chain_id, vault), &self.notice);
        crate::report::recover_forwarder_signature(sig, &digest)
    }
}

/// What a node's enclave signs for a deficit notice sealed to the agent with HPKE key `agent`
/// about the reserve whose `ReserveVault` is `vault` on chain `chain_id` (the enclave's
/// [`RecoveryAccounts`]; zero when it has none): keccak256 of the context [`DEFICIT_INFO`], the
/// agent's key, the chain id (8 bytes), the vault, and the notice's deficit, ratio, supply
/// (32-byte big-endian each) and `observed_at` (8 bytes). The binding stops a notice written
/// for one agent, chain or feed from being replayed to another.
pub fn deficit_digest(
    agent: &HpkePublicKey,
    (chain_id, vault): (u64, Address),
    n: &DeficitNotice,
) -> B256 {
    keccak256(
        [
            DEFICIT_INFO.as_bytes(),
            agent.0.as_slice(),
            &chain_id.to_be_bytes(),
            vault.as_slice(),
            &n.deficit.to_be_bytes::<32>(),
            &n.ratio_wad.to_be_bytes::<32>(),
            &n.supply.to_be_bytes::<32>(),
            &n.observed_at.to_be_bytes(),
        ]
        .concat(),
    )
}

/// The evaluator enclave of one node.
#[derive(Debug)]
pub struct ReserveEnclave {
    enclave: Enclave,
    evaluator: Evaluator,
    fields: PorFields,
    decimals: u8,
    last: Option<Evaluation>,
    recovery: Option<RecoveryAccounts>,
}

impl ReserveEnclave {
    /// Launches instance `instance` of the program on `platform` (keys survive a restart).
    ///
    /// # Errors
    /// [`Error::Enclave`] if the platform cannot quote it.
    pub fn launch(
        platform: &dyn TeePlatform,
        instance: u32,
        policy: Policy,
        fields: PorFields,
        decimals: u8,
    ) -> Result<Self> {
        Ok(Self {
            enclave: Enclave::launch_instance(platform, PROGRAM, instance)?,
            evaluator: Evaluator::new(policy),
            fields,
            decimals,
            last: None,
            recovery: None,
        })
    }

    /// The program in `enclave`, an enclave of [`PROGRAM`] launched elsewhere (a node's keys
    /// restored from its directory: [`Enclave::restore`]).
    ///
    /// # Errors
    /// [`Error::Config`] when `enclave` runs another program.
    pub fn with_enclave(
        enclave: Enclave,
        policy: Policy,
        fields: PorFields,
        decimals: u8,
    ) -> Result<Self> {
        if *enclave.measurement() != shr_enclave::Measurement::of_program(PROGRAM) {
            return Err(Error::Config(format!("enclave {enclave:?} does not run {PROGRAM}")));
        }
        Ok(Self {
            enclave,
            evaluator: Evaluator::new(policy),
            fields,
            decimals,
            last: None,
            recovery: None,
        })
    }

    /// Public keys and quote.
    pub fn identity(&self) -> &EnclaveIdentity {
        self.enclave.identity()
    }

    /// The accounts whose recovered collateral counts ([`NodeInput::Recovered`]); without them
    /// recovered collateral is refused.
    pub fn set_recovery(&mut self, accounts: RecoveryAccounts) {
        self.recovery = Some(accounts);
    }

    /// Evaluates `input` at `now` (unix seconds); only the outcome leaves.
    ///
    /// # Errors
    /// Parse errors of a sealed body, [`Error::Enclave`] when it does not open, and the
    /// evaluator's refusals (ripcord, stale, zero supply). A refusal changes no state.
    pub fn evaluate(&mut self, input: &NodeInput, now: u64) -> Result<Outcome> {
        let reading = self.reading(input, now)?;
        let ev = self.evaluator.evaluate(&reading, now)?;
        self.last = Some(ev);
        Ok(Outcome { is_solvent: ev.is_solvent, observed_at: ev.observed_at })
    }

    fn reading(&self, input: &NodeInput, now: u64) -> Result<ReserveReading> {
        Ok(match input {
            NodeInput::Reading(r) | NodeInput::Public(r) => *r,
            NodeInput::SealedPor(blob) => {
                let body = self.enclave.open(POR_INFO, blob)?;
                parse_por_json(&body, &self.fields, self.decimals)?
            }
            NodeInput::ChainSupply { inner, supply, block } => {
                if !self.fields.supply_on_chain {
                    return Err(Error::Config(format!(
                        "supply read on chain at block {block}, but this feed's mapping reads it from the body"
                    )));
                }
                if matches!(**inner, NodeInput::ChainSupply { .. } | NodeInput::Recovered { .. }) {
                    return Err(Error::Config("chain supply wraps a custodian body only".into()));
                }
                ReserveReading { supply: *supply, ..self.reading(inner, now)? }
            }
            NodeInput::Recovered { inner, evidence, ticket } => {
                if matches!(**inner, NodeInput::Recovered { .. }) {
                    return Err(Error::Recovery {
                        block: evidence.block,
                        why: "recovered collateral wrapped twice",
                    });
                }
                let mut r = self.reading(inner, now)?;
                let accounts = self.recovery.as_ref().ok_or(Error::Recovery {
                    block: evidence.block,
                    why: "this enclave has no recovery accounts configured",
                })?;
                // The vault's evidence must hold; a ticket that does not open or does not hold
                // adds nothing (it never stops the round).
                let mut credit = crate::recovered::vault_credit(accounts, evidence, now)?;
                if let Some(blob) = ticket {
                    let counted = self
                        .enclave
                        .open(crate::CREDIT_INFO, blob)
                        .ok()
                        .and_then(|json| serde_json::from_slice(&json).ok())
                        .and_then(|t| crate::recovered::ticket_credit(accounts, evidence, &t).ok());
                    credit = credit.saturating_add(counted.unwrap_or_default());
                }
                r.reserves = r.reserves.saturating_add(credit);
                r
            }
        })
    }

    /// Signs an observation of feed `workflow_id`'s `round`: `keccak256("shr/observation" ‖
    /// workflowId ‖ round ‖ solvent ‖ observedAt)`. The workflow id binds the feed, so an
    /// observation of one feed never counts for another feed's round of the same second.
    ///
    /// # Errors
    /// [`Error::Enclave`].
    pub fn sign_observation(
        &self,
        workflow_id: &B256,
        round: u64,
        o: &Outcome,
    ) -> Result<[u8; 65]> {
        let digest = observation_digest(workflow_id, round, o);
        Ok(forwarder_signature(&self.enclave.sign_digest(&digest)?))
    }

    /// Signs a report, only if its workflow fields are `expected` and its body is this enclave's
    /// own last outcome.
    ///
    /// # Errors
    /// [`Error::ReportRefused`] (with `node` 0: the caller knows its id) when it does not match.
    pub fn sign_report(
        &self,
        raw: &[u8],
        context: &[u8],
        expected: &WorkflowConfig,
        target: (u64, Address),
        round: u64,
    ) -> Result<[u8; 65]> {
        let refuse = |why| Error::ReportRefused { node: 0, round, why };
        let report = RawReport::decode(raw).ok_or_else(|| refuse("malformed report"))?;
        if report.workflow != *expected {
            return Err(refuse("foreign workflow or DON config"));
        }
        let body = ReportBody::decode(&report.body).ok_or_else(|| refuse("malformed body"))?;
        if (body.chain_id, body.receiver) != target {
            return Err(refuse("body names another chain or receiver"));
        }
        let own = self.last.ok_or_else(|| refuse("no observation of its own"))?;
        if body.is_solvent != own.is_solvent || body.observed_at != own.observed_at {
            return Err(refuse("body differs from its own observation"));
        }
        Ok(forwarder_signature(&self.enclave.sign_digest(&report_digest(raw, context))?))
    }

    /// Signs a report without any check: models a node whose enclave key is compromised
    /// (Byzantine tests only).
    pub(crate) fn sign_unchecked(&self, raw: &[u8], context: &[u8]) -> Result<[u8; 65]> {
        Ok(forwarder_signature(&self.enclave.sign_digest(&report_digest(raw, context))?))
    }

    /// Seals the last evaluation's deficit to `agent`, signed by this enclave
    /// ([`SignedDeficitNotice`]), when that evaluation is insolvent and observed at
    /// `observed_at` (unix seconds: the transmitted report's); `None` otherwise.
    ///
    /// # Errors
    /// [`Error::Enclave`] for an invalid agent key or a signing failure.
    pub fn seal_deficit(&self, agent: &HpkePublicKey, observed_at: u64) -> Result<Option<Sealed>> {
        let Some(ev) = self.last.filter(|e| !e.is_solvent && e.observed_at == observed_at) else {
            return Ok(None);
        };
        let notice = DeficitNotice {
            deficit: ev.deficit,
            ratio_wad: ev.ratio_wad,
            supply: ev.supply,
            observed_at: ev.observed_at,
        };
        let bound = self.recovery.as_ref().map_or((0, Address::ZERO), |r| (r.chain_id, r.vault));
        let sig = self.enclave.sign_digest(&deficit_digest(agent, bound, &notice))?;
        let signed =
            SignedDeficitNotice { notice, signature: forwarder_signature(&sig).to_vec().into() };
        let json = serde_json::to_vec(&signed).expect("a plain struct serializes");
        Ok(Some(shr_enclave::seal_sized(agent, DEFICIT_INFO, &json, DEFICIT_SIZE)?))
    }
}

/// What a node signs for an observation of feed `workflow_id`'s `round`.
pub(crate) fn observation_digest(workflow_id: &B256, round: u64, o: &Outcome) -> B256 {
    keccak256(
        [
            b"shr/observation".as_slice(),
            workflow_id.as_slice(),
            &round.to_be_bytes(),
            &[o.is_solvent as u8],
            &o.observed_at.to_be_bytes(),
        ]
        .concat(),
    )
}

/// Recovers who signed an observation of feed `workflow_id`'s `round`.
pub(crate) fn observation_signer(
    workflow_id: &B256,
    round: u64,
    o: &Outcome,
    sig: &[u8; 65],
) -> Option<Address> {
    crate::report::recover_forwarder_signature(sig, &observation_digest(workflow_id, round, o))
}
