//! `GET /v1/metrics`: every metric of `spec/metrics.md` over a range of
//! tenant-local dates, as a series of periods or per group.
//!
//! ```text
//!  params ─▶ MetricsRequest (validated) ─▶ result cache (tenant, request, the tenant's files)
//!         ─▶ currency (the only one, or the asked one)
//!         ─▶ per-day sums ─▶ periods (day | ISO week | month, clipped to [from, to])   or per-group sums
//!         ─▶ values: additive sums, point-in-time MRR, rates from sums (null on a zero denominator)
//! ```
//!
//! The sums come from the tenant's in-memory indexes ([`index`] for
//! series, [`group_index`] per grouping; [`indexed`]), built by the first
//! request after the tenant's files change and held in a bounded
//! [`IndexCache`]; with the indexes off (`metrics_index_bytes` 0), from
//! queries per request ([`queried`], over [`load`]). Both give the same
//! answer; `tests/it/metrics_index.rs` compares them.
//!
//! # Decisions
//! - Days are the tenant's local dates, as materialized by the pipeline
//!   (`metrics_daily.day`, `mrr_movements.day`, `calls.scheduled_day`,
//!   `payments.paid_day`, `refunds.refunded_day`). Grouped `booked_calls`
//!   use the local date of `calls.booked_at` in the tenant's timezone.
//! - Periods are clipped to `[from, to]`: a week series starting on a
//!   Thursday begins with a Thursday–Sunday period. So every additive
//!   metric's periods add up to its total, and point-in-time metrics of a
//!   period are taken at its own start and end.
//! - Money is per currency: without `currency=`, the tenant's only
//!   currency is used; with several, 400 `currency_required` names them.
//!   A tenant without any amount yet answers `"currency": null` and zero
//!   money. Only call metrics asked → no currency is needed.
//! - `group_by` groups call metrics by the call's closer / setter /
//!   lead source / call type, and cash and refunds by the payment's
//!   attribution (a refund follows its payment; `call_type` comes from the
//!   attributed call). MRR metrics do not group (MRR belongs to customers,
//!   not calls): they are left out by default and refused when named.
//!   Rows without the attribute form the group with `"key": null`, last.
//! - Default interval: `day`. The range may span at most
//!   [`MAX_RANGE_DAYS`] days.

mod answer;
mod buckets;
mod definitions;
mod group_index;
mod index;
mod index_cache;
mod indexed;
mod load;
mod queried;

use std::collections::BTreeSet;

use axum::body::Bytes;
use chrono::NaiveDate;
use chrono_tz::Tz;
use deltalake::datafusion::common::DataFusionError;
use revstream_schemas::{Currency, TableName, TenantId};

pub use buckets::Interval;
use definitions::Family;
pub use definitions::Metric;
pub use index_cache::IndexCache;

use crate::cache::{CacheKey, CacheKind, Cached};
use crate::engine::QueryEngine;
use crate::error::{QueryError, Result};
use crate::tables::Tables;

/// Longest range of one request, in days (about ten years).
pub const MAX_RANGE_DAYS: i64 = 3660;

/// What `group_by=` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Closer,
    Setter,
    Source,
    CallType,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "closer" => Some(GroupBy::Closer),
            "setter" => Some(GroupBy::Setter),
            "source" => Some(GroupBy::Source),
            "call_type" => Some(GroupBy::CallType),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Closer => "closer",
            GroupBy::Setter => "setter",
            GroupBy::Source => "source",
            GroupBy::CallType => "call_type",
        }
    }

    /// The column of `calls` (a fixed name, never caller text).
    fn calls_column(self) -> &'static str {
        match self {
            GroupBy::Closer => "closer",
            GroupBy::Setter => "setter",
            GroupBy::Source => "lead_source",
            GroupBy::CallType => "call_type",
        }
    }

    /// The key expression over `payments p`, and the join it needs.
    fn payments_key(self) -> (&'static str, &'static str) {
        match self {
            GroupBy::Closer => ("p.closer", ""),
            GroupBy::Setter => ("p.setter", ""),
            GroupBy::Source => ("p.lead_source", ""),
            GroupBy::CallType => ("c.call_type", "LEFT JOIN calls c ON p.call_id = c.call_id"),
        }
    }
}

