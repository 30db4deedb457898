//! A `/v1/metrics` answer from the tenant's indexes: a series from its
//! [`SeriesIndex`], groups from its [`GroupIndex`] for the grouping and
//! timezone asked. Each is built by the first request after the tenant's
//! files change and answers every later one without a query. A tenant
//! whose index is too large to hold is answered by queries instead
//! (`None` here).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use revstream_schemas::{TableName, TenantId};

use super::answer::{Answer, only_currency, period_ends};
use super::group_index::GroupIndex;
use super::index::SeriesIndex;
use super::index_cache::{IndexKey, MetricsIndex, Shape};
use super::{Family, MetricsRequest, internal_error};
use crate::engine::QueryEngine;
use crate::error::{QueryError, Result};
use crate::tables::TablesSnapshot;

pub(super) async fn answer(
    engine: &QueryEngine,
    snapshot: Arc<TablesSnapshot>,
    tenant: &TenantId,
    timezone: Tz,
    r: &MetricsRequest,
) -> Result<Option<Answer>> {
    let currency = match r.currency {
        Some(c) => Some(c.to_string()),
        None if r.needs_currency() => {
            let Some(index) = index(engine, snapshot.clone(), tenant, Shape::Series).await? else {
                return Ok(None);
            };
            only_currency(series_of(&index)?.currencies())?
        }
        None => None,
    };
    let currency = currency.as_deref();
    let mut answer = Answer::new(tenant, r, currency);
    match r.group_by {
        None => {
            let Some(index) = index(engine, snapshot, tenant, Shape::Series).await? else {
                return Ok(None);
            };
            let index = series_of(&index)?;
            let days = index.daily(r.from, r.to, currency);
            let at = match currency {
                Some(c) if r.needs_point_in_time() => index.state_at(c, &period_ends(r)),
                _ => HashMap::new(),
            };
            answer.series(r, &days, &at);
        }
        Some(by) => {
            let shape = Shape::Groups(by, timezone);
            let Some(index) = index(engine, snapshot, tenant, shape).await? else {
                return Ok(None);
            };
            let MetricsIndex::Groups(index) = &*index else {
                return Err(QueryError::Internal(
                    "a series index under a group key".into(),
                ));
            };
            let calls = if r.needs(Family::Calls) {
                index.calls(r.from, r.to)
            } else {
                BTreeMap::new()
            };
            let cash = match (r.needs(Family::Cash), currency) {
                (true, Some(c)) => index.cash(r.from, r.to, c),
                _ => BTreeMap::new(),
            };
            answer.groups(calls, cash);
        }
    }
    Ok(Some(answer))
}

fn series_of(index: &MetricsIndex) -> Result<&SeriesIndex> {
    match index {
        MetricsIndex::Series(index) => Ok(index),
        MetricsIndex::Groups(_) => Err(QueryError::Internal(
            "a group index under a series key".into(),
        )),
    }
}

/// The tables an index of `shape` reads.
fn tables_of(shape: Shape) -> &'static [TableName] {
    match shape {
        Shape::Series => &[TableName::MetricsDaily, TableName::MrrMovements],
        Shape::Groups(..) => &[TableName::Calls, TableName::Payments, TableName::Refunds],
    }
}

/// The tenant's index of `shape` at `snapshot`: held, or built in a query
/// slot (one build however many requests ask); `None` when such an index
/// was found too large to hold.
async fn index(
    engine: &QueryEngine,
    snapshot: Arc<TablesSnapshot>,
    tenant: &TenantId,
    shape: Shape,
) -> Result<Option<Arc<MetricsIndex>>> {
    let key = IndexKey {
        tenant: tenant.clone(),
        files: snapshot.tenant_fingerprint(tenant, tables_of(shape)),
        shape,
    };
    if engine.metrics_indexes().oversized(&key) {
        return Ok(None);
    }
    engine
        .metrics_indexes()
        .get_or_build(key, || async {
            let _permit = engine.permit().await?;
            let state = engine.tenant_state(snapshot, tenant)?;
            let tables = engine.tables().clone();
            let memory_limit = engine.config().memory_limit;
            engine
                .with_timeout(async move {
                    let built = match shape {
                        Shape::Series => SeriesIndex::load(&state).await.map(MetricsIndex::Series),
                        Shape::Groups(by, timezone) => GroupIndex::load(&state, by, timezone)
                            .await
                            .map(MetricsIndex::Groups),
                    };
                    built.map_err(|e| internal_error(&tables, memory_limit, &e))
                })
                .await
        })
        .await
        .map(Some)
}
