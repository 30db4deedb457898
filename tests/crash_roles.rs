//! Crashes of the ingest and query roles and of `revstream serve` (issue #9;
//! the pipeline's SIGKILL test is `pipeline_crash.rs`), on real processes,
//! the real broker and real PostgreSQL.
//!
//! What is killed, and what must hold afterwards:
//!
//! - `ingest_sigkill_under_load_loses_nothing_and_counts_nothing_twice`: two
//!   `revstream ingest` replicas behind concurrent senders (producer batches
//!   to `/v1/events` and Standard-Webhooks-signed deliveries), one replica
//!   SIGKILLed and restarted at seeded random points of the load. Senders
//!   retry every request that got no 2xx, with the same event ids, as
//!   providers do. Asserted: every event acknowledged with a 2xx is in the
//!   `events` table (invariant 1), the table holds exactly the distinct
//!   events, nothing else answered but 2xx, 503 or a dropped connection, and
//!   the tables, `/v1/metrics` and SQL over `/v1/query` equal those of an
//!   uninterrupted reference run of the same events (a fresh topic filled
//!   directly, its own pipeline, tables and query process).
//! - `query_sigkill_under_dashboard_load_restarts_clean_and_answers_exactly`:
//!   a `revstream query` process SIGKILLed and restarted while dashboard
//!   readers hammer `/v1/metrics` and `/v1/query` and the pipeline keeps
//!   committing. Asserted: no request ever gets anything but 200 (no 5xx),
//!   connection errors only while the process was down, the restarted
//!   process is healthy and answering within a bound (measured), and once
//!   the pipeline is idle its answers equal SQL run on the committed Delta
//!   tables directly, its `/v1/metrics` equal a query process that was never
//!   killed (whose result cache lived through every commit) and its
//!   additive totals equal the sums of `metrics_daily`; at the end a kill
//!   and restart under load changes no table file.
//! - `serve_sigkill_under_load_loses_nothing_and_counts_nothing_twice`:
//!   `revstream serve` (embedded log, SQLite) SIGKILLed at seeded random
//!   points under the same load and restarted on the same data dir; every
//!   other kill also leaves a half-written frame at the end of each log
//!   partition, which the restart must cut (the local log's
//!   fsync-before-ack and torn-tail recovery). Asserted: as for ingest,
//!   against a reference `serve` fed the same events without kills, and
//!   nothing new after a final clean restart.
//!
//! Query nodes see a commit at most a second late, and one pipeline cycle
//! is several Delta commits, so answers compared over HTTP may take a
//! moment to agree: they must within `CONVERGE_LIMIT`, and how often they
//! did not at once is printed (`--nocapture`) with the kills, retries and
//! restart times.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::catalog::empty::EmptyTable;
use deltalake::datafusion::prelude::SessionContext;
use revstream_ingest::log::EventLog;
use revstream_ingest::log::kafka::{KafkaConfig, KafkaLog};
use revstream_ingest::verify::sign_standard;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};
use serde_json::{Value, json};
use support::admin::AdminApi;
use support::events::{Rng, records, stream};
use support::kafka::{Broker, unique_topic};
use support::postgres::TestDatabase;
use support::process::{MASTER_KEY, Process, free_port};

/// The tenants' Standard Webhooks secret (whsec_ + base64).
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Load of each scenario: tenants × events per tenant, plus the
/// generator's ~10 % provider duplicates.
const TENANTS: usize = 4;
const PER_TENANT: usize = 750;
/// Events per tenant of the query scenario, appended in one slice per kill.
const QUERY_PER_TENANT: usize = 400;
/// Concurrent senders of the ingest load.
const SENDERS: usize = 6;
/// The ingest load is paced to last about this long.
const LOAD_SPREAD: Duration = Duration::from_secs(15);
/// Dashboard readers of the query scenario.
const READERS: usize = 4;
/// How long one delivery may take, retries included, before the test fails.
const DELIVERY_LIMIT: Duration = Duration::from_secs(90);
/// How long a restarted process may take to answer `/healthz`.
const RESTART_LIMIT: Duration = Duration::from_secs(30);
/// How long the pipeline may take to commit everything sent.
const COMMIT_LIMIT: Duration = Duration::from_secs(120);
/// Covers every day the generator uses (2026-01-01 + 92 days).
const METRICS_RANGE: &str = "from=2025-12-01&to=2026-12-31&interval=month";

/// SQL a dashboard or an analyst runs; integers and text only, ordered, so
/// answers compare exactly.
const CHECKS: &[&str] = &[
    "SELECT t, n FROM (\
        SELECT 'events' AS t, count(*) AS n FROM events \
        UNION ALL SELECT 'subscriptions', count(*) FROM subscriptions \
        UNION ALL SELECT 'mrr_movements', count(*) FROM mrr_movements \
        UNION ALL SELECT 'metrics_daily', count(*) FROM metrics_daily \
        UNION ALL SELECT 'calls', count(*) FROM calls \
        UNION ALL SELECT 'payments', count(*) FROM payments \
        UNION ALL SELECT 'refunds', count(*) FROM refunds \
        UNION ALL SELECT 'customers', count(*) FROM customers) ORDER BY t",
    "SELECT count(*) AS n, count(DISTINCT source || '/' || event_id) AS ids FROM events",
    "SELECT movement, count(*) AS n, sum(amount) AS amount FROM mrr_movements \
        GROUP BY movement ORDER BY movement",
    "SELECT status, count(*) AS n, sum(amount) AS amount, sum(refunded_amount) AS refunded \
        FROM payments GROUP BY status ORDER BY status",
    "SELECT status, attendance, count(*) AS n FROM calls \
        GROUP BY status, attendance ORDER BY status, attendance",
    "SELECT count(*) AS days, sum(cash_collected) AS cash, sum(refunds) AS refunds, \
        sum(booked_calls) AS booked, sum(showed) AS showed, sum(new_mrr) AS new_mrr, \
        sum(churned_mrr) AS churned_mrr, sum(new_customers) AS new_customers FROM metrics_daily",
];

/// (tenant, source, event id): what the pipeline deduplicates on.
type EventKey = (String, String, String);

