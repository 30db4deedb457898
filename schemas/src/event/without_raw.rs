//! The wire form of an event without its `raw` payload, written without
//! copying the event.
//!
//! The `events` table keeps the raw provider payload in a column of its
//! own, so the event column must not hold it twice. Cloning the event to
//! drop `raw` copied the whole payload tree first (a third of the
//! pipeline's allocations in a profile); this view serializes the fields
//! in place instead.

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{CanonicalEvent, timestamp};

impl CanonicalEvent {
    /// Compact JSON of this event as [`CanonicalEvent::to_json`] writes it,
    /// minus `raw`.
    pub fn to_json_without_raw(&self) -> Vec<u8> {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_vec(&WithoutRaw(self)).unwrap_or_default()
    }
}

struct WithoutRaw<'a>(&'a CanonicalEvent);

struct Timestamp<'a>(&'a DateTime<Utc>);

impl Serialize for Timestamp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        timestamp::required::serialize(self.0, s)
    }
}

impl Serialize for WithoutRaw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // No `..`: a field added to `CanonicalEvent` fails to compile here
        // until it is written (or skipped) below.
        let CanonicalEvent {
            id,
            kind,
            occurred_at,
            source,
            customer,
            subscription,
            payment,
            refund,
            call,
            outcome,
            name,
            properties,
            raw: _,
        } = self.0;
        let mut out = s.serialize_struct("CanonicalEvent", 12)?;
        out.serialize_field("id", id)?;
        out.serialize_field("type", kind)?;
        out.serialize_field("occurred_at", &Timestamp(occurred_at))?;
        out.serialize_field("source", source)?;
        optional(&mut out, "customer", customer)?;
        optional(&mut out, "subscription", subscription)?;
        optional(&mut out, "payment", payment)?;
        optional(&mut out, "refund", refund)?;
        optional(&mut out, "call", call)?;
        optional(&mut out, "outcome", outcome)?;
        optional(&mut out, "name", name)?;
        optional(&mut out, "properties", properties)?;
        out.end()
    }
}

/// A section as the derive writes it: absent when `None`.
fn optional<S: SerializeStruct, T: Serialize>(
    out: &mut S,
    key: &'static str,
    value: &Option<T>,
) -> Result<(), S::Error> {
    match value {
        Some(v) => out.serialize_field(key, v),
        None => out.skip_field(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_raw_by_clone(e: &CanonicalEvent) -> Vec<u8> {
        let mut copy = e.clone();
        copy.raw = None;
        copy.to_json()
    }

    #[test]
    fn writes_what_a_copy_without_raw_writes() {
        let events = [
            r#"{"id":"evt_1","type":"payment.succeeded","occurred_at":"2026-01-05T10:00:00.123Z",
                "source":"stripe","customer":{"id":"cus_1","email":"a@b.co","name":"A"},
                "payment":{"id":"ch_1","amount":4900,"currency":"usd","paid_at":"2026-01-05T10:00:00Z"},
                "raw":{"big":"payload","nested":[1,2,{"x":null}]}}"#,
            r#"{"id":"evt_2","type":"subscription.updated","occurred_at":"2026-02-01T00:00:00Z",
                "customer":{"id":"cus_1"},
                "subscription":{"id":"sub_1","status":"active","currency":"eur",
                  "items":[{"unit_amount":1000,"interval":"month","interval_count":1}]}}"#,
            r#"{"id":"evt_3","type":"track","occurred_at":"2026-03-01T00:00:00+02:00",
                "name":"signed_up","properties":{"plan":"pro","seats":3}}"#,
        ];
        for json in events {
            let event = match CanonicalEvent::from_json(json.as_bytes()) {
                Ok(e) => e,
                Err(e) => panic!("invalid test event {json}: {e}"),
            };
            let written = event.to_json_without_raw();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&without_raw_by_clone(&event))
            );
            let back = CanonicalEvent::from_json(&written).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back.raw, None);
            assert_eq!(CanonicalEvent { raw: None, ..event }, back);
        }
    }
}
