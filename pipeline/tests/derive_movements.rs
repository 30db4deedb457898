//! Customer MRR and its movements (spec/metrics.md, "MRR movements"), and the
//! MRR counters of `metrics_daily`.

mod derive_support;

use std::collections::BTreeMap;

use derive_support::{
    at, daily, day, derive_utc, expected_daily, monthly, settings, sub, sub_event, sub_event_from,
    subscription,
};
use revstream_pipeline::derive::{ChurnSetting, Derived, MovementKind, derive};
use revstream_schemas::CanonicalEvent;
use serde_json::json;

/// The movements as (day, customer, currency, kind, signed amount, before, after).
fn movements(d: &Derived) -> Vec<(String, &str, &str, MovementKind, i64, i64, i64)> {
    d.movements
        .iter()
        .map(|m| {
            (
                m.day.to_string(),
                m.customer_id.as_str(),
                m.currency.as_str(),
                m.movement,
                m.amount,
                m.mrr_before,
                m.mrr_after,
            )
        })
        .collect()
}

fn mv(
    day: &str,
    kind: MovementKind,
    amount: i64,
    before: i64,
    after: i64,
) -> (
    String,
    &'static str,
    &'static str,
    MovementKind,
    i64,
    i64,
    i64,
) {
    (day.to_owned(), "cus_1", "usd", kind, amount, before, after)
}

#[test]
fn a_trial_becomes_new_mrr_when_it_activates() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T09:00:00Z",
            "cus_1",
            sub("sub_1", "trialing", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "updated",
            "2026-01-15T09:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        movements(&d),
        vec![mv("2026-01-15", MovementKind::New, 4900, 0, 4900)]
    );
    let m = &d.movements[0];
    assert_eq!(m.occurred_at, at("2026-01-15T09:00:00Z"));
    assert_eq!(m.event_id.as_str(), "evt_2");
    assert_eq!(m.subscription_id.as_str(), "sub_1");
    assert_eq!(
        d.daily,
        vec![expected_daily(
            "2026-01-15",
            Some("usd"),
            &[("new_mrr", 4900), ("new_customers", 1)]
        )]
    );
    let row = subscription(&d, "sub_1");
    assert_eq!(
        (row.mrr, row.started_at),
        (4900, at("2026-01-01T09:00:00Z"))
    );
    assert_eq!(row.updated_at, at("2026-01-15T09:00:00Z"));
    assert_eq!(row.last_event_id.as_str(), "evt_2");
}

#[test]
fn past_due_keeps_its_mrr() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T09:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "updated",
            "2026-02-01T09:00:00Z",
            "cus_1",
            sub("sub_1", "past_due", vec![monthly(4900)]),
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        movements(&d),
        vec![mv("2026-01-01", MovementKind::New, 4900, 0, 4900)]
    );
    assert_eq!(subscription(&d, "sub_1").mrr, 4900);
    assert_eq!(subscription(&d, "sub_1").status.as_str(), "past_due");
}

/// Stripe's cancellation at period end: requested on Jan 10 (cancel_at_period_end
/// and canceled_at set), ended by `subscription.canceled` on Feb 1.
fn cancel_at_period_end() -> Vec<CanonicalEvent> {
    let mut requested = sub("sub_1", "active", vec![monthly(4900)]);
    requested["cancel_at_period_end"] = json!(true);
    requested["canceled_at"] = json!("2026-01-10T12:00:00Z");
    requested["current_period_end"] = json!("2026-02-01T00:00:00Z");
    let mut ended = requested.clone();
    ended["status"] = json!("canceled");
    ended["ended_at"] = json!("2026-02-01T00:00:00Z");
    vec![
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "updated",
            "2026-01-10T12:00:00Z",
            "cus_1",
            requested,
        ),
        sub_event("evt_3", "canceled", "2026-02-01T00:00:00Z", "cus_1", ended),
    ]
}

#[test]
fn cancel_at_period_end_churns_at_the_end_by_default() {
    let events = cancel_at_period_end();
    let s = settings("UTC", ChurnSetting::AtPeriodEnd);

    // Requested, not ended: MRR stays, reported as scheduled churn.
    let d = derive(&s, &events[..2]);
    assert_eq!(
        movements(&d),
        vec![mv("2026-01-01", MovementKind::New, 4900, 0, 4900)]
    );
    let row = subscription(&d, "sub_1");
    assert_eq!(
        (row.mrr, row.cancel_at_period_end, row.scheduled_churn),
        (4900, true, true)
    );

    let d = derive(&s, &events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            mv("2026-02-01", MovementKind::Churn, -4900, 4900, 0),
        ]
    );
    let row = subscription(&d, "sub_1");
    assert_eq!((row.mrr, row.scheduled_churn), (0, false));
    assert_eq!(row.status.as_str(), "canceled");
    assert_eq!(
        *daily(&d, "2026-02-01", Some("usd")),
        expected_daily(
            "2026-02-01",
            Some("usd"),
            &[("churned_mrr", 4900), ("churned_customers", 1)]
        )
    );
}

