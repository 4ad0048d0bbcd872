//! `shr don init`: one oracle node's enclave state in its own directory. The node's keys are
//! drawn inside its enclave and kept only sealed at rest to the platform's sealing key for the
//! reserve-evaluator program; the directory also holds the public identity (signer, HPKE key,
//! quote) an operator hands to whoever deploys the DON.

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use clap::Args;
use eyre::{Result, WrapErr};
use shr_enclave::{Enclave, Sealed, SimulatedTee, TeePlatform};
use shr_oracle::PROGRAM;

/// The sealed key seed in a node directory.
pub(crate) const SEALED_KEY_FILE: &str = "enclave-key.sealed";
/// The public identity in a node directory.
pub(crate) const IDENTITY_FILE: &str = "identity.json";

/// `shr don init` flags.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The node's state directory (created when missing).
    #[arg(long)]
    dir: PathBuf,
    /// Seed of the simulated TEE platform (hex, 32 bytes), standing in for the machine's
    /// hardware; the same seed must be given whenever the node starts. Default: the public
    /// dev seed (anyone can unseal and forge: dev chains only).
    #[arg(long, env = "SHR_TEE_SEED")]
    tee_seed: Option<B256>,
}

/// Creates the node's enclave state in `dir`, or re-opens it when it exists (the keys never
/// rotate by accident), and prints its identity as one JSON object.
pub(crate) fn init(args: &InitArgs) -> Result<()> {
    let tee = SimulatedTee::from_seed(args.tee_seed.unwrap_or(SimulatedTee::DEV_SEED));
    if args.tee_seed.is_none() {
        tracing::warn!(target: "shr::cli", "no --tee-seed: the simulated platform's public dev seed seals this node's keys (dev chains only)");
    }
    let (enclave, created) = open_or_create(&tee, &args.dir)?;
    let id = enclave.identity();
    let identity = serde_json::json!({
        "signer": id.signer.to_string(),
        "hpke_public_key": id.hpke.to_string(),
        "quote": id.quote,
        "platform_root": tee.root().to_string(),
        "program": PROGRAM,
    });
    let path = args.dir.join(IDENTITY_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&identity)?)
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    let mut out = identity;
    out["dir"] = args.dir.display().to_string().into();
    out["created"] = created.into();
    println!("{out}");
    Ok(())
}

/// The node enclave of `dir`, restored from its sealed key seed (never created).
pub(crate) fn restore(tee: &dyn TeePlatform, dir: &Path) -> Result<Enclave> {
    let sealed_path = dir.join(SEALED_KEY_FILE);
    eyre::ensure!(sealed_path.exists(), "{}: no node here (shr don init --dir)", dir.display());
    Ok(open_or_create(tee, dir)?.0)
}

/// The node enclave of `dir`: restored from its sealed key seed, or launched with fresh keys
/// whose seed is sealed there (`created` = true).
pub(crate) fn open_or_create(tee: &dyn TeePlatform, dir: &Path) -> Result<(Enclave, bool)> {
    let sealed_path = dir.join(SEALED_KEY_FILE);
    if sealed_path.exists() {
        let bytes = std::fs::read(&sealed_path)
            .wrap_err_with(|| format!("reading {}", sealed_path.display()))?;
        let enclave = Enclave::restore(tee, PROGRAM, &Sealed(bytes)).wrap_err_with(|| {
            format!(
                "{} does not unseal on this platform (another --tee-seed, or another program version)",
                sealed_path.display()
            )
        })?;
        return Ok((enclave, false));
    }
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let (enclave, sealed) = Enclave::launch_sealed(tee, PROGRAM)?;
    std::fs::write(&sealed_path, sealed.as_bytes())
        .wrap_err_with(|| format!("writing {}", sealed_path.display()))?;
    Ok((enclave, true))
}
