//! Whop webhooks → canonical events.
//!
//! Whop has sent two generations of bodies; they are told apart by the field
//! that names the event (`type` now, `action` in v5):
//!
//! | generation | body | event id | `occurred_at` |
//! |---|---|---|---|
//! | current (Standard Webhooks) | `{id, api_version, type, timestamp, data, company_id?}` | `id`, else the `webhook-id` header | `timestamp` |
//! | legacy v5 app webhooks | `{api_version: "v5", action, data}` | derived from `data` (`whop_legacy.rs`) | derived from `data` |
//!
//! ```text
//! membership.activated | went_valid                          ─▶ subscription.created
//! membership.cancel_at_period_end_changed | membership.updated ─▶ subscription.updated
//! membership.deactivated | went_invalid                        ─▶ subscription.canceled
//! payment.succeeded | payment.failed                           ─▶ payment.succeeded | payment.failed
//! refund.created                                               ─▶ refund.created (ignored if already failed/canceled)
//! refund.updated, any other refund.*                           ─▶ refund.created once succeeded/paid, else ignored
//! anything else                                                ─▶ ignored (name = the Whop type, raw kept)
//! ```
//!
//! Whop amounts are decimals in major units, as JSON numbers or strings;
//! both are converted exactly with the currency's exponent (JPY 0, USD 2,
//! KWD 3) and a value with more decimals than that is an error naming its
//! path, because rounding money silently is how ledgers drift.
//!
//! Refunds: a refund created `pending` and later updated to `succeeded`
//! yields two `refund.created` events for one refund id; they carry the same
//! amount and `refunded_at` (the refund's `created_at`), so consumers key
//! refunds by `refund.id`. A refund that fails after it was created is not
//! reversed: the canonical model has no event for that.

#[path = "whop_json.rs"]
pub(crate) mod json;
#[path = "whop_legacy.rs"]
mod legacy;
#[path = "whop_membership.rs"]
mod membership;
#[path = "whop_payment.rs"]
mod payment;

use revstream_schemas::event::Customer;
use revstream_schemas::{CanonicalEvent, Currency, EventKind, SourceName};
use serde_json::Value;

use self::json::{Obj, field_error};
use super::{Normalized, Result};

/// Which body shape a delivery has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generation {
    Current,
    LegacyV5,
}

/// What a Whop event name asks of the normalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A membership change, and the subscription event it becomes.
    Membership(EventKind),
    Payment(EventKind),
    RefundCreated,
    /// `refund.updated` and any other `refund.*`: a status change.
    RefundChanged,
    Unknown,
}

impl Action {
    /// Both generations' names map here; the two sets do not overlap in
    /// meaning, so one table serves both.
    fn of(name: &str) -> Self {
        match name {
            "membership.activated" | "membership.went_valid" => {
                Action::Membership(EventKind::SubscriptionCreated)
            }
            "membership.cancel_at_period_end_changed" | "membership.updated" => {
                Action::Membership(EventKind::SubscriptionUpdated)
            }
            "membership.deactivated" | "membership.went_invalid" => {
                Action::Membership(EventKind::SubscriptionCanceled)
            }
            "payment.succeeded" => Action::Payment(EventKind::PaymentSucceeded),
            "payment.failed" => Action::Payment(EventKind::PaymentFailed),
            "refund.created" => Action::RefundCreated,
            other if other.starts_with("refund.") => Action::RefundChanged,
            _ => Action::Unknown,
        }
    }
}

/// Normalizes one Whop webhook body of either generation into exactly one
/// canonical event. `webhook_id` is the Standard Webhooks `webhook-id`
/// header, used when a current-generation body lacks its own `id`.
pub fn normalize(body: &[u8], webhook_id: Option<&str>) -> Result<Normalized> {
    let raw = json::parse_body(body)?;
    let event = {
        let root = Obj::root(&raw)?;
        let (generation, name) = generation(&root)?;
        let action = Action::of(name);
        let (id, occurred_at) = match generation {
            Generation::Current => (envelope_id(&root, webhook_id)?, root.time("timestamp")?),
            Generation::LegacyV5 => legacy::identity(&root, name, action)?,
        };
        let id_field = match generation {
            Generation::Current => "id",
            Generation::LegacyV5 => "data.id",
        };
        let mut event = CanonicalEvent::envelope(
            json::event_id(&id, id_field)?,
            EventKind::Ignored,
            occurred_at,
            SourceName::parse("whop").map_err(|e| field_error(".", e.to_string()))?,
        );
        fill(&mut event, &root, generation, name, action)?;
        event
    };
    let event = json::checked(
        CanonicalEvent {
            raw: Some(raw),
            ..event
        },
        "data",
    )?;
    Ok(Normalized {
        provider_event_id: event.id.as_str().to_owned(),
        events: vec![event],
    })
}

