//! The pipeline on real parts: the embedded local log (files), Delta tables
//! in a temp dir, reading back through DataFusion. Checks that commits carry
//! offsets, restarts resume without double counting, and a late event
//! restates what it touches.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::array::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope};
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{MaintenancePolicy, Pipeline, PipelineConfig, TableStore, table_root};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};
use serde_json::{Value, json};

fn event(v: Value) -> CanonicalEvent {
    CanonicalEvent::from_json(v.to_string().as_bytes()).unwrap()
}

fn subscription(id: &str, at: &str, customer: &str, amount: i64, status: &str) -> CanonicalEvent {
    event(
        json!({"id": id, "type": "subscription.updated", "occurred_at": at, "source": "stripe",
        "customer": {"id": customer},
        "subscription": {"id": format!("sub_{customer}"), "status": status, "currency": "usd",
            "items": [{"unit_amount": amount, "quantity": 1, "interval": "month"}]}}),
    )
}

fn payment(id: &str, at: &str, amount: i64) -> CanonicalEvent {
    event(
        json!({"id": id, "type": "payment.succeeded", "occurred_at": at, "source": "stripe",
        "payment": {"id": format!("ch_{id}"), "amount": amount, "currency": "usd", "paid_at": at}}),
    )
}

async fn append(log: &LocalLog, tenant: &str, events: Vec<CanonicalEvent>) {
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

struct Dirs {
    log: tempfile::TempDir,
    tables: tempfile::TempDir,
}

async fn pipeline(log: Arc<LocalLog>, tables: &Path) -> Pipeline<LocalSource> {
    pipeline_with(log, tables, PipelineConfig::default())
        .await
        .0
}

async fn pipeline_with(
    log: Arc<LocalLog>,
    tables: &Path,
    config: PipelineConfig,
) -> (Pipeline<LocalSource>, Arc<TableStore>) {
    let root = table_root(tables.to_str().unwrap()).unwrap();
    let store = Arc::new(TableStore::open(&root, "local").await.unwrap());
    let pipeline = Pipeline::new(
        LocalSource::new(log).unwrap(),
        store.clone(),
        Arc::new(FixedSettings::default()),
        config,
    );
    (pipeline, store)
}

/// Cycles until a cycle reads nothing.
async fn drain(p: &mut Pipeline<LocalSource>) -> usize {
    let stop = AtomicBool::new(false);
    let mut events = 0;
    loop {
        let report = p.cycle(&stop).await.unwrap();
        events += report.new_events;
        if report.records == 0 && !report.committed && !report.assigned {
            return events;
        }
    }
}

/// Appends `events` of `tenant`, cycles until the log is drained, then
/// waits for the housekeeping those cycles started (it runs beside them).
async fn settle(
    log: &LocalLog,
    p: &mut Pipeline<LocalSource>,
    tenant: &str,
    events: Vec<CanonicalEvent>,
) {
    append(log, tenant, events).await;
    drain(p).await;
    p.finish_maintenance().await;
}

async fn query(tables: &Path, sql: &str) -> Vec<Value> {
    let root = table_root(tables.to_str().unwrap()).unwrap();
    let ctx = SessionContext::new();
    for table in TableName::ALL {
        let url = root.join(&format!("{}/", table.as_str())).unwrap();
        let t = deltalake::DeltaTable::try_from_url(url).await.unwrap();
        t.update_datafusion_session(&ctx.state()).unwrap();
        ctx.register_table(table.as_str(), t.table_provider().await.unwrap())
            .unwrap();
    }
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).unwrap()
}

fn dirs() -> Dirs {
    Dirs {
        log: tempfile::tempdir().unwrap(),
        tables: tempfile::tempdir().unwrap(),
    }
}

