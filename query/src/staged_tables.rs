//! The staged tier as the query side reads it: each staged partition (an
//! in-process pipeline's derived rows whose commit has not landed, see
//! [`revstream_schemas::staged`]) as an in-memory table in the schema the
//! table's files show, used in place of the tenant's files.
//!
//! ```text
//!  StagedView { tenant → [(table, rows, id)] } ─ once per view ─▶ { (table, tenant) → MemTable in the Delta provider's schema }
//!  TablesSnapshot::tenant_provider(table, tenant) ─▶ staged MemTable, else the tenant's files
//! ```
//!
//! The rows are adapted once per view (about one per pipeline cycle), not
//! per query: columns are put in the provider's order and cast to its types
//! (the Delta provider shows the partition column last).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast;
use deltalake::datafusion::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::datasource::MemTable;
use revstream_schemas::staged::StagedView;
use revstream_schemas::{TableName, TenantId};

/// One staged partition, ready to scan.
#[derive(Debug)]
pub(crate) struct StagedTable {
    /// The staging's identity ([`revstream_schemas::staged::StagedPartition::id`]).
    pub(crate) id: u64,
    pub(crate) bytes: u64,
    pub(crate) provider: Arc<dyn TableProvider>,
}

/// Every partition of one [`StagedView`], by tenant and table.
#[derive(Debug, Default)]
pub(crate) struct StagedTables {
    tables: HashMap<TenantId, Vec<(TableName, StagedTable)>>,
}

impl StagedTables {
    /// Adapts every partition of `view` to the schema `schema_of(table)`
    /// shows. A partition that cannot be adapted (a schema the pipeline no
    /// longer agrees with) is left out with a warning: queries then read
    /// the tenant's committed files, which is what they would read without
    /// the tier.
    pub(crate) fn new(view: &StagedView, schema_of: impl Fn(TableName) -> SchemaRef) -> Self {
        let mut tables: HashMap<TenantId, Vec<(TableName, StagedTable)>> = HashMap::new();
        for (tenant, partitions) in view.tenants() {
            for (table, partition) in partitions {
                match mem_table(schema_of(*table), &partition.batches) {
                    Ok(provider) => tables.entry(tenant.clone()).or_default().push((
                        *table,
                        StagedTable {
                            id: partition.id,
                            bytes: partition.bytes() as u64,
                            provider,
                        },
                    )),
                    Err(e) => {
                        tracing::warn!(%table, %tenant, error = %e, "staged rows do not fit the table's schema; reading its files");
                    }
                }
            }
        }
        Self { tables }
    }

    pub(crate) fn get(&self, table: TableName, tenant: &TenantId) -> Option<&StagedTable> {
        self.tables
            .get(tenant)?
            .iter()
            .find_map(|(t, s)| (*t == table).then_some(s))
    }
}

/// `batches` as a table of `schema`: columns found by name, cast where the
/// types differ; a column the rows lack reads as nulls.
fn mem_table(
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let adapted = batches
        .iter()
        .map(|batch| {
            let columns = schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    Some(c) if c.data_type() == field.data_type() => Ok(c.clone()),
                    Some(c) => cast(c, field.data_type()),
                    None => Ok(new_null_array(field.data_type(), batch.num_rows())),
                })
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect::<Result<Vec<_>, DataFusionError>>()?;
    Ok(Arc::new(MemTable::try_new(schema, vec![adapted])?))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use revstream_schemas::staged::StagedRows;

    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn rows_take_the_shown_schema_order_and_types() {
        // The pipeline writes tenant_id first; the Delta provider shows it
        // last, and may show another type.
        let written = Arc::new(Schema::new(vec![
            Field::new("tenant_id", DataType::Utf8, false),
            Field::new("amount", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            written,
            vec![
                Arc::new(StringArray::from(vec!["a", "a"])),
                Arc::new(Int64Array::from(vec![5, 7])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = Arc::new(Schema::new(vec![
            Field::new("amount", DataType::Int64, false),
            Field::new("note", DataType::Utf8, true),
            Field::new("tenant_id", DataType::LargeUtf8, false),
        ]));
        let staged = StagedRows::default();
        staged.stage(1, [(TableName::Payments, tenant("a"), batch)]);
        let tables = StagedTables::new(&staged.view(), |_| shown.clone());
        let table = tables
            .get(TableName::Payments, &tenant("a"))
            .unwrap_or_else(|| panic!("staged"));
        assert_eq!(table.provider.schema(), shown);
        assert!(tables.get(TableName::Calls, &tenant("a")).is_none());

        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.register_table("p", table.provider.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let out = ctx
            .sql("SELECT sum(amount), count(note), min(tenant_id) FROM p")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let text = arrow::util::pretty::pretty_format_batches(&out)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string();
        assert!(text.contains("| 12 "), "{text}");
        assert!(text.contains("| 0 "), "{text}");
        assert!(text.contains("| a "), "{text}");
    }
}
