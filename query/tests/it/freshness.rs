//! A pipeline commit is visible to the next query through the same
//! `Tables` (no restart): at once with the in-process commit signal, within
//! `max_staleness` otherwise; and cached answers never outlive a commit of
//! their tenant (and outlive other tenants' commits).

use std::sync::Arc;
use std::time::Duration;

use revstream_query::{QueryConfig, QueryEngine, Tables, TablesOptions};
use revstream_schemas::{TableName, TenantId};

use crate::support::{
    Fixture, PAYMENTS, append, count, drain, late_payment, payment, standard_fixture,
    start_pipeline, test_config,
};

/// Tables that learn of commits through the pipeline's signal only: with
/// an hour's staleness bound, nothing else can explain a fresh answer.
async fn signalled_tables(f: &Fixture) -> Arc<Tables> {
    f.tables(TablesOptions {
        max_staleness: Duration::from_secs(3600),
        commits: Some(f.pipeline.commits()),
        staged: None,
    })
    .await
}

#[tokio::test]
async fn the_commit_signal_makes_the_next_query_fresh() {
    let mut f = standard_fixture().await;
    let tables = signalled_tables(&f).await;
    let engine = QueryEngine::new(tables.clone(), test_config()).unwrap();
    assert_eq!(tables.check().await, Ok(()), "readiness");
    assert_eq!(count(&engine, PAYMENTS).await, (7, false));
    assert_eq!(
        count(&engine, PAYMENTS).await,
        (7, true),
        "cached while nothing changed"
    );
    let before = tables.versions();

    f.ingest("acme", vec![late_payment("p100")]).await;
    assert_eq!(
        count(&engine, PAYMENTS).await,
        (8, false),
        "the next query sees the commit"
    );
    let after = tables.versions();
    assert!(after.get(TableName::Payments) > before.get(TableName::Payments));
    assert!(after.get(TableName::Events) > before.get(TableName::Events));

    // And the metrics follow.
    let (cash, _) = count(
        &engine,
        "SELECT SUM(cash_collected) FROM metrics_daily WHERE currency = 'usd'",
    )
    .await;
    assert_eq!(cash, 110_000 + 100);
}

#[tokio::test]
async fn without_a_signal_the_staleness_bound_applies() {
    let mut f = standard_fixture().await;
    let eager = QueryEngine::new(
        f.tables(TablesOptions {
            max_staleness: Duration::ZERO,
            commits: None,
            staged: None,
        })
        .await,
        test_config(),
    )
    .unwrap();
    let lazy_tables = f
        .tables(TablesOptions {
            max_staleness: Duration::from_secs(3600),
            commits: None,
            staged: None,
        })
        .await;
    let lazy = QueryEngine::new(lazy_tables.clone(), test_config()).unwrap();
    assert_eq!(count(&eager, PAYMENTS).await.0, 7);
    assert_eq!(count(&lazy, PAYMENTS).await.0, 7);

    f.ingest("acme", vec![late_payment("p101")]).await;
    assert_eq!(count(&eager, PAYMENTS).await.0, 8, "checked on every query");
    assert_eq!(
        count(&lazy, PAYMENTS).await,
        (7, true),
        "within its staleness bound"
    );
    lazy_tables.refresh().await;
    assert_eq!(count(&lazy, PAYMENTS).await, (8, false), "after a refresh");
}

#[tokio::test]
async fn the_background_refresher_keeps_tables_fresh() {
    let mut f = standard_fixture().await;
    let tables = f
        .tables(TablesOptions {
            max_staleness: Duration::from_secs(3600),
            commits: None,
            staged: None,
        })
        .await;
    let refresher = tables.spawn_refresher(Duration::from_millis(50));
    let engine = QueryEngine::new(tables.clone(), test_config()).unwrap();
    assert_eq!(count(&engine, PAYMENTS).await.0, 7);
    f.ingest("acme", vec![late_payment("p102")]).await;
    let mut seen = 0;
    for _ in 0..100 {
        seen = count(&engine, PAYMENTS).await.0;
        if seen == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, 8);
    refresher.abort();
}

