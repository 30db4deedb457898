//! The part of an event the derivation reads, in the least memory.
//!
//! The pipeline holds every distinct event of every tenant it owns for as
//! long as it runs, so bytes per held event decide its memory. A
//! [`CanonicalEvent`] stores all of its optional sections inline (880 bytes
//! before any string), although an event carries one or two of them. Here
//! each section is boxed (8 bytes when absent), and what no metric reads —
//! `raw`, and a `track` event's `name` and `properties` — is dropped.

use chrono::{DateTime, Utc};
use revstream_schemas::event::{Call, CallOutcome, Customer, Payment, Refund, Subscription};
use revstream_schemas::{CanonicalEvent, EventId, EventKind, SourceName};

/// An event as the derivation sees it; see the module docs for what is
/// left out. Field names match [`CanonicalEvent`]'s.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactEvent {
    pub id: EventId,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub source: SourceName,
    pub customer: Option<Box<Customer>>,
    pub subscription: Option<Box<Subscription>>,
    pub payment: Option<Box<Payment>>,
    pub refund: Option<Box<Refund>>,
    pub call: Option<Box<Call>>,
    pub outcome: Option<Box<CallOutcome>>,
}

impl From<&CanonicalEvent> for CompactEvent {
    /// Copies what the derivation reads; the rest (the raw payload above
    /// all) is never copied.
    fn from(event: &CanonicalEvent) -> Self {
        Self {
            id: event.id.clone(),
            kind: event.kind,
            occurred_at: event.occurred_at,
            source: event.source.clone(),
            customer: boxed(event.customer.as_ref()),
            subscription: boxed(event.subscription.as_ref()),
            payment: boxed(event.payment.as_ref()),
            refund: boxed(event.refund.as_ref()),
            call: boxed(event.call.as_ref()),
            outcome: boxed(event.outcome.as_ref()),
        }
    }
}

/// A copy of an event's section, on the heap.
fn boxed<T: Clone>(section: Option<&T>) -> Option<Box<T>> {
    section.cloned().map(Box::new)
}

impl CompactEvent {
    /// Whether any metric reads this event (`track` and `ignored` events
    /// only count towards dedupe).
    pub fn derives_rows(&self) -> bool {
        !matches!(self.kind, EventKind::Track | EventKind::Ignored)
    }

    /// The one order every entity uses: (occurred_at, id, source).
    pub(crate) fn order_key(&self) -> (DateTime<Utc>, &EventId, &SourceName) {
        (self.occurred_at, &self.id, &self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_fraction_of_a_canonical_event() {
        // The bound that makes holding every event affordable; a new inline
        // section would break it.
        let compact = std::mem::size_of::<CompactEvent>();
        let canonical = std::mem::size_of::<CanonicalEvent>();
        assert!(compact <= 128, "CompactEvent is {compact} bytes");
        assert!(compact * 5 < canonical, "{compact} vs {canonical} bytes");
    }

    #[test]
    fn keeps_every_section_the_derivation_reads() {
        let json = r#"{"id":"evt_1","type":"payment.succeeded","occurred_at":"2026-01-05T10:00:00Z",
            "source":"stripe","customer":{"id":"cus_1","email":"a@b.co"},
            "payment":{"id":"ch_1","amount":4900,"currency":"usd","paid_at":"2026-01-05T10:00:00Z"},
            "raw":{"big":"payload"}}"#;
        let event = CanonicalEvent::from_json(json.as_bytes()).expect("valid event");
        let compact = CompactEvent::from(&event);
        assert_eq!(compact.id, event.id);
        assert_eq!(compact.kind, event.kind);
        assert_eq!(compact.occurred_at, event.occurred_at);
        assert_eq!(compact.source, event.source);
        assert_eq!(compact.customer.as_deref(), event.customer.as_ref());
        assert_eq!(compact.payment.as_deref(), event.payment.as_ref());
        assert!(compact.subscription.is_none() && compact.call.is_none());
        assert!(compact.derives_rows());
    }
}
