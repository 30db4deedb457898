//! Every canonical event type of API.md parses, and malformed ones are
//! refused with a message that names the field.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use revstream_schemas::event::{DiscountDuration, Interval, SubscriptionStatus};
use revstream_schemas::{CanonicalEvent, EventKind, ParseError};
use serde_json::{Value, json};

fn parse(v: Value) -> Result<CanonicalEvent, ParseError> {
    CanonicalEvent::from_json(v.to_string().as_bytes())
}

fn subscription_event() -> Value {
    json!({"id": "evt_1", "type": "subscription.updated", "occurred_at": "2026-01-05T10:00:00Z",
      "source": "stripe",
      "customer": {"id": "cus_1", "email": "Ada@Example.com", "name": "Ada"},
      "subscription": {"id": "sub_1", "status": "active", "currency": "usd",
        "items": [{"price_id": "pro", "unit_amount": 4900, "quantity": 1, "interval": "month", "interval_count": 1}],
        "discount": {"percent_off": 20, "duration": "forever"},
        "cancel_at_period_end": false, "current_period_end": "2026-02-05T10:00:00Z"}})
}

/// One valid example of every type, in the shapes API.md documents.
fn examples() -> Vec<Value> {
    let at = "2026-01-05T10:00:00Z";
    let mut created = subscription_event();
    created["type"] = json!("subscription.created");
    let mut canceled = subscription_event();
    canceled["type"] = json!("subscription.canceled");
    canceled["subscription"]["status"] = json!("canceled");
    let call = |t: &str| json!({"id": format!("e_{t}"), "type": t, "occurred_at": at, "call": {"id": "call_1"}});
    vec![
        json!({"id": "c1", "type": "customer.upserted", "occurred_at": at,
               "customer": {"id": "cus_1", "email": "ada@example.com"}}),
        created,
        subscription_event(),
        canceled,
        json!({"id": "p1", "type": "payment.succeeded", "occurred_at": at,
               "payment": {"id": "ch_1", "amount": 4900, "currency": "usd", "paid_at": at,
                           "customer": "cus_1", "subscription_id": "sub_1"}}),
        json!({"id": "p2", "type": "payment.failed", "occurred_at": at,
               "payment": {"id": "ch_2", "amount": 4900, "currency": "USD", "paid_at": at,
                           "customer": {"id": "cus_1", "email": "ada@example.com"}}}),
        json!({"id": "r1", "type": "refund.created", "occurred_at": at,
               "refund": {"id": "re_1", "payment_id": "ch_1", "amount": 1000, "currency": "usd", "refunded_at": at}}),
        json!({"id": "b1", "type": "call.booked", "occurred_at": at,
               "call": {"id": "call_1", "lead": {"email": "lead@example.com", "name": "Lee"},
                        "closer": "sam", "setter": "kim", "source": "youtube", "call_type": "discovery",
                        "booked_at": at, "scheduled_at": "2026-01-07T15:00:00Z"}}),
        call("call.canceled"),
        call("call.rescheduled"),
        call("call.no_show"),
        call("call.no_show_undone"),
        call("call.showed"),
        json!({"id": "o1", "type": "call.outcome", "occurred_at": at, "call": {"id": "call_1"},
               "outcome": {"showed": true, "offer_made": true, "closed": true,
                           "cash_collected": 300000, "currency": "usd", "notes": "paid in full"}}),
        json!({"id": "t1", "type": "track", "occurred_at": at, "name": "webinar.attended",
               "properties": {"webinar": "jan"}}),
        json!({"id": "i1", "type": "ignored", "occurred_at": at, "source": "stripe",
               "name": "balance.available", "raw": {"id": "evt_x"}}),
    ]
}