/// The query string of `/v1/metrics`, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct MetricsParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub interval: Option<String>,
    pub metrics: Option<String>,
    pub group_by: Option<String>,
    pub currency: Option<String>,
}

impl MetricsParams {
    /// Sets the query-string parameter `name`; false when `name` is not one
    /// of them.
    pub fn set(&mut self, name: &str, value: String) -> bool {
        let field = match name {
            "from" => &mut self.from,
            "to" => &mut self.to,
            "interval" => &mut self.interval,
            "metrics" => &mut self.metrics,
            "group_by" => &mut self.group_by,
            "currency" => &mut self.currency,
            _ => return false,
        };
        *field = Some(value);
        true
    }
}

/// A validated metrics request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricsRequest {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval: Interval,
    /// In the order of `spec/metrics.md`, without duplicates.
    pub metrics: Vec<Metric>,
    pub group_by: Option<GroupBy>,
    pub currency: Option<Currency>,
}

fn date(name: &str, value: Option<&str>) -> Result<NaiveDate> {
    let value = value
        .ok_or_else(|| QueryError::InvalidRequest(format!("{name} is required, as YYYY-MM-DD")))?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| {
            QueryError::InvalidRequest(format!(
                "{name} must be a date as YYYY-MM-DD, got {value:?}"
            ))
        })
}

impl MetricsRequest {
    pub fn parse(p: &MetricsParams) -> Result<MetricsRequest> {
        let from = date("from", p.from.as_deref())?;
        let to = date("to", p.to.as_deref())?;
        if from > to {
            return Err(QueryError::InvalidRequest(format!(
                "from ({from}) is after to ({to})"
            )));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(QueryError::InvalidRequest(format!(
                "the range may span at most {MAX_RANGE_DAYS} days"
            )));
        }
        let interval = match p.interval.as_deref() {
            None => Interval::Day,
            Some(s) => Interval::parse(s).ok_or_else(|| {
                QueryError::InvalidRequest(format!(
                    "interval must be day, week or month, got {s:?}"
                ))
            })?,
        };
        let group_by = match p.group_by.as_deref() {
            None => None,
            Some(s) => Some(GroupBy::parse(s).ok_or_else(|| {
                QueryError::InvalidRequest(format!(
                    "group_by must be closer, setter, source or call_type, got {s:?}"
                ))
            })?),
        };
        let currency = match p.currency.as_deref() {
            None => None,
            Some(s) => Some(
                Currency::parse(s)
                    .map_err(|e| QueryError::InvalidRequest(format!("currency: {e}")))?,
            ),
        };
        let metrics: Vec<Metric> = match p.metrics.as_deref() {
            None => Metric::ALL
                .iter()
                .copied()
                .filter(|m| group_by.is_none() || m.groupable())
                .collect(),
            Some(list) => {
                let names: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if names.is_empty() {
                    return Err(QueryError::InvalidRequest(
                        "metrics is empty; name at least one metric or leave it out for all".into(),
                    ));
                }
                let unknown: Vec<String> = names
                    .iter()
                    .filter(|n| Metric::parse(n).is_none())
                    .map(|n| (*n).to_owned())
                    .collect();
                if !unknown.is_empty() {
                    return Err(QueryError::UnknownMetric(unknown));
                }
                let set: BTreeSet<Metric> = names.iter().filter_map(|n| Metric::parse(n)).collect();
                set.into_iter().collect()
            }
        };
        if let Some(by) = group_by {
            let ungroupable: Vec<&str> = metrics
                .iter()
                .filter(|m| !m.groupable())
                .map(|m| m.name())
                .collect();
            if !ungroupable.is_empty() {
                return Err(QueryError::InvalidRequest(format!(
                    "{} cannot be grouped by {}: MRR metrics belong to customers, not calls; ask for them without group_by",
                    ungroupable.join(", "),
                    by.as_str()
                )));
            }
        }
        Ok(MetricsRequest {
            from,
            to,
            interval,
            metrics,
            group_by,
            currency,
        })
    }

    fn needs_currency(&self) -> bool {
        self.metrics.iter().any(|m| m.needs_currency())
    }

    fn needs_point_in_time(&self) -> bool {
        self.metrics.iter().any(|m| m.point_in_time())
    }

