//! A subscription's amount per billing period and its normalized monthly
//! amount (spec/metrics.md, "Subscriptions and MRR").
//!
//! ```text
//! licensed items ─▶ Σ unit_amount × quantity × months(interval, n)   (exact rational / month)
//!                ─▶ × Π (1 − percent_off)          recurring percent discounts, compounded
//!                ─▶ − Σ amount_off × months(primary) recurring fixed discounts, per primary period
//!                ─▶ floor at 0 ─▶ round once, half to even ─▶ monthly amount
//! ```
//!
//! `months(interval, n)` is the number of months one billing period lasts,
//! inverted: month → 1/n, year → 1/(12n), week → 52/(12n), day → 365/(12n).
//! The primary interval is that of the first licensed item; with a single
//! interval (the usual case) the result is exactly the spec's "billing amount
//! minus discounts, normalized", and mixed intervals stay exact too.

use revstream_schemas::event::{
    DiscountDuration, Interval, Percent, Subscription, SubscriptionItem, UsageType,
};

use super::ratio::Ratio;

/// What a subscription's price list is worth, whatever its status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Amounts {
    /// Discounted amount per billing period of `interval` (minor units).
    pub(crate) billing_amount: i64,
    /// Discounted amount normalized to one month (minor units).
    pub(crate) monthly: i64,
    /// The primary billing interval and count: the first licensed item's.
    pub(crate) interval: Option<(Interval, i64)>,
}

/// The subscription's amounts; `None` when they cannot be computed (an
/// `interval_count` below 1 or amounts beyond `i64` minor units, which a
/// validated event never has).
pub(crate) fn amounts(sub: &Subscription) -> Option<Amounts> {
    let licensed: Vec<&SubscriptionItem> = sub
        .items
        .iter()
        .filter(|i| i.usage_type == UsageType::Licensed)
        .collect();
    let Some(first) = licensed.first() else {
        return Some(Amounts::default());
    };
    let primary = months_factor(first.interval, first.interval_count)?;

    let mut monthly = Ratio::ZERO;
    for item in &licensed {
        if item.unit_amount < 0 || item.quantity < 0 {
            return None;
        }
        let per_period = i128::from(item.unit_amount).checked_mul(i128::from(item.quantity))?;
        let factor = months_factor(item.interval, item.interval_count)?;
        monthly = monthly.checked_add(Ratio::integer(per_period).checked_mul(factor)?)?;
    }

    let recurring = sub
        .all_discounts()
        .filter(|d| d.duration != DiscountDuration::Once);
    let mut fixed_per_period: i128 = 0;
    for discount in recurring {
        if let Some(p) = discount.percent_off {
            monthly = monthly.checked_mul(remaining_share(p)?)?;
        }
        if let Some(a) = discount.amount_off {
            fixed_per_period = fixed_per_period.checked_add(i128::from(a.max(0)))?;
        }
    }
    monthly = monthly.checked_sub(Ratio::integer(fixed_per_period).checked_mul(primary)?)?;
    if monthly.is_negative() {
        monthly = Ratio::ZERO;
    }

    let billing = monthly.checked_div(primary)?;
    Some(Amounts {
        billing_amount: i64::try_from(billing.round_half_even()).ok()?,
        monthly: i64::try_from(monthly.round_half_even()).ok()?,
        interval: Some((first.interval, first.interval_count)),
    })
}

/// Billing periods per month, as an exact fraction.
fn months_factor(interval: Interval, count: i64) -> Option<Ratio> {
    if count < 1 {
        return None;
    }
    let n = i128::from(count);
    match interval {
        Interval::Month => Ratio::new(1, n),
        Interval::Year => Ratio::new(1, n.checked_mul(12)?),
        Interval::Week => Ratio::new(52, n.checked_mul(12)?),
        Interval::Day => Ratio::new(365, n.checked_mul(12)?),
    }
}

/// 1 − p, with p clamped to [0, 100 %].
fn remaining_share(p: Percent) -> Option<Ratio> {
    let hundred = i128::from(Percent::HUNDRED);
    let off = i128::from(p.parts_per_million).min(hundred);
    Ratio::new(hundred - off, hundred)
}
