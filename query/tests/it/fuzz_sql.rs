//! Fuzzing the SQL endpoint: the read-only guard, the planner and the
//! executor behind it, as tenant `acme` over the standard fixture (acme,
//! beta and gamma in the same tables).
//!
//! Inputs: the golden queries (`tests/golden/*.sql`) with one or two
//! token-level mutations (deleted, duplicated, swapped, inserted or
//! replaced tokens, drawn from the golden queries' own words and a list of
//! hostile ones: other tenants, other catalogs, file paths and table
//! functions, DDL and DML, comments, semicolons, huge and odd numbers,
//! parameters, quotes), token soups from the same vocabulary, and random
//! unicode text. Plus fixed pathological inputs: 10,000-deep parentheses,
//! 50,000-term expressions, thousands of nested subqueries, CASEs and
//! UNIONs, a 200 KB literal.
//!
//! What must hold for every input:
//! - the answer is 200, 400, 403, 408 or 413, never 5xx, never a panic or a
//!   stack overflow (which would abort this whole test binary);
//! - a 200 answer holds only acme's rows: no `tenant_id` other than acme,
//!   and none of beta's or gamma's own values unless the SQL itself
//!   contains them;
//! - the server still answers a plain query afterwards.
//!
//! Bound: 2,000 cases in-process through `QueryEngine::sql` (planning and
//! running real queries is the costly part), 150 over HTTP, and the fixed
//! list over HTTP. The guard alone has its own 5,000-case property in
//! `src/guard.rs`, and the exponential parses it found are pinned there.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use revstream_ingest::http::ApiError;
use revstream_query::engine::SqlRequest;
use revstream_query::{QueryEngine, TablesOptions};
use revstream_schemas::TenantId;
use serde_json::{Value, json};

use crate::support::{Server, standard_fixture, test_config};

/// Values only other tenants have (see `support::beta_events` and gamma's
/// one payment); an answer for acme may show them only if the SQL did.
const OTHER_TENANTS_VALUES: &[&str] = &["beta", "gamma", "mallory", "z9", "gbp", "g@example.com"];

const STATUSES: &[u16] = &[200, 400, 403, 408, 413];

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn golden_queries() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let queries: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(queries.len() >= 20, "only {} golden queries", queries.len());
    queries
}

/// Words, quoted strings, operators and single symbols; line comments are
/// dropped.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '-' && sql_rest_starts_with(&chars, "--") {
            // Line comments carry no SQL; dropping them keeps the tokens
            // joinable on one line.
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if "<>=!|:".contains(c) {
            let mut op = String::new();
            while let Some(&c) = chars.peek() {
                if !"<>=!|:".contains(c) {
                    break;
                }
                op.push(c);
                chars.next();
            }
            out.push(op);
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '$' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_alphanumeric() || c == '_' || c == '.' || c == '$') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        } else if c == '\'' {
            let mut literal = String::from(c);
            chars.next();
            for c in chars.by_ref() {
                literal.push(c);
                if c == '\'' {
                    break;
                }
            }
            out.push(literal);
        } else {
            out.push(c.to_string());
            chars.next();
        }
    }
    out
}

fn sql_rest_starts_with(chars: &std::iter::Peekable<std::str::Chars<'_>>, prefix: &str) -> bool {
    chars.clone().take(prefix.len()).eq(prefix.chars())
}

