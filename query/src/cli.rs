//! `revstream sql --tenant ID "SELECT …" [--format table|csv|json]`: the
//! same engine, limits and tenant scoping as `/v1/query`, printed.

use std::sync::Arc;

use revstream_schemas::TenantId;

use crate::engine::{QueryConfig, QueryEngine, SqlRequest};
use crate::error::{QueryError, Result};
use crate::format::{self, Format};
use crate::tables::Tables;

/// How `revstream sql` prints a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CliFormat {
    /// A text table (arrow's pretty printer).
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// The JSON document of `/v1/query`.
    Json,
}

impl CliFormat {
    pub fn parse(s: &str) -> Option<CliFormat> {
        match s {
            "table" => Some(CliFormat::Table),
            "csv" => Some(CliFormat::Csv),
            "json" => Some(CliFormat::Json),
            _ => None,
        }
    }
}

/// Runs one read-only statement for `tenant` over `tables` and renders
/// it. Results over the default row limit are truncated (the text says so);
/// every other limit of [`QueryConfig::default`] applies.
pub async fn run_sql(
    tables: Arc<Tables>,
    tenant: &TenantId,
    sql: &str,
    format: CliFormat,
) -> Result<String> {
    let engine = QueryEngine::new(tables, QueryConfig::default())?;
    let started = std::time::Instant::now();
    let answer = engine
        .sql(
            tenant,
            &SqlRequest {
                sql: sql.to_owned(),
                params: None,
                truncate: true,
            },
        )
        .await?;
    let output = &answer.output;
    let render = |e: arrow::error::ArrowError| QueryError::Internal(format!("rendering: {e}"));
    let mut text = match format {
        CliFormat::Table => format::pretty(output).map_err(render)?,
        CliFormat::Csv => bytes_to_text(format::encode(output, Format::Csv, 0).map_err(render)?)?,
        CliFormat::Json => bytes_to_text(
            format::encode(output, Format::Json, crate::engine::elapsed_ms(started))
                .map_err(render)?,
        )?,
    };
    if format == CliFormat::Table {
        text.push('\n');
        let rows = if output.row_count == 1 { "row" } else { "rows" };
        text.push_str(&format!("{} {rows}", output.row_count));
        if output.truncated {
            text.push_str(" (truncated at the row limit; add a LIMIT or aggregate)");
        }
        text.push('\n');
    }
    Ok(text)
}

fn bytes_to_text(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| QueryError::Internal(format!("output is not UTF-8: {e}")))
}
