//! In-memory per-tenant state: the distinct events seen so far, in the
//! compact form the derivation reads, and a fingerprint of each bucket of
//! each derived table (see [`crate::buckets`]), so a cycle rewrites only
//! the files whose rows actually changed.
//!
//! Memory is what this state costs: it holds every event for as long as the
//! process owns the tenant. So the dedupe index holds positions in `events`
//! (8 bytes each) rather than a second copy of every (source, id).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use crate::buckets::{Bucket, RewriteScope, bucket_prints, changed_buckets};
use crate::derive::{CompactEvent, Derived, TenantSettings, derive_distinct};

/// A derived table whose rows changed, and which of its files to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChange {
    pub table: TableName,
    pub scope: RewriteScope,
}

#[derive(Debug, Default)]
pub struct TenantState {
    events: Vec<CompactEvent>,
    /// Positions in `events`, hashed by (source, id).
    index: HashTable<usize>,
    hasher: RandomState,
    /// Per table, each bucket's fingerprint as last derived; a table
    /// absent here is rewritten whole on the next derive.
    fingerprints: HashMap<TableName, BTreeMap<Bucket, u64>>,
}

impl TenantState {
    /// Adds an event unless (source, id) was seen; returns whether it was
    /// new. Only a new event's derivation fields are copied.
    pub fn insert(&mut self, event: &CanonicalEvent) -> bool {
        let Self {
            events,
            index,
            hasher,
            ..
        } = self;
        let key_hash = |e: (&str, &str)| hasher.hash_one(e);
        let hash = key_hash((event.source.as_str(), event.id.as_str()));
        let seen = index.find(hash, |&at| {
            let held = &events[at];
            held.id == event.id && held.source == event.source
        });
        if seen.is_some() {
            return false;
        }
        index.insert_unique(hash, events.len(), |&at| {
            key_hash((events[at].source.as_str(), events[at].id.as_str()))
        });
        events.push(CompactEvent::from(event));
        true
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Derives the tenant's tables and says which changed since the last
    /// call, and in which buckets (all of them, whole, the first time).
    pub fn derive_changes(&mut self, settings: &TenantSettings) -> (Derived, Vec<TableChange>) {
        let derived = derive_distinct(settings, &self.events);
        let mut changed = Vec::new();
        for (table, prints) in fingerprints(&derived) {
            let scope = match self.fingerprints.get(&table) {
                None => Some(RewriteScope::Whole),
                Some(before) => {
                    let buckets = changed_buckets(before, &prints);
                    (!buckets.is_empty()).then_some(RewriteScope::Buckets(buckets))
                }
            };
            self.fingerprints.insert(table, prints);
            if let Some(scope) = scope {
                changed.push(TableChange { table, scope });
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

fn fingerprints(d: &Derived) -> [(TableName, BTreeMap<Bucket, u64>); 7] {
    [
        (TableName::Subscriptions, bucket_prints(&d.subscriptions)),
        (TableName::MrrMovements, bucket_prints(&d.movements)),
        (TableName::MetricsDaily, bucket_prints(&d.daily)),
        (TableName::Calls, bucket_prints(&d.calls)),
        (TableName::Payments, bucket_prints(&d.payments)),
        (TableName::Refunds, bucket_prints(&d.refunds)),
        (TableName::Customers, bucket_prints(&d.customers)),
    ]
}

/// Every tenant's state.
#[derive(Debug, Default)]
pub struct State {
    pub tenants: HashMap<TenantId, TenantState>,
}

impl State {
    /// Events held over all tenants.
    pub fn events(&self) -> usize {
        self.tenants.values().map(TenantState::len).sum()
    }

    pub fn insert(&mut self, tenant: &TenantId, event: &CanonicalEvent) -> bool {
        // No copy of the tenant id for a tenant already held.
        if let Some(state) = self.tenants.get_mut(tenant) {
            return state.insert(event);
        }
        self.tenants
            .entry(tenant.clone())
            .or_default()
            .insert(event)
    }
}
