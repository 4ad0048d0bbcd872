//! `shr replay`, `shr attest`, `shr don signers`.

use std::{path::PathBuf, time::Instant};

use alloy::primitives::{Address, B256};
use clap::Args;
use eyre::{Result, WrapErr, bail};
use shr_chain::Chain;
use shr_enclave::SimulatedTee;
use shr_oracle::{
    CustodianApiSource, Deployment, DeploymentManifest, Don, DonConfig, FeedSource, HttpPorSource,
    NodeInput, POR_INFO, Policy, PorFields, ReplaySummary, ReserveEnclave, ReserveSeries,
    ReserveSource, SeriesColumns, attested_state,
};

/// The shipped wBTC series (BitGo custody vs on-chain supply, 2023-07..2025-06), embedded.
pub(crate) const WBTC_SERIES: &[u8] =
    include_bytes!("../../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv");
/// Seed of the development TEE platform (simulated): fixed so that the DON's signer addresses
/// are stable across runs, like anvil's dev mnemonic. Refused on non-dev chains unless
/// `--allow-dev-tee` (`SimulatedTee::for_chain`).
pub(crate) const DEV_TEE_SEED: B256 = SimulatedTee::DEV_SEED;

/// The agent's key-store program on the simulated platform.
pub(crate) const AGENT_KEY_PROGRAM: &str = "shr-agent/key-store@0.1.0";

/// The solvency policy and custodian format every node's enclave runs (`replay`, `attest`,
/// `don node`).
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// Solvency threshold, basis points of supply.
    #[arg(long, default_value_t = 10_000)]
    threshold_bps: u32,
    /// Consecutive short readings before the public state turns insolvent.
    #[arg(long, default_value_t = 2)]
    confirmations: u32,
    /// Heartbeat: re-attest an unchanged outcome after this many seconds.
    #[arg(long, default_value_t = 86_400)]
    heartbeat: u64,
    /// Staleness limit of a reading, seconds.
    #[arg(long, default_value_t = 10_800)]
    max_staleness: u64,
    /// Token decimals for on-chain scaling.
    #[arg(long, default_value_t = 8)]
    pub(crate) decimals: u8,
    /// Where the custodian body keeps one datum, `NAME=POINTER` (repeatable): NAME is
    /// reserves, supply, time or ripcord; POINTER an RFC 6901 JSON Pointer
    /// (`/reservesTotal/amount`) or a top-level field name. Amounts are numbers or decimal
    /// strings in whole tokens.
    #[arg(long = "por-field", value_name = "NAME=POINTER")]
    por_fields: Vec<String>,
    /// A built-in custodian format: chainlink-por (default) or the-network-firm.
    #[arg(long, value_name = "NAME")]
    por_profile: Option<String>,
}

impl PolicyArgs {
    /// The policy of these flags.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            threshold_bps: self.threshold_bps,
            confirmations: self.confirmations,
            heartbeat: self.heartbeat,
            max_staleness: self.max_staleness,
            ..Policy::default()
        }
    }

    /// The custodian field mapping of these flags.
    pub(crate) fn fields(&self) -> Result<PorFields> {
        Ok(PorFields::from_specs(self.por_profile.as_deref(), &self.por_fields)?)
    }
}

