//! `cargo fuzz run sealed_open`: see `shr_fuzz::sealed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::sealed::run(data));
