//! Stripe webhook normalization against realistic webhook payloads
//! (`tests/fixtures/stripe/*.json`, full envelopes as Stripe sends them at
//! the API version named in each).

use chrono::{DateTime, Utc};
use revstream_ingest::normalize::stripe::normalize;
use revstream_ingest::normalize::{NormalizeError, Normalized};
use revstream_schemas::event::{
    Customer, Discount, DiscountDuration, Interval, Payment, Percent, Refund, Subscription,
    SubscriptionItem, SubscriptionStatus, UsageType,
};
use revstream_schemas::{CanonicalEvent, Currency, Email, EventKind, ObjectId};
use serde_json::{Value, json};

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).expect("fixture is JSON")
}

/// Normalizes a fixture and checks what every Stripe event must have.
fn normalized(name: &str) -> Normalized {
    let raw = fixture(name);
    let out = normalize(&fixture_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(out.provider_event_id, raw["id"].as_str().expect("event id"));
    assert!(!out.events.is_empty());
    for e in &out.events {
        assert_eq!(e.source.as_str(), "stripe");
        assert_eq!(e.raw.as_ref(), Some(&raw), "raw payload kept whole");
        assert_eq!(
            e.occurred_at.timestamp(),
            raw["created"].as_i64().expect("created")
        );
        e.validate().expect("valid event");
        // What goes into the event log parses back to the same event.
        assert_eq!(
            &CanonicalEvent::from_json(&e.to_json()).expect("round trip"),
            e
        );
    }
    out
}

/// The only event of a fixture; its id is the Stripe event id.
fn single(name: &str) -> CanonicalEvent {
    let mut out = normalized(name);
    assert_eq!(out.events.len(), 1, "{name}: {:?}", out.events);
    let e = out.events.remove(0);
    assert_eq!(e.id.as_str(), out.provider_event_id);
    e
}

/// Normalizes a fixture after changing it.
fn normalize_changed(
    name: &str,
    change: impl FnOnce(&mut Value),
) -> Result<Normalized, NormalizeError> {
    let mut v = fixture(name);
    change(&mut v);
    normalize(&serde_json::to_vec(&v).expect("serializable"))
}

fn field_error(r: Result<Normalized, NormalizeError>) -> (String, String) {
    match r {
        Err(NormalizeError::Field { path, problem }) => (path, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn id(s: &str) -> ObjectId {
    ObjectId::parse(s).expect("object id")
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("email")
}

fn cur(s: &str) -> Currency {
    Currency::parse(s).expect("currency")
}

fn customer(s: &str) -> Customer {
    Customer {
        id: id(s),
        email: None,
        name: None,
    }
}

fn item(
    price: &str,
    unit_amount: i64,
    quantity: i64,
    interval: Interval,
    count: i64,
) -> SubscriptionItem {
    SubscriptionItem {
        price_id: Some(price.to_owned()),
        unit_amount,
        quantity,
        interval,
        interval_count: count,
        usage_type: UsageType::Licensed,
    }
}

fn percent(p: u32) -> Option<Percent> {
    Some(Percent {
        parts_per_million: p * 10_000,
    })
}

fn subscription_of(e: &CanonicalEvent) -> &Subscription {
    e.subscription.as_ref().expect("subscription section")
}

// ─── customers ──────────────────────────────────────────────────────────────

#[test]
fn customer_created_upserts_id_email_and_name() {
    let e = single("customer.created");
    assert_eq!(e.kind, EventKind::CustomerUpserted);
    assert_eq!(e.id.as_str(), "evt_1QhXa2E7f3KYlo2CqW8dZ1Ab");
    assert_eq!(e.occurred_at, at("2025-01-15T10:00:00Z"));
    assert_eq!(
        e.customer,
        Some(Customer {
            id: id("cus_RaF3kqpT9Xv2Lm"),
            email: Some(email("ada.lovelace@example.com")),
            name: Some("Ada Lovelace".into()),
        })
    );
}

#[test]
fn customer_updated_keeps_the_new_email_and_drops_a_cleared_name() {
    let e = single("customer.updated");
    assert_eq!(e.kind, EventKind::CustomerUpserted);
    assert_eq!(e.occurred_at, at("2025-01-20T08:30:00Z"));
    assert_eq!(
        e.customer,
        Some(Customer {
            id: id("cus_RaF3kqpT9Xv2Lm"),
            email: Some(email("ada@analytical.engine")),
            name: None,
        })
    );
}

// ─── subscriptions, API versions before 2025-03-31 ─────────────────────────

#[test]
fn trialing_subscription_with_a_percent_discount_older_layout() {
    let e = single("customer.subscription.created.trialing");
    assert_eq!(e.kind, EventKind::SubscriptionCreated);
    assert_eq!(e.occurred_at, at("2025-01-15T10:05:02Z"));
    assert_eq!(e.customer, Some(customer("cus_RaF3kqpT9Xv2Lm")));
    // The singular `discount` is read; its id repeated in `discounts[]`
    // is not applied a second time.
    assert_eq!(
        subscription_of(&e),
        &Subscription {
            id: id("sub_1QhXd2E7f3KYlo2CmN4bVc7X"),
            status: SubscriptionStatus::Trialing,
            currency: cur("usd"),
            items: vec![item(
                "price_1QBv3LE7f3KYlo2CPro0Mnth",
                4900,
                1,
                Interval::Month,
                1
            )],
            discount: Some(Discount {
                percent_off: percent(20),
                amount_off: None,
                duration: DiscountDuration::Forever,
            }),
            discounts: vec![],
            cancel_at_period_end: false,
            current_period_end: Some(at("2025-01-29T10:05:00Z")),
            canceled_at: None,
            ended_at: None,
        }
    );
}

#[test]
fn annual_plan_with_three_seats_and_a_fixed_amount_discount() {
    let e = single("customer.subscription.updated.annual");
    assert_eq!(e.kind, EventKind::SubscriptionUpdated);
    assert_eq!(e.customer, Some(customer("cus_RaF3kqpT9Xv2Lm")));
    assert_eq!(
        subscription_of(&e),
        &Subscription {
            id: id("sub_1QiAnnE7f3KYlo2C9sTeAm3Q"),
            status: SubscriptionStatus::Active,
            currency: cur("usd"),
            items: vec![item(
                "price_1QBv9KE7f3KYlo2CTeamYear",
                49000,
                3,
                Interval::Year,
                1
            )],
            discount: Some(Discount {
                percent_off: None,
                amount_off: Some(5000),
                duration: DiscountDuration::Repeating,
            }),
            discounts: vec![],
            cancel_at_period_end: false,
            current_period_end: Some(at("2026-02-15T09:00:00Z")),
            canceled_at: None,
            ended_at: None,
        }
    );
}

#[test]
fn deleted_subscription_is_canceled_with_its_dates() {
    let e = single("customer.subscription.deleted");
    assert_eq!(e.kind, EventKind::SubscriptionCanceled);
    assert_eq!(e.occurred_at, at("2025-03-29T10:05:00Z"));
    let s = subscription_of(&e);
    assert_eq!(s.status, SubscriptionStatus::Canceled);
    assert_eq!(s.canceled_at, Some(at("2025-03-10T16:20:00Z")));
    assert_eq!(s.ended_at, Some(at("2025-03-29T10:05:00Z")));
    assert_eq!(s.current_period_end, Some(at("2025-03-29T10:05:00Z")));
    assert_eq!(s.items.len(), 1);
}

#[test]
fn deleted_event_means_canceled_whatever_the_status_says() {
    let out = normalize_changed("customer.subscription.deleted", |v| {
        v["data"]["object"]["status"] = json!("active");
    })
    .unwrap();
    assert_eq!(out.events[0].kind, EventKind::SubscriptionCanceled);
    assert_eq!(
        subscription_of(&out.events[0]).status,
        SubscriptionStatus::Canceled
    );
}

#[test]
fn an_update_that_reaches_canceled_is_a_cancellation() {
    let out = normalize_changed("customer.subscription.updated.annual", |v| {
        v["data"]["object"]["status"] = json!("canceled");
    })
    .unwrap();
    assert_eq!(out.events[0].kind, EventKind::SubscriptionCanceled);
}

#[test]
fn zero_decimal_currency_amounts_pass_through() {
    let e = single("customer.subscription.created.jpy");
    assert_eq!(e.kind, EventKind::SubscriptionCreated);
    assert_eq!(e.customer, Some(customer("cus_RcJ7yamadaT4ro")));
    let s = subscription_of(&e);
    assert_eq!(s.currency, cur("jpy"));
    assert_eq!(s.currency.exponent(), 0);
    assert_eq!(
        s.items,
        vec![item(
            "price_1QBvJPE7f3KYlo2CYen5000",
            5000,
            1,
            Interval::Month,
            1
        )]
    );
    assert_eq!(s.current_period_end, Some(at("2025-03-10T03:00:00Z")));
}

// ─── subscriptions, API 2025-03-31 and later ───────────────────────────────

#[test]
fn newer_layout_reads_periods_from_items_and_skips_discount_ids() {
    let e = single("customer.subscription.updated.basil");
    assert_eq!(e.kind, EventKind::SubscriptionUpdated);
    assert_eq!(e.occurred_at, at("2025-06-03T15:00:00Z"));
    assert_eq!(e.customer, Some(customer("cus_RaF3kqpT9Xv2Lm")));
    assert_eq!(
        subscription_of(&e),
        &Subscription {
            id: id("sub_1RBasLE7f3KYlo2CmUlti4It"),
            status: SubscriptionStatus::PastDue,
            currency: cur("usd"),
            items: vec![
                item(
                    "price_1RBa1sE7f3KYlo2CSeatMnth",
                    4900,
                    2,
                    Interval::Month,
                    1
                ),
                SubscriptionItem {
                    price_id: Some("price_1RBa2mE7f3KYlo2CApiMeter".into()),
                    unit_amount: 25,
                    quantity: 1,
                    interval: Interval::Month,
                    interval_count: 1,
                    usage_type: UsageType::Metered,
                },
                item("price_1RBa3qE7f3KYlo2CSupQtr", 29900, 1, Interval::Month, 3),
            ],
            // `discounts` holds two bare `di_…` ids: nothing to apply.
            discount: None,
            discounts: vec![],
            cancel_at_period_end: false,
            // The latest of the items' period ends.
            current_period_end: Some(at("2025-07-05T14:00:00Z")),
            canceled_at: None,
            ended_at: None,
        }
    );
}

#[test]
fn expanded_discounts_are_applied_in_both_shapes() {
    let out = normalize_changed("customer.subscription.updated.basil", |v| {
        v["data"]["object"]["discounts"] = json!([
            "di_1RBasLE7f3KYlo2CpartnerA",
            {
                "id": "di_1RBasME7f3KYlo2CvolumeB",
                "object": "discount",
                "coupon": {"id": "VOLUME12", "object": "coupon", "amount_off": null,
                           "currency": null, "duration": "forever", "percent_off": 12.5}
            },
            {
                "id": "di_1RBasNE7f3KYlo2CcloverC",
                "object": "discount",
                "source": {"type": "coupon",
                           "coupon": {"id": "SPRING", "object": "coupon", "amount_off": 1500,
                                      "currency": "usd", "duration": "once", "percent_off": null}}
            },
            {
                "id": "di_1RBasOE7f3KYlo2CnotExpD",
                "object": "discount",
                "source": {"type": "coupon", "coupon": "SUMMER"}
            }
        ]);
    })
    .unwrap();
    let s = subscription_of(&out.events[0]);
    assert_eq!(s.discount, None);
    assert_eq!(
        s.discounts,
        vec![
            Discount {
                percent_off: Some(Percent {
                    parts_per_million: 125_000
                }),
                amount_off: None,
                duration: DiscountDuration::Forever,
            },
            Discount {
                percent_off: None,
                amount_off: Some(1500),
                duration: DiscountDuration::Once,
            },
        ]
    );
}

#[test]
fn fixed_discounts_in_another_currency_use_currency_options_or_fail() {
    let coupon = |options: Value| {
        json!({"id": "di_1", "object": "discount",
               "coupon": {"id": "EUR10", "amount_off": 1000, "currency": "eur",
                          "currency_options": options, "duration": "forever", "percent_off": null}})
    };
    let with = |d: Value| {
        normalize_changed("customer.subscription.updated.basil", move |v| {
            v["data"]["object"]["discounts"] = json!([d]);
        })
    };
    let out = with(coupon(json!({"usd": {"amount_off": 1100}}))).unwrap();
    assert_eq!(
        subscription_of(&out.events[0]).discounts[0].amount_off,
        Some(1100)
    );
    let (path, problem) = field_error(with(coupon(json!({}))));
    assert_eq!(path, "data.object.discounts[0].coupon.currency");
    assert!(problem.contains("bills in usd"), "{problem}");
}

#[test]
fn cancel_at_period_end_keeps_the_subscription_active_until_then() {
    let e = single("customer.subscription.updated.cancel_at_period_end");
    assert_eq!(e.kind, EventKind::SubscriptionUpdated);
    assert_eq!(e.customer, Some(customer("cus_SeB8graceHoppr")));
    assert_eq!(
        subscription_of(&e),
        &Subscription {
            id: id("sub_1RCapEE7f3KYlo2CendOfTrm"),
            status: SubscriptionStatus::Active,
            currency: cur("usd"),
            items: vec![item(
                "price_1RCa1bE7f3KYlo2CBasicMo",
                1900,
                1,
                Interval::Month,
                1
            )],
            discount: None,
            discounts: vec![],
            cancel_at_period_end: true,
            current_period_end: Some(at("2025-07-20T11:00:00Z")),
            canceled_at: Some(at("2025-07-01T18:45:00Z")),
            ended_at: None,
        }
    );
}

#[test]
fn paused_and_resumed_are_updates_with_the_new_status() {
    let paused = single("customer.subscription.paused");
    assert_eq!(paused.kind, EventKind::SubscriptionUpdated);
    let s = subscription_of(&paused);
    assert_eq!(s.status, SubscriptionStatus::Paused);
    assert_eq!(s.current_period_end, Some(at("2025-06-15T07:00:00Z")));
    assert_eq!(paused.customer, Some(customer("cus_SfP2katherineJ")));

    let resumed = single("customer.subscription.resumed");
    assert_eq!(resumed.kind, EventKind::SubscriptionUpdated);
    let s = subscription_of(&resumed);
    assert_eq!(s.status, SubscriptionStatus::Active);
    assert_eq!(s.current_period_end, Some(at("2025-07-18T09:30:00Z")));
    assert_eq!(
        s.items,
        vec![item(
            "price_1RCa1bE7f3KYlo2CBasicMo",
            1900,
            1,
            Interval::Month,
            1
        )]
    );
}

#[test]
fn every_stripe_status_maps_and_unknown_ones_are_errors() {
    for (stripe, canonical) in [
        ("active", SubscriptionStatus::Active),
        ("past_due", SubscriptionStatus::PastDue),
        ("trialing", SubscriptionStatus::Trialing),
        ("incomplete", SubscriptionStatus::Incomplete),
        ("incomplete_expired", SubscriptionStatus::IncompleteExpired),
        ("unpaid", SubscriptionStatus::Unpaid),
        ("paused", SubscriptionStatus::Paused),
        ("canceled", SubscriptionStatus::Canceled),
    ] {
        let out = normalize_changed("customer.subscription.updated.annual", |v| {
            v["data"]["object"]["status"] = json!(stripe);
        })
        .unwrap();
        assert_eq!(
            subscription_of(&out.events[0]).status,
            canonical,
            "{stripe}"
        );
    }
    let (path, problem) = field_error(normalize_changed(
        "customer.subscription.updated.annual",
        |v| {
            v["data"]["object"]["status"] = json!("hibernating");
        },
    ));
    assert_eq!(path, "data.object.status");
    assert!(problem.contains("\"hibernating\""), "{problem}");
}

#[test]
fn one_time_prices_are_not_subscription_revenue() {
    let out = normalize_changed("customer.subscription.updated.basil", |v| {
        let setup = &mut v["data"]["object"]["items"]["data"][2]["price"];
        setup["recurring"] = Value::Null;
        setup["type"] = json!("one_time");
    })
    .unwrap();
    let items = &subscription_of(&out.events[0]).items;
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i.price_id.as_deref() != Some("price_1RBa3qE7f3KYlo2CSupQtr"))
    );
}

#[test]
fn unit_amount_decimal_is_used_exactly_when_unit_amount_is_null() {
    let out = normalize_changed("customer.subscription.updated.basil", |v| {
        let price = &mut v["data"]["object"]["items"]["data"][0]["price"];
        price["unit_amount"] = Value::Null;
        price["unit_amount_decimal"] = json!("4950.000000000000");
    })
    .unwrap();
    assert_eq!(subscription_of(&out.events[0]).items[0].unit_amount, 4950);

    // A licensed sub-cent price cannot give an exact MRR.
    let (path, problem) = field_error(normalize_changed(
        "customer.subscription.updated.basil",
        |v| {
            let price = &mut v["data"]["object"]["items"]["data"][0]["price"];
            price["unit_amount"] = Value::Null;
            price["unit_amount_decimal"] = json!("4950.5");
        },
    ));
    assert_eq!(path, "data.object.items.data[0].price.unit_amount_decimal");
    assert!(problem.contains("\"4950.5\""), "{problem}");

    // A tiered licensed price has neither.
    let (path, _) = field_error(normalize_changed(
        "customer.subscription.updated.basil",
        |v| {
            let price = &mut v["data"]["object"]["items"]["data"][0]["price"];
            price["unit_amount"] = Value::Null;
            price["unit_amount_decimal"] = Value::Null;
            price["billing_scheme"] = json!("tiered");
        },
    ));
    assert_eq!(path, "data.object.items.data[0].price.unit_amount");

    // A metered sub-cent price never counts for MRR: the item is left out.
    let out = normalize_changed("customer.subscription.updated.basil", |v| {
        let price = &mut v["data"]["object"]["items"]["data"][1]["price"];
        price["unit_amount"] = Value::Null;
        price["unit_amount_decimal"] = json!("0.25");
    })
    .unwrap();
    let items = &subscription_of(&out.events[0]).items;
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i.usage_type == UsageType::Licensed));
}

