//! The rows [`derive`](super::derive) produces: one struct per table of
//! `revstream_schemas::tables`, without `tenant_id` (the caller adds it).
//!
//! Columns not (yet) in `tables.rs` are marked "extra column".

use chrono::{DateTime, NaiveDate, Utc};
use revstream_schemas::event::{Interval, SubscriptionStatus};
use revstream_schemas::{Currency, Email, EventId, ObjectId, SourceName};
use serde::Serialize;

/// `subscriptions`: the latest state of each (source, subscription id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SubscriptionRow {
    pub source: SourceName,
    pub subscription_id: ObjectId,
    pub customer_id: ObjectId,
    /// The latest event's status; `canceled` after a `subscription.canceled`
    /// event whatever status it carried.
    pub status: SubscriptionStatus,
    pub currency: Currency,
    /// Discounted amount per billing period of `billing_interval` ×
    /// `billing_interval_count`, whatever the status.
    pub billing_amount: i64,
    /// Extra column: the primary billing interval (the first licensed item's).
    pub billing_interval: Option<Interval>,
    /// Extra column: its interval count.
    pub billing_interval_count: Option<i64>,
    /// What the subscription contributes to its customer's MRR now.
    pub mrr: i64,
    pub cancel_at_period_end: bool,
    /// Extra column: cancellation requested (`cancel_at_period_end` or
    /// `canceled_at`) but the subscription has not ended yet.
    pub scheduled_churn: bool,
    pub current_period_end: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `occurred_at` of the subscription's first event.
    pub started_at: DateTime<Utc>,
    /// `occurred_at` of its latest event.
    pub updated_at: DateTime<Utc>,
    pub last_event_id: EventId,
}

/// The kind of an MRR movement (spec/metrics.md, "MRR movements").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    New,
    Expansion,
    Contraction,
    Churn,
    Reactivation,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::New => "new",
            MovementKind::Expansion => "expansion",
            MovementKind::Contraction => "contraction",
            MovementKind::Churn => "churn",
            MovementKind::Reactivation => "reactivation",
        }
    }
}

/// `mrr_movements`: one row per change of a customer's MRR in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MovementRow {
    /// Tenant-local date of `occurred_at`.
    pub day: NaiveDate,
    /// `occurred_at` of the event that caused the movement.
    pub occurred_at: DateTime<Utc>,
    pub source: SourceName,
    pub customer_id: ObjectId,
    pub currency: Currency,
    pub movement: MovementKind,
    /// Signed: `mrr_after − mrr_before` (+ new, expansion, reactivation;
    /// − contraction, churn).
    pub amount: i64,
    pub mrr_before: i64,
    pub mrr_after: i64,
    /// Extra column: the subscription whose event caused the movement.
    pub subscription_id: ObjectId,
    pub event_id: EventId,
}

/// A call's booking status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Scheduled,
    Canceled,
    Rescheduled,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Scheduled => "scheduled",
            CallStatus::Canceled => "canceled",
            CallStatus::Rescheduled => "rescheduled",
        }
    }
}

/// Whether the lead showed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    Unknown,
    Showed,
    NoShow,
}

impl Attendance {
    pub fn as_str(self) -> &'static str {
        match self {
            Attendance::Unknown => "unknown",
            Attendance::Showed => "showed",
            Attendance::NoShow => "no_show",
        }
    }
}

/// `calls`: the latest state of each call id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CallRow {
    pub call_id: ObjectId,
    /// Source of the latest booking, else of the call's first event.
    pub source: SourceName,
    pub status: CallStatus,
    pub attendance: Attendance,
    pub offer_made: bool,
    pub closed: bool,
    pub booked_at: Option<DateTime<Utc>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Tenant-local date of `scheduled_at`.
    pub scheduled_day: Option<NaiveDate>,
    pub closer: Option<String>,
    pub setter: Option<String>,
    pub lead_source: Option<String>,
    pub call_type: Option<String>,
    pub lead_email: Option<Email>,
    pub lead_name: Option<String>,
    pub rescheduled_from: Option<ObjectId>,
    /// Cash the post-call form reported (informational; `cash_collected` in
    /// `metrics_daily` comes from payments only).
    pub cash_collected: Option<i64>,
    pub currency: Option<Currency>,
    /// `occurred_at` of the latest event that touched the call.
    pub updated_at: DateTime<Utc>,
}

