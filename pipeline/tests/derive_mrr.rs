//! A subscription's billing amount and normalized MRR (spec/metrics.md,
//! "Subscriptions and MRR"), one worked example per rule. Expected values are
//! computed by hand in the comments.

mod derive_support;

use derive_support::{item, monthly, only_subscription, sub};
use revstream_schemas::event::Interval;
use serde_json::json;

/// (mrr, billing_amount) of one active subscription with these items.
fn amounts(items: Vec<serde_json::Value>) -> (i64, i64) {
    let row = only_subscription(sub("sub_1", "active", items));
    (row.mrr, row.billing_amount)
}

#[test]
fn a_monthly_price_is_its_own_mrr() {
    let row = only_subscription(sub("sub_1", "active", vec![monthly(4900)]));
    assert_eq!(row.mrr, 4900);
    assert_eq!(row.billing_amount, 4900);
    assert_eq!(row.billing_interval, Some(Interval::Month));
    assert_eq!(row.billing_interval_count, Some(1));
}

#[test]
fn months_divide_by_the_interval_count() {
    // 3000 every 3 months = 1000 / month.
    assert_eq!(amounts(vec![item(3000, "month", 3)]), (1000, 3000));
    // 1000 every 3 months = 333.33… → 333.
    assert_eq!(amounts(vec![item(1000, "month", 3)]), (333, 1000));
}

#[test]
fn years_divide_by_twelve_times_the_count() {
    // 12000 / 12 = 1000.
    assert_eq!(amounts(vec![item(12000, "year", 1)]), (1000, 12000));
    // 1000 / 12 = 83.33… → 83.
    assert_eq!(amounts(vec![item(1000, "year", 1)]), (83, 1000));
    // 24000 every 2 years: 24000 / 24 = 1000.
    assert_eq!(amounts(vec![item(24000, "year", 2)]), (1000, 24000));
}

#[test]
fn halves_round_to_even() {
    // 1230 / 12 = 102.5 → 102 (even); 1242 / 12 = 103.5 → 104 (even).
    assert_eq!(amounts(vec![item(1230, "year", 1)]).0, 102);
    assert_eq!(amounts(vec![item(1242, "year", 1)]).0, 104);
    // 6 × 365 / 12 = 182.5 → 182; 18 × 365 / 12 = 547.5 → 548.
    assert_eq!(amounts(vec![item(6, "day", 1)]).0, 182);
    assert_eq!(amounts(vec![item(18, "day", 1)]).0, 548);
    // 3 every 2 months = 1.5 → 2; 1 every 2 months = 0.5 → 0.
    assert_eq!(amounts(vec![item(3, "month", 2)]).0, 2);
    assert_eq!(amounts(vec![item(1, "month", 2)]).0, 0);
}

#[test]
fn weeks_are_fifty_two_per_twelve_months() {
    // 1000 × 52 / 12 = 4333.33… → 4333.
    assert_eq!(amounts(vec![item(1000, "week", 1)]), (4333, 1000));
    // 1000 every 2 weeks: 1000 × 52 / 24 = 2166.67 → 2167.
    assert_eq!(amounts(vec![item(1000, "week", 2)]), (2167, 1000));
    // 300 × 52 / 12 = 1300 exactly.
    assert_eq!(amounts(vec![item(300, "week", 1)]), (1300, 300));
}

#[test]
fn days_are_three_hundred_sixty_five_per_twelve_months() {
    // 100 × 365 / 12 = 3041.67 → 3042.
    assert_eq!(amounts(vec![item(100, "day", 1)]), (3042, 100));
    // 3000 every 30 days: 3000 × 365 / 360 = 3041.67 → 3042.
    assert_eq!(amounts(vec![item(3000, "day", 30)]), (3042, 3000));
    // 1200 every 365 days = 100 exactly.
    assert_eq!(amounts(vec![item(1200, "day", 365)]), (100, 1200));
}

#[test]
fn quantity_multiplies_the_unit_amount() {
    let mut seat = monthly(1500);
    seat["quantity"] = json!(3);
    // 1500 × 3 = 4500.
    assert_eq!(amounts(vec![seat]), (4500, 4500));
    let mut none = monthly(1500);
    none["quantity"] = json!(0);
    assert_eq!(amounts(vec![none]), (0, 0));
}

#[test]
fn metered_items_never_count() {
    let mut usage = monthly(999);
    usage["usage_type"] = json!("metered");
    assert_eq!(amounts(vec![monthly(4900), usage.clone()]), (4900, 4900));
    // Metered first: the primary interval is the first *licensed* item's.
    let mut yearly_usage = item(999, "year", 1);
    yearly_usage["usage_type"] = json!("metered");
    let row = only_subscription(sub("sub_1", "active", vec![yearly_usage, monthly(4900)]));
    assert_eq!(
        (row.mrr, row.billing_interval),
        (4900, Some(Interval::Month))
    );
    // Only metered items: nothing recurring to count.
    let row = only_subscription(sub("sub_1", "active", vec![usage]));
    assert_eq!(
        (row.mrr, row.billing_amount, row.billing_interval),
        (0, 0, None)
    );
}

