//! `shr deploy`: a DON of node directories (`shr don init`) onto a chain, written to a
//! deployment manifest; `shr status`: the public state a manifest's receiver holds.

use std::path::PathBuf;

use alloy::primitives::{Address, B256};
use clap::Args;
use eyre::{Result, WrapErr, bail, ensure};
use shr_contracts::{bindings::KeystoneForwarder, deploy, send};
use shr_enclave::{EnclaveIdentity, HpkePublicKey, Measurement, SimulatedTee, TeePlatform};
use shr_oracle::{
    DeploymentManifest, FeedDeployment, FeedsFile, PROGRAM, VaultDeployment, attested_status,
    report::WorkflowConfig, status_history,
};

use crate::don_cmd::IDENTITY_FILE;

/// `shr deploy` flags.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The nodes' directories (`shr don init`), comma-separated, in node order.
    #[arg(long, value_delimiter = ',', required = true)]
    don: Vec<PathBuf>,
    /// Faults tolerated (the forwarder needs more than 3f nodes); reports carry f+1 signatures.
    #[arg(long, default_value_t = 1)]
    f: u8,
    /// Use this deployed KeystoneForwarder (owned by the deployer) instead of deploying one.
    #[arg(long)]
    forwarder: Option<Address>,
    /// The workflow's name (its id derives from it).
    #[arg(long, default_value = "wbtc-por")]
    workflow: String,
    /// Seed of the simulated TEE platform whose quotes the nodes must carry (hex, 32 bytes);
    /// default: the public dev seed, accepted on the dev chain 31337 only.
    #[arg(long, env = "SHR_TEE_SEED")]
    tee_seed: Option<B256>,
    /// Where to write the manifest; when it exists for this chain, the deployment is reused and
    /// a changed DON rotates the config version.
    #[arg(long)]
    out: PathBuf,
    /// A feeds file (TOML, `[[feed]]` tables): a receiver is deployed for each feed that names
    /// none and is not in the manifest yet; one DON serves them all.
    #[arg(long)]
    feeds: Option<PathBuf>,
    /// The collateral token (ERC-20) the reserves are held in: deploys a `ReserveVault` holding
    /// it (the deployer its custodian), unless the manifest has one for it or --vault is given.
    #[arg(long)]
    collateral: Option<Address>,
    /// Use this deployed `ReserveVault` (with --collateral) instead of deploying one.
    #[arg(long, requires = "collateral")]
    vault: Option<Address>,
}

