//! What `shr agent` reads from and writes to the deployment manifest: the DON whose signed
//! deficit notices count, and the agent's registration (treasury, key, price feeds).

use alloy::primitives::Address;
use eyre::{Result, bail};
use shr_agent::DonSigners;
use shr_enclave::{Enclave, SimulatedTee};
use shr_oracle::{DeploymentManifest, PriceFeedDeployment, RecoveryDeployment};

use super::{RegisterArgs, RunArgs};
use crate::{node_cmd::read_manifest, oracle_cmd::AGENT_KEY_PROGRAM};

/// The DON whose signed deficit notices the agent counts: the manifest's signers and f, or
/// `--don-signers`/`--don-f` (a subset of the manifest's signers, never a smaller f than its).
pub(super) fn don_signers(
    args: &RunArgs,
    m: Option<&DeploymentManifest>,
    bound: (u64, Address),
) -> Result<DonSigners> {
    let mut signers = if args.don_signers.is_empty() {
        match m {
            Some(m) => m.signers.clone(),
            None => bail!(
                "no DON signers: give --deployment or --don-signers (the agent acts only on deficit notices signed by f+1 of the DON's nodes)"
            ),
        }
    } else {
        args.don_signers.clone()
    };
    signers.sort_unstable();
    signers.dedup();
    let f = match (args.don_f, m) {
        (Some(f), Some(m)) if f < m.f => {
            bail!("--don-f {f}: below the manifest's f = {} (fewer notices would count)", m.f)
        }
        (Some(f), _) => f,
        (None, Some(m)) => m.f,
        (None, None) => bail!("--don-signers needs --don-f (the faults the DON tolerates)"),
    };
    if let Some(m) = m
        && let Some(x) = signers.iter().find(|s| !m.signers.contains(s))
    {
        bail!("--don-signers: {x} is not one of the manifest's DON signers");
    }
    let don = DonSigners { signers, f: f.into(), bound };
    if don.quorum() > don.signers.len() {
        bail!(
            "--don-f {}: f+1 = {} signed notices needed but the DON has {} distinct signers",
            don.f,
            don.quorum(),
            don.signers.len()
        );
    }
    if don.f == 0 {
        tracing::warn!(target: "shr::agent", "f = 0: one node's deficit notice is enough for the agent to act");
    }
    Ok(don)
}

pub(super) fn register(args: &RegisterArgs) -> Result<()> {
    let mut m = read_manifest(&args.deployment)?;
    let tee = SimulatedTee::for_chain(args.tee_seed, m.chain_id, args.allow_dev_tee)?;
    let key = Enclave::launch_instance(&tee, AGENT_KEY_PROGRAM, 0)?;
    let previous = m.recovery.take();
    let price_feed = args
        .price_feed
        .map(|address| PriceFeedDeployment {
            address,
            max_age_secs: args.price_max_age_secs,
            reference: args.reference_price_feed,
            max_deviation_bps: args.max_deviation_bps,
        })
        .map(|mut feed| {
            // Re-registering without --reference-price-feed keeps the earlier cross-check.
            let earlier = previous.as_ref().and_then(|r| r.price_feed);
            if feed.reference.is_none() {
                feed.reference = earlier.and_then(|e| e.reference);
            }
            feed
        })
        .or(previous.as_ref().and_then(|r| r.price_feed));
    m.recovery = Some(RecoveryDeployment {
        treasury: args.treasury,
        agent_hpke: key.identity().hpke,
        price_feed,
        dark_pool: previous.and_then(|r| r.dark_pool),
    });
    crate::write_manifest(&args.deployment, &m)?;
    println!("{}", serde_json::to_string(&m.recovery)?);
    Ok(())
}
