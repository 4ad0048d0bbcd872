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

/// The directory of a node's sealed secrets (`shr don secret`).
pub(crate) const SECRETS_DIR: &str = "secrets";

/// `shr don secret` flags.
#[derive(Debug, Args)]
pub(crate) struct SecretArgs {
    /// The node's state directory (`shr don init`).
    #[arg(long)]
    dir: PathBuf,
    /// The secret's name, used as `{{secrets.NAME}}` in a source URL or header.
    #[arg(long)]
    name: String,
    /// The only origin the secret may be sent to, `https://HOST[:PORT]` (`http://` to a
    /// loopback host only); a source naming it for another host is refused.
    #[arg(long)]
    origin: String,
    /// Seed of the simulated TEE platform (as at `shr don init`).
    #[arg(long, env = "SHR_TEE_SEED", hide_env_values = true)]
    tee_seed: Option<B256>,
}

/// Seals the secret read from stdin (one line; never from argv) to the node's enclave in
/// `DIR/secrets/NAME.sealed`, and prints `{"dir", "name", "sealed"}` (no value, no length).
pub(crate) fn secret(args: &SecretArgs) -> Result<()> {
    use std::io::Read;
    let tee = SimulatedTee::from_seed(args.tee_seed.unwrap_or(SimulatedTee::DEV_SEED));
    let enclave = restore(&tee, &args.dir)?;
    const MAX: u64 = 64 * 1024;
    let mut value = String::new();
    std::io::stdin()
        .take(MAX + 1)
        .read_to_string(&mut value)
        .wrap_err("reading the secret from stdin")?;
    eyre::ensure!(
        value.len() as u64 <= MAX,
        "secret {}: more than {MAX} bytes on stdin",
        args.name
    );
    let value = value.trim_end_matches(['\r', '\n']);
    eyre::ensure!(!value.is_empty(), "secret {}: stdin was empty", args.name);
    let sealed = shr_oracle::seal_secret(&enclave, &args.name, &args.origin, value.as_bytes())?;
    let dir = args.dir.join(SECRETS_DIR);
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.sealed", args.name));
    // Written whole or not at all, readable by the node's user only.
    let tmp = dir.join(format!(".{}.sealed.tmp", args.name));
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).wrap_err_with(|| format!("writing {}", tmp.display()))?;
        f.write_all(sealed.as_bytes()).wrap_err_with(|| format!("writing {}", tmp.display()))?;
        f.sync_all().wrap_err_with(|| format!("writing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &path).wrap_err_with(|| format!("writing {}", path.display()))?;
    println!(
        "{}",
        serde_json::json!({
            "dir": args.dir.display().to_string(),
            "name": args.name,
            "origin": shr_oracle::origin_of(&args.origin)?,
            "sealed": path.display().to_string(),
        })
    );
    Ok(())
}

/// Opens the secrets `templates` use from `DIR/secrets/` inside `enclave`.
///
/// # Errors
/// A malformed template, a secret missing from the directory (named), or one that does not
/// open in this enclave.
pub(crate) fn open_secrets<'t>(
    enclave: &Enclave,
    dir: &Path,
    templates: impl IntoIterator<Item = &'t str>,
) -> Result<shr_oracle::Secrets> {
    let mut secrets = shr_oracle::Secrets::default();
    for t in templates {
        for name in shr_oracle::Secrets::names_in(t)? {
            let path = dir.join(SECRETS_DIR).join(format!("{name}.sealed"));
            let bytes = std::fs::read(&path).wrap_err_with(|| {
                format!("secret {name}: reading {} (shr don secret --name {name})", path.display())
            })?;
            secrets.open(enclave, &name, &Sealed(bytes)).wrap_err_with(|| {
                format!("secret {name}: {} does not open in this node's enclave", path.display())
            })?;
        }
    }
    Ok(secrets)
}
