//! The sync routes on a real `revstream serve`: the manual trigger, the
//! runs list, `sync_runs` as a tenant-scoped SQL table, schedules; and the
//! scheduler's due/claim logic in process.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod sync_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revstream_ingest::http::{IngestConfig, IngestState};
use revstream_ingest::sync::schedule::Scheduler;
use revstream_registry::SyncStatus;
use serde_json::{Value, json};
use sync_support::*;

const ADMIN: &str = "sync-admin-token-0123456789";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_trigger_records_a_run_that_sql_can_read() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    p.fail("/v1/customers", "cus_2", 500);
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_revstream"))
            .args(["serve", "--http", &format!("127.0.0.1:{port}")])
            .args(["--sync-base-url", &format!("stripe={}", p.base)])
            .env("REVSTREAM_DATA_DIR", data.path())
            .env("REVSTREAM_ADMIN_TOKEN", ADMIN)
            .env("REVSTREAM_LOG", "warn")
            .env_remove("REVSTREAM_DATABASE_URL")
            .env_remove("REVSTREAM_KAFKA")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    use reqwest::Method;
    for t in ["acme", "other"] {
        let (s, _) = call(
            Method::POST,
            format!("{base}/v1/admin/tenants"),
            Some(json!({"id": t})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (s, body) = call(
        Method::POST,
        format!("{base}/v1/admin/tenants/acme/sync/csv"),
        None,
    )
    .await;
    assert_eq!((s, &body["error"]["code"]), (404, &json!("unknown_source")));

    // Without a credential the run fails, with the reason recorded.
    let (s, body) = call(
        Method::POST,
        format!("{base}/v1/admin/tenants/acme/sync/stripe"),
        None,
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let failed_id = body["run"]["id"].as_str().unwrap().to_owned();
    let runs = wait_runs(&base, |runs| runs.iter().all(|r| r["status"] != "running")).await;
    assert_eq!(runs[0]["id"], failed_id.as_str());
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .contains("no stripe credential")
    );

    let (s, _) = call(
        Method::PUT,
        format!("{base}/v1/admin/tenants/acme/credentials/stripe"),
        Some(json!({"credential": TOKEN})),
    )
    .await;
    assert_eq!(s, 204);
    let (s, body) = call(
        Method::POST,
        format!("{base}/v1/admin/tenants/acme/sync/stripe"),
        None,
    )
    .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["run"]["status"], "running");
    let runs = wait_runs(&base, |runs| {
        runs.len() == 2 && runs.iter().all(|r| r["status"] != "running")
    })
    .await;
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["counts"]["created"], 9);

    // The runs as SQL, for this tenant only; never a stale cached answer.
    let sql = json!({"sql": "SELECT source, mode, status, records_seen, created FROM sync_runs ORDER BY started_at"});
    let (s, body) = call(
        Method::POST,
        format!("{base}/v1/query?tenant=acme"),
        Some(sql.clone()),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["rows"],
        json!([
            ["stripe", "pull", "failed", 0, 0],
            ["stripe", "pull", "succeeded", 9, 9]
        ])
    );
    let (_, body) = call(
        Method::POST,
        format!("{base}/v1/query?tenant=other"),
        Some(sql.clone()),
    )
    .await;
    assert_eq!(body["rows"], json!([]));
    let (s, _) = call(
        Method::POST,
        format!("{base}/v1/admin/tenants/acme/sync/stripe"),
        None,
    )
    .await;
    assert_eq!(s, 202);
    wait_runs(&base, |runs| {
        runs.len() == 3 && runs.iter().all(|r| r["status"] != "running")
    })
    .await;
    let (_, body) = call(
        Method::POST,
        format!("{base}/v1/query?tenant=acme"),
        Some(sql),
    )
    .await;
    assert_eq!(body["rows"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(
        body["rows"][2],
        json!(["stripe", "pull", "succeeded", 9, 0])
    );

    // The pulled events reach the tables.
    let mrr = json!({"sql": "SELECT sum(mrr) FROM subscriptions"});
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = call(
            Method::POST,
            format!("{base}/v1/query?tenant=acme"),
            Some(mrr.clone()),
        )
        .await;
        if body["rows"] == json!([[14800]]) {
            break;
        }
        assert!(Instant::now() < deadline, "MRR never reached 14800: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Schedules.
    let url = format!("{base}/v1/admin/tenants/acme/sync/stripe/schedule");
    assert_eq!(
        call(Method::PUT, url.clone(), Some(json!({"every_minutes": 30})))
            .await
            .0,
        204
    );
    let (s, body) = call(Method::PUT, url.clone(), Some(json!({"every_minutes": 0}))).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (400, &json!("invalid_request"))
    );
    assert_eq!(
        call(Method::PUT, url, Some(json!({"every_minutes": null})))
            .await
            .0,
        204
    );
}

async fn wait_runs(base: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = call(
            reqwest::Method::GET,
            format!("{base}/v1/admin/tenants/acme/sync/runs"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let runs = body["runs"].as_array().cloned().unwrap_or_default();
        if done(&runs) {
            return runs;
        }
        assert!(Instant::now() < deadline, "runs never settled: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_scheduler_runs_due_schedules_once_per_period() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;
    let mut config = IngestConfig {
        sync_retry: fast_retry(),
        ..IngestConfig::default()
    };
    config
        .sync_base_urls
        .insert("stripe".into(), p.base.clone());
    let state = IngestState::new(h.registry.clone(), h.log.clone(), ADMIN.into(), config);
    let scheduler = Scheduler {
        state: state.clone(),
        tick: Duration::from_secs(60),
    };
    let t0 = chrono::Utc::now().timestamp_millis();
    assert!(scheduler.run_due(t0).await.is_empty(), "no schedule yet");

    h.registry
        .set_sync_schedule(&h.tenant, "stripe", Some(5))
        .await
        .unwrap();
    let runs = scheduler.run_due(t0).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].counts.created),
        (SyncStatus::Succeeded, 9)
    );
    // Claimed: neither this node nor another runs it again before it is due.
    let other_node = Scheduler {
        state: IngestState::new(
            h.registry.clone(),
            h.log.clone(),
            ADMIN.into(),
            IngestConfig::default(),
        ),
        tick: Duration::from_secs(60),
    };
    assert!(other_node.run_due(t0).await.is_empty());
    assert!(scheduler.run_due(t0 + 4 * 60_000).await.is_empty());
    let runs = scheduler.run_due(t0 + 5 * 60_000).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].counts.unchanged, 9);
    assert_eq!(h.registry.sync_runs(&h.tenant).await.unwrap().len(), 2);

    h.registry
        .set_sync_schedule(&h.tenant, "stripe", None)
        .await
        .unwrap();
    assert!(scheduler.run_due(t0 + 60 * 60_000).await.is_empty());
    assert!(
        h.registry
            .set_sync_schedule(&h.tenant, "csv", Some(5))
            .await
            .is_err()
    );
}
