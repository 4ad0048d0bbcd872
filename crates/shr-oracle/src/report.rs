//! Chainlink Keystone report encoding, exactly as the real `KeystoneForwarder` parses it.
//!
//! Raw report: `version(1) | executionId(32) | timestamp(4) | donId(4) | donConfigVersion(4) |
//! workflowId(32) | workflowName(10) | workflowOwner(20) | reportId(2) | body`; the receiver gets
//! `metadata = raw[45..109]` and the body. The DON signs
//! `keccak256(keccak256(rawReport) ‖ reportContext)`; the forwarder wants exactly f+1 65-byte
//! signatures `r ‖ s ‖ v` with `v ∈ {0, 1}` (it adds 27), and derives the transmission id
//! `keccak256(receiver ‖ executionId ‖ reportId)` for replay protection.

use alloy::{
    primitives::{Address, B256, Bytes, Signature, U256, keccak256},
    sol_types::SolValue,
};

/// Header length before the body.
pub const METADATA_LENGTH: usize = 109;
/// Start of the receiver's metadata.
pub const FORWARDER_METADATA_LENGTH: usize = 45;

/// Which workflow and DON a report comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowConfig {
    /// DON id in the forwarder's config.
    pub don_id: u32,
    /// Config version in the forwarder's config.
    pub config_version: u32,
    /// Workflow id the receiver accepts.
    pub workflow_id: B256,
    /// Workflow name, 10 bytes (CRE truncates a hash of the name).
    pub workflow_name: [u8; 10],
    /// Workflow owner the receiver accepts.
    pub workflow_owner: Address,
    /// Report id (`0x0001`).
    pub report_id: [u8; 2],
}

impl WorkflowConfig {
    /// A config for workflow `name` owned by `owner`: id `keccak256("shr/workflow/" ‖ name)`,
    /// name field the first 10 bytes of `keccak256(name)`.
    pub fn named(name: &str, owner: Address) -> Self {
        let mut workflow_name = [0u8; 10];
        workflow_name.copy_from_slice(&keccak256(name.as_bytes())[..10]);
        Self {
            don_id: 1,
            config_version: 1,
            workflow_id: keccak256([b"shr/workflow/".as_slice(), name.as_bytes()].concat()),
            workflow_name,
            workflow_owner: owner,
            report_id: [0, 1],
        }
    }
}

/// The public report body: `abi.encode(bool isSolvent, uint256 observedAt, uint256 chainId,
/// address receiver)`, 128 bytes. The chain id and the receiver bind the report to one
/// `ReserveAttestation` (a redeployment or another chain refuses it); there is no amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportBody {
    /// The confirmed outcome.
    pub is_solvent: bool,
    /// Observation time, unix seconds.
    pub observed_at: u64,
    /// The chain the report is for (EIP-155 id).
    pub chain_id: u64,
    /// The receiver the report is for.
    pub receiver: Address,
}

impl ReportBody {
    /// Length of [`ReportBody::encode`], bytes.
    pub const LEN: usize = 128;

    /// ABI encoding, [`ReportBody::LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        (self.is_solvent, U256::from(self.observed_at), U256::from(self.chain_id), self.receiver)
            .abi_encode()
    }

    /// Decodes a [`ReportBody::LEN`]-byte body (`None` for any other length or a bad encoding).
    /// Strict, as the receiver is: a word outside its type (a boolean other than 0 or 1, an
    /// address with high bits) is refused, so that every accepted body re-encodes to itself.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let (is_solvent, t, chain, receiver) =
            <(bool, U256, U256, Address)>::abi_decode_validate(b).ok()?;
        Some(Self {
            is_solvent,
            observed_at: t.try_into().ok()?,
            chain_id: chain.try_into().ok()?,
            receiver,
        })
    }
}

/// A decoded raw report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReport {
    /// Workflow execution id (fresh per report).
    pub execution_id: B256,
    /// Report timestamp, unix seconds (u32 in the header).
    pub timestamp: u32,
    /// The workflow fields.
    pub workflow: WorkflowConfig,
    /// The body.
    pub body: Vec<u8>,
}

impl RawReport {
    /// Encodes the raw report bytes.
    pub fn encode(&self) -> Bytes {
        let w = &self.workflow;
        let mut out = Vec::with_capacity(METADATA_LENGTH + self.body.len());
        out.push(1u8);
        out.extend_from_slice(self.execution_id.as_slice());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&w.don_id.to_be_bytes());
        out.extend_from_slice(&w.config_version.to_be_bytes());
        out.extend_from_slice(w.workflow_id.as_slice());
        out.extend_from_slice(&w.workflow_name);
        out.extend_from_slice(w.workflow_owner.as_slice());
        out.extend_from_slice(&w.report_id);
        out.extend_from_slice(&self.body);
        out.into()
    }

    /// Decodes raw report bytes; `None` if shorter than the header or not version 1.
    pub fn decode(raw: &[u8]) -> Option<Self> {
        if raw.len() < METADATA_LENGTH || raw[0] != 1 {
            return None;
        }
        let u32_at = |o: usize| u32::from_be_bytes(raw[o..o + 4].try_into().expect("4 bytes"));
        let mut workflow_name = [0u8; 10];
        workflow_name.copy_from_slice(&raw[77..87]);
        Some(Self {
            execution_id: B256::from_slice(&raw[1..33]),
            timestamp: u32_at(33),
            workflow: WorkflowConfig {
                don_id: u32_at(37),
                config_version: u32_at(41),
                workflow_id: B256::from_slice(&raw[45..77]),
                workflow_name,
                workflow_owner: Address::from_slice(&raw[87..107]),
                report_id: [raw[107], raw[108]],
            },
            body: raw[METADATA_LENGTH..].to_vec(),
        })
    }
}

