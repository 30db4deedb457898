//! Whop webhook bodies of both generations → canonical events.
//!
//! Fixtures under `fixtures/whop/` follow Whop's documented payloads:
//! current Standard Webhooks bodies (`{id, api_version, type, timestamp,
//! data}`) and legacy v5 app webhooks (`{api_version: "v5", action, data}`).
//! Assertions compare the whole canonical event (minus `raw`, which is
//! checked to be the body itself).

use revstream_ingest::normalize::{NormalizeError, Normalized, whop};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/whop/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture with one edit applied, for variants and malformed inputs.
fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("JSON serializes")
}

/// The one event a body gives, as canonical JSON without `raw`, after
/// checking the invariants every normalized event has.
fn single(body: &[u8], normalized: Normalized) -> Value {
    assert_eq!(normalized.events.len(), 1, "{normalized:?}");
    let event = &normalized.events[0];
    event.validate().expect("normalized events are valid");
    assert_eq!(normalized.provider_event_id, event.id.as_str());
    let body: Value = serde_json::from_slice(body).expect("body is JSON");
    assert_eq!(event.raw.as_ref(), Some(&body), "raw must be the body");
    let mut json = serde_json::to_value(event).expect("events serialize");
    if let Some(fields) = json.as_object_mut() {
        fields.remove("raw");
    }
    json
}

fn event_of(body: &[u8]) -> Value {
    single(body, whop::normalize(body, None).expect("body normalizes"))
}

fn event(name: &str) -> Value {
    event_of(&fixture(name))
}