/// DON and policy flags shared by `replay` and `attest`.
#[derive(Debug, Args)]
pub(crate) struct DonArgs {
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Seed of the simulated TEE platform (hex, 32 bytes); default: the fixed dev seed.
    #[arg(long)]
    tee_seed: Option<B256>,
    /// Accept the simulated platform's public dev seed on a chain other than the dev chain
    /// 31337 (anyone can forge its quotes: for experiments only, never for real funds).
    #[arg(long)]
    allow_dev_tee: bool,
    /// Database where sealed deficit notices are handed off to the agent (`sqlite:PATH` or
    /// `postgres://...`).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:shr.db")]
    db: String,
    /// Use this deployed KeystoneForwarder instead of deploying one (with --receiver).
    #[arg(long, requires = "receiver")]
    forwarder: Option<Address>,
    /// Use this deployed receiver (ReserveAttestation) instead of deploying one.
    #[arg(long, requires = "forwarder")]
    receiver: Option<Address>,
    /// A deployment manifest (`shr deploy --out`): its forwarder, receiver, workflow and
    /// config; the nodes are those of --don.
    #[arg(long, requires = "don", conflicts_with_all = ["forwarder", "receiver"])]
    deployment: Option<PathBuf>,
    /// The nodes' directories (`shr don init`), comma-separated, in the deployment's order.
    #[arg(long, value_delimiter = ',', requires = "deployment")]
    don: Vec<PathBuf>,
}

impl DonArgs {
    fn don(&self, owner: Address, chain_id: u64) -> Result<Don> {
        let tee = SimulatedTee::for_chain(self.tee_seed, chain_id, self.allow_dev_tee)?;
        if self.allow_dev_tee && chain_id != shr_enclave::DEV_CHAIN_ID {
            tracing::warn!(target: "shr::cli", chain_id, "--allow-dev-tee: the simulated platform's public dev seed guards this chain; anyone can forge its quotes");
        }
        let mut cfg = DonConfig::new("wbtc-por", owner, self.policy.decimals);
        cfg.fields = self.policy.fields()?;
        cfg.policy = self.policy.policy();
        if let Some(m) = self.manifest()? {
            m.check_chain(chain_id)?;
            cfg.workflow = m.workflow_config();
            cfg.f = usize::from(m.f);
            let mut enclaves = Vec::new();
            for dir in &self.don {
                let e = crate::don_cmd::restore(&tee, dir)?;
                let fields = cfg.fields.clone();
                enclaves.push(ReserveEnclave::with_enclave(e, cfg.policy, fields, cfg.decimals)?);
            }
            let agent = shr_enclave::Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
            cfg.agent_key = Some(agent.identity().hpke);
            let don = Don::from_enclaves(enclaves, cfg)?;
            if don.signers() != m.signers.as_slice() {
                bail!("the nodes of --don are not the deployment's signers, in its order");
            }
            return Ok(don);
        }
        // The recovery agent's key store runs on the same (simulated) platform; confirmed
        // deficits are sealed to its HPKE key.
        let agent = shr_enclave::Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
        cfg.agent_key = Some(agent.identity().hpke);
        Ok(Don::new(&tee, cfg)?)
    }

    fn manifest(&self) -> Result<Option<DeploymentManifest>> {
        let Some(path) = &self.deployment else { return Ok(None) };
        Ok(Some(crate::node_cmd::read_manifest(path)?))
    }

    async fn deployment(&self, don: &Don, chain: &dyn Chain) -> Result<Deployment> {
        if let Some(m) = self.manifest()? {
            return Ok(m.deployment());
        }
        match (self.forwarder, self.receiver) {
            (Some(forwarder), Some(receiver)) => Ok(Deployment { forwarder, receiver }),
            _ => Ok(don
                .deploy(chain, chain.accounts()[0])
                .await
                .wrap_err("deploying the forwarder and receiver")?),
        }
    }
}

/// The DON of the demo: default policy on the dev (simulated) TEE platform, deficits sealed to
/// the agent's key store.
pub(crate) fn dev_don(owner: Address, decimals: u8) -> Result<Don> {
    let tee = SimulatedTee::from_seed(DEV_TEE_SEED);
    let mut cfg = DonConfig::new("wbtc-por", owner, decimals);
    let agent = shr_enclave::Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
    cfg.agent_key = Some(agent.identity().hpke);
    Ok(Don::new(&tee, cfg)?)
}

/// The shipped wBTC series, amounts scaled to `decimals`.
pub(crate) fn wbtc_series(decimals: u8) -> Result<ReserveSeries> {
    Ok(ReserveSeries::from_reader(WBTC_SERIES, &SeriesColumns::wbtc(), decimals)?)
}

