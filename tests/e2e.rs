//! The whole system as users run it: real processes, real HTTP, signed
//! webhooks from each provider plus a producer batch, metrics read back
//! exactly — on `revstream serve` (embedded log, SQLite) across a restart,
//! and on separate ingest, pipeline and query processes over the real
//! broker and PostgreSQL — and what every role's `/metrics` says about it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::time::{Duration, Instant};

use revstream_ingest::verify::{sign_standard, sign_t_v1};
use serde_json::{Value, json};
use support::admin::AdminApi;
use support::kafka::{Broker, unique_topic};
use support::postgres::TestDatabase;
use support::process::{Process, free_port, wait_healthy};

const STRIPE_SECRET: &str = "whsec_e2e_stripe";
const WHOP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CALENDLY_SECRET: &str = "calendly-e2e-key";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Sets the tenant up and sends one signed webhook per provider and a
/// producer batch. Returns the tenant's admin key.
async fn send_scenario(http: &reqwest::Client, ingest: &str) -> String {
    let admin = AdminApi { http, base: ingest };
    admin
        .create_tenant(json!({"id": "acme", "name": "Acme"}))
        .await;
    for (source, secret) in [
        ("stripe", STRIPE_SECRET),
        ("whop", WHOP_SECRET),
        ("calendly", CALENDLY_SECRET),
    ] {
        admin.put_secret("acme", source, secret).await;
    }
    let key = admin.create_key("acme", "admin").await;

    // Stripe: a subscription of 2 seats at $49/month → MRR 9,800 cents.
    let stripe = json!({"id": "evt_e2e_sub", "object": "event", "type": "customer.subscription.created",
        "created": 1767607200, "api_version": "2024-06-20", "livemode": false,
        "data": {"object": {"id": "sub_e2e", "object": "subscription", "customer": "cus_e2e", "status": "active",
            "currency": "usd", "cancel_at_period_end": false, "canceled_at": null, "ended_at": null,
            "current_period_end": 1770285600, "discount": null,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "quantity": 2,
                "price": {"id": "price_pro", "object": "price", "unit_amount": 4900, "currency": "usd",
                    "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}}}]}}}})
    .to_string();
    let r = http
        .post(format!("{ingest}/v1/webhooks/stripe/acme"))
        .header(
            "Stripe-Signature",
            sign_t_v1(STRIPE_SECRET, now(), stripe.as_bytes()),
        )
        .body(stripe)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Whop (Standard Webhooks): a $49.99 payment on 2026-01-06.
    let mut whop: Value = serde_json::from_slice(
        &std::fs::read("ingest/tests/fixtures/whop/payment_succeeded.json").unwrap(),
    )
    .unwrap();
    whop["data"]["paid_at"] = json!("2026-01-06T12:00:00.000Z");
    whop["data"]["created_at"] = json!("2026-01-06T12:00:00.000Z");
    whop["timestamp"] = json!("2026-01-06T12:00:01.000Z");
    let whop = whop.to_string();
    let ts = now();
    let r = http
        .post(format!("{ingest}/v1/webhooks/whop/acme"))
        .header("webhook-id", "msg_e2e_whop")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            sign_standard(WHOP_SECRET, "msg_e2e_whop", ts, whop.as_bytes()).unwrap(),
        )
        .body(whop)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Calendly: one booking.
    let calendly = std::fs::read("ingest/tests/fixtures/calendly/invitee_created.json").unwrap();
    let r = http
        .post(format!("{ingest}/v1/webhooks/calendly/acme"))
        .header(
            "Calendly-Webhook-Signature",
            sign_t_v1(CALENDLY_SECRET, now(), &calendly),
        )
        .body(calendly)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // A producer batch: a $100 payment, and one bad row that is reported.
    let batch = json!([
        {"id": "pay_batch_1", "type": "payment.succeeded", "occurred_at": "2026-01-07T09:00:00Z",
         "payment": {"id": "p_batch_1", "amount": 10000, "currency": "usd", "paid_at": "2026-01-07T09:00:00Z"}},
        {"id": "bad", "type": "payment.succeeded", "occurred_at": "2026-01-07T09:00:00Z"}
    ]);
    let r: Value = http
        .post(format!("{ingest}/v1/events"))
        .bearer_auth(&key)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["accepted"], 1);
    assert_eq!(r["rejected"][0]["index"], 1);
    key
}

/// What the scenario must produce, exactly.
fn expected() -> Value {
    json!({"mrr": 9800, "new_mrr": 9800, "arr": 117600, "new_customers": 1,
           "cash_collected": 14999, "booked_calls": 1})
}

async fn metrics(http: &reqwest::Client, query: &str, key: &str) -> Option<Value> {
    let r = http
        .get(format!(
            "{query}/v1/metrics?from=2025-01-01&to=2026-12-31&interval=month&metrics=mrr,new_mrr,arr,new_customers,cash_collected,booked_calls"
        ))
        .bearer_auth(key)
        .send()
        .await
        .ok()?;
    r.status().is_success().then_some(())?;
    Some(r.json::<Value>().await.ok()?["totals"].clone())
}

async fn wait_for_metrics(http: &reqwest::Client, query: &str, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        last = metrics(http, query, key).await;
        if last.as_ref() == Some(&expected()) {
            return expected();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("metrics never reached {} (last: {last:?})", expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_end_to_end_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Process::start(
        &["serve", "--http", &format!("127.0.0.1:{port}")],
        data.path(),
        &[],
    );
    wait_healthy(&http, &base).await;
    let key = send_scenario(&http, &base).await;
    assert_eq!(wait_for_metrics(&http, &base, &key).await, expected());
    serve.stop();

    let serve = Process::start(
        &["serve", "--http", &format!("127.0.0.1:{port}")],
        data.path(),
        &[],
    );
    wait_healthy(&http, &base).await;
    assert_eq!(
        metrics(&http, &base, &key).await,
        Some(expected()),
        "same values after restart"
    );
    // Provider retries after the restart change nothing.
    let _ = send_retry(&http, &base).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(metrics(&http, &base, &key).await, Some(expected()));
    serve.stop();
}

/// `GET /metrics` of a role, checked to be OpenMetrics text.
async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// The value of one series (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Every `revstream_pipeline_consumer_lag_records` series: (labels, value).
fn lag_series(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("revstream_pipeline_consumer_lag_records{"))
        .filter_map(|l| {
            let (labels, v) = l.split_once("} ")?;
            Some((labels.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// A Stripe delivery whose signature was made with the wrong secret.
async fn send_forged(http: &reqwest::Client, ingest: &str) {
    let body = r#"{"id": "evt_forged", "type": "customer.subscription.created"}"#;
    let r = http
        .post(format!("{ingest}/v1/webhooks/stripe/acme"))
        .header(
            "Stripe-Signature",
            sign_t_v1("whsec_not_the_secret", now(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
}

/// Events the scenario commits, at least (a webhook per provider and the
/// batch's valid rows).
const SCENARIO_EVENTS: f64 = 4.0;

/// `GET /metrics` of a role once its pipeline counted the scenario's
/// events. The counters move just after a commit, which queries may
/// already see: a scrape right after the answers can be a moment early.
async fn scrape_after_commits(http: &reqwest::Client, base: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(http, base).await;
        let committed = sample(&text, "revstream_pipeline_events_committed_total");
        if committed.is_some_and(|n| n >= SCENARIO_EVENTS) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pipeline committed every event of the scenario, and measured it.
fn assert_pipeline_metrics(text: &str) {
    let committed = sample(text, "revstream_pipeline_events_committed_total").unwrap();
    assert!(
        committed >= SCENARIO_EVENTS,
        "{SCENARIO_EVENTS} events at least: {committed}\n{text}"
    );
    assert!(sample(text, "revstream_pipeline_commits_total").unwrap() >= 1.0);
    assert!(sample(text, "revstream_pipeline_commit_duration_seconds_count").unwrap() >= 1.0);
    // One freshness observation per committed event.
    assert_eq!(
        sample(text, "revstream_pipeline_freshness_seconds_count"),
        Some(committed),
        "{text}"
    );
    // The state holds every event the pipeline derives from.
    let held = sample(text, "revstream_pipeline_state_events").unwrap();
    assert!(
        held >= committed,
        "{held} events in state, {committed} committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exposes_prometheus_metrics() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let serve = Process::start(
        &["serve", "--http", &format!("127.0.0.1:{port}")],
        data.path(),
        &[],
    );
    wait_healthy(&http, &base).await;
    let key = send_scenario(&http, &base).await;
    send_forged(&http, &base).await;
    // /v1/metrics is a query route: the wait is timed too.
    assert_eq!(wait_for_metrics(&http, &base, &key).await, expected());
    let r = http
        .post(format!("{base}/v1/query"))
        .bearer_auth(&key)
        .json(&json!({"sql": "SELECT count(*) AS n FROM events"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let text = scrape_after_commits(&http, &base).await;
    let requests = |source: &str| {
        sample(
            &text,
            &format!(
                r#"revstream_ingest_requests_total{{route="webhooks",source="{source}",status="accepted"}}"#
            ),
        )
    };
    for source in ["stripe", "whop", "calendly"] {
        assert_eq!(requests(source), Some(1.0), "{source}\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_rejected_total{route="webhooks",source="stripe",reason="invalid_signature"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_requests_total{route="events",source="api",status="accepted"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_events_total{route="events",status="invalid"}"#
        ),
        Some(1.0)
    );
    // Every successful append was timed: 3 webhooks and 1 batch.
    assert_eq!(
        sample(&text, "revstream_ingest_append_duration_seconds_count"),
        Some(4.0),
        "{text}"
    );
    assert_pipeline_metrics(&text);
    // Caught up: each partition of the embedded log (4) is 0 behind.
    let lag = lag_series(&text);
    assert_eq!(lag.len(), 4, "{text}");
    assert!(lag.iter().all(|(_, v)| *v == 0.0), "{lag:?}");
    assert_eq!(
        sample(
            &text,
            r#"revstream_query_request_duration_seconds_count{route="query",status="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"revstream_query_request_duration_seconds_count{route="metrics",status="200"}"#
        )
        .unwrap()
            >= 1.0
    );
    assert!(text.contains(r#"role="serve""#), "{text}");
    // What the process holds in memory, for a soak to follow.
    let allocated = sample(&text, "revstream_process_heap_allocated_bytes").unwrap();
    let resident = sample(&text, "revstream_process_heap_resident_bytes").unwrap();
    assert!(
        allocated > f64::from(1 << 20) && resident >= allocated,
        "{text}"
    );
    assert!(
        sample(&text, "revstream_query_cache_bytes").is_some(),
        "{text}"
    );
    // The in-process pipeline is part of readiness.
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["pipeline"], "ok", "{ready}");
    serve.stop();
}

/// The Stripe delivery again (a provider retry).
async fn send_retry(http: &reqwest::Client, ingest: &str) -> reqwest::StatusCode {
    let stripe = json!({"id": "evt_e2e_sub", "object": "event", "type": "customer.subscription.created",
        "created": 1767607200, "data": {"object": {"id": "sub_e2e", "object": "subscription", "customer": "cus_e2e",
        "status": "active", "currency": "usd", "cancel_at_period_end": false,
        "items": {"object": "list", "data": [{"id": "si_1", "quantity": 2, "price": {"id": "price_pro",
        "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month", "interval_count": 1}}}]}}}})
    .to_string();
    http.post(format!("{ingest}/v1/webhooks/stripe/acme"))
        .header(
            "Stripe-Signature",
            sign_t_v1(STRIPE_SECRET, now(), stripe.as_bytes()),
        )
        .body(stripe)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_roles_on_kafka_and_postgres() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let topic = unique_topic("e2e-roles");
    let tables = tempfile::tempdir().unwrap();
    let (ingest_dir, pipeline_dir, query_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let http = reqwest::Client::new();
    let (ingest_port, query_port, pipeline_port) = (
        free_port().to_string(),
        free_port().to_string(),
        free_port().to_string(),
    );
    let shared = [
        ("REVSTREAM_KAFKA", broker.bootstrap.as_str()),
        ("REVSTREAM_KAFKA_TOPIC", topic.as_str()),
        ("REVSTREAM_DATABASE_URL", db.url.as_str()),
        ("REVSTREAM_TABLE_URI", tables.path().to_str().unwrap()),
    ];
    let ingest_base = format!("http://127.0.0.1:{ingest_port}");
    let query_base = format!("http://127.0.0.1:{query_port}");
    let ingest = Process::start(
        &["ingest", "--http", &format!("127.0.0.1:{ingest_port}")],
        ingest_dir.path(),
        &shared,
    );
    wait_healthy(&http, &ingest_base).await;
    // The pipeline joins once ingest has created the topic.
    let pipeline_base = format!("http://127.0.0.1:{pipeline_port}");
    let pipeline = Process::start(
        &["pipeline", "--http", &format!("127.0.0.1:{pipeline_port}")],
        pipeline_dir.path(),
        &shared,
    );
    let query = Process::start(
        &["query", "--http", &format!("127.0.0.1:{query_port}")],
        query_dir.path(),
        &shared,
    );
    wait_healthy(&http, &query_base).await;

    let key = send_scenario(&http, &ingest_base).await;
    send_forged(&http, &ingest_base).await;
    assert_eq!(wait_for_metrics(&http, &query_base, &key).await, expected());

    // Each role serves its own /metrics.
    let text = scrape(&http, &ingest_base).await;
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_requests_total{route="webhooks",source="stripe",status="accepted"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_rejected_total{route="webhooks",source="stripe",reason="invalid_signature"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let text = scrape(&http, &query_base).await;
    assert!(
        text.contains(
            r#"revstream_query_request_duration_seconds_count{route="metrics",status="200"}"#
        ),
        "{text}"
    );
    wait_healthy(&http, &pipeline_base).await;
    let ready = http
        .get(format!("{pipeline_base}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    assert_pipeline_metrics(&scrape_after_commits(&http, &pipeline_base).await);
    // Lag comes from librdkafka's statistics (every 5 s) once the group
    // offsets are committed: the partition holding acme's events, caught up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lag = loop {
        let lag = lag_series(&scrape(&http, &pipeline_base).await);
        if !lag.is_empty() || Instant::now() > deadline {
            break lag;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(!lag.is_empty(), "no consumer lag reported");
    assert!(lag.iter().all(|(_, v)| *v == 0.0), "{lag:?}");
    for p in [ingest, pipeline, query] {
        p.stop();
    }
}
