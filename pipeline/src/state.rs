//! In-memory per-tenant state: a key for every distinct event seen (for
//! dedupe), the derivation folded over those events ([`Folded`]), the
//! events not folded yet, and a fingerprint of each derived table, so a
//! cycle rewrites only the tenant partitions whose rows actually changed.
//!
//! Memory is what this state costs, and it does not hold the events: once
//! folded, an event is only its 16-byte dedupe key here. Its full form is in
//! the `events` table, where a derivation that must fold a tenant again
//! from its first event (an event older than those folded, new settings)
//! reads it back: see [`TenantState::derive_changes`]. A tenant folded
//! again keeps its events in memory until it has gone [`KEEP_HELD_FOR`]
//! derivations in order, so one that keeps receiving old events (a
//! backfill, a source dated behind the others) reads the table once, not
//! every cycle.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use revstream_schemas::{CanonicalEvent, EventId, SourceName, TableName, TenantId};

use crate::derive::{CompactEvent, Derived, Folded, TenantSettings, in_event_order};

/// The dedupe key of an event: a keyed 128-bit hash of (source, id), two
/// SipHash-1-3 with independent random keys. Two distinct events share
/// one with probability about n² / 2¹²⁹ (1 in 10¹⁸ at a billion events of
/// one tenant), and the random keys keep producers from forging a clash.
#[derive(Debug, Clone, Default)]
struct KeyHasher {
    high: RandomState,
    low: RandomState,
}

impl KeyHasher {
    fn key(&self, source: &SourceName, id: &EventId) -> u128 {
        let pair = (source.as_str(), id.as_str());
        (u128::from(self.high.hash_one(pair)) << 64) | u128::from(self.low.hash_one(pair))
    }
}

#[derive(Debug, Clone, Default)]
pub struct TenantState {
    /// The dedupe key of every distinct event seen.
    seen: HashTable<u128>,
    hasher: KeyHasher,
    /// Events seen but not in `folded`: new since the last derivation, and
    /// those dated ahead of the clock at a derivation (never folded into
    /// the kept state, see [`TenantState::derive_changes`]).
    pending: Vec<CompactEvent>,
    /// The derivation over every event seen except `pending`, under its
    /// settings; `None` before the first derivation, while every event seen
    /// is still in `pending`.
    folded: Option<Folded>,
    /// Every event in `folded`, held only while the tenant keeps being
    /// folded again: from a refold until [`KEEP_HELD_FOR`] derivations in a
    /// row folded onto the state.
    held: Option<Vec<CompactEvent>>,
    /// Derivations in a row that folded onto the state.
    in_order: u32,
    /// How often the derivation was folded again from the first event.
    refolds: u64,
    fingerprints: HashMap<TableName, u64>,
}

/// Derivations in a row that fold onto the state before a tenant that was
/// folded again drops the events it held for that.
pub const KEEP_HELD_FOR: u32 = 100;

/// A derivation needs the tenant's events read back from the `events`
/// table, and none were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tenant must be folded from its first event, and its stored events were not given")]
pub struct HistoryNeeded;

impl TenantState {
    /// Adds an event unless (source, id) was seen; returns whether it was
    /// new. Only a new event's derivation fields are copied.
    pub fn insert(&mut self, event: &CanonicalEvent) -> bool {
        let key = self.hasher.key(&event.source, &event.id);
        // The key's low half is already a uniform hash.
        let bucket = key as u64;
        if self.seen.find(bucket, |&k| k == key).is_some() {
            return false;
        }
        self.seen.insert_unique(bucket, key, |&k| k as u64);
        self.pending.push(CompactEvent::from(event));
        true
    }

    /// Distinct events seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Events held in full: not folded yet, or held after a refold.
    pub fn pending(&self) -> usize {
        self.pending.len() + self.held.as_ref().map_or(0, Vec::len)
    }

    /// Whether the next [`TenantState::derive_changes`] under `settings`
    /// must fold the tenant again from its first event, with its events
    /// read back from the `events` table: an event due now sorts before
    /// the last one folded, or the settings changed.
    pub fn needs_history(&self, settings: &TenantSettings, now: DateTime<Utc>) -> bool {
        let Some(folded) = &self.folded else {
            // Nothing folded yet: every event seen is pending.
            return false;
        };
        if self.held.is_some() {
            return false;
        }
        let due_by = self.due_by(now);
        folded.settings() != settings
            || !folded.extends_with(&in_event_order(
                self.pending.iter().filter(|e| e.occurred_at <= due_by),
            ))
    }