/// Whether a payment went through, per its latest event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        }
    }
}

/// `payments`: one row per (source, payment id), with refunds and attribution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PaymentRow {
    pub source: SourceName,
    pub payment_id: ObjectId,
    pub status: PaymentStatus,
    pub amount: i64,
    /// Σ of this payment's distinct refunds in the payment's currency.
    pub refunded_amount: i64,
    pub currency: Currency,
    pub paid_at: DateTime<Utc>,
    /// Tenant-local date of `paid_at`.
    pub paid_day: NaiveDate,
    pub customer_id: Option<ObjectId>,
    /// The payment's customer email, else that customer's known email.
    pub email: Option<Email>,
    pub subscription_id: Option<ObjectId>,
    pub invoice_id: Option<ObjectId>,
    /// The attributed call and what it passes on.
    pub call_id: Option<ObjectId>,
    pub closer: Option<String>,
    pub setter: Option<String>,
    pub lead_source: Option<String>,
}

/// Extra table `refunds`: one row per (source, refund id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RefundRow {
    pub source: SourceName,
    pub refund_id: ObjectId,
    pub payment_id: ObjectId,
    pub amount: i64,
    pub currency: Currency,
    pub refunded_at: DateTime<Utc>,
    /// Tenant-local date of `refunded_at`.
    pub refunded_day: NaiveDate,
}

/// `customers`: one row per (source, customer id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CustomerRow {
    /// The email when known (joins sources), else `source:customer_id`.
    pub identity: String,
    pub source: SourceName,
    pub customer_id: ObjectId,
    pub email: Option<Email>,
    pub name: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `metrics_daily`: additive counters per tenant-local day and currency.
/// Money counters are on rows with a currency; call counters on rows with
/// `currency: None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct DailyRow {
    pub day: NaiveDate,
    pub currency: Option<Currency>,
    pub new_mrr: i64,
    pub expansion_mrr: i64,
    pub contraction_mrr: i64,
    pub churned_mrr: i64,
    pub reactivation_mrr: i64,
    pub new_customers: i64,
    pub churned_customers: i64,
    pub reactivated_customers: i64,
    pub cash_collected: i64,
    pub refunds: i64,
    pub payments_count: i64,
    pub refunds_count: i64,
    pub booked_calls: i64,
    pub showed: i64,
    pub no_shows: i64,
    pub pending: i64,
    pub offers: i64,
    pub closed: i64,
    pub canceled_calls: i64,
    pub rescheduled_calls: i64,
}

impl DailyRow {
    pub(crate) fn new(day: NaiveDate, currency: Option<Currency>) -> Self {
        DailyRow {
            day,
            currency,
            ..DailyRow::default()
        }
    }

    /// The counters by column name, in the order of
    /// `revstream_schemas::tables::DAILY_COUNTERS`.
    pub fn counters(&self) -> [(&'static str, i64); 20] {
        [
            ("new_mrr", self.new_mrr),
            ("expansion_mrr", self.expansion_mrr),
            ("contraction_mrr", self.contraction_mrr),
            ("churned_mrr", self.churned_mrr),
            ("reactivation_mrr", self.reactivation_mrr),
            ("new_customers", self.new_customers),
            ("churned_customers", self.churned_customers),
            ("reactivated_customers", self.reactivated_customers),
            ("cash_collected", self.cash_collected),
            ("refunds", self.refunds),
            ("payments_count", self.payments_count),
            ("refunds_count", self.refunds_count),
            ("booked_calls", self.booked_calls),
            ("showed", self.showed),
            ("no_shows", self.no_shows),
            ("pending", self.pending),
            ("offers", self.offers),
            ("closed", self.closed),
            ("canceled_calls", self.canceled_calls),
            ("rescheduled_calls", self.rescheduled_calls),
        ]
    }
}
