//! PostgreSQL (the tenant registry) down and back, on real processes: the
//! ingest, pipeline and query roles over the real broker, each reaching the
//! real PostgreSQL through a proxy that the test cuts and restores.
//!
//! What users need while the registry is down:
//! - ingest keeps taking webhooks and batches it can verify with what it
//!   looked up recently (the event log, not the registry, makes them
//!   durable), and answers 503 `registry_unavailable` with Retry-After —
//!   within seconds, never 2xx — for what it cannot check;
//! - dashboards keep answering from the committed tables for keys seen
//!   recently; an unknown key is a 503;
//! - the pipeline pauses on a tenant whose settings it has not read yet
//!   rather than derive it in a guessed timezone, reports not ready, and a
//!   pipeline restarted during the outage waits for the registry;
//! - when PostgreSQL is back, everything resumes and the metrics are exactly
//!   those of the events accepted, days in each tenant's own timezone.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use revstream_ingest::verify::sign_t_v1;
use serde_json::{Value, json};
use support::admin::AdminApi;
use support::kafka::{Broker, unique_topic};
use support::postgres::TestDatabase;
use support::process::{Process, free_port, wait_healthy};
use support::proxy::FaultProxy;

const STRIPE_SECRET: &str = "whsec_outage_stripe";

/// The registry URL with host and port replaced by the proxy's.
fn through(url: &str, proxy: SocketAddr) -> (String, SocketAddr) {
    let mut url = url::Url::parse(url).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    url.set_host(Some(&proxy.ip().to_string())).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    (url.to_string(), target)
}

/// A Stripe `charge.succeeded` of `amount` cents paid at `paid_at` (unix s).
fn charge(id: &str, amount: i64, paid_at: i64) -> String {
    json!({"id": format!("evt_{id}"), "object": "event", "type": "charge.succeeded",
        "created": paid_at, "api_version": "2024-06-20", "livemode": false,
        "data": {"object": {"id": format!("ch_{id}"), "object": "charge", "amount": amount,
            "amount_captured": amount, "amount_refunded": 0, "captured": true, "paid": true,
            "status": "succeeded", "currency": "usd", "created": paid_at,
            "customer": format!("cus_{id}"), "invoice": null, "refunded": false}}})
    .to_string()
}

struct Roles {
    http: reqwest::Client,
    ingest: String,
    query: String,
    pipeline: String,
}

impl Roles {
    async fn webhook(&self, tenant: &str, body: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/webhooks/stripe/{tenant}", self.ingest))
            .header(
                "Stripe-Signature",
                sign_t_v1(secret, chrono::Utc::now().timestamp(), body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// The ingest role's admin API.
    fn admin(&self) -> AdminApi<'_> {
        AdminApi {
            http: &self.http,
            base: &self.ingest,
        }
    }

    /// A tenant with a Stripe secret; returns an admin key of it.
    async fn tenant(&self, id: &str, timezone: &str) -> String {
        let admin = self.admin();
        admin
            .create_tenant(json!({"id": id, "timezone": timezone}))
            .await;
        admin.put_secret(id, "stripe", STRIPE_SECRET).await;
        admin.create_key(id, "admin").await
    }

    async fn cash(&self, key: &str) -> reqwest::Result<(StatusCode, Value)> {
        let r = self
            .http
            .get(format!(
                "{}/v1/metrics?from=2026-01-01&to=2026-01-31&interval=month&metrics=cash_collected",
                self.query
            ))
            .bearer_auth(key)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.json().await?))
    }

