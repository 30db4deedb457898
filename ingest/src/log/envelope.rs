//! What one log record holds: the tenant, when ingest accepted the event,
//! and the canonical event itself.

use chrono::{DateTime, Utc};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde::{Deserialize, Serialize};

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
}
