//! Attempts to reach another tenant's rows or the file system, over HTTP
//! with acme's analyst key. Each is refused or returns exactly acme's rows.

use deltalake::datafusion::physical_plan::displayable;
use revstream_query::{QueryEngine, TablesOptions};
use revstream_schemas::TenantId;
use serde_json::{Value, json};

use crate::support::{Server, error_of, standard_fixture, test_config};

/// What an attempt must produce.
enum Expect {
    /// 200 with exactly this first cell (a count).
    Count(i64),
    /// 200 with exactly these rows, every `tenant_id` cell being acme.
    Rows(usize),
    /// This status and error code.
    Refused(u16, &'static str),
}

struct Attempt {
    name: &'static str,
    body: Value,
    expect: Expect,
}

fn sql(name: &'static str, sql: &str, expect: Expect) -> Attempt {
    Attempt {
        name,
        body: json!({"sql": sql}),
        expect,
    }
}

/// acme's events: see `support::acme_events`.
const ACME_EVENTS: i64 = 34;

fn attempts(tables_dir: &str) -> Vec<Attempt> {
    use Expect::*;
    let beta_file = format!("{tables_dir}/payments/tenant_id=beta");
    vec![
        sql(
            "where other tenant",
            "SELECT COUNT(*) FROM events WHERE tenant_id = 'beta'",
            Count(0),
        ),
        sql(
            "or 1=1",
            "SELECT COUNT(*) FROM events WHERE tenant_id = 'beta' OR 1=1",
            Count(ACME_EVENTS),
        ),
        sql(
            "not own tenant",
            "SELECT COUNT(*) FROM payments WHERE tenant_id <> 'acme'",
            Count(0),
        ),
        sql(
            "distinct tenants",
            "SELECT DISTINCT tenant_id FROM events",
            Rows(1),
        ),
        sql("all rows carry acme", "SELECT * FROM payments", Rows(7)),
        sql(
            "upper case names",
            "SELECT COUNT(*) FROM EVENTS WHERE TENANT_ID = 'beta'",
            Count(0),
        ),
        sql(
            "comment trick",
            "SELECT COUNT(*) FROM events WHERE tenant_id = 'acme' -- AND tenant_id = 'beta'",
            Count(ACME_EVENTS),
        ),
        sql(
            "union with another filter",
            "SELECT tenant_id FROM events WHERE tenant_id = 'beta' UNION ALL SELECT tenant_id FROM payments WHERE tenant_id = 'gamma'",
            Rows(0),
        ),
        sql(
            "union all tenants",
            "SELECT tenant_id FROM calls UNION SELECT tenant_id FROM payments",
            Rows(1),
        ),
        sql(
            "subquery",
            "SELECT COUNT(*) FROM (SELECT * FROM payments WHERE tenant_id IN (SELECT 'beta')) t",
            Count(0),
        ),
        sql(
            "scalar subquery",
            "SELECT (SELECT COUNT(*) FROM customers WHERE tenant_id = 'beta')",
            Count(0),
        ),
        sql(
            "exists",
            "SELECT COUNT(*) FROM customers c WHERE EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = 'beta')",
            Count(0),
        ),
        sql(
            "self join across tenants",
            "SELECT COUNT(*) FROM events a JOIN events b ON a.tenant_id <> b.tenant_id",
            Count(0),
        ),
        sql(
            "join other tables",
            "SELECT COUNT(*) FROM payments p JOIN customers c ON p.tenant_id = c.tenant_id WHERE c.tenant_id = 'beta'",
            Count(0),
        ),
        sql(
            "cte",
            "WITH t AS (SELECT * FROM subscriptions WHERE tenant_id = 'beta') SELECT COUNT(*) FROM t",
            Count(0),
        ),
        sql(
            "recursive cte",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT COUNT(*) FROM r, payments p WHERE p.tenant_id = 'beta'",
            Count(0),
        ),
        sql(
            "fully qualified",
            "SELECT COUNT(*) FROM datafusion.public.events WHERE tenant_id = 'beta'",
            Count(0),
        ),
        sql(
            "fully qualified own",
            "SELECT COUNT(*) FROM datafusion.public.events",
            Count(ACME_EVENTS),
        ),
        sql(
            "window over all",
            "SELECT COUNT(*) OVER () FROM events LIMIT 1",
            Count(ACME_EVENTS),
        ),
        sql(
            "other catalog",
            "SELECT * FROM beta.public.events",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "other schema",
            "SELECT * FROM datafusion.beta.events",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "schema as tenant",
            "SELECT * FROM beta.events",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "relative path table",
            "SELECT * FROM \"../events\"",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "partition directory",
            "SELECT * FROM \"events/tenant_id=beta\"",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "partition path",
            &format!("SELECT * FROM '{beta_file}'"),
            Refused(400, "invalid_sql"),
        ),
        sql(
            "information_schema.tables",
            "SELECT * FROM information_schema.tables",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "information_schema.columns",
            "SELECT * FROM information_schema.columns",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "df_settings",
            "SELECT * FROM information_schema.df_settings",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "show tables",
            "SHOW TABLES",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "show settings",
            "SHOW ALL",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "create external table",
            "CREATE EXTERNAL TABLE p (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "create external table on data",
            &format!("CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION '{tables_dir}/payments/'"),
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "copy to file",
            "COPY (SELECT * FROM payments) TO '/tmp/revstream-isolation-copy.csv'",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "insert",
            "INSERT INTO events SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "delete",
            "DELETE FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "update",
            "UPDATE payments SET amount = 0",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "drop table",
            "DROP TABLE events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "truncate",
            "TRUNCATE TABLE events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "create view",
            "CREATE VIEW v AS SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "create table as",
            "CREATE TABLE t AS SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "select into",
            "SELECT * INTO stolen FROM payments",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "set option",
            "SET datafusion.execution.target_partitions = 1",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "set catalog",
            "SET datafusion.catalog.default_catalog = 'beta'",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "reset",
            "RESET datafusion.execution.batch_size",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "prepare",
            "PREPARE p AS SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "two statements",
            "SELECT 1; DROP TABLE events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "url table",
            "SELECT * FROM '/etc/passwd'",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "file url table",
            "SELECT * FROM 'file:///etc/passwd'",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "read_parquet",
            "SELECT * FROM read_parquet('/etc/passwd')",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "read_csv",
            "SELECT * FROM read_csv('/etc/passwd')",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "parquet_scan",
            &format!("SELECT * FROM parquet_scan('{beta_file}')"),
            Refused(400, "invalid_sql"),
        ),
        sql(
            "file name column",
            "SELECT __delta_rs_file_id FROM events",
            Refused(400, "invalid_sql"),
        ),
        sql(
            "explain analyze",
            "EXPLAIN ANALYZE SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        sql(
            "explain insert",
            "EXPLAIN INSERT INTO events SELECT * FROM events",
            Refused(403, "forbidden_statement"),
        ),
        Attempt {
            name: "tenant as a parameter",
            body: json!({"sql": "SELECT COUNT(*) FROM events WHERE tenant_id = $1", "params": ["beta"]}),
            expect: Count(0),
        },
        Attempt {
            name: "tenant as a named parameter",
            body: json!({"sql": "SELECT COUNT(*) FROM events WHERE tenant_id = $t OR $t = $t", "params": {"t": "beta"}}),
            expect: Count(ACME_EVENTS),
        },
        Attempt {
            name: "a 1 MB SQL text",
            body: json!({"sql": format!("SELECT 1 /* {} */", "x".repeat(1 << 20))}),
            expect: Refused(413, "body_too_large"),
        },
        Attempt {
            name: "a large SQL text under the body limit",
            body: json!({"sql": format!("SELECT 1 /* {} */", "x".repeat(300 << 10))}),
            expect: Refused(413, "sql_too_large"),
        },
        sql(
            "cross join result",
            "SELECT a.event_id FROM events a, events b, events c",
            Refused(413, "result_too_large"),
        ),
        Attempt {
            name: "cross join truncated",
            body: json!({"sql": "SELECT a.tenant_id FROM events a, events b, events c", "truncate": true}),
            expect: Rows(1_000),
        },
        sql(
            "runaway query",
            "SELECT COUNT(*) FROM generate_series(1, 1000000000000)",
            Refused(408, "query_timeout"),
        ),
    ]
}

#[tokio::test]
async fn no_query_reaches_another_tenant_or_the_file_system() {
    let f = standard_fixture().await;
    let tables_dir = f.tables_path().to_str().unwrap().to_owned();
    let server = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    let key = &server.acme.analyst;
    let attempts = attempts(&tables_dir);
    assert!(attempts.len() >= 30);

    for a in attempts {
        let resp = server.post(key, a.body.clone()).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(&tables_dir),
            "{}: the answer names the tables dir: {text}",
            a.name
        );
        match a.expect {
            Expect::Refused(want_status, want_code) => {
                let (status, code, _) = error_of_text(status, &text);
                assert_eq!(
                    (status, code.as_str()),
                    (want_status, want_code),
                    "{}: {text}",
                    a.name
                );
            }
            Expect::Count(n) => {
                assert_eq!(status, 200, "{}: {text}", a.name);
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["rows"], json!([[n]]), "{}", a.name);
            }
            Expect::Rows(n) => {
                assert_eq!(status, 200, "{}: {text}", a.name);
                let body: Value = serde_json::from_str(&text).unwrap();
                let rows = body["rows"].as_array().unwrap();
                assert_eq!(rows.len(), n, "{}", a.name);
                let tenant_col = body["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|c| c["name"] == "tenant_id");
                if let Some(i) = tenant_col {
                    assert!(rows.iter().all(|r| r[i] == "acme"), "{}: {text}", a.name);
                }
            }
        }
    }
    assert!(!std::path::Path::new("/tmp/revstream-isolation-copy.csv").exists());

