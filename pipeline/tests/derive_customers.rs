//! The customers table: one row per (source, customer id), identity by email.

mod derive_support;

use derive_support::{at, derive_utc, event, monthly, payment_event, sub, sub_event};
use revstream_pipeline::derive::Derived;
use serde_json::json;

fn upserted(
    event_id: &str,
    occurred_at: &str,
    source: &str,
    customer: serde_json::Value,
) -> revstream_schemas::CanonicalEvent {
    event(json!({
        "id": event_id, "type": "customer.upserted", "occurred_at": occurred_at,
        "source": source, "customer": customer,
    }))
}

#[test]
fn one_row_per_source_and_id_with_the_latest_email_and_name() {
    let events = [
        upserted(
            "evt_1",
            "2026-01-01T00:00:00Z",
            "stripe",
            json!({"id": "cus_1", "email": "ada@old.com", "name": "Ada"}),
        ),
        // A later event without a name keeps the name; the email changes.
        upserted(
            "evt_2",
            "2026-01-03T00:00:00Z",
            "stripe",
            json!({"id": "cus_1", "email": "Ada@New.com"}),
        ),
        upserted(
            "evt_3",
            "2026-01-02T00:00:00Z",
            "stripe",
            json!({"id": "cus_1", "name": "Ada L."}),
        ),
        upserted(
            "evt_4",
            "2026-01-02T00:00:00Z",
            "whop",
            json!({"id": "cus_1"}),
        ),
    ];
    let d = derive_utc(&events);
    let rows: Vec<_> = d
        .customers
        .iter()
        .map(|c| {
            (
                c.identity.as_str(),
                c.source.as_str(),
                c.customer_id.as_str(),
                c.email.as_ref().map(|e| e.as_str()),
                c.name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "ada@new.com",
                "stripe",
                "cus_1",
                Some("ada@new.com"),
                Some("Ada L.")
            ),
            ("whop:cus_1", "whop", "cus_1", None, None),
        ]
    );
    assert_eq!(d.customers[0].first_seen_at, at("2026-01-01T00:00:00Z"));
    assert_eq!(d.customers[0].updated_at, at("2026-01-03T00:00:00Z"));
}

#[test]
fn one_email_in_two_sources_is_one_identity() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        upserted(
            "evt_2",
            "2026-01-01T00:00:00Z",
            "stripe",
            json!({"id": "cus_1", "email": "ada@example.com"}),
        ),
        payment_event(
            "evt_3",
            "succeeded",
            "2026-01-02T00:00:00Z",
            json!({"id": "pay_1", "amount": 4900, "currency": "usd", "paid_at": "2026-01-02T00:00:00Z",
                   "customer": {"id": "mem_9", "email": "ADA@example.com", "name": "Ada"}}),
        ),
    ];
    let d = derive_utc(&events);
    let ids: Vec<_> = d
        .customers
        .iter()
        .map(|c| {
            (
                c.source.as_str(),
                c.customer_id.as_str(),
                c.identity.as_str(),
            )
        })
        .collect();
    // The payment's customer is a customer too (payment events come from
    // stripe in these helpers).
    assert_eq!(
        ids,
        vec![
            ("stripe", "cus_1", "ada@example.com"),
            ("stripe", "mem_9", "ada@example.com")
        ]
    );
}

#[test]
fn track_and_ignored_events_produce_no_rows() {
    let events = [
        event(
            json!({"id": "evt_1", "type": "track", "occurred_at": "2026-01-01T00:00:00Z",
                     "name": "webinar_joined", "customer": {"id": "cus_1", "email": "ada@example.com"}}),
        ),
        event(
            json!({"id": "evt_2", "type": "ignored", "occurred_at": "2026-01-01T00:00:00Z",
                     "source": "stripe", "name": "product.created"}),
        ),
    ];
    assert_eq!(derive_utc(&events), Derived::default());
}
