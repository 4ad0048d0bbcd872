//! Vendors the dashboard's chart library (uPlot, from npm, pinned in `web/package-lock.json`)
//! into `$OUT_DIR`, from where `src/assets.rs` compiles it into the binary: no CDN, nothing
//! fetched at run time. Runs `npm ci` on a copy of `web/package*.json` in `$OUT_DIR/web` when
//! its `node_modules` is missing or older than the lock file.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    // npm runs in a copy under OUT_DIR: the build never writes into the source tree, and two
    // builds (different target directories) never race on one node_modules.
    let vendor = out.join("web");
    std::fs::create_dir_all(&vendor).expect("create OUT_DIR/web");
    for p in ["package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
        std::fs::copy(web.join(p), vendor.join(p))
            .unwrap_or_else(|e| panic!("copying {}: {e}", web.join(p).display()));
    }
    let stamp = vendor.join("node_modules/.shr-installed");
    if !fresh(&stamp, &web.join("package-lock.json")) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&vendor)
            .status()
            .unwrap_or_else(|e| {
                panic!("npm ci could not start ({e}): building needs Node.js 20+ and npm on PATH")
            });
        assert!(status.success(), "npm ci in {} failed with {status}", vendor.display());
        std::fs::write(&stamp, b"installed by crates/shr-server/build.rs\n").expect("write stamp");
    }
    for (from, to) in [("uPlot.iife.min.js", "uplot.js"), ("uPlot.min.css", "uplot.css")] {
        let src = vendor.join("node_modules/uplot/dist").join(from);
        std::fs::copy(&src, out.join(to))
            .unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
}

fn fresh(stamp: &Path, lock: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(stamp), m(lock)), (Some(s), Some(l)) if s >= l)
}
