//! Provider payloads → canonical events.
//!
//! A normalizer is a pure function of the raw body bytes: no clock, no I/O,
//! no tenant settings (churn recognition and timezones are the pipeline's).
//! Every event it returns carries the raw provider payload in `raw`, and an
//! id derived deterministically from the provider's event id, so a provider
//! retry dedupes on (tenant, source, id).

use revstream_schemas::CanonicalEvent;

pub mod calendly;
pub mod stripe;
pub mod whop;

/// What a webhook body became.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The provider's own id for the delivery (Stripe `evt_…`, the Standard
    /// Webhooks `webhook-id`, …), echoed back as `event_id`.
    pub provider_event_id: String,
    /// One or more canonical events. An unknown provider type yields one
    /// event of kind `ignored` (name = the provider's type, raw kept), so
    /// nothing a provider sent is lost.
    pub events: Vec<CanonicalEvent>,
}

/// Why a body could not be normalized. Always the sender's fault (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// A field the event type needs is missing or has the wrong shape;
    /// `path` is a JSON path into the provider payload (`data.object.items.data[0].price`).
    #[error("{path} {problem}")]
    Field { path: String, problem: String },
}

pub type Result<T, E = NormalizeError> = std::result::Result<T, E>;
