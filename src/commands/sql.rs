//! `revstream sql --tenant ID "SELECT …"`: one query, printed.

use std::sync::Arc;

use anyhow::Context;
use revstream_query::{CliFormat, Tables, TablesOptions, run_sql};
use revstream_schemas::TenantId;

use super::output;
use crate::cli::SqlArgs;

pub(super) async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let tenant =
        TenantId::parse(&args.tenant).with_context(|| format!("tenant id {:?}", args.tenant))?;
    let format = CliFormat::parse(&args.format)
        .with_context(|| format!("--format must be table, csv or json, got {:?}", args.format))?;
    let root = args.tables.root(&args.registry.data_dir)?;
    let tables = Arc::new(
        Tables::open(root, TablesOptions::default())
            .await
            .context("opening the tables")?,
    );
    let text = run_sql(tables, &tenant, &args.sql, format).await?;
    output::result(text.trim_end())
}