#[test]
fn an_expanded_customer_keeps_its_email_and_name() {
    let out = normalize_changed("customer.subscription.updated.annual", |v| {
        v["data"]["object"]["customer"] = json!({
            "id": "cus_RaF3kqpT9Xv2Lm", "object": "customer",
            "email": "Ada@Example.com", "name": "Ada Lovelace"
        });
    })
    .unwrap();
    assert_eq!(
        out.events[0].customer,
        Some(Customer {
            id: id("cus_RaF3kqpT9Xv2Lm"),
            email: Some(email("ada@example.com")),
            name: Some("Ada Lovelace".into()),
        })
    );
}

// ─── cash ───────────────────────────────────────────────────────────────────

#[test]
fn charge_succeeded_is_the_payment() {
    let e = single("charge.succeeded");
    assert_eq!(e.kind, EventKind::PaymentSucceeded);
    assert_eq!(e.occurred_at, at("2025-02-15T09:00:05Z"));
    assert_eq!(
        e.payment,
        Some(Payment {
            id: id("ch_3QkAnnE7f3KYlo2C1xYzAbCd"),
            amount: 142000,
            currency: cur("usd"),
            paid_at: at("2025-02-15T09:00:04Z"),
            customer: Some(Customer {
                id: id("cus_RbT4turingAl"),
                // billing_details.email wins over receipt_email.
                email: Some(email("alan.turing@bletchley.example")),
                name: None,
            }),
            subscription_id: None,
            invoice_id: Some(id("in_1QkAnnE7f3KYlo2CfirstYr")),
        })
    );
}

