//! `cargo fuzz run series_csv`: see `shr_fuzz::series`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shr_fuzz::series::run(data));