fn key_of(tenant: &TenantId, event: &CanonicalEvent) -> EventKey {
    (
        tenant.as_str().to_owned(),
        event.source.as_str().to_owned(),
        event.id.as_str().to_owned(),
    )
}

fn distinct_keys(events: &[(TenantId, CanonicalEvent)]) -> BTreeSet<EventKey> {
    events.iter().map(|(t, e)| key_of(t, e)).collect()
}

fn tenants_of(events: &[(TenantId, CanonicalEvent)]) -> Vec<TenantId> {
    let mut seen = BTreeMap::new();
    for (t, _) in events {
        seen.entry(t.as_str().to_owned())
            .or_insert_with(|| t.clone());
    }
    seen.into_values().collect()
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A role process that can be killed and started again on the same port.
struct Role {
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    base: String,
    process: Option<Process>,
}

impl Role {
    fn new(args: &[&str], port: u16, dir: &Path, env: &[(&str, &str)]) -> Role {
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["--http".to_owned(), format!("127.0.0.1:{port}")]);
        Role {
            args,
            dir: dir.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            base: format!("http://127.0.0.1:{port}"),
            process: None,
        }
    }

    fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.base);
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.process = Some(Process::start(&args, &self.dir, &env));
    }

    /// Starts the process and returns how long it took to answer `/healthz`.
    async fn start_healthy(&mut self, http: &reqwest::Client) -> Duration {
        let started = Instant::now();
        self.start();
        wait_up(http, &self.base, self.process.as_mut().unwrap(), started).await
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        self.process
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.base))
            .kill();
    }

    fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop();
        }
    }
}

/// Waits (at most [`RESTART_LIMIT`]) until `base` answers `/healthz`;
/// fails at once if the process exits (a role that cannot restart).
async fn wait_up(
    http: &reqwest::Client,
    base: &str,
    process: &mut Process,
    started: Instant,
) -> Duration {
    loop {
        let r = http
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            return started.elapsed();
        }
        assert!(
            process.is_running(),
            "{base} exited during start-up (see its log above)"
        );
        assert!(
            started.elapsed() < RESTART_LIMIT,
            "{base} did not answer /healthz within {RESTART_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn env_of<'a>(
    broker: &'a Broker,
    topic: &'a str,
    db: &'a TestDatabase,
    tables: &'a Path,
) -> [(&'static str, &'a str); 4] {
    [
        ("REVSTREAM_KAFKA", broker.bootstrap.as_str()),
        ("REVSTREAM_KAFKA_TOPIC", topic),
        ("REVSTREAM_DATABASE_URL", db.url.as_str()),
        ("REVSTREAM_TABLE_URI", tables.to_str().unwrap()),
    ]
}

/// `env` plus a consumer group of the pipeline's own: the broker may be
/// shared with other tests, whose pipelines must not join the same group.
fn with_group<'a>(env: &[(&'a str, &'a str)], group: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut env = env.to_vec();
    env.push(("REVSTREAM_KAFKA_GROUP", group));
    env
}

