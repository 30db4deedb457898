//! The sections of a canonical event: who the customer is, the full state
//! of a subscription, a payment, a refund, a sales call and its outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::timestamp;
use crate::ids::{Email, ObjectId};
use crate::money::Currency;

/// A customer as the source knows it. In a `payment` a bare id string is
/// accepted too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerObject {
    id: ObjectId,
    #[serde(default)]
    email: Option<Email>,
    #[serde(default)]
    name: Option<String>,
}

impl<'de> Deserialize<'de> for Customer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CustomerVisitor;

        impl<'de> serde::de::Visitor<'de> for CustomerVisitor {
            type Value = Customer;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a customer id string or an object {\"id\", \"email\"?, \"name\"?}")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Customer, E> {
                let id = ObjectId::parse(s).map_err(E::custom)?;
                Ok(Customer {
                    id,
                    email: None,
                    name: None,
                })
            }

            // Delegating keeps serde_path_to_error's view of the map, so a bad
            // email is reported as `customer.email`, not `customer`.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Customer, A::Error> {
                let c =
                    CustomerObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Customer {
                    id: c.id,
                    email: c.email,
                    name: c.name,
                })
            }
        }

        d.deserialize_any(CustomerVisitor)
    }
}

/// Provider subscription statuses, folded to the set the metrics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    PastDue,
    Trialing,
    Incomplete,
    IncompleteExpired,
    Unpaid,
    Paused,
    Canceled,
}

impl SubscriptionStatus {
    /// Whether a subscription in this status contributes MRR (spec/metrics.md).
    pub fn counts_for_mrr(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Canceled => "canceled",
        }
    }
}

/// The full state of a subscription at `occurred_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub id: ObjectId,
    pub status: SubscriptionStatus,
    pub currency: Currency,
    #[serde(default)]
    pub items: Vec<SubscriptionItem>,
    /// One discount (the `API.md` form) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Discount>,
    /// … or several (Stripe's `discounts[]`); both apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<Discount>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(
        default,
        with = "timestamp::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_period_end: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Every discount on the subscription, whichever field carried it.
    pub fn all_discounts(&self) -> impl Iterator<Item = &Discount> {
        self.discount.iter().chain(self.discounts.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// Licensed prices are billed per seat; metered ones never count for MRR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageType {
    #[default]
    Licensed,
    Metered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    /// Minor units per billing period per unit.
    pub unit_amount: i64,
    #[serde(default = "one")]
    pub quantity: i64,
    pub interval: Interval,
    #[serde(default = "one")]
    pub interval_count: i64,
    #[serde(default)]
    pub usage_type: UsageType,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountDuration {
    Once,
    Repeating,
    Forever,
}

/// A percentage held exactly, in millionths of the whole (20% = 200_000),
/// so MRR arithmetic stays in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent {
    pub parts_per_million: u32,
}

impl Percent {
    pub const HUNDRED: u32 = 1_000_000;

    /// Parses a percentage with at most four decimals ("12.5" → 125_000).
    pub fn from_decimal(decimal: &str) -> Result<Self, String> {
        let problem =
            || format!("must be a number from 0 to 100 with at most 4 decimals, got {decimal}");
        let (whole, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
        let frac = frac.trim_end_matches('0');
        if whole.is_empty()
            || frac.len() > 4
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(problem());
        }
        let whole: u64 = whole.parse().map_err(|_| problem())?;
        let mut frac_ppm: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_ppm += u64::from(b - b'0') * 10u64.pow(3 - i as u32);
        }
        let ppm = whole
            .checked_mul(10_000)
            .and_then(|w| w.checked_add(frac_ppm))
            .filter(|&p| p <= u64::from(Self::HUNDRED))
            .ok_or_else(problem)?;
        Ok(Percent {
            parts_per_million: ppm as u32,
        })
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = f64::from(self.parts_per_million) / 10_000.0;
        s.serialize_f64(value)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let text = if let Some(f) = n.as_f64().filter(|_| !n.is_i64() && !n.is_u64()) {
            f.to_string()
        } else {
            n.to_string()
        };
        Percent::from_decimal(&text).map_err(serde::de::Error::custom)
    }
}

/// A recurring or one-time discount: a percentage and/or a fixed amount in
/// minor units of the subscription's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_off: Option<Percent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<i64>,
    pub duration: DiscountDuration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub id: ObjectId,
    /// Minor units.
    pub amount: i64,
    pub currency: Currency,
    #[serde(with = "timestamp::required")]
    pub paid_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<ObjectId>,
    /// The provider's invoice, when the payment settles one (linkage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<ObjectId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    pub id: ObjectId,
    pub payment_id: ObjectId,
    /// Minor units refunded by this refund (a partial refund is its own amount).
    pub amount: i64,
    pub currency: Currency,
    #[serde(with = "timestamp::required")]
    pub refunded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lead {
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A sales call. `call.booked` carries the booking attributes; the other
/// call events name the call by `id` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    pub id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Lead>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setter: Option<String>,
    /// Marketing source of the lead (utm_source, a funnel name, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_type: Option<String>,
    #[serde(
        default,
        with = "timestamp::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub booked_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The call this booking replaces, when it is a reschedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescheduled_from: Option<ObjectId>,
}

/// The post-call form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallOutcome {
    pub showed: bool,
    #[serde(default)]
    pub offer_made: bool,
    #[serde(default)]
    pub closed: bool,
    /// Minor units collected on the call, in `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_collected: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_are_exact() {
        assert_eq!(
            Percent::from_decimal("20").unwrap().parts_per_million,
            200_000
        );
        assert_eq!(
            Percent::from_decimal("12.5").unwrap().parts_per_million,
            125_000
        );
        assert_eq!(
            Percent::from_decimal("33.3333").unwrap().parts_per_million,
            333_333
        );
        assert_eq!(
            Percent::from_decimal("100").unwrap().parts_per_million,
            1_000_000
        );
        assert!(Percent::from_decimal("100.01").is_err());
        assert!(Percent::from_decimal("-5").is_err());
        assert!(Percent::from_decimal("1.23456").is_err());
        let p: Percent = serde_json::from_str("12.5").unwrap();
        assert_eq!(p.parts_per_million, 125_000);
        let p: Percent = serde_json::from_str("20").unwrap();
        assert_eq!(p.parts_per_million, 200_000);
    }

    #[test]
    fn customers_accept_an_id_or_an_object() {
        let c: Customer = serde_json::from_str("\"cus_1\"").unwrap();
        assert_eq!(c.id.as_str(), "cus_1");
        let c: Customer =
            serde_json::from_str(r#"{"id":"cus_1","email":" Ada@Example.com"}"#).unwrap();
        assert_eq!(c.email.unwrap().as_str(), "ada@example.com");
        let err = serde_json::from_str::<Customer>(r#"{"id":"cus_1","email":"nope"}"#).unwrap_err();
        assert!(err.to_string().contains("email address"), "{err}");
        assert!(serde_json::from_str::<Customer>("42").is_err());
    }
}
