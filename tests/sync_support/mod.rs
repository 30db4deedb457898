//! Shared by the sync tests: a fake provider API on 127.0.0.1 (axum) that
//! serves pages in each provider's documented list format and injects
//! failures, and a harness with a real registry (SQLite file), a real local
//! event log and the pipeline's pure derive over what the log holds.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use revstream_ingest::log::LogEnvelope;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::sync::{PullOptions, RetryPolicy, SyncTarget};
use revstream_pipeline::derive::{Derived, TenantSettings, derive};
use revstream_registry::{MasterKey, NewTenant, Registry};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "sk_test_good";

/// Pages by "<path>|<cursor>" where the cursor is the value of
/// `starting_after`, `page` (1 = none) or `page_token`; failures to answer
/// before the page, in order, per key.
#[derive(Default)]
struct FakeState {
    pages: Mutex<HashMap<String, Value>>,
    failures: Mutex<HashMap<String, VecDeque<u16>>>,
    requests: Mutex<Vec<String>>,
}

/// A fake provider API.
#[derive(Clone)]
pub(crate) struct FakeProvider {
    pub(crate) base: String,
    state: Arc<FakeState>,
}

fn key_of(uri: &Uri) -> String {
    let mut cursor = String::new();
    for pair in uri.query().unwrap_or("").split('&') {
        if let Some((k, v)) = pair.split_once('=')
            && ["starting_after", "page_token", "page"].contains(&k)
            && !(k == "page" && v == "1")
        {
            cursor = v.to_owned();
        }
    }
    format!("{}|{cursor}", uri.path())
}

async fn serve(State(state): State<Arc<FakeState>>, uri: Uri, headers: HeaderMap) -> Response {
    let key = key_of(&uri);
    state.requests.lock().unwrap().push(key.clone());
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"message":"Invalid API Key"}}"#,
        )
            .into_response();
    }
    let failure = state
        .failures
        .lock()
        .unwrap()
        .get_mut(&key)
        .and_then(VecDeque::pop_front);
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap();
        let mut response = (status, "try again").into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
        }
        return response;
    }
    match state.pages.lock().unwrap().get(&key) {
        Some(page) => axum::Json(page.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no page {key}")).into_response(),
    }
}

impl FakeProvider {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let app = Router::new().fallback(serve).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    /// Serves `page` at `path` for `cursor` ("" for the first page).
    pub(crate) fn page(&self, path: &str, cursor: &str, page: Value) {
        self.state
            .pages
            .lock()
            .unwrap()
            .insert(format!("{path}|{cursor}"), page);
    }

    pub(crate) fn remove_page(&self, path: &str, cursor: &str) {
        self.state
            .pages
            .lock()
            .unwrap()
            .remove(&format!("{path}|{cursor}"));
    }

    /// Answers `status` (once per call) before serving that page.
    pub(crate) fn fail(&self, path: &str, cursor: &str, status: u16) {
        self.state
            .failures
            .lock()
            .unwrap()
            .entry(format!("{path}|{cursor}"))
            .or_default()
            .push_back(status);
    }

    /// Every request key so far, in order; then forgets them.
    pub(crate) fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.state.requests.lock().unwrap())
    }

    pub(crate) fn options(&self) -> PullOptions {
        PullOptions {
            base_url: Some(self.base.clone()),
            retry: fast_retry(),
        }
    }
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
    }
}

/// A registry, a local log and one tenant, in a temporary directory.
pub(crate) struct Harness {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) registry: Registry,
    pub(crate) log: Arc<LocalLog>,
    pub(crate) tenant: TenantId,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = revstream_registry::sqlite_url(&dir.path().join("registry.db"));
        let registry = Registry::open(&url, MasterKey::generate().unwrap())
            .await
            .unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        registry
            .create_tenant(NewTenant {
                id: tenant.clone(),
                name: None,
                timezone: None,
                churn_recognition: None,
            })
            .await
            .unwrap();
        let log = LocalLog::open(dir.path().join("log"), 2, LocalLogOptions::default()).unwrap();
        Self {
            dir,
            registry,
            log,
            tenant,
        }
    }

    pub(crate) async fn credential(&self, source: &str, value: &str) {
        self.registry
            .set_credential(&self.tenant, source, value)
            .await
            .unwrap();
    }

    pub(crate) fn target(&self) -> SyncTarget {
        SyncTarget {
            registry: self.registry.clone(),
            log: self.log.clone(),
            tenant: self.tenant.clone(),
        }
    }

    /// Every event in the log, in log order.
    pub(crate) async fn events(&self) -> Vec<CanonicalEvent> {
        let mut out = Vec::new();
        for p in 0..self.log.partitions() {
            for r in self.log.read(p, 0, 1_000_000).await.unwrap() {
                out.push(LogEnvelope::from_payload(&r.payload).unwrap().event);
            }
        }
        out
    }

    pub(crate) async fn derived(&self) -> Derived {
        derive(&TenantSettings::default(), &self.events().await)
    }
}

