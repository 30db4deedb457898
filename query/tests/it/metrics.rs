//! `/v1/metrics` for the hand-computed tenant `acme` (America/New_York;
//! see `support::acme_events`), over HTTP.
//!
//! The facts below were worked out by hand from the events (tenant-local
//! days; several events fall on another UTC date). Two checks use them:
//! literal expected values for the three months and the totals, and a
//! small reference model (straight from spec/metrics.md, independent of
//! the server's SQL) for every metric of every day, week and month.

use chrono::{Datelike, NaiveDate};
use revstream_query::{QueryConfig, TablesOptions};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, Server, error_of, json_of, standard_fixture, test_config};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// (day, customer, movement, magnitude) in USD.
const MOVEMENTS: &[(&str, &str, &str, i64)] = &[
    ("2026-01-05", "c1", "new", 10_000),
    ("2026-01-10", "c2", "new", 5_000),
    ("2026-01-25", "c2", "churn", 5_000),
    ("2026-01-31", "c3", "new", 20_000),
    ("2026-02-10", "c1", "expansion", 5_000),
    ("2026-02-15", "c2", "reactivation", 6_000),
    ("2026-03-01", "c4", "new", 3_000),
    ("2026-03-05", "c3", "churn", 20_000),
    ("2026-03-20", "c1", "contraction", 3_000),
];
/// Succeeded USD payments by paid day (p4 failed; p6 is EUR).
const CASH: &[(&str, i64)] = &[
    ("2026-01-05", 10_000),
    ("2026-01-10", 5_000),
    ("2026-02-10", 15_000),
    ("2026-02-20", 50_000),
    ("2026-03-04", 30_000),
];
const REFUNDS: &[(&str, i64)] = &[("2026-01-05", 1_000), ("2026-03-02", 20_000)];
/// Local dates of `booked_at`.
const BOOKED: &[&str] = &[
    "2026-01-03",
    "2026-01-04",
    "2026-02-02",
    "2026-02-03",
    "2026-02-10",
    "2026-02-11",
    "2026-02-28",
    "2026-03-02",
];
/// (scheduled day, outcome): showed+offer+closed, no_show, …
const SCHEDULED: &[(&str, &str)] = &[
    ("2026-01-08", "closed"),
    ("2026-01-08", "no_show"),
    ("2026-02-05", "offer"),
    ("2026-02-06", "canceled"),
    ("2026-02-12", "rescheduled"),
    ("2026-02-19", "showed"),
    ("2026-03-10", "pending"),
    ("2026-03-04", "closed"),
];

fn within(day: &str, start: NaiveDate, end: NaiveDate) -> bool {
    let day = d(day);
    day >= start && day <= end
}

fn ratio(n: i64, den: i64) -> Value {
    if den == 0 {
        Value::Null
    } else {
        json!(n as f64 / den as f64)
    }
}

/// (MRR, active customers) at the end of `day`.
fn state_at(day: NaiveDate) -> (i64, i64) {
    let mut mrr = 0;
    let mut last: std::collections::BTreeMap<&str, &str> = Default::default();
    for (when, customer, kind, amount) in MOVEMENTS {
        if d(when) > day {
            continue;
        }
        mrr += if matches!(*kind, "churn" | "contraction") {
            -amount
        } else {
            *amount
        };
        last.insert(customer, kind);
    }
    (mrr, last.values().filter(|k| **k != "churn").count() as i64)
}

