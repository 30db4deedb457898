//! CPU cost of the pipeline's hot functions on the realistic stream of
//! `common/generator.rs`.
//!
//! ```text
//!  log record ─▶ State::insert (dedupe) ─▶ derive (a tenant's whole event set)
//!     ─▶ derived_batches / events_batch (Arrow) ─▶ TableStore::commit (Parquet + Delta log)
//! ```
//!
//! - `state_insert`: 10,000 events of 10 tenants into an empty state.
//! - `derive_busy_tenant`: a tenant with a year of history (20,000 events),
//!   which the pipeline derives again whenever that tenant gets an event:
//!   from canonical events with copies (`derive`), and from the state's
//!   distinct compact events (`derive_distinct`, what the pipeline runs).
//! - `arrow`: the busy tenant's derived rows, and 10,000 `events` rows.
//! - `delta_commit`: one cycle (10 tenants, 10,000 new events: every
//!   derived table of each tenant plus the `events` append with offsets)
//!   to a Delta table root in a temp dir.
//!
//! Run with `cargo bench --bench pipeline_functions` (about two minutes).
//! End-to-end pipeline throughput is `benches/system_load.rs`.

#[path = "common/generator.rs"]
mod generator;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use revstream_pipeline::batches::{EventRow, derived_batches, events_batch};
use revstream_pipeline::derive::{CompactEvent, TenantSettings, derive, derive_distinct};
use revstream_pipeline::state::State;
use revstream_pipeline::store::{Commit, TableRewrite};
use revstream_pipeline::{TableStore, table_root};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use generator::{StreamSpec, stream, tenant_events};

const SEED: u64 = 7;
const BUSY_EVENTS: usize = 20_000;
const CYCLE_TENANTS: u64 = 10;
const CYCLE_EVENTS_PER_TENANT: usize = 1_000;

fn busy_tenant() -> Vec<CanonicalEvent> {
    tenant_events(&StreamSpec::new(BUSY_EVENTS, 365, SEED), 0).expect("the generator is valid")
}

fn cycle_stream() -> Vec<(TenantId, CanonicalEvent)> {
    stream(
        &StreamSpec::new(CYCLE_EVENTS_PER_TENANT, 365, SEED),
        "t",
        CYCLE_TENANTS,
    )
    .expect("the generator is valid")
}

fn state_insert(c: &mut Criterion) {
    let events = cycle_stream();
    let mut group = c.benchmark_group("state_insert");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("10k events, 10 tenants", |b| {
        b.iter(|| {
            let mut state = State::default();
            for (tenant, event) in &events {
                black_box(state.insert(tenant, event));
            }
            state
        });
    });
    group.finish();
}

fn derive_busy_tenant(c: &mut Criterion) {
    let events = busy_tenant();
    let settings = TenantSettings::default();
    let mut group = c.benchmark_group("derive_busy_tenant");
    group.sample_size(20);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("a year, 20k events", |b| {
        b.iter(|| derive(&settings, black_box(&events)));
    });
    // What the pipeline runs: its state holds the events distinct and
    // compact, so there is no dedupe pass and no conversion.
    let held: Vec<CompactEvent> = events.iter().map(CompactEvent::from).collect();
    group.bench_function("a year, 20k events, as held in the state", |b| {
        b.iter(|| derive_distinct(&settings, black_box(&held)));
    });
    group.finish();
}

fn arrow(c: &mut Criterion) {
    let busy = busy_tenant();
    let tenant = TenantId::parse("busy").expect("a valid tenant id");
    let derived = derive(&TenantSettings::default(), &busy);
    let events = cycle_stream();
    let timezone = TenantSettings::default().timezone;
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, (tenant, event))| EventRow {
            tenant,
            timezone,
            event,
            payload: None,
            log_partition: 0,
            log_offset: i as i64,
        })
        .collect();
    let mut group = c.benchmark_group("arrow");
    group.throughput(Throughput::Elements(1));
    group.bench_function("derived_batches, busy tenant (all 7 tables)", |b| {
        b.iter(|| derived_batches(&tenant, black_box(&derived)).expect("valid rows"));
    });
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("events_batch, 10k rows", |b| {
        b.iter(|| events_batch(black_box(&rows)).expect("valid rows"));
    });
    group.finish();
}

/// One cycle's commit: every derived table of each tenant, then the events.
fn cycle_commit(events: &[(TenantId, CanonicalEvent)]) -> Commit {
    let settings = TenantSettings::default();
    let mut per_tenant: std::collections::BTreeMap<&TenantId, Vec<CanonicalEvent>> =
        std::collections::BTreeMap::new();
    for (tenant, event) in events {
        per_tenant.entry(tenant).or_default().push(event.clone());
    }
    let mut rewrites: std::collections::BTreeMap<TableName, TableRewrite> =
        std::collections::BTreeMap::new();
    for (tenant, events) in &per_tenant {
        let derived = derive(&settings, events);
        for (table, batch) in derived_batches(tenant, &derived).expect("valid rows") {
            let rewrite = rewrites.entry(table).or_insert_with(|| TableRewrite {
                table,
                tenants: Vec::new(),
                batches: Vec::new(),
            });
            rewrite.tenants.push((*tenant).clone());
            if batch.num_rows() > 0 {
                rewrite.batches.push(batch);
            }
        }
    }
    let timezone = settings.timezone;
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, (tenant, event))| EventRow {
            tenant,
            timezone,
            event,
            payload: None,
            log_partition: 0,
            log_offset: i as i64,
        })
        .collect();
    let batch: RecordBatch = events_batch(&rows).expect("valid rows");
    Commit {
        rewrites: rewrites.into_values().collect(),
        events: vec![batch],
        offsets: vec![(0, events.len() as i64)],
        events_committed: false,
    }
}

fn delta_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::Builder::new()
        .prefix("revstream-bench-delta-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temp dir");
    let root = table_root(dir.path().to_str().expect("a UTF-8 temp dir")).expect("a table root");
    let store = Arc::new(
        runtime
            .block_on(TableStore::open(&root, "local"))
            .expect("open the tables"),
    );
    let commit = cycle_commit(&cycle_stream());
    let mut group = c.benchmark_group("delta_commit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(1));
    // Each iteration is a new table version, as in the pipeline; the log
    // grows by one commit per table per iteration.
    group.bench_function("one cycle: 10 tenants, 10k events, 8 tables", |b| {
        b.iter(|| {
            // `commit` consumes the steps that land; each iteration starts whole.
            let mut pending = commit.clone();
            runtime
                .block_on(store.commit(&mut pending))
                .expect("the commit lands");
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    state_insert,
    derive_busy_tenant,
    arrow,
    delta_commit
);
criterion_main!(benches);