#[tokio::test]
async fn events_become_tables_and_restarts_resume_exactly() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 2, LocalLogOptions::default()).unwrap();
    append(
        &log,
        "acme",
        vec![
            subscription("e1", "2026-01-05T10:00:00Z", "c1", 4900, "active"),
            subscription("e2", "2026-01-06T10:00:00Z", "c2", 9900, "active"),
            payment("p1", "2026-01-05T11:00:00Z", 4900),
        ],
    )
    .await;
    append(
        &log,
        "beta",
        vec![subscription(
            "e1",
            "2026-01-05T10:00:00Z",
            "c1",
            1000,
            "active",
        )],
    )
    .await;

    let mut p = pipeline(log.clone(), d.tables.path()).await;
    assert_eq!(drain(&mut p).await, 4);

    let mrr = query(
        d.tables.path(),
        "SELECT tenant_id, SUM(amount) AS mrr FROM mrr_movements GROUP BY tenant_id ORDER BY tenant_id",
    )
    .await;
    assert_eq!(
        mrr,
        [
            json!({"tenant_id": "acme", "mrr": 14800}),
            json!({"tenant_id": "beta", "mrr": 1000})
        ]
    );
    let cash = query(
        d.tables.path(),
        "SELECT SUM(cash_collected) AS cash FROM metrics_daily WHERE tenant_id = 'acme'",
    )
    .await;
    assert_eq!(cash, [json!({"cash": 4900})]);
    let events = query(d.tables.path(), "SELECT COUNT(*) AS n FROM events").await;
    assert_eq!(events, [json!({"n": 4})]);
    drop(p);

    // A provider retry of e1 and a late event that changes history: c2 had
    // in fact churned on Jan 7 (occurred before anything else we append now).
    append(
        &log,
        "acme",
        vec![
            subscription("e1", "2026-01-05T10:00:00Z", "c1", 4900, "active"),
            subscription("e3", "2026-01-07T10:00:00Z", "c2", 9900, "canceled"),
        ],
    )
    .await;
    let mut p = pipeline(log.clone(), d.tables.path()).await;
    assert_eq!(drain(&mut p).await, 1, "the retry of e1 is not a new event");

    let movements = query(
        d.tables.path(),
        "SELECT customer_id, movement, amount FROM mrr_movements WHERE tenant_id = 'acme' ORDER BY occurred_at",
    )
    .await;
    assert_eq!(
        movements,
        [
            json!({"customer_id": "c1", "movement": "new", "amount": 4900}),
            json!({"customer_id": "c2", "movement": "new", "amount": 9900}),
            json!({"customer_id": "c2", "movement": "churn", "amount": -9900}),
        ]
    );
    let events = query(
        d.tables.path(),
        "SELECT COUNT(*) AS n FROM events WHERE tenant_id = 'acme'",
    )
    .await;
    assert_eq!(events, [json!({"n": 4})], "no duplicate rows in events");
    let beta = query(
        d.tables.path(),
        "SELECT SUM(amount) AS mrr FROM mrr_movements WHERE tenant_id = 'beta'",
    )
    .await;
    assert_eq!(beta, [json!({"mrr": 1000})], "other tenants untouched");

    // Restart with nothing new: nothing changes, nothing is re-counted.
    drop(p);
    let mut p = pipeline(log.clone(), d.tables.path()).await;
    assert_eq!(drain(&mut p).await, 0);
    let events = query(d.tables.path(), "SELECT COUNT(*) AS n FROM events").await;
    assert_eq!(events, [json!({"n": 5})]);
}

#[tokio::test]
async fn raw_payloads_are_kept_in_the_events_table() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let mut e = payment("p1", "2026-01-05T11:00:00Z", 4900);
    e.raw = Some(json!({"id": "evt_raw", "object": "event"}));
    append(&log, "acme", vec![e]).await;
    let mut p = pipeline(log.clone(), d.tables.path()).await;
    drain(&mut p).await;
    let rows = query(
        d.tables.path(),
        "SELECT raw, amount, currency, object_id FROM events",
    )
    .await;
    assert_eq!(rows.len(), 1);
    let raw: Value = serde_json::from_str(rows[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["id"], "evt_raw");
    assert_eq!(rows[0]["amount"], 4900);
    assert_eq!(rows[0]["object_id"], "ch_p1");
}