/// Every metric of spec/metrics.md for [start, end], from the facts.
fn expected(start: NaiveDate, end: NaiveDate) -> serde_json::Map<String, Value> {
    let sum_kind = |kind: &str| -> (i64, i64) {
        MOVEMENTS
            .iter()
            .filter(|m| m.2 == kind && within(m.0, start, end))
            .fold((0, 0), |(s, n), m| (s + m.3, n + 1))
    };
    let (new, new_n) = sum_kind("new");
    let (expansion, _) = sum_kind("expansion");
    let (contraction, _) = sum_kind("contraction");
    let (churned, churned_n) = sum_kind("churn");
    let (reactivation, reactivated_n) = sum_kind("reactivation");
    let (mrr, active) = state_at(end);
    let (mrr_start, active_start) = state_at(start.pred_opt().unwrap());
    let cash: i64 = CASH
        .iter()
        .filter(|c| within(c.0, start, end))
        .map(|c| c.1)
        .sum();
    let refunds: i64 = REFUNDS
        .iter()
        .filter(|c| within(c.0, start, end))
        .map(|c| c.1)
        .sum();
    let booked = BOOKED.iter().filter(|b| within(b, start, end)).count() as i64;
    let count = |what: &[&str]| {
        SCHEDULED
            .iter()
            .filter(|s| within(s.0, start, end) && what.contains(&s.1))
            .count() as i64
    };
    let showed = count(&["closed", "offer", "showed"]);
    let no_shows = count(&["no_show"]);
    let offers = count(&["closed", "offer"]);
    let closed = count(&["closed"]);
    let churn_rate = ratio(churned_n, active_start);
    let net_churn = ratio(churned + contraction - expansion - reactivation, mrr_start);
    let arpu = ratio(mrr, active);
    let ltv = match (arpu.as_f64(), churn_rate.as_f64()) {
        (Some(a), Some(c)) if c != 0.0 => json!(a / c),
        _ => Value::Null,
    };
    let pairs = [
        ("mrr", json!(mrr)),
        ("arr", json!(mrr * 12)),
        ("mrr_start", json!(mrr_start)),
        ("active_customers", json!(active)),
        ("active_customers_start", json!(active_start)),
        ("new_mrr", json!(new)),
        ("expansion_mrr", json!(expansion)),
        ("contraction_mrr", json!(contraction)),
        ("churned_mrr", json!(churned)),
        ("reactivation_mrr", json!(reactivation)),
        (
            "net_new_mrr",
            json!(new + expansion + reactivation - contraction - churned),
        ),
        ("new_customers", json!(new_n)),
        ("churned_customers", json!(churned_n)),
        ("reactivated_customers", json!(reactivated_n)),
        ("customer_churn_rate", churn_rate),
        (
            "gross_mrr_churn_rate",
            ratio(churned + contraction, mrr_start),
        ),
        ("net_mrr_churn_rate", net_churn.clone()),
        (
            "nrr",
            net_churn.as_f64().map_or(Value::Null, |r| json!(1.0 - r)),
        ),
        ("arpu", arpu),
        ("ltv", ltv),
        (
            "quick_ratio",
            ratio(new + expansion + reactivation, churned + contraction),
        ),
        ("booked_calls", json!(booked)),
        ("showed", json!(showed)),
        ("no_shows", json!(no_shows)),
        ("pending", json!(count(&["pending"]))),
        ("offers", json!(offers)),
        ("closed", json!(closed)),
        ("show_rate", ratio(showed, showed + no_shows)),
        ("close_rate", ratio(closed, showed)),
        ("offer_rate", ratio(offers, showed)),
        ("offer_close_rate", ratio(closed, offers)),
        ("canceled_calls", json!(count(&["canceled"]))),
        ("rescheduled_calls", json!(count(&["rescheduled"]))),
        ("cash_collected", json!(cash)),
        ("refunds", json!(refunds)),
        ("net_revenue", json!(cash - refunds)),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Equal, floats within 1e-9.
fn assert_same(actual: &Value, expected: &Value, context: &str) {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(e)) if !(actual.is_i64() && expected.is_i64()) => {
            assert!((a - e).abs() < 1e-9, "{context}: {actual} != {expected}")
        }
        _ => assert_eq!(actual, expected, "{context}"),
    }
}

fn assert_metrics(actual: &Value, expected: &serde_json::Map<String, Value>, context: &str) {
    for (name, want) in expected {
        assert_same(&actual[name], want, &format!("{context} {name}"));
    }
}

const RANGE: &str = "from=2026-01-01&to=2026-03-31";

async fn setup() -> (Server, crate::support::Fixture) {
    let f = standard_fixture().await;
    let config = QueryConfig {
        cache_bytes: 0,
        ..test_config()
    };
    let s = Server::start(f.tables(TablesOptions::default()).await, config).await;
    (s, f)
}

