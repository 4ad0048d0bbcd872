//! The time formats a series' time column may use, detected per file from its first row.

use std::fmt;

use crate::{Error, Result};

/// A time column's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeFormat {
    /// RFC 3339 date-time with an offset (`2023-07-10T12:00:00Z`).
    Rfc3339,
    /// A date alone (`2023-07-10`): midnight UTC.
    Date,
    /// Unix seconds (`1688947200`).
    UnixSeconds,
    /// Unix milliseconds (`1688947200000`).
    UnixMillis,
}

/// Integers at or above this are read as milliseconds: 10^11 seconds is the year 5138, 10^11
/// milliseconds 1973-03-03.
const MILLIS_FROM: u64 = 100_000_000_000;

impl TimeFormat {
    /// The format of `value` (a first row's time), or `None` when it is none of them.
    pub fn detect(value: &str) -> Option<Self> {
        let v = value.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = v.parse().ok()?;
            return Some(if n >= MILLIS_FROM { Self::UnixMillis } else { Self::UnixSeconds });
        }
        if chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() && v.len() == 10 {
            return Some(Self::Date);
        }
        chrono::DateTime::parse_from_rfc3339(v).is_ok().then_some(Self::Rfc3339)
    }

    /// Parses `value` in this format into unix seconds (milliseconds truncated).
    ///
    /// # Errors
    /// [`Error::WrongTimeFormat`] naming `field`, the value and the format expected (a file's
    /// rows all use the format of its first).
    pub fn parse(self, field: &str, value: &str) -> Result<u64> {
        let v = value.trim();
        let bad = || Error::WrongTimeFormat {
            field: field.to_string(),
            value: value.to_string(),
            expected: self,
        };
        let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        match self {
            Self::UnixSeconds if digits => v.parse::<u64>().ok().filter(|n| *n < MILLIS_FROM),
            Self::UnixMillis if digits => v.parse::<u64>().ok().map(|ms| ms / 1_000),
            Self::Date if v.len() == 10 => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| u64::try_from(t.and_utc().timestamp()).ok()),
            Self::Rfc3339 => chrono::DateTime::parse_from_rfc3339(v)
                .ok()
                .and_then(|t| u64::try_from(t.timestamp()).ok()),
            _ => None,
        }
        .ok_or_else(bad)
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rfc3339 => "rfc3339",
            Self::Date => "date",
            Self::UnixSeconds => "unix-seconds",
            Self::UnixMillis => "unix-millis",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_parses_each_format() {
        let cases = [
            ("2023-07-10T12:00:00Z", TimeFormat::Rfc3339, 1_688_990_400),
            ("2023-07-10T14:00:00+02:00", TimeFormat::Rfc3339, 1_688_990_400),
            ("2023-07-10", TimeFormat::Date, 1_688_947_200),
            ("1688990400", TimeFormat::UnixSeconds, 1_688_990_400),
            ("1688990400123", TimeFormat::UnixMillis, 1_688_990_400),
        ];
        for (v, f, t) in cases {
            assert_eq!(TimeFormat::detect(v), Some(f), "{v}");
            assert_eq!(f.parse("t", v).unwrap(), t, "{v}");
        }
        for v in ["", "yesterday", "2023-7-10", "-5", "1.5", "2023-07-10 12:00"] {
            assert_eq!(TimeFormat::detect(v), None, "{v:?}");
        }
    }

    #[test]
    fn a_row_in_another_format_is_named() {
        let e = TimeFormat::UnixSeconds.parse("row 7 column t", "2023-07-10").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("row 7 column t") && msg.contains("unix-seconds"), "{msg}");
        assert!(msg.contains("2023-07-10"), "{msg}");
        // Milliseconds in a seconds file are refused, not read as the year 55,000.
        assert!(TimeFormat::UnixSeconds.parse("t", "1688990400123").is_err());
        assert!(TimeFormat::Date.parse("t", "2023-02-30").is_err());
    }
}
