//! Event types of `API.md` and which section each one needs.

use serde::{Deserialize, Serialize};

/// The `type` of a canonical event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "customer.upserted")]
    CustomerUpserted,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "refund.created")]
    RefundCreated,
    #[serde(rename = "call.booked")]
    CallBooked,
    #[serde(rename = "call.canceled")]
    CallCanceled,
    #[serde(rename = "call.rescheduled")]
    CallRescheduled,
    #[serde(rename = "call.no_show")]
    CallNoShow,
    #[serde(rename = "call.no_show_undone")]
    CallNoShowUndone,
    #[serde(rename = "call.showed")]
    CallShowed,
    #[serde(rename = "call.outcome")]
    CallOutcome,
    #[serde(rename = "track")]
    Track,
    /// A provider event revstream does not interpret (an unknown Stripe
    /// type, say): kept with its raw payload for audit, ignored by metrics.
    /// `name` holds the provider's type.
    #[serde(rename = "ignored")]
    Ignored,
}

/// The part of an event that a type is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Customer,
    Subscription,
    Payment,
    Refund,
    Call,
    Track,
}

impl EventKind {
    pub const ALL: [EventKind; 16] = [
        EventKind::CustomerUpserted,
        EventKind::SubscriptionCreated,
        EventKind::SubscriptionUpdated,
        EventKind::SubscriptionCanceled,
        EventKind::PaymentSucceeded,
        EventKind::PaymentFailed,
        EventKind::RefundCreated,
        EventKind::CallBooked,
        EventKind::CallCanceled,
        EventKind::CallRescheduled,
        EventKind::CallNoShow,
        EventKind::CallNoShowUndone,
        EventKind::CallShowed,
        EventKind::CallOutcome,
        EventKind::Track,
        EventKind::Ignored,
    ];

    /// The name used on the wire and in the `events.type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CustomerUpserted => "customer.upserted",
            EventKind::SubscriptionCreated => "subscription.created",
            EventKind::SubscriptionUpdated => "subscription.updated",
            EventKind::SubscriptionCanceled => "subscription.canceled",
            EventKind::PaymentSucceeded => "payment.succeeded",
            EventKind::PaymentFailed => "payment.failed",
            EventKind::RefundCreated => "refund.created",
            EventKind::CallBooked => "call.booked",
            EventKind::CallCanceled => "call.canceled",
            EventKind::CallRescheduled => "call.rescheduled",
            EventKind::CallNoShow => "call.no_show",
            EventKind::CallNoShowUndone => "call.no_show_undone",
            EventKind::CallShowed => "call.showed",
            EventKind::CallOutcome => "call.outcome",
            EventKind::Track => "track",
            EventKind::Ignored => "ignored",
        }
    }

    pub(crate) fn subject(self) -> Subject {
        match self {
            EventKind::CustomerUpserted => Subject::Customer,
            EventKind::SubscriptionCreated
            | EventKind::SubscriptionUpdated
            | EventKind::SubscriptionCanceled => Subject::Subscription,
            EventKind::PaymentSucceeded | EventKind::PaymentFailed => Subject::Payment,
            EventKind::RefundCreated => Subject::Refund,
            EventKind::CallBooked
            | EventKind::CallCanceled
            | EventKind::CallRescheduled
            | EventKind::CallNoShow
            | EventKind::CallNoShowUndone
            | EventKind::CallShowed
            | EventKind::CallOutcome => Subject::Call,
            EventKind::Track | EventKind::Ignored => Subject::Track,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