#[tokio::test]
async fn tables_created_after_the_query_side_started_appear() {
    let f = Fixture::new().await;
    // A root no pipeline has written yet: every table reads as empty.
    let dir = tempfile::tempdir().unwrap();
    let root = revstream_pipeline::table_root(dir.path().to_str().unwrap()).unwrap();
    let tables = std::sync::Arc::new(
        Tables::open(
            root.clone(),
            TablesOptions {
                max_staleness: Duration::ZERO,
                commits: None,
                staged: None,
            },
        )
        .await
        .unwrap(),
    );
    let engine = QueryEngine::new(tables, QueryConfig::default()).unwrap();
    assert_eq!(count(&engine, PAYMENTS).await.0, 0);
    assert_eq!(count(&engine, "SELECT COUNT(*) FROM events").await.0, 0);

    // A pipeline starts there, creates the tables and commits.
    let mut pipeline = start_pipeline(f.log.clone(), &root).await;
    append(
        &f.log,
        "acme",
        vec![payment(
            "p1",
            "2026-01-01T12:00:00Z",
            100,
            "usd",
            "c1",
            "c1@example.com",
        )],
    )
    .await;
    drain(&mut pipeline).await;
    assert_eq!(count(&engine, PAYMENTS).await.0, 1);
}

#[tokio::test]
async fn cached_metrics_change_with_the_next_commit() {
    use revstream_query::metrics::{MetricsParams, MetricsRequest, compute};
    let mut f = standard_fixture().await;
    let tables = signalled_tables(&f).await;
    let engine = QueryEngine::new(tables, test_config()).unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let request = MetricsRequest::parse(&MetricsParams {
        from: Some("2026-01-01".into()),
        to: Some("2026-03-31".into()),
        metrics: Some("cash_collected,mrr".into()),
        currency: Some("usd".into()),
        ..MetricsParams::default()
    })
    .unwrap();
    let tz = crate::support::TIMEZONE.parse().unwrap();
    let first = compute(&engine, &acme, tz, &request).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(answer["totals"]["cash_collected"], 110_000);
    let hits = engine
        .cache()
        .stats()
        .hits
        .load(std::sync::atomic::Ordering::Relaxed);
    let again = compute(&engine, &acme, tz, &request).await.unwrap();
    assert_eq!(
        first.as_ptr(),
        again.as_ptr(),
        "served from the cache: the same text, not a new one"
    );
    assert_eq!(
        engine
            .cache()
            .stats()
            .hits
            .load(std::sync::atomic::Ordering::Relaxed),
        hits + 1
    );

    f.ingest(
        "acme",
        vec![payment(
            "p103",
            "2026-03-30T12:00:00Z",
            500,
            "usd",
            "c1",
            "c1@example.com",
        )],
    )
    .await;
    let fresh = compute(&engine, &acme, tz, &request).await.unwrap();
    let fresh: serde_json::Value = serde_json::from_slice(&fresh).unwrap();
    assert_eq!(fresh["totals"]["cash_collected"], 110_500);
    assert_eq!(fresh["totals"]["mrr"], 21_000);
}

#[tokio::test]
async fn another_tenants_commit_keeps_a_cached_answer_and_the_tenants_own_does_not() {
    let mut f = standard_fixture().await;
    let tables = signalled_tables(&f).await;
    let engine = QueryEngine::new(tables.clone(), test_config()).unwrap();
    assert_eq!(count(&engine, PAYMENTS).await, (7, false));
    let before = tables.versions();

    // beta's commit: new table versions, but acme's files are as they were.
    f.ingest(
        "beta",
        vec![payment(
            "beta-late",
            "2026-03-30T12:00:00Z",
            100,
            "usd",
            "b1",
            "b1@example.com",
        )],
    )
    .await;
    assert_eq!(
        count(&engine, PAYMENTS).await,
        (7, true),
        "another tenant's commit does not invalidate acme's answer"
    );
    assert!(tables.versions().get(TableName::Payments) > before.get(TableName::Payments));

    // acme's own commit does.
    f.ingest("acme", vec![late_payment("acme-late")]).await;
    assert_eq!(count(&engine, PAYMENTS).await, (8, false));
}
