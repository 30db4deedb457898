//! Whop and Calendly pulls against their documented list formats, and the
//! rule that a backfill followed by live webhooks gives the metrics the
//! webhooks alone would.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod sync_support;

use chrono::NaiveDate;
use revstream_ingest::normalize::stripe;
use revstream_ingest::sync::{NoProgress, Provider, run_pull};
use revstream_pipeline::derive::{Attendance, CallStatus, MovementKind, TenantSettings, derive};
use revstream_registry::{SyncRun, SyncStatus};
use revstream_schemas::CanonicalEvent;
use serde_json::{Value, json};
use sync_support::*;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn pull(h: &Harness, p: &FakeProvider, provider: Provider) -> SyncRun {
    let target = h.target();
    let run = target.start(provider.as_str(), "pull").await.unwrap();
    run_pull(&target, provider, &p.options(), run, &NoProgress).await
}

// ---- Whop ---------------------------------------------------------------------

fn whop_page(data: Vec<Value>, page: u64, total: u64) -> Value {
    json!({"data": data, "pagination": {"current_page": page, "total_pages": total, "total_count": 99}})
}

fn whop_member(id: &str, user: &str, created: &str, canceled: Option<&str>) -> Value {
    json!({
        "id": id, "status": if canceled.is_some() { "canceled" } else { "active" },
        "created_at": created, "canceled_at": canceled, "cancel_at_period_end": false,
        "renewal_period_end": null, "plan": "plan_1", "currency": "usd",
        "user": {"id": user, "email": format!("{user}@example.com"), "name": user},
    })
}

#[tokio::test]
async fn whop_pull_pages_through_429_and_500_and_gives_the_metrics() {
    let p = FakeProvider::start().await;
    p.page(
        "/v5/company/plans",
        "",
        whop_page(
            vec![json!({
                "id": "plan_1", "plan_type": "renewal", "billing_period": 30,
                "renewal_price": "49.99", "initial_price": "49.99", "currency": "usd"
            })],
            1,
            1,
        ),
    );
    p.page(
        "/v5/company/memberships",
        "",
        whop_page(
            vec![whop_member("mem_1", "user_1", "2026-01-05T10:00:00Z", None)],
            1,
            2,
        ),
    );
    p.page(
        "/v5/company/memberships",
        "2",
        whop_page(
            vec![whop_member(
                "mem_2",
                "user_2",
                "2026-01-08T10:00:00Z",
                Some("2026-02-08T10:00:00Z"),
            )],
            2,
            2,
        ),
    );
    p.page("/v5/company/payments", "", whop_page(vec![
        json!({"id": "pay_1", "status": "paid", "paid_at": "2026-01-05T10:00:03Z", "created_at": "2026-01-05T10:00:00Z",
               "currency": "usd", "total": 49.99, "user": {"id": "user_1", "email": "user_1@example.com"},
               "membership": {"id": "mem_1"}}),
        json!({"id": "pay_2", "status": "draft", "created_at": "2026-01-06T10:00:00Z", "currency": "usd", "total": 5}),
    ], 1, 1));
    p.fail("/v5/company/memberships", "2", 429);
    p.fail("/v5/company/payments", "", 500);
    let h = Harness::new().await;
    h.credential("whop", TOKEN).await;

    let run = pull(&h, &p, Provider::Whop).await;
    assert_eq!(run.status, SyncStatus::Succeeded, "{:?}", run.error);
    assert_eq!((run.counts.seen, run.counts.created), (3, 3));
    let d = h.derived().await;
    let m: Vec<_> = d
        .movements
        .iter()
        .map(|m| (m.day, m.movement, m.amount))
        .collect();
    assert_eq!(
        m,
        vec![
            (day("2026-01-05"), MovementKind::New, 4999),
            (day("2026-01-08"), MovementKind::New, 4999),
            (day("2026-02-08"), MovementKind::Churn, -4999),
        ]
    );
    assert_eq!(d.daily.iter().map(|r| r.cash_collected).sum::<i64>(), 4999);

    let again = pull(&h, &p, Provider::Whop).await;
    assert_eq!(again.counts.unchanged, 3);
    assert_eq!(h.derived().await, d);
}

// ---- Calendly -----------------------------------------------------------------

fn cal_event(uuid: &str, start: &str) -> Value {
    json!({
        "uri": format!("https://api.calendly.com/scheduled_events/{uuid}"),
        "name": "Strategy Call", "status": "active", "start_time": start, "end_time": start,
        "created_at": "2026-03-01T09:00:00.000000Z", "updated_at": "2026-03-01T09:00:00.000000Z",
        "event_type": "https://api.calendly.com/event_types/ET1",
        "event_memberships": [{"user": "https://api.calendly.com/users/U1",
                               "user_email": "ann@acme.io", "user_name": "Ann"}],
        "event_guests": [], "invitees_counter": {"active": 1, "limit": 1, "total": 1},
    })
}

