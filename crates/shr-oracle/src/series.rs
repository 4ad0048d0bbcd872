//! A recorded reserve series (CSV), replayed as the custodian feed plus the token-supply feed.

use std::{io::Read, path::Path};

use crate::{Error, ReserveReading, Result, amount::parse_amount, reading::parse_time};

/// Which CSV columns hold what. Defaults: `timestamp`, `reserves`, `supply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesColumns {
    /// RFC 3339 time (or unix seconds).
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

/// A reserve series in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveSeries {
    /// The readings, strictly increasing in `observed_at`.
    pub readings: Vec<ReserveReading>,
}

impl ReserveSeries {
    /// Reads a CSV file.
    ///
    /// # Errors
    /// As [`ReserveSeries::from_reader`], plus [`Error::Series`] when the file cannot be opened.
    pub fn from_path(path: &Path, cols: &SeriesColumns, decimals: u8) -> Result<Self> {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::Series { path: path.display().to_string(), why: e.to_string() })?;
        Self::from_reader(f, cols, decimals)
    }

    /// Reads CSV from `r`, scaling amounts to `decimals`.
    ///
    /// # Errors
    /// [`Error::Series`] for a missing column or times that do not increase; [`Error::Csv`],
    /// [`Error::InvalidAmount`] or [`Error::InvalidTime`] naming the row's column and value.
    pub fn from_reader(r: impl Read, cols: &SeriesColumns, decimals: u8) -> Result<Self> {
        let mut rdr = csv::Reader::from_reader(r);
        let headers = rdr.headers().map_err(|source| Error::Csv { row: 0, source })?.clone();
        let idx = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| Error::Series {
                path: "(csv)".into(),
                why: format!(
                    "no column {name:?} (columns: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            })
        };
        let (ti, ri, si) = (idx(&cols.time)?, idx(&cols.reserves)?, idx(&cols.supply)?);
        let mut readings: Vec<ReserveReading> = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let row = i as u64 + 1;
            let rec = rec.map_err(|source| Error::Csv { row, source })?;
            let field = |c: &str| format!("row {row} column {c}");
            let observed_at = parse_time(&field(&cols.time), &rec[ti])?;
            let reserves = parse_amount(&field(&cols.reserves), &rec[ri], decimals)?;
            let supply = parse_amount(&field(&cols.supply), &rec[si], decimals)?;
            if let Some(prev) = readings.last()
                && observed_at <= prev.observed_at
            {
                return Err(Error::Series {
                    path: "(csv)".into(),
                    why: format!(
                        "row {row}: time {observed_at} does not increase (previous {})",
                        prev.observed_at
                    ),
                });
            }
            readings.push(ReserveReading { observed_at, reserves, supply, ripcord: false });
        }
        Ok(Self { readings })
    }

    /// The readings with `from <= observed_at <= to` (unix seconds).
    pub fn window(&self, from: Option<u64>, to: Option<u64>) -> &[ReserveReading] {
        let a = from.map_or(0, |f| self.readings.partition_point(|r| r.observed_at < f));
        let b = to
            .map_or(self.readings.len(), |t| self.readings.partition_point(|r| r.observed_at <= t));
        &self.readings[a..b.max(a)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::U256;

    #[test]
    fn reads_and_windows() {
        let csv =
            "timestamp,reserves,supply\n2024-01-01T00:00:00Z,10.5,10\n2024-01-01T01:00:00Z,9,10\n";
        let s = ReserveSeries::from_reader(csv.as_bytes(), &SeriesColumns::default(), 8).unwrap();
        assert_eq!(s.readings.len(), 2);
        assert_eq!(s.readings[0].reserves, U256::from(1_050_000_000u64));
        assert_eq!(s.window(Some(1_704_070_000), None).len(), 1);
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
        assert!(
            e.to_string().contains("row 1 column reserves") && e.to_string().contains("-1"),
            "{e}"
        );
        let e =
            ReserveSeries::from_reader("time,reserves,supply\n".as_bytes(), &cols, 8).unwrap_err();
        assert!(e.to_string().contains("no column \"timestamp\""), "{e}");
        let e = ReserveSeries::from_reader(
            "timestamp,reserves,supply\n2024-01-02T00:00:00Z,1,1\n2024-01-01T00:00:00Z,1,1\n"
                .as_bytes(),
            &cols,
            8,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not increase"), "{e}");
    }
}
