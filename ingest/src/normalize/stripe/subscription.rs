//! `customer.subscription.*` → `subscription.created|updated|canceled` with
//! the subscription's full state.
//!
//! The pipeline computes MRR from the latest state alone, so every event
//! carries everything: status, currency, recurring items, discounts and the
//! period end. One-time prices are left out (they are never recurring
//! revenue); metered items are kept, marked metered, and never count.

use chrono::{DateTime, Utc};
use revstream_schemas::event::{
    Interval, Subscription, SubscriptionItem, SubscriptionStatus, UsageType,
};
use revstream_schemas::{CanonicalEvent, EventKind};

use super::json::Node;
use super::{Envelope, customer, discount};
use crate::normalize::Result;

pub(crate) fn changed(env: &Envelope<'_>) -> Result<CanonicalEvent> {
    let sub = &env.object;
    let id = sub.get("id").object_id()?;
    let deleted = env.kind == "customer.subscription.deleted";
    let read_status = status(&sub.get("status"))?;
    // A deleted subscription is over whatever status the payload shows
    // (Stripe sends `canceled`, but the event type is the authority).
    let status = if deleted {
        SubscriptionStatus::Canceled
    } else {
        read_status
    };
    // The canonical type follows the state, so a subscription that reaches
    // `canceled` through an `updated` event is still reported as canceled.
    let kind = if status == SubscriptionStatus::Canceled {
        EventKind::SubscriptionCanceled
    } else if env.kind == "customer.subscription.created" {
        EventKind::SubscriptionCreated
    } else {
        EventKind::SubscriptionUpdated
    };

    let currency = sub.get("currency").currency()?;
    let customer = customer::reference(&sub.get("customer"))?;

    let mut items = Vec::new();
    let mut items_period_end: Option<DateTime<Utc>> = None;
    let items_node = sub.get("items");
    items_node.object()?;
    for item in items_node.get("data").array()? {
        // API 2025-03-31+: each item has its own period; the subscription
        // renews when its last item does.
        if let Some(end) = item.get("current_period_end").opt_timestamp()? {
            items_period_end = Some(items_period_end.map_or(end, |cur| cur.max(end)));
        }
        if let Some(parsed) = item_of(&item)? {
            items.push(parsed);
        }
    }
    // Older API versions: one period on the subscription itself.
    let current_period_end = match sub.get("current_period_end").opt_timestamp()? {
        Some(end) => Some(end),
        None => items_period_end,
    };

    let discounts = discount::of_subscription(sub, currency)?;

    let subscription = Subscription {
        id,
        status,
        currency,
        items,
        discount: discounts.singular,
        discounts: discounts.plural,
        cancel_at_period_end: sub.get("cancel_at_period_end").bool_or(false)?,
        current_period_end,
        canceled_at: sub.get("canceled_at").opt_timestamp()?,
        ended_at: sub.get("ended_at").opt_timestamp()?,
    };
    let mut e = env.event(None, kind)?;
    e.customer = Some(customer);
    e.subscription = Some(subscription);
    env.finish(e)
}

/// Stripe's subscription statuses are exactly the canonical ones.
fn status(node: &Node<'_>) -> Result<SubscriptionStatus> {
    Ok(match node.str()? {
        "active" => SubscriptionStatus::Active,
        "past_due" => SubscriptionStatus::PastDue,
        "trialing" => SubscriptionStatus::Trialing,
        "incomplete" => SubscriptionStatus::Incomplete,
        "incomplete_expired" => SubscriptionStatus::IncompleteExpired,
        "unpaid" => SubscriptionStatus::Unpaid,
        "paused" => SubscriptionStatus::Paused,
        "canceled" => SubscriptionStatus::Canceled,
        other => {
            return Err(node.error(format!(
                "is not a known subscription status (active, past_due, trialing, incomplete, \
                 incomplete_expired, unpaid, paused, canceled): {other:?}"
            )));
        }
    })
}