    fn needs(&self, family: Family) -> bool {
        self.metrics.iter().any(|m| m.family() == family)
    }
}

/// The answer of `/v1/metrics` for `tenant` (whose days are in
/// `timezone`) as JSON text, cached by the tenant's files.
///
/// The text is what is cached: it costs its length, and a hit is sent
/// without serializing again.
pub async fn compute(
    engine: &QueryEngine,
    tenant: &TenantId,
    timezone: Tz,
    request: &MetricsRequest,
) -> Result<Bytes> {
    let snapshot = engine.tables().snapshot().await;
    let key = CacheKey {
        tenant: tenant.clone(),
        kind: CacheKind::Metrics,
        request: format!("{request:?}\u{0}{}", timezone.name()),
        files: snapshot.tenant_fingerprint(tenant, &TableName::ALL),
    };
    if let Some(Cached::Metrics(answer)) = engine.cache().get(&key) {
        return Ok(answer);
    }
    let indexed = if engine.metrics_indexes().enabled() {
        indexed::answer(engine, snapshot.clone(), tenant, timezone, request).await?
    } else {
        None
    };
    let answer = match indexed {
        Some(answer) => answer,
        None => queried::answer(engine, snapshot, tenant, timezone, request).await?,
    };
    let text =
        Bytes::from(serde_json::to_vec(&answer).map_err(|e| QueryError::Internal(e.to_string()))?);
    engine
        .cache()
        .insert(key, Cached::Metrics(text.clone()), text.len());
    Ok(text)
}

/// Our own SQL failing is never the caller's fault, unless it ran out of
/// memory or storage failed.
fn internal_error(tables: &Tables, memory_limit: usize, e: &DataFusionError) -> QueryError {
    match QueryError::from_datafusion(e, false, memory_limit, &|m| tables.redact(m)) {
        QueryError::InvalidSql(m) | QueryError::QueryFailed(m) => QueryError::Internal(m),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> MetricsParams {
        let mut p = MetricsParams::default();
        for (k, v) in pairs {
            assert!(p.set(k, (*v).to_owned()), "{k}");
        }
        p
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        MetricsRequest::parse(&params(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn validation_says_what_is_wrong() {
        let range = [("from", "2026-01-01"), ("to", "2026-01-31")];
        assert!(error(&[("to", "2026-01-01")]).contains("from is required"));
        assert!(error(&[("from", "2026-1-1"), ("to", "2026-01-01")]).contains("YYYY-MM-DD"));
        assert!(error(&[("from", "2026-02-01"), ("to", "2026-01-01")]).contains("after"));
        assert!(error(&[range[0], range[1], ("interval", "year")]).contains("interval"));
        assert!(error(&[range[0], range[1], ("group_by", "team")]).contains("group_by"));
        assert!(error(&[range[0], range[1], ("currency", "dollars")]).contains("currency"));
        let unknown = error(&[range[0], range[1], ("metrics", "mrr,foo,bar")]);
        assert!(unknown.contains("foo, bar"), "{unknown}");
        let grouped = error(&[
            range[0],
            range[1],
            ("metrics", "mrr,showed"),
            ("group_by", "closer"),
        ]);
        assert!(grouped.contains("mrr cannot be grouped"), "{grouped}");
        assert!(error(&[("from", "2000-01-01"), ("to", "2026-01-01")]).contains("at most"));
    }

    #[test]
    fn defaults() {
        let r = MetricsRequest::parse(&params(&[("from", "2026-01-01"), ("to", "2026-01-31")]))
            .unwrap();
        assert_eq!(r.interval, Interval::Day);
        assert_eq!(r.metrics.len(), Metric::ALL.len());
        let g = MetricsRequest::parse(&params(&[
            ("from", "2026-01-01"),
            ("to", "2026-01-31"),
            ("group_by", "closer"),
        ]))
        .unwrap();
        assert_eq!(g.metrics.len(), 15);
        assert!(g.metrics.iter().all(|m| m.groupable()));
        let some = MetricsRequest::parse(&params(&[
            ("from", "2026-01-01"),
            ("to", "2026-01-31"),
            ("metrics", " showed , mrr,showed"),
        ]))
        .unwrap();
        assert_eq!(some.metrics, vec![Metric::Mrr, Metric::Showed]);
    }
}
