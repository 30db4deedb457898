//! Stripe webhook events → canonical events (spec/webhooks.md, Stripe).
//!
//! ```text
//!  customer.created|updated                    ─▶ customer.upserted
//!  customer.subscription.created|updated|      ─▶ subscription.created|updated|canceled
//!    deleted|paused|resumed                        (full state each time)
//!  charge.succeeded                            ─▶ payment.succeeded   (the cash)
//!  invoice.paid                                ─▶ payment.succeeded   (linkage: same payment id
//!                                                                      as the charge, or ignored)
//!  charge.refunded                             ─▶ refund.created × refunds
//!  refund.created                              ─▶ refund.created
//!  anything else                               ─▶ ignored (name = Stripe type, raw kept)
//! ```
//!
//! Every event carries the whole envelope in `raw`, occurs at the envelope's
//! `created`, and has the Stripe event id as its id; when one webhook yields
//! several events, the extra ones get a deterministic suffix
//! (`evt_1:re_2`), so a Stripe retry produces the same ids and dedupes.
//!
//! Both API layouts are read: before 2025-03-31 (`current_period_end` on the
//! subscription, singular `discount`, `invoice.charge`) and after (periods
//! on items, `discounts[]`, invoice payments). Amounts are already integer
//! minor units in Stripe, JPY included, so they pass through unchanged.

mod customer;
mod discount;
mod json;
mod payment;
mod refund;
mod subscription;

use chrono::{DateTime, Utc};
use revstream_schemas::{CanonicalEvent, EventId, EventKind, SourceName};
use serde_json::Value;

use self::json::Node;
use super::{NormalizeError, Normalized, Result};

/// The source name every Stripe event carries.
pub const SOURCE: &str = "stripe";

/// Normalizes one Stripe webhook body (already signature-verified).
///
/// Returns at least one event: types revstream does not interpret become a
/// single `ignored` event that keeps the raw payload. Errors name the JSON
/// path of the offending field.
pub fn normalize(body: &[u8]) -> Result<Normalized> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| NormalizeError::NotJson(e.to_string()))?;
    let env = Envelope::parse(&raw)?;
    let events = match env.kind {
        "customer.created" | "customer.updated" => vec![customer::upserted(&env)?],
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => vec![subscription::changed(&env)?],
        "charge.succeeded" => vec![payment::charge_succeeded(&env)?],
        "invoice.paid" => vec![payment::invoice_paid(&env)?],
        "charge.refunded" => refund::charge_refunded(&env)?,
        "refund.created" => vec![refund::refund_created(&env)?],
        _ => vec![env.ignored(None)?],
    };
    Ok(Normalized {
        provider_event_id: env.id.as_str().to_owned(),
        events,
    })
}

/// The parts of a Stripe event envelope every mapping uses.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub(crate) id: EventId,
    /// Stripe's event type (`customer.subscription.updated`).
    pub(crate) kind: &'a str,
    pub(crate) created: DateTime<Utc>,
    /// `data.object`: the object as it is after the change.
    pub(crate) object: Node<'a>,
    /// `data.previous_attributes`: on `*.updated` (and `charge.refunded`),
    /// the changed fields' old values.
    pub(crate) previous: Node<'a>,
    raw: &'a Value,
    source: SourceName,
}

impl<'a> Envelope<'a> {
    fn parse(raw: &'a Value) -> Result<Self> {
        let root = Node::root(raw);
        root.object()?;
        let id_node = root.get("id");
        let id = EventId::parse(id_node.str()?).map_err(|e| id_node.error(e.to_string()))?;
        let kind_node = root.get("type");
        let kind = kind_node.str()?;
        if kind.trim().is_empty() {
            return Err(kind_node.error("must not be empty"));
        }
        let created = root.get("created").timestamp()?;
        let data = root.get("data");
        data.object()?;
        let object = data.get("object");
        // Every Stripe event, interpreted or not, carries its object.
        object.object()?;
        let source = SourceName::parse(SOURCE).map_err(|e| root.error(e.to_string()))?;
        Ok(Envelope {
            id,
            kind,
            created,
            object,
            previous: data.get("previous_attributes"),
            raw,
            source,
        })
    }

    /// A blank event of `kind` with the envelope filled in. `suffix` tells
    /// apart the extra events of a webhook that yields several.
    pub(crate) fn event(&self, suffix: Option<&str>, kind: EventKind) -> Result<CanonicalEvent> {
        let id = match suffix {
            None => self.id.clone(),
            Some(s) => EventId::parse(&format!("{}:{s}", self.id))
                .map_err(|e| Node::root(self.raw).get("id").error(e.to_string()))?,
        };
        Ok(CanonicalEvent {
            raw: Some(self.raw.clone()),
            ..CanonicalEvent::envelope(id, kind, self.created, self.source.clone())
        })
    }

    /// The one `ignored` event of an uninterpreted type, or of a known type
    /// whose payload carries nothing to count (`reason` says why, for audit).
    pub(crate) fn ignored(&self, reason: Option<&str>) -> Result<CanonicalEvent> {
        let mut e = self.event(None, EventKind::Ignored)?;
        e.name = Some(self.kind.to_owned());
        e.properties = reason.map(|r| {
            let mut props = serde_json::Map::new();
            props.insert("reason".to_owned(), Value::String(r.to_owned()));
            props
        });
        self.finish(e)
    }

    /// Checks a built event against the canonical rules. The field checks
    /// above already name Stripe paths; this is the backstop, so a rule
    /// added to the schema later cannot let an invalid event through.
    pub(crate) fn finish(&self, e: CanonicalEvent) -> Result<CanonicalEvent> {
        e.validate().map_err(|err| {
            self.object
                .error(format!("does not give a valid {} event: {err}", e.kind))
        })?;
        Ok(e)
    }
}