#[test]
fn every_type_parses() {
    let examples = examples();
    let kinds: Vec<EventKind> = examples
        .iter()
        .map(|v| parse(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}")).kind)
        .collect();
    for kind in EventKind::ALL {
        assert!(kinds.contains(&kind), "no example parses as {kind}");
    }
}

#[test]
fn the_api_example_parses_to_exact_values() {
    let e = parse(subscription_event()).unwrap();
    assert_eq!(e.id.as_str(), "evt_1");
    assert_eq!(e.kind, EventKind::SubscriptionUpdated);
    assert_eq!(e.source.as_str(), "stripe");
    assert_eq!(e.occurred_at.to_rfc3339(), "2026-01-05T10:00:00+00:00");
    let c = e.customer.as_ref().unwrap();
    assert_eq!(c.email.as_ref().unwrap().as_str(), "ada@example.com");
    let s = e.subscription.as_ref().unwrap();
    assert_eq!(s.status, SubscriptionStatus::Active);
    assert_eq!(s.currency.as_str(), "usd");
    assert_eq!(s.items[0].unit_amount, 4900);
    assert_eq!(s.items[0].interval, Interval::Month);
    let d = s.all_discounts().next().unwrap();
    assert_eq!(d.percent_off.unwrap().parts_per_million, 200_000);
    assert_eq!(d.duration, DiscountDuration::Forever);
}

#[test]
fn events_round_trip_through_the_wire_form() {
    for v in examples() {
        let e = parse(v).unwrap();
        let again = CanonicalEvent::from_json(&e.to_json()).unwrap();
        assert_eq!(again, e);
    }
}

#[test]
fn source_defaults_to_api() {
    let mut v = examples().remove(0);
    v.as_object_mut().unwrap().remove("source");
    assert_eq!(parse(v).unwrap().source.as_str(), "api");
}

/// Each case: a change to a valid event, and the message it must produce.
#[test]
fn malformed_events_name_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (
            with(
                subscription_event(),
                "/subscription/items/0/unit_amount",
                json!(-1),
            ),
            "subscription.items[0].unit_amount must be ≥ 0, got -1",
        ),
        (
            with(
                subscription_event(),
                "/subscription/items/0/unit_amount",
                json!("49"),
            ),
            "subscription.items[0].unit_amount is invalid",
        ),
        (
            with(
                subscription_event(),
                "/subscription/items/0/quantity",
                json!(-2),
            ),
            "subscription.items[0].quantity must be ≥ 0",
        ),
        (
            with(
                subscription_event(),
                "/subscription/items/0/interval_count",
                json!(0),
            ),
            "subscription.items[0].interval_count must be ≥ 1",
        ),
        (
            with(
                subscription_event(),
                "/subscription/items/0/interval",
                json!("fortnight"),
            ),
            "subscription.items[0].interval is invalid: unknown variant `fortnight`",
        ),
        (
            with(
                subscription_event(),
                "/subscription/currency",
                json!("dollars"),
            ),
            "subscription.currency must be a 3-letter ISO 4217 code",
        ),
        (
            with(subscription_event(), "/subscription/currency", json!("xyz")),
            "subscription.currency is not an ISO 4217 currency code",
        ),
        (
            with(
                subscription_event(),
                "/subscription/discount/percent_off",
                json!(120),
            ),
            "subscription.discount.percent_off must be a number from 0 to 100",
        ),
        (
            with(
                subscription_event(),
                "/subscription/discount",
                json!({"duration": "once"}),
            ),
            "subscription.discount must have percent_off or amount_off",
        ),
        (
            with(subscription_event(), "/subscription/status", json!("happy")),
            "subscription.status is invalid: unknown variant `happy`",
        ),
        (
            with(
                subscription_event(),
                "/customer/email",
                json!("not-an-email"),
            ),
            "customer.email must be an email address",
        ),
        (
            with(subscription_event(), "/occurred_at", json!("yesterday")),
            "occurred_at must be an RFC 3339 timestamp",
        ),
        (
            with(
                subscription_event(),
                "/type",
                json!("subscription.exploded"),
            ),
            "type is invalid: unknown variant `subscription.exploded`",
        ),
        (
            with(subscription_event(), "/id", json!("")),
            "id must be 1 to 255 bytes long",
        ),
        (
            with(subscription_event(), "/source", json!("Stripe!")),
            "source must be 1 to 32 lowercase letters",
        ),
        (
            with(subscription_event(), "/subscription/ammount", json!(1)),
            "subscription.ammount is not a known field",
        ),
        (
            without(subscription_event(), "subscription"),
            "subscription is required for this event type",
        ),
        (
            without(subscription_event(), "customer"),
            "customer is required for this event type",
        ),
        (
            without(subscription_event(), "occurred_at"),
            "occurred_at is required",
        ),
        (without(subscription_event(), "id"), "id is required"),
        (
            json!({"id": "x", "type": "payment.succeeded", "occurred_at": "2026-01-01T00:00:00Z",
                   "payment": {"id": "p", "amount": 100, "currency": "usd"}}),
            "payment.paid_at is required",
        ),
        (
            json!({"id": "x", "type": "refund.created", "occurred_at": "2026-01-01T00:00:00Z",
                   "refund": {"id": "r", "payment_id": "p", "amount": 0, "currency": "usd",
                              "refunded_at": "2026-01-01T00:00:00Z"}}),
            "refund.amount must be > 0, got 0",
        ),
        (
            json!({"id": "x", "type": "call.booked", "occurred_at": "2026-01-01T00:00:00Z",
                   "call": {"id": "c", "lead": {"email": "a@b.co"}}}),
            "call.scheduled_at is required for this event type",
        ),
        (
            json!({"id": "x", "type": "call.outcome", "occurred_at": "2026-01-01T00:00:00Z",
                   "call": {"id": "c"}, "outcome": {"showed": true, "cash_collected": 5}}),
            "outcome.currency is required when cash_collected is set",
        ),
        (
            json!({"id": "x", "type": "track", "occurred_at": "2026-01-01T00:00:00Z",
                   "name": "x", "payment": {"id": "p", "amount": 1, "currency": "usd",
                   "paid_at": "2026-01-01T00:00:00Z"}}),
            "payment is not allowed on track events",
        ),
    ];
    for (doc, expected) in cases {
        let err = parse(doc.clone()).expect_err(&doc.to_string()).to_string();
        assert!(
            err.starts_with(expected),
            "for {doc}\n  got:      {err}\n  expected: {expected}…"
        );
    }
}

#[test]
fn non_json_and_trailing_garbage_are_refused() {
    let err = CanonicalEvent::from_json(b"{not json").unwrap_err();
    assert!(err.to_string().starts_with(". is not valid JSON"), "{err}");
    let mut bytes = subscription_event().to_string().into_bytes();
    bytes.extend_from_slice(b" {}");
    let err = CanonicalEvent::from_json(&bytes).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    let err = CanonicalEvent::from_json(b"[1,2]").unwrap_err();
    assert_eq!(err.to_string(), ". must be a JSON object");
}

fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}"));
    match target {
        Value::Object(m) => {
            m.insert(key.to_owned(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{pointer}"),
    }
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}