#[test]
fn charge_email_falls_back_to_the_receipt_email_and_guests_have_no_customer() {
    let out = normalize_changed("charge.succeeded", |v| {
        v["data"]["object"]["billing_details"]["email"] = Value::Null;
    })
    .unwrap();
    let customer = out.events[0]
        .payment
        .as_ref()
        .unwrap()
        .customer
        .clone()
        .unwrap();
    assert_eq!(customer.email, Some(email("alan@bletchley.example")));

    let out = normalize_changed("charge.succeeded", |v| {
        v["data"]["object"]["customer"] = Value::Null;
    })
    .unwrap();
    assert_eq!(out.events[0].payment.as_ref().unwrap().customer, None);
}

#[test]
fn invoice_paid_links_the_same_payment_id_as_the_charge() {
    let charge = single("charge.succeeded");
    let invoice = single("invoice.paid");
    assert_eq!(invoice.kind, EventKind::PaymentSucceeded);
    assert_ne!(invoice.id, charge.id);
    let (c, i) = (charge.payment.unwrap(), invoice.payment.unwrap());
    assert_eq!(i.id, c.id, "one payment, counted once");
    assert_eq!(
        i,
        Payment {
            id: id("ch_3QkAnnE7f3KYlo2C1xYzAbCd"),
            amount: 142000,
            currency: cur("usd"),
            paid_at: at("2025-02-15T09:00:05Z"),
            customer: Some(Customer {
                id: id("cus_RbT4turingAl"),
                email: Some(email("alan@bletchley.example")),
                name: Some("Alan Turing".into()),
            }),
            subscription_id: Some(id("sub_1QiAnnE7f3KYlo2C9sTeAm3Q")),
            invoice_id: Some(id("in_1QkAnnE7f3KYlo2CfirstYr")),
        }
    );
}

