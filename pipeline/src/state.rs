//! In-memory per-tenant state: the distinct events seen so far (without raw
//! payloads) and a fingerprint of each derived table, so a cycle rewrites
//! only the tenant partitions whose rows actually changed.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use revstream_schemas::{CanonicalEvent, EventId, SourceName, TableName, TenantId};

use crate::derive::{Derived, TenantSettings, derive};

#[derive(Debug, Default)]
pub struct TenantState {
    events: Vec<CanonicalEvent>,
    keys: HashSet<(SourceName, EventId)>,
    fingerprints: HashMap<TableName, u64>,
}

impl TenantState {
    /// Adds an event unless (source, id) was seen; returns whether it was new.
    pub fn insert(&mut self, mut event: CanonicalEvent) -> bool {
        if !self.keys.insert((event.source.clone(), event.id.clone())) {
            return false;
        }
        // Raw payloads live in the events table; metrics never read them.
        event.raw = None;
        self.events.push(event);
        true
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Derives the tenant's tables and says which changed since the last
    /// call (all of them the first time).
    pub fn derive_changes(&mut self, settings: &TenantSettings) -> (Derived, Vec<TableName>) {
        let derived = derive(settings, &self.events);
        let mut changed = Vec::new();
        for (table, print) in fingerprints(&derived) {
            if self.fingerprints.insert(table, print) != Some(print) {
                changed.push(table);
            }
        }
        (derived, changed)
    }

    /// Forgets the fingerprints, so the next derive rewrites every table
    /// (after a failed commit, or when settings change).
    pub fn invalidate(&mut self) {
        self.fingerprints.clear();
    }
}

fn fingerprint<T: Hash>(rows: &[T]) -> u64 {
    let mut h = DefaultHasher::new();
    rows.hash(&mut h);
    h.finish()
}

fn fingerprints(d: &Derived) -> [(TableName, u64); 7] {
    [
        (TableName::Subscriptions, fingerprint(&d.subscriptions)),
        (TableName::MrrMovements, fingerprint(&d.movements)),
        (TableName::MetricsDaily, fingerprint(&d.daily)),
        (TableName::Calls, fingerprint(&d.calls)),
        (TableName::Payments, fingerprint(&d.payments)),
        (TableName::Refunds, fingerprint(&d.refunds)),
        (TableName::Customers, fingerprint(&d.customers)),
    ]
}

/// Every tenant's state.
#[derive(Debug, Default)]
pub struct State {
    pub tenants: HashMap<TenantId, TenantState>,
}

impl State {
    pub fn insert(&mut self, tenant: &TenantId, event: CanonicalEvent) -> bool {
        self.tenants
            .entry(tenant.clone())
            .or_default()
            .insert(event)
    }
}
