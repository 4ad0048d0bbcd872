//! `config_files`: the files an operator writes or a deploy step produces: the feeds file
//! ([`shr_oracle::FeedsFile::from_toml`], with every feed's policy, mapping and schedule) and
//! the deployment manifest ([`shr_oracle::DeploymentManifest::from_json`]).
//!
//! Input layout: byte 0 picks the file kind (even: feeds TOML, odd: deployment JSON), the
//! rest is the file.

use shr_oracle::{DeploymentManifest, FeedsFile};

use crate::assert_named;

/// The harness.
pub fn run(data: &[u8]) {
    let [kind, file @ ..] = data else { return };
    if kind % 2 == 0 {
        let Ok(text) = std::str::from_utf8(file) else { return };
        match FeedsFile::from_toml(text) {
            Ok(f) => {
                assert!(!f.feeds.is_empty(), "a feeds file without feeds accepted");
                for feed in &f.feeds {
                    // What `from_toml` checked must hold when a node uses the feed.
                    feed.fields().expect("a checked feed's mapping");
                    feed.round_schedule().expect("a checked feed's schedule");
                    let _ = feed.policy();
                }
            }
            Err(e) => assert_named(&e),
        }
    } else {
        match DeploymentManifest::from_json(file) {
            Ok(m) => {
                let _ = (m.deployment(), m.workflow_config(), m.recovery_accounts());
            }
            Err(e) => assert_named(&e),
        }
    }
}