#[test]
fn invoice_paid_falls_back_to_created_and_reads_the_newer_subscription_link() {
    let out = normalize_changed("invoice.paid", |v| {
        let inv = &mut v["data"]["object"];
        inv["status_transitions"]["paid_at"] = Value::Null;
        inv.as_object_mut().unwrap().remove("subscription");
        inv["parent"] = json!({"type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": "sub_1QiAnnE7f3KYlo2C9sTeAm3Q"}});
    })
    .unwrap();
    let p = out.events[0].payment.as_ref().unwrap();
    assert_eq!(p.paid_at, at("2025-02-15T09:00:00Z"));
    assert_eq!(p.subscription_id, Some(id("sub_1QiAnnE7f3KYlo2C9sTeAm3Q")));
}

#[test]
fn invoice_paid_without_a_charge_is_ignored_not_counted() {
    let e = single("invoice.paid.basil");
    assert_eq!(e.kind, EventKind::Ignored);
    assert_eq!(e.name.as_deref(), Some("invoice.paid"));
    assert_eq!(e.payment, None);
    let reason = e.properties.as_ref().unwrap()["reason"].as_str().unwrap();
    assert!(reason.contains("charge"), "{reason}");
}

// ─── refunds ────────────────────────────────────────────────────────────────

#[test]
fn charge_with_two_partial_refunds_gives_two_refunds() {
    let out = normalized("charge.refunded");
    let ids: Vec<&str> = out.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "evt_3QmRefE7f3KYlo2C0rEfUnD2",
            "evt_3QmRefE7f3KYlo2C0rEfUnD2:re_3QmRefE7f3KYlo2C0first1"
        ]
    );
    let refunds: Vec<Refund> = out
        .events
        .iter()
        .map(|e| {
            assert_eq!(e.kind, EventKind::RefundCreated);
            e.refund.clone().unwrap()
        })
        .collect();
    assert_eq!(
        refunds,
        [
            Refund {
                id: id("re_3QmRefE7f3KYlo2C0second"),
                payment_id: id("ch_3QmRefE7f3KYlo2C0pArTiAl"),
                amount: 3000,
                currency: cur("usd"),
                refunded_at: at("2025-03-05T16:40:00Z"),
            },
            Refund {
                id: id("re_3QmRefE7f3KYlo2C0first1"),
                payment_id: id("ch_3QmRefE7f3KYlo2C0pArTiAl"),
                amount: 2000,
                currency: cur("usd"),
                refunded_at: at("2025-03-03T09:15:00Z"),
            },
        ]
    );
    // Deterministic: a Stripe retry gives the same events.
    assert_eq!(normalized("charge.refunded"), out);
}

