//! The JSON of an answer from per-day sums (a series) or per-group sums,
//! whichever way they were obtained (from the indexes or by queries).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use revstream_schemas::TenantId;
use serde_json::{Map, Value, json};

use super::definitions::Sums;
use super::{MetricsRequest, buckets};
use crate::error::{QueryError, Result};

/// The tenant's only currency; none yet is `None`; several need
/// `currency=`.
pub(super) fn only_currency(mut found: Vec<String>) -> Result<Option<String>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(QueryError::CurrencyRequired(found)),
    }
}

/// What every answer starts with.
pub(super) fn header(
    tenant: &TenantId,
    r: &MetricsRequest,
    currency: Option<&str>,
) -> Map<String, Value> {
    let mut answer = Map::new();
    answer.insert("tenant".into(), json!(tenant.as_str()));
    answer.insert("currency".into(), json!(currency));
    answer.insert("from".into(), json!(r.from.to_string()));
    answer.insert("to".into(), json!(r.to.to_string()));
    answer.insert("interval".into(), json!(r.interval.as_str()));
    if let Some(by) = r.group_by {
        answer.insert("group_by".into(), json!(by.as_str()));
    }
    answer
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

/// The series and totals of `r` from per-day sums and day-end states
/// (MRR, active customers).
pub(super) fn series(
    r: &MetricsRequest,
    days: &BTreeMap<NaiveDate, Sums>,
    at: &HashMap<NaiveDate, (i64, i64)>,
    answer: &mut Map<String, Value>,
) {
    let period = |start: NaiveDate, end: NaiveDate| {
        let mut sums = Sums::default();
        for (_, s) in days.range(start..=end) {
            sums.add(s);
        }
        let state = |d: Option<NaiveDate>| d.and_then(|d| at.get(&d)).copied().unwrap_or((0, 0));
        (sums.mrr, sums.active_customers) = state(Some(end));
        (sums.mrr_start, sums.active_customers_start) = state(start.pred_opt());
        sums
    };
    let series: Vec<Value> = buckets::buckets(r.from, r.to, r.interval)
        .into_iter()
        .map(|(start, end)| {
            let mut entry = r.values(&period(start, end));
            entry.insert("start".into(), json!(start.to_string()));
            entry.insert("end".into(), json!(end.to_string()));
            Value::Object(entry)
        })
        .collect();
    answer.insert("series".into(), Value::Array(series));
    answer.insert(
        "totals".into(),
        Value::Object(r.values(&period(r.from, r.to))),
    );
}

/// The groups and totals of `r` from the per-group call and cash sums:
/// named groups in key order, the group without a key last.
pub(super) fn groups(
    r: &MetricsRequest,
    calls: BTreeMap<Option<String>, Sums>,
    cash: BTreeMap<Option<String>, Sums>,
    answer: &mut Map<String, Value>,
) {
    let mut groups: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    for (k, s) in calls.into_iter().chain(cash) {
        groups.entry(k).or_default().add(&s);
    }
    let mut totals = Sums::default();
    let mut named = Vec::new();
    let mut unnamed = None;
    for (key, sums) in &groups {
        totals.add(sums);
        let entry = json!({"key": key, "totals": Value::Object(r.values(sums))});
        match key {
            Some(_) => named.push(entry),
            None => unnamed = Some(entry),
        }
    }
    named.extend(unnamed);
    answer.insert("groups".into(), Value::Array(named));
    answer.insert("totals".into(), Value::Object(r.values(&totals)));
}
