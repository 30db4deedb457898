//! A `/v1/metrics` answer by queries over the tenant's tables, per
//! request: what answers when the indexes are off, and the reference the
//! indexes are tested and measured against.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::execution::SessionState;
use revstream_schemas::TenantId;

use super::answer::{Answer, only_currency, period_ends};
use super::{Family, GroupBy, MetricsRequest, internal_error, load};
use crate::engine::QueryEngine;
use crate::error::{QueryError, Result};
use crate::tables::{Tables, TablesSnapshot};

pub(super) async fn answer(
    engine: &QueryEngine,
    snapshot: Arc<TablesSnapshot>,
    tenant: &TenantId,
    timezone: Tz,
    request: &MetricsRequest,
) -> Result<Answer> {
    // Cache hits do not wait for a slot; this does.
    let _permit = engine.permit().await?;
    let work = Work {
        state: engine.tenant_state(snapshot, tenant)?,
        tables: engine.tables().clone(),
        memory_limit: engine.config().memory_limit,
        tenant: tenant.clone(),
        timezone,
        request: request.clone(),
    };
    engine.with_timeout(work.run()).await
}

/// One metrics request answered by queries, movable onto its own task.
struct Work {
    state: SessionState,
    tables: Arc<Tables>,
    memory_limit: usize,
    tenant: TenantId,
    timezone: Tz,
    request: MetricsRequest,
}

impl Work {
    fn error(&self, e: &DataFusionError) -> QueryError {
        internal_error(&self.tables, self.memory_limit, e)
    }

    async fn currency(&self) -> Result<Option<String>> {
        if let Some(c) = self.request.currency {
            return Ok(Some(c.to_string()));
        }
        if !self.request.needs_currency() {
            return Ok(None);
        }
        let found = load::currencies(&self.state)
            .await
            .map_err(|e| self.error(&e))?;
        only_currency(found)
    }

    async fn run(self) -> Result<Answer> {
        let currency = self.currency().await?;
        let r = &self.request;
        let mut answer = Answer::new(&self.tenant, r, currency.as_deref());
        match r.group_by {
            None => self.series(currency.as_deref(), &mut answer).await?,
            Some(by) => self.groups(by, currency.as_deref(), &mut answer).await?,
        }
        Ok(answer)
    }

    async fn series(&self, currency: Option<&str>, answer: &mut Answer) -> Result<()> {
        let r = &self.request;
        // MRR and active customers at period ends; both queries run at once.
        let daily = load::daily(&self.state, r.from, r.to, currency);
        let state = async {
            match currency {
                Some(c) if r.needs_point_in_time() => {
                    load::state_at(&self.state, c, &period_ends(r)).await
                }
                _ => Ok(HashMap::new()),
            }
        };
        let (days, at) = futures::try_join!(daily, state).map_err(|e| self.error(&e))?;
        answer.series(r, &days, &at);
        Ok(())
    }

    async fn groups(&self, by: GroupBy, currency: Option<&str>, answer: &mut Answer) -> Result<()> {
        let r = &self.request;
        let calls = async {
            if r.needs(Family::Calls) {
                load::calls_by(&self.state, by, r.from, r.to, self.timezone).await
            } else {
                Ok(BTreeMap::new())
            }
        };
        let cash = async {
            match (r.needs(Family::Cash), currency) {
                (true, Some(c)) => load::cash_by(&self.state, by, r.from, r.to, c).await,
                _ => Ok(BTreeMap::new()),
            }
        };
        let (calls, cash) = futures::try_join!(calls, cash).map_err(|e| self.error(&e))?;
        answer.groups(calls, cash);
        Ok(())
    }
}
