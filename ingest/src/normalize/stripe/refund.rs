//! Refunds: `charge.refunded` and `refund.created` → `refund.created`.
//!
//! Each canonical refund is one Stripe Refund with its own amount, so two
//! partial refunds of a charge are two refunds. Stripe reports a refund more
//! than once (in `refund.created`, and in every later `charge.refunded`,
//! whose `refunds` list is cumulative); the refund id is the same each time,
//! so the pipeline, keying refunds by (source, refund id), counts it once.

use revstream_schemas::event::Refund;
use revstream_schemas::{CanonicalEvent, EventKind, ObjectId};

use super::Envelope;
use super::json::Node;
use crate::normalize::Result;

/// Statuses of a refund that returned no money. `pending` ones are kept:
/// Stripe already counts them in the charge's `amount_refunded`.
const NOT_REFUNDED: [&str; 2] = ["failed", "canceled"];

/// `charge.refunded`: one refund per entry of `refunds.data[]`, the first
/// under the Stripe event id and the others suffixed with their refund id.
///
/// Since API 2022-11-15 charges no longer embed `refunds`; then the refund
/// is what this event added to `amount_refunded` (the new total minus the
/// total in `previous_attributes`), identified by the charge and the new
/// total, and dated by the event (there is no Refund object to read).
/// A tenant that also subscribes to `refund.created` on such a version gets
/// that refund under its `re_…` id as well; subscribe to one of the two.
pub(crate) fn charge_refunded(env: &Envelope<'_>) -> Result<Vec<CanonicalEvent>> {
    let ch = &env.object;
    let charge_id = ch.get("id").object_id()?;
    let refunds = ch.get("refunds");
    let mut events = Vec::new();

    if refunds.is_null() {
        let total_node = ch.get("amount_refunded");
        let total = total_node.amount()?;
        let before = env
            .previous
            .get("amount_refunded")
            .opt_amount()?
            .unwrap_or(0);
        let amount = total - before;
        if amount > 0 {
            let id = ObjectId::parse(&format!("{charge_id}:refunded:{total}"))
                .map_err(|e| ch.get("id").error(e.to_string()))?;
            let refund = Refund {
                id,
                payment_id: charge_id,
                amount,
                currency: ch.get("currency").currency()?,
                refunded_at: env.created,
            };
            events.push(refund_event(env, None, refund)?);
        }
    } else {
        refunds.object()?;
        for r in refunds.get("data").array()? {
            let Some(refund) = refund_of(&r, Some(&charge_id))? else {
                continue;
            };
            let suffix = (!events.is_empty()).then(|| refund.id.to_string());
            events.push(refund_event(env, suffix.as_deref(), refund)?);
        }
    }

    if events.is_empty() {
        return Ok(vec![env.ignored(Some(
            "no refund in this event returned money (all failed or canceled, or \
             amount_refunded did not grow)",
        ))?]);
    }
    Ok(events)
}

/// `refund.created`: the Refund object itself, against its `charge`.
pub(crate) fn refund_created(env: &Envelope<'_>) -> Result<CanonicalEvent> {
    match refund_of(&env.object, None)? {
        Some(refund) => refund_event(env, None, refund),
        None => env.ignored(Some("refund failed or was canceled")),
    }
}

/// One Refund object, or `None` when it returned no money. `charge` is the
/// charge it is embedded in, if any; otherwise its own `charge` field.
fn refund_of(r: &Node<'_>, charge: Option<&ObjectId>) -> Result<Option<Refund>> {
    r.object()?;
    if let Some(status) = r.get("status").opt_str()?
        && NOT_REFUNDED.contains(&status)
    {
        return Ok(None);
    }
    let payment_id = match charge {
        Some(id) => id.clone(),
        None => r.get("charge").expandable_id()?,
    };
    let amount_node = r.get("amount");
    let amount = amount_node.amount()?;
    if amount == 0 {
        return Err(amount_node.error("must be > 0"));
    }
    Ok(Some(Refund {
        id: r.get("id").object_id()?,
        payment_id,
        amount,
        currency: r.get("currency").currency()?,
        refunded_at: r.get("created").timestamp()?,
    }))
}

fn refund_event(
    env: &Envelope<'_>,
    suffix: Option<&str>,
    refund: Refund,
) -> Result<CanonicalEvent> {
    let mut e = env.event(suffix, EventKind::RefundCreated)?;
    e.refund = Some(refund);
    env.finish(e)
}
