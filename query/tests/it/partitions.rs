//! A small tenant is queried on one partition, a large one on as many as
//! configured, and both plans answer the same.

use revstream_query::engine::SqlRequest;
use revstream_query::{QueryConfig, QueryEngine, TablesOptions};
use revstream_schemas::TenantId;

use crate::support::{standard_fixture, test_config};

#[tokio::test]
async fn small_tenants_run_on_one_partition_with_the_same_answers() {
    let f = standard_fixture().await;
    let tables = f.tables(TablesOptions::default()).await;
    let acme = TenantId::parse("acme").unwrap();
    let engine = |single_partition_below_bytes| {
        QueryEngine::new(
            tables.clone(),
            QueryConfig {
                target_partitions: 4,
                single_partition_below_bytes,
                cache_bytes: 0,
                ..test_config()
            },
        )
        .unwrap()
    };
    let (small, large) = (engine(16 << 20), engine(0));
    assert_eq!(partitions(&small, &acme).await, 1);
    assert_eq!(partitions(&large, &acme).await, 4);

    for sql in [
        "SELECT currency, SUM(amount) AS total, COUNT(*) AS n FROM payments GROUP BY currency ORDER BY currency",
        "SELECT day, SUM(SUM(amount)) OVER (ORDER BY day) AS mrr FROM mrr_movements \
         WHERE currency = 'usd' GROUP BY day ORDER BY day",
        "SELECT c.closer, COUNT(*) AS calls, SUM(p.amount) AS cash FROM calls c \
         LEFT JOIN payments p ON p.call_id = c.call_id GROUP BY c.closer ORDER BY c.closer NULLS LAST",
    ] {
        let request = SqlRequest {
            sql: sql.into(),
            ..SqlRequest::default()
        };
        let one = small.sql(&acme, &request).await.unwrap();
        let many = large.sql(&acme, &request).await.unwrap();
        let text = |a: &revstream_query::engine::QueryAnswer| {
            arrow::util::pretty::pretty_format_batches(&a.output.batches)
                .unwrap()
                .to_string()
        };
        assert!(one.output.row_count > 0, "{sql}");
        assert_eq!(text(&one), text(&many), "{sql}");
    }
}

async fn partitions(engine: &QueryEngine, tenant: &TenantId) -> usize {
    let context = engine.context(tenant).await.unwrap();
    context.state().config().target_partitions()
}
