//! Writes the Solidity verifiers generated from the dev setup into `contracts/src/`.
//!
//! `cargo run --release -p shr-zk --example write_verifiers`

use shr_zk::{CircuitKind, verifier_source};

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/src");
    for kind in [CircuitKind::Fill, CircuitKind::Update] {
        let path = dir.join(format!("{}.sol", kind.contract()));
        std::fs::write(&path, verifier_source(kind))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
