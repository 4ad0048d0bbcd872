//! Which reserve series `shr replay` and `shr custodian` read: one CSV file with reserves and
//! supply, or reserves and supply from separate files joined as-of; rows out of order refused
//! and counted (or, with `--strict-order`, the first one stops the read).

use std::path::{Path, PathBuf};

use clap::Args;
use eyre::{Result, WrapErr, bail};
use shr_oracle::{Order, ReserveSeries, SeriesColumns, SeriesReport, ValueSeries};

use crate::oracle_cmd::WBTC_SERIES;

/// Series flags.
#[derive(Debug, Args)]
pub(crate) struct SeriesArgs {
    /// Reserve series CSV (time, reserves and supply columns); default: the shipped wBTC series
    /// (with its own column names).
    #[arg(long)]
    series: Option<PathBuf>,
    /// Time column: RFC 3339, a date (midnight UTC), unix seconds or milliseconds, detected per
    /// file [default: timestamp].
    #[arg(long)]
    time_col: Option<String>,
    /// Reserves column(s), decimal whole tokens; `a+b+c` sums several [default: reserves].
    #[arg(long)]
    reserves_col: Option<String>,
    /// Supply column(s), decimal whole tokens [default: supply].
    #[arg(long)]
    supply_col: Option<String>,
    /// Reserves from this CSV instead of `--series` (its time column: `--reserves-time-col`).
    #[arg(long)]
    reserves_series: Option<PathBuf>,
    /// Time column of `--reserves-series` [default: the `--time-col`].
    #[arg(long)]
    reserves_time_col: Option<String>,
    /// Supply from this CSV, joined as-of: each reserve reading takes the latest supply at or
    /// before its time (its time column: `--supply-time-col`).
    #[arg(long)]
    supply_series: Option<PathBuf>,
    /// Time column of `--supply-series` [default: the `--time-col`].
    #[arg(long)]
    supply_time_col: Option<String>,
    /// With separate series: a reading whose latest supply is older than this many seconds is
    /// refused as stale [default: no bound].
    #[arg(long, value_name = "SECS")]
    max_supply_lag: Option<u64>,
    /// Stop at the first row not newer than the last accepted one, instead of refusing and
    /// counting it.
    #[arg(long)]
    strict_order: bool,
}

/// Where one side (reserves or supply) comes from.
struct Side<'a> {
    file: Option<&'a Path>,
    time: String,
    value: String,
}

impl SeriesArgs {
    /// Reads the series, amounts scaled to `decimals`.
    pub(crate) fn load(&self, decimals: u8) -> Result<ReserveSeries> {
        let order = if self.strict_order { Order::Strict } else { Order::Lenient };
        let split = self.reserves_series.is_some() || self.supply_series.is_some();
        if split
            && self.series.is_none()
            && (self.reserves_series.is_none() || self.supply_series.is_none())
        {
            bail!(
                "--reserves-series or --supply-series alone would join your file with the shipped \
                 wBTC series: give --series FILE for the other side, or both separate files"
            );
        }
        if !split && self.max_supply_lag.is_some() {
            bail!(
                "--max-supply-lag applies to a joined series: give --supply-series or --reserves-series"
            );
        }
        let wbtc = SeriesColumns::wbtc();
        let col = |set: &Option<String>, default: &str, shipped: &str, file: Option<&Path>| match (
            set, file,
        ) {
            (Some(c), _) => c.clone(),
            (None, Some(_)) => default.to_owned(),
            (None, None) => shipped.to_owned(),
        };
        let main = self.series.as_deref();
        let time = |file: Option<&Path>| col(&self.time_col, "timestamp", &wbtc.time, file);
        let reserves_file = self.reserves_series.as_deref().or(main);
        let supply_file = self.supply_series.as_deref().or(main);
        let reserves = Side {
            file: reserves_file,
            time: self.reserves_time_col.clone().unwrap_or_else(|| time(reserves_file)),
            value: col(&self.reserves_col, "reserves", &wbtc.reserves, reserves_file),
        };
        let supply = Side {
            file: supply_file,
            time: self.supply_time_col.clone().unwrap_or_else(|| time(supply_file)),
            value: col(&self.supply_col, "supply", &wbtc.supply, supply_file),
        };
        if reserves.file == supply.file && reserves.time == supply.time {
            let cols = SeriesColumns {
                time: reserves.time,
                reserves: reserves.value,
                supply: supply.value,
            };
            return Ok(match reserves.file {
                Some(p) => ReserveSeries::read_path(p, &cols, decimals, order)
                    .wrap_err_with(|| format!("reading {}", p.display()))?,
                None => ReserveSeries::read(
                    WBTC_SERIES,
                    "(shipped wBTC series)",
                    &cols,
                    decimals,
                    order,
                )?,
            });
        }
        let read = |side: &Side<'_>| -> Result<ValueSeries> {
            Ok(match side.file {
                Some(p) => {
                    let f = std::fs::File::open(p)
                        .wrap_err_with(|| format!("opening {}", p.display()))?;
                    let label = p.display().to_string();
                    ValueSeries::read(f, &label, &side.time, &side.value, decimals, order)
                        .wrap_err_with(|| format!("reading {}", p.display()))?
                }
                None => ValueSeries::read(
                    WBTC_SERIES,
                    "(shipped wBTC series)",
                    &side.time,
                    &side.value,
                    decimals,
                    order,
                )?,
            })
        };
        Ok(ReserveSeries::join(read(&reserves)?, read(&supply)?, self.max_supply_lag))
    }
}

/// Logs what a series' files refused (a node or the custodian API reading a series), a warning
/// when anything was.
pub(crate) fn log_refusals(r: &SeriesReport) {
    let (late, dup, stale) =
        (r.out_of_order_readings.len(), r.duplicate_readings, r.stale_readings.len());
    if late + stale > 0 || dup > 0 {
        tracing::warn!(target: "shr::series", out_of_order = late, duplicates = dup, stale, first_out_of_order_row = ?r.out_of_order_readings.first().map(|o| o.row), "series rows refused");
    }
}

/// The report's lines for a person: each file's time format, then each kind of refusal.
pub(crate) fn print_report(r: &SeriesReport) {
    for (file, f) in &r.time_formats {
        println!("time format of {file}: {f}");
    }
    println!(
        "readings refused: {} out of order, {} exact duplicates, {} stale supply",
        r.out_of_order_readings.len(),
        r.duplicate_readings,
        r.stale_readings.len()
    );
    for o in r.out_of_order_readings.iter().take(20) {
        println!(
            "  out of order: {} row {} at {} (last accepted {})",
            o.source, o.row, o.observed_at, o.last_accepted
        );
    }
    if r.out_of_order_readings.len() > 20 {
        println!("  ... and {} more (--json lists them all)", r.out_of_order_readings.len() - 20);
    }
}
