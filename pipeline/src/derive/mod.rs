//! The metric definitions of `spec/metrics.md` as a pure, deterministic
//! function of a tenant's set of distinct canonical events.
//!
//! ```text
//!  events ─▶ dedupe (source, id) ─▶ order (occurred_at, id, source) ─┬─▶ subscriptions ─▶ movements ─┐
//!  (any order,                                                        ├─▶ customers ──┐              │
//!   duplicates)                                                       ├─▶ calls ──────┼─▶ payments,  │
//!                                                                     │               │   refunds,   │
//!                                                                     │               └─ attribution ┤
//!                                                                     └──────────────────────────────┴─▶ metrics_daily
//! ```
//!
//! No I/O, no clock: [`derive`] sees only the events and the
//! [`TenantSettings`], and every output list is sorted by a stable key, so
//! two runs over the same set compare equal whatever the arrival order and
//! however many copies arrived (DESIGN.md invariants 2 and 3). Money stays
//! integer minor units per currency and is never summed across currencies
//! (invariant 6). `track` and `ignored` events produce no rows.
//!
//! # Decisions where the spec is silent
//! - **Duplicates** with the same (source, id) are one event; if copies
//!   differ, the one whose wire JSON sorts first is kept.
//! - **Order ties**: events with equal `occurred_at` and id (two sources)
//!   are ordered by source.
//! - **MRR, mixed intervals**: each licensed item is normalized to a monthly
//!   rational and summed; recurring percent discounts multiply the sum
//!   (several compound: 20 % and 10 % leave 72 %); recurring `amount_off`s
//!   are per billing period of the primary interval (the first licensed
//!   item's), normalized likewise and subtracted; floor 0; one half-to-even
//!   rounding. `billing_amount` is that monthly rational converted back to
//!   the primary interval (exactly the spec's billing amount when all items
//!   share an interval). An amount that cannot be computed (overflow) counts
//!   0, with a warning.
//! - **Subscription state**: each event is the full state; the latest one
//!   wins, and a later `active` event after a cancellation counts again. The
//!   subscription "ends" on `subscription.canceled`, status `canceled` or
//!   `ended_at` set; it is "requested" on `cancel_at_period_end` or
//!   `canceled_at`. Under [`ChurnSetting::AtPeriodEnd`] only the end drops
//!   MRR; under [`ChurnSetting::AtRequest`] the request does too. Either way
//!   `scheduled_churn` = requested ∧ not ended.
//! - **MRR key** is (source, customer id, currency): "new" and
//!   "reactivation" are per currency, so a customer who adds a EUR plan to a
//!   USD one is new in EUR. A subscription that moves to another customer or
//!   currency moves its MRR (two movements). Every event that changes a
//!   customer's MRR is its own movement, even at the same instant.
//! - **Calls** are keyed by call id alone (spec: "(tenant, call id)"); the
//!   row's `source` is the latest booking's. A call known only from
//!   non-booking events is `scheduled` with no `scheduled_at` (so counted on
//!   no day). Booking attributes come from `call.booked` only, each from the
//!   latest booking that carries it. The outcome form's `cash_collected` is
//!   kept on the call row but is not cash: `cash_collected` counts payments.
//! - **Payments**: status, amount, currency and `paid_at` come from the
//!   latest event, so `payment.failed` after `payment.succeeded` leaves the
//!   payment failed (and not cash); customer, email, subscription and
//!   invoice ids are the latest non-null. Refunds are counted in
//!   `metrics_daily` whatever the payment's status (money went back), and
//!   in `refunded_amount` only when in the payment's currency.
//! - **Attribution** considers only calls with status `scheduled`; ties on
//!   `scheduled_at` go to the greatest call id.
//! - **Customers** are seen on any event's `customer` and on
//!   `payment.customer`; email and name are the latest non-null.

mod attribution;
mod calls;
mod compact;
mod customers;
mod daily;
mod events;
mod mrr;
mod payments;
mod ratio;
mod rows;
mod subscriptions;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use revstream_schemas::CanonicalEvent;

pub use compact::CompactEvent;
pub use rows::{
    Attendance, CallRow, CallStatus, CustomerRow, DailyRow, MovementKind, MovementRow, PaymentRow,
    PaymentStatus, RefundRow, SubscriptionRow,
};

/// When a cancellation stops counting as MRR (a per-tenant setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ChurnSetting {
    /// MRR stays until the subscription actually ends (the default).
    #[default]
    AtPeriodEnd,
    /// MRR drops when the customer asks to cancel.
    AtRequest,
}

impl ChurnSetting {
    /// The registry / API spelling: `at_period_end` or `at_request`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnSetting::AtPeriodEnd => "at_period_end",
            ChurnSetting::AtRequest => "at_request",
        }
    }

    pub fn parse(s: &str) -> Option<ChurnSetting> {
        match s {
            "at_period_end" => Some(ChurnSetting::AtPeriodEnd),
            "at_request" => Some(ChurnSetting::AtRequest),
            _ => None,
        }
    }
}

/// What a tenant chose that changes its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSettings {
    /// Days are dates in this timezone.
    pub timezone: Tz,
    pub churn: ChurnSetting,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            timezone: Tz::UTC,
            churn: ChurnSetting::default(),
        }
    }
}

/// Every row derived from a tenant's events, each list sorted by its key:
/// subscriptions (source, subscription id); movements (occurred_at, event
/// id, source, then the customer's old timeline before its new one); calls
/// (call id); payments and refunds (source, id); customers (source,
/// customer id); daily (day, currency with `None` first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    pub subscriptions: Vec<SubscriptionRow>,
    pub movements: Vec<MovementRow>,
    pub calls: Vec<CallRow>,
    pub payments: Vec<PaymentRow>,
    pub refunds: Vec<RefundRow>,
    pub customers: Vec<CustomerRow>,
    pub daily: Vec<DailyRow>,
}

/// Derives every table row of one tenant from its events: any order, any
/// number of copies.
pub fn derive(settings: &TenantSettings, events: &[CanonicalEvent]) -> Derived {
    let distinct: Vec<CompactEvent> = events::distinct(events)
        .into_iter()
        .map(CompactEvent::from)
        .collect();
    derive_distinct(settings, &distinct)
}

/// [`derive`] for events already distinct by (source, id), in any order:
/// what the pipeline's state holds.
pub fn derive_distinct(settings: &TenantSettings, events: &[CompactEvent]) -> Derived {
    let mut events: Vec<&CompactEvent> = events.iter().filter(|e| e.derives_rows()).collect();
    // Stable, and linear on the common case of events that arrive in order.
    events.sort_by(|a, b| a.order_key().cmp(&b.order_key()));

    let (subscriptions, movements) = subscriptions::derive(settings, &events);
    let calls = calls::derive(settings, &events);
    let customers = customers::Customers::derive(&events);
    let (mut payments, refunds) = payments::derive(settings, &events, &customers);
    attribution::attribute(&mut payments, &calls);
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
        subscriptions,
        movements,
        calls,
        payments,
        refunds,
        customers: customers.into_rows(),
        daily,
    }
}

/// The tenant-local date of an instant.
pub(crate) fn local_day(timezone: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&timezone).date_naive()
}