fn field_error(body: &[u8]) -> (String, String) {
    match whop::normalize(body, None) {
        Err(NormalizeError::Field { path, problem }) => (path, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn ada() -> Value {
    json!({"id": "user_Rk3bN8vQ1xYp2", "email": "ada.lovelace@example.com", "name": "Ada Lovelace"})
}

// ---- current generation: memberships ----

#[test]
fn activated_monthly_membership_is_a_created_subscription() {
    assert_eq!(
        event("membership_activated.json"),
        json!({
            "id": "msg_2mF9qXkz7TcYbW1nLp0aR4sD",
            "type": "subscription.created",
            "occurred_at": "2025-03-04T15:20:11.512Z",
            "source": "whop",
            "customer": ada(),
            "subscription": {
                "id": "mem_Hx92kLm4PqR7sT",
                "status": "active",
                "currency": "usd",
                "items": [{"price_id": "plan_M3nB7vC2xZ9q", "unit_amount": 4999, "quantity": 1,
                           "interval": "month", "interval_count": 1, "usage_type": "licensed"}],
                "cancel_at_period_end": false,
                "current_period_end": "2025-04-03T15:20:09.104Z"
            }
        })
    );
}

#[test]
fn yearly_jpy_plan_with_a_numeric_price_has_no_decimals() {
    assert_eq!(
        event("membership_activated_yearly_jpy.json"),
        json!({
            "id": "msg_3pQ7rTy1UiO9pAsDfGhJkL2z",
            "type": "subscription.created",
            "occurred_at": "2025-06-01T00:00:02Z",
            "source": "whop",
            "customer": {"id": "user_Hn5Mj7Ki9Lo1P", "email": "kenji@example.jp", "name": "Kenji Tanaka"},
            "subscription": {
                "id": "mem_Jp4Yk8Lr2Tn6Vw",
                "status": "trialing",
                "currency": "jpy",
                "items": [{"price_id": "plan_Yr8Jp2Ny5Tq1", "unit_amount": 50000, "quantity": 1,
                           "interval": "year", "interval_count": 1, "usage_type": "licensed"}],
                "cancel_at_period_end": false,
                "current_period_end": "2025-06-15T00:00:00Z"
            }
        })
    );
}

#[test]
fn cancel_at_period_end_on_a_90_day_kwd_plan_is_an_update() {
    assert_eq!(
        event("membership_cancel_at_period_end_changed.json"),
        json!({
            "id": "msg_4zX8cV2bN6mQ1wE5rT9yU3iO",
            "type": "subscription.updated",
            "occurred_at": "2025-05-10T08:00:03.250Z",
            "source": "whop",
            "customer": {"id": "user_Kw9Zz8Yy7Xx6W", "email": "fahad@example.com.kw", "name": "Fahad Al-Qattan"},
            "subscription": {
                "id": "mem_Kw3Dn8Fr1Gh5Jk",
                "status": "active",
                "currency": "kwd",
                "items": [{"price_id": "plan_Kw5Qt3Rr8Ee2", "unit_amount": 12345, "quantity": 1,
                           "interval": "month", "interval_count": 3, "usage_type": "licensed"}],
                "cancel_at_period_end": true,
                "current_period_end": "2025-08-14T12:00:00Z",
                "canceled_at": "2025-05-10T08:00:00Z"
            }
        })
    );
}

#[test]
fn deactivated_weekly_membership_is_canceled() {
    assert_eq!(
        event("membership_deactivated.json"),
        json!({
            "id": "msg_5aS1dF4gH7jK0lZ3xC6vB9nM",
            "type": "subscription.canceled",
            "occurred_at": "2025-04-21T09:15:00.120Z",
            "source": "whop",
            "customer": {"id": "user_Wk6Uu5Yy4Tt3R", "email": "grace@example.com", "name": "Grace Hopper"},
            "subscription": {
                "id": "mem_Wk7Ly2Mz5Nx8Ob",
                "status": "canceled",
                "currency": "usd",
                "items": [{"price_id": "plan_Wk3Ee4Rr5Tt6", "unit_amount": 900, "quantity": 1,
                           "interval": "week", "interval_count": 1, "usage_type": "licensed"}],
                "cancel_at_period_end": true,
                "current_period_end": "2025-04-21T09:14:00Z",
                "canceled_at": "2025-04-16T18:30:00Z"
            }
        })
    );
}

#[test]
fn a_deactivation_is_canceled_whatever_status_it_carries() {
    let body = edited("membership_deactivated.json", |v| {
        v["data"]["status"] = json!("active");
    });
    assert_eq!(event_of(&body)["subscription"]["status"], "canceled");
}

#[test]
fn status_change_on_an_odd_45_day_plan_is_an_update_in_days() {
    assert_eq!(
        event("membership_updated_45_days.json"),
        json!({
            "id": "msg_6qW2eR5tY8uI1oP4aS7dF0gH",
            "type": "subscription.updated",
            "occurred_at": "2025-07-02T11:00:00Z",
            "source": "whop",
            "customer": {"id": "user_Ft9Ll8Kk7Jj6H", "email": "alan@example.org", "name": "Alan Turing"},
            "subscription": {
                "id": "mem_Ft5Gy6Hu7Ji8Ko",
                "status": "past_due",
                "currency": "usd",
                "items": [{"price_id": "plan_Ft4Cohort45", "unit_amount": 15000, "quantity": 1,
                           "interval": "day", "interval_count": 45, "usage_type": "licensed"}],
                "cancel_at_period_end": false,
                "current_period_end": "2025-08-16T11:00:00Z"
            }
        })
    );
}

#[test]
fn discounted_first_period_bills_the_renewal_price_every_six_months() {
    // initial_price 1 is an introductory one-time charge; MRR comes from
    // renewal_price 239.5 (a JSON number) per 180 days.
    let e = event("membership_activated_intro_price.json");
    assert_eq!(
        e["subscription"]["items"],
        json!([{"price_id": "plan_Ip7HalfYear", "unit_amount": 23950, "quantity": 1,
                "interval": "month", "interval_count": 6, "usage_type": "licensed"}])
    );
    assert_eq!(
        e["subscription"]["current_period_end"],
        "2026-03-08T19:45:27Z"
    );
}

#[test]
fn renewal_prices_convert_exactly_from_numbers_and_strings() {
    let cases = [
        ("usd", json!("49.99"), 4999),
        ("usd", json!(49.99), 4999),
        ("usd", json!(0.1), 10),
        ("usd", json!("1234567.89"), 123_456_789),
        ("usd", json!(19), 1900),
        ("jpy", json!("50000"), 50000),
        ("jpy", json!(50000.0), 50000),
        ("kwd", json!("12.345"), 12345),
        ("kwd", json!(12.345), 12345),
        ("kwd", json!("7.5"), 7500),
        ("usd", json!("10.500"), 1050),
    ];
    for (currency, price, minor) in cases {
        let body = edited("membership_activated.json", |v| {
            v["data"]["plan"]["currency"] = json!(currency);
            v["data"]["plan"]["renewal_price"] = price.clone();
        });
        let e = event_of(&body);
        assert_eq!(e["subscription"]["currency"], currency, "{price}");
        assert_eq!(
            e["subscription"]["items"][0]["unit_amount"], minor,
            "{price} {currency}"
        );
    }
}

#[test]
fn membership_statuses_fold_to_canonical_ones() {
    let cases = [
        ("trialing", "trialing"),
        ("active", "active"),
        ("canceling", "active"),
        ("past_due", "past_due"),
        ("unresolved", "unpaid"),
        ("drafted", "incomplete"),
        ("paused", "paused"),
        ("completed", "canceled"),
        ("canceled", "canceled"),
        ("expired", "canceled"),
    ];
    for (whop_status, canonical) in cases {
        let body = edited("membership_updated_45_days.json", |v| {
            v["data"]["status"] = json!(whop_status);
        });
        assert_eq!(
            event_of(&body)["subscription"]["status"],
            canonical,
            "{whop_status}"
        );
    }
}

#[test]
fn currency_falls_back_from_the_plan_to_the_membership() {
    let body = edited("membership_activated_yearly_jpy.json", |v| {
        v["data"]["plan"]
            .as_object_mut()
            .unwrap()
            .remove("currency");
    });
    let e = event_of(&body);
    assert_eq!(e["subscription"]["currency"], "jpy");
    assert_eq!(e["subscription"]["items"][0]["unit_amount"], 50000);
}

#[test]
fn one_time_plans_carry_no_recurring_item() {
    let body = edited("membership_activated.json", |v| {
        v["data"]["plan"]["plan_type"] = json!("one_time");
        v["data"]["plan"]["billing_period"] = Value::Null;
    });
    assert_eq!(event_of(&body)["subscription"]["items"], json!([]));
}

// ---- current generation: payments and refunds ----

#[test]
fn payment_succeeded_with_a_numeric_total() {
    assert_eq!(
        event("payment_succeeded.json"),
        json!({
            "id": "msg_8iO4pA7sD0fG3hJ6kL9zX2cV",
            "type": "payment.succeeded",
            "occurred_at": "2025-04-03T15:20:14.900Z",
            "source": "whop",
            "customer": ada(),
            "payment": {
                "id": "pay_Qw8Er7Ty6Ui5Op",
                "amount": 4999,
                "currency": "usd",
                "paid_at": "2025-04-03T15:20:13.401Z",
                "customer": ada(),
                "subscription_id": "mem_Hx92kLm4PqR7sT"
            }
        })
    );
}

#[test]
fn payment_failed_in_jpy_with_a_string_total_is_dated_by_its_attempt() {
    let kenji =
        json!({"id": "user_Hn5Mj7Ki9Lo1P", "email": "kenji@example.jp", "name": "Kenji Tanaka"});
    assert_eq!(
        event("payment_failed.json"),
        json!({
            "id": "msg_9pA5sD8fG1hJ4kL7zX0cV3bN",
            "type": "payment.failed",
            "occurred_at": "2025-06-15T00:05:00Z",
            "source": "whop",
            "customer": kenji,
            "payment": {
                "id": "pay_Jp9Fa8Il7Ed6Xx",
                "amount": 50000,
                "currency": "jpy",
                "paid_at": "2025-06-15T00:04:58Z",
                "customer": kenji,
                "subscription_id": "mem_Jp4Yk8Lr2Tn6Vw"
            }
        })
    );
}

#[test]
fn kwd_payment_totals_keep_three_decimals_as_number_or_string() {
    let e = event("payment_succeeded_kwd.json");
    assert_eq!(e["payment"]["amount"], 12345);
    assert_eq!(e["payment"]["currency"], "kwd");
    assert_eq!(e["payment"]["paid_at"], "2025-05-15T12:00:04Z");
    let body = edited("payment_succeeded_kwd.json", |v| {
        v["data"]["total"] = json!("12.345");
    });
    assert_eq!(event_of(&body)["payment"]["amount"], 12345);
}

#[test]
fn refund_created_is_a_refund_of_its_payment() {
    assert_eq!(
        event("refund_created.json"),
        json!({
            "id": "msg_1qA2wS3eD4rF5tG6yH7uJ8iK",
            "type": "refund.created",
            "occurred_at": "2025-04-05T10:00:01Z",
            "source": "whop",
            "customer": ada(),
            "refund": {
                "id": "rf_Rq1Ws2Ed3Rf4Tg5",
                "payment_id": "pay_Qw8Er7Ty6Ui5Op",
                "amount": 2000,
                "currency": "usd",
                "refunded_at": "2025-04-05T10:00:00Z"
            }
        })
    );
}

#[test]
fn refund_updated_to_succeeded_is_the_same_refund() {
    let created = event("refund_created.json");
    let updated = event("refund_updated.json");
    assert_eq!(updated["type"], "refund.created");
    assert_eq!(updated["id"], "msg_2wS3eD4rF5tG6yH7uJ8iK9oL");
    assert_eq!(updated["occurred_at"], "2025-04-07T16:30:00Z");
    // Same refund, amount ("20.00" string vs 20 number) and date.
    assert_eq!(updated["refund"], created["refund"]);
    assert_eq!(updated["customer"], ada());
}

#[test]
fn refund_updates_that_are_not_successes_are_ignored() {
    for status in ["pending", "requires_action", "failed", "canceled"] {
        let body = edited("refund_updated.json", |v| {
            v["data"]["status"] = json!(status)
        });
        assert_eq!(
            event_of(&body),
            json!({
                "id": "msg_2wS3eD4rF5tG6yH7uJ8iK9oL",
                "type": "ignored",
                "occurred_at": "2025-04-07T16:30:00Z",
                "source": "whop",
                "name": "refund.updated"
            }),
            "{status}"
        );
    }
    let body = edited("refund_created.json", |v| {
        v["data"]["status"] = json!("failed")
    });
    assert_eq!(event_of(&body)["type"], "ignored");
}

#[test]
fn unknown_types_are_ignored_with_the_raw_body_kept() {
    assert_eq!(
        event("dispute_created.json"),
        json!({
            "id": "msg_3eD4rF5tG6yH7uJ8iK9oL0pZ",
            "type": "ignored",
            "occurred_at": "2025-04-20T13:13:13Z",
            "source": "whop",
            "name": "dispute.created"
        })
    );
}

#[test]
fn the_webhook_id_header_stands_in_for_a_missing_envelope_id() {
    let body = edited("payment_succeeded.json", |v| {
        v.as_object_mut().unwrap().remove("id");
    });
    let n = whop::normalize(&body, Some("msg_fromHeader123")).unwrap();
    assert_eq!(n.provider_event_id, "msg_fromHeader123");
    assert_eq!(n.events[0].id.as_str(), "msg_fromHeader123");
    // The body's own id wins when both are there.
    let n = whop::normalize(&fixture("payment_succeeded.json"), Some("msg_other")).unwrap();
    assert_eq!(n.provider_event_id, "msg_8iO4pA7sD0fG3hJ6kL9zX2cV");
    // Neither: the sender is told which field is missing.
    assert_eq!(field_error(&body).0, "id");
}

// ---- legacy v5 ----

#[test]
fn v5_went_valid_is_a_created_subscription_with_a_derived_id() {
    let customer = json!({"id": "user_T1h3xycVulUVN", "email": "reseller.fan@example.com", "name": "stripetestt"});
    assert_eq!(
        event("v5_membership_went_valid.json"),
        json!({
            "id": "v5:membership.went_valid:mem_vi6Xw8ZDO8rjjR:2024-03-04T15:20:09Z:active:false",
            "type": "subscription.created",
            "occurred_at": "2024-03-04T15:20:09Z",
            "source": "whop",
            "customer": customer,
            "subscription": {
                "id": "mem_vi6Xw8ZDO8rjjR",
                "status": "active",
                "currency": "usd",
                "items": [{"price_id": "plan_ACoSACuzLHnrE", "unit_amount": 1999, "quantity": 1,
                           "interval": "month", "interval_count": 1, "usage_type": "licensed"}],
                "cancel_at_period_end": false,
                "current_period_end": "2024-04-03T15:20:09Z"
            }
        })
    );
}

#[test]
fn v5_went_invalid_is_canceled_at_the_period_end() {
    let e = event("v5_membership_went_invalid.json");
    assert_eq!(
        e["id"],
        "v5:membership.went_invalid:mem_vi6Xw8ZDO8rjjR:2024-04-03T15:20:09Z:expired:true"
    );
    assert_eq!(e["type"], "subscription.canceled");
    assert_eq!(e["occurred_at"], "2024-04-03T15:20:09Z");
    assert_eq!(e["subscription"]["status"], "canceled");
    assert_eq!(e["subscription"]["cancel_at_period_end"], true);
    assert_eq!(e["subscription"]["items"][0]["unit_amount"], 1999);
}

#[test]
fn v5_one_time_purchase_is_a_subscription_without_mrr() {
    let e = event("v5_membership_went_valid_one_time.json");
    assert_eq!(
        e["id"],
        "v5:membership.went_valid:mem_5l6nvhob7ALjRT:2023-02-08T00:36:39Z:completed:false"
    );
    assert_eq!(e["occurred_at"], "2023-02-08T00:36:39Z");
    assert_eq!(
        e["subscription"],
        json!({"id": "mem_5l6nvhob7ALjRT", "status": "canceled", "currency": "usd",
               "items": [], "cancel_at_period_end": false})
    );
    assert_eq!(
        e["customer"],
        json!({"id": "user_q61ixyl8cVGff", "email": "hello@whop.com", "name": "whopinc"})
    );
}

#[test]
fn v5_payment_succeeded_uses_final_amount_and_unix_created_at() {
    let whopinc = json!({"id": "user_q61ixyl8cVGff", "email": "hello@whop.com", "name": "whopinc"});
    assert_eq!(
        event("v5_payment_succeeded.json"),
        json!({
            "id": "v5:payment.succeeded:pay_6dWDN0kA5QW2hm:2022-06-12T03:23:20Z",
            "type": "payment.succeeded",
            "occurred_at": "2022-06-12T03:23:20Z",
            "source": "whop",
            "customer": whopinc,
            "payment": {
                "id": "pay_6dWDN0kA5QW2hm",
                "amount": 1050,
                "currency": "usd",
                "paid_at": "2022-06-12T03:23:20Z",
                "customer": whopinc,
                "subscription_id": "mem_nePhZvdqdLOKsZ"
            }
        })
    );
}

#[test]
fn v5_payment_failed_is_dated_by_its_last_attempt() {
    let e = event("v5_payment_failed.json");
    assert_eq!(
        e["id"],
        "v5:payment.failed:pay_cJ5C52xzGQftKH:2022-01-19T02:14:39Z"
    );
    assert_eq!(e["type"], "payment.failed");
    assert_eq!(
        e["payment"],
        json!({
            "id": "pay_cJ5C52xzGQftKH",
            "amount": 0,
            "currency": "usd",
            "paid_at": "2022-01-19T02:14:39Z",
            "customer": {"id": "user_T1h3xycVulUVN", "email": "reseller.fan@example.com", "name": "stripetestt"},
            "subscription_id": "mem_vi6Xw8ZDO8rjjR"
        })
    );
}

#[test]
fn v5_refunds_created_and_updated() {
    let refund = json!({
        "id": "rf_v5Xq2Ws3Ed4Rf",
        "payment_id": "pay_6dWDN0kA5QW2hm",
        "amount": 525,
        "currency": "usd",
        "refunded_at": "2024-04-03T16:00:00Z"
    });
    assert_eq!(
        event("v5_refund_created.json"),
        json!({
            "id": "v5:refund.created:rf_v5Xq2Ws3Ed4Rf:2024-04-03T16:00:00Z:pending",
            "type": "refund.created",
            "occurred_at": "2024-04-03T16:00:00Z",
            "source": "whop",
            "refund": refund
        })
    );
    assert_eq!(
        event("v5_refund_updated.json"),
        json!({
            "id": "v5:refund.updated:rf_v5Xq2Ws3Ed4Rf:2024-04-04T16:00:00Z:succeeded",
            "type": "refund.created",
            "occurred_at": "2024-04-04T16:00:00Z",
            "source": "whop",
            "refund": refund
        })
    );
}

#[test]
fn v5_unknown_actions_are_ignored_with_a_derived_id() {
    assert_eq!(
        event("v5_membership_metadata_updated.json"),
        json!({
            "id": "v5:membership.metadata_updated:mem_awUmfLkcJotab0:2022-01-22T07:01:08Z",
            "type": "ignored",
            "occurred_at": "2022-01-22T07:01:08Z",
            "source": "whop",
            "name": "membership.metadata_updated"
        })
    );
}

#[test]
fn v5_ids_are_stable_for_retries_and_distinct_for_changes() {
    let first = event("v5_membership_went_valid.json");
    let retry = event("v5_membership_went_valid.json");
    assert_eq!(first["id"], retry["id"]);
    // The next period's validation is a new event, not a duplicate.
    let renewed = edited("v5_membership_went_valid.json", |v| {
        v["data"]["renewal_period_start"] = json!(1712157609);
    });
    assert_ne!(event_of(&renewed)["id"], first["id"]);
    // So is a cancel_at_period_end toggle within the same period.
    let toggled = edited("v5_membership_went_valid.json", |v| {
        v["action"] = json!("membership.cancel_at_period_end_changed");
        v["data"]["cancel_at_period_end"] = json!(true);
    });
    let toggled = event_of(&toggled);
    assert_eq!(toggled["type"], "subscription.updated");
    assert_eq!(
        toggled["id"],
        "v5:membership.cancel_at_period_end_changed:mem_vi6Xw8ZDO8rjjR:2024-03-04T15:20:09Z:active:true"
    );
}

// ---- malformed input ----

#[test]
fn non_json_bodies_are_rejected() {
    assert!(matches!(
        whop::normalize(b"{not json", None),
        Err(NormalizeError::NotJson(_))
    ));
    assert_eq!(field_error(b"[1, 2]").0, ".");
}

#[test]
fn a_body_without_type_or_action_names_type() {
    let (path, problem) = field_error(br#"{"data": {}}"#);
    assert_eq!(path, "type");
    assert!(problem.contains("action"), "{problem}");
}

#[test]
fn too_many_decimals_for_the_currency_name_the_path() {
    let body = edited("membership_activated_yearly_jpy.json", |v| {
        v["data"]["plan"]["renewal_price"] = json!("50000.5");
    });
    assert_eq!(
        field_error(&body),
        (
            "data.plan.renewal_price".to_owned(),
            "has more than 0 decimals for JPY: \"50000.5\"".to_owned()
        )
    );
    let body = edited("payment_succeeded.json", |v| {
        v["data"]["total"] = json!(49.999)
    });
    assert_eq!(
        field_error(&body),
        (
            "data.total".to_owned(),
            "has more than 2 decimals for USD: \"49.999\"".to_owned()
        )
    );
    let body = edited("payment_succeeded_kwd.json", |v| {
        v["data"]["total"] = json!("12.3456");
    });
    assert_eq!(field_error(&body).0, "data.total");
    let body = edited("v5_payment_succeeded.json", |v| {
        v["data"]["final_amount"] = json!("10.501");
    });
    assert_eq!(field_error(&body).0, "data.final_amount");
}

#[test]
fn missing_or_wrongly_typed_fields_name_the_path() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str, &str); 12] = [
        (
            "membership_activated.json",
            |v| {
                v.as_object_mut().unwrap().remove("timestamp");
            },
            "timestamp",
            "is required",
        ),
        (
            "membership_activated.json",
            |v| v["timestamp"] = json!("last tuesday"),
            "timestamp",
            "must be an RFC 3339 timestamp like 2026-01-05T10:00:00Z, got \"last tuesday\"",
        ),
        (
            "membership_activated.json",
            |v| {
                v["data"]["plan"]
                    .as_object_mut()
                    .unwrap()
                    .remove("billing_period");
            },
            "data.plan.billing_period",
            "is required for a renewal plan",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["plan"]["billing_period"] = json!(0),
            "data.plan.billing_period",
            "must be 1 to 36500 days for a renewal plan, got 0",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["plan"]["renewal_price"] = json!(true),
            "data.plan.renewal_price",
            "must be a decimal amount, as a number or a string",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["status"] = json!("haunted"),
            "data.status",
            "is not a known Whop membership status: \"haunted\"",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["user"]["email"] = json!("not-an-email"),
            "data.user.email",
            "must be an email address like name@example.com: \"not-an-email\"",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["plan"] = json!("plan_M3nB7vC2xZ9q"),
            "data.plan",
            "must be an object, got a string",
        ),
        (
            "membership_activated.json",
            |v| v["data"]["cancel_at_period_end"] = json!("no"),
            "data.cancel_at_period_end",
            "must be a boolean, got a string",
        ),
        (
            "payment_succeeded.json",
            |v| v["data"]["currency"] = json!("zzz"),
            "data.currency",
            "is not an ISO 4217 currency code: \"zzz\"",
        ),
        (
            "payment_succeeded.json",
            |v| {
                v["data"].as_object_mut().unwrap().remove("total");
            },
            "data.total",
            "is required",
        ),
        (
            "refund_created.json",
            |v| {
                v["data"].as_object_mut().unwrap().remove("payment");
            },
            "data.payment",
            "is required (or payment_id)",
        ),
    ];
    for (name, edit, path, problem) in cases {
        let body = edited(name, edit);
        assert_eq!(
            field_error(&body),
            (path.to_owned(), problem.to_owned()),
            "{name} → {path}"
        );
    }
}

#[test]
fn v5_bodies_without_any_time_name_the_fields_looked_at() {
    let body = edited("v5_payment_failed.json", |v| {
        v["data"]
            .as_object_mut()
            .unwrap()
            .remove("last_payment_attempt");
    });
    let (path, problem) = field_error(&body);
    assert_eq!(path, "data.created_at");
    assert!(
        problem.contains("data.last_payment_attempt, data.created_at"),
        "{problem}"
    );
}

#[test]
fn values_the_canonical_model_rejects_are_errors_not_events() {
    let body = edited("refund_created.json", |v| v["data"]["amount"] = json!(0));
    let (path, problem) = field_error(&body);
    assert_eq!(path, "data");
    assert!(
        problem.contains("refund.amount must be > 0, got 0"),
        "{problem}"
    );
}
