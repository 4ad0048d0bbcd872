//! `keystone_report`: Keystone raw report and report body decoding
//! ([`shr_oracle::report::RawReport::decode`], [`shr_oracle::report::ReportBody::decode`]) and
//! forwarder signature recovery.
//!
//! Input: the raw report bytes (the body is whatever follows the 109-byte metadata); the last
//! 65 bytes are also tried as a forwarder signature over the report's digest.

use alloy::primitives::{B256, keccak256};
use shr_oracle::report::{RawReport, ReportBody, recover_forwarder_signature, report_digest};

/// The harness.
pub fn run(data: &[u8]) {
    if let Some(raw) = RawReport::decode(data) {
        // Decoding loses nothing: the bytes re-encode to themselves.
        assert_eq!(raw.encode().as_ref(), data, "a raw report that does not re-encode");
        if let Some(body) = ReportBody::decode(&raw.body) {
            assert_eq!(body.encode(), raw.body, "a report body that does not re-encode");
        }
    }
    if let Some(body) = ReportBody::decode(data) {
        assert_eq!(body.encode(), data, "a report body that does not re-encode");
    }
    if let Some(sig) = data.last_chunk::<65>() {
        let digest = report_digest(data, B256::ZERO.as_slice());
        // Any bytes: an address or `None`, never a panic; and recovery is deterministic.
        let a = recover_forwarder_signature(sig, &digest);
        assert_eq!(a, recover_forwarder_signature(sig, &digest));
        let _ = recover_forwarder_signature(sig, &keccak256(data));
    }
}
