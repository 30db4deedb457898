//! Invariants 2 and 3: derive is a function of the *set* of distinct events.
//! Arrival order and duplicates change nothing, whether the events are
//! derived as one set or fed one by one into the pipeline's state.

mod derive_support;

use std::collections::BTreeMap;

use derive_support::{event, monthly, settings, sub, sub_event};
use proptest::prelude::*;
use revstream_pipeline::derive::{ChurnSetting, Derived, PaymentStatus, TenantSettings, derive};
use revstream_pipeline::state::TenantState;
use revstream_schemas::CanonicalEvent;
use serde_json::{Value, json};

#[test]
fn duplicates_and_order_change_nothing() {
    let events = vec![
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
            "cus_1",
            sub("sub_1", "active", vec![monthly(9900)]),
        ),
        sub_event(
            "evt_3",
            "canceled",
            "2026-01-03T00:00:00Z",
            "cus_1",
            sub("sub_1", "canceled", vec![monthly(9900)]),
        ),
    ];
    let expected = derive(&TenantSettings::default(), &events);
    assert_eq!(expected.movements.len(), 3);
    let mut messy: Vec<_> = events.iter().rev().cloned().collect();
    messy.extend(events.iter().cloned());
    messy.push(events[1].clone());
    assert_eq!(derive(&TenantSettings::default(), &messy), expected);
}

#[test]
fn conflicting_copies_of_one_event_are_resolved_by_content_not_arrival() {
    let a = sub_event(
        "evt_1",
        "created",
        "2026-01-01T00:00:00Z",
        "cus_1",
        sub("sub_1", "active", vec![monthly(4900)]),
    );
    let b = sub_event(
        "evt_1",
        "created",
        "2026-01-01T00:00:00Z",
        "cus_1",
        sub("sub_1", "active", vec![monthly(1000)]),
    );
    let s = TenantSettings::default();
    let ab = derive(&s, &[a.clone(), b.clone()]);
    assert_eq!(ab, derive(&s, &[b, a]));
    assert_eq!(ab.subscriptions.len(), 1);
    assert_eq!(ab.movements.len(), 1);
}

// ---- property: random event sets, random order, random copies ------------

const EMAILS: [&str; 2] = ["ada@example.com", "bob@example.com"];

