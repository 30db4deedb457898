//! Subscription discounts across Stripe API versions.
//!
//! - Older versions: a singular `discount` object with an expanded
//!   `coupon{percent_off, amount_off, currency, duration}`.
//! - Newer versions: `discounts[]`, which in webhooks is a list of discount
//!   id strings (`di_…`), not expanded. A bare id says nothing about the
//!   amount, so it is skipped here; the sync pull requests
//!   `expand[]=discounts` and restates the subscription with the coupons.
//!   Expanded entries are read: `{coupon: {…}}` (before 2025-09-30) or
//!   `{source: {type: "coupon", coupon: {…}}}` (2025-09-30 and later).
//!
//! Versions between the two send both fields, with the singular one
//! repeated in the list; an expanded list entry with the singular
//! discount's id is skipped so that it is not applied twice.

use revstream_schemas::Currency;
use revstream_schemas::event::{Discount, DiscountDuration, Percent};
use serde_json::Value;

use super::json::Node;
use crate::normalize::Result;

/// The discounts of one subscription, kept in the field Stripe used.
#[derive(Debug, Default)]
pub(crate) struct Discounts {
    pub(crate) singular: Option<Discount>,
    pub(crate) plural: Vec<Discount>,
}

pub(crate) fn of_subscription(sub: &Node<'_>, currency: Currency) -> Result<Discounts> {
    let mut out = Discounts::default();

    let single = sub.get("discount");
    let mut single_id = None;
    if !single.is_null() {
        single.object()?;
        single_id = single.get("id").opt_str()?;
        if let Some(coupon) = coupon_of(&single)? {
            out.singular = Some(from_coupon(&coupon, currency)?);
        }
    }

    for entry in sub.get("discounts").opt_array()? {
        match entry.present() {
            // Not expanded: see the module docs.
            Some(Value::String(_)) => continue,
            Some(Value::Object(_)) => {}
            _ => {
                return Err(entry.error("must be a discount id or a discount object"));
            }
        }
        let id = entry.get("id").opt_str()?;
        if id.is_some() && id == single_id {
            continue;
        }
        if let Some(coupon) = coupon_of(&entry)? {
            out.plural.push(from_coupon(&coupon, currency)?);
        }
    }
    Ok(out)
}

/// The expanded coupon of a Discount object, wherever this API version
/// puts it; `None` when it is only an id.
fn coupon_of<'a>(discount: &Node<'a>) -> Result<Option<Node<'a>>> {
    for coupon in [discount.get("coupon"), discount.get("source").get("coupon")] {
        match coupon.present() {
            Some(Value::Object(_)) => return Ok(Some(coupon)),
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(coupon.error("must be a coupon id or a coupon object")),
        }
    }
    Ok(None)
}

/// A Coupon → a canonical discount in the subscription's currency.
fn from_coupon(coupon: &Node<'_>, currency: Currency) -> Result<Discount> {
    let percent_node = coupon.get("percent_off");
    let percent_off = match percent_node.opt_number()? {
        None => None,
        // Percent's own parser keeps it exact (12.5 → 125_000 ppm).
        Some(n) => Some(
            serde_json::from_value::<Percent>(Value::Number(n.clone()))
                .map_err(|e| percent_node.error(e.to_string()))?,
        ),
    };

    let amount_node = coupon.get("amount_off");
    let amount_off = match amount_node.opt_amount()? {
        None => None,
        Some(amount) => Some(amount_in(coupon, amount, currency)?),
    };

    if percent_off.is_none() && amount_off.is_none() {
        return Err(coupon.error("has neither percent_off nor amount_off"));
    }

    let duration_node = coupon.get("duration");
    let duration = match duration_node.str()? {
        "once" => DiscountDuration::Once,
        "repeating" => DiscountDuration::Repeating,
        "forever" => DiscountDuration::Forever,
        other => {
            return Err(
                duration_node.error(format!("must be once, repeating or forever, got {other:?}"))
            );
        }
    };

    Ok(Discount {
        percent_off,
        amount_off,
        duration,
    })
}

/// A fixed-amount coupon's amount in the subscription's currency: its own
/// `amount_off` when the currencies match, else the multi-currency
/// `currency_options.<cur>.amount_off`. Anything else would subtract one
/// currency from another, so it is an error.
fn amount_in(coupon: &Node<'_>, amount: i64, currency: Currency) -> Result<i64> {
    let coupon_currency = coupon.get("currency").opt_currency()?;
    if coupon_currency.is_none_or(|c| c == currency) {
        return Ok(amount);
    }
    let option = coupon
        .get("currency_options")
        .get(currency.as_str())
        .get("amount_off");
    match option.opt_amount()? {
        Some(a) => Ok(a),
        None => Err(coupon.get("currency").error(format!(
            "is {} but the subscription bills in {currency} and the coupon has no \
             currency_options for it",
            coupon_currency.map_or_else(String::new, |c| c.to_string()),
        ))),
    }
}
