//! The committed Solidity verifiers are the ones the Rust setup generates.

use shr_zk::{CircuitKind, verifier_source};

#[test]
fn committed_verifiers_are_not_stale() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/src");
    for kind in [CircuitKind::Fill, CircuitKind::Update] {
        let path = dir.join(format!("{}.sol", kind.contract()));
        let committed = std::fs::read_to_string(&path).expect("the verifier is committed");
        assert!(
            committed == verifier_source(kind),
            "{} is stale: run `cargo run --release -p shr-zk --example write_verifiers`",
            path.display()
        );
    }
}