#[tokio::test]
async fn every_metric_by_month_matches_the_hand_computation() {
    let (s, _f) = setup().await;
    let body = json_of(
        s.get(
            &s.acme.viewer,
            &format!("/v1/metrics?{RANGE}&interval=month&currency=usd"),
        )
        .await,
    )
    .await;
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["currency"], "usd");
    assert_eq!(body["from"], "2026-01-01");
    assert_eq!(body["to"], "2026-03-31");
    assert_eq!(body["interval"], "month");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    assert_eq!(
        (series[1]["start"].as_str(), series[1]["end"].as_str()),
        (Some("2026-02-01"), Some("2026-02-28"))
    );
    // 36 metrics + start + end.
    assert_eq!(series[0].as_object().unwrap().len(), 38);

    let third = 1.0 / 3.0;
    let literal = [
        // January: c1, c2 and c3 new (c3 on Jan 31 local), c2 churned.
        json!({"mrr": 30000, "arr": 360000, "mrr_start": 0, "active_customers": 2, "active_customers_start": 0,
            "new_mrr": 35000, "expansion_mrr": 0, "contraction_mrr": 0, "churned_mrr": 5000, "reactivation_mrr": 0,
            "net_new_mrr": 30000, "new_customers": 3, "churned_customers": 1, "reactivated_customers": 0,
            "customer_churn_rate": null, "gross_mrr_churn_rate": null, "net_mrr_churn_rate": null, "nrr": null,
            "arpu": 15000.0, "ltv": null, "quick_ratio": 7.0,
            "booked_calls": 2, "showed": 1, "no_shows": 1, "pending": 0, "offers": 1, "closed": 1,
            "show_rate": 0.5, "close_rate": 1.0, "offer_rate": 1.0, "offer_close_rate": 1.0,
            "canceled_calls": 0, "rescheduled_calls": 0,
            "cash_collected": 15000, "refunds": 1000, "net_revenue": 14000}),
        // February: c1 expanded, c2 reactivated; k4 canceled, k5 rescheduled.
        json!({"mrr": 41000, "arr": 492000, "mrr_start": 30000, "active_customers": 3, "active_customers_start": 2,
            "new_mrr": 0, "expansion_mrr": 5000, "contraction_mrr": 0, "churned_mrr": 0, "reactivation_mrr": 6000,
            "net_new_mrr": 11000, "new_customers": 0, "churned_customers": 0, "reactivated_customers": 1,
            "customer_churn_rate": 0.0, "gross_mrr_churn_rate": 0.0, "net_mrr_churn_rate": -11000.0 / 30000.0,
            "nrr": 1.0 + 11000.0 / 30000.0, "arpu": 41000.0 / 3.0, "ltv": null, "quick_ratio": null,
            "booked_calls": 5, "showed": 2, "no_shows": 0, "pending": 0, "offers": 1, "closed": 0,
            "show_rate": 1.0, "close_rate": 0.0, "offer_rate": 0.5, "offer_close_rate": 0.0,
            "canceled_calls": 1, "rescheduled_calls": 1,
            "cash_collected": 65000, "refunds": 0, "net_revenue": 65000}),
        // March: c4 new, c3 churned, c1 contracted (after the DST change).
        json!({"mrr": 21000, "arr": 252000, "mrr_start": 41000, "active_customers": 3, "active_customers_start": 3,
            "new_mrr": 3000, "expansion_mrr": 0, "contraction_mrr": 3000, "churned_mrr": 20000, "reactivation_mrr": 0,
            "net_new_mrr": -20000, "new_customers": 1, "churned_customers": 1, "reactivated_customers": 0,
            "customer_churn_rate": third, "gross_mrr_churn_rate": 23000.0 / 41000.0,
            "net_mrr_churn_rate": 23000.0 / 41000.0, "nrr": 1.0 - 23000.0 / 41000.0,
            "arpu": 7000.0, "ltv": 21000.0, "quick_ratio": 3000.0 / 23000.0,
            "booked_calls": 1, "showed": 1, "no_shows": 0, "pending": 1, "offers": 1, "closed": 1,
            "show_rate": 1.0, "close_rate": 1.0, "offer_rate": 1.0, "offer_close_rate": 1.0,
            "canceled_calls": 0, "rescheduled_calls": 0,
            "cash_collected": 30000, "refunds": 20000, "net_revenue": 10000}),
    ];
    for (i, want) in literal.iter().enumerate() {
        assert_metrics(
            &series[i],
            want.as_object().unwrap(),
            &format!("month {}", i + 1),
        );
        // The hand numbers and the reference model agree.
        let (start, end) = (
            d(series[i]["start"].as_str().unwrap()),
            d(series[i]["end"].as_str().unwrap()),
        );
        assert_metrics(
            want,
            &expected(start, end),
            &format!("model month {}", i + 1),
        );
    }
    let totals = json!({"mrr": 21000, "mrr_start": 0, "active_customers": 3, "active_customers_start": 0,
        "new_mrr": 38000, "expansion_mrr": 5000, "contraction_mrr": 3000, "churned_mrr": 25000,
        "reactivation_mrr": 6000, "net_new_mrr": 21000, "new_customers": 4, "churned_customers": 2,
        "reactivated_customers": 1, "customer_churn_rate": null, "arpu": 7000.0, "quick_ratio": 1.75,
        "booked_calls": 8, "showed": 4, "no_shows": 1, "pending": 1, "offers": 3, "closed": 2,
        "show_rate": 0.8, "close_rate": 0.5, "offer_rate": 0.75, "offer_close_rate": 2.0 / 3.0,
        "canceled_calls": 1, "rescheduled_calls": 1, "cash_collected": 110000, "refunds": 21000, "net_revenue": 89000});
    assert_metrics(&body["totals"], totals.as_object().unwrap(), "totals");
    assert_metrics(
        &body["totals"],
        &expected(d("2026-01-01"), d("2026-03-31")),
        "model totals",
    );
}

