//! A Whop membership → the full state of a canonical subscription.
//!
//! | Whop `status` | canonical status | why |
//! |---|---|---|
//! | `trialing` | trialing | |
//! | `active` | active | |
//! | `canceling` | active | still paid for until the period ends; `cancel_at_period_end` says the rest |
//! | `past_due` | past_due | |
//! | `unresolved` | unpaid | a failed or disputed payment Whop gave up retrying: no MRR |
//! | `drafted` | incomplete | a checkout that was never paid |
//! | `paused` | paused | |
//! | `completed`, `canceled`, `expired` | canceled | |
//! | anything else | error naming `data.status` | a status revstream cannot place should be seen, not guessed |
//!
//! A deactivation (`membership.deactivated`, v5 `went_invalid`) is always
//! `canceled`: the member lost access, whatever status text rode along.
//!
//! The plan gives one item: `renewal_price` per `billing_period` days
//! (spec/metrics.md: 30/31 → 1 month, 90–92 → 3 months, 180–184 → 6 months,
//! 365/366 → 1 year, 7 → 1 week, any other d → d days), quantity 1, price id
//! the plan id. The renewal price is what each period costs after any
//! introductory price (`initial_price` is a one-time charge and never MRR).
//! A `one_time` plan gives no item (MRR 0). The currency is the plan's
//! (`currency`, or v5's `base_currency`), else the membership's `currency`.

use revstream_schemas::event::{
    Customer, Interval, Subscription, SubscriptionItem, SubscriptionStatus,
};
use revstream_schemas::{Currency, EventKind};

use super::json::Obj;
use crate::normalize::Result;

pub(super) fn subscription(data: &Obj<'_>, kind: EventKind) -> Result<(Subscription, Customer)> {
    let id = data.id("id")?;
    let status = if kind == EventKind::SubscriptionCanceled {
        SubscriptionStatus::Canceled
    } else {
        status(data)?
    };
    let plan = data.obj("plan")?;
    let currency = match super::currency(&plan, "currency")? {
        Some(c) => c,
        None => match super::currency(&plan, "base_currency")? {
            Some(c) => c,
            None => super::currency(data, "currency")?.ok_or_else(|| {
                plan.error(
                    "currency",
                    format!(
                        "is required (or {}.base_currency, or {})",
                        plan.path(),
                        data.child("currency")
                    ),
                )
            })?,
        },
    };
    let items = plan_item(&plan, currency)?.into_iter().collect();
    let customer = super::customer(data)?.ok_or_else(|| data.error("user", "is required"))?;
    let subscription = Subscription {
        id,
        status,
        currency,
        items,
        discount: None,
        discounts: Vec::new(),
        cancel_at_period_end: data.opt_bool("cancel_at_period_end")?.unwrap_or(false),
        current_period_end: data.opt_time("renewal_period_end")?,
        canceled_at: data.opt_time("canceled_at")?,
        ended_at: None,
    };
    Ok((subscription, customer))
}

fn status(data: &Obj<'_>) -> Result<SubscriptionStatus> {
    let status = data.str("status")?;
    Ok(match status.to_ascii_lowercase().as_str() {
        "trialing" => SubscriptionStatus::Trialing,
        "active" | "canceling" => SubscriptionStatus::Active,
        "past_due" => SubscriptionStatus::PastDue,
        "unresolved" => SubscriptionStatus::Unpaid,
        "drafted" => SubscriptionStatus::Incomplete,
        "paused" => SubscriptionStatus::Paused,
        "completed" | "canceled" | "cancelled" | "expired" => SubscriptionStatus::Canceled,
        _ => {
            return Err(data.error(
                "status",
                format!("is not a known Whop membership status: {status:?}"),
            ));
        }
    })
}

/// The recurring item of a plan, or `None` for a one-time plan.
fn plan_item(plan: &Obj<'_>, currency: Currency) -> Result<Option<SubscriptionItem>> {
    match plan.opt_str("plan_type")? {
        Some("one_time") => return Ok(None),
        // An absent plan_type is a renewal plan: one-time plans always say so.
        Some("renewal") | None => {}
        Some(other) => {
            return Err(plan.error(
                "plan_type",
                format!("must be \"renewal\" or \"one_time\", got {other:?}"),
            ));
        }
    }
    let days = plan
        .opt_u64("billing_period")?
        .ok_or_else(|| plan.error("billing_period", "is required for a renewal plan"))?;
    let (interval, interval_count) = interval(days).ok_or_else(|| {
        plan.error(
            "billing_period",
            format!("must be 1 to 36500 days for a renewal plan, got {days}"),
        )
    })?;
    Ok(Some(SubscriptionItem {
        price_id: plan.opt_str("id")?.map(str::to_owned),
        unit_amount: super::amount(plan, "renewal_price", currency)?,
        quantity: 1,
        interval,
        interval_count,
        usage_type: Default::default(),
    }))
}

/// A Whop billing period in days → (interval, count), per spec/metrics.md.
/// `None` for 0 days or more than a century, which no real plan has.
pub(super) fn interval(days: u64) -> Option<(Interval, i64)> {
    Some(match days {
        30 | 31 => (Interval::Month, 1),
        90..=92 => (Interval::Month, 3),
        180..=184 => (Interval::Month, 6),
        365 | 366 => (Interval::Year, 1),
        7 => (Interval::Week, 1),
        1..=36_500 => (Interval::Day, i64::try_from(days).ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_periods_map_per_spec() {
        let cases = [
            (30, Interval::Month, 1),
            (31, Interval::Month, 1),
            (90, Interval::Month, 3),
            (91, Interval::Month, 3),
            (92, Interval::Month, 3),
            (180, Interval::Month, 6),
            (184, Interval::Month, 6),
            (365, Interval::Year, 1),
            (366, Interval::Year, 1),
            (7, Interval::Week, 1),
            (14, Interval::Day, 14),
            (45, Interval::Day, 45),
            (185, Interval::Day, 185),
            (1, Interval::Day, 1),
        ];
        for (days, unit, count) in cases {
            assert_eq!(interval(days), Some((unit, count)), "{days} days");
        }
        assert_eq!(interval(0), None);
        assert_eq!(interval(36_501), None);
    }
}
