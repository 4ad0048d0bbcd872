//! Vendors the dashboard's chart library (uPlot, from npm, pinned in `web/package-lock.json`)
//! into `$OUT_DIR`, from where `src/assets.rs` compiles it into the binary: no CDN, nothing
//! fetched at run time. Runs `npm ci` in `web/` when `web/node_modules` is missing or older
//! than the lock file.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    for p in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    let stamp = web.join("node_modules/.shr-installed");
    if !fresh(&stamp, &web.join("package-lock.json")) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web)
            .status()
            .unwrap_or_else(|e| {
                panic!("npm ci could not start ({e}): building needs Node.js 20+ and npm on PATH")
            });
        assert!(status.success(), "npm ci in {} failed with {status}", web.display());
        std::fs::write(&stamp, b"installed by crates/shr-server/build.rs\n").expect("write stamp");
    }
    for (from, to) in [("uPlot.iife.min.js", "uplot.js"), ("uPlot.min.css", "uplot.css")] {
        let src = web.join("node_modules/uplot/dist").join(from);
        println!("cargo:rerun-if-changed={}", src.display());
        std::fs::copy(&src, out.join(to))
            .unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
}

fn fresh(stamp: &Path, lock: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(stamp), m(lock)), (Some(s), Some(l)) if s >= l)
}
