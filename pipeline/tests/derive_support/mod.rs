//! Builders shared by the `derive_*` tests: canonical events written as the
//! JSON of `API.md` and validated by the real parser, so every test event is
//! one that ingest could have accepted.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use revstream_pipeline::derive::{
    CallRow, ChurnSetting, DailyRow, Derived, PaymentRow, SubscriptionRow, TenantSettings, derive,
};
use revstream_schemas::CanonicalEvent;
use serde_json::{Value, json};

/// Parses and validates one canonical event.
pub(crate) fn event(v: Value) -> CanonicalEvent {
    match CanonicalEvent::from_value(v.clone()) {
        Ok(e) => e,
        Err(err) => panic!("invalid test event {v}: {err}"),
    }
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339 test timestamp")
        .with_timezone(&Utc)
}

pub(crate) fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("YYYY-MM-DD test date")
}

pub(crate) fn settings(timezone: &str, churn: ChurnSetting) -> TenantSettings {
    TenantSettings {
        timezone: timezone.parse().expect("IANA timezone"),
        churn,
    }
}

/// UTC, churn at period end.
pub(crate) fn utc() -> TenantSettings {
    TenantSettings::default()
}

pub(crate) fn derive_utc(events: &[CanonicalEvent]) -> Derived {
    derive(&utc(), events)
}

// ---- subscriptions -------------------------------------------------------

/// A licensed item billed every `count` `interval`s.
pub(crate) fn item(unit_amount: i64, interval: &str, count: i64) -> Value {
    json!({"unit_amount": unit_amount, "interval": interval, "interval_count": count})
}

pub(crate) fn monthly(unit_amount: i64) -> Value {
    item(unit_amount, "month", 1)
}

/// The `subscription` section: USD, the given status and items.
pub(crate) fn sub(id: &str, status: &str, items: Vec<Value>) -> Value {
    json!({"id": id, "status": status, "currency": "usd", "items": items})
}

/// A subscription event from Stripe for customer `customer`.
pub(crate) fn sub_event(
    event_id: &str,
    kind: &str,
    occurred_at: &str,
    customer: &str,
    subscription: Value,
) -> CanonicalEvent {
    sub_event_from(
        "stripe",
        event_id,
        kind,
        occurred_at,
        customer,
        subscription,
    )
}

pub(crate) fn sub_event_from(
    source: &str,
    event_id: &str,
    kind: &str,
    occurred_at: &str,
    customer: &str,
    subscription: Value,
) -> CanonicalEvent {
    event(json!({
        "id": event_id,
        "type": format!("subscription.{kind}"),
        "occurred_at": occurred_at,
        "source": source,
        "customer": {"id": customer},
        "subscription": subscription,
    }))
}

/// The row of the only subscription of a one-event history.
pub(crate) fn only_subscription(subscription: Value) -> SubscriptionRow {
    let d = derive_utc(&[sub_event(
        "evt_1",
        "created",
        "2026-01-05T10:00:00Z",
        "cus_1",
        subscription,
    )]);
    assert_eq!(d.subscriptions.len(), 1);
    d.subscriptions
        .into_iter()
        .next()
        .expect("one subscription")
}

pub(crate) fn subscription<'a>(d: &'a Derived, id: &str) -> &'a SubscriptionRow {
    d.subscriptions
        .iter()
        .find(|s| s.subscription_id.as_str() == id)
        .unwrap_or_else(|| panic!("no subscription {id} in {:#?}", d.subscriptions))
}

// ---- calls ---------------------------------------------------------------

/// A `call.booked` event from Calendly (extend the JSON with `.with(…)`).
pub(crate) fn booked(
    event_id: &str,
    occurred_at: &str,
    call_id: &str,
    email: &str,
    scheduled_at: &str,
) -> Value {
    json!({
        "id": event_id,
        "type": "call.booked",
        "occurred_at": occurred_at,
        "source": "calendly",
        "call": {
            "id": call_id,
            "lead": {"email": email},
            "scheduled_at": scheduled_at,
        },
    })
}