/// Parquet files on disk under one tenant's partition of a table.
fn parquet_files(tables: &Path, table: &str, tenant: &str) -> usize {
    let dir = tables.join(table).join(format!("tenant_id={tenant}"));
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn compaction_bounds_files_per_partition_and_changes_no_rows() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let max_files = 4;
    let config = PipelineConfig {
        // One small cycle per append, so `events` gets a file per cycle.
        max_batch: 5,
        max_wait: std::time::Duration::from_millis(5),
        maintenance: MaintenancePolicy {
            max_files_per_partition: max_files,
            compact_every: std::time::Duration::ZERO,
            vacuum_retention: std::time::Duration::ZERO,
            vacuum_every: std::time::Duration::ZERO,
            ..MaintenancePolicy::default()
        },
        ..PipelineConfig::default()
    };
    let (mut p, store) = pipeline_with(log.clone(), d.tables.path(), config.clone()).await;
    let mut most_files = 0;
    for round in 0..30 {
        let day = 1 + round % 28;
        append(
            &log,
            "acme",
            (0..5)
                .map(|i| {
                    payment(
                        &format!("p{round}_{i}"),
                        &format!("2026-03-{day:02}T10:00:00Z"),
                        100,
                    )
                })
                .collect(),
        )
        .await;
        // Compaction runs beside the cycles; the bound holds once it lands.
        settle(
            &log,
            &mut p,
            "quiet",
            vec![payment(&format!("q{round}"), "2026-03-01T10:00:00Z", 7)],
        )
        .await;
        let files = store.files_per_tenant(TableName::Events).await.unwrap();
        most_files = most_files.max(files["acme"]).max(files["quiet"]);
    }
    // Without compaction `acme` would hold one file per cycle (30+). A
    // round has two cycles (acme's five events, then quiet's one) and the
    // second may append while the compaction the first started is running:
    // a partition holds at most one file more than the bound.
    assert!(
        most_files <= max_files + 1,
        "a partition reached {most_files} files"
    );
    // Vacuum (retention zero here) leaves only live files on disk. The
    // pipeline skips it while a compaction is in flight, so the last round's
    // replaced files may still be there: one more pass, as the next cycle
    // would run.
    assert!(store.vacuum(&config.maintenance).await.is_ok());
    let live = store.files_per_tenant(TableName::Events).await.unwrap();
    assert_eq!(
        parquet_files(d.tables.path(), "events", "acme"),
        live["acme"]
    );
    assert_eq!(
        parquet_files(d.tables.path(), "metrics_daily", "acme"),
        store
            .files_per_tenant(TableName::MetricsDaily)
            .await
            .unwrap()["acme"]
    );

    // Nothing lost, nothing doubled, offsets intact: a restart reads nothing new.
    let totals = "SELECT tenant_id, count(*) AS n, sum(amount) AS s FROM payments GROUP BY tenant_id ORDER BY tenant_id";
    let expected = vec![
        json!({"tenant_id": "acme", "n": 150, "s": 15000}),
        json!({"tenant_id": "quiet", "n": 30, "s": 210}),
    ];
    assert_eq!(query(d.tables.path(), totals).await, expected);
    let events = "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events";
    assert_eq!(
        query(d.tables.path(), events).await,
        vec![json!({"n": 180, "d": 180})]
    );
    drop(p);
    let (mut again, _) = pipeline_with(log, d.tables.path(), config).await;
    assert_eq!(drain(&mut again).await, 0);
    assert_eq!(query(d.tables.path(), totals).await, expected);
}

/// Compaction runs beside the cycles: cycles commit while it rewrites,
/// neither the optimize commit nor the appends conflict, and every event is
/// in the tables once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_commit_while_a_compaction_runs_and_nothing_conflicts() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let tenants = ["acme", "beta", "gamma"];
    let config = PipelineConfig {
        // One round of appends is one cycle, derived at once.
        max_batch: 5 * tenants.len(),
        max_wait: Duration::from_millis(5),
        backlog_derive_interval: Duration::ZERO,
        maintenance: MaintenancePolicy {
            max_files_per_partition: 2,
            compact_every: Duration::ZERO,
            // Vacuum once at the start only: this test is about compaction.
            vacuum_every: Duration::from_secs(3600),
            ..MaintenancePolicy::default()
        },
        ..PipelineConfig::default()
    };
    let (mut p, _) = pipeline_with(log.clone(), d.tables.path(), config.clone()).await;
    let stop = AtomicBool::new(false);
    let rounds = 40;
    let mut committed_beside_a_compaction = 0;
    for round in 0..rounds {
        for t in tenants {
            let payments = (0..5)
                .map(|i| payment(&format!("{t}{round}_{i}"), "2026-03-02T10:00:00Z", 100))
                .collect();
            append(&log, t, payments).await;
        }
        let compacting = p.maintaining();
        if p.cycle(&stop).await.unwrap().committed && compacting {
            committed_beside_a_compaction += 1;
        }
    }
    drain(&mut p).await;
    p.finish_maintenance().await;

    let stats = p.stats();
    assert!(stats.compactions.load(Ordering::Relaxed) > 0);
    assert!(
        committed_beside_a_compaction > 0,
        "no cycle committed while a compaction was running"
    );
    assert_eq!(stats.compaction_failures.load(Ordering::Relaxed), 0);
    assert_eq!(stats.commit_failures.load(Ordering::Relaxed), 0);

    let events = "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events";
    let n = rounds * 5 * tenants.len();
    assert_eq!(
        query(d.tables.path(), events).await,
        vec![json!({"n": n, "d": n})]
    );
    let totals = "SELECT tenant_id, count(*) AS n, sum(amount) AS s FROM payments GROUP BY tenant_id ORDER BY tenant_id";
    let expected: Vec<Value> = tenants
        .iter()
        .map(|t| json!({"tenant_id": t, "n": rounds * 5, "s": rounds * 500}))
        .collect();
    assert_eq!(query(d.tables.path(), totals).await, expected);
    // The offsets stayed where the appends put them: a restart reads nothing.
    drop(p);
    let (mut again, _) = pipeline_with(log, d.tables.path(), config).await;
    assert_eq!(drain(&mut again).await, 0);
}

