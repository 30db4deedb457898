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
    /// must be given the tenant's events read back from the `events` table:
    /// it must fold the tenant again from its first event (a pending event
    /// sorts before the last one folded, or the settings changed) and holds
    /// no copy of the events folded.
    pub fn needs_history(&self, settings: &TenantSettings) -> bool {
        match &self.folded {
            // Nothing folded yet: every event seen is pending.
            None => false,
            Some(folded) => self.held.is_none() && self.must_refold(folded, settings),
        }
    }

    fn must_refold(&self, folded: &Folded, settings: &TenantSettings) -> bool {
        self.must_refold_with(folded, settings, &self.pending)
    }

    /// Derives the tenant's tables and says which changed since the last
    /// call (all of them the first time).
    ///
    /// The kept state (`folded`) takes the pending events that are dated
    /// before the latest instant among them (the "frontier") and not after
    /// `now`. Those at the frontier and those dated ahead of the clock are
    /// folded onto a copy, for this derivation only: a next cycle's event
    /// in the same second (timestamps are often whole seconds) may sort
    /// before them, and one event with a clock years ahead must not make
    /// every later event "older than those folded". When every pending
    /// event sorts after the last one folded (the common case: events
    /// arrive roughly in time order, a cycle at a time), only they are
    /// folded; otherwise, or when the settings changed, the tenant is folded
    /// again from its first event: from the events it holds since an
    /// earlier refold, or from `history`, its events as stored in the
    /// `events` table (committed ones; those pending here are added), which
    /// must be given when [`TenantState::needs_history`] says so. Either way
    /// the rows equal a derivation from scratch; `now` decides only the
    /// cost.
    pub fn derive_changes(
        &mut self,
        settings: &TenantSettings,
        now: DateTime<Utc>,
        history: Option<Vec<CanonicalEvent>>,
    ) -> Result<(Derived, Vec<TableName>), HistoryNeeded> {
        if self.needs_history(settings) && history.is_none() {
            return Err(HistoryNeeded);
        }
        let pending = std::mem::take(&mut self.pending);
        let kept = self.folded.take();
        let (mut folded, candidates, refolded) = match kept {
            Some(folded) if !self.must_refold_with(&folded, settings, &pending) => {
                self.in_order += 1;
                (folded, pending, false)
            }
            kept => {
                self.refolds += 1;
                self.in_order = 0;
                let mut all = match (self.held.take(), history) {
                    (Some(held), _) => held,
                    (None, Some(stored)) => self.not_pending(stored, &pending),
                    (None, None) => Vec::new(),
                };
                all.extend(pending);
                // A tenant folded again is likely to be again soon (a
                // backfill of old events, a source whose clock lags): keep
                // its events at hand until it has gone a while in order.
                // Not after its first derivation, which is no sign of that.
                self.held = kept.is_some().then(Vec::new);
                (Folded::new(*settings), all, true)
            }
        };
        let frontier = frontier(&folded, &candidates, now);
        let (sealed, ahead): (Vec<CompactEvent>, Vec<CompactEvent>) = candidates
            .into_iter()
            .partition(|e| frontier.is_some_and(|f| e.occurred_at < f));
        folded.fold(&in_event_order(sealed.iter()));
        match &mut self.held {
            Some(_) if !refolded && self.in_order >= KEEP_HELD_FOR => self.held = None,
            Some(held) => held.extend(sealed),
            None => {}
        }
        self.pending = ahead;
        let derived = if self.pending.is_empty() {
            folded.rows()
        } else {
            // At or after the frontier, so after every event folded.
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

    fn must_refold_with(
        &self,
        folded: &Folded,
        settings: &TenantSettings,
        pending: &[CompactEvent],
    ) -> bool {
        folded.settings() != settings || !pending.iter().all(|e| folded.precedes(e))
    }

    /// The stored events that are not among the pending ones (an event
    /// committed while its tenant's derivation was left for later is in
    /// both), compacted.
    fn not_pending(
        &self,
        stored: Vec<CanonicalEvent>,
        pending: &[CompactEvent],
    ) -> Vec<CompactEvent> {
        let pending: HashSet<u128> = pending
            .iter()
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

/// The kept state takes the candidates dated before this: the latest
/// instant among the candidates not dated ahead of the clock (nor of the
/// kept state's last event, should the clock have gone back), or that
/// last event's. `None`: nothing to take.
fn frontier(
    folded: &Folded,
    candidates: &[CompactEvent],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last = folded.last_at();
    let cap = last.map_or(now, |last| last.max(now));
    candidates
        .iter()
        .map(|e| e.occurred_at)
        .filter(|at| *at <= cap)
        .chain(last)
        .max()
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