    async fn wait_cash(&self, key: &str, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok((status, body)) = self.cash(key).await {
                if status == 200 && body["totals"]["cash_collected"] == want {
                    return;
                }
                last = Some((status, body));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        panic!("cash_collected never reached {want}: last {last:?}");
    }

    /// Days with cash for the key's tenant, as `(day, cash)`.
    async fn cash_days(&self, key: &str) -> Vec<(String, i64)> {
        let r = self
            .http
            .post(format!("{}/v1/query", self.query))
            .bearer_auth(key)
            .json(&json!({"sql": "SELECT CAST(day AS VARCHAR) AS day, cash_collected FROM metrics_daily WHERE cash_collected > 0 ORDER BY day", "format": "ndjson"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text()
            .await
            .unwrap()
            .lines()
            .map(|l| {
                let row: Value = serde_json::from_str(l).unwrap();
                (
                    row["day"].as_str().unwrap().to_owned(),
                    row["cash_collected"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn ready(&self, base: &str) -> StatusCode {
        self.http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// Asserts a clean 503 `registry_unavailable` with Retry-After, answered
/// quickly (not after a 30 s pool timeout).
async fn assert_registry_503(response: reqwest::Response, started: Instant, what: &str) {
    let took = started.elapsed();
    assert_eq!(response.status(), 503, "{what}");
    assert!(
        response.headers().contains_key("retry-after"),
        "{what}: no Retry-After"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "registry_unavailable",
        "{what}: {body}"
    );
    assert!(took < Duration::from_secs(8), "{what}: took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_down_and_back_loses_nothing_and_guesses_nothing() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let placeholder: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let (_, target) = through(&db.url, placeholder);
    let proxy = FaultProxy::start(target).await;
    let (registry_url, _) = through(&db.url, proxy.addr);

    let topic = unique_topic("outage-pg");
    let tables = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<String> = (0..3).map(|_| free_port().to_string()).collect();
    let shared = [
        ("REVSTREAM_KAFKA", broker.bootstrap.as_str()),
        ("REVSTREAM_KAFKA_TOPIC", topic.as_str()),
        ("REVSTREAM_DATABASE_URL", registry_url.as_str()),
        ("REVSTREAM_TABLE_URI", tables.path().to_str().unwrap()),
    ];
    let listen = |port: &str| format!("127.0.0.1:{port}");
    let roles = Roles {
        http: reqwest::Client::new(),
        ingest: format!("http://127.0.0.1:{}", ports[0]),
        query: format!("http://127.0.0.1:{}", ports[1]),
        pipeline: format!("http://127.0.0.1:{}", ports[2]),
    };
    let _ingest = Process::start(
        &["ingest", "--http", &listen(&ports[0])],
        dirs[0].path(),
        &shared,
    );
    wait_healthy(&roles.http, &roles.ingest).await;
    let pipeline_args = ["pipeline", "--http", &listen(&ports[2])];
    let pipeline = Process::start(&pipeline_args, dirs[1].path(), &shared);
    let _query = Process::start(
        &["query", "--http", &listen(&ports[1])],
        dirs[2].path(),
        &shared,
    );
    wait_healthy(&roles.http, &roles.query).await;

    // Before the outage: acme (New York) has one payment on a dashboard;
    // tokyo exists, its secret and key have been used once, but the
    // pipeline has never seen an event of it.
    let acme = roles.tenant("acme", "America/New_York").await;
    let tokyo = roles.tenant("tokyo", "Asia/Tokyo").await;
    let unused_key = roles.tenant("spare", "UTC").await;
    let r = roles
        .webhook("acme", &charge("a1", 1_000, 1_767_607_200), STRIPE_SECRET)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    roles.wait_cash(&acme, 1_000).await;
    let forged = roles
        .webhook("tokyo", &charge("t0", 1, 1_767_607_200), "not-the-secret")
        .await;
    assert_eq!(forged.status(), 401);
    assert_eq!(roles.cash(&tokyo).await.unwrap().0, 200);

    // PostgreSQL goes away. Past the 10 s freshness of every cache, so
    // what follows runs on stale-if-error, not on fresh entries.
    proxy.cut();
    let started = Instant::now();
    let r = roles
        .admin()
        .request(
            reqwest::Method::POST,
            "/v1/admin/tenants",
            &json!({"id": "ghost"}),
        )
        .await;
    assert_registry_503(r, started, "creating a tenant during the outage").await;
    tokio::time::sleep(Duration::from_secs(11)).await;

    // Ingest: what it can verify is taken (durable in the log) ...
    let r = roles
        .webhook("acme", &charge("a2", 2_000, 1_767_693_600), STRIPE_SECRET)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // 16:30 UTC on 5 January is 01:30 on the 6th in Tokyo.
    let r = roles
        .webhook("tokyo", &charge("t1", 5_000, 1_767_630_600), STRIPE_SECRET)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // ... what it cannot is a quick 503, never a 2xx or a 404.
    let started = Instant::now();
    let r = roles
        .webhook("ghost", &charge("g1", 7, 1_767_607_200), STRIPE_SECRET)
        .await;
    assert_registry_503(r, started, "a webhook for a tenant never looked up").await;

    // Query: known keys answer from the committed tables; others are 503.
    let (status, body) = roles.cash(&acme).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let cash = body["totals"]["cash_collected"].as_i64().unwrap();
    assert!(cash == 1_000 || cash == 3_000, "{body}");
    let started = Instant::now();
    let r = roles
        .http
        .get(format!(
            "{}/v1/metrics?from=2026-01-01&to=2026-01-31",
            roles.query
        ))
        .bearer_auth(&unused_key)
        .send()
        .await
        .unwrap();
    assert_registry_503(r, started, "a key never verified before").await;

    // Pipeline: not ready; tokyo's payment is not committed with guessed
    // settings; a pipeline restarted now waits instead of exiting.
    assert_eq!(roles.ready(&roles.pipeline).await, 503);
    pipeline.kill();
    // A fresh consumer group: tansu 0.6 stalls a partition resumed from a
    // group's committed offset (see tests/pipeline_crash.rs); a new group
    // reads from the start and the tables' offsets drop what they hold.
    let group = unique_topic("outage-pg-restarted");
    let restart_args = [&pipeline_args[..], &["--kafka-group", &group]].concat();
    let mut pipeline = Process::start(&restart_args, dirs[1].path(), &shared);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        pipeline.is_running(),
        "the pipeline exited while the registry was down"
    );
    let root = revstream_pipeline::table_root(tables.path().to_str().unwrap()).unwrap();
    let tokyo_rows = support::tables::query(
        &root,
        "SELECT COUNT(*) AS n FROM events WHERE tenant_id = 'tokyo'",
    )
    .await;
    assert_eq!(
        tokyo_rows,
        vec![json!({"n": 0})],
        "tokyo's event was committed while its timezone was unknown"
    );

    // PostgreSQL is back: everything resumes, exactly.
    proxy.restore();
    roles.wait_cash(&acme, 3_000).await;
    roles.wait_cash(&tokyo, 5_000).await;
    assert_eq!(
        roles.cash_days(&tokyo).await,
        vec![("2026-01-06".to_owned(), 5_000)],
        "tokyo's payment is on its Tokyo day"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while roles.ready(&roles.pipeline).await != 200 {
        assert!(Instant::now() < deadline, "the pipeline never became ready");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ghost = roles.tenant("ghost", "UTC").await;
    let r = roles
        .webhook("ghost", &charge("g1", 7, 1_767_607_200), STRIPE_SECRET)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    roles.wait_cash(&ghost, 7).await;
    assert!(pipeline.is_running());
}