/// Checkpoint files in a table's `_delta_log`.
fn checkpoints(tables: &Path, table: &str) -> usize {
    std::fs::read_dir(tables.join(table).join("_delta_log"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".checkpoint."))
        .count()
}

/// Commits do not write checkpoints (Delta's post-commit hook would, at
/// version 99, in the middle of a cycle); the maintenance task does, beside
/// the cycles, once a table's log grew by the policy's interval. A restart
/// reads the checkpointed tables back exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_written_beside_the_cycles_not_by_the_commits() {
    use std::time::Duration;

    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let config = |checkpoint_every| PipelineConfig {
        max_batch: 10,
        max_wait: Duration::from_millis(5),
        backlog_derive_interval: Duration::ZERO,
        maintenance: MaintenancePolicy {
            compact_every: Duration::ZERO,
            checkpoint_every,
            ..MaintenancePolicy::default()
        },
        ..PipelineConfig::default()
    };
    let mut cycles = 0;
    let (mut p, store) = pipeline_with(log.clone(), d.tables.path(), config(u64::MAX)).await;
    // Past version 99 of `events`, where the post-commit hook checkpoints.
    while store.version(TableName::Events).await.unwrap() < 105 {
        let day = 1 + cycles % 28;
        let payment = payment(
            &format!("p{cycles}"),
            &format!("2026-03-{day:02}T10:00:00Z"),
            100,
        );
        append(&log, "acme", vec![payment]).await;
        assert_eq!(drain(&mut p).await, 1);
        cycles += 1;
    }
    p.finish_maintenance().await;
    for table in TableName::ALL {
        assert_eq!(checkpoints(d.tables.path(), table.as_str()), 0, "{table}");
    }

    // The same tables with an interval the logs have passed: one maintenance
    // pass checkpoints every table that has at least that many versions.
    drop(p);
    let (mut p, store) = pipeline_with(log.clone(), d.tables.path(), config(50)).await;
    settle(
        &log,
        &mut p,
        "acme",
        vec![payment("late", "2026-03-03T10:00:00Z", 1)],
    )
    .await;
    for table in TableName::ALL {
        let version = store.version(table).await.unwrap();
        if version >= 50 {
            assert_eq!(checkpoints(d.tables.path(), table.as_str()), 1, "{table}");
            assert!(store.checkpointed_at(table).is_some(), "{table}");
        }
    }
    assert_eq!(checkpoints(d.tables.path(), "events"), 1);

    // Opening from the checkpoints gives every row, and the offsets.
    drop(p);
    let (mut again, _) = pipeline_with(log, d.tables.path(), config(50)).await;
    assert_eq!(drain(&mut again).await, 0);
    let totals = "SELECT count(*) AS n, sum(amount) AS s FROM payments";
    assert_eq!(
        query(d.tables.path(), totals).await,
        vec![json!({"n": cycles + 1, "s": cycles * 100 + 1})]
    );
}

