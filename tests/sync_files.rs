//! File imports: provider list pages, NDJSON canonical events and CSV rows
//! with a column mapping, through a real local log; errors name the line
//! and the column; re-imports change nothing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod sync_support;

use std::collections::HashSet;

use revstream_ingest::sync::{
    CsvMapping, NoProgress, Provider, import_csv, import_ndjson, import_pages, run_pull,
};
use revstream_registry::SyncStatus;
use serde_json::json;
use sync_support::*;

fn distinct_ids(events: &[revstream_schemas::CanonicalEvent]) -> HashSet<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

#[tokio::test]
async fn stripe_page_files_import_like_a_pull_and_reimport_changes_nothing() {
    // The same account, once pulled and once exported as list pages.
    let p = FakeProvider::start().await;
    stripe_account(&p);
    let pulled = Harness::new().await;
    pulled.credential("stripe", TOKEN).await;
    let target = pulled.target();
    let run = target.start("stripe", "pull").await.unwrap();
    run_pull(&target, Provider::Stripe, &p.options(), run, &NoProgress).await;

    let h = Harness::new().await;
    let mut pages = Vec::new();
    for (path, cursor) in [
        ("/v1/customers", ""),
        ("/v1/customers", "cus_2"),
        ("/v1/subscriptions", ""),
        ("/v1/subscriptions", "sub_2"),
        ("/v1/charges", ""),
        ("/v1/refunds", ""),
    ] {
        pages.push(fetch_page(&p, path, cursor).await);
    }
    let file = h.dir.path().join("stripe-pages.json");
    std::fs::write(&file, serde_json::to_vec(&pages).unwrap()).unwrap();

    let target = h.target();
    let run = target.start("stripe", "file").await.unwrap();
    let run = import_pages(&target, Provider::Stripe, &file, run, &NoProgress).await;
    assert_eq!(run.status, SyncStatus::Succeeded, "{:?}", run.error);
    assert_eq!((run.counts.seen, run.counts.created), (9, 9));
    assert_eq!(h.derived().await, pulled.derived().await);
    assert_eq!(
        distinct_ids(&h.events().await),
        distinct_ids(&pulled.events().await)
    );

    let before = h.events().await.len();
    let run = target.start("stripe", "file").await.unwrap();
    let again = import_pages(&target, Provider::Stripe, &file, run, &NoProgress).await;
    assert_eq!(again.counts.unchanged, 9);
    assert_eq!(h.events().await.len(), before);
}