fn cal_invitee(event: &str, inv: &str, email: &str, status: &str, no_show: bool) -> Value {
    json!({
        "uri": format!("https://api.calendly.com/scheduled_events/{event}/invitees/{inv}"),
        "event": format!("https://api.calendly.com/scheduled_events/{event}"),
        "email": email, "name": "Lead", "status": status, "rescheduled": false,
        "old_invitee": null, "new_invitee": null, "questions_and_answers": [],
        "tracking": {"utm_source": "youtube", "utm_content": null, "utm_campaign": null},
        "created_at": "2026-03-01T09:00:00.000000Z", "updated_at": "2026-03-02T09:00:00.000000Z",
        "cancellation": if status == "canceled" {
            json!({"canceled_by": "Lead", "reason": null, "canceler_type": "invitee", "created_at": "2026-03-02T09:00:00.000000Z"})
        } else { Value::Null },
        "no_show": if no_show {
            json!({"uri": "https://api.calendly.com/invitee_no_shows/NS1", "created_at": "2026-03-05T12:00:00.000000Z"})
        } else { Value::Null },
    })
}

fn cal_page(items: Vec<Value>, next: Option<&str>) -> Value {
    json!({"collection": items, "pagination": {"count": 1, "next_page": next.map(|t| format!("https://api.calendly.com/x?page_token={t}")),
           "next_page_token": next, "previous_page": null, "previous_page_token": null}})
}