#[test]
fn cancel_at_period_end_churns_at_the_request_when_asked_to() {
    let events = cancel_at_period_end();
    let s = settings("UTC", ChurnSetting::AtRequest);

    let d = derive(&s, &events[..2]);
    let row = subscription(&d, "sub_1");
    assert_eq!((row.mrr, row.scheduled_churn), (0, true));

    let d = derive(&s, &events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            mv("2026-01-10", MovementKind::Churn, -4900, 4900, 0),
        ]
    );
    assert!(
        d.daily.iter().all(|r| r.day != day("2026-02-01")),
        "{:#?}",
        d.daily
    );
}

#[test]
fn a_withdrawn_cancellation_comes_back_as_reactivation_at_request() {
    let mut events = cancel_at_period_end();
    events.truncate(2);
    events.push(sub_event(
        "evt_3",
        "updated",
        "2026-01-20T00:00:00Z",
        "cus_1",
        sub("sub_1", "active", vec![monthly(4900)]),
    ));
    let d = derive(&settings("UTC", ChurnSetting::AtRequest), &events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            mv("2026-01-10", MovementKind::Churn, -4900, 4900, 0),
            mv("2026-01-20", MovementKind::Reactivation, 4900, 0, 4900),
        ]
    );
    // At period end the withdrawn request changed nothing.
    let d = derive(&settings("UTC", ChurnSetting::AtPeriodEnd), &events);
    assert_eq!(
        movements(&d),
        vec![mv("2026-01-01", MovementKind::New, 4900, 0, 4900)]
    );
}

#[test]
fn churn_then_a_new_subscription_is_reactivation() {
    let mut canceled = sub("sub_1", "canceled", vec![monthly(4900)]);
    canceled["ended_at"] = json!("2026-02-01T00:00:00Z");
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "canceled",
            "2026-02-01T00:00:00Z",
            "cus_1",
            canceled,
        ),
        sub_event(
            "evt_3",
            "created",
            "2026-03-01T00:00:00Z",
            "cus_1",
            sub("sub_2", "active", vec![monthly(2900)]),
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            mv("2026-02-01", MovementKind::Churn, -4900, 4900, 0),
            mv("2026-03-01", MovementKind::Reactivation, 2900, 0, 2900),
        ]
    );
    assert_eq!(
        *daily(&d, "2026-03-01", Some("usd")),
        expected_daily(
            "2026-03-01",
            Some("usd"),
            &[("reactivation_mrr", 2900), ("reactivated_customers", 1)]
        )
    );
}

#[test]
fn ended_at_alone_ends_a_subscription() {
    let mut ended = sub("sub_1", "active", vec![monthly(4900)]);
    ended["ended_at"] = json!("2026-02-01T00:00:00Z");
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event("evt_2", "updated", "2026-02-01T00:00:00Z", "cus_1", ended),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        d.movements.last().map(|m| m.movement),
        Some(MovementKind::Churn)
    );
    assert_eq!(subscription(&d, "sub_1").mrr, 0);
}

#[test]
fn two_subscriptions_expand_and_contract_one_customer() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "created",
            "2026-01-05T00:00:00Z",
            "cus_1",
            sub("sub_2", "active", vec![monthly(1000)]),
        ),
        // Upgrade of sub_2: 1000 → 3000.
        sub_event(
            "evt_3",
            "updated",
            "2026-01-07T00:00:00Z",
            "cus_1",
            sub("sub_2", "active", vec![monthly(3000)]),
        ),
        sub_event(
            "evt_4",
            "canceled",
            "2026-01-20T00:00:00Z",
            "cus_1",
            sub("sub_1", "canceled", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_5",
            "canceled",
            "2026-01-25T00:00:00Z",
            "cus_1",
            sub("sub_2", "canceled", vec![monthly(3000)]),
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            mv("2026-01-05", MovementKind::Expansion, 1000, 4900, 5900),
            mv("2026-01-07", MovementKind::Expansion, 2000, 5900, 7900),
            mv("2026-01-20", MovementKind::Contraction, -4900, 7900, 3000),
            mv("2026-01-25", MovementKind::Churn, -3000, 3000, 0),
        ]
    );
    assert_eq!(
        *daily(&d, "2026-01-20", Some("usd")),
        expected_daily("2026-01-20", Some("usd"), &[("contraction_mrr", 4900)])
    );
    assert_eq!(
        *daily(&d, "2026-01-05", Some("usd")),
        expected_daily("2026-01-05", Some("usd"), &[("expansion_mrr", 1000)])
    );
}

