//! The query routes' Prometheus metrics over real TCP: latency by route and
//! status, refusals by error code, result cache hits and misses.

use revstream_query::TablesOptions;
use serde_json::json;

use crate::support::{Server, error_of, standard_fixture, test_config};

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_refusals_and_cache_are_counted() {
    let f = standard_fixture().await;
    let s = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    let key = &s.acme.analyst;
    let sql = json!({"sql": "SELECT count(*) AS n FROM payments"});

    // Same query twice: computed, then served from the cache.
    for expected in ["miss", "hit"] {
        let r = s.post(key, sql.clone()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-revstream-cache"], expected);
    }
    let r = s
        .post(key, json!({"sql": "SELECT nope FROM payments"}))
        .await;
    assert_eq!(error_of(r).await.1, "invalid_sql");
    let r = s.post(key, json!({"sql": "DROP TABLE payments"})).await;
    assert_eq!(error_of(r).await.0, 403);
    let r = s.get("rsk_not_a_key", "/v1/tables").await;
    assert_eq!(r.status(), 401);
    let r = s.get(key, "/v1/tables").await;
    assert_eq!(r.status(), 200);

    let text = s.metrics_text();
    let count = |route: &str, status: u16| {
        value(
            &text,
            &format!(
                r#"revstream_query_request_duration_seconds_count{{route="{route}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(count("query", 200), Some(2.0), "{text}");
    assert_eq!(count("query", 400), Some(1.0), "{text}");
    assert_eq!(count("query", 403), Some(1.0), "{text}");
    assert_eq!(count("tables", 401), Some(1.0), "{text}");
    assert_eq!(count("tables", 200), Some(1.0), "{text}");
    let rejected = |route: &str, code: &str| {
        value(
            &text,
            &format!(r#"revstream_query_rejected_total{{route="{route}",code="{code}"}}"#),
        )
    };
    assert_eq!(rejected("query", "invalid_sql"), Some(1.0), "{text}");
    assert_eq!(
        rejected("query", "forbidden_statement"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(rejected("tables", "unauthorized"), Some(1.0), "{text}");
    // Successes are not refusals.
    assert!(!text.contains(r#"code="ok""#));
    assert_eq!(value(&text, "revstream_query_cache_hits_total"), Some(1.0));
    assert_eq!(
        value(&text, "revstream_query_cache_misses_total"),
        Some(2.0)
    );
}
