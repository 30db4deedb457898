//! Fixtures built the real way: canonical events appended to the embedded
//! local log, consumed by the real pipeline into real Delta tables in a
//! temp dir; a query server over real TCP with the real registry (SQLite).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use revstream_ingest::http::{Auth, finish};
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope};
use revstream_pipeline::derive::TenantSettings;
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_query::engine::SqlRequest;
use revstream_query::{QueryConfig, QueryEngine, QueryState, Tables, TablesOptions, router};
use revstream_registry::{MasterKey, NewTenant, Registry, Role};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde_json::{Value, json};
use url::Url;

pub(crate) const TIMEZONE: &str = "America/New_York";
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-for-query";

pub(crate) fn event(v: Value) -> CanonicalEvent {
    match CanonicalEvent::from_json(v.to_string().as_bytes()) {
        Ok(e) => e,
        Err(err) => panic!("invalid test event {v}: {err}"),
    }
}

/// A monthly subscription of `customer` (`sub_<customer>`).
pub(crate) fn subscription(
    id: &str,
    at: &str,
    customer: &str,
    amount: i64,
    status: &str,
    currency: &str,
) -> CanonicalEvent {
    event(
        json!({"id": id, "type": "subscription.updated", "occurred_at": at, "source": "stripe",
        "customer": {"id": customer, "email": format!("{customer}@example.com")},
        "subscription": {"id": format!("sub_{customer}"), "status": status, "currency": currency,
            "items": [{"price_id": "pro", "unit_amount": amount, "quantity": 1, "interval": "month"}]}}),
    )
}

pub(crate) fn payment(
    id: &str,
    at: &str,
    amount: i64,
    currency: &str,
    customer: &str,
    email: &str,
) -> CanonicalEvent {
    payment_kind(id, "succeeded", at, amount, currency, customer, email)
}

pub(crate) fn payment_kind(
    id: &str,
    kind: &str,
    at: &str,
    amount: i64,
    currency: &str,
    customer: &str,
    email: &str,
) -> CanonicalEvent {
    event(
        json!({"id": format!("evt_{id}"), "type": format!("payment.{kind}"), "occurred_at": at, "source": "stripe",
        "payment": {"id": id, "amount": amount, "currency": currency, "paid_at": at,
            "customer": {"id": customer, "email": email}}}),
    )
}

pub(crate) fn refund(
    id: &str,
    at: &str,
    payment_id: &str,
    amount: i64,
    currency: &str,
) -> CanonicalEvent {
    event(
        json!({"id": format!("evt_{id}"), "type": "refund.created", "occurred_at": at, "source": "stripe",
        "refund": {"id": id, "payment_id": payment_id, "amount": amount, "currency": currency, "refunded_at": at}}),
    )
}

/// A booking: `attrs` may hold closer, setter, source, call_type,
/// rescheduled_from.
pub(crate) fn booked(
    call: &str,
    booked_at: &str,
    scheduled_at: &str,
    email: &str,
    attrs: Value,
) -> CanonicalEvent {
    let mut c = json!({"id": call, "lead": {"email": email}, "booked_at": booked_at, "scheduled_at": scheduled_at});
    if let (Some(c), Some(a)) = (c.as_object_mut(), attrs.as_object()) {
        for (k, v) in a {
            c.insert(k.clone(), v.clone());
        }
    }
    event(
        json!({"id": format!("evt_book_{call}"), "type": "call.booked", "occurred_at": booked_at,
        "source": "calendly", "call": c}),
    )
}

/// `call.<kind>` naming the call.
pub(crate) fn call_event(id: &str, kind: &str, at: &str, call: &str) -> CanonicalEvent {
    event(
        json!({"id": id, "type": format!("call.{kind}"), "occurred_at": at, "source": "calendly",
        "call": {"id": call}}),
    )
}

pub(crate) fn outcome(
    id: &str,
    at: &str,
    call: &str,
    showed: bool,
    offer: bool,
    closed: bool,
) -> CanonicalEvent {
    event(
        json!({"id": id, "type": "call.outcome", "occurred_at": at, "source": "api",
        "call": {"id": call}, "outcome": {"showed": showed, "offer_made": offer, "closed": closed}}),
    )
}

