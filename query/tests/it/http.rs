//! Every status code of the query routes over real TCP: 200 in each
//! format, 400, 401, 403, 404, 408, 413, 503, and the admin token with
//! `?tenant=`.

use std::time::Duration;

use arrow::array::RecordBatch;
use deltalake::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use revstream_query::{QueryConfig, TablesOptions};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, Server, error_of, json_of, standard_fixture, test_config};

const SQL: &str = "SELECT payment_id, amount, paid_day, closer FROM payments WHERE currency = 'usd' ORDER BY payment_id";

async fn server(config: QueryConfig) -> (Server, crate::support::Fixture) {
    let f = standard_fixture().await;
    let s = Server::start(f.tables(TablesOptions::default()).await, config).await;
    (s, f)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn answers_in_every_format() {
    let (s, _f) = server(test_config()).await;
    let key = &s.acme.viewer;

    // JSON: exactly the documented shape.
    let resp = s.post(key, json!({"sql": SQL})).await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-revstream-row-count"], "6");
    let body = json_of(resp).await;
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["columns", "elapsed_ms", "row_count", "rows", "truncated"]
    );
    assert_eq!(
        body["columns"][0],
        json!({"name": "payment_id", "type": body["columns"][0]["type"]})
    );
    assert_eq!(body["columns"][1]["type"], "Int64");
    assert_eq!(body["columns"][2]["type"], "Date32");
    assert_eq!(body["row_count"], 6);
    assert_eq!(body["truncated"], false);
    assert!(body["elapsed_ms"].is_u64());
    assert_eq!(
        body["rows"],
        json!([
            ["p1", 10000, "2026-01-05", null],
            ["p2", 5000, "2026-01-10", null],
            ["p3", 15000, "2026-02-10", null],
            ["p4", 9999, "2026-02-12", null],
            ["p5", 50000, "2026-02-20", "alice"],
            ["p7", 30000, "2026-03-04", "bob"],
        ])
    );

    // NDJSON: one object per row.
    let resp = s.post(key, json!({"sql": SQL, "format": "ndjson"})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[4],
        json!({"payment_id": "p5", "amount": 50000, "paid_day": "2026-02-20", "closer": "alice"})
    );
    assert_eq!(lines[0]["closer"], Value::Null);

    // CSV with a header line.
    let resp = s.post(key, json!({"sql": SQL, "format": "csv"})).await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "payment_id,amount,paid_day,closer");
    assert_eq!(lines[5], "p5,50000,2026-02-20,alice");
    assert_eq!(lines.len(), 7);

    // Arrow IPC stream.
    let resp = s.post(key, json!({"sql": SQL, "format": "arrow"})).await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let bytes = resp.bytes().await.unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None)
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(rows(&batches), 6);
    assert_eq!(batches[0].schema().field(1).name(), "amount");

    // Parquet.
    let resp = s.post(key, json!({"sql": SQL, "format": "parquet"})).await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let bytes = resp.bytes().await.unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(rows(&batches), 6);

    // GET with the SQL in the query string.
    let url = format!("/v1/query?format=csv&sql={}", urlencode(SQL));
    let resp = s.get(key, &url).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().lines().count(), 7);
    let url = format!("/v1/query?sql={}", urlencode("SELECT 1 AS one"));
    assert_eq!(json_of(s.get(key, &url).await).await["rows"], json!([[1]]));

    // Timestamps and dates as ISO text, nulls as null.
    let body = json_of(
        s.post(key, json!({"sql": "SELECT occurred_at, day, customer_id FROM events WHERE event_id = 'evt_r2'"}))
            .await,
    )
    .await;
    assert_eq!(
        body["rows"],
        json!([["2026-01-06T04:00:00Z", "2026-01-05", null]])
    );

    // Empty results still describe their columns.
    let resp = s
        .post(
            key,
            json!({"sql": "SELECT payment_id FROM payments WHERE false", "format": "csv"}),
        )
        .await;
    assert_eq!(resp.text().await.unwrap(), "payment_id\n");
    let body = json_of(
        s.post(
            key,
            json!({"sql": "SELECT payment_id FROM payments WHERE false"}),
        )
        .await,
    )
    .await;
    assert_eq!(body["rows"], json!([]));
    assert_eq!(body["row_count"], 0);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn params_positional_and_named() {
    let (s, _f) = server(test_config()).await;
    let key = &s.acme.analyst;
    let body = json_of(
        s.post(key, json!({"sql": "SELECT payment_id FROM payments WHERE amount > $1 AND currency = $2 ORDER BY 1",
            "params": [20000, "usd"]}))
        .await,
    )
    .await;
    assert_eq!(body["rows"], json!([["p5"], ["p7"]]));
    let body = json_of(
        s.post(key, json!({"sql": "SELECT payment_id FROM payments WHERE paid_day >= $from AND closer = $who",
            "params": {"from": "2026-02-01", "who": "bob"}}))
        .await,
    )
    .await;
    assert_eq!(body["rows"], json!([["p7"]]));
    let url = format!(
        "/v1/query?sql={}&params={}",
        urlencode("SELECT $1 + 1 AS n"),
        urlencode("[41]")
    );
    assert_eq!(json_of(s.get(key, &url).await).await["rows"], json!([[42]]));

    let (status, code, message) = error_of(
        s.post(key, json!({"sql": "SELECT $1", "params": [[1, 2]]}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    assert!(message.contains("$1"), "{message}");
    let (status, code, _) = error_of(
        s.post(key, json!({"sql": "SELECT $2", "params": [1]}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_sql"));
}

#[tokio::test]
async fn every_error_status() {
    let config = QueryConfig {
        timeout: Duration::from_millis(1_500),
        ..test_config()
    };
    let (s, _f) = server(config).await;
    let key = &s.acme.viewer;
    let q = |sql: &str| json!({"sql": sql});

    // 400
    let (status, code, message) =
        error_of(s.post(key, q("SELECT amount_typo FROM payments")).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_sql"));
    assert!(
        message.contains("amount_typo"),
        "the planner's message: {message}"
    );
    let (status, code, _) = error_of(
        s.post(key, json!({"sql": "SELECT 1", "format": "xml"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    let (status, code, _) =
        error_of(s.post(key, json!({"sql": "SELECT 1", "limit": 5})).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    let resp = s
        .http
        .post(s.url("/v1/query"))
        .bearer_auth(key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.1, "invalid_request");
    let (status, _, message) = error_of(s.get(key, "/v1/query?format=csv").await).await;
    assert_eq!(status, 400);
    assert!(message.contains("sql is required"));
    let (status, _, message) = error_of(s.get(key, "/v1/query?sql=SELECT%201&sq=1").await).await;
    assert_eq!(status, 400);
    assert!(message.contains("\"sq\""), "{message}");
    let (status, code, _) = error_of(s.post(ADMIN_TOKEN, q("SELECT 1")).await).await;
    assert_eq!((status, code.as_str()), (400, "tenant_required"));
    let (status, code, _) = error_of(
        s.post_to("/v1/query?tenant=Not%20Valid!", ADMIN_TOKEN, q("SELECT 1"))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_tenant"));

    // 401
    let resp = s
        .http
        .post(s.url("/v1/query"))
        .body(q("SELECT 1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.0, 401);
    assert_eq!(
        error_of(s.post("rsk_nope_nope", q("SELECT 1")).await)
            .await
            .0,
        401
    );
    assert_eq!(
        error_of(s.post("wrong-admin-token", q("SELECT 1")).await)
            .await
            .0,
        401
    );

    // 403
    let (status, code, _) = error_of(s.post(&s.acme.ingest, q("SELECT 1")).await).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, code, message) = error_of(s.post(key, q("DELETE FROM payments")).await).await;
    assert_eq!((status, code.as_str()), (403, "forbidden_statement"));
    assert!(message.contains("DELETE"), "{message}");

    // 404: the admin names a tenant that does not exist.
    let (status, code, _) = error_of(
        s.post_to("/v1/query?tenant=nobody", ADMIN_TOKEN, q("SELECT 1"))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "unknown_tenant"));

    // 408
    let (status, code, _) = error_of(
        s.post(
            key,
            q("SELECT COUNT(*) FROM generate_series(1, 1000000000000)"),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (408, "query_timeout"));

    // 413: result, SQL text, body.
    let (status, code, message) = error_of(
        s.post(key, q("SELECT * FROM generate_series(1, 5000)"))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "result_too_large"));
    assert!(message.contains("1000"), "{message}");
    let big = format!("SELECT 1 -- {}", "x".repeat(300 << 10));
    assert_eq!(
        error_of(s.post(key, q(&big)).await).await.1,
        "sql_too_large"
    );
    let huge = format!("SELECT 1 -- {}", "x".repeat(2 << 20));
    assert_eq!(
        error_of(s.post(key, q(&huge)).await).await.1,
        "body_too_large"
    );

    // 200 again with truncation asked.
    let body = json_of(
        s.post(
            key,
            json!({"sql": "SELECT * FROM generate_series(1, 5000)", "truncate": true}),
        )
        .await,
    )
    .await;
    assert_eq!(body["truncated"], true);
    assert_eq!(body["row_count"], 1000);
    assert_eq!(body["rows"].as_array().unwrap().len(), 1000);
    let resp = s
        .get(
            key,
            &format!(
                "/v1/query?truncate=true&format=ndjson&sql={}",
                urlencode("SELECT * FROM generate_series(1, 5000)")
            ),
        )
        .await;
    assert_eq!(resp.headers()["x-revstream-truncated"], "true");
    assert_eq!(resp.text().await.unwrap().lines().count(), 1000);
}

#[tokio::test]
async fn busy_answers_503_after_a_short_wait() {
    let config = QueryConfig {
        max_concurrent: 1,
        queue_wait: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        ..test_config()
    };
    let (s, _f) = server(config).await;
    let slow = {
        let http = s.http.clone();
        let url = s.url("/v1/query");
        let key = s.acme.viewer.clone();
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .body(
                    json!({"sql": "SELECT COUNT(*) FROM generate_series(1, 1000000000000)"})
                        .to_string(),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = s.post(&s.acme.viewer, json!({"sql": "SELECT 1"})).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let (status, code, _) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (503, "busy"));
    assert_eq!(slow.await.unwrap(), 408);
    // The slot is free again.
    assert_eq!(
        json_of(s.post(&s.acme.viewer, json!({"sql": "SELECT 1"})).await).await["rows"],
        json!([[1]])
    );
}

#[tokio::test]
async fn admin_token_reads_the_named_tenant() {
    let (s, _f) = server(test_config()).await;
    let count = json!({"sql": "SELECT tenant_id, COUNT(*) FROM payments GROUP BY tenant_id"});
    let acme = json_of(
        s.post_to("/v1/query?tenant=acme", ADMIN_TOKEN, count.clone())
            .await,
    )
    .await;
    assert_eq!(acme["rows"], json!([["acme", 7]]));
    let beta = json_of(
        s.post_to("/v1/query?tenant=beta", ADMIN_TOKEN, count.clone())
            .await,
    )
    .await;
    assert_eq!(beta["rows"], json!([["beta", 1]]));
    let url = format!(
        "/v1/query?tenant=gamma&sql={}",
        urlencode("SELECT currency FROM payments")
    );
    assert_eq!(
        json_of(s.get(ADMIN_TOKEN, &url).await).await["rows"],
        json!([["gbp"]])
    );
    // Every query role of the tenant may query.
    for key in [&s.acme.viewer, &s.acme.analyst, &s.acme.admin] {
        assert_eq!(
            json_of(s.post(key, count.clone()).await).await["rows"],
            json!([["acme", 7]])
        );
    }
}

#[tokio::test]
async fn repeated_queries_hit_the_cache_unless_volatile() {
    let (s, _f) = server(test_config()).await;
    let key = &s.acme.viewer;
    let q = json!({"sql": "SELECT SUM(amount) FROM payments"});
    let first = s.post(key, q.clone()).await;
    assert_eq!(first.headers()["x-revstream-cache"], "miss");
    let second = s
        .post(
            key,
            json!({"sql": "  SELECT SUM(amount) FROM payments\n", "format": "csv"}),
        )
        .await;
    assert_eq!(second.headers()["x-revstream-cache"], "hit");
    assert_eq!(
        second.text().await.unwrap(),
        "sum(payments.amount)\n126999\n"
    );
    // Another tenant never gets acme's cached answer.
    let beta = s.post(&s.beta.viewer, q.clone()).await;
    assert_eq!(beta.headers()["x-revstream-cache"], "miss");
    assert_eq!(json_of(beta).await["rows"], json!([[99999]]));
    // Different params are a different request.
    let p1 = json!({"sql": "SELECT $1 AS v", "params": [1]});
    let p2 = json!({"sql": "SELECT $1 AS v", "params": [2]});
    assert_eq!(json_of(s.post(key, p1).await).await["rows"], json!([[1]]));
    assert_eq!(json_of(s.post(key, p2).await).await["rows"], json!([[2]]));
    // now() is never cached.
    for _ in 0..2 {
        let resp = s.post(key, json!({"sql": "SELECT now() AS t"})).await;
        let cache = resp.headers().get("x-revstream-cache").cloned();
        let text = resp.text().await.unwrap();
        assert_eq!(
            cache.as_ref().map(|c| c.to_str().unwrap()),
            Some("miss"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn tables_lists_tables_and_columns() {
    let (s, _f) = server(test_config()).await;
    let body = json_of(s.get(&s.acme.viewer, "/v1/tables").await).await;
    assert_eq!(body["tenant"], "acme");
    let tables = body["tables"].as_array().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "events",
            "subscriptions",
            "mrr_movements",
            "metrics_daily",
            "calls",
            "payments",
            "refunds",
            "customers"
        ]
    );
    let payments = &tables[5]["columns"];
    assert_eq!(
        payments[0],
        json!({"name": "tenant_id", "type": payments[0]["type"], "nullable": false})
    );
    assert!(
        payments
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "refunded_amount")
    );
    let admin = json_of(s.get(ADMIN_TOKEN, "/v1/tables?tenant=beta").await).await;
    assert_eq!(admin["tenant"], "beta");
    assert_eq!(
        error_of(s.get(ADMIN_TOKEN, "/v1/tables").await).await.1,
        "tenant_required"
    );
    assert_eq!(error_of(s.get("nope", "/v1/tables").await).await.0, 401);
}
