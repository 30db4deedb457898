//! Cash, refunds and attribution (spec/metrics.md, "Cash").

mod derive_support;

use derive_support::{
    at, booked, call_event, daily, day, derive_utc, event, expected_daily, payment, payment_event,
    refund_event,
};
use revstream_pipeline::derive::PaymentStatus;
use revstream_schemas::CanonicalEvent;
use serde_json::json;

/// Stripe's `charge.succeeded` as normalized: the charge id, the money.
fn charge(occurred_at: &str) -> CanonicalEvent {
    payment_event(
        "evt_charge",
        "succeeded",
        occurred_at,
        json!({"id": "ch_1", "amount": 4900, "currency": "usd", "paid_at": "2026-01-05T10:00:00Z",
               "customer": {"id": "cus_1", "email": "ada@example.com"}}),
    )
}

/// Stripe's `invoice.paid` as normalized: the same charge id, with linkage.
fn invoice(occurred_at: &str) -> CanonicalEvent {
    payment_event(
        "evt_invoice",
        "succeeded",
        occurred_at,
        json!({"id": "ch_1", "amount": 4900, "currency": "usd", "paid_at": "2026-01-05T10:00:00Z",
               "customer": "cus_1", "subscription_id": "sub_1", "invoice_id": "in_1"}),
    )
}

#[test]
fn an_invoice_and_its_charge_are_one_payment() {
    // Whichever of the two comes later, the money counts once and the
    // invoice's linkage and the charge's email both survive.
    for (c, i) in [
        ("2026-01-05T10:00:01Z", "2026-01-05T10:00:02Z"),
        ("2026-01-05T10:00:02Z", "2026-01-05T10:00:01Z"),
    ] {
        let d = derive_utc(&[charge(c), invoice(i)]);
        assert_eq!(d.payments.len(), 1);
        let p = payment(&d, "ch_1");
        assert_eq!(
            (p.status, p.amount, p.refunded_amount),
            (PaymentStatus::Succeeded, 4900, 0)
        );
        assert_eq!(
            p.subscription_id.as_ref().map(|s| s.as_str()),
            Some("sub_1")
        );
        assert_eq!(p.invoice_id.as_ref().map(|s| s.as_str()), Some("in_1"));
        assert_eq!(p.customer_id.as_ref().map(|s| s.as_str()), Some("cus_1"));
        assert_eq!(
            p.email.as_ref().map(|e| e.as_str()),
            Some("ada@example.com")
        );
        assert_eq!(
            (p.paid_at, p.paid_day),
            (at("2026-01-05T10:00:00Z"), day("2026-01-05"))
        );
        assert_eq!(
            d.daily,
            vec![expected_daily(
                "2026-01-05",
                Some("usd"),
                &[("cash_collected", 4900), ("payments_count", 1)]
            )]
        );
    }
}

#[test]
fn partial_refunds_each_count_and_a_repeated_refund_counts_once() {
    let events = [
        payment_event(
            "evt_1",
            "succeeded",
            "2026-01-05T10:00:00Z",
            json!({"id": "py_1", "amount": 10000, "currency": "usd", "paid_at": "2026-01-05T10:00:00Z"}),
        ),
        refund_event("evt_2", "2026-01-06T10:00:00Z", "re_1", "py_1", 3000),
        refund_event("evt_3", "2026-01-07T10:00:00Z", "re_2", "py_1", 2000),
        // re_2 reported again (a `charge.refunded` and a `refund.created`).
        refund_event("evt_4", "2026-01-07T10:00:00Z", "re_2", "py_1", 2000),
    ];
    let d = derive_utc(&events);
    assert_eq!(payment(&d, "py_1").refunded_amount, 5000);
    assert_eq!(d.refunds.len(), 2);
    assert_eq!(
        d.daily,
        vec![
            expected_daily(
                "2026-01-05",
                Some("usd"),
                &[("cash_collected", 10000), ("payments_count", 1)]
            ),
            expected_daily(
                "2026-01-06",
                Some("usd"),
                &[("refunds", 3000), ("refunds_count", 1)]
            ),
            expected_daily(
                "2026-01-07",
                Some("usd"),
                &[("refunds", 2000), ("refunds_count", 1)]
            ),
        ]
    );
    let r = &d.refunds[1];
    assert_eq!(
        (r.refund_id.as_str(), r.payment_id.as_str(), r.amount),
        ("re_2", "py_1", 2000)
    );
    assert_eq!(
        (r.refunded_at, r.refunded_day),
        (at("2026-01-07T10:00:00Z"), day("2026-01-07"))
    );
}

#[test]
fn the_latest_payment_status_wins() {
    let py = |id: &str, kind: &str, t: &str| {
        payment_event(
            id,
            kind,
            t,
            json!({"id": "py_1", "amount": 4900, "currency": "usd", "paid_at": t}),
        )
    };
    // Failed, then retried successfully: cash on the day it succeeded.
    let d = derive_utc(&[
        py("evt_2", "succeeded", "2026-01-06T10:00:00Z"),
        py("evt_1", "failed", "2026-01-05T10:00:00Z"),
    ]);
    assert_eq!(payment(&d, "py_1").status, PaymentStatus::Succeeded);
    assert_eq!(daily(&d, "2026-01-06", Some("usd")).cash_collected, 4900);
    assert_eq!(d.daily.len(), 1);
    // Succeeded, then reported failed later: not cash.
    let d = derive_utc(&[
        py("evt_1", "succeeded", "2026-01-05T10:00:00Z"),
        py("evt_2", "failed", "2026-01-06T10:00:00Z"),
    ]);
    assert_eq!(payment(&d, "py_1").status, PaymentStatus::Failed);
    assert!(d.daily.is_empty(), "{:#?}", d.daily);
}

