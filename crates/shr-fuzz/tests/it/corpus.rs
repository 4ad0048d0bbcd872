//! The seeds, the kept corpus and the regressions, through every target.

use std::path::{Path, PathBuf};

use shr_fuzz::{TARGETS, seeds::seeds};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_target_has_seeds_and_a_fuzz_target_file() {
    for t in TARGETS {
        assert!(!seeds(t.name).is_empty(), "{}: no seeds", t.name);
        let file = fuzz_dir().join("fuzz_targets").join(format!("{}.rs", t.name));
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            src.contains(&format!("shr_fuzz::{}", module(t.name))),
            "{} drives another harness",
            file.display()
        );
    }
}

/// The harness module a target's file calls.
fn module(name: &str) -> &'static str {
    match name {
        "custodian_json" => "custodian::run",
        "series_csv" => "series::run",
        "sealed_open" => "sealed::run",
        "keystone_report" => "report::run",
        "on_report" => "receiver::run",
        "config_files" => "files::run",
        other => panic!("unknown target {other}"),
    }
}

#[test]
fn seeds_corpus_and_regressions_pass() {
    let mut total = 0;
    for t in TARGETS {
        for s in seeds(t.name) {
            (t.run)(&s);
            total += 1;
        }
        for kind in ["corpus", "regressions"] {
            for f in files(&fuzz_dir().join(kind).join(t.name)) {
                // A fuzzer running beside the test may drop a file it just listed.
                let data = match std::fs::read(&f) {
                    Ok(d) => d,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("{}: {e}", f.display()),
                };
                let r = std::panic::catch_unwind(|| (t.run)(&data));
                assert!(r.is_ok(), "{}: {} fails", t.name, f.display());
                total += 1;
            }
        }
    }
    eprintln!("{total} inputs replayed");
}