/// `shr replay` flags.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    series: crate::series_args::SeriesArgs,
    /// First reading's time (RFC 3339), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Last reading's time (RFC 3339), inclusive.
    #[arg(long)]
    to: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// A `ReserveVault` whose balance (recovered collateral) each node reads from the chain at
    /// a block it names and adds to the reserves.
    #[arg(long)]
    vault: Option<alloy::primitives::Address>,
    #[command(flatten)]
    don: DonArgs,
}

fn time_arg(name: &str, v: &Option<String>) -> Result<Option<u64>> {
    v.as_deref()
        .map(|s| shr_oracle::parse_time(name, s).wrap_err_with(|| format!("--{name}")))
        .transpose()
}

fn rfc3339(t: u64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

pub(crate) async fn replay(args: ReplayArgs, rpc_url: Option<&str>) -> Result<()> {
    let series = args.series.load(args.don.policy.decimals)?;
    let window = series.window(time_arg("from", &args.from)?, time_arg("to", &args.to)?);
    let Some(first) = window.first() else { bail!("no readings in the chosen window") };
    let chain = crate::connect(rpc_url, Some(first.observed_at.saturating_sub(1))).await?;
    let chain = chain.as_ref();
    let chain_id = chain.chain_id().await?;
    let mut don = args.don.don(chain.accounts()[0], chain_id)?;
    let dep = args.don.deployment(&don, chain).await?;
    // The vault only: no dark pool is configured, so no ticket counts.
    let recovery = args.vault.map(|vault| shr_oracle::RecoveryAccounts {
        chain_id,
        vault,
        treasury: alloy::primitives::Address::ZERO,
        collateral: alloy::primitives::Address::ZERO,
        pool: None,
    });
    if let Some(r) = recovery {
        don.set_recovery(r);
    }
    tracing::info!(target: "shr::replay", readings = window.len(), forwarder = %dep.forwarder, receiver = %dep.receiver, backend = %chain.backend(), "replaying");
    let bar = (!args.json && window.len() > 500).then(|| {
        let b = indicatif::ProgressBar::new(window.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rounds {elapsed}")
                .expect("template"),
        );
        b
    });
    let started = Instant::now();
    let summary = shr_oracle::replay(
        &mut don,
        chain,
        &dep,
        (chain.accounts()[1], recovery),
        window,
        |done, _| {
            if let Some(b) = &bar
                && done % 100 == 0
            {
                b.set_position(done as u64);
            }
        },
    )
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !summary.sealed_deficits.is_empty() {
        let store = shr_store::Store::open(&args.don.db).await?;
        for (t, sealed) in &summary.sealed_deficits {
            store.put_sealed_deficit(*t, sealed.as_bytes()).await?;
        }
        tracing::info!(target: "shr::replay", n = summary.sealed_deficits.len(), db = %crate::demo_cmd::redact_url(&args.don.db), "sealed deficit notices handed off to the agent");
    }
    let (is_solvent, last) = attested_state(chain, dep.receiver).await?;
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["final_is_solvent"] = is_solvent.into();
        v["sealed_deficits_handed_off"] = summary.sealed_deficits.len().into();
        v["final_last_updated"] = last.into();
        v["forwarder"] = dep.forwarder.to_string().into();
        v["receiver"] = dep.receiver.to_string().into();
        v["backend"] = chain.backend().to_string().into();
        if let (Some(obj), serde_json::Value::Object(series)) =
            (v.as_object_mut(), serde_json::to_value(&series.report)?)
        {
            obj.extend(series);
        }
        println!("{v}");
    } else {
        print_summary(&summary, window.len(), started.elapsed().as_millis(), is_solvent, &dep);
        crate::series_args::print_report(&series.report);
    }
    Ok(())
}

