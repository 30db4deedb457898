//! Golden SQL: every `tests/golden/*.sql` runs as tenant `acme` over the
//! standard fixture; its output (the CLI's pretty table) must equal the
//! `.out` file next to it. An `.out` starting with `ERROR <code> ` expects
//! that error code and a message containing the rest of the line.
//!
//! `REVSTREAM_BLESS=1` rewrites the `.out` files of succeeding queries
//! (review every diff: the files are hand-checked expectations).

use std::path::PathBuf;

use revstream_ingest::http::ApiError;
use revstream_query::engine::SqlRequest;
use revstream_query::{CliFormat, QueryEngine, TablesOptions, format};
use revstream_schemas::TenantId;

use crate::support::{standard_fixture, test_config};

#[tokio::test]
async fn golden_sql() {
    let f = standard_fixture().await;
    let tables = f.tables(TablesOptions::default()).await;
    let engine = QueryEngine::new(tables, test_config()).unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var("REVSTREAM_BLESS").is_ok_and(|v| v == "1");

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "golden files missing in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    for sql_path in &files {
        let sql = std::fs::read_to_string(sql_path).unwrap();
        let out_path = sql_path.with_extension("out");
        let expected = std::fs::read_to_string(&out_path).unwrap_or_default();
        let name = sql_path.file_name().unwrap().to_string_lossy().into_owned();
        let result = engine
            .sql(
                &acme,
                &SqlRequest {
                    sql: sql.clone(),
                    params: None,
                    truncate: false,
                },
            )
            .await;
        let actual = match result {
            Ok(answer) => format::pretty(&answer.output).unwrap() + "\n",
            Err(e) => {
                let api = ApiError::from(e);
                format!("ERROR {} {}\n", api.code, api.message)
            }
        };
        if let Some(spec) = expected.strip_prefix("ERROR ") {
            let (code, needle) = spec
                .trim_end()
                .split_once(' ')
                .unwrap_or((spec.trim_end(), ""));
            let ok = actual.starts_with(&format!("ERROR {code} ")) && actual.contains(needle);
            if !ok {
                failures.push(format!(
                    "{name}: expected error {code} containing {needle:?}, got:\n{actual}"
                ));
            }
            // Errors never show where the tables live.
            assert!(
                !actual.contains(f.tables_path().to_str().unwrap()),
                "{name} leaks a path: {actual}"
            );
            continue;
        }
        if actual != expected {
            if bless && !actual.starts_with("ERROR ") {
                std::fs::write(&out_path, &actual).unwrap();
            } else {
                failures.push(format!(
                    "{name}:\n--- expected\n{expected}\n--- actual\n{actual}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `revstream sql`: the same engine, printed as a table, CSV or JSON.
#[tokio::test]
async fn cli_run_sql_prints_each_format() {
    let f = standard_fixture().await;
    let tables = f.tables(TablesOptions::default()).await;
    let acme = TenantId::parse("acme").unwrap();
    let sql = "SELECT payment_id, amount FROM payments WHERE amount >= 30000 ORDER BY payment_id";
    let table = revstream_query::run_sql(tables.clone(), &acme, sql, CliFormat::Table)
        .await
        .unwrap();
    assert_eq!(
        table,
        "+------------+--------+\n\
         | payment_id | amount |\n\
         +------------+--------+\n\
         | p5         | 50000  |\n\
         | p7         | 30000  |\n\
         +------------+--------+\n\
         2 rows\n"
    );
    let csv = revstream_query::run_sql(tables.clone(), &acme, sql, CliFormat::Csv)
        .await
        .unwrap();
    assert_eq!(csv, "payment_id,amount\np5,50000\np7,30000\n");
    let json = revstream_query::run_sql(tables.clone(), &acme, sql, CliFormat::Json)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["rows"],
        serde_json::json!([["p5", 50000], ["p7", 30000]])
    );
    let err = revstream_query::run_sql(tables, &acme, "DROP TABLE payments", CliFormat::Table)
        .await
        .unwrap_err();
    assert!(
        matches!(err, revstream_query::QueryError::Forbidden(_)),
        "{err}"
    );
}