fn hostile_tokens() -> Vec<String> {
    [
        "'beta'",
        "'gamma'",
        "tenant_id",
        "tenant_id = 'beta'",
        "OR 1=1",
        "OR tenant_id <> 'acme'",
        "beta.public.events",
        "datafusion.public.payments",
        "datafusion.beta.events",
        "information_schema.tables",
        "information_schema.df_settings",
        "read_parquet('/etc/passwd')",
        "read_csv('/etc/passwd')",
        "'/etc/passwd'",
        "'file:///etc/passwd'",
        "\"../events\"",
        "\"events/tenant_id=beta\"",
        "__delta_rs_file_id",
        ";",
        "; DROP TABLE events",
        "DROP TABLE events",
        "INSERT INTO events SELECT * FROM events",
        "DELETE FROM payments",
        "COPY (SELECT 1) TO '/tmp/revstream-fuzz.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.catalog.default_catalog = 'beta'",
        "EXPLAIN",
        "EXPLAIN ANALYZE",
        "SHOW TABLES",
        "--",
        "/*",
        "*/",
        "(",
        ")",
        "((",
        "))",
        ",",
        "*",
        "=",
        "<>",
        "||",
        "/ 0",
        "% 0",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "1e400",
        "99999999999999999999999999999999999999",
        "0.000000000000000000000000000001",
        "-0.0",
        "'NaN'",
        "NULL",
        "CAST(amount AS TINYINT)",
        "CAST('x' AS BIGINT)",
        "CAST(1e300 AS DECIMAL(38, 10))",
        "arrow_cast(1, 'Int8') + 127",
        "ARRAY[1, 2, 3]",
        "[1]",
        "generate_series(1, 1000)",
        "unnest(ARRAY[1, 2])",
        "regexp_replace(event_id, '(a*)*b', 'x')",
        "now()",
        "random()",
        "$1",
        "$t",
        "'",
        "\"",
        "E'\\x00'",
        "'\u{0}'",
        "'😀'",
        "SELECT",
        "FROM",
        "WHERE",
        "UNION ALL",
        "UNION",
        "JOIN",
        "CROSS JOIN",
        "GROUP BY",
        "ORDER BY",
        "LIMIT",
        "LIMIT -1",
        "LIMIT 18446744073709551615",
        "OFFSET 9223372036854775807",
        "WITH RECURSIVE",
        "VALUES (1)",
        "INTO stolen",
        "NOT",
        "-",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(prop::sample::Index),
    Duplicate(prop::sample::Index),
    Swap(prop::sample::Index, prop::sample::Index),
    Insert(prop::sample::Index, prop::sample::Index),
    Replace(prop::sample::Index, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    use prop::sample::Index;
    prop_oneof![
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Duplicate),
        any::<(Index, Index)>().prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<(Index, Index)>().prop_map(|(a, b)| Edit::Insert(a, b)),
        any::<(Index, Index)>().prop_map(|(a, b)| Edit::Replace(a, b)),
    ]
}

#[derive(Debug, Clone)]
enum Case {
    /// A golden query with edits.
    Golden(prop::sample::Index, Vec<Edit>),
    /// Tokens from the vocabulary, in any order.
    Soup(Vec<prop::sample::Index>),
    /// Any text.
    Text(String),
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        6 => (any::<prop::sample::Index>(), prop::collection::vec(edit(), 1..=2))
            .prop_map(|(q, e)| Case::Golden(q, e)),
        3 => prop::collection::vec(any::<prop::sample::Index>(), 1..25).prop_map(Case::Soup),
        1 => ".{0,120}".prop_map(Case::Text),
    ]
}

/// The golden queries, their tokens, and the vocabulary of all of them
/// plus the hostile tokens.
struct Corpus {
    queries: Vec<Vec<String>>,
    vocabulary: Vec<String>,
}

impl Corpus {
    fn new() -> Corpus {
        let queries: Vec<Vec<String>> = golden_queries().iter().map(|q| tokens(q)).collect();
        let mut vocabulary: Vec<String> = queries.iter().flatten().cloned().collect();
        vocabulary.sort();
        vocabulary.dedup();
        vocabulary.extend(hostile_tokens());
        Corpus {
            queries,
            vocabulary,
        }
    }