/// Replaced files are vacuumed by the housekeeping task beside the cycles;
/// files no commit references (a crashed write's, or one in flight) are
/// left alone there and swept only by the vacuum a pipeline runs at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_beside_the_cycles_deletes_only_what_the_log_removed() {
    use std::time::Duration;

    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let config = PipelineConfig {
        max_wait: Duration::from_millis(5),
        maintenance: MaintenancePolicy {
            compact_every: Duration::ZERO,
            vacuum_every: Duration::ZERO,
            vacuum_retention: Duration::ZERO,
            ..MaintenancePolicy::default()
        },
        ..PipelineConfig::default()
    };
    let (mut p, store) = pipeline_with(log.clone(), d.tables.path(), config.clone()).await;
    for round in 0..5 {
        let at = format!("2026-03-{:02}T10:00:00Z", round + 1);
        settle(
            &log,
            &mut p,
            "acme",
            vec![payment(&format!("p{round}"), &at, 100)],
        )
        .await;
    }
    // A file no commit references, as a crashed (or unfinished) write leaves.
    let partition = d.tables.path().join("metrics_daily/tenant_id=acme");
    let orphan = partition.join("part-00000-orphan.parquet");
    std::fs::write(&orphan, b"not committed").unwrap();

    // Another tenant's cycle: acme's partitions are not rewritten, and the
    // task after it vacuums what acme's earlier cycles replaced.
    settle(
        &log,
        &mut p,
        "other",
        vec![payment("o1", "2026-03-01T10:00:00Z", 7)],
    )
    .await;
    let live = store
        .files_per_tenant(TableName::MetricsDaily)
        .await
        .unwrap()["acme"];
    assert_eq!(live, 1);
    assert_eq!(
        parquet_files(d.tables.path(), "metrics_daily", "acme"),
        live + 1,
        "the replaced files are gone, the unreferenced one is kept"
    );
    assert!(orphan.exists());

    // The vacuum at start sweeps it.
    drop(p);
    let (mut again, _) = pipeline_with(log.clone(), d.tables.path(), config).await;
    settle(
        &log,
        &mut again,
        "other",
        vec![payment("o2", "2026-03-02T10:00:00Z", 7)],
    )
    .await;
    assert!(!orphan.exists());
    assert_eq!(parquet_files(d.tables.path(), "metrics_daily", "acme"), 1);
}

/// A stale writer (a pipeline that lost its partition to another and did
/// not notice yet) must not write the partition: its `events` commit is
/// refused because another writer moved the offsets, it reloads from the
/// tables, and the end result has every event once.
#[tokio::test]
async fn a_stale_writer_is_fenced_off_and_reloads_from_the_tables() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let batch = |from: usize| -> Vec<CanonicalEvent> {
        (from..from + 5)
            .map(|i| payment(&format!("p{i}"), "2026-03-02T10:00:00Z", 100))
            .collect()
    };
    let mut stale = pipeline(log.clone(), d.tables.path()).await;
    append(&log, "acme", batch(0)).await;
    assert_eq!(drain(&mut stale).await, 5);

    // Another pipeline takes the partition over and commits more.
    let mut owner = pipeline(log.clone(), d.tables.path()).await;
    append(&log, "acme", batch(5)).await;
    assert_eq!(drain(&mut owner).await, 5);

    // The stale one wakes up with records it never saw and one the owner
    // has not read yet: it must not append the owner's events again.
    append(&log, "acme", batch(10)).await;
    drain(&mut stale).await;

    let events = "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events";
    assert_eq!(
        query(d.tables.path(), events).await,
        vec![json!({"n": 15, "d": 15})]
    );
    let cash = "SELECT count(*) AS n, sum(amount) AS s FROM payments";
    assert_eq!(
        query(d.tables.path(), cash).await,
        vec![json!({"n": 15, "s": 1500})]
    );
    // And the owner, when it reads on, finds nothing left to add.
    assert_eq!(drain(&mut owner).await, 0);
    assert_eq!(
        query(d.tables.path(), events).await,
        vec![json!({"n": 15, "d": 15})]
    );
}