/// The log, the pipeline and the tables of one test.
pub(crate) struct Fixture {
    pub(crate) log: Arc<LocalLog>,
    pub(crate) pipeline: Pipeline<LocalSource>,
    pub(crate) root: Url,
    pub(crate) tables_dir: tempfile::TempDir,
    _log_dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) async fn new() -> Fixture {
        let log_dir = tempfile::tempdir().unwrap();
        let tables_dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(log_dir.path(), 2, LocalLogOptions::default()).unwrap();
        let root = table_root(tables_dir.path().to_str().unwrap()).unwrap();
        let pipeline = start_pipeline(log.clone(), &root).await;
        Fixture {
            log,
            pipeline,
            root,
            tables_dir,
            _log_dir: log_dir,
        }
    }

    /// Appends the events of `tenant` and runs the pipeline until it has
    /// committed them all.
    pub(crate) async fn ingest(&mut self, tenant: &str, events: Vec<CanonicalEvent>) {
        append(&self.log, tenant, events).await;
        drain(&mut self.pipeline).await;
    }

    pub(crate) async fn tables(&self, options: TablesOptions) -> Arc<Tables> {
        Arc::new(Tables::open(self.root.clone(), options).await.unwrap())
    }

    pub(crate) fn tables_path(&self) -> &Path {
        self.tables_dir.path()
    }
}

pub(crate) async fn start_pipeline(log: Arc<LocalLog>, root: &Url) -> Pipeline<LocalSource> {
    let store = Arc::new(TableStore::open(root, "local").await.unwrap());
    let settings = TenantSettings {
        timezone: TIMEZONE.parse().unwrap(),
        ..TenantSettings::default()
    };
    Pipeline::new(
        LocalSource::new(log).unwrap(),
        store,
        Arc::new(FixedSettings(settings)),
        PipelineConfig {
            max_wait: Duration::from_millis(10),
            ..PipelineConfig::default()
        },
    )
}

pub(crate) async fn append(log: &LocalLog, tenant: &str, events: Vec<CanonicalEvent>) {
    let tenant = TenantId::parse(tenant).unwrap();
    let records = events
        .into_iter()
        .map(|event| {
            LogEnvelope {
                tenant: tenant.clone(),
                received_at: chrono::Utc::now(),
                event,
            }
            .to_record()
        })
        .collect();
    log.append(records).await.unwrap();
}

/// Cycles until a cycle reads nothing.
pub(crate) async fn drain(p: &mut Pipeline<LocalSource>) {
    let stop = AtomicBool::new(false);
    loop {
        let report = p.cycle(&stop).await.unwrap();
        if report.records == 0 && !report.committed && !report.assigned {
            return;
        }
    }
}

/// `(the single number acme's `sql` answers, whether it came from the
/// cache)`.
pub(crate) async fn count(engine: &QueryEngine, sql: &str) -> (i64, bool) {
    let answer = engine
        .sql(
            &TenantId::parse("acme").unwrap(),
            &SqlRequest {
                sql: sql.into(),
                ..SqlRequest::default()
            },
        )
        .await
        .unwrap();
    let batch = &answer.output.batches[0];
    let n = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Int64).unwrap();
    let n = n
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    (n, answer.cached)
}

/// acme's payments, counted.
pub(crate) const PAYMENTS: &str = "SELECT COUNT(*) FROM payments";

// ---- the shared data set -------------------------------------------------

