//! `cargo fuzz run config_files`: see `shr_fuzz::files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::files::run(data));
