//! What one log record holds: the tenant, when ingest accepted the event,
//! and the canonical event itself.

use chrono::{DateTime, Utc};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The payload of every log record (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEnvelope {
    pub tenant: TenantId,
    /// When ingest accepted it; freshness is measured from here.
    pub received_at: DateTime<Utc>,
    pub event: CanonicalEvent,
}

impl LogEnvelope {
    pub fn to_record(&self) -> super::LogRecord {
        super::LogRecord {
            key: self.tenant.to_string(),
            // Serializing validated structs with string keys cannot fail.
            payload: serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    pub fn from_payload(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    /// [`LogEnvelope::from_payload`], also handing back the event's JSON
    /// text as the record holds it when the event has no `raw` payload:
    /// exactly what the `events` table stores for it, so the pipeline
    /// need not write that JSON again (writing it was most of the cost of
    /// building a backlog's `events` batches in a profile).
    pub fn from_payload_keeping_event_json(
        payload: &[u8],
    ) -> Result<(Self, Option<Box<str>>), serde_json::Error> {
        #[derive(Deserialize)]
        struct Text<'a> {
            tenant: TenantId,
            received_at: DateTime<Utc>,
            #[serde(borrow)]
            event: &'a RawValue,
        }
        let text: Text<'_> = serde_json::from_slice(payload)?;
        let event: CanonicalEvent = serde_json::from_str(text.event.get())?;
        let json = event.raw.is_none().then(|| Box::from(text.event.get()));
        let envelope = LogEnvelope {
            tenant: text.tenant,
            received_at: text.received_at,
            event,
        };
        Ok((envelope, json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str) -> Vec<u8> {
        format!(r#"{{"tenant":"acme","received_at":"2026-01-05T10:00:01Z","event":{event}}}"#)
            .into_bytes()
    }

    const PAYMENT: &str = r#"{"id":"evt_1","type":"payment.succeeded","occurred_at":"2026-01-05T10:00:00Z","source":"api","payment":{"id":"ch_1","amount":4900,"currency":"usd","paid_at":"2026-01-05T10:00:00Z"}}"#;

    #[test]
    fn keeps_the_event_json_of_an_event_without_raw() {
        let payload = record(PAYMENT);
        let (envelope, json) = LogEnvelope::from_payload_keeping_event_json(&payload)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(&envelope),
            LogEnvelope::from_payload(&payload).ok().as_ref()
        );
        let json = json.unwrap_or_else(|| panic!("no event JSON kept"));
        assert_eq!(&*json, PAYMENT);
        // What the events table would otherwise have written.
        assert_eq!(json.as_bytes(), envelope.event.to_json_without_raw());
    }

    #[test]
    fn an_event_with_raw_is_left_to_be_written_without_it() {
        let with_raw = PAYMENT.replace(r#""source":"api","#, r#""source":"api","raw":{"x":1},"#);
        let (envelope, json) = LogEnvelope::from_payload_keeping_event_json(&record(&with_raw))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(envelope.event.raw.is_some());
        assert_eq!(json, None);
    }

    #[test]
    fn damage_is_an_error_as_with_from_payload() {
        for bad in [
            b"{not json".to_vec(),
            record(r#"{"id":"evt_1"}"#),
            record(r#""a string""#),
            br#"{"tenant":"ACME","received_at":"2026-01-05T10:00:01Z","event":{}}"#.to_vec(),
        ] {
            assert!(LogEnvelope::from_payload(&bad).is_err());
            assert!(LogEnvelope::from_payload_keeping_event_json(&bad).is_err());
        }
    }
}
