//! The derivation as a fold: every table's per-entity state, taken one
//! event at a time in event order, and the rows read off it.
//!
//! ```text
//!  events in (occurred_at, id, source) order ─▶ fold ─┬─ subscriptions + timelines + movements
//!                                                     ├─ calls
//!                                                     ├─ customers
//!                                                     └─ payments + refunds
//!  rows ◀─ email fill, refunded amounts, attribution, metrics_daily ◀─┘
//! ```
//!
//! Each table's state after n events depends only on the first n events in
//! event order, so a tenant whose new events all sort after the last one
//! folded is derived from the new events alone ([`Folded::extends_with`]);
//! one that received an earlier event is folded again from its first
//! event. What joins tables (attribution, the daily sums) is recomputed
//! from the rows on every read, so it never depends on which way the state
//! was reached.

use chrono::{DateTime, Utc};
use revstream_schemas::{EventId, SourceName};

use super::{
    CompactEvent, Derived, TenantSettings, attribution, calls, customers, daily, payments,
    subscriptions,
};

/// The order key of the last event folded, owned.
type LastKey = (DateTime<Utc>, EventId, SourceName);

/// One tenant's derivation state under fixed settings.
#[derive(Debug, Clone)]
pub struct Folded {
    settings: TenantSettings,
    subscriptions: subscriptions::Fold,
    calls: calls::Fold,
    customers: customers::Customers,
    payments: payments::Fold,
    last: Option<LastKey>,
}

impl Folded {
    /// Nothing folded yet.
    pub fn new(settings: TenantSettings) -> Self {
        Folded {
            settings,
            subscriptions: subscriptions::Fold::default(),
            calls: calls::Fold::default(),
            customers: customers::Customers::default(),
            payments: payments::Fold::default(),
            last: None,
        }
    }

    pub fn settings(&self) -> &TenantSettings {
        &self.settings
    }

    /// When the last event folded occurred.
    pub fn last_at(&self) -> Option<DateTime<Utc>> {
        self.last.as_ref().map(|(at, _, _)| *at)
    }

    /// Whether `event` sorts after every event folded.
    pub fn precedes(&self, event: &CompactEvent) -> bool {
        self.last
            .as_ref()
            .is_none_or(|(at, id, source)| (*at, id, source) < event.order_key())
    }

    /// Whether `events` (sorted, distinct, none folded yet) can be folded
    /// onto this state: they all sort after the last event folded.
    pub fn extends_with(&self, events: &[&CompactEvent]) -> bool {
        match (&self.last, events.first()) {
            (Some((at, id, source)), Some(first)) => first.order_key() > (*at, id, source),
            _ => true,
        }
    }

    /// Folds `events`, which must be sorted by order key and sort after
    /// every event folded before ([`Folded::extends_with`]).
    pub fn fold(&mut self, events: &[&CompactEvent]) {
        debug_assert!(self.extends_with(events), "events folded out of order");
        debug_assert!(
            events
                .windows(2)
                .all(|w| w[0].order_key() < w[1].order_key())
        );
        for event in events {
            if !event.derives_rows() {
                continue;
            }
            self.subscriptions.fold(&self.settings, event);
            self.calls.fold(event);
            self.customers.fold(event);
            self.payments.fold(&self.settings, event);
        }
        if let Some(last) = events.last() {
            self.last = Some((last.occurred_at, last.id.clone(), last.source.clone()));
        }
    }

    /// Every table's rows as of the events folded so far.
    pub fn rows(&self) -> Derived {
        let settings = &self.settings;
        let movements = self.subscriptions.movements().to_vec();
        let calls = self.calls.rows(settings);
        let mut payments = self.payments.payments(&self.customers);
        attribution::attribute(&mut payments, &calls);
        let refunds = self.payments.refunds();
        let daily = daily::derive(
            settings,
            &daily::Sources {
                movements: &movements,
                payments: &payments,
                refunds: &refunds,
                calls: &calls,
            },
        );
        Derived {
            subscriptions: self.subscriptions.subscriptions(),
            movements,
            calls,
            payments,
            refunds,
            customers: self.customers.rows(),
            daily,
        }
    }
}