#[tokio::test]
async fn every_metric_by_day_and_week() {
    let (s, _f) = setup().await;
    for interval in ["day", "week"] {
        let body = json_of(
            s.get(
                &s.acme.analyst,
                &format!("/v1/metrics?{RANGE}&interval={interval}&currency=usd"),
            )
            .await,
        )
        .await;
        let series = body["series"].as_array().unwrap();
        let expected_len = if interval == "day" { 90 } else { 14 };
        assert_eq!(series.len(), expected_len, "{interval}");
        let mut previous_end: Option<NaiveDate> = None;
        for entry in series {
            let (start, end) = (
                d(entry["start"].as_str().unwrap()),
                d(entry["end"].as_str().unwrap()),
            );
            if let Some(p) = previous_end {
                assert_eq!(
                    start,
                    p.succ_opt().unwrap(),
                    "{interval}: periods are contiguous"
                );
            }
            if interval == "week" && start != d("2026-01-01") {
                assert_eq!(start.weekday(), chrono::Weekday::Mon);
            }
            previous_end = Some(end);
            assert_metrics(
                entry,
                &expected(start, end),
                &format!("{interval} {start}..{end}"),
            );
        }
        assert_metrics(
            &body["totals"],
            &expected(d("2026-01-01"), d("2026-03-31")),
            interval,
        );
    }
    // Spot checks by hand: c2's signup on Jan 10 local (03:00 UTC on the 11th).
    let jan10 = json_of(
        s.get(
            &s.acme.viewer,
            "/v1/metrics?from=2026-01-10&to=2026-01-10&currency=usd",
        )
        .await,
    )
    .await;
    assert_eq!(jan10["totals"]["new_mrr"], 5000);
    assert_eq!(jan10["totals"]["mrr"], 15000);
    assert_eq!(jan10["totals"]["cash_collected"], 5000);
    let jan11 = json_of(
        s.get(
            &s.acme.viewer,
            "/v1/metrics?from=2026-01-11&to=2026-01-11&currency=usd",
        )
        .await,
    )
    .await;
    assert_eq!(jan11["totals"]["new_mrr"], 0);
    // The week of Feb 9–15: expansion and reactivation, nothing lost.
    let week = json_of(s.get(&s.acme.viewer, "/v1/metrics?from=2026-02-09&to=2026-02-15&interval=week&currency=usd&metrics=net_new_mrr,quick_ratio,mrr,booked_calls").await).await;
    assert_eq!(week["series"].as_array().unwrap().len(), 1);
    assert_eq!(
        week["totals"],
        json!({"net_new_mrr": 11000, "quick_ratio": null, "mrr": 41000, "booked_calls": 2})
    );
}

