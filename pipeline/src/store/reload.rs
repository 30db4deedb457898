//! Reading back the events of some log partitions: what a pipeline needs
//! to rebuild its state when it starts or takes over partitions.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use super::{Result, StoreError, TableStore};

/// One event as committed, with where it came from in the log.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub tenant: TenantId,
    pub event: CanonicalEvent,
    pub log_partition: u32,
    pub log_offset: i64,
}

fn read_err(message: impl std::fmt::Display) -> StoreError {
    StoreError::Read {
        table: TableName::Events,
        message: message.to_string(),
    }
}

impl TableStore {
    /// Every committed event read from the given log partitions (without
    /// raw payloads, which metrics never need).
    pub async fn load_events(&self, partitions: &[u32]) -> Result<Vec<StoredEvent>> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let table = {
            let tables = self.tables.lock().await;
            tables
                .get(&TableName::Events)
                .cloned()
                .ok_or_else(|| read_err("not open"))?
        };
        let ctx = SessionContext::new();
        table
            .update_datafusion_session(&ctx.state())
            .map_err(read_err)?;
        let provider = table.table_provider().await.map_err(read_err)?;
        ctx.register_table("events", provider).map_err(read_err)?;
        let list = partitions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let df = ctx
            .sql(&format!(
                "SELECT tenant_id, payload, log_partition, log_offset FROM events WHERE log_partition IN ({list})"
            ))
            .await
            .map_err(read_err)?;
        let mut out = Vec::new();
        let mut stream = df.execute_stream().await.map_err(read_err)?;
        while let Some(batch) = stream.try_next().await.map_err(read_err)? {
            decode(&batch, &mut out)?;
        }
        Ok(out)
    }
}

/// A text column as plain Utf8, whatever encoding the scan chose
/// (partition columns may come back dictionary- or view-encoded).
fn utf8(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| read_err(format!("missing column {name}")))?;
    arrow::compute::cast(column, &DataType::Utf8).map_err(read_err)
}

fn decode(batch: &RecordBatch, out: &mut Vec<StoredEvent>) -> Result<()> {
    let tenants = utf8(batch, "tenant_id")?;
    let tenants = tenants.as_string::<i32>();
    let payloads = utf8(batch, "payload")?;
    let payloads = payloads.as_string::<i32>();
    let number = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| read_err(format!("missing column {name}")))
            .and_then(|c| arrow::compute::cast(c, &DataType::Int64).map_err(read_err))
    };
    let partitions = number("log_partition")?;
    let partitions = partitions.as_primitive::<Int64Type>();
    let offsets = number("log_offset")?;
    let offsets = offsets.as_primitive::<Int64Type>();
    for i in 0..batch.num_rows() {
        if tenants.is_null(i) || payloads.is_null(i) {
            return Err(read_err("null tenant or payload"));
        }
        let tenant = TenantId::parse(tenants.value(i)).map_err(read_err)?;
        let event = CanonicalEvent::from_json(payloads.value(i).as_bytes()).map_err(read_err)?;
        out.push(StoredEvent {
            tenant,
            event,
            log_partition: u32::try_from(partitions.value(i)).map_err(read_err)?,
            log_offset: offsets.value(i),
        });
    }
    Ok(())
}
