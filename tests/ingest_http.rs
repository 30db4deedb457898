//! Every ingest route, its success and each error status, over real TCP
//! with the real registry (SQLite) and the real local log (files on disk).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use revstream_ingest::http::IngestConfig;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope, LogError, LogRecord};
use revstream_ingest::verify::{sign_standard, sign_t_v1};
use revstream_schemas::EventKind;
use serde_json::{Value, json};
use support::server::{ADMIN_TOKEN, TestServer, now};

struct Harness {
    server: TestServer,
    log: Arc<LocalLog>,
    _log_dir: tempfile::TempDir,
}

async fn harness(config: IngestConfig) -> Harness {
    let log_dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(log_dir.path(), 4, LocalLogOptions::default()).unwrap();
    let server = TestServer::start(log.clone(), config).await;
    Harness {
        server,
        log,
        _log_dir: log_dir,
    }
}

/// Everything durable in the log, in partition then offset order.
async fn logged(log: &LocalLog) -> Vec<LogEnvelope> {
    let mut out = Vec::new();
    for p in 0..log.partitions() {
        for r in log.read(p, 0, usize::MAX).await.unwrap() {
            out.push(LogEnvelope::from_payload(&r.payload).unwrap());
        }
    }
    out
}

async fn error_code(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!message.is_empty(), "error without a message: {body}");
    (status, code, message)
}

fn stripe_customer_event(id: &str) -> Vec<u8> {
    json!({
        "id": id, "object": "event", "type": "customer.created", "created": 1767225600,
        "livemode": false, "api_version": "2024-06-20",
        "data": {"object": {"id": "cus_1", "object": "customer", "email": "Ada@Example.com", "name": "Ada"}}
    })
    .to_string()
    .into_bytes()
}

async fn post_stripe(
    s: &TestServer,
    tenant: &str,
    secret: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let sig = sign_t_v1(secret, now(), &body);
    s.http
        .post(s.url(&format!("/v1/webhooks/stripe/{tenant}")))
        .header("Stripe-Signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn signed_stripe_webhook_is_durable_before_200_and_deduped() {
    let h = harness(IngestConfig::default()).await;
    let t = h.server.tenant_with_secrets("acme").await;
    let resp = post_stripe(
        &h.server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "accepted", "event_id": "evt_1"}));

    // On disk already when the 200 arrived.
    let records = logged(&h.log).await;
    assert_eq!(records.len(), 1);
    let e = &records[0];
    assert_eq!(e.tenant.as_str(), "acme");
    assert_eq!(e.event.kind, EventKind::CustomerUpserted);
    assert_eq!(e.event.source.as_str(), "stripe");
    assert_eq!(
        e.event.raw.as_ref().unwrap()["id"],
        "evt_1",
        "raw payload kept"
    );

    // A provider retry: answered duplicate, nothing appended.
    let again = post_stripe(
        &h.server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    assert_eq!(logged(&h.log).await.len(), 1);
}

#[tokio::test]
async fn unknown_provider_types_are_ignored_but_kept() {
    let h = harness(IngestConfig::default()).await;
    let t = h.server.tenant_with_secrets("acme").await;
    let body = json!({"id": "evt_9", "object": "event", "type": "balance.available", "created": 1767225600,
                      "data": {"object": {"object": "balance"}}})
    .to_string()
    .into_bytes();
    let resp = post_stripe(&h.server, "acme", &t.secrets.stripe, body).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ignored");
    let records = logged(&h.log).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event.kind, EventKind::Ignored);
    assert_eq!(records[0].event.name.as_deref(), Some("balance.available"));
}

