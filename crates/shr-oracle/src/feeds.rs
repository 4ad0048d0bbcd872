//! A feeds file: the feeds one DON serves, each with its own source, field mapping, decimals,
//! policy, schedule and receiver (`shr deploy --feeds`, `shr don node --feeds`). TOML:
//!
//! ```toml
//! [[feed]]
//! name = "cbbtc"                        # letters, digits, - and _; the workflow's name
//! source = "https://api.example/por"    # or csv:PATH, or feed:ADDR (AggregatorV3; with token)
//! headers = ["X-API-Key: {{secrets.cb_key}}"]  # a secret sealed to each node (shr don secret)
//! por_fields = ["reserves=/reservesTotal/amount", "supply=/wrappedAssetsTotal/amount",
//!               "time=/lastUpdatedAt"]
//! decimals = 8
//! schedule = "0 */5 * * * *"            # CRE cron, seconds first
//! threshold_bps = 10000
//! confirmations = 2
//! heartbeat = 86400                     # seconds
//! max_staleness = 10800                 # seconds
//! # receiver = "0x..."                  # default: the manifest's receiver for this feed
//! # token = "0x..."                     # with por_fields "supply=chain": its totalSupply
//! ```

use std::collections::HashSet;

use alloy::primitives::Address;
use serde::Deserialize;

use crate::{Error, Policy, PorFields, Result, RoundSchedule};

/// One feed of a feeds file (see the module docs for the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// The feed's name: its workflow's name and its subjects' feed segment.
    pub name: String,
    /// A custodian PoR API URL (`http://`, `https://`), `csv:PATH`, or `feed:ADDR` (a public
    /// AggregatorV3 reserve feed, with `token`).
    pub source: String,
    /// Request headers of an http(s) source, `NAME: VALUE`; `{{secrets.NAME}}` takes a secret
    /// sealed to each node (`shr don secret`).
    #[serde(default)]
    pub headers: Vec<String>,
    /// `NAME=POINTER` field mappings ([`PorFields::from_specs`]).
    #[serde(default)]
    pub por_fields: Vec<String>,
    /// A built-in custodian format.
    #[serde(default)]
    pub por_profile: Option<String>,
    /// Token decimals.
    #[serde(default = "defaults::decimals")]
    pub decimals: u8,
    /// Round schedule (CRE cron, six fields).
    #[serde(default = "defaults::schedule")]
    pub schedule: String,
    /// Solvency threshold, bps of supply.
    #[serde(default = "defaults::threshold_bps")]
    pub threshold_bps: u32,
    /// Short readings before insolvent.
    #[serde(default = "defaults::confirmations")]
    pub confirmations: u32,
    /// Re-attest an unchanged outcome after this many seconds.
    #[serde(default = "defaults::heartbeat")]
    pub heartbeat: u64,
    /// Staleness limit of a reading, seconds.
    #[serde(default = "defaults::max_staleness")]
    pub max_staleness: u64,
    /// The feed's receiver, when not the deployment manifest's.
    #[serde(default)]
    pub receiver: Option<Address>,
    /// The ERC-20 whose `totalSupply` is the liabilities (`por_fields = ["supply=chain"]`).
    #[serde(default)]
    pub token: Option<Address>,
}

mod defaults {
    pub(super) fn decimals() -> u8 {
        8
    }
    pub(super) fn schedule() -> String {
        "0 */5 * * * *".into()
    }
    pub(super) fn threshold_bps() -> u32 {
        10_000
    }
    pub(super) fn confirmations() -> u32 {
        2
    }
    pub(super) fn heartbeat() -> u64 {
        86_400
    }
    pub(super) fn max_staleness() -> u64 {
        10_800
    }
}

impl FeedSpec {
    /// The feed's policy.
    pub fn policy(&self) -> Policy {
        Policy {
            threshold_bps: self.threshold_bps,
            confirmations: self.confirmations,
            heartbeat: self.heartbeat,
            max_staleness: self.max_staleness,
            ..Policy::default()
        }
    }

