//! The staged tier: a pipeline's derived rows answered before their commit
//! lands. They answer exactly as the committed tables do afterwards, they
//! replace the tenant's files of that table alone, a refresh that reads
//! their commit prunes them, and a failed commit withdraws them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use revstream_query::engine::SqlRequest;
use revstream_query::{QueryConfig, QueryEngine, TablesOptions};
use revstream_schemas::staged::StagedRows;
use revstream_schemas::{TableName, TenantId};
use serde_json::Value;

use crate::support::{
    ADMIN_TOKEN, Fixture, PAYMENTS, Server, acme_events, append, beta_events, count, drain,
    late_payment, standard_fixture, test_config,
};

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// Every row `tenant` sees of `table`, as sorted text lines.
async fn rows(engine: &QueryEngine, tenant: &str, table: TableName) -> Vec<String> {
    let answer = engine
        .sql(
            &TenantId::parse(tenant).unwrap(),
            &SqlRequest {
                sql: format!("SELECT * FROM {table}"),
                ..SqlRequest::default()
            },
        )
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&answer.output.batches)
        .unwrap()
        .to_string();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1) // the header
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

async fn metrics(s: &Server, tenant: &str, query: &str) -> Value {
    let resp = s
        .get(ADMIN_TOKEN, &format!("/v1/metrics?tenant={tenant}&{query}"))
        .await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn no_staleness_checks(staged: Option<Arc<StagedRows>>) -> TablesOptions {
    TablesOptions {
        max_staleness: Duration::from_secs(3600),
        commits: None,
        staged,
    }
}

#[tokio::test]
async fn staged_rows_answer_exactly_as_the_commit_that_follows() {
    let mut f = Fixture::new().await;
    let tier = Arc::new(StagedRows::default());
    f.pipeline.stage_into(tier.clone());
    // Opened while the tables are empty and never refreshed: whatever it
    // answers comes from the staged rows.
    let early = f.tables(no_staleness_checks(Some(tier.clone()))).await;
    append(&f.log, "acme", acme_events()).await;
    append(&f.log, "beta", beta_events()).await;
    drain(&mut f.pipeline).await;
    let committed = f.tables(no_staleness_checks(None)).await;

    let from_staged = QueryEngine::new(early.clone(), test_config()).unwrap();
    let from_files = QueryEngine::new(committed.clone(), test_config()).unwrap();
    // Its tables stay at the versions before the commit.
    assert!(
        early.versions().get(TableName::Payments) < committed.versions().get(TableName::Payments)
    );
    for tenant in ["acme", "beta"] {
        for table in TableName::DERIVED {
            assert_eq!(
                rows(&from_staged, tenant, table).await,
                rows(&from_files, tenant, table).await,
                "{tenant}'s {table}"
            );
        }
    }
    assert_eq!(count(&from_staged, PAYMENTS).await.0, 7);
    // `events` is not staged: its rows come with the commit.
    assert!(
        rows(&from_staged, "acme", TableName::Events)
            .await
            .is_empty()
    );

    // The dashboard endpoint, from its indexes and from its queries.
    let config = |index| QueryConfig {
        cache_bytes: 0,
        metrics_index_bytes: index,
        ..test_config()
    };
    for index in [0, 64 << 20] {
        let staged_server = Server::start(early.clone(), config(index)).await;
        let files_server = Server::start(committed.clone(), config(index)).await;
        for query in [
            "from=2026-01-01&to=2026-03-31&currency=usd&interval=month",
            "from=2026-01-01&to=2026-03-31&currency=usd",
            "from=2026-01-01&to=2026-03-31&currency=usd&group_by=closer",
        ] {
            for tenant in ["acme", "beta"] {
                assert_eq!(
                    metrics(&staged_server, tenant, query).await,
                    metrics(&files_server, tenant, query).await,
                    "{tenant}: {query} (index budget {index})"
                );
            }
        }
    }
}

#[tokio::test]
async fn staged_rows_last_until_the_tables_hold_their_commit_or_it_fails() {
    let mut f = standard_fixture().await;
    let tier = Arc::new(StagedRows::default());
    let tables = f
        .tables(TablesOptions {
            max_staleness: Duration::from_secs(3600),
            commits: Some(f.pipeline.commits()),
            staged: Some(tier.clone()),
        })
        .await;
    let engine = QueryEngine::new(tables.clone(), test_config()).unwrap();
    assert_eq!(count(&engine, PAYMENTS).await, (7, false));
    assert_eq!(count(&engine, PAYMENTS).await, (7, true));
    let beta_payments = rows(&engine, "beta", TableName::Payments).await;

    // An emptied partition staged for the next commit replaces acme's
    // payments files, and nothing else; cached answers of the files are
    // not reused for it.
    let next = *f.pipeline.commits().borrow() + 1;
    let empty = RecordBatch::new_empty(TableName::Payments.schema());
    tier.stage(next, [(TableName::Payments, acme(), empty.clone())]);
    assert_eq!(count(&engine, PAYMENTS).await, (0, false));
    assert_eq!(
        rows(&engine, "beta", TableName::Payments).await,
        beta_payments
    );
    assert!(!rows(&engine, "acme", TableName::Calls).await.is_empty());

    // Withdrawn (its commit failed): the committed rows again.
    tier.withdraw(next);
    assert_eq!(count(&engine, PAYMENTS).await, (7, true));

    // Staged again; once the commit lands, the refresh reads it from the
    // files and forgets the staged rows.
    tier.stage(next, [(TableName::Payments, acme(), empty)]);
    assert_eq!(count(&engine, PAYMENTS).await.0, 0);
    f.ingest("acme", vec![late_payment("p100")]).await;
    assert_eq!(*f.pipeline.commits().borrow(), next);
    assert_eq!(count(&engine, PAYMENTS).await, (8, false));
    assert!(tier.view().is_empty(), "pruned by the refresh");
}

#[tokio::test]
async fn a_failed_commit_withdraws_its_staged_rows() {
    let mut f = standard_fixture().await;
    let tier = Arc::new(StagedRows::default());
    f.pipeline.stage_into(tier.clone());
    let stats = f.pipeline.stats();

    // The payments table's log cannot be written: a file where its
    // directory was.
    let log_dir = f.tables_path().join("payments").join("_delta_log");
    let moved = f.tables_path().join("payments-log-aside");
    std::fs::rename(&log_dir, &moved).unwrap();
    std::fs::write(&log_dir, b"not a directory").unwrap();

    append(&f.log, "acme", vec![late_payment("p200")]).await;
    let mut pipeline = f.pipeline;
    let stop = Arc::new(AtomicBool::new(false));
    let cycle = tokio::spawn({
        let stop = stop.clone();
        async move {
            let report = pipeline.cycle(&stop).await;
            (pipeline, report)
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.commit_failures.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the commit never failed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        tier.view().is_empty(),
        "rows of a failing commit stay staged"
    );

    std::fs::remove_file(&log_dir).unwrap();
    std::fs::rename(&moved, &log_dir).unwrap();
    let (pipeline, report) = cycle.await.unwrap();
    assert!(report.unwrap().committed);
    f.pipeline = pipeline;
    let engine =
        QueryEngine::new(f.tables(no_staleness_checks(None)).await, test_config()).unwrap();
    assert_eq!(
        count(&engine, PAYMENTS).await.0,
        8,
        "landed once storage was back"
    );
}
