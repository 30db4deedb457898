//! The periods of a series: days, ISO weeks (Monday to Sunday) or calendar
//! months, clipped to `[from, to]` so that nothing outside the asked range
//! is counted and the periods' additive sums add up to the totals.

use chrono::{Datelike, Days, NaiveDate};

/// The length of a series' periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            "month" => Some(Interval::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

/// Inclusive `(start, end)` periods covering `[from, to]` in order.
pub(crate) fn buckets(
    from: NaiveDate,
    to: NaiveDate,
    interval: Interval,
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let natural_end = match interval {
            Interval::Day => Some(start),
            Interval::Week => start.checked_add_days(Days::new(
                6 - u64::from(start.weekday().num_days_from_monday()),
            )),
            Interval::Month => last_of_month(start),
        };
        let end = natural_end.map_or(to, |e| e.min(to));
        out.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

fn last_of_month(day: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weeks_are_monday_to_sunday_clipped() {
        // 2026-01-01 is a Thursday.
        let b = buckets(d("2026-01-01"), d("2026-01-20"), Interval::Week);
        assert_eq!(
            b,
            vec![
                (d("2026-01-01"), d("2026-01-04")),
                (d("2026-01-05"), d("2026-01-11")),
                (d("2026-01-12"), d("2026-01-18")),
                (d("2026-01-19"), d("2026-01-20")),
            ]
        );
    }

    #[test]
    fn months_are_calendar_months_clipped() {
        let b = buckets(d("2026-01-15"), d("2026-03-10"), Interval::Month);
        assert_eq!(
            b,
            vec![
                (d("2026-01-15"), d("2026-01-31")),
                (d("2026-02-01"), d("2026-02-28")),
                (d("2026-03-01"), d("2026-03-10")),
            ]
        );
        let dec = buckets(d("2025-12-05"), d("2026-01-02"), Interval::Month);
        assert_eq!(dec[0], (d("2025-12-05"), d("2025-12-31")));
    }

    #[test]
    fn days_one_each() {
        assert_eq!(
            buckets(d("2026-01-01"), d("2026-01-03"), Interval::Day).len(),
            3
        );
        assert_eq!(
            buckets(d("2026-01-01"), d("2026-01-01"), Interval::Day).len(),
            1
        );
    }
}