/// The hand-computed tenant of `tests/it/metrics.rs` (and the golden SQL):
/// USD customers c1–c4 with every kind of movement across Jan–Mar 2026,
/// one EUR customer, calls with shows, no-shows, offers, closes, a
/// cancellation and a reschedule, payments (one failed) and refunds. Times
/// are chosen so that several UTC dates differ from the New York dates.
pub(crate) fn acme_events() -> Vec<CanonicalEvent> {
    vec![
        // MRR (USD)
        subscription("s1", "2026-01-05T15:00:00Z", "c1", 10_000, "active", "usd"),
        subscription("s2", "2026-01-11T03:00:00Z", "c2", 5_000, "active", "usd"), // Jan 10 local
        subscription("s3", "2026-01-25T15:00:00Z", "c2", 5_000, "canceled", "usd"),
        subscription("s4", "2026-02-01T04:30:00Z", "c3", 20_000, "active", "usd"), // Jan 31 local
        subscription("s5", "2026-02-10T15:00:00Z", "c1", 15_000, "active", "usd"),
        subscription("s6", "2026-02-15T15:00:00Z", "c2", 6_000, "active", "usd"),
        subscription("s7", "2026-03-01T15:00:00Z", "c4", 3_000, "active", "usd"),
        subscription(
            "s8",
            "2026-03-05T15:00:00Z",
            "c3",
            20_000,
            "canceled",
            "usd",
        ),
        subscription("s9", "2026-03-20T14:00:00Z", "c1", 12_000, "active", "usd"), // after DST
        // MRR (EUR)
        subscription("s10", "2026-01-20T15:00:00Z", "c5", 7_000, "active", "eur"),
        // Cash
        payment(
            "p1",
            "2026-01-05T15:05:00Z",
            10_000,
            "usd",
            "c1",
            "c1@example.com",
        ),
        payment(
            "p2",
            "2026-01-11T03:05:00Z",
            5_000,
            "usd",
            "c2",
            "c2@example.com",
        ), // Jan 10 local
        payment(
            "p3",
            "2026-02-10T15:05:00Z",
            15_000,
            "usd",
            "c1",
            "c1@example.com",
        ),
        payment_kind(
            "p4",
            "failed",
            "2026-02-12T15:00:00Z",
            9_999,
            "usd",
            "c2",
            "c2@example.com",
        ),
        payment(
            "p5",
            "2026-02-20T17:00:00Z",
            50_000,
            "usd",
            "cus_lead1",
            "lead1@example.com",
        ),
        payment(
            "p7",
            "2026-03-04T18:00:00Z",
            30_000,
            "usd",
            "cus_lead7",
            "lead7@example.com",
        ),
        payment(
            "p6",
            "2026-01-20T15:05:00Z",
            7_000,
            "eur",
            "c5",
            "c5@example.com",
        ),
        refund("r1", "2026-03-02T15:00:00Z", "p5", 20_000, "usd"),
        refund("r2", "2026-01-06T04:00:00Z", "p1", 1_000, "usd"), // Jan 5 local
        // Calls
        booked(
            "k1",
            "2026-01-03T15:00:00Z",
            "2026-01-08T15:00:00Z",
            "lead1@example.com",
            json!({"closer": "alice", "setter": "sam", "source": "ads", "call_type": "sales"}),
        ),
        outcome("o1", "2026-01-08T16:00:00Z", "k1", true, true, true),
        booked(
            "k2",
            "2026-01-04T15:00:00Z",
            "2026-01-09T04:00:00Z",
            "lead2@example.com", // Jan 8 local
            json!({"closer": "bob", "setter": "sam", "source": "organic", "call_type": "sales"}),
        ),
        call_event("n2", "no_show", "2026-01-09T05:00:00Z", "k2"),
        booked(
            "k3",
            "2026-02-02T15:00:00Z",
            "2026-02-05T15:00:00Z",
            "lead3@example.com",
            json!({"closer": "alice", "setter": "tina", "source": "ads", "call_type": "discovery"}),
        ),
        outcome("o3", "2026-02-05T16:00:00Z", "k3", true, true, false),
        booked(
            "k4",
            "2026-02-03T15:00:00Z",
            "2026-02-06T15:00:00Z",
            "lead4@example.com",
            json!({"closer": "bob", "source": "ads", "call_type": "sales"}),
        ),
        call_event("x4", "canceled", "2026-02-04T15:00:00Z", "k4"),
        booked(
            "k5",
            "2026-02-10T15:00:00Z",
            "2026-02-12T15:00:00Z",
            "lead5@example.com",
            json!({"closer": "alice", "setter": "sam", "source": "organic", "call_type": "sales"}),
        ),
        booked(
            "k6",
            "2026-02-11T15:00:00Z",
            "2026-02-19T15:00:00Z",
            "lead5@example.com",
            json!({"closer": "alice", "setter": "sam", "source": "organic", "call_type": "sales", "rescheduled_from": "k5"}),
        ),
        call_event("w6", "showed", "2026-02-19T15:30:00Z", "k6"),
        booked(
            "k7",
            "2026-03-01T04:00:00Z",
            "2026-03-10T15:00:00Z",
            "lead6@example.com", // booked Feb 28 local
            json!({"closer": "carol"}),
        ),
        booked(
            "k8",
            "2026-03-02T15:00:00Z",
            "2026-03-04T15:00:00Z",
            "lead7@example.com",
            json!({"closer": "bob", "setter": "tina", "source": "ads", "call_type": "sales"}),
        ),
        call_event("n8", "no_show", "2026-03-04T16:00:00Z", "k8"),
        outcome("o8", "2026-03-04T17:00:00Z", "k8", true, true, true),
    ]
}

