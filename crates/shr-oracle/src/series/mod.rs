//! A recorded reserve series (CSV), replayed as the custodian feed plus the token-supply feed:
//! reserves and supply from one file, or from two joined as-of ([`ReserveSeries::join`]). Rows
//! not newer than the last accepted one are refused, counted and listed ([`SeriesReport`]), as
//! a live node and the receiver refuse them; [`Order::Strict`] stops at the first instead.

use std::{io::Read, path::Path};

use alloy::primitives::U256;

use crate::{Error, ReserveReading, Result, TimeFormat, amount::parse_amount};

mod table;

pub use table::ValueSeries;

/// Which CSV columns hold what. Defaults: `timestamp`, `reserves`, `supply`. `reserves` (and
/// `supply`) may name several columns joined by `+` (`a+b+c`), summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesColumns {
    /// Time: RFC 3339, a date (midnight UTC), unix seconds or milliseconds, detected per file.
    pub time: String,
    /// Reserves, decimal whole tokens.
    pub reserves: String,
    /// Liabilities (supply), decimal whole tokens.
    pub supply: String,
}

impl Default for SeriesColumns {
    fn default() -> Self {
        Self { time: "timestamp".into(), reserves: "reserves".into(), supply: "supply".into() }
    }
}

impl SeriesColumns {
    /// The columns of the shipped wBTC series (`data/wbtc/wbtc_por_timeseries_2023-07_2025-06.csv`).
    pub fn wbtc() -> Self {
        Self {
            time: "timestamp_utc".into(),
            reserves: "reserves_btc".into(),
            supply: "total_supply_wbtc".into(),
        }
    }
}

/// What to do with a row not newer than the last accepted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Refuse it, count and list it, and go on; a row identical to an accepted one (time and
    /// values) is dropped and counted as a duplicate.
    #[default]
    Lenient,
    /// Stop with an error at the first such row (`--strict-order`).
    Strict,
}

/// A row refused for not being newer than the last accepted one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutOfOrder {
    /// The file (its label) and the data row (1 = the first after the header).
    pub source: String,
    /// Data row.
    pub row: u64,
    /// Its time, unix seconds.
    pub observed_at: u64,
    /// The last accepted time then, unix seconds.
    pub last_accepted: u64,
}

/// A reserve reading refused because no supply was known at or within the allowed lag before
/// its time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleReading {
    /// The reading's time, unix seconds.
    pub observed_at: u64,
    /// The time of the latest supply at or before it (`None`: none at all).
    pub supply_at: Option<u64>,
}

/// How a series was read: the time format of each file and every row refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeriesReport {
    /// Each file's label and its time column's format.
    pub time_formats: Vec<(String, TimeFormat)>,
    /// Rows refused as not newer than the last accepted one, in file order.
    pub out_of_order_readings: Vec<OutOfOrder>,
    /// Rows dropped as exact duplicates of an accepted row.
    pub duplicate_readings: u64,
    /// Reserve readings refused because the supply was too old (joined series only).
    pub stale_readings: Vec<StaleReading>,
}

impl SeriesReport {
    fn absorb(&mut self, other: SeriesReport) {
        self.time_formats.extend(other.time_formats);
        self.out_of_order_readings.extend(other.out_of_order_readings);
        self.duplicate_readings += other.duplicate_readings;
        self.stale_readings.extend(other.stale_readings);
    }
}

/// A reserve series in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveSeries {
    /// The readings, strictly increasing in `observed_at`.
    pub readings: Vec<ReserveReading>,
    /// What reading the file(s) refused, and their time formats.
    pub report: SeriesReport,
}

impl ReserveSeries {
    /// Reads a CSV file ([`Order::Lenient`]).
    ///
    /// # Errors
    /// As [`ReserveSeries::from_reader`], plus [`Error::Series`] when the file cannot be opened.
    pub fn from_path(path: &Path, cols: &SeriesColumns, decimals: u8) -> Result<Self> {
        Self::read_path(path, cols, decimals, Order::Lenient)
    }

