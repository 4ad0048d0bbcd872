//! `shr signer keygen|refresh|run`: one treasury signer party as a process. Each party keeps
//! its directory (enclave identity, share and ledger sealed at rest; `group.json` public) and
//! speaks to the other parties and to the agent over NATS.

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::primitives::B256;
use clap::{Args, Subcommand};
use eyre::{Result, WrapErr, bail, ensure};
use shr_enclave::{SimulatedTee, TeePlatform};
use shr_signer::{
    Ledger, Policy,
    bus::NatsBus,
    ceremony::{self, Ceremony},
    serve::LedgerStore,
    serve::Service,
    store::{PartyDir, ShareFile},
};

/// `shr signer` commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SignerCommand {
    /// Distributed key generation (DKLs23, no dealer): run it at every party at once; each
    /// prints `{"address", "party", "threshold", "parties", "group"}`, the same address at all.
    Keygen(KeygenArgs),
    /// Proactive refresh (every party at once): new shares for the same address; the old share
    /// file is replaced.
    Refresh(PartyArgs),
    /// Serve the agent's signing requests until SIGTERM, checking `--policy` before signing.
    Run(RunArgs),
}

/// Who this party is and how it reaches the others.
#[derive(Debug, Args)]
pub(crate) struct PartyArgs {
    /// This party's index, 1-based.
    #[arg(long)]
    party: u8,
    /// This party's directory (identity, share and ledger sealed at rest; `group.json`).
    #[arg(long)]
    dir: PathBuf,
    /// The NATS server the parties and the agent share.
    #[arg(long, env = "SHR_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Signer group name (subjects under `shr.signer.<group>`).
    #[arg(long, default_value = "treasury")]
    group: String,
    /// Seed of the simulated TEE platform sealing this party's state (hex, 32 bytes); the
    /// same at every start. Default: the public dev seed (anyone can unseal: dev only).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
    /// How long key generation or refresh waits for the other parties, seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// `shr signer keygen` flags.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    #[command(flatten)]
    party: PartyArgs,
    /// Signatures need this many parties.
    #[arg(long, default_value_t = 2)]
    threshold: u8,
    /// Parties holding a share.
    #[arg(long, default_value_t = 3)]
    parties: u8,
}

/// `shr signer run` flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    party: PartyArgs,
    /// The policy this party enforces (JSON: `chainId`, `dailyLimits` {token: base units,
    /// `0x00..00` for the native coin, fees included}, `routers`, `spenders`, `recipients`).
    #[arg(long)]
    policy: PathBuf,
    /// Accept the simulated platform's public dev seed for a policy on a chain other than
    /// 31337 (anyone could unseal the share: experiments only).
    #[arg(long)]
    allow_dev_tee: bool,
}

fn platform(args: &PartyArgs) -> SimulatedTee {
    if args.tee_seed.is_none() {
        tracing::warn!(target: "shr::cli", party = args.party, "no --tee-seed: the simulated platform's public dev seed seals this party's share (dev only)");
    }
    SimulatedTee::from_seed(args.tee_seed.unwrap_or(SimulatedTee::DEV_SEED))
}

/// Runs a `shr signer` command.
pub(crate) async fn run(cmd: SignerCommand) -> Result<()> {
    match cmd {
        SignerCommand::Keygen(a) => keygen(a).await,
        SignerCommand::Refresh(a) => refresh(a).await,
        SignerCommand::Run(a) => serve(a).await,
    }
}