/// A deterministic event from a handful of random numbers. Ids are unique
/// per index, except that with `collide` neighbours share one (and may
/// differ in content: conflicting copies).
fn make_event(i: usize, s: [u32; 8], collide: bool) -> CanonicalEvent {
    let id = if collide {
        format!("evt_{}", i / 2)
    } else {
        format!("evt_{i}")
    };
    let hour = i64::from(s[1] % 40) * 6;
    let t = (chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("base")
        + chrono::Duration::hours(hour))
    .to_utc();
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let at = ts(t);
    let source = ["stripe", "whop"][(s[2] % 2) as usize];
    let pick = |n: u32, k: u32| n % k;
    let v: Value = match s[0] % 10 {
        0..=2 => {
            let kind = ["created", "updated", "canceled"][pick(s[3], 3) as usize];
            // Active half the time, so that MRR moves often.
            let status = [
                "active",
                "past_due",
                "trialing",
                "incomplete",
                "incomplete_expired",
                "unpaid",
                "paused",
                "canceled",
            ]
            .get(pick(s[6], 16) as usize)
            .copied()
            .unwrap_or("active");
            let interval = ["month", "year", "week", "day"][pick(s[5] / 3, 4) as usize];
            let mut subscription = json!({
                "id": format!("sub_{}", pick(s[4], 3)),
                "status": status,
                "currency": if pick(s[7], 4) == 0 { "eur" } else { "usd" },
                "items": [{
                    "unit_amount": i64::from(pick(s[7] / 4, 50)) * 100 + 99,
                    "quantity": 1 + pick(s[4] / 3, 3),
                    "interval": interval,
                    "interval_count": 1 + pick(s[6] / 8, 3),
                }],
                "cancel_at_period_end": pick(s[2] / 2, 3) == 0,
            });
            if pick(s[2] / 2, 3) == 0 {
                subscription["canceled_at"] = json!(at);
            }
            if pick(s[2] / 6, 5) == 0 {
                subscription["ended_at"] = json!(at);
            }
            match pick(s[3] / 3, 4) {
                1 => subscription["discount"] = json!({"percent_off": 20, "duration": "forever"}),
                2 => subscription["discount"] = json!({"amount_off": 500, "duration": "repeating"}),
                3 => subscription["discount"] = json!({"percent_off": 50, "duration": "once"}),
                _ => {}
            }
            json!({
                "id": id, "type": format!("subscription.{kind}"), "occurred_at": at, "source": source,
                "customer": {"id": format!("cus_{}", pick(s[5], 3))},
                "subscription": subscription,
            })
        }
        3 => json!({
            "id": id, "type": "customer.upserted", "occurred_at": at, "source": source,
            "customer": {"id": format!("cus_{}", pick(s[5], 3)), "email": EMAILS[pick(s[6], 2) as usize],
                         "name": format!("name {}", pick(s[7], 3))},
        }),
        4 | 5 | 9 => {
            let call_id = format!("call_{}", pick(s[4], 3));
            let kind = if s[0] % 10 == 9 {
                "booked"
            } else {
                [
                    "booked",
                    "canceled",
                    "rescheduled",
                    "no_show",
                    "no_show_undone",
                    "showed",
                    "outcome",
                ][pick(s[3], 7) as usize]
            };
            let mut call = json!({"id": call_id});
            let mut e = json!({"id": id, "type": format!("call.{kind}"), "occurred_at": at, "source": source});
            if kind == "booked" {
                call["lead"] = json!({"email": EMAILS[pick(s[6], 2) as usize]});
                call["scheduled_at"] = json!(ts(t + chrono::Duration::hours(
                    i64::from(pick(s[5], 10)) * 12
                )));
                call["closer"] = json!(["cora", "finn"][pick(s[7], 2) as usize]);
                if pick(s[7] / 2, 3) == 0 {
                    call["rescheduled_from"] = json!(format!("call_{}", pick(s[6] / 2, 3)));
                }
            }
            if kind == "outcome" {
                e["outcome"] = json!({"showed": s[6] & 1 == 1, "offer_made": s[6] & 2 == 2, "closed": s[6] & 4 == 4});
            }
            e["call"] = call;
            e
        }
        6 => {
            let mut payment = json!({
                "id": format!("py_{}", pick(s[4], 3)),
                "amount": i64::from(pick(s[5], 100)) * 100,
                "currency": "usd",
                "paid_at": at,
            });
            match pick(s[6], 3) {
                0 => {
                    payment["customer"] = json!({"id": format!("cus_{}", pick(s[7], 3)), "email": EMAILS[pick(s[7] / 3, 2) as usize]})
                }
                1 => payment["customer"] = json!(format!("cus_{}", pick(s[7], 3))),
                _ => {}
            }
            if pick(s[6] / 3, 2) == 0 {
                payment["subscription_id"] = json!(format!("sub_{}", pick(s[7], 3)));
            }
            let kind = if pick(s[3], 4) == 0 {
                "failed"
            } else {
                "succeeded"
            };
            json!({"id": id, "type": format!("payment.{kind}"), "occurred_at": at, "source": source, "payment": payment})
        }
        7 => json!({
            "id": id, "type": "refund.created", "occurred_at": at, "source": source,
            "refund": {"id": format!("re_{}", pick(s[4], 3)), "payment_id": format!("py_{}", pick(s[5], 3)),
                       "amount": 1 + pick(s[6], 1000), "currency": "usd", "refunded_at": at},
        }),
        _ => {
            json!({"id": id, "type": "track", "occurred_at": at, "source": source, "name": "clicked"})
        }
    };
    event(v)
}

