//! When rounds run: a cron schedule in CRE's cron-trigger format (six fields, seconds first:
//! `second minute hour day-of-month month day-of-week`, e.g. `0 */5 * * * *`, UTC), evaluated on
//! whatever clock the caller passes (the chain's time when the chain is embedded). Pure: no
//! clock is read here.
//!
//! Day-of-week numbers follow CRE (Go cron): 0 = Sunday ..= 6 = Saturday, or names (`MON`).
//! The `cron` crate this parses with counts 1 = Sunday ..= 7, so numbers are shifted on the way in.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{Error, Result};

/// A parsed round schedule.
#[derive(Debug, Clone)]
pub struct RoundSchedule {
    expr: String,
    schedule: cron::Schedule,
}

impl RoundSchedule {
    /// Parses `expr` (six fields, seconds first).
    ///
    /// # Errors
    /// [`Error::Schedule`] naming the expression: not six fields, a day-of-week number above 6,
    /// or a field the cron grammar refuses.
    pub fn parse(expr: &str) -> Result<Self> {
        let bad = |why: String| Error::Schedule { expr: expr.to_string(), why };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(bad(format!(
                "{} fields; CRE's cron trigger takes six: second minute hour day-of-month month day-of-week",
                fields.len()
            )));
        }
        let dow = shift_day_of_week(fields[5]).map_err(bad)?;
        let translated = format!("{} {}", fields[..5].join(" "), dow);
        let schedule = cron::Schedule::from_str(&translated).map_err(|e| bad(e.to_string()))?;
        Ok(Self { expr: expr.to_string(), schedule })
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `t` (unix seconds), or `None` when the schedule never
    /// fires again.
    pub fn next_after(&self, t: u64) -> Option<u64> {
        let at = DateTime::<Utc>::from_timestamp(i64::try_from(t).ok()?, 0)?;
        self.schedule.after(&at).next().and_then(|d| u64::try_from(d.timestamp()).ok())
    }

    /// The fire times in `(after, upto]`, oldest first, at most `limit` of them (a node that
    /// was down catches up on the most recent ones only: the caller keeps the last).
    pub fn due(&self, after: u64, upto: u64, limit: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut t = after;
        while let Some(n) = self.next_after(t).filter(|n| *n <= upto) {
            out.push(n);
            t = n;
            if out.len() > limit {
                out.remove(0);
            }
        }
        out
    }
}

/// CRE's day-of-week numbers (0 = Sunday ..= 6) to the `cron` crate's (1 = Sunday ..= 7);
/// names, `*` and `?` pass through, steps stay steps.
fn shift_day_of_week(field: &str) -> Result<String, String> {
    let shift = |n: &str| -> Result<String, String> {
        match n.parse::<u8>() {
            Ok(d @ 0..=6) => Ok((d + 1).to_string()),
            Ok(d) => Err(format!("day-of-week {d}: use 0 (Sunday) ..= 6 (Saturday)")),
            Err(_) => Ok(n.to_string()),
        }
    };
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = match range.split_once('-') {
            Some((a, b)) => format!("{}-{}", shift(a)?, shift(b)?),
            None if range == "*" || range == "?" => range.to_string(),
            None => shift(range)?,
        };
        parts.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 00:00:00 UTC, a Monday.
    const MONDAY: u64 = 1_795_996_800;

    #[test]
    fn every_five_minutes_on_the_minute() {
        let s = RoundSchedule::parse("0 */5 * * * *").unwrap();
        assert_eq!(s.next_after(MONDAY), Some(MONDAY + 300));
        assert_eq!(s.next_after(MONDAY + 1), Some(MONDAY + 300));
        assert_eq!(s.next_after(MONDAY - 1), Some(MONDAY));
        let ten = RoundSchedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(ten.due(MONDAY, MONDAY + 60, 100).len(), 6);
        assert_eq!(ten.due(MONDAY, MONDAY + 60, 2), vec![MONDAY + 50, MONDAY + 60]);
    }

    #[test]
    fn days_of_week_count_from_sunday_zero_as_cre_does() {
        // Monday is 1 in CRE; the first Monday noon after Sunday 2026-11-29 is the 30th.
        let s = RoundSchedule::parse("0 0 12 * * 1").unwrap();
        assert_eq!(s.next_after(MONDAY - 86_400), Some(MONDAY + 12 * 3_600));
        let sun = RoundSchedule::parse("0 0 12 * * 0").unwrap();
        assert_eq!(sun.next_after(MONDAY), Some(MONDAY + 6 * 86_400 + 12 * 3_600));
        let weekdays = RoundSchedule::parse("0 0 0 * * 1-5").unwrap();
        assert_eq!(weekdays.due(MONDAY - 1, MONDAY + 7 * 86_400 - 1, 100).len(), 5);
        let named = RoundSchedule::parse("0 0 12 * * MON").unwrap();
        assert_eq!(named.next_after(MONDAY), s.next_after(MONDAY));
    }

    #[test]
    fn bad_expressions_name_themselves() {
        for (expr, needle) in [
            ("*/5 * * * *", "5 fields"),
            ("0 0 0 * * 7", "day-of-week 7"),
            ("0 61 * * * *", "0 61"),
            ("0 0 0 * * * 2030", "7 fields"),
        ] {
            let e = RoundSchedule::parse(expr).unwrap_err().to_string();
            assert!(e.contains(expr) && e.contains(needle), "{e}");
        }
    }
}
