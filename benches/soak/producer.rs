//! Producer batches for `POST /v1/events`: each tenant's realistic stream
//! from `common/generator.rs` (subscriptions, renewals, upgrades, churn,
//! refunds, sales calls over `days` of history), cut into JSON arrays and
//! sent in time order. Generated up front, so the load loop only sends.

use std::collections::VecDeque;
use std::sync::Mutex;

use revstream_schemas::EventKind;

use super::generator::{StreamSpec, tenant_events};

/// One tenant's batches still to send: (JSON array, rows).
pub(crate) struct TenantBatches {
    queue: Mutex<VecDeque<(String, u64)>>,
}

/// What the streams hold, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamFacts {
    pub(crate) events: u64,
    /// Customers with a subscription in the streams (all tenants).
    pub(crate) customers: u64,
    pub(crate) batches: u64,
}

impl TenantBatches {
    /// The next batch of this tenant, or `None` when its stream is spent.
    pub(crate) fn next(&self) -> Option<(String, u64)> {
        self.queue.lock().ok()?.pop_front()
    }
}

/// `batches_per_tenant` batches of `batch` events for each of `tenants`.
pub(crate) fn generate(
    tenants: u64,
    batches_per_tenant: usize,
    batch: usize,
    days: u32,
    seed: u64,
) -> anyhow::Result<(Vec<TenantBatches>, StreamFacts)> {
    let spec = StreamSpec::new(batches_per_tenant * batch, days, seed);
    let mut facts = StreamFacts::default();
    let mut out = Vec::new();
    for t in 0..tenants {
        let events = tenant_events(&spec, t)?;
        facts.events += events.len() as u64;
        facts.customers += events
            .iter()
            .filter(|e| e.kind == EventKind::SubscriptionCreated)
            .count() as u64;
        let mut queue = VecDeque::with_capacity(batches_per_tenant);
        for chunk in events.chunks(batch) {
            let rows = chunk
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?;
            queue.push_back((format!("[{}]", rows.join(",")), chunk.len() as u64));
        }
        facts.batches += queue.len() as u64;
        out.push(TenantBatches {
            queue: Mutex::new(queue),
        });
    }
    Ok((out, facts))
}
