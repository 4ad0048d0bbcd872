//! `cargo fuzz run custodian_json`: see `shr_fuzz::custodian`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::custodian::run(data));
