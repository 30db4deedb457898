//! Opening the table root and creating missing tables.

use std::collections::HashMap;
use std::path::Path;

use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::{DeltaTable, DeltaTableBuilder};
use revstream_schemas::TableName;
use revstream_schemas::tables::TENANT_COLUMN;
use tokio::sync::Mutex;
use url::Url;

use super::{Result, StoreError, TableStore};

/// `file:///abs/dir/` for a directory (created if missing), or any URL
/// delta-rs understands. Always ends with `/` so table names join under it.
pub fn table_root(location: &str) -> Result<Url> {
    let url = if location.contains("://") {
        Url::parse(location).map_err(|_| StoreError::Location(location.to_owned()))?
    } else {
        let path = Path::new(location);
        std::fs::create_dir_all(path).map_err(|_| StoreError::Location(location.to_owned()))?;
        let abs =
            std::fs::canonicalize(path).map_err(|_| StoreError::Location(location.to_owned()))?;
        Url::from_directory_path(abs).map_err(|()| StoreError::Location(location.to_owned()))?
    };
    if url.path().ends_with('/') {
        Ok(url)
    } else {
        Url::parse(&format!("{url}/")).map_err(|_| StoreError::Location(location.to_owned()))
    }
}

impl TableStore {
    /// Opens every table under `root`, creating the missing ones.
    pub async fn open(root: &Url, log_id: &str) -> Result<Self> {
        let mut tables = HashMap::new();
        for table in TableName::ALL {
            tables.insert(table, open_or_create(root, table).await?);
        }
        Ok(Self {
            log_id: log_id.to_owned(),
            tables: Mutex::new(tables),
            checkpointed: Default::default(),
        })
    }
}

pub(crate) fn table_url(root: &Url, table: TableName) -> Result<Url> {
    root.join(&format!("{}/", table.as_str()))
        .map_err(|_| StoreError::Location(root.to_string()))
}

async fn open_or_create(root: &Url, table: TableName) -> Result<DeltaTable> {
    let delta = |source| StoreError::Delta { table, source };
    let url = table_url(root, table)?;
    let local = (url.scheme() == "file")
        .then(|| url.to_file_path().ok())
        .flatten();
    if let Some(path) = &local {
        std::fs::create_dir_all(path).map_err(|_| StoreError::Location(url.to_string()))?;
    }
    // A local table without a log is new: skip loading it, which would only
    // log a scary "no files in log segment" error on every first start.
    let is_new = local.is_some_and(|path| !path.join("_delta_log").exists());
    let mut existing = DeltaTableBuilder::from_url(url)
        .and_then(DeltaTableBuilder::build)
        .map_err(delta)?;
    if !is_new {
        match existing.load().await {
            Ok(()) => return Ok(existing),
            Err(deltalake::DeltaTableError::NotATable(_)) => {}
            Err(e) => return Err(delta(e)),
        }
    }
    let schema: StructType =
        table
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| StoreError::Read {
                table,
                message: format!("schema conversion: {e}"),
            })?;
    let created = existing
        .create()
        .with_table_name(table.as_str())
        .with_columns(schema.fields().cloned())
        .with_partition_columns([TENANT_COLUMN])
        .await;
    match created {
        Ok(t) => Ok(t),
        // Another process created it first: open theirs.
        Err(_) => {
            let again = DeltaTable::try_from_url(table_url(root, table)?)
                .await
                .map_err(delta)?;
            if again.version().is_some() {
                Ok(again)
            } else {
                Err(StoreError::Read {
                    table,
                    message: "could not create the table".into(),
                })
            }
        }
    }
}