async fn fetch_page(p: &FakeProvider, path: &str, cursor: &str) -> serde_json::Value {
    let mut url = format!("{}{path}?limit=100", p.base);
    if !cursor.is_empty() {
        url.push_str(&format!("&starting_after={cursor}"));
    }
    reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_page_file_in_the_wrong_format_is_named() {
    let h = Harness::new().await;
    let file = h.dir.path().join("calendly.json");
    std::fs::write(&file, r#"{"data": []}"#).unwrap();
    let target = h.target();
    let run = target.start("calendly", "file").await.unwrap();
    let run = import_pages(&target, Provider::Calendly, &file, run, &NoProgress).await;
    assert_eq!(run.status, SyncStatus::Failed);
    let error = run.error.unwrap();
    assert!(
        error.contains("calendly.json: page 1: `collection` must be an array"),
        "{error}"
    );
}

#[tokio::test]
async fn ndjson_imports_good_lines_and_names_the_bad_ones() {
    let h = Harness::new().await;
    let good = |id: &str, amount: i64| {
        json!({"id": id, "type": "payment.succeeded", "occurred_at": "2026-01-05T10:00:00Z",
               "payment": {"id": id, "amount": amount, "currency": "usd", "paid_at": "2026-01-05T10:00:00Z"}})
        .to_string()
    };
    let text = [
        good("p1", 100),
        good("p2", 200),
        r#"{"id": "p3", "type": "payment.succeeded", oops}"#.to_owned(),
        good("p4", -5),
        String::new(),
        good("p5", 500),
    ]
    .join("\n");
    let file = h.dir.path().join("events.ndjson");
    std::fs::write(&file, text).unwrap();
    let target = h.target();
    let run = target.start("ndjson", "file").await.unwrap();
    let run = import_ndjson(&target, &file, run, &NoProgress).await;
    assert_eq!(run.status, SyncStatus::Failed);
    assert_eq!(
        (run.counts.seen, run.counts.created, run.counts.failed),
        (5, 3, 2)
    );
    let error = run.error.unwrap();
    assert!(
        error.contains("events.ndjson: line 3, column 43: not valid JSON"),
        "{error}"
    );
    assert!(
        error.contains("events.ndjson: line 4, field payment.amount"),
        "{error}"
    );
    let d = h.derived().await;
    assert_eq!(d.daily.iter().map(|r| r.cash_collected).sum::<i64>(), 800);
    assert!(h.events().await.iter().all(|e| e.source.as_str() == "api"));

    // Re-importing appends the same ids: the tables do not change.
    let run = target.start("ndjson", "file").await.unwrap();
    import_ndjson(&target, &file, run, &NoProgress).await;
    assert_eq!(h.derived().await, d);
}

const DEALS: &str = "\
Deal,Cents,Closed on,Email,Rep
d-1,490000,2026-02-01T15:00:00Z,ada@example.com,ann
d-2,250000,2026-02-03T15:00:00Z,bob@example.com,ann
d-3,forty,2026-02-04T15:00:00Z,cy@example.com,ann
d-4,120000,,dee@example.com,ann
";

fn deal_mapping() -> CsvMapping {
    serde_json::from_value(json!({
        "constants": {"type": "payment.succeeded", "payment.currency": "usd"},
        "columns": {"Deal": "payment.id", "Cents": "payment.amount",
                    "Closed on": "payment.paid_at", "Email": "payment.customer.id"}
    }))
    .unwrap()
}

#[tokio::test]
async fn csv_rows_map_to_events_with_content_ids_and_errors_name_line_and_column() {
    let h = Harness::new().await;
    let file = h.dir.path().join("deals.csv");
    std::fs::write(&file, DEALS).unwrap();
    let target = h.target();
    let run = target.start("csv", "file").await.unwrap();
    let run = import_csv(&target, &file, &deal_mapping(), run, &NoProgress).await;
    assert_eq!(run.status, SyncStatus::Failed);
    let error = run.error.unwrap();
    assert_eq!(
        (run.counts.seen, run.counts.created, run.counts.failed),
        (4, 2, 2),
        "{error}"
    );
    assert!(
        error
            .contains("deals.csv: line 4, column 2 (Cents): payment.amount must be a whole number"),
        "{error}"
    );
    assert!(
        error.contains("deals.csv: line 5, occurred_at is not mapped"),
        "{error}"
    );
    let events = h.events().await;
    assert!(
        events
            .iter()
            .all(|e| e.id.as_str().starts_with("csv_") && e.source.as_str() == "csv")
    );
    let d = h.derived().await;
    assert_eq!(
        d.daily.iter().map(|r| r.cash_collected).sum::<i64>(),
        740_000
    );

    // The same rows again: same ids, same tables. An edited row is new.
    let run = target.start("csv", "file").await.unwrap();
    import_csv(&target, &file, &deal_mapping(), run, &NoProgress).await;
    assert_eq!(h.derived().await, d);
    assert_eq!(distinct_ids(&h.events().await).len(), 2);

    std::fs::write(&file, DEALS.replace("d-2,250000", "d-2,260000")).unwrap();
    let run = target.start("csv", "file").await.unwrap();
    import_csv(&target, &file, &deal_mapping(), run, &NoProgress).await;
    assert_eq!(distinct_ids(&h.events().await).len(), 3);
}

#[tokio::test]
async fn csv_mappings_name_missing_columns_and_bad_mapping_files() {
    let h = Harness::new().await;
    let file = h.dir.path().join("deals.csv");
    std::fs::write(&file, DEALS).unwrap();
    let mut mapping = deal_mapping();
    mapping.map_flag("Amount=payment.amount").unwrap();
    let target = h.target();
    let run = target.start("csv", "file").await.unwrap();
    let run = import_csv(&target, &file, &mapping, run, &NoProgress).await;
    let error = run.error.unwrap();
    assert!(
        error.contains("the mapping names column \"Amount\""),
        "{error}"
    );
    assert!(mapping.map_flag("no-equals-sign").is_err());

    let map_file = h.dir.path().join("map.json");
    std::fs::write(&map_file, "{\"columns\": {\"a\": 1}}").unwrap();
    let e = CsvMapping::from_file(&map_file).unwrap_err().to_string();
    assert!(e.contains("map.json: line 1, column"), "{e}");
}