/// The digest the DON signs: `keccak256(keccak256(raw) ‖ context)`.
pub fn report_digest(raw: &[u8], context: &[u8]) -> B256 {
    keccak256([keccak256(raw).as_slice(), context].concat())
}

/// The report context: `configDigest(32) ‖ sequenceNumber(32, big-endian) ‖ zero(32)`, the
/// 96-byte OCR3 layout; the forwarder only hashes it.
pub fn report_context(config_digest: B256, sequence: u64) -> Bytes {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(config_digest.as_slice());
    out.extend_from_slice(&U256::from(sequence).to_be_bytes::<32>());
    out.extend_from_slice(&[0u8; 32]);
    out.into()
}

/// The config digest: `keccak256(abi.encode(forwarder, donId, configVersion, f, signers))`.
pub fn config_digest(forwarder: Address, w: &WorkflowConfig, f: u8, signers: &[Address]) -> B256 {
    keccak256((forwarder, w.don_id, w.config_version, u32::from(f), signers.to_vec()).abi_encode())
}

/// The forwarder's transmission id: `keccak256(receiver ‖ executionId ‖ reportId)`.
pub fn transmission_id(receiver: Address, execution_id: B256, report_id: [u8; 2]) -> B256 {
    keccak256([receiver.as_slice(), execution_id.as_slice(), &report_id].concat())
}

/// A signature as the forwarder takes it: `r ‖ s ‖ v`, `v` the recovery id (0 or 1).
pub fn forwarder_signature(sig: &Signature) -> [u8; 65] {
    let mut out = [0u8; 65];
    out[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    out[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
    out[64] = sig.v() as u8;
    out
}

/// Recovers the signer of a forwarder-format signature over `digest`.
pub fn recover_forwarder_signature(sig: &[u8; 65], digest: &B256) -> Option<Address> {
    let s = Signature::from_bytes_and_parity(&sig[..64], sig[64] == 1);
    s.recover_address_from_prehash(digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libsecp256k1_recovery_gives_the_k256_signer_for_low_and_high_s() {
        use alloy::signers::{SignerSync, local::PrivateKeySigner};
        for i in 1..=32u8 {
            let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap();
            let digest = keccak256([i; 7]);
            let sig = key.sign_hash_sync(&digest).unwrap();
            let k256 = Address::from_public_key(&sig.recover_from_prehash(&digest).unwrap());
            assert_eq!(k256, key.address());
            assert_eq!(
                recover_forwarder_signature(&forwarder_signature(&sig), &digest),
                Some(k256)
            );
            // The malleated twin (n - s, flipped parity) names the same signer, as ecrecover does.
            let n = alloy::primitives::U256::from_be_bytes(alloy::primitives::hex!(
                "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
            ));
            let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
            assert_eq!(
                recover_forwarder_signature(&forwarder_signature(&twin), &digest),
                Some(k256)
            );
            // Another digest names someone else.
            let other = recover_forwarder_signature(&forwarder_signature(&sig), &keccak256([0u8]));
            assert_ne!(other, Some(k256));
        }
    }

    #[test]
    fn header_round_trips_with_keystone_offsets() {
        let w = WorkflowConfig::named("wbtc-por", Address::repeat_byte(0xAA));
        let r = RawReport {
            execution_id: B256::repeat_byte(0x11),
            timestamp: 1_700_000_000,
            workflow: w,
            body: ReportBody {
                is_solvent: true,
                observed_at: 1_700_000_000,
                chain_id: 31_337,
                receiver: Address::repeat_byte(0xBB),
            }
            .encode(),
        };
        let raw = r.encode();
        assert_eq!(raw.len(), METADATA_LENGTH + ReportBody::LEN);
        // The forwarder reads donId|configVersion as one u64 at offset 37.
        assert_eq!(u64::from_be_bytes(raw[37..45].try_into().unwrap()), (1u64 << 32) | 1);
        assert_eq!(
            &raw[FORWARDER_METADATA_LENGTH..FORWARDER_METADATA_LENGTH + 32],
            w.workflow_id.as_slice()
        );
        assert_eq!(&raw[107..109], &[0, 1]);
        assert_eq!(RawReport::decode(&raw).unwrap(), r);
        assert_eq!(ReportBody::decode(&r.body).unwrap().observed_at, 1_700_000_000);
    }
}