async fn keygen(a: KeygenArgs) -> Result<()> {
    let p = &a.party;
    let tee = platform(p);
    let dir = PartyDir::open(&p.dir)?;
    ensure!(
        !dir.has_share(),
        "--dir {}: this party already holds a share; `shr signer refresh` renews it, a new key needs a new directory",
        p.dir.display()
    );
    let enclave = dir.enclave(&tee)?;
    let bus = NatsBus::connect(&p.nats).await?;
    let c = Ceremony::Keygen { t: a.threshold, n: a.parties, me: p.party };
    let timeout = Duration::from_secs(p.timeout_secs);
    let out = ceremony::run(&bus, &enclave, tee.root(), &p.group, c, timeout)
        .await
        .wrap_err_with(|| format!("key generation at party {}", p.party))?;
    let file = ShareFile {
        group: p.group.clone(),
        threshold: out.t,
        roster: out.roster,
        share: out.share,
    };
    let group = dir.save_share(&enclave, &file)?;
    // The ledger starts here: from now on a missing ledger file is an error, never a reset.
    dir.ledger_store(&enclave).save(&Ledger::default())?;
    tracing::info!(target: "shr::signer", party = p.party, address = %group.address, "key generated; share sealed");
    let line = serde_json::json!({
        "address": group.address,
        "party": p.party,
        "threshold": group.threshold,
        "parties": group.parties,
        "group": group.group,
    });
    println!("{line}");
    Ok(())
}

async fn refresh(p: PartyArgs) -> Result<()> {
    let tee = platform(&p);
    let dir = PartyDir::open(&p.dir)?;
    ensure!(dir.has_share(), "--dir {}: no share to refresh (run keygen)", p.dir.display());
    let enclave = dir.enclave(&tee)?;
    let file = dir.share(&enclave)?;
    let me = file.share.party.party_index.as_u8();
    ensure!(me == p.party, "--party {}: the share in {} is party {me}'s", p.party, p.dir.display());
    let bus = NatsBus::connect(&p.nats).await?;
    let c = Ceremony::Refresh { share: Box::new(file.share), roster: file.roster };
    let timeout = Duration::from_secs(p.timeout_secs);
    let out = ceremony::run(&bus, &enclave, tee.root(), &file.group, c, timeout)
        .await
        .wrap_err_with(|| format!("refresh at party {}", p.party))?;
    let new =
        ShareFile { group: file.group, threshold: out.t, roster: out.roster, share: out.share };
    let group = dir.save_share(&enclave, &new)?;
    tracing::info!(target: "shr::signer", party = p.party, address = %group.address, "share refreshed; the old one is overwritten");
    let line = serde_json::json!({
        "address": group.address,
        "party": p.party,
        "threshold": group.threshold,
        "parties": group.parties,
        "group": group.group,
        "refreshed": true,
    });
    println!("{line}");
    Ok(())
}

async fn serve(a: RunArgs) -> Result<()> {
    let p = &a.party;
    let text = std::fs::read_to_string(&a.policy)
        .wrap_err_with(|| format!("--policy {}", a.policy.display()))?;
    let policy: Policy = serde_json::from_str(&text)
        .wrap_err_with(|| format!("--policy {}: not a signer policy", a.policy.display()))?;
    ensure!(
        !policy.agents.is_empty(),
        "--policy {}: `agents` is empty, so no request would be answered (the agent logs its agent_key at start)",
        a.policy.display()
    );
    let tee = SimulatedTee::for_chain(p.tee_seed, policy.chain_id, a.allow_dev_tee)?;
    if p.tee_seed.is_none() {
        tracing::warn!(target: "shr::cli", party = p.party, "no --tee-seed: the public dev seed seals this party's share (dev chain only)");
    }
    let dir = PartyDir::open(&p.dir)?;
    if !dir.has_share() {
        bail!("--dir {}: no share (run `shr signer keygen` first)", p.dir.display());
    }
    let enclave = Arc::new(dir.enclave(&tee)?);
    let file = dir.share(&enclave)?;
    let me = file.share.party.party_index.as_u8();
    ensure!(me == p.party, "--party {}: the share in {} is party {me}'s", p.party, p.dir.display());
    let ledger = dir.ledger(&enclave)?;
    let bus = Arc::new(NatsBus::connect(&p.nats).await?);
    let service = Service {
        bus,
        enclave: enclave.clone(),
        group: file.group.clone(),
        share: Arc::new(file.share),
        roster: Arc::new(file.roster),
        policy,
        sign_timeout: Duration::from_secs(10),
    };
    let store = dir.ledger_store(&enclave);
    tokio::select! {
        r = service.run(ledger, &store) => Ok(r?),
        () = crate::node_cmd::shutdown_signal() => {
            tracing::info!(target: "shr::signer", party = p.party, "stopping");
            Ok(())
        }
    }
}