#[test]
fn failed_refunds_in_the_list_are_skipped() {
    let out = normalize_changed("charge.refunded", |v| {
        v["data"]["object"]["refunds"]["data"][0]["status"] = json!("failed");
    })
    .unwrap();
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].id.as_str(), "evt_3QmRefE7f3KYlo2C0rEfUnD2");
    assert_eq!(
        out.events[0].refund.as_ref().unwrap().id,
        id("re_3QmRefE7f3KYlo2C0first1")
    );
}

#[test]
fn charge_without_embedded_refunds_refunds_what_amount_refunded_grew_by() {
    let e = single("charge.refunded.unexpanded");
    assert_eq!(e.kind, EventKind::RefundCreated);
    assert_eq!(
        e.refund,
        Some(Refund {
            id: id("ch_3QmRefE7f3KYlo2C0pArTiAl:refunded:5000"),
            payment_id: id("ch_3QmRefE7f3KYlo2C0pArTiAl"),
            amount: 3000,
            currency: cur("usd"),
            refunded_at: at("2025-03-05T16:40:01Z"),
        })
    );

    // No previous total: the whole amount_refunded is this refund.
    let out = normalize_changed("charge.refunded.unexpanded", |v| {
        v["data"]
            .as_object_mut()
            .unwrap()
            .remove("previous_attributes");
    })
    .unwrap();
    assert_eq!(out.events[0].refund.as_ref().unwrap().amount, 5000);
}

