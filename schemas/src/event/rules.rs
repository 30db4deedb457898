//! Validation rules beyond types: which section each event type needs, and
//! the bounds on amounts, quantities and discounts.

use super::kind::Subject;
use super::sections::{Call, CallOutcome, Discount, Payment, Refund, Subscription};
use super::{CanonicalEvent, EventKind};
use crate::validate::{FieldError, Path};

/// Longest free-text value accepted (names, closers, notes): enough for any
/// real value, small enough that one row cannot balloon a batch.
const MAX_TEXT: usize = 4096;

type Check = Result<(), FieldError>;

pub(super) fn check(e: &CanonicalEvent) -> Check {
    let root = Path::ROOT;
    let kind = e.kind;
    let subject = kind.subject();

    // A section that belongs to another type is a producer mistake worth
    // naming; `customer` is context and may ride along on any event.
    let stray = [
        (
            "subscription",
            e.subscription.is_some(),
            Subject::Subscription,
        ),
        ("payment", e.payment.is_some(), Subject::Payment),
        ("refund", e.refund.is_some(), Subject::Refund),
        ("call", e.call.is_some(), Subject::Call),
        ("name", e.name.is_some(), Subject::Track),
        ("properties", e.properties.is_some(), Subject::Track),
    ];
    for (field, present, owner) in stray {
        if present && owner != subject {
            return Err(root
                .field(field)
                .error(format!("is not allowed on {kind} events")));
        }
    }
    if e.outcome.is_some() && kind != EventKind::CallOutcome {
        return Err(root
            .field("outcome")
            .error(format!("is not allowed on {kind} events")));
    }

    if let Some(c) = &e.customer {
        text(&root.field("customer").field("name"), c.name.as_deref())?;
    }

    match subject {
        Subject::Customer => {
            required(&root, "customer", e.customer.as_ref())?;
        }
        Subject::Subscription => {
            required(&root, "customer", e.customer.as_ref())?;
            let s = required(&root, "subscription", e.subscription.as_ref())?;
            subscription(&root.field("subscription"), s)?;
        }
        Subject::Payment => {
            let p = required(&root, "payment", e.payment.as_ref())?;
            payment(&root.field("payment"), p)?;
        }
        Subject::Refund => {
            let r = required(&root, "refund", e.refund.as_ref())?;
            refund(&root.field("refund"), r)?;
        }
        Subject::Call => {
            let c = required(&root, "call", e.call.as_ref())?;
            call(&root.field("call"), kind, c)?;
            if kind == EventKind::CallOutcome {
                let o = required(&root, "outcome", e.outcome.as_ref())?;
                outcome(&root.field("outcome"), o)?;
            }
        }
        Subject::Track => {
            let name = required(&root, "name", e.name.as_ref())?;
            if name.trim().is_empty() {
                return Err(root.field("name").error("must not be empty"));
            }
            text(&root.field("name"), Some(name))?;
        }
    }
    Ok(())
}

fn required<'v, T>(
    parent: &Path<'_>,
    field: &str,
    value: Option<&'v T>,
) -> Result<&'v T, FieldError> {
    value.ok_or_else(|| parent.field(field).error("is required for this event type"))
}

fn non_negative(path: &Path<'_>, v: i64) -> Check {
    if v < 0 {
        return Err(path.error(format!("must be ≥ 0, got {v}")));
    }
    Ok(())
}

fn text(path: &Path<'_>, v: Option<&str>) -> Check {
    match v {
        Some(s) if s.len() > MAX_TEXT => {
            Err(path.error(format!("must be at most {MAX_TEXT} bytes, got {}", s.len())))
        }
        _ => Ok(()),
    }
}

fn subscription(path: &Path<'_>, s: &Subscription) -> Check {
    let items = path.field("items");
    for (i, item) in s.items.iter().enumerate() {
        let at = items.index(i);
        non_negative(&at.field("unit_amount"), item.unit_amount)?;
        non_negative(&at.field("quantity"), item.quantity)?;
        if item.interval_count < 1 {
            return Err(at
                .field("interval_count")
                .error(format!("must be ≥ 1, got {}", item.interval_count)));
        }
    }
    if let Some(d) = &s.discount {
        discount(&path.field("discount"), d)?;
    }
    let discounts = path.field("discounts");
    for (i, d) in s.discounts.iter().enumerate() {
        discount(&discounts.index(i), d)?;
    }
    Ok(())
}

fn discount(path: &Path<'_>, d: &Discount) -> Check {
    if d.percent_off.is_none() && d.amount_off.is_none() {
        return Err(path.error("must have percent_off or amount_off"));
    }
    if let Some(a) = d.amount_off {
        non_negative(&path.field("amount_off"), a)?;
    }
    Ok(())
}

fn payment(path: &Path<'_>, p: &Payment) -> Check {
    non_negative(&path.field("amount"), p.amount)?;
    if let Some(c) = &p.customer {
        text(&path.field("customer").field("name"), c.name.as_deref())?;
    }
    Ok(())
}

fn refund(path: &Path<'_>, r: &Refund) -> Check {
    if r.amount <= 0 {
        return Err(path
            .field("amount")
            .error(format!("must be > 0, got {}", r.amount)));
    }
    Ok(())
}

fn call(path: &Path<'_>, kind: EventKind, c: &Call) -> Check {
    for (field, value) in [
        ("closer", &c.closer),
        ("setter", &c.setter),
        ("source", &c.source),
        ("call_type", &c.call_type),
    ] {
        text(&path.field(field), value.as_deref())?;
    }
    if let Some(lead) = &c.lead {
        text(&path.field("lead").field("name"), lead.name.as_deref())?;
    }
    if kind == EventKind::CallBooked {
        required(path, "lead", c.lead.as_ref())?;
        required(path, "scheduled_at", c.scheduled_at.as_ref())?;
    }
    Ok(())
}

fn outcome(path: &Path<'_>, o: &CallOutcome) -> Check {
    text(&path.field("notes"), o.notes.as_deref())?;
    if let Some(cash) = o.cash_collected {
        non_negative(&path.field("cash_collected"), cash)?;
        if o.currency.is_none() {
            return Err(path
                .field("currency")
                .error("is required when cash_collected is set"));
        }
    }
    Ok(())
}
