//! `revstream backfill` as the real binary: a CSV import and a Stripe pull
//! (against a local fake API) into a data dir, then `revstream serve` on
//! that data dir turns them into tables; re-running the backfill changes
//! no table; bad files and a running server get clear errors.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod sync_support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use revstream_registry::{MasterKey, Registry};
use revstream_schemas::TenantId;
use serde_json::{Value, json};
use sync_support::*;

const ADMIN: &str = "sync-cli-admin-token-0123456789";
const MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000002";

fn revstream(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revstream"))
        .args(args)
        .env("REVSTREAM_DATA_DIR", data_dir)
        .env("REVSTREAM_MASTER_KEY", MASTER_KEY)
        .env("REVSTREAM_ADMIN_TOKEN", ADMIN)
        .env_remove("REVSTREAM_DATABASE_URL")
        .env_remove("REVSTREAM_KAFKA")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Serve(Child, String);

impl Serve {
    async fn start(data_dir: &Path) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        // Owned by `Serve` at once, so a failed start still reaps it.
        let serve = Serve(
            Command::new(env!("CARGO_BIN_EXE_revstream"))
                .args(["serve", "--http", &format!("127.0.0.1:{port}")])
                .env("REVSTREAM_DATA_DIR", data_dir)
                .env("REVSTREAM_MASTER_KEY", MASTER_KEY)
                .env("REVSTREAM_ADMIN_TOKEN", ADMIN)
                .env("REVSTREAM_LOG", "warn")
                .env_remove("REVSTREAM_DATABASE_URL")
                .env_remove("REVSTREAM_KAFKA")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
            base.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::get(format!("{base}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return serve;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("serve did not become healthy");
    }

    async fn rows(&self, sql: &str) -> Vec<Value> {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/query?tenant=acme", self.1))
            .bearer_auth(ADMIN)
            .json(&json!({ "sql": sql }))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["rows"].as_array().cloned().unwrap_or_default()
    }

    /// Polls until `sql` gives `want` rows (the pipeline is asynchronous).
    async fn wait_rows(&self, sql: &str, want: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = self.rows(sql).await;
            if rows.len() >= want || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const DEALS: &str = "\
Deal,Cents,Closed on,Email
d-1,490000,2026-02-01T15:00:00Z,ada@example.com
d-2,250000,2026-02-03T15:00:00Z,bob@example.com
";

const MAPPING: &str = r#"{"constants": {"type": "payment.succeeded", "payment.currency": "usd"},
 "columns": {"Deal": "payment.id", "Cents": "payment.amount",
             "Closed on": "payment.paid_at", "Email": "payment.customer.id"}}"#;

const PAYMENTS: &str = "SELECT payment_id, amount FROM payments ORDER BY payment_id";
const SUBSCRIPTIONS: &str =
    "SELECT subscription_id, mrr FROM subscriptions ORDER BY subscription_id";

// Multi-threaded: the fake API must answer while the test waits on the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_cli_imports_and_pulls_into_the_tables_and_reruns_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let created = revstream(dir, &["tenants", "create", "acme"]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    // A CSV with a mapping file.
    std::fs::write(dir.join("deals.csv"), DEALS).unwrap();
    std::fs::write(dir.join("deals.json"), MAPPING).unwrap();
    let csv_args = [
        "backfill",
        "--tenant",
        "acme",
        "--source",
        "csv",
        "--mapping",
    ];
    let mapping = dir.join("deals.json");
    let file = dir.join("deals.csv");
    let mut args: Vec<&str> = csv_args.to_vec();
    args.push(mapping.to_str().unwrap());
    args.push(file.to_str().unwrap());
    let out = revstream(dir, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["counts"]["created"], 2);

    // A Stripe pull against a local API, with the credential stored.
    let p = FakeProvider::start().await;
    stripe_account(&p);
    p.fail("/v1/subscriptions", "", 429);
    {
        let registry = Registry::open_in_data_dir(dir, MasterKey::parse(MASTER_KEY).unwrap())
            .await
            .unwrap();
        registry
            .set_credential(&TenantId::parse("acme").unwrap(), "stripe", TOKEN)
            .await
            .unwrap();
        registry.close().await;
    }
    let pull = |dir: &Path| {
        revstream(
            dir,
            &[
                "backfill",
                "--tenant",
                "acme",
                "--source",
                "stripe",
                "--pull",
                "--base-url",
                &p.base,
            ],
        )
    };
    let out = pull(dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(run["counts"]["created"], 9);

    // The tables reflect both, once the pipeline of `serve` has run.
    let serve = Serve::start(dir).await;
    let payments = serve.wait_rows(PAYMENTS, 4).await;
    assert_eq!(
        payments,
        vec![
            json!(["ch_1", 4900]),
            json!(["ch_2", 9900]),
            json!(["d-1", 490000]),
            json!(["d-2", 250000])
        ]
    );
    let subscriptions = serve.wait_rows(SUBSCRIPTIONS, 3).await;
    assert_eq!(
        subscriptions,
        vec![
            json!(["sub_1", 4900]),
            json!(["sub_2", 9900]),
            json!(["sub_3", 0])
        ]
    );
    let events_before = serve.rows("SELECT id FROM events ORDER BY id").await;

    // While serve holds the log, the CLI says what to do instead.
    let busy = revstream(dir, &args);
    assert!(!busy.status.success());
    let err = text(&busy.stderr);
    assert!(
        err.contains("in use by a running `revstream serve`") && err.contains("/v1/"),
        "{err}"
    );
    serve.stop();

    // Re-running both backfills changes no table.
    assert!(revstream(dir, &args).status.success());
    assert!(pull(dir).status.success());
    let serve = Serve::start(dir).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(serve.wait_rows(PAYMENTS, 4).await, payments);
    assert_eq!(serve.wait_rows(SUBSCRIPTIONS, 3).await, subscriptions);
    assert_eq!(
        serve.rows("SELECT id FROM events ORDER BY id").await,
        events_before
    );
    serve.stop();
}

#[tokio::test]
async fn backfill_cli_names_the_line_and_column_of_a_bad_file() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    assert!(
        revstream(dir, &["tenants", "create", "acme"])
            .status
            .success()
    );
    let file = dir.join("bad.ndjson");
    std::fs::write(&file, "{\"id\": \"e1\", \"type\": \"track\", \"name\": \"x\", \"occurred_at\": \"2026-01-01T00:00:00Z\"}\n{oops}\n").unwrap();
    let out = revstream(
        dir,
        &[
            "backfill",
            "--tenant",
            "acme",
            "--source",
            "ndjson",
            file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.ndjson: line 2, column 2: not valid JSON"),
        "{err}"
    );

    let out = revstream(
        dir,
        &[
            "backfill",
            "--tenant",
            "acme",
            "--source",
            "csv",
            file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("needs a column mapping"),
        "{}",
        text(&out.stderr)
    );
    let out = revstream(
        dir,
        &["backfill", "--tenant", "acme", "--source", "csv", "--pull"],
    );
    assert!(
        text(&out.stderr).contains("--pull reads a provider's API"),
        "{}",
        text(&out.stderr)
    );
}