#[test]
fn refund_created_is_one_refund_against_its_charge() {
    let e = single("refund.created");
    assert_eq!(e.kind, EventKind::RefundCreated);
    assert_eq!(
        e.refund,
        Some(Refund {
            id: id("re_3QmRefE7f3KYlo2C0first1"),
            payment_id: id("ch_3QmRefE7f3KYlo2C0pArTiAl"),
            amount: 2000,
            currency: cur("usd"),
            refunded_at: at("2025-03-03T09:15:00Z"),
        })
    );
    let out = normalize_changed("refund.created", |v| {
        v["data"]["object"]["status"] = json!("failed");
    })
    .unwrap();
    assert_eq!(out.events[0].kind, EventKind::Ignored);
}

// ─── everything else ────────────────────────────────────────────────────────

#[test]
fn unknown_types_are_one_ignored_event_with_the_raw_payload() {
    let e = single("payment_intent.created");
    assert_eq!(e.kind, EventKind::Ignored);
    assert_eq!(e.id.as_str(), "evt_3RZunkE7f3KYlo2C1qWeRtYu");
    assert_eq!(e.name.as_deref(), Some("payment_intent.created"));
    assert_eq!(e.properties, None);
    assert_eq!(e.raw, Some(fixture("payment_intent.created")));
    assert_eq!(e.customer, None);
}