    /// Pending events dated up to this are folded into the kept state; the
    /// rest are "ahead". Never before the last event folded, so that those
    /// ahead always sort after the kept state, even if the clock went back.
    fn due_by(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.folded
            .as_ref()
            .and_then(Folded::last_at)
            .map_or(now, |last| last.max(now))
    }

    /// Derives the tenant's tables and says which changed since the last
    /// call (all of them the first time).
    ///
    /// The events added since the last call are folded onto the state kept
    /// from it when they all sort after the events folded then (the common
    /// case: events arrive roughly in time order, a cycle at a time), and
    /// then dropped. Otherwise, or when the settings changed, the tenant is
    /// folded again from its first event: from `history`, its events as
    /// stored in the `events` table (committed ones; those pending here are
    /// added), which must be given when [`TenantState::needs_history`]
    /// says so.
    ///
    /// Events dated after `now` are never folded into the kept state but
    /// onto a copy of it for this derivation only: one event with a clock
    /// years ahead would otherwise make every event after it "older than
    /// those folded" and every derivation start from the first event.
    /// Either way the rows equal a derivation from scratch; `now` decides
    /// only the cost.
    pub fn derive_changes(
        &mut self,
        settings: &TenantSettings,
        now: DateTime<Utc>,
        history: Option<Vec<CanonicalEvent>>,
    ) -> Result<(Derived, Vec<TableName>), HistoryNeeded> {
        if self.needs_history(settings, now) && history.is_none() {
            return Err(HistoryNeeded);
        }
        let due_by = self.due_by(now);
        let pending = std::mem::take(&mut self.pending);
        let (due, ahead): (Vec<CompactEvent>, Vec<CompactEvent>) =
            pending.into_iter().partition(|e| e.occurred_at <= due_by);
        let extends = self.folded.as_ref().is_some_and(|folded| {
            folded.settings() == settings && folded.extends_with(&in_event_order(due.iter()))
        });
        let folded = match self.folded.take() {
            Some(mut folded) if extends => {
                folded.fold(&in_event_order(due.iter()));
                self.in_order += 1;
                match &mut self.held {
                    Some(_) if self.in_order >= KEEP_HELD_FOR => self.held = None,
                    Some(held) => held.extend(due),
                    None => {}
                }
                folded
            }
            first_or_stale => {
                self.refolds += 1;
                self.in_order = 0;
                let mut all = match (self.held.take(), history) {
                    (Some(held), _) => held,
                    (None, Some(stored)) => self.not_pending(stored, &due, &ahead),
                    (None, None) => Vec::new(),
                };
                all.extend(due);
                let mut folded = Folded::new(*settings);
                folded.fold(&in_event_order(all.iter()));
                // A tenant folded again is likely to be again soon (a
                // backfill of old events, a source whose clock lags): keep
                // its events at hand until it has gone a while in order.
                // Not after its first derivation, which is no sign of that.
                if first_or_stale.is_some() {
                    self.held = Some(all);
                }
                folded
            }
        };
        self.pending = ahead;
        let derived = if self.pending.is_empty() {
            folded.rows()
        } else {
            // Dated after `due_by`, so after every event folded.
            let mut head = folded.clone();
            head.fold(&in_event_order(self.pending.iter()));
            head.rows()
        };
        self.folded = Some(folded);
        let mut changed = Vec::new();
        for (table, print) in fingerprints(&derived) {
            if self.fingerprints.insert(table, print) != Some(print) {
                changed.push(table);
            }
        }
        Ok((derived, changed))
    }

    /// The stored events that are not among the pending ones (an event
    /// committed while its tenant's derivation was left for later is in
    /// both), compacted.
    fn not_pending(
        &self,
        stored: Vec<CanonicalEvent>,
        due: &[CompactEvent],
        ahead: &[CompactEvent],
    ) -> Vec<CompactEvent> {
        let pending: HashSet<u128> = due
            .iter()
            .chain(ahead)
            .map(|e| self.hasher.key(&e.source, &e.id))
            .collect();
        let mut once: HashSet<u128> = HashSet::with_capacity(stored.len());
        stored
            .iter()
            .filter(|e| {
                let key = self.hasher.key(&e.source, &e.id);
                !pending.contains(&key) && once.insert(key)
            })
            .map(CompactEvent::from)
            .collect()
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