    fn sql(&self, case: &Case) -> String {
        match case {
            Case::Golden(which, edits) => {
                let mut t = which.get(&self.queries).clone();
                for edit in edits {
                    apply(&mut t, edit, &self.vocabulary);
                }
                t.join(" ")
            }
            Case::Soup(words) => words
                .iter()
                .map(|w| w.get(&self.vocabulary).as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Case::Text(text) => text.clone(),
        }
    }
}

fn apply(t: &mut Vec<String>, edit: &Edit, vocabulary: &[String]) {
    if t.is_empty() {
        t.push(vocabulary[0].clone());
    }
    match edit {
        Edit::Delete(i) => {
            t.remove(i.index(t.len()));
        }
        Edit::Duplicate(i) => {
            let at = i.index(t.len());
            t.insert(at, t[at].clone());
        }
        Edit::Swap(a, b) => {
            let (a, b) = (a.index(t.len()), b.index(t.len()));
            t.swap(a, b);
        }
        Edit::Insert(at, word) => {
            let at = at.index(t.len() + 1);
            t.insert(at, word.get(vocabulary).clone());
        }
        Edit::Replace(at, word) => {
            let at = at.index(t.len());
            t[at] = word.get(vocabulary).clone();
        }
    }
}

/// No value of another tenant in `text` unless the SQL brought it.
fn check_isolation(sql: &str, text: &str) -> Result<(), TestCaseError> {
    let sql = sql.to_lowercase();
    let text = text.to_lowercase();
    for value in OTHER_TENANTS_VALUES {
        prop_assert!(
            sql.contains(value) || !text.contains(value),
            "another tenant's value {:?} in the answer to {:?}:\n{}",
            value,
            sql,
            text
        );
    }
    Ok(())
}

/// Mutated and random SQL through the engine: answers in the allowed
/// statuses only, and only acme's rows.
#[tokio::test(flavor = "multi_thread")]
async fn engine_answers_hostile_sql_within_the_contract() {
    let f = standard_fixture().await;
    let engine = Arc::new(
        QueryEngine::new(f.tables(TablesOptions::default()).await, test_config()).unwrap(),
    );
    let corpus = Corpus::new();
    let acme = TenantId::parse("acme").unwrap();
    let handle = tokio::runtime::Handle::current();
    let outcomes = std::cell::RefCell::new([0usize; 5]);
    // proptest drives a synchronous closure; each case runs the engine on
    // this runtime from a blocking section.
    tokio::task::block_in_place(|| {
        proptest!(config(2_000), |(case in case())| {
            let sql = corpus.sql(&case);
            let request = SqlRequest { sql: sql.clone(), ..SqlRequest::default() };
            let result = handle.block_on(engine.sql(&acme, &request));
            let status = match &result {
                Ok(_) => 200,
                Err(e) => ApiError::from(e.clone()).status.as_u16(),
            };
            prop_assert!(STATUSES.contains(&status), "{} for {:?}: {:?}", status, sql, result.err());
            if let Some(slot) = STATUSES.iter().position(|s| *s == status) {
                outcomes.borrow_mut()[slot] += 1;
            }
            if let Ok(answer) = result {
                let text = pretty_format_batches(&answer.output.batches)
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                check_isolation(&sql, &text)?;
            }
        });
    });
    // The mix must be a real one: some queries run, some are refused.
    let outcomes = outcomes.into_inner();
    assert!(
        outcomes[0] >= 40,
        "only {} of 2,000 ran: {outcomes:?}",
        outcomes[0]
    );
    assert!(
        outcomes[1] >= 100,
        "only {} were 400: {outcomes:?}",
        outcomes[1]
    );
}

/// The same over real HTTP, where the JSON body, the tenant resolution and
/// the error mapping are in the path too.
#[tokio::test(flavor = "multi_thread")]
async fn http_answers_hostile_sql_within_the_contract() {
    let f = standard_fixture().await;
    let server = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    let corpus = Corpus::new();
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        proptest!(config(150), |(case in case(), params in prop::option::of(prop::collection::vec(any::<i64>(), 0..3)))| {
            let sql = corpus.sql(&case);
            let mut body = json!({"sql": sql});
            if let Some(p) = params {
                body["params"] = json!(p);
            }
            let (status, text) = handle.block_on(async {
                let resp = server.post(&server.acme.analyst, body.clone()).await;
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap())
            });
            check_answer(&sql, status, &text)?;
        });
    });
    assert_still_serving(&server).await;
}

fn check_answer(sql: &str, status: u16, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        STATUSES.contains(&status),
        "{} for {:?}: {}",
        status,
        sql,
        text
    );
    let body: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
    if status == 200 {
        if let Some(i) = body["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|c| c["name"] == "tenant_id"))
        {
            for row in body["rows"].as_array().into_iter().flatten() {
                prop_assert!(
                    row[i].is_null() || row[i] == "acme",
                    "{} for {:?}",
                    row,
                    sql
                );
            }
        }
        check_isolation(sql, &body["rows"].to_string())?;
    } else {
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        prop_assert!(!code.is_empty() && !message.is_empty(), "{}", text);
    }
    Ok(())
}

