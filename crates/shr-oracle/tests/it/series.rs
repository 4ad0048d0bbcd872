//! Reserve histories as they come (issue #20), on the shipped wBTC series: older readings
//! re-submitted among the newer ones (as real oracles do) leave the public timeline as the clean
//! series gives it, with every refusal counted; reserves and supply split into two files with
//! other time formats and cadences, joined as-of, give the same readings as the single file.

use alloy::primitives::B256;
use shr_chain::{Chain, EmbeddedChain, EmbeddedConfig};
use shr_enclave::SimulatedTee;
use shr_oracle::{
    Don, DonConfig, Order, ReserveReading, ReserveSeries, SeriesColumns, TimeFormat, ValueSeries,
};

const SERIES: &str = include_str!("../../../../data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv");

fn clean() -> ReserveSeries {
    ReserveSeries::from_reader(SERIES.as_bytes(), &SeriesColumns::wbtc(), 8).unwrap()
}

/// The series with, after every 97th row, an exact copy of the row 50 before it (a re-submitted
/// report), and after every 251st a row 10 before it with other reserves (a correction).
fn resubmitted() -> (String, usize, usize) {
    let lines: Vec<&str> = SERIES.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    let (mut out, mut copies, mut corrections) = (vec![header.to_string()], 0, 0);
    for (i, row) in rows.iter().enumerate() {
        out.push((*row).to_string());
        if i >= 50 && i % 97 == 0 {
            out.push(rows[i - 50].to_string());
            copies += 1;
        }
        if i >= 10 && i % 251 == 0 {
            let mut cols: Vec<String> = rows[i - 10].split(',').map(str::to_owned).collect();
            cols[1] = format!("1{}", cols[1]); // another amount: 1,000,000 BTC more
            out.push(cols.join(","));
            corrections += 1;
        }
    }
    (out.join("\n"), copies, corrections)
}

async fn timeline(readings: &[ReserveReading]) -> Vec<(u64, bool)> {
    let chain = EmbeddedChain::with_config(EmbeddedConfig {
        genesis_timestamp: readings[0].observed_at - 3_600,
        ..Default::default()
    });
    let tee = SimulatedTee::from_seed(B256::repeat_byte(0x20));
    let owner = chain.accounts()[0];
    let mut don = Don::new(&tee, DonConfig::new("wbtc-por", owner, 8)).unwrap();
    let dep = don.deploy(&chain, owner).await.unwrap();
    let s = shr_oracle::replay(
        &mut don,
        &chain,
        &dep,
        (chain.accounts()[1], None),
        readings,
        |_, _| {},
    )
    .await
    .unwrap();
    s.timeline
}

#[tokio::test]
async fn resubmitted_older_readings_are_refused_counted_and_change_nothing() {
    let clean = clean();
    let (text, copies, corrections) = resubmitted();
    let got = ReserveSeries::from_reader(text.as_bytes(), &SeriesColumns::wbtc(), 8).unwrap();
    assert_eq!(got.readings, clean.readings, "the accepted readings are the clean series'");
    assert_eq!(got.report.duplicate_readings as usize, copies);
    assert_eq!(got.report.out_of_order_readings.len(), corrections);
    assert!(copies > 150 && corrections > 60, "{copies} copies, {corrections} corrections");
    for o in &got.report.out_of_order_readings {
        assert!(o.observed_at < o.last_accepted, "{o:?}");
    }
    // The first 3,000 readings (through the real July 2023 dip) give the same public timeline.
    let window = 3_000;
    let a = timeline(&clean.readings[..window]).await;
    assert!(a.len() > 50 && a.iter().any(|(_, s)| !s), "the window has reports and a dip");
    assert_eq!(timeline(&got.readings[..window]).await, a);
    // Strict order still refuses the file at the first re-submitted row.
    let e = ReserveSeries::read(text.as_bytes(), "f", &SeriesColumns::wbtc(), 8, Order::Strict)
        .unwrap_err();
    assert!(e.to_string().contains("does not increase"), "{e}");
}

#[test]
fn reserves_and_supply_from_two_files_join_to_the_single_file() {
    let lines: Vec<Vec<&str>> = SERIES.lines().skip(1).map(|l| l.split(',').collect()).collect();
    // Reserves: unix seconds, the amount split in two columns (whole and fraction) to sum.
    let mut reserves = String::from("time,whole,fraction\n");
    // Supply: unix milliseconds, a row only when it changes (218 changes in 16,442 readings).
    let mut supply = String::from("updated_ms,total_supply\n");
    let mut last_supply = "";
    for cols in &lines {
        let t = chrono::DateTime::parse_from_rfc3339(cols[0]).unwrap();
        let (whole, frac) = cols[1].split_once('.').unwrap_or((cols[1], "0"));
        reserves.push_str(&format!("{},{whole},0.{frac}\n", t.timestamp()));
        if cols[2] != last_supply {
            supply.push_str(&format!("{},{}\n", t.timestamp_millis(), cols[2]));
            last_supply = cols[2];
        }
    }
    let r = ValueSeries::read(
        reserves.as_bytes(),
        "reserves.csv",
        "time",
        "whole+fraction",
        8,
        Order::Lenient,
    )
    .unwrap();
    let s = ValueSeries::read(
        supply.as_bytes(),
        "supply.csv",
        "updated_ms",
        "total_supply",
        8,
        Order::Lenient,
    )
    .unwrap();
    assert!(s.points.len() < 300, "supply at its own cadence: {} rows", s.points.len());
    let joined = ReserveSeries::join(r, s, Some(400 * 86_400));
    assert_eq!(joined.readings, clean().readings);
    assert_eq!(
        joined.report.time_formats,
        [
            ("reserves.csv".to_string(), TimeFormat::UnixSeconds),
            ("supply.csv".to_string(), TimeFormat::UnixMillis)
        ]
    );
    assert!(
        joined.report.stale_readings.is_empty() && joined.report.out_of_order_readings.is_empty()
    );
}