fn print_summary(s: &ReplaySummary, n: usize, ms: u128, is_solvent: bool, dep: &Deployment) {
    println!(
        "replayed {n} readings in {ms} ms (forwarder {}, receiver {})",
        dep.forwarder, dep.receiver
    );
    println!(
        "rounds {}  transmissions {}  state changes {}  insolvent rounds {}  failed rounds {}",
        s.rounds, s.transmissions, s.state_changes, s.insolvent_rounds, s.failed_rounds
    );
    println!("gas per report: median {}  first {}", s.median_gas_per_report, s.first_report_gas);
    println!("round latency: p50 {} µs  p99 {} µs", s.round_latency_us_p50, s.round_latency_us_p99);
    if s.insolvent_intervals.is_empty() {
        println!("insolvent intervals: none");
    }
    for (a, b) in &s.insolvent_intervals {
        println!("insolvent interval: {} .. {}", rfc3339(*a), rfc3339(*b));
    }
    println!("confirmation policy (operator view, from the input series):");
    if s.absorbed_short_readings.is_empty() {
        println!("  no short reading was absorbed");
    }
    for (t, ratio) in &s.absorbed_short_readings {
        println!(
            "  {}: one reading at ratio {ratio:.4} was not confirmed by the next; the public state stayed solvent",
            rfc3339(*t)
        );
    }
    println!("public timeline (booleans only):");
    let mut prev = None;
    for (t, b) in &s.timeline {
        if prev != Some(*b) {
            println!("  {}  isSolvent = {b}", rfc3339(*t));
            prev = Some(*b);
        }
    }
    println!(
        "  ({} reports in all; heartbeats omitted)  final isSolvent = {is_solvent}",
        s.timeline.len()
    );
}

/// `shr attest` flags.
#[derive(Debug, Args)]
pub(crate) struct AttestArgs {
    /// One custodian body in the PoR convention (totalReserve, totalToken, timestamp, ripcord).
    #[arg(long, required_unless_present_any = ["custodian", "feed", "por_url"], conflicts_with_all = ["custodian", "feed", "por_url"])]
    por_json: Option<PathBuf>,
    /// A custodian's own PoR API (any JSON format, see --por-field), fetched by each node
    /// itself and sealed to its enclave at once.
    #[arg(long, conflicts_with_all = ["custodian", "feed"])]
    por_url: Option<String>,
    /// How long a node waits for --por-url, milliseconds.
    #[arg(long, default_value_t = 5_000)]
    por_timeout_ms: u64,
    /// A custodian API (`shr custodian`) that seals its body to each node's enclave key.
    #[arg(long, conflicts_with = "feed")]
    custodian: Option<String>,
    /// A public AggregatorV3 reserve feed on --rpc-url (with --token for the supply).
    #[arg(long, requires = "token")]
    feed: Option<Address>,
    /// The ERC-20 whose totalSupply is the liabilities (with --feed).
    #[arg(long, requires = "feed")]
    token: Option<Address>,
    /// Evaluation time (RFC 3339 or unix seconds); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    don: DonArgs,
}

pub(crate) async fn attest(args: AttestArgs, rpc_url: Option<&str>) -> Result<()> {
    match attest_inner(&args, rpc_url).await {
        Ok(v) => {
            if args.json {
                println!("{v}");
            } else {
                println!("isSolvent = {}  transmitted = {}", v["is_solvent"], v["transmitted"]);
            }
            Ok(())
        }
        Err(e) if args.json => {
            println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            std::process::exit(1);
        }
        Err(e) => Err(e),
    }
}

