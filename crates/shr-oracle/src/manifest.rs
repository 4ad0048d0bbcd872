//! A DON's deployment manifest: what `shr deploy` wrote on chain and every other command reads
//! instead of separate addresses (`--deployment FILE`). Public data only.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use shr_enclave::HpkePublicKey;

use crate::{Deployment, Error, Result, report::WorkflowConfig};

/// The deployment manifest (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentManifest {
    /// The chain's id.
    pub chain_id: u64,
    /// Chainlink's `KeystoneForwarder`.
    pub forwarder: Address,
    /// The `ReserveAttestation` receiver.
    pub receiver: Address,
    /// The DON id in the forwarder's config.
    pub don_id: u32,
    /// The config version in force (rotated when the DON changes).
    pub config_version: u32,
    /// Faults tolerated; a report carries f+1 signatures.
    pub f: u8,
    /// The nodes' signer addresses, in node order (`setConfig`'s `signers`).
    pub signers: Vec<Address>,
    /// The nodes' enclave HPKE keys, in node order (custodians seal bodies to them).
    pub node_hpke_keys: Vec<HpkePublicKey>,
    /// The TEE platform root whose quotes the nodes' identities were verified against.
    pub platform_root: Address,
    /// The workflow's name (its id and 10-byte name field derive from it).
    pub workflow: String,
    /// The workflow owner the receiver accepts.
    pub workflow_owner: Address,
    /// The workflow id the receiver accepts.
    pub workflow_id: B256,
    /// The block the deployment (or its last rotation) was mined in.
    pub deployed_at_block: u64,
    /// The feeds of a feeds file (`shr deploy --feeds`), each with its own receiver; empty for a
    /// DON serving the one feed of `workflow` and `receiver`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<FeedDeployment>,
    /// The `ReserveVault` holding the collateral the agent restores (`shr deploy --collateral`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultDeployment>,
    /// The recovery side: the agent's treasury and key, its dark pool and price feed
    /// (`shr agent register`, `shr darkpool deploy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryDeployment>,
}

/// The recovery side of a manifest: who the DON seals deficits to and whose recovered
/// collateral it counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryDeployment {
    /// The treasury account the agent pays from (its dark-pool balance counts as recovered).
    pub treasury: Address,
    /// The agent enclave's HPKE key: the DON's nodes seal each deficit to it.
    pub agent_hpke: HpkePublicKey,
    /// Chainlink `AggregatorV3` feed of the collateral's USD price (the agent's USD bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_feed: Option<PriceFeedDeployment>,
    /// The confidential dark pool (`shr darkpool deploy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dark_pool: Option<DarkPoolDeployment>,
}

/// A Chainlink `AggregatorV3Interface` price feed and the bounds a reader holds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceFeedDeployment {
    /// The aggregator (proxy) address.
    pub address: Address,
    /// The longest a `latestRoundData` answer may stand, seconds (the feed's heartbeat plus
    /// slack; Chainlink's BTC/USD heartbeat is 3,600 s).
    pub max_age_secs: u64,
    /// A second `AggregatorV3` feed of the same price (another provider or market), held to
    /// the same age bound: when named, the two answers must agree within
    /// `max_deviation_bps` or the agent has no price (new incidents wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Address>,
    /// The largest difference between the feed and its reference, bps of the smaller answer.
    #[serde(default = "default_max_deviation_bps")]
    pub max_deviation_bps: u32,
}

fn default_max_deviation_bps() -> u32 {
    200
}

/// A deployed `CREDarkPool` and its matcher's public identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DarkPoolDeployment {
    /// The `CREDarkPool`.
    pub address: Address,
    /// The collateral token (what makers sell).
    pub collateral: Address,
    /// The payment token (what the treasury pays in).
    pub payment: Address,
    /// The matcher enclave's signer (registered on the pool with a verified quote).
    pub matcher: Address,
    /// The matcher enclave's HPKE key: orders and maker commitments are sealed to it.
    pub matcher_hpke: HpkePublicKey,
    /// Uniswap's sliding-window oracle every fill's TWAP is checked against.
    pub twap_oracle: Address,
    /// The Uniswap V2 pair of collateral and payment whose TWAP prices orders.
    pub reference_pair: Address,
}