#[test]
fn cash_is_per_currency() {
    let events = [
        payment_event(
            "evt_1",
            "succeeded",
            "2026-01-05T10:00:00Z",
            json!({"id": "py_1", "amount": 4900, "currency": "usd", "paid_at": "2026-01-05T10:00:00Z"}),
        ),
        payment_event(
            "evt_2",
            "succeeded",
            "2026-01-05T11:00:00Z",
            json!({"id": "py_2", "amount": 5000, "currency": "jpy", "paid_at": "2026-01-05T11:00:00Z"}),
        ),
        payment_event(
            "evt_3",
            "succeeded",
            "2026-01-05T12:00:00Z",
            json!({"id": "py_3", "amount": 100, "currency": "usd", "paid_at": "2026-01-05T12:00:00Z"}),
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        d.daily,
        vec![
            expected_daily(
                "2026-01-05",
                Some("jpy"),
                &[("cash_collected", 5000), ("payments_count", 1)]
            ),
            expected_daily(
                "2026-01-05",
                Some("usd"),
                &[("cash_collected", 5000), ("payments_count", 2)]
            ),
        ]
    );
}

fn closer_booking(
    event_id: &str,
    call_id: &str,
    scheduled_at: &str,
    closer: &str,
) -> CanonicalEvent {
    let mut b = booked(
        event_id,
        "2026-01-01T00:00:00Z",
        call_id,
        "Ada@Example.com",
        scheduled_at,
    );
    b["call"]["closer"] = json!(closer);
    b["call"]["setter"] = json!(format!("setter-of-{closer}"));
    b["call"]["source"] = json!("youtube");
    event(b)
}

fn ada_pays(paid_at: &str) -> CanonicalEvent {
    payment_event(
        "evt_pay",
        "succeeded",
        paid_at,
        json!({"id": "py_1", "amount": 300000, "currency": "usd", "paid_at": paid_at,
               "customer": {"id": "cus_1", "email": "ada@example.com"}}),
    )
}

/// (call id, closer, setter, source) of payment py_1.
fn attribution(events: &[CanonicalEvent]) -> Option<(String, String, String, String)> {
    let d = derive_utc(events);
    let p = payment(&d, "py_1");
    let call = p.call_id.as_ref()?;
    Some((
        call.to_string(),
        p.closer.clone().unwrap_or_default(),
        p.setter.clone().unwrap_or_default(),
        p.lead_source.clone().unwrap_or_default(),
    ))
}

#[test]
fn a_payment_belongs_to_the_latest_call_before_it() {
    let mut events = vec![
        closer_booking("evt_1", "call_1", "2026-01-05T16:00:00Z", "cora"),
        // After the payment: not eligible.
        closer_booking("evt_2", "call_3", "2026-01-12T16:00:00Z", "finn"),
        ada_pays("2026-01-10T10:00:00Z"),
    ];
    assert_eq!(
        attribution(&events),
        Some((
            "call_1".into(),
            "cora".into(),
            "setter-of-cora".into(),
            "youtube".into()
        ))
    );

    // A call that arrives late, scheduled between call_1 and the payment,
    // restates the attribution.
    events.push(closer_booking(
        "evt_late",
        "call_2",
        "2026-01-08T16:00:00Z",
        "gil",
    ));
    assert_eq!(
        attribution(&events).map(|a| (a.0, a.1)),
        Some(("call_2".into(), "gil".into()))
    );

    // … unless it was canceled: a canceled call did not take place.
    events.push(call_event(
        "evt_cancel",
        "canceled",
        "2026-01-07T00:00:00Z",
        "call_2",
    ));
    assert_eq!(attribution(&events).map(|a| a.0), Some("call_1".into()));
}

#[test]
fn a_call_at_the_payment_instant_is_eligible() {
    let events = [
        closer_booking("evt_1", "call_1", "2026-01-10T10:00:00Z", "cora"),
        ada_pays("2026-01-10T10:00:00Z"),
    ];
    assert_eq!(attribution(&events).map(|a| a.0), Some("call_1".into()));
}

#[test]
fn a_payment_without_email_uses_its_customers_email() {
    let customer = event(json!({
        "id": "evt_c", "type": "customer.upserted", "occurred_at": "2026-01-01T00:00:00Z",
        "source": "stripe", "customer": {"id": "cus_1", "email": "ADA@example.com"},
    }));
    let pay = payment_event(
        "evt_pay",
        "succeeded",
        "2026-01-10T10:00:00Z",
        json!({"id": "py_1", "amount": 300000, "currency": "usd", "paid_at": "2026-01-10T10:00:00Z",
               "customer": "cus_1"}),
    );
    let booking = closer_booking("evt_1", "call_1", "2026-01-05T16:00:00Z", "cora");

    let d = derive_utc(&[customer.clone(), pay.clone(), booking.clone()]);
    assert_eq!(
        payment(&d, "py_1").email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(
        attribution(&[customer, pay.clone(), booking.clone()]).map(|a| a.0),
        Some("call_1".into())
    );
    // Without a known email there is nothing to attribute by.
    assert_eq!(attribution(&[pay, booking]), None);
}

#[test]
fn another_leads_call_is_not_attributed() {
    let mut b = booked(
        "evt_1",
        "2026-01-01T00:00:00Z",
        "call_1",
        "bob@example.com",
        "2026-01-05T16:00:00Z",
    );
    b["call"]["closer"] = json!("cora");
    assert_eq!(
        attribution(&[event(b), ada_pays("2026-01-10T10:00:00Z")]),
        None
    );
}