/// Unix seconds of an RFC 3339 UTC instant.
pub(crate) fn secs(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

// ---- Stripe objects, in the list API's shape --------------------------------

pub(crate) fn stripe_customer(id: &str, email: &str, created: &str) -> Value {
    json!({"id": id, "object": "customer", "email": email, "name": null, "created": secs(created)})
}

pub(crate) fn stripe_sub(
    id: &str,
    customer: &str,
    amount: i64,
    start: &str,
    ended: Option<&str>,
) -> Value {
    let ended = ended.map(secs);
    json!({
        "id": id, "object": "subscription", "customer": customer, "currency": "usd",
        "status": if ended.is_some() { "canceled" } else { "active" },
        "created": secs(start), "start_date": secs(start),
        "cancel_at_period_end": false, "canceled_at": ended, "ended_at": ended,
        "current_period_end": secs(start) + 30 * 86_400,
        "discount": null, "trial_end": null,
        "items": {"object": "list", "data": [{
            "id": format!("si_{id}"), "object": "subscription_item", "quantity": 1,
            "price": {"id": "price_pro", "object": "price", "unit_amount": amount,
                      "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}}
        }], "has_more": false}
    })
}

pub(crate) fn stripe_charge(
    id: &str,
    customer: &str,
    amount: i64,
    created: &str,
    status: &str,
) -> Value {
    json!({"id": id, "object": "charge", "amount": amount, "currency": "usd", "customer": customer,
           "created": secs(created), "status": status, "paid": status == "succeeded",
           "billing_details": {"email": null}, "receipt_email": null, "invoice": null})
}

pub(crate) fn stripe_refund(id: &str, charge: &str, amount: i64, created: &str) -> Value {
    json!({"id": id, "object": "refund", "amount": amount, "charge": charge, "currency": "usd",
           "created": secs(created), "status": "succeeded"})
}

pub(crate) fn stripe_list(data: Vec<Value>, has_more: bool) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/x"})
}

/// The Stripe account of the pull tests: three customers, three
/// subscriptions (one ended), three charges (one failed), one refund, over
/// several pages.
pub(crate) fn stripe_account(p: &FakeProvider) {
    p.page(
        "/v1/customers",
        "",
        stripe_list(
            vec![
                stripe_customer("cus_1", "ada@example.com", "2026-01-02T09:00:00Z"),
                stripe_customer("cus_2", "bob@example.com", "2026-01-03T09:00:00Z"),
            ],
            true,
        ),
    );
    p.page(
        "/v1/customers",
        "cus_2",
        stripe_list(
            vec![stripe_customer(
                "cus_3",
                "cy@example.com",
                "2026-01-04T09:00:00Z",
            )],
            false,
        ),
    );
    p.page(
        "/v1/subscriptions",
        "",
        stripe_list(
            vec![
                stripe_sub("sub_1", "cus_1", 4900, "2026-01-05T10:00:00Z", None),
                stripe_sub("sub_2", "cus_2", 9900, "2026-01-10T10:00:00Z", None),
            ],
            true,
        ),
    );
    p.page(
        "/v1/subscriptions",
        "sub_2",
        stripe_list(
            vec![stripe_sub(
                "sub_3",
                "cus_3",
                2000,
                "2026-01-07T10:00:00Z",
                Some("2026-02-07T10:00:00Z"),
            )],
            false,
        ),
    );
    p.page(
        "/v1/charges",
        "",
        stripe_list(
            vec![
                stripe_charge("ch_1", "cus_1", 4900, "2026-01-05T10:00:05Z", "succeeded"),
                stripe_charge("ch_2", "cus_2", 9900, "2026-01-10T10:00:05Z", "succeeded"),
                stripe_charge("ch_3", "cus_3", 2000, "2026-02-07T10:00:05Z", "failed"),
            ],
            false,
        ),
    );
    p.page(
        "/v1/refunds",
        "",
        stripe_list(
            vec![stripe_refund("re_1", "ch_2", 1000, "2026-01-12T08:00:00Z")],
            false,
        ),
    );
}
