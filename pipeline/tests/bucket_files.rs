//! Derived partitions as one file per month bucket, on real Delta tables:
//! a cycle replaces only the files of the buckets its events changed, a
//! restarted pipeline rewrites each tenant whole once, and a partition
//! holding a file of no bucket is rewritten whole instead of guessed at.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::protocol::SaveMode;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope};
use revstream_pipeline::batches::derived_batches;
use revstream_pipeline::buckets::Bucket;
use revstream_pipeline::derive::{TenantSettings, derive};
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};
use serde_json::json;

fn payment(id: &str, day: &str, amount: i64) -> CanonicalEvent {
    let at = format!("{day}T10:00:00Z");
    let v = json!({"id": id, "type": "payment.succeeded", "occurred_at": at, "source": "stripe",
        "payment": {"id": format!("ch_{id}"), "amount": amount, "currency": "usd", "paid_at": at}});
    CanonicalEvent::from_json(v.to_string().as_bytes()).unwrap()
}

struct Setup {
    _log_dir: tempfile::TempDir,
    tables: tempfile::TempDir,
    log: Arc<LocalLog>,
}

fn setup() -> Setup {
    let log_dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(log_dir.path(), 1, LocalLogOptions::default()).unwrap();
    Setup {
        _log_dir: log_dir,
        tables: tempfile::tempdir().unwrap(),
        log,
    }
}

async fn pipeline(s: &Setup) -> Pipeline<LocalSource> {
    let root = table_root(s.tables.path().to_str().unwrap()).unwrap();
    let store = Arc::new(TableStore::open(&root, "local").await.unwrap());
    Pipeline::new(
        LocalSource::new(s.log.clone()).unwrap(),
        store,
        Arc::new(FixedSettings::default()),
        PipelineConfig::default(),
    )
}

/// Appends acme's events and cycles until the log is drained.
async fn settle(s: &Setup, p: &mut Pipeline<LocalSource>, events: Vec<CanonicalEvent>) {
    let tenant = TenantId::parse("acme").unwrap();
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
    s.log.append(records).await.unwrap();
    let stop = AtomicBool::new(false);
    loop {
        let report = p.cycle(&stop).await.unwrap();
        if report.records == 0 && !report.committed && !report.assigned {
            return;
        }
    }
}

async fn table(tables: &Path, table: TableName) -> DeltaTable {
    let root = table_root(tables.to_str().unwrap()).unwrap();
    let url = root.join(&format!("{}/", table.as_str())).unwrap();
    DeltaTable::try_from_url(url).await.unwrap()
}

/// The live files of acme's `payments` partition: file name → bucket.
async fn payment_files(tables: &Path) -> BTreeMap<String, Option<Bucket>> {
    let delta = table(tables, TableName::Payments).await;
    let snapshot = delta.snapshot().unwrap();
    snapshot
        .log_data()
        .iter()
        .filter(|f| f.partition_values_map().get("tenant_id") == Some(&Some("acme".to_owned())))
        .map(|f| {
            let name = f.path().rsplit('/').next().unwrap().to_owned();
            let bucket = Bucket::of_file_name(&name);
            (name, bucket)
        })
        .collect()
}

/// The file of each bucket (panics on a file of no bucket).
fn by_bucket(files: &BTreeMap<String, Option<Bucket>>) -> BTreeMap<Bucket, String> {
    files
        .iter()
        .map(|(name, bucket)| {
            (
                bucket.unwrap_or_else(|| panic!("{name} has no bucket")),
                name.clone(),
            )
        })
        .collect()
}

/// (payments, their amounts) as acme's `payments` table holds them.
async fn payments(tables: &Path) -> (i64, i64) {
    let ctx = SessionContext::new();
    let delta = table(tables, TableName::Payments).await;
    delta.update_datafusion_session(&ctx.state()).unwrap();
    ctx.register_table("payments", delta.table_provider().await.unwrap())
        .unwrap();
    let batches: Vec<RecordBatch> = ctx
        .sql("SELECT count(*) AS n, sum(amount) AS total FROM payments WHERE tenant_id = 'acme'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let column = |i: usize| {
        batches[0]
            .column(i)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .value(0)
    };
    (column(0), column(1))
}

fn month(m: u32) -> Bucket {
    Bucket::of_day(chrono::NaiveDate::from_ymd_opt(2026, m, 1).unwrap())
}

