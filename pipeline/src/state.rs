//! In-memory per-tenant state: the distinct events seen so far, in the
//! compact form the derivation reads; the derivation folded over them
//! ([`Folded`]), so a cycle derives a tenant from its new events alone
//! when they come after the ones folded; and a fingerprint of each derived
//! table, so a cycle rewrites only the tenant partitions whose rows
//! actually changed.
//!
//! Memory is what this state costs: it holds every event for as long as the
//! process owns the tenant. So the dedupe index holds positions in `events`
//! (8 bytes each) rather than a second copy of every (source, id).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use crate::derive::{CompactEvent, Derived, Folded, TenantSettings, in_event_order};

#[derive(Debug, Clone, Default)]
pub struct TenantState {
    events: Vec<CompactEvent>,
    /// Positions in `events`, hashed by (source, id).
    index: HashTable<usize>,
    hasher: RandomState,
    /// The derivation over `events[..folded_upto]` except those dated
    /// ahead of the clock at the last derivation, under its settings.
    folded: Option<Folded>,
    folded_upto: usize,
    /// Positions of events not folded because they were dated ahead.
    ahead: Vec<usize>,
    /// How often the derivation was folded again from the first event.
    refolds: u64,
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
    ///
    /// The events added since the last call are folded onto the state kept
    /// from it when they all sort after the events folded then (the common
    /// case: events arrive roughly in time order, a cycle at a time);
    /// otherwise, or when the settings changed, every event is folded again
    /// from the first. Events dated after `now` are never folded into the
    /// kept state but onto a copy of it for this derivation only: one event
    /// with a clock years ahead would otherwise make every event after it
    /// "older than those folded" and every derivation start from the first
    /// event. Either way the rows equal a derivation from scratch; `now`
    /// decides only the cost.
    pub fn derive_changes(
        &mut self,
        settings: &TenantSettings,
        now: DateTime<Utc>,
    ) -> (Derived, Vec<TableName>) {
        let pending = std::mem::take(&mut self.ahead)
            .into_iter()
            .chain(self.folded_upto..self.events.len());
        let (due, ahead): (Vec<usize>, Vec<usize>) =
            pending.partition(|&at| self.events[at].occurred_at <= now);
        let due = ordered(&self.events, due);
        let folded = match self.folded.take() {
            Some(mut folded) if folded.settings() == settings && folded.extends_with(&due) => {
                folded.fold(&due);
                self.ahead = ahead;
                folded
            }
            _ => {
                self.refolds += 1;
                let (due, ahead): (Vec<usize>, Vec<usize>) =
                    (0..self.events.len()).partition(|&at| self.events[at].occurred_at <= now);
                let mut folded = Folded::new(*settings);
                folded.fold(&ordered(&self.events, due));
                self.ahead = ahead;
                folded
            }
        };
        self.folded_upto = self.events.len();
        let derived = self.rows_with_ahead(&folded);
        self.folded = Some(folded);
        let mut changed = Vec::new();
        for (table, print) in fingerprints(&derived) {
            if self.fingerprints.insert(table, print) != Some(print) {
                changed.push(table);
            }
        }
        (derived, changed)
    }

    /// The rows of `folded` with the events dated ahead folded on a copy.
    fn rows_with_ahead(&mut self, folded: &Folded) -> Derived {
        let ahead = ordered(&self.events, self.ahead.clone());
        if ahead.is_empty() {
            return folded.rows();
        }
        if folded.extends_with(&ahead) {
            let mut head = folded.clone();
            head.fold(&ahead);
            return head.rows();
        }
        // Only when the clock went back past events already folded: fold
        // everything, ahead or not.
        self.refolds += 1;
        let mut all = Folded::new(*folded.settings());
        all.fold(&in_event_order(self.events.iter()));
        all.rows()
    }

    /// How often [`TenantState::derive_changes`] folded every event again
    /// (the first derivation included) instead of only the new ones.
    pub fn refolds(&self) -> u64 {
        self.refolds
    }

    /// Forgets the fingerprints, so the next derive rewrites every table
    /// (after a failed commit, or when settings change).
    pub fn invalidate(&mut self) {
        self.fingerprints.clear();
    }
}

/// The events at `positions` that derive rows, in event order.
fn ordered(events: &[CompactEvent], positions: Vec<usize>) -> Vec<&CompactEvent> {
    in_event_order(positions.into_iter().map(|at| &events[at]))
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