async fn attest_inner(args: &AttestArgs, rpc_url: Option<&str>) -> Result<serde_json::Value> {
    let now = match &args.now {
        Some(s) => shr_oracle::parse_time("now", s)?,
        None => chrono::Utc::now().timestamp() as u64,
    };
    let chain = crate::connect(rpc_url, Some(now.saturating_sub(1))).await?;
    let mut don = args.don.don(chain.accounts()[0], chain.chain_id().await?)?;
    let dep = args.don.deployment(&don, chain.as_ref()).await?;
    let source: Box<dyn ReserveSource> =
        match (&args.por_json, &args.custodian, args.feed, args.token) {
            _ if args.por_url.is_some() => Box::new(HttpPorSource::new(
                args.por_url.clone().unwrap_or_default(),
                std::time::Duration::from_millis(args.por_timeout_ms),
            )?),
            (Some(path), ..) => {
                let body =
                    std::fs::read(path).wrap_err_with(|| format!("reading {}", path.display()))?;
                Box::new(FileCustodian(body))
            }
            (_, Some(url), ..) => Box::new(CustodianApiSource::new(url.clone())),
            (_, _, Some(feed), Some(token)) => {
                Box::new(FeedSource::new(chain.clone(), feed, token))
            }
            _ => bail!("give --por-json, --por-url, --custodian or --feed with --token"),
        };
    let mut inputs = Vec::new();
    for n in don.nodes() {
        inputs.push(source.fetch(n.identity(), now).await?);
    }
    let rep =
        don.round(chain.as_ref(), &dep, chain.accounts()[1], now, |i| inputs[i].clone()).await?;
    let Some(outcome) = rep.outcome else {
        let why =
            rep.errors.first().map(|e| format!("{e}")).unwrap_or_else(|| "no consensus".into());
        bail!("input refused: {why}");
    };
    let t = rep.transmission.as_ref();
    Ok(serde_json::json!({
        "is_solvent": outcome.is_solvent,
        "observed_at": outcome.observed_at,
        "transmitted": t.is_some_and(|t| t.accepted),
        "tx_hash": t.map(|t| t.tx_hash.to_string()),
        "gas_used": t.map(|t| t.gas_used),
        "votes": rep.votes,
        "forwarder": dep.forwarder.to_string(),
        "receiver": dep.receiver.to_string(),
    }))
}

/// A custodian body read from a file, sealed to each node's enclave key as the custodian's API
/// would seal it.
#[derive(Debug)]
struct FileCustodian(Vec<u8>);

#[async_trait::async_trait]
impl ReserveSource for FileCustodian {
    async fn fetch(
        &self,
        node: &shr_enclave::EnclaveIdentity,
        _now: u64,
    ) -> shr_oracle::Result<NodeInput> {
        Ok(NodeInput::SealedPor(shr_enclave::seal(&node.hpke, POR_INFO, &self.0)?))
    }
}

/// `shr don signers`: the DON's signer addresses and enclave keys, for a forwarder's `setConfig`.
pub(crate) fn signers(tee_seed: Option<B256>, json: bool) -> Result<()> {
    let tee = SimulatedTee::from_seed(tee_seed.unwrap_or(DEV_TEE_SEED));
    let don = Don::new(&tee, DonConfig::new("wbtc-por", Address::ZERO, 8))?;
    let rows: Vec<_> = don
        .nodes()
        .iter()
        .map(|n| serde_json::json!({ "signer": n.identity().signer.to_string(), "hpke": n.identity().hpke.to_string(), "measurement": n.identity().quote.measurement.0.to_string() }))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({ "f": don.config().f, "nodes": rows, "platform_root": tee_root(&tee) })
        );
    } else {
        println!(
            "DON of {} nodes, f = {} (simulated TEE, platform root {})",
            rows.len(),
            don.config().f,
            tee_root(&tee)
        );
        for (i, r) in rows.iter().enumerate() {
            println!(
                "  node {i}: signer {}  hpke {}",
                r["signer"].as_str().unwrap_or(""),
                r["hpke"].as_str().unwrap_or("")
            );
        }
        println!(
            "setConfig(donId = 1, configVersion = 1, f = {}, signers = [{}])",
            don.config().f,
            don.signers().iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

fn tee_root(tee: &SimulatedTee) -> String {
    use shr_enclave::TeePlatform;
    tee.root().to_string()
}