fn three_months() -> Vec<CanonicalEvent> {
    vec![
        payment("jan", "2026-01-10", 100),
        payment("feb", "2026-02-10", 200),
        payment("mar", "2026-03-10", 300),
    ]
}

#[tokio::test]
async fn a_cycle_replaces_only_the_files_of_the_buckets_it_changed() {
    let s = setup();
    let mut p = pipeline(&s).await;
    settle(&s, &mut p, three_months()).await;
    let first = by_bucket(&payment_files(s.tables.path()).await);
    assert_eq!(
        first.keys().copied().collect::<Vec<_>>(),
        [month(1), month(2), month(3)]
    );
    assert_eq!(payments(s.tables.path()).await, (3, 600));

    // A March payment: only March's file is new.
    settle(&s, &mut p, vec![payment("mar2", "2026-03-20", 7)]).await;
    let second = by_bucket(&payment_files(s.tables.path()).await);
    assert_eq!(second[&month(1)], first[&month(1)]);
    assert_eq!(second[&month(2)], first[&month(2)]);
    assert_ne!(second[&month(3)], first[&month(3)]);
    assert_eq!(payments(s.tables.path()).await, (4, 607));

    // A late January payment and a new month: January's file is replaced,
    // April's appears, February's and March's stay.
    settle(
        &s,
        &mut p,
        vec![
            payment("jan2", "2026-01-02", 10),
            payment("apr", "2026-04-01", 1),
        ],
    )
    .await;
    let third = by_bucket(&payment_files(s.tables.path()).await);
    assert_eq!(third.len(), 4);
    assert_ne!(third[&month(1)], second[&month(1)]);
    assert_eq!(third[&month(2)], second[&month(2)]);
    assert_eq!(third[&month(3)], second[&month(3)]);
    assert!(third.contains_key(&month(4)));
    assert_eq!(payments(s.tables.path()).await, (6, 618));
}

#[tokio::test]
async fn a_restarted_pipeline_rewrites_each_tenant_whole_once() {
    let s = setup();
    let mut p = pipeline(&s).await;
    settle(&s, &mut p, three_months()).await;
    let before = by_bucket(&payment_files(s.tables.path()).await);
    drop(p);

    // After a restart nothing is known of what the partition holds: the
    // first derivation replaces every file, and no row is doubled.
    let mut p = pipeline(&s).await;
    settle(&s, &mut p, vec![payment("mar2", "2026-03-20", 7)]).await;
    let after = by_bucket(&payment_files(s.tables.path()).await);
    assert_eq!(after.len(), 3);
    for (bucket, name) in &after {
        assert_ne!(Some(name), before.get(bucket), "{bucket:?} kept its file");
    }
    assert_eq!(payments(s.tables.path()).await, (4, 607));

    // From then on, only what changes.
    settle(&s, &mut p, vec![payment("feb2", "2026-02-20", 3)]).await;
    let next = by_bucket(&payment_files(s.tables.path()).await);
    assert_eq!(next[&month(1)], after[&month(1)]);
    assert_ne!(next[&month(2)], after[&month(2)]);
    assert_eq!(next[&month(3)], after[&month(3)]);
    assert_eq!(payments(s.tables.path()).await, (5, 610));
}

#[tokio::test]
async fn a_file_of_no_bucket_makes_the_tenant_rewritten_whole() {
    let s = setup();
    let mut p = pipeline(&s).await;
    settle(&s, &mut p, three_months()).await;

    // Another writer appends a file as delta-rs names it (no bucket),
    // holding a payment no event of acme's has.
    let tenant = TenantId::parse("acme").unwrap();
    let stray = derive(
        &TenantSettings::default(),
        &[payment("stray", "2026-02-01", 5000)],
    );
    let batch = derived_batches(&tenant, &stray)
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == TableName::Payments)
        .unwrap()
        .1;
    table(s.tables.path(), TableName::Payments)
        .await
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(payments(s.tables.path()).await, (4, 5600));
    assert!(
        payment_files(s.tables.path())
            .await
            .values()
            .any(Option::is_none)
    );

    // A March payment cannot replace only March's file without knowing
    // what the stray file holds: the tenant is reloaded and written whole,
    // which leaves exactly its own payments.
    settle(&s, &mut p, vec![payment("mar2", "2026-03-20", 7)]).await;
    let files = payment_files(s.tables.path()).await;
    assert_eq!(by_bucket(&files).len(), 3, "{files:?}");
    assert_eq!(payments(s.tables.path()).await, (4, 607));
}