#[tokio::test]
async fn webhook_errors_answer_with_status_and_code() {
    let config = IngestConfig {
        webhook_body_limit: 4096,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let s = &h.server;
    let t = h.server.tenant_with_secrets("acme").await;
    s.registry
        .create_tenant(revstream_registry::NewTenant {
            id: "nosecrets".parse().unwrap(),
            name: None,
            timezone: None,
            churn_recognition: None,
        })
        .await
        .unwrap();
    let body = stripe_customer_event("evt_2");
    let post = |path: &str, sig: Option<String>, body: Vec<u8>| {
        let mut req = s.http.post(s.url(path)).body(body);
        if let Some(sig) = sig {
            req = req.header("Stripe-Signature", sig);
        }
        req.send()
    };

    let wrong = sign_t_v1("whsec_wrong", now(), &body);
    let (status, code, _) = error_code(
        post("/v1/webhooks/stripe/acme", Some(wrong), body.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );

    let (status, code, _) = error_code(
        post("/v1/webhooks/stripe/acme", None, body.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_signature")
    );

    let stale = sign_t_v1(&t.secrets.stripe, now() - 301, &body);
    let (status, code, message) = error_code(
        post("/v1/webhooks/stripe/acme", Some(stale), body.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "stale_timestamp")
    );
    assert!(message.contains("300"), "{message}");

    let mut tampered = body.clone();
    let sig = sign_t_v1(&t.secrets.stripe, now(), &body);
    tampered[10] ^= 1;
    let (status, _, _) = error_code(
        post("/v1/webhooks/stripe/acme", Some(sig), tampered)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let sig = sign_t_v1(&t.secrets.stripe, now(), &body);
    let (status, code, _) = error_code(
        post("/v1/webhooks/stripe/ghost", Some(sig.clone()), body.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "unknown_tenant")
    );
    let (status, code, _) = error_code(
        post(
            "/v1/webhooks/stripe/nosecrets",
            Some(sig.clone()),
            body.clone(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "no_secret")
    );
    let (status, code, _) = error_code(
        post("/v1/webhooks/paypal/acme", Some(sig), body.clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "unknown_source")
    );

    // Signed but not a Stripe event.
    let junk = b"{\"hello\": \"world\"}".to_vec();
    let sig = sign_t_v1(&t.secrets.stripe, now(), &junk);
    let (status, code, _) = error_code(
        post("/v1/webhooks/stripe/acme", Some(sig), junk)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_payload")
    );

    let big = vec![b' '; 5000];
    let sig = sign_t_v1(&t.secrets.stripe, now(), &big);
    let (status, code, _) = error_code(
        post("/v1/webhooks/stripe/acme", Some(sig), big)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );

    assert!(
        logged(&h.log).await.is_empty(),
        "no rejected request wrote anything"
    );
}

#[tokio::test]
async fn whop_calendly_and_standard_webhooks_are_accepted() {
    let h = harness(IngestConfig::default()).await;
    let s = &h.server;
    let t = h.server.tenant_with_secrets("acme").await;

    let whop = std::fs::read("ingest/tests/fixtures/whop/payment_succeeded.json").unwrap();
    let msg_id = "msg_whop_1";
    let ts = now();
    let sig = sign_standard(&t.secrets.standard, msg_id, ts, &whop).unwrap();
    let resp = s
        .http
        .post(s.url("/v1/webhooks/whop/acme"))
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(whop)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );

    let calendly = std::fs::read("ingest/tests/fixtures/calendly/invitee_created.json").unwrap();
    let sig = sign_t_v1(&t.secrets.calendly, now(), &calendly);
    let resp = s
        .http
        .post(s.url("/v1/webhooks/calendly/acme"))
        .header("Calendly-Webhook-Signature", sig)
        .body(calendly)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );

    let event = json!({"id": "std_1", "type": "track", "occurred_at": "2026-01-05T10:00:00Z",
                       "name": "webinar.attended"})
    .to_string()
    .into_bytes();
    let ts = now();
    let sig = sign_standard(&t.secrets.standard, "msg_std_1", ts, &event).unwrap();
    let resp = s
        .http
        .post(s.url("/v1/webhooks/standard/acme"))
        .header("webhook-id", "msg_std_1")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["event_id"], "msg_std_1");

    let kinds: Vec<EventKind> = logged(&h.log)
        .await
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert!(kinds.contains(&EventKind::PaymentSucceeded), "{kinds:?}");
    assert!(kinds.contains(&EventKind::CallBooked), "{kinds:?}");
    assert!(kinds.contains(&EventKind::Track), "{kinds:?}");
}

fn canonical(id: &str) -> Value {
    json!({"id": id, "type": "payment.succeeded", "occurred_at": "2026-01-05T10:00:00Z",
           "payment": {"id": format!("pay_{id}"), "amount": 4900, "currency": "usd",
                       "paid_at": "2026-01-05T10:00:00Z", "customer": "cus_1"}})
}

async fn post_events(s: &TestServer, key: &str, body: String) -> reqwest::Response {
    s.http
        .post(s.url("/v1/events"))
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn batches_keep_good_rows_and_name_bad_ones() {
    let h = harness(IngestConfig::default()).await;
    let s = &h.server;
    let t = h.server.tenant_with_secrets("acme").await;

    let mut bad = canonical("e3");
    bad["payment"]["amount"] = json!(-5);
    let batch = json!([canonical("e1"), canonical("e2"), bad, canonical("e1"), {"nope": true}]);
    let resp = post_events(s, &t.ingest_key, batch.to_string()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["duplicates"], 1, "e1 twice in one batch");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 2);
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .contains("payment.amount must be ≥ 0")
    );
    assert_eq!(rejected[1]["index"], 4);

    // NDJSON, with a row already accepted before.
    let ndjson = format!("{}\n\n{}\n", canonical("e2"), canonical("e4"));
    let body: Value = post_events(s, &t.ingest_key, ndjson)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(1))
    );

    let ids: Vec<String> = logged(&h.log)
        .await
        .into_iter()
        .map(|e| e.event.id.to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["e1", "e2", "e4"]);
    assert!(
        logged(&h.log)
            .await
            .iter()
            .all(|e| e.event.source.as_str() == "api")
    );
}

