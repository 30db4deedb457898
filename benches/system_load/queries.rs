//! Scenario 4: `/v1/metrics` and ad-hoc SQL for a busy tenant with a year
//! of history, at concurrency 1 and 16, next to DuckDB on the same files.
//!
//! ```text
//!  busy tenant (a year) + 9 small ones ─▶ pipeline ─▶ Delta tables ─┬─▶ revstream over HTTP (c = 1, 16)
//!                                                                   ├─▶ revstream engine in process (c = 1)
//!                                                                   └─▶ DuckDB read_parquet(live files) (c = 1)
//! ```

use anyhow::bail;
use indicatif::ProgressBar;

use super::duckdb::{self, DuckOutcome};
use super::generator::{StreamSpec, tenant_events, tenant_id};
use super::latency::{fmt_ms, thousands};
use super::report::{Outcome, Section, Target};
use super::requests::{Query, in_process, in_process_metrics, measure, requests_for};
use super::settings::Settings;
use super::stack::{BUSY, QueryStack};

const CONCURRENCY: [usize; 2] = [1, 16];
const METRICS_P50_MS: f64 = 10.0;
const METRICS_P99_MS: f64 = 50.0;

/// Analyst-like SQL, as in `query/tests/golden/`: plain SQL both engines speak.
pub(crate) const SQL: [(&str, &str); 4] = [
    (
        "SQL: net MRR change by month",
        "SELECT date_trunc('month', day) AS month, currency, SUM(amount) AS net_change \
         FROM mrr_movements GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "SQL: cash by month (GROUP BY over payments)",
        "SELECT date_trunc('month', paid_day) AS month, currency, COUNT(*) AS payments, \
         SUM(amount) AS gross, SUM(refunded_amount) AS refunded \
         FROM payments WHERE status = 'succeeded' GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "SQL: closer leaderboard",
        "SELECT closer, \
         COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed') AS showed, \
         COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed' AND closed) AS closed \
         FROM calls GROUP BY closer ORDER BY closer NULLS LAST",
    ),
    (
        "SQL: running MRR by day (window)",
        "SELECT day, SUM(SUM(amount)) OVER (ORDER BY day) AS mrr FROM mrr_movements \
         WHERE currency = 'usd' GROUP BY day ORDER BY day",
    ),
];

/// The dashboard's requests for the whole year of history, then the
/// series again with the index off (the reference).
pub(crate) fn metrics_queries(settings: &Settings) -> Vec<Query> {
    let (from, to) = StreamSpec::new(1, settings.days, settings.seed).range();
    let span = format!("from={from}&to={to}&currency=usd");
    let metrics = |name, params: String, reference| Query::Metrics {
        name,
        params,
        reference,
    };
    vec![
        metrics(
            "/v1/metrics: a year by day",
            format!("{span}&interval=day"),
            false,
        ),
        metrics(
            "/v1/metrics: a year by month",
            format!("{span}&interval=month"),
            false,
        ),
        metrics(
            "/v1/metrics: a year by closer",
            format!("{span}&group_by=closer"),
            false,
        ),
        metrics(
            "/v1/metrics: a year by day, index off (reference)",
            format!("{span}&interval=day"),
            true,
        ),
        metrics(
            "/v1/metrics: a year by month, index off (reference)",
            format!("{span}&interval=month"),
            true,
        ),
        metrics(
            "/v1/metrics: a year by closer, index off (reference)",
            format!("{span}&group_by=closer"),
            true,
        ),
    ]
}

/// The busy tenant and `tenants - 1` small ones (`s00001`…), through the pipeline.
pub(crate) async fn build_stack(
    settings: &Settings,
    tenants: u64,
    bar: &ProgressBar,
) -> anyhow::Result<QueryStack> {
    let mut stack = QueryStack::start(settings.partitions).await?;
    bar.set_message(format!(
        "query: generating a busy tenant of {} events",
        thousands(settings.busy_events as u64)
    ));
    let busy_spec = StreamSpec::new(settings.busy_events, settings.days, settings.seed);
    let busy = stack.busy.clone();
    let mut events: Vec<_> = tenant_events(&busy_spec, 0)?
        .into_iter()
        .map(|e| (busy.clone(), e))
        .collect();
    events.extend(small_tenants(settings, 1, tenants)?);
    stack.add(events, tenants, bar).await?;
    Ok(stack)
}