fn generation<'a>(root: &Obj<'a>) -> Result<(Generation, &'a str)> {
    if root.has("type") {
        Ok((Generation::Current, root.str("type")?))
    } else if root.has("action") {
        Ok((Generation::LegacyV5, root.str("action")?))
    } else {
        Err(root.error("type", "is required (`action` in v5 app webhooks)"))
    }
}

/// Sets the kind and the sections of `event` from `data`.
fn fill(
    event: &mut CanonicalEvent,
    root: &Obj<'_>,
    generation: Generation,
    name: &str,
    action: Action,
) -> Result<()> {
    match action {
        Action::Membership(kind) => {
            let data = root.obj("data")?;
            let (subscription, customer) = membership::subscription(&data, kind)?;
            event.kind = kind;
            event.subscription = Some(subscription);
            event.customer = Some(customer);
        }
        Action::Payment(kind) => {
            let data = root.obj("data")?;
            let payment = payment::payment(&data, kind, generation, event.occurred_at)?;
            event.kind = kind;
            event.customer = payment.customer.clone();
            event.payment = Some(payment);
        }
        Action::RefundCreated | Action::RefundChanged => {
            let data = root.obj("data")?;
            if refund_counts(action, data.opt_str("status")?) {
                let (refund, customer) = payment::refund(&data, event.occurred_at)?;
                event.kind = EventKind::RefundCreated;
                event.refund = Some(refund);
                event.customer = customer;
            } else {
                event.name = Some(name.to_owned());
            }
        }
        Action::Unknown => event.name = Some(name.to_owned()),
    }
    Ok(())
}

/// Whether a refund event moves money. `refund.created` does unless Whop
/// already reports it failed or canceled; a later refund event does only
/// once the refund succeeded, so that intermediate states (pending,
/// requires_action) are not counted twice.
fn refund_counts(action: Action, status: Option<&str>) -> bool {
    let status = status.map(str::to_ascii_lowercase);
    match action {
        Action::RefundCreated => {
            !matches!(status.as_deref(), Some("failed" | "canceled" | "cancelled"))
        }
        _ => matches!(status.as_deref(), Some("succeeded" | "paid")),
    }
}

/// The Standard Webhooks message id. Whop repeats it in the body; the
/// header is the fallback because it is what the signature covered.
fn envelope_id(root: &Obj<'_>, webhook_id: Option<&str>) -> Result<String> {
    if let Some(id) = root.opt_str("id")? {
        return Ok(id.to_owned());
    }
    match webhook_id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => Ok(id.to_owned()),
        None => Err(root.error("id", "is required (or a webhook-id header)")),
    }
}

/// The Whop user as the customer (`user`: an object, or a bare id). v5
/// users have a `username` but no `name`, so the username stands in; v5
/// memberships repeat the email at `data.email`, used when the user has none.
fn customer(data: &Obj<'_>) -> Result<Option<Customer>> {
    match data.get("user") {
        None => Ok(None),
        Some(Value::String(_)) => Ok(Some(Customer {
            id: data.id("user")?,
            email: data.opt_email("email")?,
            name: None,
        })),
        Some(_) => {
            let user = data.obj("user")?;
            let email = match user.opt_email("email")? {
                Some(email) => Some(email),
                None => data.opt_email("email")?,
            };
            let name = match user.opt_str("name")? {
                Some(name) => Some(name),
                None => user.opt_str("username")?,
            };
            Ok(Some(Customer {
                id: user.id("id")?,
                email,
                name: name.map(str::to_owned),
            }))
        }
    }
}

fn currency(obj: &Obj<'_>, key: &str) -> Result<Option<Currency>> {
    match obj.opt_str(key)? {
        None => Ok(None),
        Some(code) => Currency::parse(code)
            .map(Some)
            .map_err(|e| obj.error(key, e.to_string())),
    }
}

/// A Whop decimal amount in major units → exact minor units of `currency`.
/// Strings convert digit by digit; numbers through their shortest decimal
/// form, so `49.99` stays `49.99` rather than `49.98999…`.
fn amount(obj: &Obj<'_>, key: &str, currency: Currency) -> Result<i64> {
    let converted = match obj.get(key) {
        None => return Err(obj.error(key, "is required")),
        Some(Value::String(s)) => currency.major_to_minor(s.trim()),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(whole), _) => currency.major_to_minor(&whole.to_string()),
            (None, Some(float)) => currency.major_f64_to_minor(float),
            (None, None) => {
                return Err(obj.error(key, format!("is not a representable amount: {n}")));
            }
        },
        Some(_) => {
            return Err(obj.error(key, "must be a decimal amount, as a number or a string"));
        }
    };
    converted.map_err(|e| obj.error(key, e.to_string()))
}