#[tokio::test]
async fn batch_errors() {
    let config = IngestConfig {
        batch_max_events: 3,
        batch_body_limit: 10_000,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let s = &h.server;
    let t = h.server.tenant_with_secrets("acme").await;

    let resp = post_events(s, &t.ingest_key, "[{\"bad\": 1}]".into()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_valid_events");
    assert_eq!(body["rejected"][0]["index"], 0);

    let (status, code, _) =
        error_code(post_events(s, &t.ingest_key, "[{\"a\":".into()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    let four = json!([
        canonical("a"),
        canonical("b"),
        canonical("c"),
        canonical("d")
    ])
    .to_string();
    let (status, code, _) = error_code(post_events(s, &t.ingest_key, four).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_events")
    );

    let (status, code, _) =
        error_code(post_events(s, &t.ingest_key, " ".repeat(20_000)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );

    let (status, _, _) =
        error_code(post_events(s, "rsk_000000000000_nope", "[]".into()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .post(s.url("/v1/events"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let viewer = s
        .registry
        .create_key(&t.tenant, revstream_registry::Role::Viewer)
        .await
        .unwrap();
    let (status, code, _) = error_code(post_events(s, &viewer.key, "[]".into()).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(logged(&h.log).await.is_empty());
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let config = IngestConfig {
        rate_per_sec: 1.0,
        rate_burst: 2.0,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let t = h.server.tenant_with_secrets("acme").await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let resp = post_stripe(
            &h.server,
            "acme",
            &t.secrets.stripe,
            stripe_customer_event(&format!("evt_r{i}")),
        )
        .await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().get("retry-after").is_some());
        }
        statuses.push(resp.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        logged(&h.log).await.len(),
        2,
        "the limited request wrote nothing"
    );
}

#[tokio::test]
async fn admin_routes_manage_tenants_keys_and_secrets() {
    let h = harness(IngestConfig::default()).await;
    let s = &h.server;
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(ADMIN_TOKEN).send();

    let resp = admin(s.http.post(s.url("/v1/admin/tenants")).json(&json!({
        "id": "acme", "name": "Acme", "timezone": "Europe/Berlin", "churn_recognition": "at_request"})))
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let tenant: Value = resp.json().await.unwrap();
    assert_eq!(tenant["timezone"], "Europe/Berlin");
    assert_eq!(tenant["churn_recognition"], "at_request");

    let cases = [
        (json!({"id": "acme"}), StatusCode::CONFLICT, "tenant_exists"),
        (
            json!({"id": "beta", "timezone": "Mars/Base"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"id": "Not Valid"}),
            StatusCode::BAD_REQUEST,
            "invalid_tenant_id",
        ),
        (
            json!({"id": "beta", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let resp = admin(s.http.post(s.url("/v1/admin/tenants")).json(&body))
            .await
            .unwrap();
        let (status, code, _) = error_code(resp).await;
        assert_eq!((status, code.as_str()), (want_status, want_code), "{body}");
    }
    let resp = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .json(&json!({"id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth("wrong-token")
        .json(&json!({"id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = admin(
        s.http
            .post(s.url("/v1/admin/tenants/acme/keys"))
            .json(&json!({"role": "ingest"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let key: Value = resp.json().await.unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("rsk_"));
    let resp = admin(
        s.http
            .post(s.url("/v1/admin/tenants/ghost/keys"))
            .json(&json!({"role": "ingest"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = admin(
        s.http
            .post(s.url("/v1/admin/tenants/acme/keys"))
            .json(&json!({"role": "owner"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Rotation through the API: two secrets valid, then the old one removed.
    for secret in ["whsec_old", "whsec_new"] {
        let resp = admin(
            s.http
                .put(s.url("/v1/admin/tenants/acme/secrets/stripe"))
                .json(&json!({"secret": secret})),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let body = stripe_customer_event("evt_rot_1");
    assert_eq!(
        post_stripe(s, "acme", "whsec_old", body).await.status(),
        StatusCode::OK
    );
    let body = stripe_customer_event("evt_rot_2");
    assert_eq!(
        post_stripe(s, "acme", "whsec_new", body).await.status(),
        StatusCode::OK
    );
    let listed: Value = admin(s.http.get(s.url("/v1/admin/tenants/acme/secrets/stripe")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 2);
    let resp = admin(
        s.http
            .delete(s.url("/v1/admin/tenants/acme/secrets/stripe/1")),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let body = stripe_customer_event("evt_rot_3");
    assert_eq!(
        post_stripe(s, "acme", "whsec_old", body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = admin(
        s.http
            .delete(s.url("/v1/admin/tenants/acme/secrets/stripe/1")),
    )
    .await
    .unwrap();
    assert_eq!(error_code(resp).await.1, "unknown_secret");
    let resp = admin(
        s.http
            .put(s.url("/v1/admin/tenants/acme/secrets/paypal"))
            .json(&json!({"secret": "x"})),
    )
    .await
    .unwrap();
    assert_eq!(error_code(resp).await.1, "unknown_source");
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let h = harness(IngestConfig::default()).await;
    let s = &h.server;
    assert_eq!(
        s.http.get(s.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"]["event_log"],
        "ok"
    );
    let (status, code, _) =
        error_code(s.http.get(s.url("/v2/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, code, _) = error_code(s.http.get(s.url("/v1/events")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

/// A log that refuses every append: the HTTP layer must answer 503 with
/// Retry-After and never 2xx. (The real broker outage is in kafka_ingest.rs.)
#[derive(Debug)]
struct DownLog;

#[async_trait::async_trait]
impl EventLog for DownLog {
    async fn append(&self, _: Vec<LogRecord>) -> Result<(), LogError> {
        Err(LogError::Unavailable("disk on fire".into()))
    }
    async fn check(&self) -> Result<(), LogError> {
        Err(LogError::Unavailable("disk on fire".into()))
    }
    fn describe(&self) -> String {
        "down".into()
    }
}

#[tokio::test]
async fn an_unavailable_log_answers_503_never_2xx() {
    let server = TestServer::start(Arc::new(DownLog), IngestConfig::default()).await;
    let t = server.tenant_with_secrets("acme").await;
    let resp = post_stripe(
        &server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    let (_, code, message) = error_code(resp).await;
    assert_eq!(code, "log_unavailable");
    assert!(
        !message.contains("disk on fire"),
        "internals are not leaked: {message}"
    );

    let resp = post_events(&server, &t.ingest_key, json!([canonical("e1")]).to_string()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A retry after the outage must not be mistaken for a duplicate.
    let resp = post_stripe(
        &server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);

    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A local log whose appends land at once but are acknowledged only when
/// the test opens the gate: a write that is durable while its caller is
/// still waiting, as when the request times out between the two.
#[derive(Debug)]
struct GatedLog {
    inner: Arc<LocalLog>,
    gate: Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl EventLog for GatedLog {
    async fn append(&self, records: Vec<LogRecord>) -> Result<(), LogError> {
        self.inner.append(records).await?;
        let _ack = self.gate.acquire().await;
        Ok(())
    }
    async fn check(&self) -> Result<(), LogError> {
        self.inner.check().await
    }
    fn describe(&self) -> String {
        "gated".into()
    }
}

#[tokio::test]
async fn an_append_that_outlives_its_request_is_still_remembered() {
    let log_dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(log_dir.path(), 4, LocalLogOptions::default()).unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let gated = Arc::new(GatedLog {
        inner: log.clone(),
        gate: gate.clone(),
    });
    let server = TestServer::start_with(
        gated,
        IngestConfig::default(),
        std::time::Duration::from_millis(300),
        revstream_ingest::http::ServeOptions::default(),
    )
    .await;
    let t = server.tenant_with_secrets("acme").await;

    // The request times out while its append waits for the acknowledgement.
    let first = post_stripe(
        &server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(first.status(), StatusCode::REQUEST_TIMEOUT);
    // The event is durable although the sender was told 408 (at least
    // once: the sender retries, and the pipeline dedupes).
    gate.add_permits(1_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while logged(&log).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the append never landed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Its bookkeeping runs right after the append, on the same task: give
    // it a moment, then the provider's retry must be answered duplicate and
    // append nothing (before, the dropped request skipped the bookkeeping,
    // and the retry was appended a second time).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let again = post_stripe(
        &server,
        "acme",
        &t.secrets.stripe,
        stripe_customer_event("evt_1"),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    assert_eq!(logged(&log).await.len(), 1);
}
