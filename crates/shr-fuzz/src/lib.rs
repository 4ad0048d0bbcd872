//! Fuzz harnesses: one entry point per parser that takes bytes from outside the process.
//!
//! Where it sits: beside the data flow, not in it. Each [`Target`] feeds its bytes to one door
//! (a custodian's JSON body with any field mapping, a CSV series, an HPKE-sealed message, a
//! Keystone report, the receiver's `onReport` on the embedded chain, the feeds and deployment
//! files) and checks what the door promises: no panic, no hang, a named error for bad input,
//! and the invariants of what it accepts (a decoded report re-encodes to the same bytes, a
//! refused report changes no state). A harness panics only on a bug.
//!
//! Two drivers share these functions: coverage-guided fuzzing with `cargo fuzz` (the `fuzz/`
//! crate, `scripts/fuzz`), and the test suite, which replays the seeds built from the real
//! bodies in `data/`, the kept corpus and every crash ever found (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`).

pub mod custodian;
pub mod files;
pub mod receiver;
pub mod report;
pub mod sealed;
pub mod seeds;
pub mod series;

/// A fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file) and its harness.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name, as `cargo fuzz run <name>` takes it.
    pub name: &'static str,
    /// The harness: panics only on a bug.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: [Target; 6] = [
    Target { name: "custodian_json", run: custodian::run },
    Target { name: "series_csv", run: series::run },
    Target { name: "sealed_open", run: sealed::run },
    Target { name: "keystone_report", run: report::run },
    Target { name: "on_report", run: receiver::run },
    Target { name: "config_files", run: files::run },
];

/// Checks that an error names what went wrong: a non-empty message (a `thiserror` type always
/// has one; this catches an error made from an empty string or an empty source).
///
/// # Panics
/// When the message is empty.
pub fn assert_named(e: &dyn std::error::Error) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "an error without a message: {e:?}");
}