fn root(tables: &Path) -> url::Url {
    revstream_pipeline::table_root(tables.to_str().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// Tenants
// ---------------------------------------------------------------------------

struct TenantKeys {
    id: TenantId,
    ingest: String,
    viewer: String,
}

/// Each tenant with its Standard Webhooks secret, an ingest key and a
/// viewer key, through the admin API of `base`.
async fn create_tenants(
    http: &reqwest::Client,
    base: &str,
    tenants: &[TenantId],
) -> Vec<TenantKeys> {
    let admin = AdminApi { http, base };
    let mut out = Vec::new();
    for id in tenants {
        admin.create_tenant(json!({"id": id.as_str()})).await;
        admin
            .put_secret(id.as_str(), "standard", STANDARD_SECRET)
            .await;
        out.push(TenantKeys {
            id: id.clone(),
            ingest: admin.create_key(id.as_str(), "ingest").await,
            viewer: admin.create_key(id.as_str(), "viewer").await,
        });
    }
    out
}

// ---------------------------------------------------------------------------
// The ingest load: deliveries retried until acknowledged
// ---------------------------------------------------------------------------

/// One HTTP request a sender repeats until it gets a 2xx.
enum Delivery {
    /// `POST /v1/events` with the tenant's ingest key.
    Batch {
        tenant: usize,
        body: String,
        keys: Vec<EventKey>,
    },
    /// `POST /v1/webhooks/standard/{tenant}`, signed afresh on each try
    /// with the same `webhook-id`.
    Webhook {
        tenant: usize,
        msg_id: String,
        body: Vec<u8>,
        key: EventKey,
    },
}

impl Delivery {
    fn keys(&self) -> &[EventKey] {
        match self {
            Delivery::Batch { keys, .. } => keys,
            Delivery::Webhook { key, .. } => std::slice::from_ref(key),
        }
    }
}

/// The stream cut into deliveries: about half the events as single signed
/// webhooks, the rest in producer batches of 1–40 per tenant.
fn deliveries(
    events: &[(TenantId, CanonicalEvent)],
    tenants: &[TenantId],
    seed: u64,
) -> Vec<Delivery> {
    let index: HashMap<&str, usize> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut open: Vec<Vec<&CanonicalEvent>> = vec![Vec::new(); tenants.len()];
    let batch = |tenant: usize, rows: &mut Vec<&CanonicalEvent>| {
        let body: Vec<String> = rows
            .iter()
            .map(|e| String::from_utf8(e.to_json()).unwrap())
            .collect();
        let keys = rows.iter().map(|e| key_of(&tenants[tenant], e)).collect();
        rows.clear();
        Delivery::Batch {
            tenant,
            body: format!("[{}]", body.join(",")),
            keys,
        }
    };
    for (n, (tenant, event)) in events.iter().enumerate() {
        let t = index[tenant.as_str()];
        if rng.below(2) == 0 {
            out.push(Delivery::Webhook {
                tenant: t,
                msg_id: format!("msg_{n}"),
                body: event.to_json(),
                key: key_of(tenant, event),
            });
        } else {
            open[t].push(event);
            if open[t].len() >= 40 || rng.below(15) == 0 {
                out.push(batch(t, &mut open[t]));
            }
        }
    }
    for (t, rows) in open.iter_mut().enumerate() {
        if !rows.is_empty() {
            out.push(batch(t, rows));
        }
    }
    out
}

#[derive(Debug, Default)]
struct LoadStats {
    requests: u64,
    /// Attempts after the first of a delivery.
    retries: u64,
    /// Deliveries that needed at least one retry.
    retried_deliveries: u64,
    connection_errors: u64,
    /// Non-2xx answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Answers other than 2xx and 503: (status, body).
    unexpected: Vec<(u16, String)>,
    /// Events in 2xx answers, counting re-sends.
    events_acked: u64,
}

/// Deliveries shared by the senders, and what they saw.
struct Load {
    deliveries: Vec<Delivery>,
    next: AtomicUsize,
    done: AtomicUsize,
    acked: Mutex<BTreeSet<EventKey>>,
    stats: Mutex<LoadStats>,
}

impl Load {
    fn new(deliveries: Vec<Delivery>) -> Arc<Load> {
        Arc::new(Load {
            deliveries,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            acked: Mutex::new(BTreeSet::new()),
            stats: Mutex::new(LoadStats::default()),
        })
    }

    /// Notes one attempt's outcome; true when it was acknowledged.
    fn record(
        &self,
        delivery: &Delivery,
        tries: usize,
        outcome: Result<(u16, String), reqwest::Error>,
    ) -> bool {
        let mut stats = self.stats.lock().unwrap();
        stats.requests += 1;
        if tries > 0 {
            stats.retries += 1;
        }
        match outcome {
            Ok((status, body)) if (200..300).contains(&status) => {
                check_ack(delivery, &body);
                stats.events_acked += delivery.keys().len() as u64;
                if tries > 0 {
                    stats.retried_deliveries += 1;
                }
                self.acked
                    .lock()
                    .unwrap()
                    .extend(delivery.keys().iter().cloned());
                return true;
            }
            Ok((status, body)) => {
                *stats.statuses.entry(status).or_default() += 1;
                if status != 503 {
                    stats.unexpected.push((status, body));
                }
            }
            Err(_) => stats.connection_errors += 1,
        }
        false
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// Outcome of one attempt: the status and body, or a transport error.
async fn attempt(
    http: &reqwest::Client,
    base: &str,
    delivery: &Delivery,
    tenants: &[TenantKeys],
) -> Result<(u16, String), reqwest::Error> {
    let request = match delivery {
        Delivery::Batch { tenant, body, .. } => http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&tenants[*tenant].ingest)
            .header("content-type", "application/json")
            .body(body.clone()),
        Delivery::Webhook {
            tenant,
            msg_id,
            body,
            ..
        } => {
            let ts = chrono::Utc::now().timestamp();
            http.post(format!(
                "{base}/v1/webhooks/standard/{}",
                tenants[*tenant].id
            ))
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                sign_standard(STANDARD_SECRET, msg_id, ts, body).unwrap(),
            )
            .body(body.clone())
        }
    };
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// Checks a 2xx answer says every event of the delivery was taken.
fn check_ack(delivery: &Delivery, body: &str) {
    let answer: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("a 2xx answer that is not JSON ({e}): {body}"));
    match delivery {
        Delivery::Batch { keys, .. } => {
            let taken =
                answer["accepted"].as_u64().unwrap() + answer["duplicates"].as_u64().unwrap();
            assert_eq!(taken, keys.len() as u64, "batch answer: {answer}");
            assert_eq!(answer["rejected"], json!([]), "batch answer: {answer}");
        }
        Delivery::Webhook { .. } => {
            let status = answer["status"].as_str().unwrap();
            assert!(
                status == "accepted" || status == "duplicate",
                "webhook answer: {answer}"
            );
        }
    }
}

/// One sender: takes deliveries until none are left; each is retried (on
/// the next target, like a load balancer would) until it gets a 2xx.
async fn sender(
    load: Arc<Load>,
    http: reqwest::Client,
    targets: Arc<Vec<String>>,
    tenants: Arc<Vec<TenantKeys>>,
    (start, pace): (tokio::time::Instant, Duration),
) {
    loop {
        let i = load.next.fetch_add(1, Ordering::SeqCst);
        let Some(delivery) = load.deliveries.get(i) else {
            return;
        };
        // Paced: delivery i starts no earlier than i × pace, so the load
        // lasts about LOAD_SPREAD whatever the machine's speed.
        tokio::time::sleep_until(start + pace * i as u32).await;
        let started = Instant::now();
        let mut tries = 0usize;
        loop {
            let base = &targets[(i + tries) % targets.len()];
            let outcome = attempt(&http, base, delivery, &tenants).await;
            if load.record(delivery, tries, outcome) {
                break;
            }
            tries += 1;
            assert!(
                started.elapsed() < DELIVERY_LIMIT,
                "delivery {i} got no 2xx in {DELIVERY_LIMIT:?} ({tries} tries)"
            );
            tokio::time::sleep(Duration::from_millis(20 * tries.min(10) as u64)).await;
        }
        load.done.fetch_add(1, Ordering::SeqCst);
    }
}

fn spawn_senders(
    load: &Arc<Load>,
    targets: Vec<String>,
    tenants: &Arc<Vec<TenantKeys>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let targets = Arc::new(targets);
    let pace = LOAD_SPREAD / load.deliveries.len() as u32;
    let start = tokio::time::Instant::now();
    (0..SENDERS)
        .map(|_| {
            tokio::spawn(sender(
                load.clone(),
                http.clone(),
                targets.clone(),
                tenants.clone(),
                (start, pace),
            ))
        })
        .collect()
}

/// Seeded kill points: `kills` distinct counts of finished deliveries
/// between 10 % and 85 % of the load.
fn kill_points(rng: &mut Rng, kills: usize, total: usize) -> Vec<usize> {
    // One point in each of `kills` equal windows, so that a kill and
    // restart fit between two points.
    let (low, high) = (total / 10, total * 85 / 100);
    let window = (high - low) / kills;
    (0..kills)
        .map(|k| low + k * window + rng.below(window as u64) as usize)
        .collect()
}

/// Waits (bounded) until `load` has finished `point` deliveries.
async fn wait_progress(load: &Load, point: usize) {
    let deadline = Instant::now() + DELIVERY_LIMIT;
    while load.done() < point {
        assert!(
            Instant::now() < deadline,
            "the load stalled at {} of {} deliveries",
            load.done(),
            load.deliveries.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills `roles[pick]` at each kill point (plus a seeded delay), keeps it
/// down a seeded moment, restarts it; returns the restart-to-healthy times.
/// With `torn_log` (the embedded log's directory), every other kill also
/// leaves a torn frame at the end of each partition, which the restart must
/// cut.
async fn kill_during_load(
    load: &Arc<Load>,
    roles: &mut [Role],
    rng: &mut Rng,
    kills: usize,
    http: &reqwest::Client,
    torn_log: Option<&Path>,
) -> Vec<Duration> {
    let mut restarts = Vec::new();
    for (n, point) in kill_points(rng, kills, load.deliveries.len())
        .into_iter()
        .enumerate()
    {
        wait_progress(load, point).await;
        tokio::time::sleep(Duration::from_millis(rng.below(200))).await;
        let victim = rng.below(roles.len() as u64) as usize;
        let done = load.done();
        assert!(
            done < load.deliveries.len(),
            "kill {n} came after the load ended: spread the load over more than {LOAD_SPREAD:?}"
        );
        roles[victim].kill();
        let torn = match torn_log {
            Some(log) if n % 2 == 1 => tear_tails(log),
            _ => Vec::new(),
        };
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        let took = roles[victim].start_healthy(http).await;
        assert_torn_tails_cut(&torn);
        eprintln!(
            "kill {n}: {} SIGKILLed after {done} of {} deliveries{}; healthy again {took:?} after restart",
            roles[victim].base,
            load.deliveries.len(),
            if torn.is_empty() { "" } else { ", tails torn" }
        );
        restarts.push(took);
    }
    restarts
}

/// The `len` of the torn frame: plausible (under the log's 64 MiB record
/// limit) and far above any record here, so it never starts a real frame.
const TORN_LEN: u32 = 3_000_000;

/// Appends the first bytes of a frame (`len`, `crc`, part of the body) to
/// the tail segment of every partition of the embedded log at `log` (the
/// layout of `ingest/src/log/local`: `p-NNNNN/<base>.log`): what a write
/// cut short leaves behind. Returns each tail and its length before.
fn tear_tails(log: &Path) -> Vec<(PathBuf, u64)> {
    use std::io::Write;
    let mut torn = Vec::new();
    for partition in std::fs::read_dir(log).unwrap() {
        let partition = partition.unwrap().path();
        if !partition
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("p-")
        {
            continue;
        }
        let tail = std::fs::read_dir(&partition)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .max()
            .unwrap_or_else(|| panic!("no segment in {}", partition.display()));
        let len = std::fs::metadata(&tail).unwrap().len();
        let mut frame = TORN_LEN.to_le_bytes().to_vec();
        frame.extend_from_slice(&[0xab; 4]);
        frame.extend_from_slice(&[0x5a; 64]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&tail)
            .unwrap()
            .write_all(&frame)
            .unwrap();
        torn.push((tail, len));
    }
    assert!(!torn.is_empty(), "no partitions under {}", log.display());
    torn
}

/// After a restart, no torn frame is left where it was put: recovery cut
/// each tail back to its last whole record (new records may follow).
fn assert_torn_tails_cut(torn: &[(PathBuf, u64)]) {
    for (tail, len) in torn {
        let Ok(bytes) = std::fs::read(tail) else {
            continue; // segment gone (retention): nothing torn is left either
        };
        let at = *len as usize;
        assert!(
            bytes.len() == at || bytes.get(at..at + 4) != Some(&TORN_LEN.to_le_bytes()[..]),
            "the torn tail of {} was not cut on restart",
            tail.display()
        );
    }
}

/// Joins the senders (a sender's panic fails the test) and reports.
async fn finish_load(load: &Load, senders: Vec<tokio::task::JoinHandle<()>>, started: Instant) {
    for s in senders {
        s.await.unwrap();
    }
    let stats = load.stats.lock().unwrap();
    let distinct = load.acked.lock().unwrap().len();
    eprintln!(
        "load: {} deliveries, {} requests, {} retries ({} deliveries retried), {} connection errors, \
         non-2xx {:?}, {} events acked ({distinct} distinct) in {:?}",
        load.deliveries.len(),
        stats.requests,
        stats.retries,
        stats.retried_deliveries,
        stats.connection_errors,
        stats.statuses,
        stats.events_acked,
        started.elapsed()
    );
    assert!(
        stats.unexpected.is_empty(),
        "answers other than 2xx and 503 (status, body): {:?}",
        stats.unexpected
    );
    assert_eq!(load.done(), load.deliveries.len());
}

// ---------------------------------------------------------------------------
// Reading results: tables directly, and over HTTP
// ---------------------------------------------------------------------------

/// Every (tenant, source, event id) in the `events` table, and how many
/// rows it has (to catch a row stored twice).
async fn committed_keys(tables: &Path) -> (u64, BTreeSet<EventKey>) {
    let rows = support::tables::query(
        &root(tables),
        "SELECT tenant_id, source, event_id FROM events",
    )
    .await;
    let n = rows.len() as u64;
    let keys = rows
        .iter()
        .map(|r| {
            let s = |c: &str| r[c].as_str().unwrap().to_owned();
            (s("tenant_id"), s("source"), s("event_id"))
        })
        .collect();
    (n, keys)
}

/// Waits until the `events` table holds `expected` rows (never more), then
/// checks they are exactly `expected`.
async fn wait_committed(tables: &Path, expected: &BTreeSet<EventKey>, what: &str) {
    support::tables::wait_for_events(tables, expected.len() as u64, COMMIT_LIMIT, what).await;
    let (rows, keys) = committed_keys(tables).await;
    assert_eq!(rows, expected.len() as u64, "{what}: an event stored twice");
    let missing: Vec<_> = expected.difference(&keys).take(5).collect();
    let extra: Vec<_> = keys.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: events table differs from the events sent; missing {missing:?}, unexpected {extra:?}"
    );
}

/// A whole table as sorted rows; `events` without where each row was read
/// from the log (offsets differ between runs by nature).
async fn table_rows(tables: &Path, table: TableName) -> Vec<String> {
    if table != TableName::Events {
        return support::tables::snapshot(&root(tables), table).await;
    }
    let mut rows: Vec<String> = support::tables::query(
        &root(tables),
        "SELECT tenant_id, source, event_id, type, occurred_at, day, customer_id, email, \
         object_id, amount, currency, payload, raw FROM events",
    )
    .await
    .into_iter()
    .map(|v| v.to_string())
    .collect();
    rows.sort();
    rows
}

async fn assert_same_tables(reference: &Path, other: &Path) {
    for table in TableName::ALL {
        let a = table_rows(reference, table).await;
        let b = table_rows(other, table).await;
        if a != b {
            // Rows as multisets: what only one side has (or has more of).
            let mut count: BTreeMap<&str, i64> = BTreeMap::new();
            for row in &a {
                *count.entry(row.as_str()).or_default() += 1;
            }
            for row in &b {
                *count.entry(row.as_str()).or_default() -= 1;
            }
            let only = |sign: i64| -> Vec<&str> {
                count
                    .iter()
                    .filter(|(_, n)| n.signum() == sign)
                    .map(|(row, _)| *row)
                    .take(3)
                    .collect()
            };
            panic!(
                "{table}: {} rows, the reference has {}; only in the reference: {:#?}; \
                 only after the crashes: {:#?}",
                b.len(),
                a.len(),
                only(1),
                only(-1)
            );
        }
    }
}

/// `GET /v1/metrics` of a tenant (all metrics), or the status and body.
async fn metrics(http: &reqwest::Client, base: &str, key: &str) -> Result<Value, String> {
    let r = http
        .get(format!("{base}/v1/metrics?{METRICS_RANGE}"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status();
    let body = r.text().await.map_err(|e| format!("body failed: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// Rows of a JSON answer as text cells, as [`sql_rows`] gives them.
fn text_rows(answer: &Value) -> Vec<Vec<String>> {
    answer["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {answer}"))
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|cell| match cell {
                    Value::Null => "NULL".to_owned(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// `POST /v1/query` of a tenant: rows as text, or the status and body.
async fn sql(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    sql: &str,
) -> Result<Vec<Vec<String>>, String> {
    let r = http
        .post(format!("{base}/v1/query"))
        .bearer_auth(key)
        .json(&json!({"sql": sql}))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status();
    let body = r.text().await.map_err(|e| format!("body failed: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    Ok(text_rows(&answer))
}

/// Waits until a query node shows `n` events for a tenant (its view of
/// the tables is refreshed at most a second late).
async fn wait_visible(http: &reqwest::Client, base: &str, key: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = vec![vec![n.to_string()]];
    loop {
        let seen = sql(http, base, key, "SELECT count(*) FROM events").await;
        if seen.as_ref() == Ok(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} does not show the {n} committed events within 30 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long a query node may take to show the latest commit of every
/// table: it refreshes at most a second late, and the tables of one
/// pipeline cycle are separate Delta commits that a refresh can catch
/// between. Longer than that, a differing answer is wrong.
const CONVERGE_LIMIT: Duration = Duration::from_secs(5);

/// Calls `answers` until its two values are equal (at most
/// [`CONVERGE_LIMIT`]), and fails with both when they do not converge.
/// Returns how many attempts differed first.
async fn converge<T, F>(what: &str, mut answers: impl FnMut() -> F) -> usize
where
    T: PartialEq + std::fmt::Debug,
    F: std::future::Future<Output = (T, T)>,
{
    let started = Instant::now();
    let mut misses = 0;
    loop {
        let (expected, got) = answers().await;
        if got == expected {
            return misses;
        }
        misses += 1;
        assert!(
            started.elapsed() < CONVERGE_LIMIT,
            "{what}: still differs after {CONVERGE_LIMIT:?}\n  expected {expected:?}\n  got      {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `/v1/metrics` and every check of [`CHECKS`] answer the same on both
/// query nodes for every tenant; the metrics are not trivially empty.
async fn assert_same_answers(
    http: &reqwest::Client,
    reference: (&str, &[TenantKeys]),
    crashed: (&str, &[TenantKeys]),
) {
    let mut misses = 0;
    for (r, c) in reference.1.iter().zip(crashed.1) {
        assert_eq!(r.id, c.id);
        let what = format!("{}: /v1/metrics vs the reference", r.id);
        misses += converge(&what, || async {
            (
                metrics(http, reference.0, &r.viewer).await.unwrap(),
                metrics(http, crashed.0, &c.viewer).await.unwrap(),
            )
        })
        .await;
        let expected = metrics(http, reference.0, &r.viewer).await.unwrap();
        let totals = &expected["totals"];
        for m in ["cash_collected", "booked_calls", "new_mrr", "new_customers"] {
            assert!(
                totals[m].as_i64().is_some_and(|v| v > 0),
                "{}: reference {m} is not positive: {totals}",
                r.id
            );
        }
        for check in CHECKS {
            let what = format!("{}: {check} vs the reference", r.id);
            misses += converge(&what, || async {
                (
                    sql(http, reference.0, &r.viewer, check).await.unwrap(),
                    sql(http, crashed.0, &c.viewer, check).await.unwrap(),
                )
            })
            .await;
        }
    }
    eprintln!("answers compared; {misses} differed at first and converged");
}

/// Per-tenant count of distinct events in a stream.
fn per_tenant(keys: &BTreeSet<EventKey>, tenant: &TenantId) -> usize {
    keys.iter().filter(|k| k.0 == tenant.as_str()).count()
}

// ---------------------------------------------------------------------------
// 1. ingest
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_sigkill_under_load_loses_nothing_and_counts_nothing_twice() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let http = reqwest::Client::new();
    let events = stream(91, TENANTS, PER_TENANT);
    let expected = distinct_keys(&events);
    let tenant_ids = tenants_of(&events);

    let (topic, ref_topic) = (
        unique_topic("crash-ingest"),
        unique_topic("crash-ingest-ref"),
    );
    let tables = tempfile::tempdir().unwrap();
    let ref_tables = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let env = env_of(&broker, &topic, &db, tables.path());
    let ref_env = env_of(&broker, &ref_topic, &db, ref_tables.path());
    let (group, ref_group) = (
        unique_topic("crash-ingest-group"),
        unique_topic("crash-ingest-ref-group"),
    );

    // Two ingest replicas; the topic exists once the first is up.
    let mut ingests: Vec<Role> = (0..2)
        .map(|i| Role::new(&["ingest"], free_port(), dirs[i].path(), &env))
        .collect();
    for ingest in &mut ingests {
        ingest.start_healthy(&http).await;
    }
    let tenants = Arc::new(create_tenants(&http, &ingests[0].base, &tenant_ids).await);
    let mut pipeline = Role::new(
        &["pipeline"],
        free_port(),
        dirs[2].path(),
        &with_group(&env, &group),
    );
    pipeline.start();
    let mut query = Role::new(&["query"], free_port(), dirs[3].path(), &env);
    query.start_healthy(&http).await;

    // The load, with ingest replicas killed at seeded random points.
    let load = Load::new(deliveries(&events, &tenant_ids, 92));
    let started = Instant::now();
    let senders = spawn_senders(
        &load,
        ingests.iter().map(|i| i.base.clone()).collect(),
        &tenants,
    );
    let mut rng = Rng::new(93);
    let restarts = kill_during_load(&load, &mut ingests, &mut rng, 5, &http, None).await;
    finish_load(&load, senders, started).await;
    eprintln!("ingest restart-to-healthy: {restarts:?}");

    // Invariant 1: every acknowledged event is in the tables; and the
    // tables hold each distinct event exactly once.
    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked, expected, "every delivery ended acknowledged");
    wait_committed(tables.path(), &acked, "after ingest crashes").await;

    // The reference: the same events appended straight to a fresh topic,
    // consumed by a pipeline of its own into tables of their own.
    let mut config = KafkaConfig::new(broker.bootstrap.clone());
    config.topic = ref_topic.clone();
    config.partitions = 4;
    let log = KafkaLog::connect(config).await.unwrap();
    for chunk in records(&events).chunks(1_000) {
        log.append(chunk.to_vec()).await.unwrap();
    }
    let mut ref_pipeline = Role::new(
        &["pipeline"],
        free_port(),
        dirs[4].path(),
        &with_group(&ref_env, &ref_group),
    );
    ref_pipeline.start();
    let mut ref_query = Role::new(&["query"], free_port(), dirs[5].path(), &ref_env);
    ref_query.start_healthy(&http).await;
    wait_committed(ref_tables.path(), &expected, "reference").await;

    assert_same_tables(ref_tables.path(), tables.path()).await;
    for t in tenants.iter() {
        let n = per_tenant(&expected, &t.id);
        wait_visible(&http, &query.base, &t.viewer, n).await;
        wait_visible(&http, &ref_query.base, &t.viewer, n).await;
    }
    assert_same_answers(
        &http,
        (&ref_query.base, &tenants[..]),
        (&query.base, &tenants[..]),
    )
    .await;

    for role in
        ingests
            .iter_mut()
            .chain([&mut pipeline, &mut query, &mut ref_pipeline, &mut ref_query])
    {
        role.stop();
    }
}

// ---------------------------------------------------------------------------
// 2. query
// ---------------------------------------------------------------------------

/// What the dashboard readers saw.
#[derive(Debug, Default)]
struct ReadStats {
    ok: u64,
    /// Connection errors while the node was down (expected).
    down_errors: u64,
    /// Anything else: non-200 answers, and connection errors while the
    /// node was up.
    unexpected: Vec<String>,
}

/// Whether the node is down, and a counter bumped on every change, so a
/// request can tell whether a kill overlapped it.
#[derive(Default)]
struct Availability {
    down: AtomicBool,
    changes: AtomicU64,
}

impl Availability {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        self.changes.fetch_add(1, Ordering::SeqCst);
    }
    fn snapshot(&self) -> (bool, u64) {
        (
            self.down.load(Ordering::SeqCst),
            self.changes.load(Ordering::SeqCst),
        )
    }
}

/// A dashboard reader: `/v1/metrics` and the [`CHECKS`], round the
/// tenants, until told to stop.
async fn reader(
    n: usize,
    base: String,
    keys: Arc<Vec<TenantKeys>>,
    availability: Arc<Availability>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ReadStats>>,
) {
    // No pooled connections: each request connects, so one that fails
    // after a restart is the new process's fault, not a stale socket's.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut i = n;
    while !stop.load(Ordering::SeqCst) {
        let key = &keys[i % keys.len()].viewer;
        let before = availability.snapshot();
        let request = if i.is_multiple_of(2) {
            http.get(format!("{base}/v1/metrics?{METRICS_RANGE}"))
                .bearer_auth(key)
        } else {
            http.post(format!("{base}/v1/query"))
                .bearer_auth(key)
                .json(&json!({"sql": CHECKS[i % CHECKS.len()]}))
        };
        let outcome = match request.send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await;
                Ok((status, body))
            }
            Err(e) => Err(e),
        };
        let after = availability.snapshot();
        let pause = {
            let mut stats = stats.lock().unwrap();
            // A dashboard polls; it does not spin (and the pipeline needs the
            // CPU too). After a failure it waits a little longer.
            match outcome {
                Ok((status, Ok(_))) if status == 200 => {
                    stats.ok += 1;
                    25
                }
                Ok((status, body)) => {
                    stats
                        .unexpected
                        .push(format!("{status}: {}", body.unwrap_or_default()));
                    100
                }
                Err(e) => {
                    if before.0 || after.0 || before.1 != after.1 {
                        stats.down_errors += 1;
                    } else {
                        stats.unexpected.push(format!("error while up: {e}"));
                    }
                    100
                }
            }
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        i += 1;
    }
}

/// The committed Delta tables, loaded once for several tenant sessions;
/// `None` for a table the pipeline has not created yet.
async fn load_tables(tables: &Path) -> Vec<(TableName, Option<deltalake::DeltaTable>)> {
    let mut out = Vec::new();
    for table in TableName::ALL {
        let url = root(tables).join(&format!("{}/", table.as_str())).unwrap();
        let delta = match deltalake::DeltaTable::try_from_url(url).await {
            Ok(t) if t.version().is_some() => Some(t),
            _ => None,
        };
        out.push((table, delta));
    }
    out
}

/// A session over the committed tables as one tenant sees them: every
/// table a view filtered to the tenant (an empty one until created).
async fn tenant_session(
    loaded: &[(TableName, Option<deltalake::DeltaTable>)],
    tenant: &TenantId,
) -> SessionContext {
    let ctx = SessionContext::new();
    for (table, delta) in loaded {
        let provider: Arc<dyn TableProvider> = match delta {
            Some(t) => {
                t.update_datafusion_session(&ctx.state()).unwrap();
                t.table_provider().await.unwrap()
            }
            None => Arc::new(EmptyTable::new(table.schema())),
        };
        let raw = format!("raw_{}", table.as_str());
        ctx.register_table(raw.as_str(), provider).unwrap();
        ctx.sql(&format!(
            "CREATE VIEW {} AS SELECT * FROM {raw} WHERE tenant_id = '{}'",
            table.as_str(),
            tenant.as_str()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    }
    ctx
}

/// A query's rows as text cells.
async fn sql_rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in &batches {
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c.value(row).to_string()).collect());
        }
    }
    rows
}

/// With the pipeline idle: the node's SQL answers equal the same SQL run on
/// the committed tables here, its metrics equal the never-killed node's,
/// and its additive totals equal the sums of `metrics_daily`.
async fn assert_answers_match_tables(
    http: &reqwest::Client,
    node: &str,
    control: &str,
    tables: &Path,
    tenants: &[TenantKeys],
    committed: &BTreeSet<EventKey>,
) -> usize {
    let loaded = load_tables(tables).await;
    let mut misses = 0;
    for t in tenants {
        wait_visible(http, node, &t.viewer, per_tenant(committed, &t.id)).await;
        wait_visible(http, control, &t.viewer, per_tenant(committed, &t.id)).await;
        let ctx = tenant_session(&loaded, &t.id).await;
        for check in CHECKS {
            let truth = sql_rows(&ctx, check).await;
            let what = format!("{}: {check} vs the committed tables", t.id);
            misses += converge(&what, || async {
                (
                    truth.clone(),
                    sql(http, node, &t.viewer, check).await.unwrap(),
                )
            })
            .await;
        }
        let what = format!("{}: /v1/metrics vs the never-killed node", t.id);
        misses += converge(&what, || async {
            (
                metrics(http, control, &t.viewer).await.unwrap(),
                metrics(http, node, &t.viewer).await.unwrap(),
            )
        })
        .await;
        let got = metrics(http, node, &t.viewer).await.unwrap();
        let sums = sql_rows(
            &ctx,
            "SELECT coalesce(sum(cash_collected), 0), coalesce(sum(refunds), 0), \
             coalesce(sum(booked_calls), 0), coalesce(sum(new_mrr), 0), \
             coalesce(sum(churned_mrr), 0), coalesce(sum(new_customers), 0) FROM metrics_daily",
        )
        .await;
        let totals = &got["totals"];
        let answered: Vec<String> = [
            "cash_collected",
            "refunds",
            "booked_calls",
            "new_mrr",
            "churned_mrr",
            "new_customers",
        ]
        .iter()
        .map(|m| totals[m].to_string())
        .collect();
        assert_eq!(
            vec![answered],
            sums,
            "{}: /v1/metrics totals vs metrics_daily",
            t.id
        );
    }
    misses
}

/// Every file under the tables, with its size.
fn files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), meta.len());
            }
        }
    }
    out
}

/// Kills the node, restarts it, and returns (restart-to-healthy,
/// restart-to-first-metrics-answer).
async fn kill_and_restart_query(
    node: &mut Role,
    availability: &Availability,
    rng: &mut Rng,
    http: &reqwest::Client,
    key: &str,
) -> (Duration, Duration) {
    availability.set_down(true);
    node.kill();
    tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
    let started = Instant::now();
    let healthy = node.start_healthy(http).await;
    let answering = loop {
        if metrics(http, &node.base, key).await.is_ok() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < RESTART_LIMIT,
            "{} does not answer /v1/metrics within {RESTART_LIMIT:?} of its restart",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    availability.set_down(false);
    (healthy, answering)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sigkill_under_dashboard_load_restarts_clean_and_answers_exactly() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let http = reqwest::Client::new();
    let events = stream(71, TENANTS, QUERY_PER_TENANT);
    let tenant_ids = tenants_of(&events);
    let topic = unique_topic("crash-query");
    let tables = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let env = env_of(&broker, &topic, &db, tables.path());

    // Tenants and viewer keys straight in the registry; the topic before
    // the pipeline joins.
    let registry = revstream_registry::Registry::open(
        &db.url,
        revstream_registry::MasterKey::parse(MASTER_KEY).unwrap(),
    )
    .await
    .unwrap();
    let mut tenants = Vec::new();
    for id in &tenant_ids {
        registry
            .create_tenant(revstream_registry::NewTenant {
                id: id.clone(),
                name: None,
                timezone: None,
                churn_recognition: None,
            })
            .await
            .unwrap();
        let viewer = registry
            .create_key(id, revstream_registry::Role::Viewer)
            .await
            .unwrap()
            .key;
        tenants.push(TenantKeys {
            id: id.clone(),
            ingest: String::new(),
            viewer,
        });
    }
    let tenants = Arc::new(tenants);
    let mut config = KafkaConfig::new(broker.bootstrap.clone());
    config.topic = topic.clone();
    config.partitions = 4;
    let log = KafkaLog::connect(config).await.unwrap();

    let group = unique_topic("crash-query-group");
    let mut pipeline = Role::new(
        &["pipeline"],
        free_port(),
        dirs[0].path(),
        &with_group(&env, &group),
    );
    pipeline.start();
    let mut node = Role::new(&["query"], free_port(), dirs[1].path(), &env);
    let mut control = Role::new(&["query"], free_port(), dirs[2].path(), &env);
    node.start_healthy(&http).await;
    control.start_healthy(&http).await;

    let availability = Arc::new(Availability::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(ReadStats::default()));
    let readers: Vec<_> = (0..READERS)
        .map(|n| {
            tokio::spawn(reader(
                n,
                node.base.clone(),
                tenants.clone(),
                availability.clone(),
                stop.clone(),
                stats.clone(),
            ))
        })
        .collect();

    // Phases: append a slice of the stream, kill the node while the
    // pipeline commits it, restart, let the pipeline finish, check.
    const KILLS: usize = 5;
    let records = records(&events);
    let slice = records.len().div_ceil(KILLS);
    let mut rng = Rng::new(72);
    let mut restarts = Vec::new();
    let mut committed = BTreeSet::new();
    // Answers that differed at first and converged within CONVERGE_LIMIT.
    let mut misses = 0;
    for (phase, chunk) in records.chunks(slice).enumerate() {
        log.append(chunk.to_vec()).await.unwrap();
        committed.extend(distinct_keys(
            &events[phase * slice..phase * slice + chunk.len()],
        ));
        tokio::time::sleep(Duration::from_millis(100 + rng.below(1_400))).await;
        let committed_then = support::tables::count(&root(tables.path()), TableName::Events).await;
        let (healthy, answering) = kill_and_restart_query(
            &mut node,
            &availability,
            &mut rng,
            &http,
            &tenants[0].viewer,
        )
        .await;
        eprintln!(
            "kill {phase}: query SIGKILLed with {committed_then} of {} events committed; \
             healthy {healthy:?}, answering {answering:?} after restart",
            committed.len()
        );
        restarts.push((healthy, answering));
        let waited = Instant::now();
        wait_committed(tables.path(), &committed, &format!("phase {phase}")).await;
        let checked = Instant::now();
        misses += assert_answers_match_tables(
            &http,
            &node.base,
            &control.base,
            tables.path(),
            &tenants,
            &committed,
        )
        .await;
        eprintln!(
            "phase {phase}: committed {:?} after the restart, answers checked in {:?}",
            checked - waited,
            checked.elapsed()
        );
    }
    assert_eq!(committed, distinct_keys(&events));

    // A query node writes nothing: with the pipeline stopped, a kill and
    // restart under load leaves every table file as it was.
    pipeline.stop();
    let before = files(tables.path());
    let (healthy, answering) = kill_and_restart_query(
        &mut node,
        &availability,
        &mut rng,
        &http,
        &tenants[0].viewer,
    )
    .await;
    restarts.push((healthy, answering));
    misses += assert_answers_match_tables(
        &http,
        &node.base,
        &control.base,
        tables.path(),
        &tenants,
        &committed,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        files(tables.path()),
        before,
        "a query node changed the table files"
    );

    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    let stats = stats.lock().unwrap();
    eprintln!(
        "query readers: {} answers 200, {} connection errors while down, {} unexpected; \
         {misses} checks differed at first and converged; \
         restart-to-healthy / -answering: {restarts:?}",
        stats.ok,
        stats.down_errors,
        stats.unexpected.len()
    );
    assert!(
        stats.unexpected.is_empty(),
        "dashboard requests that failed other than by the node being down: {:?}",
        &stats.unexpected[..stats.unexpected.len().min(10)]
    );
    assert!(
        stats.ok > 100,
        "the readers hardly ran: {} answers",
        stats.ok
    );
    assert!(stats.down_errors > 0, "no reader ever hit a killed node");
    node.stop();
    control.stop();
}

// ---------------------------------------------------------------------------
// 3. serve
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sigkill_under_load_loses_nothing_and_counts_nothing_twice() {
    let http = reqwest::Client::new();
    let events = stream(51, TENANTS, PER_TENANT);
    let expected = distinct_keys(&events);
    let tenant_ids = tenants_of(&events);
    let data = tempfile::tempdir().unwrap();
    let ref_data = tempfile::tempdir().unwrap();

    let mut serve = [Role::new(&["serve"], free_port(), data.path(), &[])];
    serve[0].start_healthy(&http).await;
    let tenants = Arc::new(create_tenants(&http, &serve[0].base, &tenant_ids).await);

    // The reference: a serve of its own, fed the same events without kills
    // (one batch per tenant), working while the crashed one is loaded.
    let mut reference = Role::new(&["serve"], free_port(), ref_data.path(), &[]);
    reference.start_healthy(&http).await;
    let ref_tenants = create_tenants(&http, &reference.base, &tenant_ids).await;
    for t in &ref_tenants {
        let body: Vec<String> = events
            .iter()
            .filter(|(id, _)| id == &t.id)
            .map(|(_, e)| String::from_utf8(e.to_json()).unwrap())
            .collect();
        let r = http
            .post(format!("{}/v1/events", reference.base))
            .bearer_auth(&t.ingest)
            .header("content-type", "application/json")
            .body(format!("[{}]", body.join(",")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    let load = Load::new(deliveries(&events, &tenant_ids, 52));
    let started = Instant::now();
    let senders = spawn_senders(&load, vec![serve[0].base.clone()], &tenants);
    let mut rng = Rng::new(53);
    let log_dir = data.path().join("log");
    let restarts = kill_during_load(&load, &mut serve, &mut rng, 5, &http, Some(&log_dir)).await;
    finish_load(&load, senders, started).await;
    eprintln!("serve restart-to-healthy: {restarts:?}");

    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked, expected, "every delivery ended acknowledged");
    let crashed_tables = data.path().join("tables");
    let ref_tables = ref_data.path().join("tables");
    wait_committed(&crashed_tables, &acked, "after serve crashes").await;
    wait_committed(&ref_tables, &expected, "reference").await;
    assert_same_tables(&ref_tables, &crashed_tables).await;
    for (t, r) in tenants.iter().zip(&ref_tenants) {
        let n = per_tenant(&expected, &t.id);
        wait_visible(&http, &serve[0].base, &t.viewer, n).await;
        wait_visible(&http, &reference.base, &r.viewer, n).await;
    }
    assert_same_answers(
        &http,
        (&reference.base, &ref_tenants[..]),
        (&serve[0].base, &tenants[..]),
    )
    .await;

    // And once more after a clean restart: the recovered log replays into
    // nothing new.
    serve[0].stop();
    serve[0].start_healthy(&http).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_committed(&crashed_tables, &acked, "after a clean restart").await;
    serve[0].stop();
    reference.stop();
}
