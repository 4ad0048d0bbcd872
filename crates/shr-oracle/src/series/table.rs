//! One CSV file read as points in time: a time column (its format detected from the first row)
//! and groups of value columns (`a+b+c`, summed), with the order rule applied.

use std::io::Read;

use alloy::primitives::U256;

use super::{Order, OutOfOrder, SeriesReport, sum};
use crate::{Error, Result, TimeFormat};

/// One value over time from a CSV file: reserves, or supply, read apart to be joined
/// ([`super::ReserveSeries::join`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSeries {
    /// `(time, value)`, strictly increasing in time; unix seconds and token base units.
    pub points: Vec<(u64, U256)>,
    /// Its time format and the rows it refused.
    pub report: SeriesReport,
}

impl ValueSeries {
    /// Reads `r` (named `label`): time column `time`, value column(s) `value` (`a+b+c` summed),
    /// amounts scaled to `decimals`.
    ///
    /// # Errors
    /// As [`super::ReserveSeries::read`].
    pub fn read(
        r: impl Read,
        label: &str,
        time: &str,
        value: &str,
        decimals: u8,
        order: Order,
    ) -> Result<Self> {
        let t = read(r, label, time, &[value], decimals, order)?;
        Ok(Self {
            points: t.points.into_iter().map(|(t, v)| (t, v[0])).collect(),
            report: t.report,
        })
    }
}

/// Points of one file: each row's time and one sum per column group.
pub(super) struct Table {
    pub(super) points: Vec<(u64, Vec<U256>)>,
    pub(super) report: SeriesReport,
}

/// Reads `r` as a header row then data rows.
pub(super) fn read(
    r: impl Read,
    label: &str,
    time: &str,
    groups: &[&str],
    decimals: u8,
    order: Order,
) -> Result<Table> {
    let mut rdr = csv::Reader::from_reader(r);
    let headers = rdr.headers().map_err(|source| Error::Csv { row: 0, source })?.clone();
    let idx = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| Error::Series {
            path: label.into(),
            why: format!(
                "no column {name:?} (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        })
    };
    let ti = idx(time)?;
    let groups: Vec<(&str, Vec<usize>)> = groups
        .iter()
        .map(|g| Ok((*g, g.split('+').map(|c| idx(c.trim())).collect::<Result<Vec<_>>>()?)))
        .collect::<Result<_>>()?;
    let mut format: Option<TimeFormat> = None;
    let mut report = SeriesReport::default();
    let mut points: Vec<(u64, Vec<U256>)> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i as u64 + 1;
        let rec = rec.map_err(|source| Error::Csv { row, source })?;
        let field = |c: &str| format!("row {row} column {c}");
        let raw_time = &rec[ti];
        let f = match format {
            Some(f) => f,
            None => {
                let f = TimeFormat::detect(raw_time).ok_or_else(|| Error::InvalidTime {
                    field: field(time),
                    value: raw_time.to_string(),
                })?;
                format = Some(f);
                f
            }
        };
        let t = f.parse(&field(time), raw_time)?;
        let values = groups
            .iter()
            .map(|(name, cols)| {
                let vs: Vec<&str> = cols.iter().map(|c| &rec[*c]).collect();
                sum(&field(name), &vs, decimals)
            })
            .collect::<Result<Vec<_>>>()?;
        match points.last() {
            Some((last, _)) if t <= *last => {
                if order == Order::Strict {
                    return Err(Error::Series {
                        path: label.into(),
                        why: format!("row {row}: time {t} does not increase (previous {last})"),
                    });
                }
                let at = points.partition_point(|(p, _)| *p < t);
                if points.get(at).is_some_and(|(p, v)| *p == t && *v == values) {
                    report.duplicate_readings += 1;
                } else {
                    report.out_of_order_readings.push(OutOfOrder {
                        source: label.into(),
                        row,
                        observed_at: t,
                        last_accepted: *last,
                    });
                }
            }
            _ => points.push((t, values)),
        }
    }
    if let Some(f) = format {
        report.time_formats.push((label.into(), f));
    }
    Ok(Table { points, report })
}
