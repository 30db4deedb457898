//! Scenario 5: does one tenant's query get slower as other tenants are
//! added? The busy tenant's queries at 10, 1,000 and 10,000 tenants (by
//! default), the small tenants added through the real pipeline between
//! steps, into the same tables.

use std::time::Instant;

use indicatif::ProgressBar;
use revstream_schemas::TableName;

use super::latency::{fmt_ms, thousands};
use super::queries::{SQL, build_stack, metrics_queries, small_tenants};
use super::report::{Outcome, Section, Target};
use super::requests::{Query, measure};
use super::settings::Settings;
use super::stack::QueryStack;

const MAX_RATIO: f64 = 1.5;

pub(crate) async fn run(
    settings: &Settings,
    stack: Option<QueryStack>,
    bar: &ProgressBar,
) -> anyhow::Result<Outcome> {
    let first = settings.tenant_steps.first().copied().unwrap_or(10);
    let mut stack = match stack {
        Some(stack) => stack,
        None => build_stack(settings, first, bar).await?,
    };
    // A dashboard request and an analyst query, the same at every step.
    let queries = [
        metrics_queries(settings).swap_remove(1),
        Query::Sql {
            name: SQL[0].0,
            sql: SQL[0].1,
        },
    ];
    let mut section = Section::new(
        "Query latency as tenants are added (scenario 5)",
        &[
            "tenants",
            "build s",
            "`events` files",
            "`payments` files",
            "request",
            "p50 ms",
            "p99 ms",
        ],
    );
    section.note(format!(
        "the busy tenant of scenario 4 plus small tenants of {} events each, all through the real pipeline \
         into the same tables; concurrency 1, {} requests per row after 3 warm-ups, result cache off",
        settings.small_events, settings.query_requests
    ));
    // p50 and p99 per query at each step.
    let mut seen: Vec<Vec<(f64, f64)>> = vec![Vec::new(); queries.len()];
    for &step in &settings.tenant_steps {
        let started = Instant::now();
        if stack.tenants < step {
            bar.set_message(format!(
                "tenants: adding {} small tenants",
                thousands(step - stack.tenants)
            ));
            let events = small_tenants(settings, stack.tenants, step)?;
            let added = step - stack.tenants;
            stack.add(events, added, bar).await?;
        }
        let build = started.elapsed();
        let events_files = stack.files(TableName::Events).await?;
        let payment_files = stack.files(TableName::Payments).await?;
        for (i, query) in queries.iter().enumerate() {
            bar.set_message(format!(
                "tenants: {} at {} tenants",
                query.name(),
                thousands(step)
            ));
            let m = measure(&stack, query, settings.query_requests, 1).await?;
            section.row(vec![
                thousands(stack.tenants),
                format!("{:.1}", build.as_secs_f64()),
                thousands(events_files as u64),
                thousands(payment_files as u64),
                query.name().to_owned(),
                fmt_ms(m.latencies.p50()),
                fmt_ms(m.latencies.p99()),
            ]);
            seen[i].push((m.latencies.p50(), m.latencies.p99()));
        }
    }
    stack.stop().await;

    let first_n = thousands(first);
    let last_n = thousands(settings.tenant_steps.last().copied().unwrap_or(first));
    let mut worst = 0.0f64;
    let mut measured = Vec::new();
    for (query, steps) in queries.iter().zip(&seen) {
        if let (Some(a), Some(b)) = (steps.first(), steps.last()) {
            let ratio = b.0 / a.0;
            worst = worst.max(ratio);
            measured.push(format!(
                "{}: p50 {} → {} ms (×{ratio:.2}), p99 {} → {} ms",
                query.name(),
                fmt_ms(a.0),
                fmt_ms(b.0),
                fmt_ms(a.1),
                fmt_ms(b.1)
            ));
        }
    }
    let target = Target::new(
        &format!("Query latency at {last_n} tenants vs {first_n} (p50)"),
        "≤ 1.5 ×",
        measured.join("; "),
        (settings.tenant_steps.len() > 1).then_some(worst <= MAX_RATIO),
    );
    Ok(Outcome {
        sections: vec![section],
        targets: vec![target],
    })
}