#[tokio::test]
async fn calendly_pull_pages_through_429_and_500_and_gives_the_call_metrics() {
    let p = FakeProvider::start().await;
    p.page(
        "/users/me",
        "",
        json!({"resource": {"uri": "https://api.calendly.com/users/U1",
        "current_organization": "https://api.calendly.com/organizations/ORG1"}}),
    );
    p.page(
        "/scheduled_events",
        "",
        cal_page(
            vec![cal_event("E1", "2026-03-05T10:00:00.000000Z")],
            Some("tok2"),
        ),
    );
    p.page(
        "/scheduled_events",
        "tok2",
        cal_page(
            vec![
                cal_event("E2", "2026-03-06T10:00:00.000000Z"),
                cal_event("E3", "2026-03-07T10:00:00.000000Z"),
            ],
            None,
        ),
    );
    p.page(
        "/scheduled_events/E1/invitees",
        "",
        cal_page(
            vec![cal_invitee("E1", "I1", "a@x.com", "active", true)],
            None,
        ),
    );
    p.page(
        "/scheduled_events/E2/invitees",
        "",
        cal_page(
            vec![cal_invitee("E2", "I2", "b@x.com", "active", false)],
            Some("more"),
        ),
    );
    p.page(
        "/scheduled_events/E2/invitees",
        "more",
        cal_page(
            vec![cal_invitee("E2", "I2b", "c@x.com", "active", false)],
            None,
        ),
    );
    p.page(
        "/scheduled_events/E3/invitees",
        "",
        cal_page(
            vec![cal_invitee("E3", "I3", "d@x.com", "canceled", false)],
            None,
        ),
    );
    p.fail("/scheduled_events", "tok2", 429);
    p.fail("/scheduled_events/E2/invitees", "more", 500);
    let h = Harness::new().await;
    h.credential("calendly", TOKEN).await;

    let run = pull(&h, &p, Provider::Calendly).await;
    assert_eq!(run.status, SyncStatus::Succeeded, "{:?}", run.error);
    assert_eq!((run.counts.seen, run.counts.created), (4, 4));
    let d = h.derived().await;
    let calls: Vec<_> = d
        .calls
        .iter()
        .map(|c| {
            (
                c.call_id.to_string().rsplit('/').next().unwrap().to_owned(),
                c.status,
                c.attendance,
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("I1".to_owned(), CallStatus::Scheduled, Attendance::NoShow),
            ("I2".to_owned(), CallStatus::Scheduled, Attendance::Unknown),
            ("I2b".to_owned(), CallStatus::Scheduled, Attendance::Unknown),
            ("I3".to_owned(), CallStatus::Canceled, Attendance::Unknown),
        ]
    );
    let booked: i64 = d.daily.iter().map(|r| r.booked_calls).sum();
    let no_shows: i64 = d.daily.iter().map(|r| r.no_shows).sum();
    let canceled: i64 = d.daily.iter().map(|r| r.canceled_calls).sum();
    assert_eq!((booked, no_shows, canceled), (4, 1, 1));
    assert!(
        d.calls
            .iter()
            .all(|c| c.closer.as_deref() == Some("ann@acme.io"))
    );

    let again = pull(&h, &p, Provider::Calendly).await;
    assert_eq!(again.counts.unchanged, 4);
    assert_eq!(h.derived().await, d);
}

// ---- backfill, then live webhooks ----------------------------------------------

/// A Stripe webhook for a subscription object, normalized by the webhook code.
fn webhook(id: &str, kind: &str, at: &str, object: Value) -> Vec<CanonicalEvent> {
    let body = json!({"id": id, "object": "event", "type": kind, "created": secs(at), "data": {"object": object}});
    stripe::normalize(body.to_string().as_bytes())
        .unwrap()
        .events
}

#[tokio::test]
async fn backfill_then_live_webhooks_equals_the_webhooks_alone() {
    // History before revstream: sub_1 since 2026-01-05, sub_3 since 01-07.
    let p = FakeProvider::start().await;
    p.page("/v1/customers", "", stripe_list(vec![], false));
    p.page(
        "/v1/subscriptions",
        "",
        stripe_list(
            vec![
                stripe_sub("sub_1", "cus_1", 4900, "2026-01-05T10:00:00Z", None),
                stripe_sub("sub_3", "cus_3", 2000, "2026-01-07T10:00:00Z", None),
            ],
            false,
        ),
    );
    p.page(
        "/v1/charges",
        "",
        stripe_list(
            vec![stripe_charge(
                "ch_1",
                "cus_1",
                4900,
                "2026-01-05T10:00:00Z",
                "succeeded",
            )],
            false,
        ),
    );
    p.page("/v1/refunds", "", stripe_list(vec![], false));
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;
    assert_eq!(
        pull(&h, &p, Provider::Stripe).await.status,
        SyncStatus::Succeeded
    );

    // The webhooks of those objects: their creation (as they were then),
    // and the live ones after the backfill: an upgrade and a cancellation.
    let mut webhooks = Vec::new();
    webhooks.extend(webhook(
        "evt_1",
        "customer.subscription.created",
        "2026-01-05T10:00:00Z",
        stripe_sub("sub_1", "cus_1", 4900, "2026-01-05T10:00:00Z", None),
    ));
    webhooks.extend(webhook(
        "evt_2",
        "customer.subscription.created",
        "2026-01-07T10:00:00Z",
        stripe_sub("sub_3", "cus_3", 2000, "2026-01-07T10:00:00Z", None),
    ));
    webhooks.extend(webhook(
        "evt_3",
        "charge.succeeded",
        "2026-01-05T10:00:00Z",
        stripe_charge("ch_1", "cus_1", 4900, "2026-01-05T10:00:00Z", "succeeded"),
    ));
    let live = {
        let mut live = webhook(
            "evt_4",
            "customer.subscription.updated",
            "2026-03-01T12:00:00Z",
            stripe_sub("sub_1", "cus_1", 9900, "2026-01-05T10:00:00Z", None),
        );
        live.extend(webhook(
            "evt_5",
            "customer.subscription.deleted",
            "2026-03-10T12:00:00Z",
            stripe_sub(
                "sub_3",
                "cus_3",
                2000,
                "2026-01-07T10:00:00Z",
                Some("2026-03-10T12:00:00Z"),
            ),
        ));
        live
    };
    webhooks.extend(live.clone());

    let settings = TenantSettings::default();
    let alone = derive(&settings, &webhooks);
    // Backfill + only the live webhooks, and backfill + every webhook.
    let mut backfill_live = h.events().await;
    backfill_live.extend(live);
    let mut backfill_all = h.events().await;
    backfill_all.extend(webhooks);
    for (name, events) in [("live", backfill_live), ("all", backfill_all)] {
        let d = derive(&settings, &events);
        assert_eq!(
            d.daily, alone.daily,
            "metrics_daily, backfill + {name} webhooks"
        );
        let proj = |d: &revstream_pipeline::derive::Derived| {
            d.movements
                .iter()
                .map(|m| {
                    (
                        m.occurred_at,
                        m.movement,
                        m.customer_id.to_string(),
                        m.amount,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            proj(&d),
            proj(&alone),
            "movements, backfill + {name} webhooks"
        );
        let mrr = |d: &revstream_pipeline::derive::Derived| {
            d.subscriptions
                .iter()
                .map(|s| (s.subscription_id.to_string(), s.mrr, s.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(mrr(&d), mrr(&alone));
    }
}
