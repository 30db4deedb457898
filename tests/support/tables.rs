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
