//! In-memory per-tenant state: the distinct events seen so far, in the
//! compact form the derivation reads, and a fingerprint of each derived
//! table, so a cycle rewrites only the tenant partitions whose rows actually
//! changed.
//!
//! Memory is what this state costs: it holds every event for as long as the
//! process owns the tenant. So the dedupe index holds positions in `events`
//! (8 bytes each) rather than a second copy of every (source, id).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use foldhash::quality::{FixedState, RandomState};
use hashbrown::HashTable;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use crate::derive::{CompactEvent, Derived, TenantSettings, derive_distinct};

#[derive(Debug, Default)]
pub struct TenantState {
    events: Vec<CompactEvent>,
    /// Positions in `events`, hashed by (source, id).
    index: HashTable<usize>,
    hasher: RandomState,
    fingerprints: HashMap<TableName, u64>,
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
    /// call (all of them the first time).
    pub fn derive_changes(&mut self, settings: &TenantSettings) -> (Derived, Vec<TableName>) {
        let derived = derive_distinct(settings, &self.events);
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

/// A table's rows hashed with a fixed seed, so prints taken in different
/// cycles compare. Every derived row is hashed on every derivation.
///
/// Here, in the dedupe index and in the tenant map, std's SipHash cost
/// about 3 % of the instructions of a profiled backlog run (these prints
/// two thirds of it); foldhash costs a fraction of that. The dedupe index
/// hashes producer-chosen ids, so it keeps a randomly seeded state
/// (foldhash's answer to flooding one bucket).
fn fingerprint<T: Hash>(rows: &[T]) -> u64 {
    FixedState::with_seed(0x7265_7673_7472_6561).hash_one(rows)
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
/// Looked up once per event read, so hashed with foldhash rather than
/// std's SipHash (tenant ids are validated, not attacker-chosen keys).
#[derive(Debug, Default)]
pub struct State {
    pub tenants: HashMap<TenantId, TenantState, RandomState>,
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