/// `call.canceled`, `call.rescheduled`, `call.no_show`, … naming the call by id.
pub(crate) fn call_event(
    event_id: &str,
    kind: &str,
    occurred_at: &str,
    call_id: &str,
) -> CanonicalEvent {
    event(json!({
        "id": event_id,
        "type": format!("call.{kind}"),
        "occurred_at": occurred_at,
        "source": "calendly",
        "call": {"id": call_id},
    }))
}

/// The post-call form.
pub(crate) fn outcome(
    event_id: &str,
    occurred_at: &str,
    call_id: &str,
    outcome: Value,
) -> CanonicalEvent {
    event(json!({
        "id": event_id,
        "type": "call.outcome",
        "occurred_at": occurred_at,
        "source": "api",
        "call": {"id": call_id},
        "outcome": outcome,
    }))
}

pub(crate) fn call<'a>(d: &'a Derived, id: &str) -> &'a CallRow {
    d.calls
        .iter()
        .find(|c| c.call_id.as_str() == id)
        .unwrap_or_else(|| panic!("no call {id} in {:#?}", d.calls))
}

// ---- payments ------------------------------------------------------------

/// A Stripe payment event (`succeeded` or `failed`) with the given section.
pub(crate) fn payment_event(
    event_id: &str,
    kind: &str,
    occurred_at: &str,
    payment: Value,
) -> CanonicalEvent {
    event(json!({
        "id": event_id,
        "type": format!("payment.{kind}"),
        "occurred_at": occurred_at,
        "source": "stripe",
        "payment": payment,
    }))
}

pub(crate) fn refund_event(
    event_id: &str,
    occurred_at: &str,
    refund_id: &str,
    payment_id: &str,
    amount: i64,
) -> CanonicalEvent {
    event(json!({
        "id": event_id,
        "type": "refund.created",
        "occurred_at": occurred_at,
        "source": "stripe",
        "refund": {
            "id": refund_id,
            "payment_id": payment_id,
            "amount": amount,
            "currency": "usd",
            "refunded_at": occurred_at,
        },
    }))
}

pub(crate) fn payment<'a>(d: &'a Derived, id: &str) -> &'a PaymentRow {
    d.payments
        .iter()
        .find(|p| p.payment_id.as_str() == id)
        .unwrap_or_else(|| panic!("no payment {id} in {:#?}", d.payments))
}

// ---- metrics_daily -------------------------------------------------------

/// The daily row of `day` and `currency` (`None`: the calls row).
pub(crate) fn daily<'a>(d: &'a Derived, day_: &str, currency: Option<&str>) -> &'a DailyRow {
    d.daily
        .iter()
        .find(|r| r.day == day(day_) && r.currency.map(|c| c.to_string()).as_deref() == currency)
        .unwrap_or_else(|| panic!("no daily row {day_} {currency:?} in {:#?}", d.daily))
}

/// A daily row with only the named counters set.
pub(crate) fn expected_daily(
    day_: &str,
    currency: Option<&str>,
    counters: &[(&str, i64)],
) -> DailyRow {
    let mut row = DailyRow {
        day: day(day_),
        currency: currency.map(|c| c.parse().expect("currency")),
        ..DailyRow::default()
    };
    for (name, value) in counters {
        let slot = match *name {
            "new_mrr" => &mut row.new_mrr,
            "expansion_mrr" => &mut row.expansion_mrr,
            "contraction_mrr" => &mut row.contraction_mrr,
            "churned_mrr" => &mut row.churned_mrr,
            "reactivation_mrr" => &mut row.reactivation_mrr,
            "new_customers" => &mut row.new_customers,
            "churned_customers" => &mut row.churned_customers,
            "reactivated_customers" => &mut row.reactivated_customers,
            "cash_collected" => &mut row.cash_collected,
            "refunds" => &mut row.refunds,
            "payments_count" => &mut row.payments_count,
            "refunds_count" => &mut row.refunds_count,
            "booked_calls" => &mut row.booked_calls,
            "showed" => &mut row.showed,
            "no_shows" => &mut row.no_shows,
            "pending" => &mut row.pending,
            "offers" => &mut row.offers,
            "closed" => &mut row.closed,
            "canceled_calls" => &mut row.canceled_calls,
            "rescheduled_calls" => &mut row.rescheduled_calls,
            other => panic!("unknown counter {other}"),
        };
        *slot = *value;
    }
    row
}
