//! `series_csv`: a recorded reserve series ([`shr_oracle::ReserveSeries::read`]) and the as-of
//! join of two ([`shr_oracle::ReserveSeries::join`]).
//!
//! Input layout: byte 0 picks the column names (the shipped wBTC file's, the defaults, or
//! `a`/`b`/`c`; `a+b` sums two) and, in its next bit, strict or lenient order; byte 1 is the
//! token's decimals; the rest is the CSV.

use shr_oracle::{Order, ReserveSeries, SeriesColumns, ValueSeries};

use crate::assert_named;

/// The harness.
pub fn run(data: &[u8]) {
    let [c, decimals, csv @ ..] = data else { return };
    let cols = match c % 4 {
        0 => SeriesColumns::wbtc(),
        1 => SeriesColumns::default(),
        2 => SeriesColumns { time: "a".into(), reserves: "b".into(), supply: "c".into() },
        _ => SeriesColumns { time: "c".into(), reserves: "a+b".into(), supply: "b".into() },
    };
    let order = if c & 4 == 0 { Order::Lenient } else { Order::Strict };
    let increasing =
        |s: &ReserveSeries| s.readings.windows(2).all(|w| w[0].observed_at < w[1].observed_at);
    let lenient = ReserveSeries::read(csv, "fuzz.csv", &cols, *decimals, Order::Lenient);
    match &lenient {
        Ok(s) => {
            // What the reader promises: readings in strictly increasing time, and every refused
            // row not newer than what was accepted before it.
            assert!(increasing(s), "an accepted series out of order");
            for o in &s.report.out_of_order_readings {
                assert!(o.observed_at <= o.last_accepted, "{o:?}");
            }
        }
        Err(e) => assert_named(e),
    }
    if order == Order::Strict {
        match ReserveSeries::read(csv, "fuzz.csv", &cols, *decimals, order) {
            // A strict read succeeds only on a file a lenient read refuses nothing of.
            Ok(s) => {
                let l = lenient.as_ref().expect("a strict read succeeded, a lenient one failed");
                assert_eq!(s.readings, l.readings);
                assert!(l.report.out_of_order_readings.is_empty());
                assert_eq!(l.report.duplicate_readings, 0);
            }
            Err(e) => assert_named(&e),
        }
    }
    let side =
        |value: &str| ValueSeries::read(csv, "fuzz.csv", &cols.time, value, *decimals, order);
    match (side(&cols.reserves), side(&cols.supply)) {
        (Ok(r), Ok(s)) => {
            let n = r.points.len();
            let joined = ReserveSeries::join(r, s, Some(u64::from(*decimals) * 3_600));
            assert!(increasing(&joined), "a joined series out of order");
            assert_eq!(joined.readings.len() + joined.report.stale_readings.len(), n);
        }
        (Err(e), _) | (_, Err(e)) => assert_named(&e),
    }
}