/// Deploys (or rotates) the DON of `args.don` and writes the manifest.
pub(crate) async fn deploy(args: &DeployArgs, rpc_url: Option<&str>) -> Result<()> {
    let Some(url) = rpc_url else {
        bail!("deploy needs --rpc-url: the embedded chain lives only as long as one process");
    };
    let chain = crate::connect(Some(url), None).await?;
    let chain_id = chain.chain_id().await?;
    let tee = SimulatedTee::for_chain(args.tee_seed, chain_id, false)?;
    let nodes = verified_identities(&args.don, &tee)?;
    let n = nodes.len();
    ensure!(n > 3 * usize::from(args.f), "--f {}: {n} nodes need n > 3f", args.f);
    let signers: Vec<Address> = nodes.iter().map(|i| i.signer).collect();
    let admin = chain.accounts()[0];
    let previous = match std::fs::read(&args.out) {
        Ok(b) => Some(DeploymentManifest::from_json(&b).wrap_err_with(|| {
            format!("{} exists and is not a deployment manifest", args.out.display())
        })?),
        Err(_) => None,
    }
    .filter(|m| m.chain_id == chain_id && m.workflow == args.workflow);
    let w = WorkflowConfig::named(&args.workflow, admin);
    let specs = match &args.feeds {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .wrap_err_with(|| format!("reading {}", path.display()))?;
            FeedsFile::from_toml(&text).wrap_err_with(|| format!("{}", path.display()))?.feeds
        }
        None => Vec::new(),
    };
    let (forwarder, receiver, version, don_changed) = match &previous {
        Some(m) if m.signers == signers && m.f == args.f => {
            (m.forwarder, m.receiver, m.config_version, false)
        }
        Some(m) => (m.forwarder, m.receiver, m.config_version + 1, true),
        None => {
            let forwarder = match args.forwarder {
                Some(f) => f,
                None => deploy::keystone_forwarder(chain.as_ref(), admin).await?,
            };
            let receiver = deploy::reserve_attestation(
                chain.as_ref(),
                admin,
                forwarder,
                w.workflow_owner,
                w.workflow_id,
            )
            .await?;
            (forwarder, receiver, 1, true)
        }
    };
    let mut feeds: Vec<FeedDeployment> =
        previous.as_ref().map(|m| m.feeds.clone()).unwrap_or_default();
    let mut feeds_changed = false;
    for spec in &specs {
        let fw = WorkflowConfig::named(&spec.name, admin);
        let receiver = match (spec.receiver, feeds.iter().find(|f| f.name == spec.name)) {
            (Some(given), _) => given,
            (None, Some(known)) => known.receiver,
            (None, None) => deploy::reserve_attestation(
                chain.as_ref(),
                admin,
                forwarder,
                fw.workflow_owner,
                fw.workflow_id,
            )
            .await
            .wrap_err_with(|| format!("deploying the receiver of feed {}", spec.name))?,
        };
        let entry =
            FeedDeployment { name: spec.name.clone(), receiver, workflow_id: fw.workflow_id };
        match feeds.iter_mut().find(|f| f.name == spec.name) {
            Some(f) if *f == entry => {}
            Some(f) => {
                *f = entry;
                feeds_changed = true;
            }
            None => {
                feeds.push(entry);
                feeds_changed = true;
            }
        }
    }
    let known_vault = previous.as_ref().and_then(|m| m.vault);
    let vault = match (args.collateral, args.vault, known_vault) {
        (None, _, known) => known,
        (Some(asset), Some(address), _) => {
            let held = shr_contracts::view(
                chain.as_ref(),
                address,
                &shr_contracts::bindings::ReserveVault::assetCall {},
            )
            .await
            .wrap_err_with(|| format!("--vault {address}: not a ReserveVault"))?;
            ensure!(held == asset, "--vault {address} holds {held}, not --collateral {asset}");
            Some(VaultDeployment { address, asset })
        }
        (Some(asset), None, Some(v)) if v.asset == asset => Some(v),
        (Some(asset), None, _) => {
            let address = deploy::reserve_vault(chain.as_ref(), admin, asset, admin)
                .await
                .wrap_err("deploying the ReserveVault")?;
            Some(VaultDeployment { address, asset })
        }
    };
    let vault_changed = vault != known_vault;
    if let (true, Some(old)) = (vault_changed, known_vault) {
        tracing::warn!(target: "shr::cli", old = %old.address, asset = %old.asset, "the manifest's previous ReserveVault is replaced; move what it holds");
    }
    if let (Some(m), false, false, false) = (&previous, don_changed, feeds_changed, vault_changed) {
        println!("{}", serde_json::to_string(m)?);
        tracing::info!(target: "shr::cli", out = %args.out.display(), "the DON is unchanged");
        return Ok(());
    }
    if don_changed {
        let set = KeystoneForwarder::setConfigCall {
            donId: w.don_id,
            configVersion: version,
            f: args.f,
            signers: signers.clone(),
        };
        send(chain.as_ref(), admin, forwarder, &set).await.wrap_err("setConfig")?;
        if let Some(m) = previous.as_ref().filter(|m| m.config_version != version) {
            // The rotated-out config can no longer carry reports.
            let clear = KeystoneForwarder::clearConfigCall {
                donId: m.don_id,
                configVersion: m.config_version,
            };
            send(chain.as_ref(), admin, forwarder, &clear).await.wrap_err("clearConfig")?;
        }
    }
    let manifest = DeploymentManifest {
        chain_id,
        forwarder,
        receiver,
        don_id: w.don_id,
        config_version: version,
        f: args.f,
        signers,
        node_hpke_keys: nodes.iter().map(|i| i.hpke).collect(),
        platform_root: tee.root(),
        workflow: args.workflow.clone(),
        workflow_owner: w.workflow_owner,
        workflow_id: w.workflow_id,
        deployed_at_block: chain.block_number().await?,
        feeds,
        vault,
        // A rotation keeps the agent's and the dark pool's registration.
        recovery: previous.as_ref().and_then(|m| m.recovery.clone()),
    };
    std::fs::write(&args.out, serde_json::to_vec_pretty(&manifest)?)
        .wrap_err_with(|| format!("writing {}", args.out.display()))?;
    println!("{}", serde_json::to_string(&manifest)?);
    Ok(())
}

