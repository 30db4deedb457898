//! Reading the Delta tables back for assertions: whole tables as sorted
//! JSON rows, so two runs can be compared exactly.

use deltalake::datafusion::prelude::SessionContext;
use revstream_schemas::TableName;
use serde_json::Value;

/// A session with every table under `root` registered by its name.
pub async fn session(root: &url::Url) -> SessionContext {
    let ctx = SessionContext::new();
    for table in TableName::ALL {
        let url = root.join(&format!("{}/", table.as_str())).unwrap();
        let Ok(t) = deltalake::DeltaTable::try_from_url(url).await else {
            continue;
        };
        if t.version().is_none() {
            continue;
        }
        t.update_datafusion_session(&ctx.state()).unwrap();
        ctx.register_table(table.as_str(), t.table_provider().await.unwrap())
            .unwrap();
    }
    ctx
}

pub async fn query(root: &url::Url, sql: &str) -> Vec<Value> {
    let ctx = session(root).await;
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
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

/// Every row of a table as canonical JSON strings, sorted.
pub async fn snapshot(root: &url::Url, table: TableName) -> Vec<String> {
    let mut rows: Vec<String> = query(root, &format!("SELECT * FROM {}", table.as_str()))
        .await
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    rows.sort();
    rows
}

/// Rows in a table; 0 while the table does not exist yet.
pub async fn count(root: &url::Url, table: TableName) -> u64 {
    let ctx = session(root).await;
    if !ctx.table_exist(table.as_str()).unwrap_or(false) {
        return 0;
    }
    let batches = ctx
        .sql(&format!("SELECT COUNT(*) AS n FROM {}", table.as_str()))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
        })
        .map_or(0, |a| a.value(0) as u64)
}

/// Waits until the `events` table under `tables` holds `expected` rows,
/// failing at once if it ever holds more (an event counted twice) and when
/// `limit` passes first. `what` names the run in the messages.
pub async fn wait_for_events(
    tables: &std::path::Path,
    expected: u64,
    limit: std::time::Duration,
    what: &str,
) {
    let root = revstream_pipeline::table_root(tables.to_str().unwrap()).unwrap();
    let deadline = std::time::Instant::now() + limit;
    loop {
        let n = count(&root, TableName::Events).await;
        assert!(
            n <= expected,
            "{what}: events table has {n} rows, more than the {expected} distinct events"
        );
        if n == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: only {n} of {expected} events committed after {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
