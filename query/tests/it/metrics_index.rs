//! `/v1/metrics` answered from the in-memory indexes (series and groups)
//! equal the answers of the queries they replace, and the indexes follow
//! commits: a commit of the tenant is seen at once, another tenant's
//! builds nothing.

use revstream_query::{QueryConfig, TablesOptions};
use serde_json::Value;

use crate::support::{ADMIN_TOKEN, Server, payment, standard_fixture, subscription, test_config};

fn config(metrics_index_bytes: usize) -> QueryConfig {
    QueryConfig {
        cache_bytes: 0,
        metrics_index_bytes,
        ..test_config()
    }
}

/// Status and body of an admin request for `tenant`.
async fn answer(s: &Server, tenant: &str, query: &str) -> (u16, Value) {
    let resp = s
        .get(ADMIN_TOKEN, &format!("/v1/metrics?tenant={tenant}&{query}"))
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// The builds counter of a server's Prometheus text.
fn builds(s: &Server) -> u64 {
    let text = s.metrics_text();
    let line = text
        .lines()
        .find(|l| l.starts_with("revstream_query_metrics_index_builds_total "))
        .unwrap_or_else(|| panic!("no builds counter in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_index_answers_as_the_queries_do() {
    let f = standard_fixture().await;
    let indexed = Server::start(f.tables(TablesOptions::default()).await, config(64 << 20)).await;
    let queried = Server::start(f.tables(TablesOptions::default()).await, config(0)).await;
    // A budget too small to hold any index: each (tenant, shape) is built
    // once, found too large, and queried from then on.
    let oversized = Server::start(f.tables(TablesOptions::default()).await, config(8)).await;
    let ranges = [
        "from=2026-01-01&to=2026-03-31",
        "from=2025-12-15&to=2026-02-10",
        "from=2026-02-14&to=2026-02-14",
        // k7 is booked on 2026-03-01 in UTC, on 02-28 in New York.
        "from=2026-03-01&to=2026-03-15",
        "from=2026-04-01&to=2026-06-30",
        "from=2020-01-01&to=2029-12-31",
    ];
    let shapes = [
        "",
        "&interval=week",
        "&interval=month",
        "&metrics=mrr,mrr_start,active_customers,nrr,arpu",
        "&metrics=showed,close_rate,booked_calls",
        "&metrics=cash_collected,refunds,net_revenue&interval=month",
        "&group_by=closer",
        "&group_by=setter&metrics=booked_calls,showed,cash_collected",
        "&group_by=source",
        "&group_by=call_type&metrics=cash_collected,refunds,close_rate",
    ];
    let currencies = ["", "&currency=usd", "&currency=eur", "&currency=gbp"];
    let mut compared = 0;
    for tenant in ["acme", "beta", "gamma"] {
        for range in ranges {
            for shape in shapes {
                for currency in currencies {
                    let query = format!("{range}{shape}{currency}");
                    let want = answer(&queried, tenant, &query).await;
                    let got = answer(&indexed, tenant, &query).await;
                    assert_eq!(got, want, "{tenant}: {query}");
                    let got = answer(&oversized, tenant, &query).await;
                    assert_eq!(got, want, "{tenant}: {query} (indexes too large to hold)");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 3 * 6 * 10 * 4);
    // Every request of a tenant came from its indexes: per tenant one
    // series index and one per grouping; none by the server that queries.
    assert_eq!(builds(&indexed), 3 * 5);
    assert_eq!(builds(&queried), 0);
    assert_eq!(
        builds(&oversized),
        3 * 5,
        "one build told each was too large"
    );
    // The comparison covered answers with money, MRR, groups and errors.
    let (status, acme) = answer(
        &indexed,
        "acme",
        "from=2026-01-01&to=2026-03-31&currency=usd",
    )
    .await;
    assert_eq!(status, 200);
    assert!(acme["totals"]["mrr"].as_i64().unwrap() > 0, "{acme}");
    let (status, _) = answer(&indexed, "acme", "from=2026-01-01&to=2026-03-31").await;
    assert_eq!(status, 400, "acme has two currencies");
    let (status, closers) = answer(
        &indexed,
        "acme",
        "from=2026-01-01&to=2026-03-31&currency=usd&group_by=closer",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        closers["groups"].as_array().unwrap().len() >= 2,
        "{closers}"
    );
    assert!(
        closers["totals"]["cash_collected"].as_i64().unwrap() > 0,
        "{closers}"
    );
}

#[tokio::test]
async fn a_commit_of_the_tenant_is_seen_and_another_tenants_builds_nothing() {
    let mut f = standard_fixture().await;
    let tables = f.tables(TablesOptions::default()).await;
    let s = Server::start(tables.clone(), config(64 << 20)).await;
    let query = "from=2026-01-01&to=2026-03-31&interval=month&currency=usd";
    let grouped = "from=2026-01-01&to=2026-03-31&currency=usd&group_by=closer";
    let (_, before) = answer(&s, "beta", query).await;
    let (_, again) = answer(&s, "beta", query).await;
    assert_eq!(before, again);
    let (_, groups_before) = answer(&s, "beta", grouped).await;
    assert_eq!(builds(&s), 2, "a series index and a closer index");

    // Another tenant commits: beta's files are unchanged, so is its index.
    f.ingest(
        "acme",
        vec![payment(
            "late-acme",
            "2026-02-02T12:00:00Z",
            100,
            "usd",
            "c1",
            "c1@example.com",
        )],
    )
    .await;
    tables.refresh().await;
    let (_, after_acme) = answer(&s, "beta", query).await;
    assert_eq!(after_acme, before);
    assert_eq!(answer(&s, "beta", grouped).await.1, groups_before);
    assert_eq!(
        builds(&s),
        2,
        "another tenant's commit rebuilt beta's indexes"
    );

    // beta commits a payment and a new subscription: the next answer
    // counts both.
    f.ingest(
        "beta",
        vec![
            payment(
                "late-beta",
                "2026-02-03T12:00:00Z",
                2_500,
                "usd",
                "b9",
                "b9@example.com",
            ),
            subscription(
                "late-sub",
                "2026-02-03T13:00:00Z",
                "b9",
                1_000,
                "active",
                "usd",
            ),
        ],
    )
    .await;
    tables.refresh().await;
    let (status, after) = answer(&s, "beta", query).await;
    assert_eq!(status, 200, "{after}");
    let (_, groups_after) = answer(&s, "beta", grouped).await;
    assert_eq!(builds(&s), 4);
    let cash = |v: &Value| v["totals"]["cash_collected"].as_i64().unwrap();
    let mrr = |v: &Value| v["totals"]["mrr"].as_i64().unwrap();
    assert_eq!(cash(&after), cash(&before) + 2_500);
    assert_eq!(mrr(&after), mrr(&before) + 1_000);
    assert_eq!(cash(&groups_after), cash(&groups_before) + 2_500);
}