#[test]
fn mrr_at_end_of_day_is_the_sum_of_signed_movements() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "created",
            "2026-01-01T05:00:00Z",
            "cus_2",
            sub("sub_2", "active", vec![monthly(1000)]),
        ),
        sub_event(
            "evt_3",
            "updated",
            "2026-01-02T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(2900)]),
        ),
        sub_event(
            "evt_4",
            "canceled",
            "2026-01-03T00:00:00Z",
            "cus_2",
            sub("sub_2", "canceled", vec![monthly(1000)]),
        ),
    ];
    let d = derive_utc(&events);
    let mut end_of_day: BTreeMap<String, i64> = BTreeMap::new();
    let mut running = 0;
    for m in &d.movements {
        running += m.amount;
        end_of_day.insert(m.day.to_string(), running);
    }
    // Jan 1: 4900 + 1000; Jan 2: − 2000; Jan 3: − 1000.
    assert_eq!(
        end_of_day.into_iter().collect::<Vec<_>>(),
        vec![
            ("2026-01-01".to_owned(), 5900),
            ("2026-01-02".to_owned(), 3900),
            ("2026-01-03".to_owned(), 2900),
        ]
    );
    assert_eq!(d.subscriptions.iter().map(|s| s.mrr).sum::<i64>(), 2900);
}

#[test]
fn two_currencies_are_two_timelines() {
    let mut eur = sub("sub_eur", "active", vec![monthly(3000)]);
    eur["currency"] = json!("eur");
    let mut eur_canceled = eur.clone();
    eur_canceled["status"] = json!("canceled");
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_usd", "active", vec![monthly(4900)]),
        ),
        sub_event("evt_2", "created", "2026-01-02T00:00:00Z", "cus_1", eur),
        sub_event(
            "evt_3",
            "canceled",
            "2026-01-03T00:00:00Z",
            "cus_1",
            eur_canceled,
        ),
    ];
    let d = derive_utc(&events);
    assert_eq!(
        movements(&d),
        vec![
            mv("2026-01-01", MovementKind::New, 4900, 0, 4900),
            (
                "2026-01-02".to_owned(),
                "cus_1",
                "eur",
                MovementKind::New,
                3000,
                0,
                3000
            ),
            (
                "2026-01-03".to_owned(),
                "cus_1",
                "eur",
                MovementKind::Churn,
                -3000,
                3000,
                0
            ),
        ]
    );
    assert_eq!(
        d.daily,
        vec![
            expected_daily(
                "2026-01-01",
                Some("usd"),
                &[("new_mrr", 4900), ("new_customers", 1)]
            ),
            expected_daily(
                "2026-01-02",
                Some("eur"),
                &[("new_mrr", 3000), ("new_customers", 1)]
            ),
            expected_daily(
                "2026-01-03",
                Some("eur"),
                &[("churned_mrr", 3000), ("churned_customers", 1)]
            ),
        ]
    );
    assert_eq!(subscription(&d, "sub_usd").mrr, 4900);
}

#[test]
fn the_same_customer_id_in_two_sources_is_two_customers() {
    let events = [
        sub_event_from(
            "stripe",
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event_from(
            "whop",
            "evt_1",
            "created",
            "2026-01-02T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(1000)]),
        ),
    ];
    let d = derive_utc(&events);
    let kinds: Vec<_> = d
        .movements
        .iter()
        .map(|m| (m.source.as_str(), m.movement, m.amount))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("stripe", MovementKind::New, 4900),
            ("whop", MovementKind::New, 1000)
        ]
    );
    assert_eq!(d.subscriptions.len(), 2);
}

#[test]
fn a_subscription_moved_to_another_customer_moves_its_mrr() {
    let events = [
        sub_event(
            "evt_1",
            "created",
            "2026-01-01T00:00:00Z",
            "cus_1",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
        sub_event(
            "evt_2",
            "updated",
            "2026-01-02T00:00:00Z",
            "cus_2",
            sub("sub_1", "active", vec![monthly(4900)]),
        ),
    ];
    let d = derive_utc(&events);
    let got: Vec<_> = d
        .movements
        .iter()
        .map(|m| (m.customer_id.as_str(), m.movement, m.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            ("cus_1", MovementKind::New, 4900),
            ("cus_1", MovementKind::Churn, -4900),
            ("cus_2", MovementKind::New, 4900),
        ]
    );
}

#[test]
fn refunds_never_move_mrr() {
    let subscription_events = vec![sub_event(
        "evt_1",
        "created",
        "2026-01-01T00:00:00Z",
        "cus_1",
        sub("sub_1", "active", vec![monthly(4900)]),
    )];
    let mut with_refund = subscription_events.clone();
    with_refund.push(derive_support::refund_event(
        "evt_r",
        "2026-01-03T00:00:00Z",
        "re_1",
        "py_1",
        4900,
    ));
    let a = derive_utc(&subscription_events);
    let b = derive_utc(&with_refund);
    assert_eq!(a.movements, b.movements);
    assert_eq!(a.subscriptions, b.subscriptions);
    assert_eq!(b.refunds.len(), 1);
}