/// One `items.data[i]`, or `None` for an item that is not recurring revenue
/// (a one-time price, or a metered price without a whole-unit amount).
fn item_of(item: &Node<'_>) -> Result<Option<SubscriptionItem>> {
    let price = item.get("price");
    price.object()?;
    let recurring = price.get("recurring");
    if recurring.is_null() {
        return Ok(None);
    }
    recurring.object()?;

    let interval_node = recurring.get("interval");
    let interval = match interval_node.str()? {
        "day" => Interval::Day,
        "week" => Interval::Week,
        "month" => Interval::Month,
        "year" => Interval::Year,
        other => {
            return Err(
                interval_node.error(format!("must be day, week, month or year, got {other:?}"))
            );
        }
    };
    let count_node = recurring.get("interval_count");
    let interval_count = count_node.i64()?;
    if interval_count < 1 {
        return Err(count_node.error(format!("must be ≥ 1, got {interval_count}")));
    }
    let usage_node = recurring.get("usage_type");
    let usage_type = match usage_node.opt_str()? {
        None | Some("licensed") => UsageType::Licensed,
        Some("metered") => UsageType::Metered,
        Some(other) => {
            return Err(usage_node.error(format!("must be licensed or metered, got {other:?}")));
        }
    };
    let metered = usage_type == UsageType::Metered;

    let Some(unit_amount) = unit_amount(&price, metered)? else {
        return Ok(None);
    };
    let quantity_node = item.get("quantity");
    let quantity = match quantity_node.opt_amount()? {
        Some(q) => q,
        // Metered items have no quantity: usage is reported separately.
        None if metered => 1,
        None => return Err(quantity_node.error("is required")),
    };

    Ok(Some(SubscriptionItem {
        price_id: price.get("id").opt_str()?.map(str::to_owned),
        unit_amount,
        quantity,
        interval,
        interval_count,
        usage_type,
    }))
}

/// The price per unit in whole minor units: `unit_amount`, or when that is
/// null the exact `unit_amount_decimal` (a decimal string in minor units).
///
/// A licensed price must have one: tiered prices (both null, tiers not in
/// webhooks) and sub-minor-unit prices cannot be turned into MRR exactly,
/// and a clear error beats a silently wrong MRR. A metered price that lacks
/// one gives `None`, because metered items never count for MRR anyway.
fn unit_amount(price: &Node<'_>, metered: bool) -> Result<Option<i64>> {
    let amount = price.get("unit_amount");
    if let Some(a) = amount.opt_amount()? {
        return Ok(Some(a));
    }
    let decimal = price.get("unit_amount_decimal");
    let Some(text) = decimal.opt_str()? else {
        if metered {
            return Ok(None);
        }
        return Err(
            amount.error("is null and so is unit_amount_decimal (tiered prices are not supported)")
        );
    };
    match whole_minor_units(text) {
        Ok(a) => Ok(Some(a)),
        Err(DecimalError::Fraction) if metered => Ok(None),
        Err(DecimalError::Fraction) => Err(decimal.error(format!(
            "is not a whole number of minor units ({text:?}): MRR cannot be exact"
        ))),
        Err(DecimalError::Malformed) => Err(decimal.error(format!(
            "must be a non-negative decimal string that fits in 64 bits, got {text:?}"
        ))),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum DecimalError {
    /// Well-formed, but not a whole number of minor units.
    Fraction,
    /// Not a non-negative decimal, or too large for an i64.
    Malformed,
}

/// `"4900"` and `"4900.000000000000"` → 4900; `"0.5"` is a fraction.
fn whole_minor_units(text: &str) -> std::result::Result<i64, DecimalError> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return Err(DecimalError::Malformed);
    }
    if frac.bytes().any(|b| b != b'0') {
        return Err(DecimalError::Fraction);
    }
    whole.parse().map_err(|_| DecimalError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_must_be_whole_minor_units() {
        assert_eq!(whole_minor_units("4900"), Ok(4900));
        assert_eq!(whole_minor_units("4900.000000000000"), Ok(4900));
        assert_eq!(whole_minor_units("0.5"), Err(DecimalError::Fraction));
        for bad in ["-5", ".5", "1e3", "", "12.3.4", "99999999999999999999"] {
            assert_eq!(
                whole_minor_units(bad),
                Err(DecimalError::Malformed),
                "{bad}"
            );
        }
    }
}