    /// The feed's custodian field mapping.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown profile or a malformed mapping.
    pub fn fields(&self) -> Result<PorFields> {
        PorFields::from_specs(self.por_profile.as_deref(), &self.por_fields)
    }

    /// The feed's schedule.
    ///
    /// # Errors
    /// [`Error::Config`] naming the expression.
    pub fn round_schedule(&self) -> Result<RoundSchedule> {
        RoundSchedule::parse(&self.schedule)
    }
}

/// A feeds file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsFile {
    /// The feeds, in file order.
    #[serde(rename = "feed")]
    pub feeds: Vec<FeedSpec>,
}

impl FeedsFile {
    /// Parses and checks a feeds file: at least one feed, names valid and distinct, every
    /// schedule, mapping and policy well-formed.
    ///
    /// # Errors
    /// [`Error::Feeds`] for TOML that does not parse into feeds; [`Error::Config`] naming the
    /// feed and what is wrong with it.
    pub fn from_toml(text: &str) -> Result<Self> {
        let file: Self = toml::from_str(text).map_err(Error::Feeds)?;
        if file.feeds.is_empty() {
            return Err(Error::Config("feeds file: no [[feed]]".into()));
        }
        let mut names = HashSet::new();
        for f in &file.feeds {
            let bad = |why: String| Error::Config(format!("feed {:?}: {why}", f.name));
            if f.name.is_empty()
                || !f.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad("name: use letters, digits, - and _".into()));
            }
            if !names.insert(f.name.as_str()) {
                return Err(bad("named twice".into()));
            }
            f.round_schedule().map_err(|e| bad(format!("schedule: {e}")))?;
            let fields = f.fields().map_err(|e| bad(format!("fields: {e}")))?;
            if (fields.supply_on_chain || f.source.starts_with("feed:")) && f.token.is_none() {
                return Err(bad("supply=chain and feed: sources need token = \"0x...\"".into()));
            }
            if f.threshold_bps == 0 || f.heartbeat == 0 || f.max_staleness == 0 {
                return Err(bad("threshold_bps, heartbeat and max_staleness must be > 0".into()));
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feeds_file_parses_with_defaults_and_bad_ones_are_named() {
        let f = FeedsFile::from_toml(
            r#"
            [[feed]]
            name = "cbbtc"
            source = "https://api.example/por"
            por_fields = ["reserves=/reservesTotal/amount", "supply=/wrappedAssetsTotal/amount", "time=/lastUpdatedAt"]
            schedule = "*/10 * * * * *"

            [[feed]]
            name = "wbtc"
            source = "csv:data/wbtc.csv"
            confirmations = 1
            "#,
        )
        .unwrap();
        assert_eq!(f.feeds.len(), 2);
        assert_eq!((f.feeds[1].decimals, f.feeds[1].threshold_bps), (8, 10_000));
        assert_eq!(f.feeds[1].policy().confirmations, 1);
        let twice =
            "[[feed]]\nname = \"a\"\nsource = \"x\"\n[[feed]]\nname = \"a\"\nsource = \"y\"\n";
        assert!(FeedsFile::from_toml(twice).unwrap_err().to_string().contains("named twice"));
        let cron = "[[feed]]\nname = \"a\"\nsource = \"x\"\nschedule = \"every minute\"\n";
        assert!(FeedsFile::from_toml(cron).unwrap_err().to_string().contains("\"a\": schedule"));
        let typo = "[[feed]]\nname = \"a\"\nsource = \"x\"\nthreshhold_bps = 1\n";
        assert!(matches!(FeedsFile::from_toml(typo), Err(Error::Feeds(_))));
        assert!(FeedsFile::from_toml("").is_err());
        let chain = "[[feed]]\nname = \"a\"\nsource = \"x\"\npor_fields = [\"supply=chain\"]\n";
        assert!(FeedsFile::from_toml(chain).unwrap_err().to_string().contains("token"));
    }
}
