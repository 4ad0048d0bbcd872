use alloy::primitives::U256;

use super::*;

#[test]
fn reads_and_windows() {
    let csv =
        "timestamp,reserves,supply\n2024-01-01T00:00:00Z,10.5,10\n2024-01-01T01:00:00Z,9,10\n";
    let s = ReserveSeries::from_reader(csv.as_bytes(), &SeriesColumns::default(), 8).unwrap();
    assert_eq!(s.readings.len(), 2);
    assert_eq!(s.readings[0].reserves, U256::from(1_050_000_000u64));
    assert_eq!(s.window(Some(1_704_070_000), None).len(), 1);
    assert_eq!(s.report.time_formats, vec![("(csv)".to_string(), TimeFormat::Rfc3339)]);
}

#[test]
fn bad_rows_name_row_column_and_value() {
    let cols = SeriesColumns::default();
    let e = ReserveSeries::from_reader(
        "timestamp,reserves,supply\n2024-01-01T00:00:00Z,-1,10\n".as_bytes(),
        &cols,
        8,
    )
    .unwrap_err();
    assert!(e.to_string().contains("row 1 column reserves") && e.to_string().contains("-1"), "{e}");
    let e = ReserveSeries::from_reader("time,reserves,supply\n".as_bytes(), &cols, 8).unwrap_err();
    assert!(e.to_string().contains("no column \"timestamp\""), "{e}");
    let e = ReserveSeries::from_reader(
        "timestamp,reserves,supply\n1704067200,1,1\n2024-01-02,1,1\n".as_bytes(),
        &cols,
        8,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("row 2 column timestamp") && e.to_string().contains("unix-seconds"),
        "{e}"
    );
}

const UNORDERED: &str = "timestamp,reserves,supply\n\
    2024-01-02,1,1\n\
    2024-01-01,1,1\n\
    2024-01-03,2,1\n\
    2024-01-02,1,1\n\
    2024-01-03,3,1\n\
    2024-01-04,2,1\n";

#[test]
fn rows_not_newer_are_refused_and_counted_or_stop_a_strict_read() {
    let cols = SeriesColumns::default();
    let s = ReserveSeries::from_reader(UNORDERED.as_bytes(), &cols, 0).unwrap();
    let days: Vec<u64> =
        s.readings.iter().map(|r| (r.observed_at - 1_704_067_200) / 86_400).collect();
    assert_eq!(days, [1, 2, 3]);
    // Row 2 (older, never accepted) and row 5 (same time as an accepted row, other values)
    // are out of order; row 4 repeats an accepted row exactly.
    let rows: Vec<u64> = s.report.out_of_order_readings.iter().map(|o| o.row).collect();
    assert_eq!(rows, [2, 5]);
    assert_eq!(s.report.out_of_order_readings[0].last_accepted, 1_704_153_600);
    assert_eq!(s.report.duplicate_readings, 1);
    assert_eq!(s.report.time_formats[0].1, TimeFormat::Date);
    let e =
        ReserveSeries::read(UNORDERED.as_bytes(), "f.csv", &cols, 0, Order::Strict).unwrap_err();
    assert!(e.to_string().contains("f.csv") && e.to_string().contains("row 2"), "{e}");
}

#[test]
fn several_reserve_columns_are_summed() {
    let cols = SeriesColumns { reserves: "a+b + c".into(), ..SeriesColumns::default() };
    let csv = "timestamp,a,b,c,supply\n1704067200000,1.5,0.25,2,1\n";
    let s = ReserveSeries::from_reader(csv.as_bytes(), &cols, 2).unwrap();
    assert_eq!(s.readings[0].reserves, U256::from(375u64));
    assert_eq!(s.readings[0].observed_at, 1_704_067_200);
    assert_eq!(s.report.time_formats[0].1, TimeFormat::UnixMillis);
    let missing = SeriesColumns { reserves: "a+d".into(), ..SeriesColumns::default() };
    let e = ReserveSeries::from_reader(csv.as_bytes(), &missing, 2).unwrap_err();
    assert!(e.to_string().contains("no column \"d\""), "{e}");
}

#[test]
fn a_join_takes_the_latest_supply_at_or_before_and_refuses_stale_ones() {
    let reserves = ValueSeries::read(
        "t,r\n100,5\n200,6\n300,7\n1000,8\n".as_bytes(),
        "reserves.csv",
        "t",
        "r",
        0,
        Order::Lenient,
    )
    .unwrap();
    let supply = ValueSeries::read(
        "time,s\n150,4\n300,5\n".as_bytes(),
        "supply.csv",
        "time",
        "s",
        0,
        Order::Lenient,
    )
    .unwrap();
    let s = ReserveSeries::join(reserves.clone(), supply.clone(), Some(500));
    let got: Vec<(u64, u64, u64)> = s
        .readings
        .iter()
        .map(|r| (r.observed_at, r.reserves.to::<u64>(), r.supply.to::<u64>()))
        .collect();
    assert_eq!(got, [(200, 6, 4), (300, 7, 5)]);
    assert_eq!(
        s.report.stale_readings,
        [
            StaleReading { observed_at: 100, supply_at: None },
            StaleReading { observed_at: 1000, supply_at: Some(300) }
        ]
    );
    assert_eq!(s.report.time_formats.len(), 2);
    // Without a bound, only a reading with no supply before it is refused.
    assert_eq!(ReserveSeries::join(reserves, supply, None).readings.len(), 3);
}
