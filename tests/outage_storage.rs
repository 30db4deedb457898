//! Storage outages on real processes (issue #9): `revstream serve` with its
//! table location or its data dir on a small tmpfs that the test fills up or
//! remounts read-only while events keep coming.
//!
//! | fault | what users must see |
//! |---|---|
//! | table location full (ENOSPC) | ingest still answers 2xx (the event log is elsewhere and durable); the pipeline pauses (commit failures counted, the process stays up and ready); `/v1/metrics` answers what is committed; once space is freed the paused events appear exactly once |
//! | table location read-only (EROFS) | the same |
//! | data dir full (the embedded event log) | `POST /v1/events` answers 503 with `Retry-After` and the JSON error body, never 2xx; `/readyz` says the log cannot write; queries still answer; once space is freed the client's retry succeeds without a restart, and every acknowledged event counts exactly once, also after a restart |
//!
//! Mounting needs root. Without it the tests are skipped with a notice,
//! except in CI, where that is a failure.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::fs::File;
use std::future::Future;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::admin::AdminApi;
use support::process::{Process, free_port, wait_healthy};

/// The longest any one expected state may take to show up.
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- tmpfs

/// A tmpfs mounted on a fresh temp dir, unmounted (lazily, so a process
/// still holding a file cannot make it fail) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when mounting is not possible here (not root, no tmpfs):
    /// the caller skips, or fails in CI.
    fn mount(size_mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => support::service_missing(
                "a tmpfs mount (needs root)",
                String::from_utf8_lossy(&o.stderr).trim(),
            ),
            Err(e) => support::service_missing("a tmpfs mount (needs `mount`)", e),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts read-only or read-write. Root ignores file modes, so a
    /// read-only mount is the only honest "unwritable". A remount to
    /// read-only fails (EBUSY) while a file is open for writing, e.g. in
    /// the middle of a commit: retried for a while.
    fn set_read_only(&self, read_only: bool) {
        let opts = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("mount")
                .args(["-o", opts])
                .arg(self.path())
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mount -o {opts} {}: {}",
                self.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes a filler file until the file system has no page left.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 1 << 20];
        loop {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        // Not even one more byte fits: the last page is taken too.
        assert_eq!(
            file.write(&[0]).map_err(|e| e.kind()).err(),
            Some(ErrorKind::StorageFull)
        );
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

// ---------------------------------------------------------------- the server

/// One `revstream serve` with a tenant `acme` and an admin key of it.
struct Server {
    process: Process,
    http: reqwest::Client,
    base: String,
    key: String,
}

/// Starts `serve` on `data_dir` with its tables at `tables`.
async fn start(data_dir: &Path, tables: &Path) -> (Process, reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let process = Process::start(
        &[
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--table-uri",
            tables.to_str().unwrap(),
        ],
        data_dir,
        &[],
    );
    wait_healthy(&http, &base).await;
    (process, http, base)
}

impl Server {
    async fn start_with_tenant(data_dir: &Path, tables: &Path) -> Server {
        let (process, http, base) = start(data_dir, tables).await;
        let admin = AdminApi {
            http: &http,
            base: &base,
        };
        admin
            .create_tenant(json!({"id": "acme", "name": "Acme"}))
            .await;
        let key = admin.create_key("acme", "admin").await;
        Server {
            process,
            http,
            base,
            key,
        }
    }

    /// `POST /v1/admin/tenants/acme/keys`: a registry write.
    async fn create_key(&self) -> (StatusCode, Value) {
        let admin = AdminApi {
            http: &self.http,
            base: &self.base,
        };
        let r = admin
            .request(
                reqwest::Method::POST,
                "/v1/admin/tenants/acme/keys",
                &json!({"role": "viewer"}),
            )
            .await;
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Stops this process and serves the same data dir and tables from a
    /// new one; the tenant's key stays valid (it is in the registry).
    async fn restart(self, data_dir: &Path, tables: &Path) -> Server {
        let Server { process, key, .. } = self;
        process.stop();
        let (process, http, base) = start(data_dir, tables).await;
        Server {
            process,
            http,
            base,
            key,
        }
    }

    /// `POST /v1/events`: status, `Retry-After`, body.
    async fn send(&self, batch: &Batch) -> (StatusCode, Option<String>, Value) {
        let r = self
            .http
            .post(format!("{}/v1/events", self.base))
            .bearer_auth(&self.key)
            .json(&batch.body())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.json().await.unwrap_or(Value::Null);
        (status, retry_after, body)
    }

    /// Sends a batch that must be accepted whole.
    async fn send_accepted(&self, batch: &Batch) {
        let (status, _, body) = self.send(batch).await;
        assert_eq!(status, 200, "batch {}: {body}", batch.name);
        assert_eq!(
            body["accepted"], batch.count,
            "batch {}: {body}",
            batch.name
        );
    }

    /// What the dashboard and SQL say now: cash collected, and the rows and
    /// distinct event ids of the `events` table. `None` while a query fails.
    async fn observed(&self) -> Option<Totals> {
        let r = self
            .http
            .get(format!(
                "{}/v1/metrics?from=2025-01-01&to=2026-12-31&interval=month&metrics=cash_collected",
                self.base
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let metrics: Value = r.json().await.ok()?;
        let r = self
            .http
            .post(format!("{}/v1/query", self.base))
            .bearer_auth(&self.key)
            .json(
                &json!({"sql": "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events"}),
            )
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let sql: Value = r.json().await.ok()?;
        Some(Totals {
            cash_collected: metrics["totals"]["cash_collected"].as_i64()?,
            event_rows: sql["rows"][0][0].as_u64()?,
            distinct_events: sql["rows"][0][1].as_u64()?,
        })
    }

    /// Both query routes answer, with exactly `want`, right now.
    async fn assert_observed(&self, want: Totals, why: &str) {
        assert_eq!(self.observed().await, Some(want), "{why}");
    }

    /// Waits (bounded) until the queries show exactly `want`; returns how
    /// long that took.
    async fn wait_observed(&self, want: Totals, why: &str) -> Duration {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < WAIT {
            last = self.observed().await;
            if last == Some(want) {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{why}: queries never showed {want:?} in {WAIT:?} (last: {last:?})");
    }

    /// `GET /metrics` (Prometheus).
    async fn scrape(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// `GET /readyz`: status and the per-check answers.
    async fn readyz(&self) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    fn assert_alive(&mut self, when: &str) {
        assert!(self.process.is_running(), "serve exited {when}");
    }
}

/// The value of one Prometheus series (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `probe` until it returns `Some`; panics with `what` after [`WAIT`].
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the pipeline has failed at least `n` table commits.
async fn wait_commit_failures(server: &Server, n: f64) -> f64 {
    wait_for(&format!("{n} failed table commits"), || async move {
        let text = server.scrape().await;
        sample(&text, "revstream_pipeline_commit_failures_total").filter(|&f| f >= n)
    })
    .await
}

// ---------------------------------------------------------------- events

/// A producer batch of `count` payments of `amount` cents each, with ids
/// unique to `name`.
struct Batch {
    name: &'static str,
    count: u64,
    amount: i64,
}

impl Batch {
    fn body(&self) -> Value {
        let events: Vec<Value> = (0..self.count)
            .map(|i| {
                json!({"id": format!("pay_{}_{i}", self.name), "type": "payment.succeeded",
                       "occurred_at": "2026-01-07T09:00:00Z",
                       "payment": {"id": format!("p_{}_{i}", self.name), "amount": self.amount,
                                   "currency": "usd", "paid_at": "2026-01-07T09:00:00Z"}})
            })
            .collect();
        Value::Array(events)
    }
}

/// What the queries show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    cash_collected: i64,
    event_rows: u64,
    distinct_events: u64,
}

/// The totals of exactly these batches, each counted once. Amounts differ
/// by orders of magnitude per batch, so a lost or doubled batch shows in
/// `cash_collected` as well as in the row counts.
fn totals(batches: &[&Batch]) -> Totals {
    batches.iter().fold(Totals::default(), |t, b| Totals {
        cash_collected: t.cash_collected + b.amount * b.count as i64,
        event_rows: t.event_rows + b.count,
        distinct_events: t.distinct_events + b.count,
    })
}

// ---------------------------------------------------------------- table outages

/// Files under the table root that no Delta log entry of their table names
/// (a partial Parquet file, a staging file of an upload): what a failed
/// commit must not leave behind, or a full disk stays full.
fn unreferenced_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("_delta_log") {
                    walk(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }
    let mut stray = Vec::new();
    for table in std::fs::read_dir(root).unwrap() {
        let table = table.unwrap().path();
        let mut log = String::new();
        for entry in std::fs::read_dir(table.join("_delta_log")).unwrap() {
            log += &std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        }
        let mut files = Vec::new();
        walk(&table, &mut files);
        stray.extend(files.into_iter().filter(|f| {
            let name = f.file_name().unwrap().to_str().unwrap();
            !log.contains(name)
        }));
    }
    stray
}

/// Shared by the two table-location faults: batch A lands, `fault` breaks
/// the table tmpfs, batch B is acknowledged and waits in the log while the
/// queries keep answering A, `repair` fixes it and B appears exactly once.
async fn table_outage(
    name: &str,
    fault: impl FnOnce(&Tmpfs) -> Option<PathBuf>,
    repair: impl FnOnce(&Tmpfs, Option<PathBuf>),
) {
    let Some(tables) = Tmpfs::mount(32) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let table_dir = tables.path().join("tables");
    let mut server = Server::start_with_tenant(data.path(), &table_dir).await;

    let a = Batch {
        name: "a",
        count: 20,
        amount: 100,
    };
    server.send_accepted(&a).await;
    server
        .wait_observed(totals(&[&a]), "batch A before the fault")
        .await;
    let failures_before = sample(
        &server.scrape().await,
        "revstream_pipeline_commit_failures_total",
    )
    .unwrap();
    assert_eq!(failures_before, 0.0, "no commit failed before the fault");

    let filler = fault(&tables);
    let started = Instant::now();
    // The event log lives in the data dir, which is fine: B is durable and
    // acknowledged even though it cannot reach the tables yet.
    let b = Batch {
        name: "b",
        count: 30,
        amount: 10_000,
    };
    server.send_accepted(&b).await;
    // The pipeline read B, tried to commit it, failed, and keeps retrying.
    wait_commit_failures(&server, 2.0).await;
    server.assert_alive(&format!("while the table location was {name}"));
    server
        .assert_observed(
            totals(&[&a]),
            "while the tables cannot be written, queries answer what is committed",
        )
        .await;
    // Ready: ingest takes events and queries answer; the pipeline loop is
    // paused in its retries, not ended.
    let (status, ready) = server.readyz().await;
    assert_eq!(ready["checks"]["pipeline"], "ok", "{ready}");
    assert_eq!(status, 200, "{ready}");
    // Still only A after a few more of the pipeline's retries.
    let failures = wait_commit_failures(&server, 4.0).await;
    server
        .assert_observed(totals(&[&a]), "nothing lands while the fault lasts")
        .await;
    let outage = started.elapsed();

    repair(&tables, filler);
    let resumed = server
        .wait_observed(
            totals(&[&a, &b]),
            &format!("batch B once the table location is no longer {name}"),
        )
        .await;
    eprintln!(
        "table location {name}: {failures} failed commits in {outage:.1?}; \
         B visible {resumed:.1?} after the repair"
    );
    server.assert_alive("after the repair");
    let stray = unreferenced_files(&table_dir);
    assert!(
        stray.is_empty(),
        "the failed commits left files no table references: {stray:?}"
    );
    let text = server.scrape().await;
    assert_eq!(
        sample(&text, "revstream_pipeline_events_committed_total"),
        Some(50.0),
        "each event committed once\n{text}"
    );
    // And the pipeline keeps working normally afterwards.
    let c = Batch {
        name: "c",
        count: 5,
        amount: 1_000_000,
    };
    server.send_accepted(&c).await;
    server
        .wait_observed(totals(&[&a, &b, &c]), "a batch after the repair")
        .await;
    server.process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_location_full_pauses_the_pipeline_and_loses_nothing() {
    table_outage(
        "full",
        |tables| Some(tables.fill()),
        |_, filler| std::fs::remove_file(filler.unwrap()).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_location_read_only_pauses_the_pipeline_and_loses_nothing() {
    table_outage(
        "read-only",
        |tables| {
            tables.set_read_only(true);
            None
        },
        |tables, _| tables.set_read_only(false),
    )
    .await;
}

// ---------------------------------------------------------------- event log outage

/// Checks one refusal: 503, `Retry-After`, the error contract.
fn assert_refused(
    batch: &Batch,
    (status, retry_after, body): &(StatusCode, Option<String>, Value),
) {
    assert_eq!(
        *status, 503,
        "batch {} while the data dir is full: {body}",
        batch.name
    );
    let secs: u64 = retry_after
        .as_deref()
        .expect("a 503 carries Retry-After")
        .parse()
        .unwrap();
    assert!(secs > 0, "Retry-After: {secs}");
    assert_eq!(body["error"]["code"], "log_unavailable", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_full_refuses_events_with_503_and_recovers() {
    let Some(mount) = Tmpfs::mount(16) else {
        return;
    };
    let data = mount.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let tables = tempfile::tempdir().unwrap();
    let table_dir = tables.path().join("tables");
    let mut server = Server::start_with_tenant(&data, &table_dir).await;

    let a = Batch {
        name: "a",
        count: 20,
        amount: 100,
    };
    server.send_accepted(&a).await;
    server
        .wait_observed(totals(&[&a]), "batch A before the fault")
        .await;

    let filler = mount.fill();
    // 60 payments are ~20 KB of log records: more than the free end of the
    // log's last page, so the append must allocate and cannot.
    let b = Batch {
        name: "b",
        count: 60,
        amount: 10_000,
    };
    let refusals = 3;
    for _ in 0..refusals {
        assert_refused(&b, &server.send(&b).await);
    }
    // The registry (SQLite) shares the data dir: its writes fail as clearly.
    // Whether one fits depends on the room SQLite already holds, so either
    // answer is right, but never a 500.
    let (status, body) = server.create_key().await;
    match status.as_u16() {
        201 => {}
        503 => assert_eq!(body["error"]["code"], "registry_unavailable", "{body}"),
        _ => panic!("creating a key while the data dir is full: {status} {body}"),
    }
    server.assert_alive("while the data dir was full");
    let (status, ready) = server.readyz().await;
    assert_eq!(status, 503, "not ready while the log cannot write: {ready}");
    let log_check = ready["checks"]["event_log"].clone();
    assert_ne!(log_check, "ok", "{ready}");
    server
        .assert_observed(totals(&[&a]), "queries answer while the log is full")
        .await;
    let text = server.scrape().await;
    assert_eq!(
        sample(
            &text,
            r#"revstream_ingest_rejected_total{route="events",source="api",reason="log_unavailable"}"#
        ),
        Some(f64::from(refusals)),
        "{text}"
    );

    // Space comes back: the client's retry of B goes through, without a
    // restart, and so does new traffic.
    std::fs::remove_file(filler).unwrap();
    let started = Instant::now();
    let (client, retried) = (&server, &b);
    wait_for(
        "the retried batch B accepted after space was freed",
        || async move {
            let answer = client.send(retried).await;
            match answer.0 {
                StatusCode::OK => {
                    assert_eq!(answer.2["accepted"], retried.count, "{}", answer.2);
                    Some(())
                }
                _ => {
                    assert_refused(retried, &answer);
                    None
                }
            }
        },
    )
    .await;
    let accepted_after = started.elapsed();
    let c = Batch {
        name: "c",
        count: 10,
        amount: 1_000_000,
    };
    server.send_accepted(&c).await;
    let (status, ready) = server.readyz().await;
    assert_eq!(status, 200, "ready again: {ready}");
    let (status, body) = server.create_key().await;
    assert_eq!(status, 201, "the registry writes again: {body}");
    let visible = server
        .wait_observed(
            totals(&[&a, &b, &c]),
            "every acknowledged event once, after the log recovered",
        )
        .await;
    eprintln!(
        "data dir full: {refusals}× 503, /readyz event_log: {log_check}; retry accepted \
         {accepted_after:.1?} after freeing space, all visible {visible:.1?} later"
    );

    // The log the failed appends left behind reads back cleanly after a
    // restart (recovery finds no torn record in the middle), and nothing
    // is counted twice when the pipeline rebuilds its state from it.
    let server = server.restart(&data, &table_dir).await;
    server
        .assert_observed(totals(&[&a, &b, &c]), "after a restart")
        .await;
    let d = Batch {
        name: "d",
        count: 1,
        amount: 7,
    };
    server.send_accepted(&d).await;
    server
        .wait_observed(totals(&[&a, &b, &c, &d]), "a batch after the restart")
        .await;
    server.process.stop();
}
