//! `cargo fuzz run keystone_report`: see `shr_fuzz::report`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::report::run(data));