    /// Reads a CSV file with the given [`Order`].
    ///
    /// # Errors
    /// As [`ReserveSeries::read`], plus [`Error::Series`] when the file cannot be opened.
    pub fn read_path(
        path: &Path,
        cols: &SeriesColumns,
        decimals: u8,
        order: Order,
    ) -> Result<Self> {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::Series { path: path.display().to_string(), why: e.to_string() })?;
        Self::read(f, &path.display().to_string(), cols, decimals, order)
    }

    /// Reads CSV from `r` ([`Order::Lenient`]), scaling amounts to `decimals`.
    ///
    /// # Errors
    /// As [`ReserveSeries::read`].
    pub fn from_reader(r: impl Read, cols: &SeriesColumns, decimals: u8) -> Result<Self> {
        Self::read(r, "(csv)", cols, decimals, Order::Lenient)
    }

    /// Reads CSV from `r` (named `label` in errors and the report), scaling amounts to
    /// `decimals`: one reading a row, from its time, reserves and supply columns.
    ///
    /// # Errors
    /// [`Error::Series`] for a missing column, or with [`Order::Strict`] a time that does not
    /// increase; [`Error::Csv`], [`Error::InvalidAmount`], [`Error::InvalidTime`] (a first row
    /// in no known format) or [`Error::WrongTimeFormat`] naming the row's column and value.
    pub fn read(
        r: impl Read,
        label: &str,
        cols: &SeriesColumns,
        decimals: u8,
        order: Order,
    ) -> Result<Self> {
        let t =
            table::read(r, label, &cols.time, &[&cols.reserves, &cols.supply], decimals, order)?;
        let readings = t
            .points
            .into_iter()
            .map(|(observed_at, v)| ReserveReading {
                observed_at,
                reserves: v[0],
                supply: v[1],
                ripcord: false,
            })
            .collect();
        Ok(Self { readings, report: t.report })
    }

    /// Joins reserves and supply read from separate series as-of: each reserve point takes the
    /// latest supply at or before its time. A reserve point with no supply before it, or whose
    /// supply is more than `max_supply_lag` seconds older, is refused as stale (listed in the
    /// report). The report carries both series' refusals.
    pub fn join(reserves: ValueSeries, supply: ValueSeries, max_supply_lag: Option<u64>) -> Self {
        let mut report = reserves.report;
        report.absorb(supply.report);
        let mut readings = Vec::with_capacity(reserves.points.len());
        for (t, r) in reserves.points {
            let i = supply.points.partition_point(|(st, _)| *st <= t);
            let latest = i.checked_sub(1).map(|i| supply.points[i]);
            match latest {
                Some((st, s)) if max_supply_lag.is_none_or(|lag| t - st <= lag) => {
                    readings.push(ReserveReading {
                        observed_at: t,
                        reserves: r,
                        supply: s,
                        ripcord: false,
                    });
                }
                _ => report
                    .stale_readings
                    .push(StaleReading { observed_at: t, supply_at: latest.map(|(st, _)| st) }),
            }
        }
        Self { readings, report }
    }

    /// The readings with `from <= observed_at <= to` (unix seconds).
    pub fn window(&self, from: Option<u64>, to: Option<u64>) -> &[ReserveReading] {
        let a = from.map_or(0, |f| self.readings.partition_point(|r| r.observed_at < f));
        let b = to
            .map_or(self.readings.len(), |t| self.readings.partition_point(|r| r.observed_at <= t));
        &self.readings[a..b.max(a)]
    }
}

/// Sums `values` (decimal whole tokens) scaled to `decimals`.
fn sum(field: &str, values: &[&str], decimals: u8) -> Result<U256> {
    let mut total = U256::ZERO;
    for v in values {
        total = total.checked_add(parse_amount(field, v, decimals)?).ok_or_else(|| {
            Error::InvalidAmount {
                field: field.to_string(),
                value: values.join("+"),
                why: "the sum overflows 256 bits",
            }
        })?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
