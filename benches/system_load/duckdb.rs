//! The reference for ad-hoc SQL: DuckDB (the Python package) running the
//! same statements on the same Parquet files, in a subprocess that times
//! its own runs (`duckdb_queries.py`).
//!
//! The file list of each table is the live set of the current Delta
//! snapshot, restricted to the tenant's partition, so DuckDB reads exactly
//! what revstream's tenant-scoped scan reads.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use deltalake::DeltaTable;
use revstream_schemas::TableName;
use revstream_schemas::tables::TENANT_COLUMN;
use serde_json::{Value, json};
use url::Url;

use super::latency::Latencies;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/system_load/duckdb_queries.py"
);

/// DuckDB's timings of one query.
#[derive(Debug, Clone)]
pub(crate) struct DuckTimes {
    pub(crate) rows: u64,
    pub(crate) latencies: Latencies,
}

/// What the subprocess gave back.
#[derive(Debug)]
pub(crate) enum DuckOutcome {
    Measured {
        version: String,
        queries: BTreeMap<String, DuckTimes>,
    },
    /// Python or the duckdb package is missing: reported, not faked.
    Unavailable(String),
}

/// The live Parquet files of `tenant`'s partition of every table.
pub(crate) async fn tenant_files(
    root: &Url,
    tenant: &str,
) -> anyhow::Result<BTreeMap<&'static str, Vec<String>>> {
    let marker = format!("/{TENANT_COLUMN}={tenant}/");
    let mut out = BTreeMap::new();
    for table in TableName::ALL {
        let url = root.join(&format!("{}/", table.as_str()))?;
        let delta = DeltaTable::try_from_url(url).await?;
        let files = delta
            .get_file_uris()?
            .filter(|uri| uri.contains(&marker))
            .map(|uri| {
                Url::parse(&uri)
                    .ok()
                    .and_then(|u| u.to_file_path().ok())
                    .map_or(uri, |p| p.display().to_string())
            })
            .collect();
        out.insert(table.as_str(), files);
    }
    Ok(out)
}

pub(crate) async fn run(
    python: &str,
    tenant: &str,
    tables: BTreeMap<&'static str, Vec<String>>,
    queries: &[(&'static str, &'static str)],
    runs: usize,
) -> anyhow::Result<DuckOutcome> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let request = json!({
        "tenant": tenant,
        "threads": threads,
        "runs": runs,
        "warmup": 3,
        "tables": tables,
        "queries": queries.iter().map(|(name, sql)| json!({"name": name, "sql": sql})).collect::<Vec<_>>(),
    })
    .to_string();
    let python = python.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(request.as_bytes())?;
        }
        child.wait_with_output()
    })
    .await?;
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return Ok(DuckOutcome::Unavailable(format!(
                "cannot run the Python interpreter: {e}"
            )));
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    match output.status.code() {
        Some(0) => {}
        Some(3) => return Ok(DuckOutcome::Unavailable(stderr)),
        _ => bail!("DuckDB failed ({}): {stderr}", output.status),
    }
    let answer: Value =
        serde_json::from_slice(&output.stdout).context("DuckDB's answer is not JSON")?;
    let mut queries = BTreeMap::new();
    for q in answer["queries"].as_array().into_iter().flatten() {
        let name = q["name"]
            .as_str()
            .context("a DuckDB result without a name")?;
        let samples = q["times_ms"]
            .as_array()
            .context("a DuckDB result without times")?
            .iter()
            .filter_map(Value::as_f64)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .collect();
        queries.insert(
            name.to_owned(),
            DuckTimes {
                rows: q["rows"].as_u64().unwrap_or(0),
                latencies: Latencies::new(samples),
            },
        );
    }
    Ok(DuckOutcome::Measured {
        version: answer["duckdb"].as_str().unwrap_or("?").to_owned(),
        queries,
    })
}