impl DeploymentManifest {
    /// What the DON's nodes count as recovered collateral: the vault, the treasury, the
    /// collateral and the dark pool with its matcher; `None` without a vault or a recovery
    /// section.
    pub fn recovery_accounts(&self) -> Option<crate::RecoveryAccounts> {
        let (vault, rec) = (self.vault?, self.recovery.as_ref()?);
        Some(crate::RecoveryAccounts {
            chain_id: self.chain_id,
            vault: vault.address,
            treasury: rec.treasury,
            collateral: vault.asset,
            pool: rec.dark_pool.as_ref().map(|d| (d.address, d.matcher)),
        })
    }
}

/// The reserve vault of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultDeployment {
    /// The `ReserveVault`.
    pub address: Address,
    /// The collateral token it holds (ERC-20).
    pub asset: Address,
}

/// One feed's receiver in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDeployment {
    /// The feed's name (its workflow's name).
    pub name: String,
    /// Its `ReserveAttestation`.
    pub receiver: Address,
    /// The workflow id its receiver accepts.
    pub workflow_id: B256,
}

impl DeploymentManifest {
    /// Parses a manifest.
    ///
    /// # Errors
    /// [`Error::Json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(Error::Json)
    }

    /// The forwarder and receiver a round transmits through.
    pub fn deployment(&self) -> Deployment {
        Deployment { forwarder: self.forwarder, receiver: self.receiver }
    }

    /// The workflow identity reports carry: [`WorkflowConfig::named`] for `workflow` and
    /// `workflow_owner`, with this manifest's DON id and config version.
    pub fn workflow_config(&self) -> WorkflowConfig {
        let mut w = WorkflowConfig::named(&self.workflow, self.workflow_owner);
        w.don_id = self.don_id;
        w.config_version = self.config_version;
        w
    }

    /// The workflow identity of feed `name`'s reports: [`WorkflowConfig::named`] for `name`, with
    /// this manifest's owner, DON id and config version.
    pub fn feed_workflow(&self, name: &str) -> WorkflowConfig {
        let mut w = WorkflowConfig::named(name, self.workflow_owner);
        w.don_id = self.don_id;
        w.config_version = self.config_version;
        w
    }

    /// Feed `name`'s receiver.
    pub fn feed(&self, name: &str) -> Option<&FeedDeployment> {
        self.feeds.iter().find(|f| f.name == name)
    }

    /// Checks that the manifest is for chain `chain_id`.
    ///
    /// # Errors
    /// [`Error::Config`] naming both ids.
    pub fn check_chain(&self, chain_id: u64) -> Result<()> {
        if self.chain_id != chain_id {
            return Err(Error::Config(format!(
                "the deployment is on chain {}, the RPC endpoint is chain {chain_id}",
                self.chain_id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_a_wrong_chain() {
        let m = DeploymentManifest {
            chain_id: 31337,
            forwarder: Address::repeat_byte(1),
            receiver: Address::repeat_byte(2),
            don_id: 1,
            config_version: 2,
            f: 1,
            signers: vec![Address::repeat_byte(3); 4],
            node_hpke_keys: vec![HpkePublicKey([4; 32]); 4],
            platform_root: Address::repeat_byte(5),
            workflow: "wbtc-por".into(),
            workflow_owner: Address::repeat_byte(6),
            workflow_id: WorkflowConfig::named("wbtc-por", Address::ZERO).workflow_id,
            deployed_at_block: 9,
            feeds: vec![],
            vault: None,
            recovery: None,
        };
        let back = DeploymentManifest::from_json(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.workflow_config().config_version, 2);
        assert_eq!(back.workflow_config().workflow_id, m.workflow_id);
        let text = String::from_utf8(serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(!text.contains("feeds") && !text.contains("vault"), "{text}");
        assert!(!text.contains("recovery") && m.recovery_accounts().is_none(), "{text}");
        assert_eq!(m.feed_workflow("wbtc-por"), m.workflow_config());
        let e = m.check_chain(1).unwrap_err().to_string();
        assert!(e.contains("31337") && e.contains("chain 1"), "{e}");
    }
}