/// A writer that lost its partition while tenants waited to be derived (a
/// backlog left them) derives them reading nothing: no offset of the cycle
/// fences it, yet the owner has committed events it never read. It must not
/// leave its older rows over the owner's: the partition's own position
/// fences the commit, and it reloads and derives again from the tables.
#[tokio::test]
async fn a_stale_writer_deriving_without_reading_is_fenced_off_too() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let payments = |from: i64, to: i64| -> Vec<CanonicalEvent> {
        (from..to)
            .map(|n| payment(&format!("p{n}"), "2026-01-05T11:00:00Z", 100 + n))
            .collect()
    };
    let tables = d.tables.path();
    let counts = || async {
        query(
            tables,
            "SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM payments) AS payments, \
             (SELECT COALESCE(SUM(amount), 0) FROM payments) AS paid",
        )
        .await[0]
            .clone()
    };
    append(&log, "acme", payments(0, 20)).await;
    let config = PipelineConfig {
        max_batch: 10,
        backlog_derive_interval: std::time::Duration::from_secs(3600),
        ..PipelineConfig::default()
    };
    let (mut stale, _) = pipeline_with(log.clone(), tables, config).await;
    for _ in 0..2 {
        let report = reading_cycle(&mut stale).await;
        assert!(report.committed && !report.derived, "{report:?}");
    }

    // Another pipeline takes the partition over, reads on and derives.
    append(&log, "acme", payments(20, 25)).await;
    let mut owner = pipeline(log.clone(), tables).await;
    drain(&mut owner).await;
    let all: i64 = (0..25).map(|n| 100 + n).sum();
    let complete = json!({"events": 25, "payments": 25, "paid": all});
    assert_eq!(counts().await, complete);

    // The stale writer derives the 20 payments it was left with: its
    // commit is refused (rows it wrote before the refusal are rewritten
    // below) and it reloads the partition.
    let stop = AtomicBool::new(false);
    let report = stale.derive_dirty(&stop).await.unwrap();
    assert!(
        report.assigned && !report.committed,
        "the stale writer committed: {report:?}"
    );
    // Reloaded from the tables, it now derives what the owner did.
    let report = stale.derive_dirty(&stop).await.unwrap();
    assert!(report.committed, "{report:?}");
    assert_eq!(counts().await, complete);
}

/// Settings that cannot be had until `up` is set, like a registry that is
/// down; then a tenant in Tokyo.
struct FlakySettings {
    up: AtomicBool,
    asked: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl revstream_pipeline::settings::SettingsSource for FlakySettings {
    async fn settings(
        &self,
        _: &TenantId,
    ) -> Result<
        revstream_pipeline::derive::TenantSettings,
        revstream_pipeline::settings::SettingsUnavailable,
    > {
        use std::sync::atomic::Ordering;
        self.asked.fetch_add(1, Ordering::SeqCst);
        if !self.up.load(Ordering::SeqCst) {
            return Err(revstream_pipeline::settings::SettingsUnavailable(
                "registry down".into(),
            ));
        }
        Ok(revstream_pipeline::derive::TenantSettings {
            timezone: chrono_tz::Asia::Tokyo,
            ..Default::default()
        })
    }
}

/// With the registry down the pipeline must not derive with guessed
/// settings (UTC): rows would land on the wrong day and stay there until the
/// tenant's next event. It pauses, commits nothing, and when the settings
/// come back commits the days in the tenant's timezone.
#[tokio::test]
async fn unavailable_tenant_settings_pause_the_pipeline_instead_of_guessing() {
    use std::sync::atomic::Ordering;
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    // 16:30 UTC on the 5th is 01:30 on the 6th in Tokyo.
    append(
        &log,
        "acme",
        vec![payment("p1", "2026-01-05T16:30:00Z", 5000)],
    )
    .await;

    let root = table_root(d.tables.path().to_str().unwrap()).unwrap();
    let store = Arc::new(TableStore::open(&root, "local").await.unwrap());
    let settings = Arc::new(FlakySettings {
        up: AtomicBool::new(false),
        asked: Default::default(),
    });
    let mut pipeline = Pipeline::new(
        LocalSource::new(log).unwrap(),
        store,
        settings.clone(),
        PipelineConfig {
            max_backoff: std::time::Duration::from_millis(50),
            ..PipelineConfig::default()
        },
    );
    let cycles = tokio::spawn(async move {
        let n = drain(&mut pipeline).await;
        (pipeline, n)
    });
    // Down for a while: asked again and again, nothing committed.
    while settings.asked.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !cycles.is_finished(),
        "the pipeline went on without settings"
    );
    assert!(
        !d.tables.path().join("events").join("_delta_log").exists()
            || query(d.tables.path(), "SELECT COUNT(*) AS n FROM events").await[0]["n"] == 0,
        "events were committed while the tenant's settings were unknown"
    );