#[test]
fn not_json_is_rejected() {
    assert!(matches!(
        normalize(b"{\"id\": \"evt_1\", "),
        Err(NormalizeError::NotJson(_))
    ));
    assert!(matches!(normalize(b""), Err(NormalizeError::NotJson(_))));
    let (path, problem) = field_error(normalize(b"[1, 2]"));
    assert_eq!(
        (path.as_str(), problem.as_str()),
        (".", "must be an object, got an array")
    );
}

#[test]
fn missing_data_object_names_the_path() {
    let (path, problem) = field_error(normalize_changed("payment_intent.created", |v| {
        v["data"].as_object_mut().unwrap().remove("object");
    }));
    assert_eq!(
        (path.as_str(), problem.as_str()),
        ("data.object", "is required")
    );

    let (path, _) = field_error(normalize_changed("charge.succeeded", |v| {
        v.as_object_mut().unwrap().remove("type");
    }));
    assert_eq!(path, "type");

    let (path, problem) = field_error(normalize_changed("charge.succeeded", |v| {
        v["created"] = json!("2025-02-15");
    }));
    assert_eq!(path, "created");
    assert_eq!(problem, "must be an integer, got a string (\"2025-02-15\")");
}

#[test]
fn unit_amount_as_a_string_names_the_path() {
    let (path, problem) = field_error(normalize_changed(
        "customer.subscription.updated.basil",
        |v| {
            v["data"]["object"]["items"]["data"][2]["price"]["unit_amount"] = json!("29900");
        },
    ));
    assert_eq!(path, "data.object.items.data[2].price.unit_amount");
    assert_eq!(problem, "must be an integer, got a string (\"29900\")");
}