/// Another tenant whose rows must never show up for acme.
pub(crate) fn beta_events() -> Vec<CanonicalEvent> {
    vec![
        subscription("s1", "2026-01-05T15:00:00Z", "c1", 99_999, "active", "usd"),
        subscription("b2", "2026-02-05T15:00:00Z", "z9", 1_234, "active", "usd"),
        payment(
            "p1",
            "2026-01-05T15:05:00Z",
            99_999,
            "usd",
            "c1",
            "c1@example.com",
        ),
        booked(
            "k1",
            "2026-01-03T15:00:00Z",
            "2026-01-08T15:00:00Z",
            "lead1@example.com",
            json!({"closer": "mallory"}),
        ),
        outcome("o1", "2026-01-08T16:00:00Z", "k1", true, true, true),
    ]
}

/// A late payment of acme's customer c1: 1 USD on 2026-03-30.
pub(crate) fn late_payment(id: &str) -> CanonicalEvent {
    payment(
        id,
        "2026-03-30T12:00:00Z",
        100,
        "usd",
        "c1",
        "c1@example.com",
    )
}

/// acme and beta (and a one-event gamma) through the pipeline.
pub(crate) async fn standard_fixture() -> Fixture {
    let mut f = Fixture::new().await;
    append(&f.log, "acme", acme_events()).await;
    append(&f.log, "beta", beta_events()).await;
    append(
        &f.log,
        "gamma",
        vec![payment(
            "g1",
            "2026-01-02T12:00:00Z",
            500,
            "gbp",
            "g",
            "g@example.com",
        )],
    )
    .await;
    drain(&mut f.pipeline).await;
    f
}

// ---- the HTTP server -----------------------------------------------------

pub(crate) struct Keys {
    pub(crate) viewer: String,
    pub(crate) analyst: String,
    pub(crate) admin: String,
    pub(crate) ingest: String,
}

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) acme: Keys,
    pub(crate) beta: Keys,
    /// The query metrics of this server ([`Server::metrics_text`]).
    pub(crate) prometheus: Arc<prometheus_client::registry::Registry>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start(tables: Arc<Tables>, config: QueryConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open_in_data_dir(dir.path(), MasterKey::generate().unwrap())
            .await
            .unwrap();
        let mut keys = Vec::new();
        for id in ["acme", "beta", "gamma"] {
            let tenant = TenantId::parse(id).unwrap();
            registry
                .create_tenant(NewTenant {
                    id: tenant.clone(),
                    name: None,
                    timezone: Some(TIMEZONE.into()),
                    churn_recognition: None,
                })
                .await
                .unwrap();
            let key = |role| {
                let registry = registry.clone();
                let tenant = tenant.clone();
                async move { registry.create_key(&tenant, role).await.unwrap().key }
            };
            keys.push(Keys {
                viewer: key(Role::Viewer).await,
                analyst: key(Role::Analyst).await,
                admin: key(Role::Admin).await,
                ingest: key(Role::Ingest).await,
            });
        }
        let auth = Arc::new(Auth::new(
            registry.clone(),
            ADMIN_TOKEN.into(),
            Duration::from_secs(10),
            Duration::ZERO,
        ));
        let state = QueryState::new(tables, auth, registry.clone(), config).unwrap();
        let mut prometheus = prometheus_client::registry::Registry::default();
        state.metrics().register(&mut prometheus, &state);
        let app = finish(router(state), Duration::from_secs(120));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let mut keys = keys.into_iter();
        Server {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            acme: keys.next().unwrap(),
            beta: keys.next().unwrap(),
            prometheus: Arc::new(prometheus),
            _dir: dir,
        }
    }

    /// The server's query metrics in the Prometheus text format.
    pub(crate) fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.prometheus).unwrap();
        text
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/query` with a JSON body.
    pub(crate) async fn post(&self, key: &str, body: Value) -> reqwest::Response {
        self.post_to("/v1/query", key, body).await
    }

    pub(crate) async fn post_to(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn get(&self, key: &str, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(self.url(path_and_query))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

/// Status, error code and message of an error answer.
pub(crate) async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !code.is_empty() && !message.is_empty(),
        "not an error answer ({status}): {text}"
    );
    (status, code, message)
}

/// The JSON answer of a successful query.
pub(crate) async fn json_of(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status.as_u16(), 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// A query config for tests: small limits so limits are testable.
pub(crate) fn test_config() -> QueryConfig {
    QueryConfig {
        row_limit: 1_000,
        timeout: Duration::from_secs(3),
        ..QueryConfig::default()
    }
}
