//! Buckets: which file of a tenant's partition a derived row is stored in.
//!
//! A derived table's tenant partition is not one file but one file per
//! bucket, a calendar month of the row's own date (the day of a payment,
//! a movement or a daily row; when a call is scheduled; when a subscription
//! started or a customer was first seen). A cycle fingerprints each bucket
//! and rewrites only the files of the buckets whose rows changed.
//!
//! ```text
//!  tenant_id=acme/bucket-676-<uuid>.snappy.parquet   rows dated 2026-05
//!  tenant_id=acme/bucket-677-<uuid>.snappy.parquet   rows dated 2026-06   ← the only file a cycle of June events rewrites
//! ```
//!
//! Why months of the row's date: events mostly arrive in time order, so a
//! cycle's changes land in the latest month or two, and a busy tenant's
//! year is a dozen files, few enough for a query to open at once. The
//! bucket is only a placement: a row whose date moves (a rescheduled call)
//! leaves one bucket and enters another, and both files are rewritten.
//!
//! The bucket is written into the file's name, so the store finds a
//! bucket's file in the Delta snapshot itself (after a restart, or a
//! commit whose outcome was unknown) rather than in memory.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::derive::{
    CallRow, CustomerRow, DailyRow, MovementRow, PaymentRow, RefundRow, SubscriptionRow,
};

/// A calendar month, counted from 1970-01 (month 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(i32);

/// Which files of a tenant's partition a rewrite replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteScope {
    /// Every file, whatever its bucket: the first write of a tenant by
    /// this process (nothing is known of what the partition holds).
    Whole,
    /// Only the files of these buckets (sorted): their rows changed,
    /// appeared or went away.
    Buckets(Vec<Bucket>),
}

/// The start of every bucket file's name.
const FILE_PREFIX: &str = "bucket-";

impl Bucket {
    pub fn of_day(day: NaiveDate) -> Bucket {
        Bucket((day.year() - 1970) * 12 + day.month0() as i32)
    }

    pub fn of_instant(at: DateTime<Utc>) -> Bucket {
        Bucket::of_day(at.date_naive())
    }

    /// The first day of the month, for logs and tests.
    pub fn first_day(self) -> Option<NaiveDate> {
        let year = 1970 + self.0.div_euclid(12);
        let month = self.0.rem_euclid(12) as u32 + 1;
        NaiveDate::from_ymd_opt(year, month, 1)
    }

    /// The name of a new file of this bucket: unique per write, so a
    /// replaced file is never overwritten in place (a query running on
    /// the previous snapshot still reads it).
    pub fn file_name(self, unique: &str) -> String {
        format!("{FILE_PREFIX}{}-{unique}.snappy.parquet", self.0)
    }

    /// The bucket a data file's name says it holds; `None` for a file this
    /// layout did not write (a whole-partition file of an older version).
    pub fn of_file_name(name: &str) -> Option<Bucket> {
        let rest = name.strip_prefix(FILE_PREFIX)?;
        // The number ends at the first '-' after its first character (a
        // month before 1970 is negative).
        let end = rest.char_indices().skip(1).find(|&(_, c)| c == '-')?.0;
        rest[..end].parse().ok().map(Bucket)
    }
}

/// A derived row's bucket.
pub trait Bucketed: Hash {
    fn bucket(&self) -> Bucket;
}

impl Bucketed for SubscriptionRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_instant(self.started_at)
    }
}

impl Bucketed for MovementRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_day(self.day)
    }
}

impl Bucketed for DailyRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_day(self.day)
    }
}

impl Bucketed for CallRow {
    /// When the call happens, else when it was booked, else its latest
    /// change: a call with no date yet goes where its last event went.
    fn bucket(&self) -> Bucket {
        match (self.scheduled_day, self.booked_at) {
            (Some(day), _) => Bucket::of_day(day),
            (None, Some(booked)) => Bucket::of_instant(booked),
            (None, None) => Bucket::of_instant(self.updated_at),
        }
    }
}

impl Bucketed for PaymentRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_day(self.paid_day)
    }
}

impl Bucketed for RefundRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_day(self.refunded_day)
    }
}

impl Bucketed for CustomerRow {
    fn bucket(&self) -> Bucket {
        Bucket::of_instant(self.first_seen_at)
    }
}

/// A fingerprint of each bucket's rows, in row order.
pub fn bucket_prints<R: Bucketed>(rows: &[R]) -> BTreeMap<Bucket, u64> {
    let mut hashers: BTreeMap<Bucket, DefaultHasher> = BTreeMap::new();
    for row in rows {
        row.hash(hashers.entry(row.bucket()).or_default());
    }
    hashers.into_iter().map(|(b, h)| (b, h.finish())).collect()
}

