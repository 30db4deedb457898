//! Informal latency of `/v1/metrics` for one busy tenant (a year of daily
//! activity) among quieter ones. Ignored by default:
//! `cargo test -p revstream-query --test it perf -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use revstream_query::{QueryConfig, TablesOptions};
use serde_json::json;

use crate::support::{
    Fixture, Server, append, booked, call_event, drain, outcome, payment, subscription, test_config,
};

fn busy_year() -> Vec<revstream_schemas::CanonicalEvent> {
    let mut events = Vec::new();
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    for day in 0..365u64 {
        let date = start + chrono::Days::new(day);
        let at = |hour: u32, minute: u32| format!("{date}T{hour:02}:{minute:02}:00Z");
        // A new customer a day, a plan change for an older one, churn weekly.
        events.push(subscription(
            &format!("s{day}"),
            &at(14, 0),
            &format!("c{day}"),
            5_000 + (day as i64 % 7) * 1_000,
            "active",
            "usd",
        ));
        if day > 30 {
            let c = format!("c{}", day - 30);
            events.push(subscription(
                &format!("u{day}"),
                &at(15, 0),
                &c,
                9_000,
                "active",
                "usd",
            ));
        }
        if day > 60 && day % 7 == 0 {
            let c = format!("c{}", day - 60);
            events.push(subscription(
                &format!("x{day}"),
                &at(16, 0),
                &c,
                9_000,
                "canceled",
                "usd",
            ));
        }
        // Ten calls a day with outcomes, and the payments they bring.
        for n in 0..10u32 {
            let call = format!("k{day}_{n}");
            let email = format!("lead{day}_{n}@example.com");
            let closer = ["alice", "bob", "carol", "dan"][n as usize % 4];
            events.push(booked(
                &call,
                &at(12, n),
                &at(17, n),
                &email,
                json!({"closer": closer, "setter": "sam", "source": "ads", "call_type": "sales"}),
            ));
            match n % 3 {
                0 => events.push(call_event(
                    &format!("ns{day}_{n}"),
                    "no_show",
                    &at(18, n),
                    &call,
                )),
                _ => events.push(outcome(
                    &format!("o{day}_{n}"),
                    &at(18, n),
                    &call,
                    true,
                    n % 2 == 0,
                    n % 4 == 0,
                )),
            }
            if n % 4 == 0 {
                events.push(payment(
                    &format!("p{day}_{n}"),
                    &at(19, n),
                    100_000,
                    "usd",
                    &format!("cl{day}_{n}"),
                    &email,
                ));
            }
        }
    }
    events
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test]
#[ignore = "informal benchmark"]
async fn metrics_latency_for_a_busy_tenant() {
    let mut f = Fixture::new().await;
    let started = Instant::now();
    let events = busy_year();
    let n = events.len();
    append(&f.log, "acme", events).await;
    for t in 0..50 {
        let tenant = format!("quiet{t}");
        append(
            &f.log,
            &tenant,
            vec![subscription(
                "s1",
                "2025-03-01T12:00:00Z",
                "c1",
                1_000,
                "active",
                "usd",
            )],
        )
        .await;
    }
    drain(&mut f.pipeline).await;
    println!(
        "fixture: {n} events for acme + 50 quiet tenants in {:?}",
        started.elapsed()
    );

    let config = QueryConfig {
        cache_bytes: 0,
        timeout: Duration::from_secs(60),
        ..test_config()
    };
    let s = Server::start(
        f.tables(TablesOptions {
            max_staleness: Duration::from_secs(3600),
            commits: None,
            staged: None,
        })
        .await,
        config,
    )
    .await;
    for (label, query) in [
        (
            "year by day",
            "from=2025-01-01&to=2025-12-31&interval=day&currency=usd",
        ),
        (
            "year by month",
            "from=2025-01-01&to=2025-12-31&interval=month&currency=usd",
        ),
        ("month by day", "from=2025-06-01&to=2025-06-30&currency=usd"),
        (
            "year by closer",
            "from=2025-01-01&to=2025-12-31&group_by=closer&currency=usd",
        ),
    ] {
        let url = format!("/v1/metrics?{query}");
        let first = s.get(&s.acme.viewer, &url).await;
        assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
        let mut times = Vec::new();
        for _ in 0..40 {
            let t = Instant::now();
            let resp = s.get(&s.acme.viewer, &url).await;
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{label:16} p50 {:>8.1?}  p99 {:>8.1?}  (n = {})",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        );
    }
}
