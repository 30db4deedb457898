//! The JSON of an answer from per-day sums (a series) or per-group sums,
//! whichever way they were obtained (from the indexes or by queries).
//!
//! The answer is written straight from the sums: a year by day is 365
//! periods of up to 36 metrics, and building a `serde_json::Value` map per
//! period (a `String` per key) cost more than finding the sums in the
//! index. Keys are written in sorted order, as serde_json's maps write
//! them, so the text is what it was when it was built from `Value`s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use revstream_schemas::TenantId;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::definitions::{Metric, Sums};
use super::{MetricsRequest, buckets};
use crate::error::{QueryError, Result};

/// A `/v1/metrics` answer, its fields in key order.
#[derive(Debug)]
pub(crate) struct Answer {
    fields: BTreeMap<&'static str, Part>,
    /// The asked metrics by name (a group's or the totals' keys).
    metrics: Vec<Field>,
    /// The same with a period's `start` and `end` among them.
    period: Vec<Field>,
}

#[derive(Debug)]
enum Part {
    Value(Value),
    /// `series`: each period's start, end and sums.
    Periods(Vec<(NaiveDate, NaiveDate, Sums)>),
    /// `groups`: named groups in key order, then the one without a key.
    Groups(Vec<(Option<String>, Sums)>),
    Totals(Sums),
}

/// A key of a period's object.
#[derive(Debug, Clone, Copy)]
enum Field {
    Metric(Metric),
    Start,
    End,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Metric(m) => m.name(),
            Field::Start => "start",
            Field::End => "end",
        }
    }
}

impl Answer {
    /// What every answer starts with.
    pub(super) fn new(tenant: &TenantId, r: &MetricsRequest, currency: Option<&str>) -> Answer {
        let mut fields = BTreeMap::new();
        fields.insert("tenant", Part::Value(json!(tenant.as_str())));
        fields.insert("currency", Part::Value(json!(currency)));
        fields.insert("from", Part::Value(json!(r.from.to_string())));
        fields.insert("to", Part::Value(json!(r.to.to_string())));
        fields.insert("interval", Part::Value(json!(r.interval.as_str())));
        if let Some(by) = r.group_by {
            fields.insert("group_by", Part::Value(json!(by.as_str())));
        }
        let sorted = |extra: &[Field]| {
            let mut fields: Vec<Field> = r.metrics.iter().map(|&m| Field::Metric(m)).collect();
            fields.extend_from_slice(extra);
            fields.sort_by_key(|f| f.name());
            fields
        };
        Answer {
            fields,
            metrics: sorted(&[]),
            period: sorted(&[Field::Start, Field::End]),
        }
    }

    /// The series and totals of `r` from per-day sums and day-end states
    /// (MRR, active customers).
    pub(super) fn series(
        &mut self,
        r: &MetricsRequest,
        days: &BTreeMap<NaiveDate, Sums>,
        at: &HashMap<NaiveDate, (i64, i64)>,
    ) {
        let period = |start: NaiveDate, end: NaiveDate| {
            let mut sums = Sums::default();
            for (_, s) in days.range(start..=end) {
                sums.add(s);
            }
            let state =
                |d: Option<NaiveDate>| d.and_then(|d| at.get(&d)).copied().unwrap_or((0, 0));
            (sums.mrr, sums.active_customers) = state(Some(end));
            (sums.mrr_start, sums.active_customers_start) = state(start.pred_opt());
            sums
        };
        let periods = buckets::buckets(r.from, r.to, r.interval)
            .into_iter()
            .map(|(start, end)| (start, end, period(start, end)))
            .collect();
        self.fields.insert("series", Part::Periods(periods));
        self.fields
            .insert("totals", Part::Totals(period(r.from, r.to)));
    }

    /// The groups and totals from the per-group call and cash sums: named
    /// groups in key order, the group without a key last.
    pub(super) fn groups(
        &mut self,
        calls: BTreeMap<Option<String>, Sums>,
        cash: BTreeMap<Option<String>, Sums>,
    ) {
        let mut groups: BTreeMap<Option<String>, Sums> = BTreeMap::new();
        for (k, s) in calls.into_iter().chain(cash) {
            groups.entry(k).or_default().add(&s);
        }
        let mut totals = Sums::default();
        for sums in groups.values() {
            totals.add(sums);
        }
        let unnamed = groups.remove(&None);
        let mut list: Vec<(Option<String>, Sums)> = groups.into_iter().collect();
        list.extend(unnamed.map(|s| (None, s)));
        self.fields.insert("groups", Part::Groups(list));
        self.fields.insert("totals", Part::Totals(totals));
    }
}

/// The tenant's only currency; none yet is `None`; several need
/// `currency=`.
pub(super) fn only_currency(mut found: Vec<String>) -> Result<Option<String>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(QueryError::CurrencyRequired(found)),
    }
}

