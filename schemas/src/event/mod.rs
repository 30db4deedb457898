//! The canonical event: the one shape every source is normalized into and
//! the payload of the event log.
//!
//! An event is flat: an envelope (`id`, `type`, `occurred_at`, `source`) plus
//! the sections its type needs (`subscription`, `payment`, `call`, …). A flat
//! shape keeps parsing fast (no buffering for tagged enums), keeps serde's
//! error paths exact, and maps one-to-one onto the `events` table.

mod kind;
mod parse;
mod rules;
mod sections;
mod timestamp;
mod without_raw;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use kind::EventKind;
pub use sections::{
    Call, CallOutcome, Customer, Discount, DiscountDuration, Interval, Lead, Payment, Percent,
    Refund, Subscription, SubscriptionItem, SubscriptionStatus, UsageType,
};

use crate::ids::{EventId, SourceName};

/// One event as it travels through revstream. Build it with
/// [`CanonicalEvent::from_json`] (or a normalizer) so that it is validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalEvent {
    /// Idempotency key within (tenant, source).
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(with = "timestamp::required")]
    pub occurred_at: DateTime<Utc>,
    #[serde(default = "SourceName::api")]
    pub source: SourceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Refund>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CallOutcome>,
    /// `track` events: what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `track` events: free-form attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// The provider's payload this event was normalized from, kept for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

impl CanonicalEvent {
    /// An event with only its envelope and no sections; normalizers start
    /// here and fill in what their provider event carries.
    pub fn envelope(
        id: EventId,
        kind: EventKind,
        occurred_at: DateTime<Utc>,
        source: SourceName,
    ) -> Self {
        Self {
            id,
            kind,
            occurred_at,
            source,
            customer: None,
            subscription: None,
            payment: None,
            refund: None,
            call: None,
            outcome: None,
            name: None,
            properties: None,
            raw: None,
        }
    }
}
