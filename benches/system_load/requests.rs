//! Timed query requests over HTTP: N requests by C concurrent clients,
//! each answer checked (200, the JSON shape asked for) before it counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use revstream_query::SqlRequest;
use serde::de::IgnoredAny;
use serde_json::json;

use super::latency::Latencies;
use super::stack::QueryStack;

/// A dashboard or analyst request against the busy tenant.
#[derive(Debug, Clone)]
pub(crate) enum Query {
    /// `GET /v1/metrics?…`, of the service as shipped or of the reference
    /// (the metrics indexes off).
    Metrics {
        name: &'static str,
        params: String,
        reference: bool,
    },
    /// `POST /v1/query`
    Sql {
        name: &'static str,
        sql: &'static str,
    },
}

impl Query {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Query::Metrics { name, .. } | Query::Sql { name, .. } => name,
        }
    }
}

/// What a measurement saw.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) latencies: Latencies,
    /// `row_count` of the SQL answers (all equal), or the series length.
    pub(crate) rows: u64,
}

/// Requests sent before the measured ones, so plans, connections and the
/// OS page cache are warm as they are on a running service.
const WARMUP: usize = 3;

pub(crate) async fn measure(
    stack: &QueryStack,
    query: &Query,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let client = stack.client.clone();
    let base = match query {
        Query::Metrics {
            reference: true, ..
        } => stack.reference_base.clone(),
        _ => stack.base.clone(),
    };
    let key = stack.key.clone();
    for _ in 0..WARMUP.min(total) {
        send(&client, &base, &key, query).await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, base, key, query, next) = (
            client.clone(),
            base.clone(),
            key.clone(),
            query.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            let mut samples = Vec::new();
            let mut rows = None;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let sent = Instant::now();
                let n = send(&client, &base, &key, &query).await?;
                samples.push(sent.elapsed());
                if rows.is_some_and(|r| r != n) {
                    bail!(
                        "{}: answers differ in size ({n} vs {rows:?} rows)",
                        query.name()
                    );
                }
                rows = Some(n);
            }
            anyhow::Ok((samples, rows))
        });
    }
    let mut samples = Vec::with_capacity(total);
    let mut rows = None;
    while let Some(joined) = workers.join_next().await {
        let (mut s, r) = joined.context("a request worker panicked")??;
        samples.append(&mut s);
        if r.is_some() {
            rows = r;
        }
    }
    Ok(Measured {
        latencies: Latencies::new(samples),
        rows: rows.unwrap_or(0),
    })
}

/// One request; the answer's row count (SQL) or series length (metrics).
async fn send(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    query: &Query,
) -> anyhow::Result<u64> {
    let request = match query {
        Query::Metrics { params, .. } => client.get(format!("{base}/v1/metrics?{params}")),
        Query::Sql { sql, .. } => client
            .post(format!("{base}/v1/query"))
            .header("content-type", "application/json")
            .body(json!({ "sql": sql }).to_string()),
    };
    let response = request
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("{}: request failed", query.name()))?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "{}: {status} {}",
            query.name(),
            String::from_utf8_lossy(&body)
                .chars()
                .take(400)
                .collect::<String>()
        );
    }
    // The checked parts only: the rest is skipped without building values
    // (parsing a year by day into a `Value` cost this generator, which
    // shares the cores, three times what answering cost the service).
    let not_json = || format!("{}: the answer is not the JSON expected", query.name());
    match query {
        Query::Metrics { .. } => {
            let answer: MetricsShape = serde_json::from_slice(&body).with_context(not_json)?;
            if answer.totals.is_empty() {
                bail!("{}: no metrics in the totals", query.name());
            }
            Ok(answer
                .series
                .or(answer.groups)
                .map_or(0, |s| s.len() as u64))
        }
        Query::Sql { .. } => {
            let answer: SqlShape = serde_json::from_slice(&body).with_context(not_json)?;
            Ok(answer.row_count)
        }
    }
}

/// What the generator checks of a `/v1/metrics` answer.
#[derive(serde::Deserialize)]
struct MetricsShape {
    totals: HashMap<String, IgnoredAny>,
    series: Option<Vec<IgnoredAny>>,
    groups: Option<Vec<IgnoredAny>>,
}

/// What the generator checks of a SQL answer.
#[derive(serde::Deserialize)]
struct SqlShape {
    row_count: u64,
}

/// The same SQL through the engine in this process, without HTTP and JSON:
/// what the query layer itself costs, for a fair comparison with DuckDB.
pub(crate) async fn in_process(
    stack: &QueryStack,
    sql: &str,
    runs: usize,
) -> anyhow::Result<Latencies> {
    let request = SqlRequest {
        sql: sql.to_owned(),
        ..SqlRequest::default()
    };
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs + WARMUP {
        let started = Instant::now();
        stack
            .state
            .engine()
            .sql(&stack.busy, &request)
            .await
            .map_err(|e| anyhow::anyhow!("in-process query failed: {e}"))?;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    Ok(Latencies::new(samples))
}

/// A `/v1/metrics` request through the query layer in this process, without
/// HTTP and without a client parsing the answer: what answering costs the
/// service. Also the answer's size in bytes.
pub(crate) async fn in_process_metrics(
    stack: &QueryStack,
    params: &str,
    runs: usize,
) -> anyhow::Result<(Latencies, usize)> {
    use revstream_query::metrics::{MetricsParams, MetricsRequest, compute};
    let mut p = MetricsParams::default();
    for (k, v) in url::form_urlencoded::parse(params.as_bytes()) {
        if !p.set(&k, v.into_owned()) {
            bail!("unknown metrics parameter {k}");
        }
    }
    let request = MetricsRequest::parse(&p).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut samples = Vec::with_capacity(runs);
    let mut bytes = 0;
    for i in 0..runs + WARMUP {
        let started = Instant::now();
        let answer = compute(stack.state.engine(), &stack.busy, chrono_tz::UTC, &request)
            .await
            .map_err(|e| anyhow::anyhow!("in-process metrics failed: {e}"))?;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
        bytes = answer.len();
    }
    Ok((Latencies::new(samples), bytes))
}

/// Requests per concurrency level, and no fewer than 2 per client.
pub(crate) fn requests_for(total: usize, concurrency: usize) -> usize {
    total.max(2 * concurrency)
}
