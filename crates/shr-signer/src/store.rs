//! A party's directory: its enclave identity, share and ledger sealed at rest, and the group's
//! public description.
//!
//! | file | what | who can read it |
//! |---|---|---|
//! | `identity.sealed` | the seed of the party enclave's keys | the party program on its platform |
//! | `share.sealed` | [`ShareFile`]: the key share, the roster | the same |
//! | `ledger.sealed` | the spends signed in the last 24 hours | the same |
//! | `group.json` | [`Group`]: address, threshold, parties' public keys | anyone (the agent) |
//!
//! Sealing (HPKE to a key derived from the platform's sealing secret and [`PROGRAM`]'s
//! measurement) is also the integrity check: a file edited on disk does not open.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use shr_enclave::{Enclave, Sealed, TeePlatform};

use crate::{
    Error, KeyShare, Ledger, Result,
    serve::LedgerStore,
    wire::{PROGRAM, Roster},
};

const SHARE_INFO: &str = "shr-signer/share/v1";
const LEDGER_INFO: &str = "shr-signer/ledger/v1";

/// What `share.sealed` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareFile {
    /// Signer group.
    pub group: String,
    /// Threshold.
    pub threshold: u8,
    /// The key's parties.
    pub roster: Roster,
    /// This party's share.
    pub share: KeyShare,
}

/// A signer group's public description (`group.json`): what the agent needs to use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Group name (the NATS subjects live under `shr.signer.<group>`).
    pub group: String,
    /// The treasury address.
    pub address: Address,
    /// Threshold.
    pub threshold: u8,
    /// Parties.
    pub parties: u8,
    /// The parties' public keys.
    pub roster: Roster,
}

/// A party's directory.
#[derive(Debug, Clone)]
pub struct PartyDir {
    path: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

impl PartyDir {
    /// The directory at `path` (created when missing).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(io(path))?;
        Ok(Self { path: path.to_path_buf() })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        // Write then rename: a crash leaves the old file or the new one, never half of one.
        let path = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The party enclave: restored from `identity.sealed`, or launched with fresh keys that are
    /// sealed there.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Enclave`] when the file was sealed by another platform.
    pub fn enclave(&self, platform: &dyn TeePlatform) -> Result<Enclave> {
        let path = self.file("identity.sealed");
        match std::fs::read(&path) {
            Ok(bytes) => {
                Enclave::restore(platform, PROGRAM, &Sealed(bytes)).map_err(Error::Enclave)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (enclave, sealed) =
                    Enclave::launch_sealed(platform, PROGRAM).map_err(Error::Enclave)?;
                self.write("identity.sealed", sealed.as_bytes())?;
                Ok(enclave)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Seals `share` into `share.sealed` (replacing the previous one) and writes `group.json`.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Enclave`], [`Error::Json`].
    pub fn save_share(&self, enclave: &Enclave, share: &ShareFile) -> Result<Group> {
        let json =
            serde_json::to_vec(share).map_err(|source| Error::Json { what: "share", source })?;
        let sealed = enclave.seal_at_rest(SHARE_INFO, &json).map_err(Error::Enclave)?;
        self.write("share.sealed", sealed.as_bytes())?;
        let group = Group {
            group: share.group.clone(),
            address: share.share.address,
            threshold: share.threshold,
            parties: share.share.party.parameters.share_count,
            roster: share.roster.clone(),
        };
        let text = serde_json::to_vec_pretty(&group)
            .map_err(|source| Error::Json { what: "group.json", source })?;
        self.write("group.json", &text)?;
        Ok(group)
    }

    /// Whether a share exists.
    pub fn has_share(&self) -> bool {
        self.file("share.sealed").exists()
    }

    /// Opens `share.sealed`.
    ///
    /// # Errors
    /// [`Error::Io`] (no share: run keygen first); [`Error::Enclave`]; [`Error::Json`].
    pub fn share(&self, enclave: &Enclave) -> Result<ShareFile> {
        let path = self.file("share.sealed");
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let json = enclave.open_at_rest(SHARE_INFO, &Sealed(bytes)).map_err(Error::Enclave)?;
        serde_json::from_slice(&json).map_err(|source| Error::Json { what: "share", source })
    }

    /// The ledger (keygen writes an empty one; a missing file is an error, not a reset).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Enclave`] when the file does not open (edited on disk);
    /// [`Error::Json`].
    pub fn ledger(&self, enclave: &Enclave) -> Result<Ledger> {
        let path = self.file("ledger.sealed");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let json =
                    enclave.open_at_rest(LEDGER_INFO, &Sealed(bytes)).map_err(Error::Enclave)?;
                serde_json::from_slice(&json)
                    .map_err(|source| Error::Json { what: "ledger", source })
            }
            // Keygen writes an empty ledger: a missing one was deleted, and an empty window
            // would re-open the day's limits.
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// A [`LedgerStore`] sealing into `ledger.sealed` with `enclave`.
    pub fn ledger_store<'a>(&'a self, enclave: &'a Enclave) -> impl LedgerStore + 'a {
        SealedLedger { dir: self, enclave }
    }
}

struct SealedLedger<'a> {
    dir: &'a PartyDir,
    enclave: &'a Enclave,
}

impl LedgerStore for SealedLedger<'_> {
    fn save(&self, ledger: &Ledger) -> Result<()> {
        let json =
            serde_json::to_vec(ledger).map_err(|source| Error::Json { what: "ledger", source })?;
        let sealed = self.enclave.seal_at_rest(LEDGER_INFO, &json).map_err(Error::Enclave)?;
        self.dir.write("ledger.sealed", sealed.as_bytes())
    }
}