/// Small tenants `first..end` (a lead, a customer, a payment or so each).
pub(crate) fn small_tenants(
    settings: &Settings,
    first: u64,
    end: u64,
) -> anyhow::Result<
    Vec<(
        revstream_schemas::TenantId,
        revstream_schemas::CanonicalEvent,
    )>,
> {
    let spec = StreamSpec::new(settings.small_events, settings.days, settings.seed ^ 0x5eed);
    let mut out = Vec::new();
    for i in first..end {
        let id = tenant_id("s", i)?;
        out.extend(
            tenant_events(&spec, i)?
                .into_iter()
                .map(|e| (id.clone(), e)),
        );
    }
    Ok(out)
}

pub(crate) async fn run(
    settings: &Settings,
    bar: &ProgressBar,
) -> anyhow::Result<(Outcome, QueryStack)> {
    let first_step = settings.tenant_steps.first().copied().unwrap_or(10).max(1);
    let stack = build_stack(settings, first_step, bar).await?;
    let events_files = stack.files(revstream_schemas::TableName::Events).await?;

    let mut latency = Section::new(
        "Queries for a busy tenant (scenario 4)",
        &[
            "request",
            "concurrency",
            "requests",
            "p50 ms",
            "p99 ms",
            "answer rows",
        ],
    );
    latency.note(format!(
        "the busy tenant: {} events over {} days, among {} tenants; tables built by the real pipeline \
         ({events_files} live `events` files)",
        thousands(settings.busy_events as u64),
        settings.days,
        stack.tenants
    ));
    latency.note(
        "over HTTP/1.1 on 127.0.0.1 with an analyst key, result cache off, default query limits \
         (8 queries at once; more wait for a slot, and the wait counts); 3 warm-up requests first; the \
         generator (same process, same cores) checks each answer's status, shape and size, parsing only \
         the fields it checks",
    );
    latency.note(
        "`/v1/metrics` is answered from the tenant's in-memory indexes, as shipped (a series index; one per \
         grouping): each is built by the first request after a commit of the tenant (the warm-ups here; a \
         build costs about one reference request), then held until the tenant's files change. The reference \
         rows ask a second server over the same tables with the indexes off, where every request runs its \
         queries",
    );
    let mut metrics_c16 = Vec::new();
    let mut sql_c1 = Vec::new();
    let mut queries = metrics_queries(settings);
    queries.extend(SQL.iter().map(|&(name, sql)| Query::Sql { name, sql }));
    for query in &queries {
        for c in CONCURRENCY {
            bar.set_message(format!("query: {} at concurrency {c}", query.name()));
            let total = requests_for(settings.query_requests, c);
            let m = measure(&stack, query, total, c).await?;
            latency.row(vec![
                query.name().to_owned(),
                c.to_string(),
                m.latencies.len().to_string(),
                fmt_ms(m.latencies.p50()),
                fmt_ms(m.latencies.p99()),
                m.rows.to_string(),
            ]);
            match (query, c) {
                (
                    Query::Metrics {
                        reference: false, ..
                    },
                    16,
                ) => metrics_c16.push(m),
                (Query::Sql { .. }, 1) => sql_c1.push(m),
                _ => {}
            }
        }
    }

    bar.set_message("query: /v1/metrics in process");
    let mut in_process_notes = Vec::new();
    for query in &queries {
        if let Query::Metrics {
            name,
            params,
            reference: false,
        } = query
        {
            let (l, bytes) = in_process_metrics(&stack, params, settings.query_requests).await?;
            in_process_notes.push(format!(
                "{}: p50 {} / p99 {} ms, {} KB",
                name.trim_start_matches("/v1/metrics: "),
                fmt_ms(l.p50()),
                fmt_ms(l.p99()),
                thousands(bytes as u64 / 1024)
            ));
        }
    }
    latency.note(format!(
        "`/v1/metrics` as shipped through the query layer in this process (no HTTP, no client parsing the \
         answer), concurrency 1: {}",
        in_process_notes.join("; ")
    ));

    bar.set_message("query: the same SQL in process and in DuckDB");
    let mut engine = Vec::new();
    for (_, sql) in SQL {
        engine.push(in_process(&stack, sql, settings.query_requests).await?);
    }
    let files = duckdb::tenant_files(&stack.root, BUSY).await?;
    let file_count: usize = files.values().map(Vec::len).sum();
    let duck = duckdb::run(&settings.python, BUSY, files, &SQL, settings.query_requests).await?;

    let mut versus = Section::new(
        "Ad-hoc SQL: revstream next to DuckDB on the same Parquet files (scenario 4)",
        &[
            "query",
            "revstream HTTP p50 / p99 ms",
            "revstream in-process p50 / p99 ms",
            "DuckDB p50 / p99 ms",
            "HTTP ÷ DuckDB (p50)",
            "in-process ÷ DuckDB (p50)",
        ],
    );
    versus.note(format!(
        "concurrency 1, {} runs each after 3 warm-ups; DuckDB reads the {file_count} live Parquet files of the busy \
         tenant's partitions (listed from the Delta snapshots) through read_parquet views with the same table \
         names, tenant-filtered, with as many threads as cores; its time is measured inside Python around \
         execute + fetchall, so it has no HTTP or JSON encoding: compare it with the in-process column first",
        settings.query_requests
    ));
    let mut worst_ratio: Option<f64> = None;
    let mut duck_note = None;
    match &duck {
        DuckOutcome::Unavailable(why) => {
            duck_note = Some(why.clone());
            versus.note(format!("DuckDB not measured: {why}"));
        }
        DuckOutcome::Measured { version, .. } => versus.note(format!("DuckDB {version}")),
    }
    for (((name, _), http), local) in SQL.iter().zip(&sql_c1).zip(&engine) {
        let (duck_cell, http_ratio, local_ratio) = match &duck {
            DuckOutcome::Measured { queries, .. } => {
                let Some(d) = queries.get(*name) else {
                    bail!("DuckDB did not report {name}");
                };
                if d.rows != http.rows {
                    bail!(
                        "{name}: DuckDB answered {} rows, revstream {}: the engines disagree",
                        d.rows,
                        http.rows
                    );
                }
                let ratio = http.latencies.p50() / d.latencies.p50();
                worst_ratio = Some(worst_ratio.map_or(ratio, |w: f64| w.max(ratio)));
                (
                    format!(
                        "{} / {}",
                        fmt_ms(d.latencies.p50()),
                        fmt_ms(d.latencies.p99())
                    ),
                    format!("{ratio:.2}"),
                    format!("{:.2}", local.p50() / d.latencies.p50()),
                )
            }
            DuckOutcome::Unavailable(_) => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        versus.row(vec![
            (*name).to_owned(),
            format!(
                "{} / {}",
                fmt_ms(http.latencies.p50()),
                fmt_ms(http.latencies.p99())
            ),
            format!("{} / {}", fmt_ms(local.p50()), fmt_ms(local.p99())),
            duck_cell,
            http_ratio,
            local_ratio,
        ]);
    }

    let worst_p50 = metrics_c16
        .iter()
        .map(|m| m.latencies.p50())
        .fold(0.0, f64::max);
    let worst_p99 = metrics_c16
        .iter()
        .map(|m| m.latencies.p99())
        .fold(0.0, f64::max);
    let targets = vec![
        Target::new(
            "`/v1/metrics`, a year of a busy tenant, concurrency 16: p50",
            "≤ 10 ms",
            format!(
                "{} ms (the slowest of {} dashboard requests)",
                fmt_ms(worst_p50),
                metrics_c16.len()
            ),
            Some(worst_p50 <= METRICS_P50_MS),
        ),
        Target::new(
            "`/v1/metrics`, a year of a busy tenant, concurrency 16: p99",
            "≤ 50 ms",
            format!(
                "{} ms (the slowest of {} dashboard requests)",
                fmt_ms(worst_p99),
                metrics_c16.len()
            ),
            Some(worst_p99 <= METRICS_P99_MS),
        ),
        Target::new(
            "Ad-hoc SQL over HTTP vs DuckDB on the same files (p50)",
            "no slower (ratio ≤ 1.00)",
            match (worst_ratio, &duck_note) {
                (Some(r), _) => format!("worst ratio {r:.2} over {} queries", SQL.len()),
                (None, Some(why)) => format!("DuckDB unavailable: {why}"),
                (None, None) => "no SQL measured".to_owned(),
            },
            worst_ratio.map(|r| r <= 1.0),
        ),
    ];
    Ok((
        Outcome {
            sections: vec![latency, versus],
            targets,
        },
        stack,
    ))
}