/// (the events in canonical order, the same set delivered shuffled with copies)
fn scenario() -> impl Strategy<Value = (Vec<CanonicalEvent>, Vec<CanonicalEvent>)> {
    (
        prop::collection::vec(any::<[u32; 8]>(), 1..40),
        any::<bool>(),
    )
        .prop_flat_map(|(seeds, collide)| {
            let mut canonical: Vec<CanonicalEvent> = seeds
                .iter()
                .enumerate()
                .map(|(i, s)| make_event(i, *s, collide))
                .collect();
            canonical.sort_by(|a, b| {
                (a.occurred_at, &a.id, &a.source).cmp(&(b.occurred_at, &b.id, &b.source))
            });
            let n = canonical.len();
            (Just(canonical), prop::collection::vec(0..n, 0..n)).prop_flat_map(
                |(canonical, copies)| {
                    let mut delivered = canonical.clone();
                    delivered.extend(copies.iter().map(|&i| canonical[i].clone()));
                    (Just(canonical), Just(delivered).prop_shuffle())
                },
            )
        })
}

fn all_settings() -> [TenantSettings; 3] {
    [
        TenantSettings::default(),
        settings("America/New_York", ChurnSetting::AtRequest),
        settings("Asia/Tokyo", ChurnSetting::AtPeriodEnd),
    ]
}

/// Σ signed movements per (source, customer, currency) must equal the
/// current MRR of that customer's subscriptions; cash must equal the
/// succeeded payments.
fn check_sums(d: &Derived) -> Result<(), TestCaseError> {
    let mut from_movements: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for m in &d.movements {
        prop_assert_eq!(m.amount, m.mrr_after - m.mrr_before);
        *from_movements
            .entry((
                m.source.to_string(),
                m.customer_id.to_string(),
                m.currency.to_string(),
            ))
            .or_default() += m.amount;
    }
    let mut from_subscriptions: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for s in d.subscriptions.iter().filter(|s| s.mrr != 0) {
        *from_subscriptions
            .entry((
                s.source.to_string(),
                s.customer_id.to_string(),
                s.currency.to_string(),
            ))
            .or_default() += s.mrr;
    }
    from_movements.retain(|_, v| *v != 0);
    prop_assert_eq!(from_movements, from_subscriptions);

    let cash: i64 = d.daily.iter().map(|r| r.cash_collected).sum();
    let paid: i64 = d
        .payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .map(|p| p.amount)
        .sum();
    prop_assert_eq!(cash, paid);
    let refunds: i64 = d.daily.iter().map(|r| r.refunds).sum();
    prop_assert_eq!(refunds, d.refunds.iter().map(|r| r.amount).sum::<i64>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_order_and_any_copies_give_the_same_rows((canonical, delivered) in scenario()) {
        for s in all_settings() {
            let expected = derive(&s, &canonical);
            let got = derive(&s, &delivered);
            prop_assert_eq!(&got, &expected);
            check_sums(&expected)?;
        }
    }

    /// The pipeline holds events in its compact state and derives from that
    /// (`derive_distinct`). It keeps the first copy it reads of an event —
    /// the log's order decides, the same after a restart — so the reference
    /// is `derive` over the first copies.
    #[test]
    fn the_pipeline_state_derives_the_same_rows((_, delivered) in scenario()) {
        let mut first_copies: Vec<CanonicalEvent> = Vec::new();
        for e in &delivered {
            if !first_copies.iter().any(|f| f.source == e.source && f.id == e.id) {
                first_copies.push(e.clone());
            }
        }
        for s in all_settings() {
            let mut state = TenantState::default();
            let new = delivered.iter().filter(|e| state.insert(e)).count();
            prop_assert_eq!(new, first_copies.len());
            prop_assert_eq!(state.len(), first_copies.len());
            let (got, changed) = state.derive_changes(&s);
            prop_assert_eq!(&got, &derive(&s, &first_copies));
            prop_assert_eq!(changed.len(), 7, "a first derive writes every table");
            let (again, changed) = state.derive_changes(&s);
            prop_assert_eq!(&again, &got);
            prop_assert!(changed.is_empty(), "nothing new, nothing to rewrite: {changed:?}");
        }
    }
}
