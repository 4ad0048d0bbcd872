//! Builds the Solidity contracts with the pinned npm toolchain in `contracts/`.
//!
//! Runs `npm ci` when `contracts/node_modules` is missing or older than `package-lock.json`,
//! then `node contracts/scripts/build.js $OUT_DIR/contracts`, which writes one
//! `{abi, bytecode, deployedBytecode}` artifact per contract for `sol!` to read.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let contracts =
        manifest.join("../../contracts").canonicalize().expect("contracts/ exists beside crates/");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("contracts");
    for p in ["package.json", "package-lock.json", "scripts/build.js", "src"] {
        println!("cargo:rerun-if-changed={}", contracts.join(p).display());
    }
    let stamp = contracts.join("node_modules/.shr-installed");
    if !fresh(&stamp, &contracts.join("package-lock.json")) {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&contracts),
            "npm ci",
        );
        std::fs::write(&stamp, b"installed by crates/shr-contracts/build.rs\n")
            .expect("write stamp");
    }
    run(
        Command::new("node").arg("scripts/build.js").arg(&out).current_dir(&contracts),
        "node scripts/build.js",
    );
    println!("cargo:rustc-env=SHR_CONTRACTS_DIR={}", contracts.display());
}

fn fresh(stamp: &Path, lock: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(stamp), m(lock)), (Some(s), Some(l)) if s >= l)
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("{what} could not start ({e}): building needs Node.js 20+ and npm on PATH")
    });
    assert!(status.success(), "{what} failed with {status}");
}
