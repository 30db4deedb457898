//! Sales calls (spec/metrics.md, "Sales calls") and the call counters of
//! `metrics_daily`.

mod derive_support;

use derive_support::{
    at, booked, call, call_event, daily, day, derive_utc, event, expected_daily, outcome,
};
use revstream_pipeline::derive::{Attendance, CallStatus};
use serde_json::json;

#[test]
fn a_booking_sets_the_booking_attributes() {
    let mut b = booked(
        "evt_1",
        "2026-01-02T15:00:00Z",
        "call_1",
        " Ada@Example.com ",
        "2026-01-05T16:00:00Z",
    );
    b["call"]["lead"]["name"] = json!("Ada");
    b["call"]["closer"] = json!("cora");
    b["call"]["setter"] = json!("sam");
    b["call"]["source"] = json!("youtube");
    b["call"]["call_type"] = json!("Discovery");
    b["call"]["booked_at"] = json!("2026-01-02T14:59:00Z");
    let d = derive_utc(&[event(b)]);
    let c = call(&d, "call_1");
    assert_eq!(
        (c.status, c.attendance),
        (CallStatus::Scheduled, Attendance::Unknown)
    );
    assert_eq!((c.offer_made, c.closed), (false, false));
    assert_eq!(c.booked_at, Some(at("2026-01-02T14:59:00Z")));
    assert_eq!(c.scheduled_at, Some(at("2026-01-05T16:00:00Z")));
    assert_eq!(c.scheduled_day, Some(day("2026-01-05")));
    assert_eq!(
        c.lead_email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(c.lead_name.as_deref(), Some("Ada"));
    assert_eq!(c.closer.as_deref(), Some("cora"));
    assert_eq!(c.setter.as_deref(), Some("sam"));
    assert_eq!(c.lead_source.as_deref(), Some("youtube"));
    assert_eq!(c.call_type.as_deref(), Some("Discovery"));
    assert_eq!(c.source.as_str(), "calendly");
    assert_eq!(c.updated_at, at("2026-01-02T15:00:00Z"));
    assert_eq!(
        d.daily,
        vec![
            expected_daily("2026-01-02", None, &[("booked_calls", 1)]),
            expected_daily("2026-01-05", None, &[("pending", 1)]),
        ]
    );
}

#[test]
fn booked_at_defaults_to_the_booking_event_time() {
    let d = derive_utc(&[event(booked(
        "evt_1",
        "2026-01-02T15:00:00Z",
        "call_1",
        "ada@example.com",
        "2026-01-05T16:00:00Z",
    ))]);
    assert_eq!(
        call(&d, "call_1").booked_at,
        Some(at("2026-01-02T15:00:00Z"))
    );
}

#[test]
fn a_calendly_reschedule_marks_the_old_call_and_books_the_new_one() {
    let mut new = booked(
        "evt_3",
        "2026-01-03T10:00:01Z",
        "call_2",
        "ada@example.com",
        "2026-01-07T16:00:00Z",
    );
    new["call"]["rescheduled_from"] = json!("call_1");
    let events = [
        event(booked(
            "evt_1",
            "2026-01-02T10:00:00Z",
            "call_1",
            "ada@example.com",
            "2026-01-05T16:00:00Z",
        )),
        call_event("evt_2", "rescheduled", "2026-01-03T10:00:00Z", "call_1"),
        event(new),
    ];
    let d = derive_utc(&events);
    assert_eq!(call(&d, "call_1").status, CallStatus::Rescheduled);
    assert_eq!(call(&d, "call_2").status, CallStatus::Scheduled);
    assert_eq!(
        call(&d, "call_2")
            .rescheduled_from
            .as_ref()
            .map(|c| c.as_str()),
        Some("call_1")
    );
    assert_eq!(
        d.daily,
        vec![
            expected_daily("2026-01-02", None, &[("booked_calls", 1)]),
            expected_daily("2026-01-03", None, &[("booked_calls", 1)]),
            // The old call is counted on its own scheduled day.
            expected_daily("2026-01-05", None, &[("rescheduled_calls", 1)]),
            expected_daily("2026-01-07", None, &[("pending", 1)]),
        ]
    );
}

#[test]
fn rescheduled_from_alone_marks_the_old_call() {
    let mut new = booked(
        "evt_2",
        "2026-01-03T10:00:00Z",
        "call_2",
        "ada@example.com",
        "2026-01-07T16:00:00Z",
    );
    new["call"]["rescheduled_from"] = json!("call_1");
    let events = [
        event(booked(
            "evt_1",
            "2026-01-02T10:00:00Z",
            "call_1",
            "ada@example.com",
            "2026-01-05T16:00:00Z",
        )),
        event(new),
    ];
    let d = derive_utc(&events);
    let old = call(&d, "call_1");
    assert_eq!(old.status, CallStatus::Rescheduled);
    assert_eq!(old.updated_at, at("2026-01-03T10:00:00Z"));
    assert_eq!(daily(&d, "2026-01-05", None).rescheduled_calls, 1);
    assert_eq!(daily(&d, "2026-01-05", None).pending, 0);
    // Delivered before the old booking, the new one still marks it.
    let reversed: Vec<_> = events.iter().rev().cloned().collect();
    assert_eq!(derive_utc(&reversed), d);
}

#[test]
fn a_canceled_call_counts_only_as_canceled() {
    let events = [
        event(booked(
            "evt_1",
            "2026-01-02T10:00:00Z",
            "call_1",
            "ada@example.com",
            "2026-01-05T16:00:00Z",
        )),
        call_event("evt_2", "canceled", "2026-01-04T10:00:00Z", "call_1"),
    ];
    let d = derive_utc(&events);
    assert_eq!(call(&d, "call_1").status, CallStatus::Canceled);
    assert_eq!(
        *daily(&d, "2026-01-05", None),
        expected_daily("2026-01-05", None, &[("canceled_calls", 1)])
    );
    // Booked still counts on the booking day, whatever the status.
    assert_eq!(daily(&d, "2026-01-02", None).booked_calls, 1);
}

#[test]
fn an_undone_no_show_is_pending_again() {
    let book = event(booked(
        "evt_1",
        "2026-01-02T10:00:00Z",
        "call_1",
        "ada@example.com",
        "2026-01-05T16:00:00Z",
    ));
    let no_show = call_event("evt_2", "no_show", "2026-01-05T16:30:00Z", "call_1");
    let undone = call_event("evt_3", "no_show_undone", "2026-01-05T17:00:00Z", "call_1");

    let d = derive_utc(&[book.clone(), no_show.clone()]);
    assert_eq!(call(&d, "call_1").attendance, Attendance::NoShow);
    assert_eq!(
        *daily(&d, "2026-01-05", None),
        expected_daily("2026-01-05", None, &[("no_shows", 1)])
    );

    // Delivered out of order, the undo still comes last by occurred_at.
    let d = derive_utc(&[undone, book, no_show]);
    assert_eq!(call(&d, "call_1").attendance, Attendance::Unknown);
    assert_eq!(
        *daily(&d, "2026-01-05", None),
        expected_daily("2026-01-05", None, &[("pending", 1)])
    );
}

#[test]
fn the_outcome_form_sets_attendance_offer_and_close() {
    let events = [
        event(booked(
            "evt_1",
            "2026-01-02T10:00:00Z",
            "call_1",
            "ada@example.com",
            "2026-01-05T16:00:00Z",
        )),
        event(booked(
            "evt_2",
            "2026-01-02T11:00:00Z",
            "call_2",
            "bob@example.com",
            "2026-01-05T17:00:00Z",
        )),
        event(booked(
            "evt_3",
            "2026-01-02T12:00:00Z",
            "call_3",
            "cy@example.com",
            "2026-01-05T18:00:00Z",
        )),
        outcome(
            "evt_4",
            "2026-01-05T17:00:00Z",
            "call_1",
            json!({"showed": true, "offer_made": true, "closed": false}),
        ),
        outcome(
            "evt_5",
            "2026-01-05T18:00:00Z",
            "call_2",
            json!({"showed": true, "offer_made": true, "closed": true, "cash_collected": 300000, "currency": "usd"}),
        ),
        outcome(
            "evt_6",
            "2026-01-05T19:00:00Z",
            "call_3",
            json!({"showed": false}),
        ),
    ];
    let d = derive_utc(&events);
    let c1 = call(&d, "call_1");
    assert_eq!(
        (c1.attendance, c1.offer_made, c1.closed),
        (Attendance::Showed, true, false)
    );
    let c2 = call(&d, "call_2");
    assert_eq!(
        (c2.attendance, c2.offer_made, c2.closed),
        (Attendance::Showed, true, true)
    );
    assert_eq!(c2.cash_collected, Some(300000));
    assert_eq!(c2.currency.map(|c| c.to_string()).as_deref(), Some("usd"));
    assert_eq!(call(&d, "call_3").attendance, Attendance::NoShow);
    assert_eq!(
        *daily(&d, "2026-01-05", None),
        expected_daily(
            "2026-01-05",
            None,
            &[("showed", 2), ("no_shows", 1), ("offers", 2), ("closed", 1)]
        )
    );
    // The form's cash is not cash collected: no money row at all.
    assert!(
        d.daily.iter().all(|r| r.currency.is_none()),
        "{:#?}",
        d.daily
    );
}

#[test]
fn offers_and_closes_count_only_when_showed() {
    let events = [
        event(booked(
            "evt_1",
            "2026-01-02T10:00:00Z",
            "call_1",
            "ada@example.com",
            "2026-01-05T16:00:00Z",
        )),
        outcome(
            "evt_2",
            "2026-01-05T17:00:00Z",
            "call_1",
            json!({"showed": true, "offer_made": true, "closed": true}),
        ),
        // A later no-show report wins over the form's attendance.
        call_event("evt_3", "no_show", "2026-01-05T18:00:00Z", "call_1"),
    ];
    let d = derive_utc(&events);
    let c = call(&d, "call_1");
    assert_eq!(
        (c.attendance, c.offer_made, c.closed),
        (Attendance::NoShow, true, true)
    );
    assert_eq!(
        *daily(&d, "2026-01-05", None),
        expected_daily("2026-01-05", None, &[("no_shows", 1)])
    );
}

#[test]
fn equal_times_are_ordered_by_event_id() {
    let book = event(booked(
        "evt_1",
        "2026-01-02T10:00:00Z",
        "call_1",
        "ada@example.com",
        "2026-01-05T16:00:00Z",
    ));
    let a = call_event("evt_a", "no_show", "2026-01-05T17:00:00Z", "call_1");
    let b = call_event("evt_b", "showed", "2026-01-05T17:00:00Z", "call_1");
    assert_eq!(
        call(&derive_utc(&[book.clone(), b.clone(), a.clone()]), "call_1").attendance,
        Attendance::Showed
    );
    let a = call_event("evt_b", "no_show", "2026-01-05T17:00:00Z", "call_1");
    let b = call_event("evt_a", "showed", "2026-01-05T17:00:00Z", "call_1");
    assert_eq!(
        call(&derive_utc(&[book, a, b]), "call_1").attendance,
        Attendance::NoShow
    );
}

#[test]
fn a_later_booking_of_the_same_call_updates_only_what_it_carries() {
    let mut first = booked(
        "evt_1",
        "2026-01-02T10:00:00Z",
        "call_1",
        "ada@example.com",
        "2026-01-05T16:00:00Z",
    );
    first["call"]["closer"] = json!("cora");
    first["call"]["setter"] = json!("sam");
    let mut second = booked(
        "evt_2",
        "2026-01-03T10:00:00Z",
        "call_1",
        "ada@example.com",
        "2026-01-06T16:00:00Z",
    );
    second["call"]["closer"] = json!("finn");
    let d = derive_utc(&[event(second), event(first)]);
    let c = call(&d, "call_1");
    assert_eq!(c.closer.as_deref(), Some("finn"));
    assert_eq!(c.setter.as_deref(), Some("sam"));
    assert_eq!(c.scheduled_day, Some(day("2026-01-06")));
    assert_eq!(c.booked_at, Some(at("2026-01-03T10:00:00Z")));
}
