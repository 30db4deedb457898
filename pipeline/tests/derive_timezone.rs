//! Days are dates in the tenant's timezone: movements, cash, refunds and
//! calls land on the tenant-local date.

mod derive_support;

use derive_support::{
    booked, day, event, monthly, payment_event, refund_event, settings, sub, sub_event,
};
use revstream_pipeline::derive::{ChurnSetting, Derived, derive};
use revstream_schemas::CanonicalEvent;
use serde_json::json;

/// A subscription starting, a payment, a refund and a call, all at `t`.
fn everything_at(t: &str) -> Vec<CanonicalEvent> {
    vec![
        sub_event(
            "evt_1",
            "created",
            t,
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        payment_event(
            "evt_2",
            "succeeded",
            t,
            json!({"id": "py_1", "amount": 4900, "currency": "usd", "paid_at": t}),
        ),
        refund_event("evt_3", t, "re_1", "py_1", 900),
        event(booked("evt_4", t, "call_1", "ada@example.com", t)),
    ]
}

/// Every day the derived rows carry: one movement, payment, refund and call,
/// and two daily rows (money and calls).
fn days(d: &Derived) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    all.extend(d.movements.iter().map(|m| m.day.to_string()));
    all.extend(d.payments.iter().map(|p| p.paid_day.to_string()));
    all.extend(d.refunds.iter().map(|r| r.refunded_day.to_string()));
    all.extend(
        d.calls
            .iter()
            .filter_map(|c| c.scheduled_day)
            .map(|x| x.to_string()),
    );
    all.extend(d.daily.iter().map(|r| r.day.to_string()));
    all
}

#[test]
fn new_york_puts_early_utc_hours_on_the_previous_day() {
    // 2026-03-01T03:30Z is 22:30 on Feb 28 in New York (EST, UTC−5).
    let events = everything_at("2026-03-01T03:30:00Z");
    let d = derive(
        &settings("America/New_York", ChurnSetting::AtPeriodEnd),
        &events,
    );
    assert_eq!(days(&d), vec!["2026-02-28"; 6]);
    let usd = d
        .daily
        .iter()
        .find(|r| r.currency.is_some())
        .expect("money row");
    assert_eq!(
        (usd.new_mrr, usd.cash_collected, usd.refunds),
        (4900, 4900, 900)
    );
    let calls = d
        .daily
        .iter()
        .find(|r| r.currency.is_none())
        .expect("calls row");
    assert_eq!((calls.booked_calls, calls.pending), (1, 1));

    // The same instant in UTC is March 1.
    let d = derive(&settings("UTC", ChurnSetting::AtPeriodEnd), &events);
    assert_eq!(days(&d), vec!["2026-03-01"; 6]);
}

#[test]
fn tokyo_puts_late_utc_hours_on_the_next_day() {
    // 2026-02-28T15:30Z is 00:30 on March 1 in Tokyo (UTC+9).
    let events = everything_at("2026-02-28T15:30:00Z");
    let d = derive(&settings("Asia/Tokyo", ChurnSetting::AtPeriodEnd), &events);
    assert_eq!(days(&d), vec!["2026-03-01"; 6]);
    assert_eq!(d.movements[0].day, day("2026-03-01"));

    let d = derive(&settings("UTC", ChurnSetting::AtPeriodEnd), &events);
    assert_eq!(days(&d), vec!["2026-02-28"; 6]);
}

#[test]
fn daylight_saving_time_is_applied() {
    // 2026-07-01T03:30Z is 23:30 on June 30 in New York (EDT, UTC−4), and
    // 2026-07-01T04:30Z is 00:30 on July 1.
    let s = settings("America/New_York", ChurnSetting::AtPeriodEnd);
    let d = derive(&s, &everything_at("2026-07-01T03:30:00Z"));
    assert_eq!(d.movements[0].day, day("2026-06-30"));
    let d = derive(&s, &everything_at("2026-07-01T04:30:00Z"));
    assert_eq!(d.movements[0].day, day("2026-07-01"));
}