#[test]
fn other_malformed_subscription_fields_name_their_path() {
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 6] = [
        ("data.object.items.data[0].price.recurring.interval", |v| {
            v["data"]["object"]["items"]["data"][0]["price"]["recurring"]["interval"] =
                json!("fortnight");
        }),
        (
            "data.object.items.data[0].price.recurring.interval_count",
            |v| {
                v["data"]["object"]["items"]["data"][0]["price"]["recurring"]["interval_count"] =
                    json!(0);
            },
        ),
        ("data.object.items.data[0].quantity", |v| {
            v["data"]["object"]["items"]["data"][0]["quantity"] = Value::Null;
        }),
        ("data.object.customer", |v| {
            v["data"]["object"]
                .as_object_mut()
                .unwrap()
                .remove("customer");
        }),
        ("data.object.currency", |v| {
            v["data"]["object"]["currency"] = json!("usdollars");
        }),
        ("data.object.items", |v| {
            v["data"]["object"]["items"] = json!([]);
        }),
    ];
    for (expected, change) in cases {
        let (path, _) = field_error(normalize_changed(
            "customer.subscription.updated.basil",
            change,
        ));
        assert_eq!(path, expected);
    }
    let (path, problem) = field_error(normalize_changed(
        "customer.subscription.updated.annual",
        |v| {
            v["data"]["object"]["discount"]["coupon"]["duration"] = json!("sometimes");
        },
    ));
    assert_eq!(path, "data.object.discount.coupon.duration");
    assert!(problem.contains("once, repeating or forever"), "{problem}");
}

#[test]
fn malformed_cash_fields_name_their_path() {
    let (path, _) = field_error(normalize_changed("charge.succeeded", |v| {
        v["data"]["object"]["amount"] = json!(-5);
    }));
    assert_eq!(path, "data.object.amount");
    let (path, _) = field_error(normalize_changed("invoice.paid", |v| {
        v["data"]["object"]["amount_paid"] = json!(49.5);
    }));
    assert_eq!(path, "data.object.amount_paid");
    let (path, _) = field_error(normalize_changed("charge.refunded", |v| {
        v["data"]["object"]["refunds"]["data"][1]["amount"] = Value::Null;
    }));
    assert_eq!(path, "data.object.refunds.data[1].amount");
    let (path, _) = field_error(normalize_changed("refund.created", |v| {
        v["data"]["object"]["charge"] = Value::Null;
    }));
    assert_eq!(path, "data.object.charge");
}

/// Replaces every value under `data.object` of every fixture, one at a
/// time, with values of other types: the normalizer must answer (an event
/// that validates, or an error) and never panic.
#[test]
fn no_payload_shape_makes_it_panic() {
    fn paths(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, c)| paths(c, format!("{at}/{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| paths(c, format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    let dir = format!("{}/tests/fixtures/stripe", env!("CARGO_MANIFEST_DIR"));
    let replacements = [Value::Null, json!("x"), json!(-1), json!(1.5), json!({})];
    let mut tried = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let original: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let mut all = Vec::new();
        paths(&original, String::new(), &mut all);
        for p in &all {
            for r in &replacements {
                let mut v = original.clone();
                if p.is_empty() {
                    v = r.clone();
                } else {
                    *v.pointer_mut(p).unwrap() = r.clone();
                }
                tried += 1;
                if let Ok(out) = normalize(&serde_json::to_vec(&v).unwrap()) {
                    assert!(!out.events.is_empty());
                    for e in out.events {
                        e.validate().unwrap();
                    }
                }
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}