/// The rows of the buckets in `scope`, grouped by bucket in row order.
/// A bucket in scope without rows is absent: its file goes, none replaces it.
pub fn rows_in<'a, R: Bucketed>(
    rows: &'a [R],
    scope: &RewriteScope,
) -> BTreeMap<Bucket, Vec<&'a R>> {
    let mut out: BTreeMap<Bucket, Vec<&R>> = BTreeMap::new();
    for row in rows {
        let bucket = row.bucket();
        let wanted = match scope {
            RewriteScope::Whole => true,
            RewriteScope::Buckets(buckets) => buckets.binary_search(&bucket).is_ok(),
        };
        if wanted {
            out.entry(bucket).or_default().push(row);
        }
    }
    out
}

/// The buckets whose prints differ between two derivations: changed rows,
/// and buckets that appeared or went away.
pub fn changed_buckets(
    before: &BTreeMap<Bucket, u64>,
    after: &BTreeMap<Bucket, u64>,
) -> Vec<Bucket> {
    let mut changed: Vec<Bucket> = after
        .iter()
        .filter(|(b, print)| before.get(b) != Some(print))
        .map(|(b, _)| *b)
        .chain(before.keys().filter(|b| !after.contains_key(b)).copied())
        .collect();
    changed.sort_unstable();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_bucket_is_a_calendar_month() {
        assert_eq!(Bucket::of_day(day("1970-01-31")), Bucket(0));
        assert_eq!(Bucket::of_day(day("2026-05-01")), Bucket(676));
        assert_eq!(Bucket::of_day(day("2026-05-31")), Bucket(676));
        assert_eq!(Bucket::of_day(day("2026-06-01")), Bucket(677));
        assert_eq!(Bucket::of_day(day("1969-12-31")), Bucket(-1));
        assert_eq!(Bucket(676).first_day(), Some(day("2026-05-01")));
        assert_eq!(Bucket(-1).first_day(), Some(day("1969-12-01")));
    }

    #[test]
    fn the_bucket_round_trips_through_the_file_name() {
        for bucket in [Bucket(0), Bucket(676), Bucket(-13)] {
            let name = bucket.file_name("0f3c-77");
            assert!(name.ends_with(".snappy.parquet"), "{name}");
            assert_eq!(Bucket::of_file_name(&name), Some(bucket), "{name}");
        }
        for foreign in [
            "part-00001-0f3c-c000.snappy.parquet",
            "bucket-x-0f3c.parquet",
            "bucket-676",
            "",
        ] {
            assert_eq!(Bucket::of_file_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn changed_buckets_include_those_that_appear_and_go() {
        let before = BTreeMap::from([(Bucket(1), 10), (Bucket(2), 20), (Bucket(3), 30)]);
        let after = BTreeMap::from([(Bucket(1), 10), (Bucket(2), 21), (Bucket(4), 40)]);
        assert_eq!(
            changed_buckets(&before, &after),
            [Bucket(2), Bucket(3), Bucket(4)]
        );
        assert!(changed_buckets(&after, &after).is_empty());
    }

    #[derive(Hash)]
    struct Dated(NaiveDate, u32);

    impl Bucketed for Dated {
        fn bucket(&self) -> Bucket {
            Bucket::of_day(self.0)
        }
    }

    #[test]
    fn a_change_in_one_month_changes_only_that_buckets_print() {
        let rows = vec![
            Dated(day("2026-01-05"), 1),
            Dated(day("2026-01-20"), 2),
            Dated(day("2026-02-03"), 3),
        ];
        let mut edited = vec![
            Dated(day("2026-01-05"), 1),
            Dated(day("2026-01-20"), 2),
            Dated(day("2026-02-03"), 4),
        ];
        let jan = Bucket::of_day(day("2026-01-01"));
        let feb = Bucket::of_day(day("2026-02-01"));
        assert_eq!(
            changed_buckets(&bucket_prints(&rows), &bucket_prints(&edited)),
            [feb]
        );
        edited.push(Dated(day("2026-01-31"), 5));
        assert_eq!(
            changed_buckets(&bucket_prints(&rows), &bucket_prints(&edited)),
            [jan, feb]
        );
    }

    #[test]
    fn rows_in_keeps_only_the_scoped_buckets_in_row_order() {
        let rows = vec![
            Dated(day("2026-01-05"), 1),
            Dated(day("2026-02-03"), 2),
            Dated(day("2026-01-20"), 3),
        ];
        let jan = Bucket::of_day(day("2026-01-01"));
        let feb = Bucket::of_day(day("2026-02-01"));
        let march = Bucket::of_day(day("2026-03-01"));
        let picked = rows_in(&rows, &RewriteScope::Buckets(vec![jan, march]));
        let ids: Vec<(Bucket, Vec<u32>)> = picked
            .into_iter()
            .map(|(b, rows)| (b, rows.iter().map(|r| r.1).collect()))
            .collect();
        assert_eq!(ids, [(jan, vec![1, 3])]);
        let all = rows_in(&rows, &RewriteScope::Whole);
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), [jan, feb]);
    }
}