    // The files are untouched: beta still has its rows.
    let beta = server
        .post(
            &server.beta.viewer,
            json!({"sql": "SELECT COUNT(*) FROM payments"}),
        )
        .await;
    assert_eq!(crate::support::json_of(beta).await["rows"], json!([[1]]));
}

fn error_of_text(status: u16, text: &str) -> (u16, String, String) {
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn explain_shows_no_paths() {
    let f = standard_fixture().await;
    let tables_dir = f.tables_path().to_str().unwrap().to_owned();
    let server = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    for sql in [
        "EXPLAIN SELECT * FROM events",
        "EXPLAIN VERBOSE SELECT * FROM payments WHERE amount > 1",
        "EXPLAIN FORMAT TREE SELECT * FROM payments",
    ] {
        let resp = server.post(&server.acme.analyst, json!({"sql": sql})).await;
        let text = resp.text().await.unwrap();
        assert!(text.contains("TableScan"), "{sql}: {text}");
        assert!(
            !text.contains(&tables_dir) && !text.contains(".parquet"),
            "{sql}: {text}"
        );
    }
}

#[tokio::test]
async fn other_tenants_keys_and_roles() {
    let f = standard_fixture().await;
    let server = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    let count = json!({"sql": "SELECT COUNT(*) FROM events"});
    // A tenant key cannot name another tenant, whatever its role.
    for key in [
        &server.acme.admin,
        &server.acme.analyst,
        &server.acme.viewer,
    ] {
        let resp = server
            .post_to("/v1/query?tenant=beta", key, count.clone())
            .await;
        let (status, code, _) = error_of(resp).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"));
    }
    // Naming its own tenant is fine.
    let resp = server
        .post_to("/v1/query?tenant=acme", &server.acme.viewer, count.clone())
        .await;
    assert_eq!(
        crate::support::json_of(resp).await["rows"],
        json!([[ACME_EVENTS]])
    );
    // An ingest key cannot query at all.
    let (status, code, _) = error_of(server.post(&server.acme.ingest, count.clone()).await).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    // A second tenant= does not slip through.
    let resp = server
        .post_to(
            "/v1/query?tenant=acme&tenant=beta",
            &server.acme.viewer,
            count,
        )
        .await;
    assert_eq!(error_of(resp).await.0, 400);
}

/// The tenant filter reaches the Delta scan (only the tenant's partition is
/// read) and is enforced on top of it.
#[tokio::test]
async fn the_tenant_filter_prunes_partitions_and_is_enforced() {
    let f = standard_fixture().await;
    let engine = QueryEngine::new(f.tables(TablesOptions::default()).await, test_config()).unwrap();
    let ctx = engine
        .context(&TenantId::parse("acme").unwrap())
        .await
        .unwrap();
    let plan = ctx
        .sql("SELECT payment_id FROM payments")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    assert!(text.contains("tenant_id=acme"), "{text}");
    assert!(
        !text.contains("tenant_id=beta") && !text.contains("tenant_id=gamma"),
        "{text}"
    );
    assert!(text.contains("FilterExec: tenant_id@"), "{text}");
    let batches = ctx
        .sql("SELECT tenant_id FROM payments")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 7);
}