    settings.up.store(true, Ordering::SeqCst);
    let (_pipeline, events) = cycles.await.unwrap();
    assert_eq!(events, 1);
    let days = query(
        d.tables.path(),
        "SELECT CAST(day AS VARCHAR) AS day, cash_collected FROM metrics_daily WHERE cash_collected > 0",
    )
    .await;
    assert_eq!(
        days,
        vec![json!({"day": "2026-01-06", "cash_collected": 5000})]
    );
}

/// Cycles until one reads records (the first only takes the partitions
/// over), returning its report.
async fn reading_cycle(p: &mut Pipeline<LocalSource>) -> revstream_pipeline::CycleReport {
    let stop = AtomicBool::new(false);
    loop {
        let report = p.cycle(&stop).await.unwrap();
        if report.records > 0 {
            return report;
        }
        assert!(report.assigned, "a cycle read nothing: {report:?}");
    }
}

/// A backlog (cycles that read a full batch) commits events and offsets on
/// every cycle but leaves the derivation for later; a stop, or the first
/// cycle that reads less than a full batch, derives what was left, so the
/// metric tables end as if every cycle had derived.
#[tokio::test]
async fn a_backlog_leaves_derivation_for_later_and_catching_up_or_stopping_completes_it() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let payments = (0..25)
        .map(|n| payment(&format!("p{n}"), "2026-01-05T11:00:00Z", 100 + n))
        .collect();
    append(&log, "acme", payments).await;
    let config = PipelineConfig {
        max_batch: 10,
        backlog_derive_interval: std::time::Duration::from_secs(3600),
        ..PipelineConfig::default()
    };
    let tables = d.tables.path();
    let counts = || async {
        let rows = query(
            tables,
            "SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM payments) AS payments, \
             (SELECT COALESCE(SUM(amount), 0) FROM payments) AS paid",
        )
        .await;
        rows[0].clone()
    };

    let (mut p, _) = pipeline_with(log.clone(), tables, config.clone()).await;
    for events in [10, 20] {
        let report = reading_cycle(&mut p).await;
        assert!(report.committed, "a backlog cycle commits its events");
        assert!(
            !report.derived,
            "a backlog cycle derived within the interval"
        );
        assert_eq!(
            counts().await,
            json!({"events": events, "payments": 0, "paid": 0})
        );
    }

    // Stopping derives what the backlog left: the first 20 payments.
    p.run(Arc::new(AtomicBool::new(true))).await.unwrap();
    let first_20: i64 = (0..20).map(|n| 100 + n).sum();
    assert_eq!(
        counts().await,
        json!({"events": 20, "payments": 20, "paid": first_20})
    );

    // A restart reads the last 5, less than a full batch: derived at once.
    let (mut p, _) = pipeline_with(log, tables, config).await;
    let report = reading_cycle(&mut p).await;
    assert_eq!(report.new_events, 5);
    assert!(report.derived, "a short batch must derive");
    let all: i64 = (0..25).map(|n| 100 + n).sum();
    assert_eq!(
        counts().await,
        json!({"events": 25, "payments": 25, "paid": all})
    );
}

/// A zero interval derives on every cycle, backlog or not.
#[tokio::test]
async fn a_zero_backlog_interval_derives_every_cycle() {
    let d = dirs();
    let log = LocalLog::open(d.log.path(), 1, LocalLogOptions::default()).unwrap();
    let payments = (0..20)
        .map(|n| payment(&format!("p{n}"), "2026-01-05T11:00:00Z", 100))
        .collect();
    append(&log, "acme", payments).await;
    let config = PipelineConfig {
        max_batch: 10,
        backlog_derive_interval: std::time::Duration::ZERO,
        ..PipelineConfig::default()
    };
    let (mut p, _) = pipeline_with(log, d.tables.path(), config).await;
    for paid in [1000, 2000] {
        let report = reading_cycle(&mut p).await;
        assert!(report.derived);
        let rows = query(d.tables.path(), "SELECT SUM(amount) AS paid FROM payments").await;
        assert_eq!(rows, [json!({"paid": paid})]);
    }
}
