//! `series_csv`: a recorded reserve series ([`shr_oracle::ReserveSeries::from_reader`]).
//!
//! Input layout: byte 0 picks the column names (the shipped wBTC file's, the defaults, or
//! `a`/`b`/`c`), byte 1 is the token's decimals, the rest is the CSV.

use shr_oracle::{ReserveSeries, SeriesColumns};

use crate::assert_named;

/// The harness.
pub fn run(data: &[u8]) {
    let [c, decimals, csv @ ..] = data else { return };
    let cols = match c % 3 {
        0 => SeriesColumns::wbtc(),
        1 => SeriesColumns::default(),
        _ => SeriesColumns { time: "a".into(), reserves: "b".into(), supply: "c".into() },
    };
    match ReserveSeries::from_reader(csv, &cols, *decimals) {
        Ok(s) => {
            // What the reader promises: readings in strictly increasing time.
            assert!(
                s.readings.windows(2).all(|w| w[0].observed_at < w[1].observed_at),
                "an accepted series out of order"
            );
        }
        Err(e) => assert_named(&e),
    }
}