async fn assert_still_serving(server: &Server) {
    let resp = server
        .post(
            &server.acme.viewer,
            json!({"sql": "SELECT COUNT(*) FROM payments"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["rows"], json!([[7]]));
}

/// Inputs built to exhaust the stack or the planner: every one gets a
/// clear answer, and the server lives on.
#[tokio::test(flavor = "multi_thread")]
async fn pathological_sql_gets_an_answer_not_a_crash() {
    let f = standard_fixture().await;
    let server = Server::start(f.tables(TablesOptions::default()).await, test_config()).await;
    let n = 10_000;
    let cases = vec![
        format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("SELECT {}1", "1 + ".repeat(50_000)),
        format!("SELECT {}1", "1 + ".repeat(1_000)),
        // Just under the guard's expression depth limit: planned for real.
        format!("SELECT {}1", "1 + ".repeat(190)),
        format!(
            "SELECT COUNT(*) FROM payments WHERE {}true",
            "amount = 1 OR ".repeat(90)
        ),
        format!(
            "SELECT COUNT(*) FROM payments WHERE {}true",
            "amount = 1 OR ".repeat(1_200)
        ),
        format!("SELECT {}1", "1 || ".repeat(30_000)),
        format!("SELECT {}true", "NOT ".repeat(20_000)),
        format!("SELECT {}1", "- ".repeat(50_000)),
        format!(
            "SELECT COUNT(*) FROM events WHERE {}true",
            "amount_or_zero = 1 OR ".repeat(10_000)
        ),
        format!(
            "SELECT COUNT(*) FROM payments WHERE {}true",
            "amount = 1 OR ".repeat(10_000)
        ),
        format!(
            "SELECT {}1{}",
            "CASE WHEN true THEN ".repeat(3_000),
            " END".repeat(3_000)
        ),
        format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n)),
        format!(
            "SELECT * FROM {}payments{}",
            "(SELECT * FROM ".repeat(2_000),
            ") t".repeat(2_000)
        ),
        format!("SELECT 1 {}", "UNION ALL SELECT 1 ".repeat(5_000)),
        format!(
            "SELECT COUNT(*) FROM payments WHERE payment_id IN ({}'x')",
            "'a', ".repeat(20_000)
        ),
        format!("SELECT {}1{}", "[".repeat(5_000), "]".repeat(5_000)),
        format!("SELECT '{}'", "x".repeat(200_000)),
        format!("SELECT {}", "1, ".repeat(30_000) + "1"),
        format!(
            "WITH {} SELECT 1",
            (0..2_000)
                .map(|i| format!("t{i} AS (SELECT 1)"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    for sql in cases {
        let head: String = sql.chars().take(60).collect();
        let resp = server.post(&server.acme.analyst, json!({"sql": sql})).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            STATUSES.contains(&status),
            "{status} for {head}…: {}",
            &text[..text.len().min(500)]
        );
        if status != 200 {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(body["error"]["message"].is_string(), "{head}: {text}");
        }
    }
    assert_still_serving(&server).await;
}

#[test]
fn tokens_round_trip_the_golden_queries() {
    for q in golden_queries() {
        let t = tokens(&q);
        assert!(!t.is_empty(), "{q}");
        // Without its comments, the query keeps every non-space character.
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let code: String = q
            .lines()
            .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(squeeze(&t.concat()), squeeze(&code), "{q}");
    }
}

/// Found by the fuzzer: a predicate whose cast fails on the data, evaluated
/// inside the Parquet reader, was reported as a storage outage (503, retry
/// later). It is the query's fault: 400 `query_failed`.
#[tokio::test(flavor = "multi_thread")]
async fn a_cast_failing_inside_the_scan_is_a_400() {
    let f = standard_fixture().await;
    let engine = QueryEngine::new(f.tables(TablesOptions::default()).await, test_config()).unwrap();
    let request = SqlRequest {
        sql: "SELECT r.refund_id FROM refunds r LEFT JOIN payments p \
              ON 9223372036854775807 = p.payment_id AND r.source = p.source"
            .into(),
        ..SqlRequest::default()
    };
    let err = engine
        .sql(&TenantId::parse("acme").unwrap(), &request)
        .await
        .unwrap_err();
    let api = ApiError::from(err);
    assert_eq!(
        (api.status.as_u16(), api.code),
        (400, "query_failed"),
        "{}",
        api.message
    );
}
