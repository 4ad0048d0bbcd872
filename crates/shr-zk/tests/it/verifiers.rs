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

/// `CREDarkPool.EMPTY_ROOT`, the pool's first commitment, is the empty tree's root here.
#[test]
fn the_pools_empty_root_is_the_empty_trees() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/src/CREDarkPool.sol");
    let source = std::fs::read_to_string(&path).expect("the pool is committed");
    let line = source
        .lines()
        .find(|l| l.contains("bytes32 public constant EMPTY_ROOT"))
        .expect("CREDarkPool declares EMPTY_ROOT");
    let committed = line.split('=').nth(1).expect("a value").trim().trim_end_matches(';');
    let root = shr_zk::BalanceTree::default().root().unwrap();
    assert_eq!(committed, root.to_string(), "set CREDarkPool.EMPTY_ROOT to the empty tree's root");
}