/// Each directory's identity, its quote verified against `tee`'s root for the evaluator
/// program; no signer twice.
fn verified_identities(dirs: &[PathBuf], tee: &SimulatedTee) -> Result<Vec<EnclaveIdentity>> {
    let measurement = Measurement::of_program(PROGRAM);
    let mut out: Vec<EnclaveIdentity> = Vec::new();
    for dir in dirs {
        let path = dir.join(IDENTITY_FILE);
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).wrap_err_with(|| format!("reading {}", path.display()))?,
        )
        .wrap_err_with(|| format!("{} is not JSON", path.display()))?;
        let id = EnclaveIdentity {
            signer: serde_json::from_value(v["signer"].clone())
                .wrap_err_with(|| format!("{}: signer", path.display()))?,
            hpke: HpkePublicKey(
                v["hpke_public_key"]
                    .as_str()
                    .and_then(|h| h.parse::<B256>().ok())
                    .ok_or_else(|| eyre::eyre!("{}: hpke_public_key", path.display()))?
                    .0,
            ),
            quote: serde_json::from_value(v["quote"].clone())
                .wrap_err_with(|| format!("{}: quote", path.display()))?,
        };
        id.verify(tee.root(), &measurement)
            .wrap_err_with(|| format!("{}: the quote does not verify", path.display()))?;
        ensure!(
            out.iter().all(|o| o.signer != id.signer),
            "{}: signer {} is already another node's",
            path.display(),
            id.signer
        );
        out.push(id);
    }
    Ok(out)
}

/// `shr status` flags.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The deployment manifest (`shr deploy --out`).
    #[arg(long)]
    deployment: PathBuf,
    /// How many of the latest reports to show.
    #[arg(long, default_value_t = 5)]
    last: usize,
    /// The feed whose receiver to read (`shr deploy --feeds`); default: the manifest's own.
    #[arg(long)]
    feed: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Prints the receiver's public state: `is_solvent`, `last_updated`, `fresh`, the last reports.
pub(crate) async fn status(args: &StatusArgs, rpc_url: Option<&str>) -> Result<()> {
    let m = crate::node_cmd::read_manifest(&args.deployment)?;
    let Some(url) = rpc_url else { bail!("status needs --rpc-url (the deployment's chain)") };
    let chain = crate::connect(Some(url), None).await?;
    m.check_chain(chain.chain_id().await?)?;
    let receiver = match &args.feed {
        Some(name) => match m.feed(name) {
            Some(f) => f.receiver,
            None => bail!("--feed {name}: not a feed of {}", args.deployment.display()),
        },
        None => m.receiver,
    };
    let (is_solvent, observed_at, fresh) = attested_status(chain.as_ref(), receiver).await?;
    let history = status_history(chain.as_ref(), receiver).await?;
    let reports: Vec<_> = history
        .iter()
        .rev()
        .take(args.last)
        .map(|(s, t)| serde_json::json!({ "is_solvent": s, "observed_at": t }))
        .collect();
    // The vault's asset read back from the chain: the manifest names a real ReserveVault.
    let vault = match m.vault {
        Some(v) => {
            let asset = shr_contracts::view(
                chain.as_ref(),
                v.address,
                &shr_contracts::bindings::ReserveVault::assetCall {},
            )
            .await
            .wrap_err_with(|| format!("reading the ReserveVault at {}", v.address))?;
            ensure!(
                asset == v.asset,
                "the ReserveVault at {} holds {asset}, not {}",
                v.address,
                v.asset
            );
            serde_json::json!({ "address": v.address.to_string(), "asset": asset.to_string() })
        }
        None => serde_json::Value::Null,
    };
    let v = serde_json::json!({
        "vault": vault,
        "receiver": receiver.to_string(),
        "is_solvent": is_solvent,
        "last_updated": observed_at,
        "fresh": fresh,
        "reports": history.len(),
        "last_reports": reports,
    });
    if args.json {
        println!("{v}");
    } else {
        println!(
            "isSolvent = {is_solvent}  last updated {observed_at}  fresh = {fresh}  ({} reports)",
            history.len()
        );
        for r in &reports {
            println!("  isSolvent = {}  observed at {}", r["is_solvent"], r["observed_at"]);
        }
    }
    Ok(())
}
