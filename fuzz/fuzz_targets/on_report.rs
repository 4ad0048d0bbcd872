//! `cargo fuzz run on_report`: see `shr_fuzz::receiver`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::receiver::run(data));