/// MRR of a 4900 / month subscription with these discounts.
fn discounted(discounts: serde_json::Value) -> i64 {
    let mut s = sub("sub_1", "active", vec![monthly(4900)]);
    s["discounts"] = discounts;
    only_subscription(s).mrr
}

#[test]
fn recurring_percent_discounts_reduce_mrr() {
    // 4900 × 0.8 = 3920.
    assert_eq!(
        discounted(json!([{"percent_off": 20, "duration": "forever"}])),
        3920
    );
    // 4900 × 0.9 = 4410.
    assert_eq!(
        discounted(json!([{"percent_off": 10, "duration": "repeating"}])),
        4410
    );
    // Two percents compound: 4900 × 0.8 × 0.9 = 3528.
    assert_eq!(
        discounted(json!([
            {"percent_off": 20, "duration": "forever"},
            {"percent_off": 10, "duration": "forever"}
        ])),
        3528
    );
    // 999 × 0.875 = 874.125 → 874.
    let mut s = sub("sub_1", "active", vec![monthly(999)]);
    s["discount"] = json!({"percent_off": 12.5, "duration": "forever"});
    assert_eq!(only_subscription(s).mrr, 874);
}

#[test]
fn once_discounts_do_not_count() {
    assert_eq!(
        discounted(json!([{"percent_off": 50, "duration": "once"}])),
        4900
    );
    assert_eq!(
        discounted(json!([{"amount_off": 1000, "duration": "once"}])),
        4900
    );
}

#[test]
fn fixed_discounts_apply_after_percent_and_floor_at_zero() {
    // 4900 − 500 = 4400.
    assert_eq!(
        discounted(json!([{"amount_off": 500, "duration": "forever"}])),
        4400
    );
    // Percent first: 4900 × 0.8 − 500 = 3420 (not (4900 − 500) × 0.8 = 3520).
    assert_eq!(
        discounted(json!([
            {"amount_off": 500, "duration": "forever"},
            {"percent_off": 20, "duration": "forever"}
        ])),
        3420
    );
    // The `discount` and `discounts` fields both apply.
    let mut s = sub("sub_1", "active", vec![monthly(4900)]);
    s["discount"] = json!({"percent_off": 20, "duration": "forever"});
    s["discounts"] = json!([{"amount_off": 500, "duration": "repeating"}]);
    assert_eq!(only_subscription(s).mrr, 3420);
    // More off than the price: 0, never negative.
    assert_eq!(
        discounted(json!([{"amount_off": 10000, "duration": "forever"}])),
        0
    );
}

#[test]
fn fixed_discounts_are_per_billing_period() {
    // 12000 / year with 1200 off each year: (12000 − 1200) / 12 = 900.
    let mut s = sub("sub_1", "active", vec![item(12000, "year", 1)]);
    s["discount"] = json!({"amount_off": 1200, "duration": "forever"});
    let row = only_subscription(s);
    assert_eq!((row.mrr, row.billing_amount), (900, 10800));
}

#[test]
fn mixed_intervals_normalize_each_item() {
    // 1000 / month + 12000 / year = 1000 + 1000 = 2000 a month; primary month.
    let row = only_subscription(sub(
        "sub_1",
        "active",
        vec![monthly(1000), item(12000, "year", 1)],
    ));
    assert_eq!((row.mrr, row.billing_amount), (2000, 2000));

    // Yearly first: 500 off per year → 2000 − 500 / 12 = 1958.33 → 1958;
    // billing per year = 1958.33… × 12 = 23500.
    let mut s = sub(
        "sub_1",
        "active",
        vec![item(12000, "year", 1), monthly(1000)],
    );
    s["discount"] = json!({"amount_off": 500, "duration": "forever"});
    let row = only_subscription(s);
    assert_eq!(row.billing_interval, Some(Interval::Year));
    assert_eq!((row.mrr, row.billing_amount), (1958, 23500));

    // Percent applies to the sum: 2000 × 0.5 = 1000.
    let mut s = sub(
        "sub_1",
        "active",
        vec![item(12000, "year", 1), monthly(1000)],
    );
    s["discount"] = json!({"percent_off": 50, "duration": "forever"});
    assert_eq!(only_subscription(s).mrr, 1000);
}

#[test]
fn only_active_and_past_due_count() {
    for (status, counts) in [
        ("active", true),
        ("past_due", true),
        ("trialing", false),
        ("incomplete", false),
        ("incomplete_expired", false),
        ("unpaid", false),
        ("paused", false),
        ("canceled", false),
    ] {
        let row = only_subscription(sub("sub_1", status, vec![monthly(4900)]));
        assert_eq!(row.mrr, if counts { 4900 } else { 0 }, "{status}");
        // The price is reported whatever the status.
        assert_eq!(row.billing_amount, 4900, "{status}");
        assert_eq!(row.status.as_str(), status);
    }
}