#[tokio::test]
async fn grouped_by_each_attribute() {
    let (s, _f) = setup().await;
    let all = |booked: i64,
               showed: i64,
               no_shows: i64,
               pending: i64,
               offers: i64,
               closed: i64,
               canceled: i64,
               rescheduled: i64,
               cash: i64,
               refunds: i64| {
        json!({"booked_calls": booked, "showed": showed, "no_shows": no_shows, "pending": pending,
            "offers": offers, "closed": closed, "canceled_calls": canceled, "rescheduled_calls": rescheduled,
            "show_rate": ratio(showed, showed + no_shows), "close_rate": ratio(closed, showed),
            "offer_rate": ratio(offers, showed), "offer_close_rate": ratio(closed, offers),
            "cash_collected": cash, "refunds": refunds, "net_revenue": cash - refunds})
    };
    let cases = [
        (
            "closer",
            vec![
                (json!("alice"), all(4, 3, 0, 0, 2, 1, 0, 1, 50_000, 20_000)),
                (json!("bob"), all(3, 1, 1, 0, 1, 1, 1, 0, 30_000, 0)),
                (json!("carol"), all(1, 0, 0, 1, 0, 0, 0, 0, 0, 0)),
                (Value::Null, all(0, 0, 0, 0, 0, 0, 0, 0, 30_000, 1_000)),
            ],
        ),
        (
            "setter",
            vec![
                (json!("sam"), all(4, 2, 1, 0, 1, 1, 0, 1, 50_000, 20_000)),
                (json!("tina"), all(2, 2, 0, 0, 2, 1, 0, 0, 30_000, 0)),
                (Value::Null, all(2, 0, 0, 1, 0, 0, 1, 0, 30_000, 1_000)),
            ],
        ),
        (
            "source",
            vec![
                (json!("ads"), all(4, 3, 0, 0, 3, 2, 1, 0, 80_000, 20_000)),
                (json!("organic"), all(3, 1, 1, 0, 0, 0, 0, 1, 0, 0)),
                (Value::Null, all(1, 0, 0, 1, 0, 0, 0, 0, 30_000, 1_000)),
            ],
        ),
        (
            "call_type",
            vec![
                (json!("discovery"), all(1, 1, 0, 0, 1, 0, 0, 0, 0, 0)),
                (json!("sales"), all(6, 3, 1, 0, 2, 2, 1, 1, 80_000, 20_000)),
                (Value::Null, all(1, 0, 0, 1, 0, 0, 0, 0, 30_000, 1_000)),
            ],
        ),
    ];
    let ungrouped = expected(d("2026-01-01"), d("2026-03-31"));
    for (by, groups) in cases {
        let body = json_of(
            s.get(
                &s.acme.viewer,
                &format!("/v1/metrics?{RANGE}&group_by={by}&currency=usd"),
            )
            .await,
        )
        .await;
        assert_eq!(body["group_by"], by);
        assert!(body.get("series").is_none());
        let got = body["groups"].as_array().unwrap();
        assert_eq!(got.len(), groups.len(), "{by}: {body}");
        for (g, (key, totals)) in got.iter().zip(&groups) {
            assert_eq!(&g["key"], key, "{by}");
            assert_eq!(
                g["totals"].as_object().unwrap().len(),
                15,
                "{by}: MRR metrics are left out"
            );
            assert_metrics(
                &g["totals"],
                totals.as_object().unwrap(),
                &format!("{by}={key}"),
            );
        }
        // The groups add up to the ungrouped totals.
        for (name, value) in body["totals"].as_object().unwrap() {
            assert_same(value, &ungrouped[name], &format!("{by} totals {name}"));
        }
    }
    // A narrower range: only February's calls of alice.
    let feb = json_of(s.get(&s.acme.viewer, "/v1/metrics?from=2026-02-01&to=2026-02-28&group_by=closer&metrics=booked_calls,showed,cash_collected&currency=usd").await).await;
    assert_eq!(
        feb["groups"][0],
        json!({"key": "alice", "totals": {"booked_calls": 3, "showed": 2, "cash_collected": 50000}})
    );
}

