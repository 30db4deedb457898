//! Provider objects → snapshot events with deterministic ids, reconciled
//! against the sync ledger.
//!
//! A pulled object is wrapped in the webhook body its provider would send
//! for it (Stripe `{id, type, created, data: {object}}`, Whop `{id, type,
//! timestamp, data}`, Calendly `{event, created_at, payload}`) and fed to
//! the same normalizer as webhooks, so a pull and a webhook of one object
//! give the same canonical state.
//!
//! Reconciliation, per object (ledger key `<kind>:<provider id>`):
//!
//! | ledger | emitted | `occurred_at` |
//! |---|---|---|
//! | unknown | `history`: the object's story at its own times | created, paid_at, ended_at, … |
//! | same state hash | nothing | |
//! | other hash, stateful (subscription, membership) | `current`: a correction | the run's snapshot time |
//! | other hash, a fact (payment, refund, call, customer) | `history` again | its own times |
//!
//! Event id: `sync_<source>_` + 24 hex of SHA-256 over the ledger key and
//! the event's canonical JSON without `id` and `raw` (and, for a
//! correction, without `occurred_at`). The same object in the same state
//! gives the same id in every run, so the pipeline's dedupe on (tenant,
//! source, id) makes re-running a sync change nothing, even when a crash
//! lost the ledger update after the append.

use std::collections::HashMap;

use revstream_schemas::{CanonicalEvent, EventId, EventKind};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::normalize::{self, NormalizeError};

/// The pull providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Stripe,
    Whop,
    Calendly,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "stripe" => Some(Provider::Stripe),
            "whop" => Some(Provider::Whop),
            "calendly" => Some(Provider::Calendly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Whop => "whop",
            Provider::Calendly => "calendly",
        }
    }

    /// The production API.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::Stripe => "https://api.stripe.com",
            Provider::Whop => "https://api.whop.com",
            Provider::Calendly => "https://api.calendly.com",
        }
    }

    /// The webhook normalizer of this provider.
    fn normalize(self, body: &Value) -> normalize::Result<Vec<CanonicalEvent>> {
        let bytes = body.to_string();
        let normalized = match self {
            Provider::Stripe => normalize::stripe::normalize(bytes.as_bytes())?,
            Provider::Whop => normalize::whop::normalize(bytes.as_bytes(), None)?,
            Provider::Calendly => normalize::calendly::normalize(bytes.as_bytes())?,
        };
        Ok(normalized.events)
    }
}

/// One provider object as a pull or a provider page file saw it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Ledger key: `<kind>:<provider id>`.
    pub key: String,
    /// Webhook-shaped bodies telling the object's story at its own times.
    pub history: Vec<Value>,
    /// For stateful objects: the current state as a webhook body at the
    /// snapshot time; `None` for facts.
    pub current: Option<Value>,
}

/// What reconciling one object gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created(Vec<CanonicalEvent>),
    Updated(Vec<CanonicalEvent>),
    Unchanged,
}

/// Reconciles `observed` against the ledger's hash for its key; returns the
/// outcome and the state hash to record.
pub fn reconcile(
    provider: Provider,
    observed: &Observed,
    ledger: &HashMap<String, String>,
) -> Result<(Outcome, String), String> {
    let normalize_all = |bodies: &[Value]| -> Result<Vec<CanonicalEvent>, String> {
        let mut out = Vec::new();
        for body in bodies {
            let events = provider
                .normalize(body)
                .map_err(|e| describe(&observed.key, &e))?;
            out.extend(events.into_iter().filter(|e| e.kind != EventKind::Ignored));
        }
        Ok(out)
    };
    let history = normalize_all(&observed.history)?;
    let current = match &observed.current {
        Some(body) => Some(normalize_all(std::slice::from_ref(body))?),
        None => None,
    };
    // The state: the current events without their time, or the facts with it.
    let hash = match &current {
        Some(events) => state_hash(&observed.key, events, false),
        None => state_hash(&observed.key, &history, true),
    };
    let outcome = match ledger.get(&observed.key) {
        None => Outcome::Created(with_ids(provider, &observed.key, history, true)?),
        Some(known) if *known == hash => Outcome::Unchanged,
        Some(_) => match current {
            Some(events) => Outcome::Updated(with_ids(provider, &observed.key, events, false)?),
            None => Outcome::Updated(with_ids(provider, &observed.key, history, true)?),
        },
    };
    Ok((outcome, hash))
}

fn describe(key: &str, e: &NormalizeError) -> String {
    format!("{key}: {e}")
}

/// The canonical JSON of an event's state: without id and raw, and
/// without `occurred_at` unless `timed`.
fn state_json(event: &CanonicalEvent, timed: bool) -> Value {
    let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.remove("id");
        map.remove("raw");
        if !timed {
            map.remove("occurred_at");
        }
    }
    v
}

fn state_hash(key: &str, events: &[CanonicalEvent], timed: bool) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    for e in events {
        h.update(b"\n");
        h.update(state_json(e, timed).to_string().as_bytes());
    }
    hex::encode(h.finalize())[..32].to_owned()
}

fn with_ids(
    provider: Provider,
    key: &str,
    events: Vec<CanonicalEvent>,
    timed: bool,
) -> Result<Vec<CanonicalEvent>, String> {
    events
        .into_iter()
        .map(|mut e| {
            let mut h = Sha256::new();
            h.update(key.as_bytes());
            h.update(b"\n");
            h.update(state_json(&e, timed).to_string().as_bytes());
            let id = format!(
                "sync_{}_{}",
                provider.as_str(),
                &hex::encode(h.finalize())[..24]
            );
            e.id = EventId::parse(&id).map_err(|err| format!("{key}: {err}"))?;
            // The raw body keeps the synthetic envelope; its id is the event's.
            if let Some(Value::Object(raw)) = &mut e.raw
                && raw.contains_key("id")
            {
                raw.insert("id".to_owned(), Value::String(id));
            }
            Ok(e)
        })
        .collect()
}