/// The days MRR and active customers are needed at: the end of each
/// period and the day before it, sorted.
pub(super) fn period_ends(r: &MetricsRequest) -> Vec<NaiveDate> {
    let mut ends: BTreeSet<NaiveDate> = BTreeSet::new();
    for (start, end) in buckets::buckets(r.from, r.to, r.interval) {
        ends.insert(end);
        if let Some(before) = start.pred_opt() {
            ends.insert(before);
        }
    }
    ends.into_iter().collect()
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.fields.len()))?;
        for (key, part) in &self.fields {
            match part {
                Part::Value(v) => map.serialize_entry(key, v)?,
                Part::Totals(sums) => map.serialize_entry(key, &self.values(sums, None))?,
                Part::Periods(periods) => map.serialize_entry(key, &Periods(self, periods))?,
                Part::Groups(groups) => map.serialize_entry(key, &Groups(self, groups))?,
            }
        }
        map.end()
    }
}

impl Answer {
    fn values<'a>(&'a self, sums: &'a Sums, span: Option<(NaiveDate, NaiveDate)>) -> Values<'a> {
        Values {
            fields: if span.is_some() {
                &self.period
            } else {
                &self.metrics
            },
            sums,
            span,
        }
    }
}

/// One period's or group's metric values (and a period's start and end).
struct Values<'a> {
    fields: &'a [Field],
    sums: &'a Sums,
    span: Option<(NaiveDate, NaiveDate)>,
}

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.fields.len()))?;
        for &field in self.fields {
            match (field, self.span) {
                (Field::Metric(m), _) => map.serialize_entry(m.name(), &self.sums.value(m))?,
                (Field::Start, Some((start, _))) => map.serialize_entry("start", &Date(start))?,
                (Field::End, Some((_, end))) => map.serialize_entry("end", &Date(end))?,
                (Field::Start | Field::End, None) => {}
            }
        }
        map.end()
    }
}

/// A date as `YYYY-MM-DD`, without a `String` of its own.
struct Date(NaiveDate);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Periods<'a>(&'a Answer, &'a [(NaiveDate, NaiveDate, Sums)]);

impl Serialize for Periods<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let Periods(answer, periods) = self;
        s.collect_seq(
            periods
                .iter()
                .map(|(start, end, sums)| answer.values(sums, Some((*start, *end)))),
        )
    }
}

struct Groups<'a>(&'a Answer, &'a [(Option<String>, Sums)]);

impl Serialize for Groups<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let Groups(answer, groups) = self;
        s.collect_seq(groups.iter().map(|(key, sums)| Group {
            key: key.as_deref(),
            totals: answer.values(sums, None),
        }))
    }
}

/// `{"key": …, "totals": {…}}`
#[derive(serde::Serialize)]
struct Group<'a> {
    key: Option<&'a str>,
    totals: Values<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsParams;

    fn request(group_by: Option<&str>) -> MetricsRequest {
        MetricsRequest::parse(&MetricsParams {
            from: Some("2026-01-01".into()),
            to: Some("2026-02-10".into()),
            interval: Some("week".into()),
            group_by: group_by.map(str::to_owned),
            ..MetricsParams::default()
        })
        .unwrap()
    }

    /// The text serde_json writes for the same JSON as a `Value` (keys
    /// sorted).
    fn as_value_text(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    #[test]
    fn written_as_a_value_would_be_with_every_period_and_group() {
        let tenant = TenantId::parse("acme").unwrap();
        let r = request(None);
        let mut answer = Answer::new(&tenant, &r, Some("usd"));
        let day = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap();
        let sums = Sums {
            new_mrr: 500,
            showed: 2,
            booked_calls: 3,
            cash_collected: 900,
            ..Sums::default()
        };
        let days = BTreeMap::from([(day, sums)]);
        let at = HashMap::from([(NaiveDate::from_ymd_opt(2026, 1, 11).unwrap(), (500, 1))]);
        answer.series(&r, &days, &at);
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(text, as_value_text(&text));
        let v: Value = serde_json::from_str(&text).unwrap();
        let series = v["series"].as_array().unwrap();
        assert_eq!(series.len(), 7, "Jan 1–4, five full weeks, Feb 9–10");
        assert_eq!(series[1]["start"], "2026-01-05");
        assert_eq!(series[1]["end"], "2026-01-11");
        assert_eq!(series[1]["new_mrr"], 500);
        assert_eq!(series[1]["mrr"], 500);
        assert_eq!(series[1]["show_rate"], 1.0);
        assert_eq!(series[0]["show_rate"], Value::Null, "no calls in Jan 1–4");
        assert_eq!(series[1].as_object().unwrap().len(), Metric::ALL.len() + 2);
        assert_eq!(v["totals"]["cash_collected"], 900);
        assert!(v["totals"].get("start").is_none());

        let r = request(Some("closer"));
        let mut answer = Answer::new(&tenant, &r, None);
        let calls = BTreeMap::from([(None, sums), (Some("bob".to_owned()), sums)]);
        let cash = BTreeMap::from([(Some("alice".to_owned()), sums)]);
        answer.groups(calls, cash);
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(text, as_value_text(&text));
        let v: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&Value> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| &g["key"])
            .collect();
        assert_eq!(keys, [&json!("alice"), &json!("bob"), &Value::Null]);
        assert_eq!(v["group_by"], "closer");
        assert_eq!(v["totals"]["showed"], 6);
    }
}