#[tokio::test]
async fn currencies_are_never_mixed() {
    let (s, _f) = setup().await;
    // acme has USD and EUR: money metrics need a choice.
    let (status, code, message) =
        error_of(s.get(&s.acme.viewer, &format!("/v1/metrics?{RANGE}")).await).await;
    assert_eq!((status, code.as_str()), (400, "currency_required"));
    assert!(message.contains("eur, usd"), "{message}");
    let eur = json_of(
        s.get(
            &s.acme.viewer,
            &format!("/v1/metrics?{RANGE}&currency=EUR&interval=month"),
        )
        .await,
    )
    .await;
    assert_eq!(eur["currency"], "eur");
    assert_metrics(
        &eur["totals"],
        json!({"mrr": 7000, "new_mrr": 7000, "active_customers": 1, "cash_collected": 7000,
        "refunds": 0, "new_customers": 1, "booked_calls": 8})
        .as_object()
        .unwrap(),
        "eur",
    );
    // Call metrics alone need no currency.
    let calls = json_of(
        s.get(
            &s.acme.viewer,
            &format!("/v1/metrics?{RANGE}&metrics=showed,show_rate"),
        )
        .await,
    )
    .await;
    assert_eq!(calls["currency"], Value::Null);
    assert_eq!(calls["totals"], json!({"showed": 4, "show_rate": 0.8}));
    // beta has one currency: it is the default. Its rows never mix with acme's.
    let beta = json_of(
        s.get(
            &s.beta.viewer,
            &format!("/v1/metrics?{RANGE}&interval=month"),
        )
        .await,
    )
    .await;
    assert_eq!(beta["currency"], "usd");
    assert_eq!(beta["totals"]["mrr"], 99_999 + 1_234);
    assert_eq!(beta["totals"]["cash_collected"], 99_999);
    assert_eq!(beta["totals"]["showed"], 1);
    // The admin token reads any tenant with ?tenant=.
    let admin = json_of(
        s.get(
            ADMIN_TOKEN,
            &format!("/v1/metrics?{RANGE}&tenant=beta&metrics=mrr"),
        )
        .await,
    )
    .await;
    assert_eq!(admin["totals"], json!({"mrr": 101_233}));
}

#[tokio::test]
async fn bad_requests_say_why() {
    let (s, _f) = setup().await;
    let key = &s.acme.viewer;
    for (query, code, needle) in [
        ("from=2026-03-01&to=2026-01-01", "invalid_request", "after"),
        ("to=2026-01-01", "invalid_request", "from is required"),
        ("from=2026-01-01&to=March", "invalid_request", "YYYY-MM-DD"),
        (
            "from=2026-01-01&to=2026-01-31&interval=hour",
            "invalid_request",
            "interval",
        ),
        (
            "from=2026-01-01&to=2026-01-31&metrics=mrr,bogus,nope",
            "unknown_metric",
            "bogus, nope",
        ),
        (
            "from=2026-01-01&to=2026-01-31&group_by=country",
            "invalid_request",
            "group_by",
        ),
        (
            "from=2026-01-01&to=2026-01-31&group_by=closer&metrics=mrr,showed",
            "invalid_request",
            "mrr cannot be grouped",
        ),
        (
            "from=2026-01-01&to=2026-01-31&currency=dollars",
            "invalid_request",
            "currency",
        ),
        (
            "from=2026-01-01&to=2026-01-31&metric=mrr",
            "invalid_request",
            "\"metric\"",
        ),
    ] {
        let (status, got, message) =
            error_of(s.get(key, &format!("/v1/metrics?{query}")).await).await;
        assert_eq!((status, got.as_str()), (400, code), "{query}: {message}");
        assert!(message.contains(needle), "{query}: {message}");
    }
    assert_eq!(
        error_of(s.get(ADMIN_TOKEN, &format!("/v1/metrics?{RANGE}")).await)
            .await
            .1,
        "tenant_required"
    );
    assert_eq!(
        error_of(s.get(&s.acme.ingest, &format!("/v1/metrics?{RANGE}")).await)
            .await
            .0,
        403
    );
    assert_eq!(
        error_of(s.get("bad", &format!("/v1/metrics?{RANGE}")).await)
            .await
            .0,
        401
    );
}
