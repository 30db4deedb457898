//! Read-only SQL: which statements may run.
//!
//! Checked on the parsed statement before anything is planned (an allow
//! list: queries and `EXPLAIN` of a query), and again on the plan with
//! DataFusion's `SQLOptions` (no DDL, DML or statements) as a backstop for
//! queries that plan into writes (`SELECT … INTO`).
//!
//! Before parsing, the token stream is checked for shapes that would make
//! parsing exponential or planning overflow the stack (found by fuzzing;
//! see the limits below and `dialect.rs`): those are a 400, not a hang or a
//! crash.

use deltalake::datafusion::sql::parser::{DFParserBuilder, Statement};
use deltalake::datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::dialect::QueryDialect;
use crate::error::{QueryError, Result};

/// Nesting deeper than this is refused by the parser (stack safety).
const RECURSION_LIMIT: usize = 64;

/// Most tokens in a statement. Operator chains (`1 + 1 + …`, `a OR b OR …`)
/// parse without recursion but build a tree as deep as they are long, and
/// dropping or planning that tree recurses: 50,000 terms overflowed a
/// worker's stack and aborted the process. Real queries are a few hundred
/// tokens.
const MAX_TOKENS: usize = 10_000;

/// How deep an expression may get, estimated on the tokens as the
/// operators chained in each comma-separated item plus the brackets around
/// it. DataFusion plans expressions recursively: a chain of 1,000 `+`
/// overflowed a 2 MiB worker stack in a debug build.
const MAX_EXPRESSION_DEPTH: usize = 200;

/// How deep `POSITION(`, `IN (` and `{` may nest. The parser tries each of
/// them two ways (`POSITION(a IN b)` then a plain call, a subquery then a
/// list, an ODBC escape then a map), re-parsing everything inside on the
/// second try, so the work doubles per level: 40 levels (300 bytes) kept a
/// core busy for minutes, beyond the reach of any timeout. Real queries
/// nest these two or three deep.
const SPECULATIVE_NESTING_LIMIT: usize = 8;

/// A statement that may run.
#[derive(Debug)]
pub(crate) enum Checked {
    /// A query (`SELECT`, `WITH`, `VALUES`, `TABLE`, set operations).
    Query(Statement),
    /// `EXPLAIN [VERBOSE] <query>`: answered with the optimized logical plan
    /// only. Physical plans name storage files, so they are never shown, and
    /// `EXPLAIN ANALYZE` (which runs the query) is refused.
    Explain(Statement),
}

pub(crate) fn check(sql: &str) -> Result<Checked> {
    // Not `GenericDialect` itself: see `dialect.rs` (exponential parses).
    let dialect = QueryDialect::default();
    check_shape(sql, &dialect)?;
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| QueryError::InvalidSql(e.strip_backtrace()))?;
    // Refuse any forbidden statement first, whatever else was sent.
    for s in &statements {
        allowed(s)?;
    }
    if statements.len() > 1 {
        return Err(QueryError::InvalidSql(format!(
            "send one statement per request, got {}",
            statements.len()
        )));
    }
    let statement = statements
        .pop_front()
        .ok_or_else(|| QueryError::InvalidSql("no SQL statement was sent".into()))?;
    match statement {
        Statement::Explain(explain) => Ok(Checked::Explain(*explain.statement)),
        other => Ok(Checked::Query(other)),
    }
}

/// Refuses SQL longer than [`MAX_TOKENS`], deeper than
/// [`MAX_EXPRESSION_DEPTH`] or nesting the constructs of
/// [`SPECULATIVE_NESTING_LIMIT`] too deep, on the token stream (linear)
/// before the parser sees it, so neither parsing nor planning can run away.
fn check_shape(sql: &str, dialect: &QueryDialect) -> Result<()> {
    let tokens = Tokenizer::new(dialect, sql)
        .tokenize()
        .map_err(|e| QueryError::InvalidSql(e.to_string()))?;
    // Per open bracket: whether it is one of the doubly-parsed kind.
    let mut open: Vec<bool> = Vec::new();
    let mut depth = 0usize;
    let mut after_keyword = false;
    let mut count = 0usize;
    // Operators chained so far in the current item, per open bracket.
    let mut chained: Vec<usize> = vec![0];
    for token in tokens {
        if !matches!(token, Token::Whitespace(_)) {
            count += 1;
        }
        if count > MAX_TOKENS {
            return Err(QueryError::InvalidSql(format!(
                "the statement has more than {MAX_TOKENS} tokens; simplify the query"
            )));
        }
        match &token {
            Token::Whitespace(_) => continue,
            Token::LParen | Token::LBracket | Token::LBrace => {
                let speculative = after_keyword || token == Token::LBrace;
                open.push(speculative);
                chained.push(0);
                if speculative {
                    depth += 1;
                    if depth > SPECULATIVE_NESTING_LIMIT {
                        return Err(QueryError::InvalidSql(format!(
                            "POSITION(, IN ( and {{ nest more than {SPECULATIVE_NESTING_LIMIT} deep; simplify the query"
                        )));
                    }
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                if open.pop() == Some(true) {
                    depth -= 1;
                }
                if chained.len() > 1 {
                    chained.pop();
                }
            }
            Token::Comma => {
                if let Some(top) = chained.last_mut() {
                    *top = 0;
                }
            }
            t if is_operator(t) => {
                if let Some(top) = chained.last_mut() {
                    *top += 1;
                }
                if chained.iter().sum::<usize>() + open.len() > MAX_EXPRESSION_DEPTH {
                    return Err(QueryError::InvalidSql(format!(
                        "an expression chains or nests more than {MAX_EXPRESSION_DEPTH} operators; simplify the query"
                    )));
                }
            }
            _ => {}
        }
        after_keyword = matches!(&token, Token::Word(w) if matches!(w.keyword, Keyword::POSITION | Keyword::IN));
    }
    Ok(())
}

/// Tokens that join two expressions into a deeper one.
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(w.keyword, Keyword::AND | Keyword::OR | Keyword::NOT),
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Eq
        | Token::DoubleEq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Ampersand
        | Token::Pipe
        | Token::Caret
        | Token::DoubleColon => true,
        _ => false,
    }
}

fn allowed(statement: &Statement) -> Result<()> {
    match statement {
        Statement::Statement(s) if matches!(**s, SqlStatement::Query(_)) => Ok(()),
        Statement::Explain(explain) => {
            if explain.options.analyze {
                return Err(QueryError::Forbidden(
                    "EXPLAIN ANALYZE is not available (it runs the query and shows storage details); use EXPLAIN".into(),
                ));
            }
            match &*explain.statement {
                Statement::Statement(s) if matches!(**s, SqlStatement::Query(_)) => Ok(()),
                other => Err(forbidden(other)),
            }
        }
        other => Err(forbidden(other)),
    }
}

fn forbidden(statement: &Statement) -> QueryError {
    let kind = match statement {
        Statement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE".to_owned(),
        Statement::CopyTo(_) => "COPY".to_owned(),
        Statement::Reset(_) => "RESET".to_owned(),
        Statement::Explain(_) => "EXPLAIN".to_owned(),
        Statement::Statement(s) => s
            .to_string()
            .split_whitespace()
            .next()
            .unwrap_or("this")
            .to_ascii_uppercase(),
    };
    QueryError::Forbidden(format!(
        "{kind} statements are not allowed: queries are read-only (SELECT, WITH, VALUES, EXPLAIN)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(sql: &str) -> &'static str {
        match check(sql) {
            Ok(Checked::Query(_)) => "query",
            Ok(Checked::Explain(_)) => "explain",
            Err(QueryError::Forbidden(_)) => "forbidden",
            Err(QueryError::InvalidSql(_)) => "invalid",
            Err(_) => "other",
        }
    }

    #[test]
    fn only_queries_pass() {
        assert_eq!(code("SELECT 1"), "query");
        assert_eq!(code("WITH a AS (SELECT 1) SELECT * FROM a"), "query");
        assert_eq!(code("VALUES (1), (2)"), "query");
        assert_eq!(code("SELECT 1 UNION SELECT 2"), "query");
        assert_eq!(code("EXPLAIN SELECT 1"), "explain");
        assert_eq!(code("EXPLAIN ANALYZE SELECT 1"), "forbidden");
        assert_eq!(code("EXPLAIN INSERT INTO t VALUES (1)"), "forbidden");
        assert_eq!(code("INSERT INTO events VALUES (1)"), "forbidden");
        assert_eq!(code("DELETE FROM events"), "forbidden");
        assert_eq!(code("UPDATE events SET a = 1"), "forbidden");
        assert_eq!(code("DROP TABLE events"), "forbidden");
        assert_eq!(code("CREATE TABLE x AS SELECT 1"), "forbidden");
        assert_eq!(code("CREATE VIEW v AS SELECT 1"), "forbidden");
        assert_eq!(
            code("CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'"),
            "forbidden"
        );
        assert_eq!(code("COPY (SELECT 1) TO '/tmp/x.csv'"), "forbidden");
        assert_eq!(code("SET datafusion.execution.batch_size = 1"), "forbidden");
        assert_eq!(code("RESET datafusion.execution.batch_size"), "forbidden");
        assert_eq!(code("SHOW TABLES"), "forbidden");
        assert_eq!(code("PREPARE p AS SELECT 1"), "forbidden");
        assert_eq!(code("SELECT 1; DROP TABLE events"), "forbidden");
        assert_eq!(code("SELECT 1; SELECT 2"), "invalid");
        assert_eq!(code("SELEC 1"), "invalid");
        assert_eq!(code(""), "invalid");
        assert_eq!(code(" ; "), "invalid");
    }

    /// Random text, SQL-shaped token soups and deep nesting of every kind
    /// the grammar recurses on: the guard answers (query, explain,
    /// forbidden or invalid) and never panics or overflows the stack.
    #[test]
    fn any_text_gets_an_answer() {
        use proptest::prelude::*;
        let words = prop::sample::select(vec![
            "SELECT", "FROM", "WHERE", "events", "(", ")", "[", "]", ",", ";", "'", "\"", "--",
            "/*", "*/", "1", "1e400", "$1", "NOT", "-", "+", "CASE", "WHEN", "THEN", "END",
            "EXPLAIN", "ANALYZE", "INSERT", "INTO", "DROP", "TABLE", "COPY", "TO", "WITH", "AS",
            "UNION", "VALUES", "CREATE", "EXTERNAL", "SET", "::", "ARRAY", "{", "}", "=>",
        ]);
        let text = prop_oneof![
            4 => ".{0,200}",
            4 => prop::collection::vec(words, 0..60).prop_map(|w| w.join(" ")),
            1 => (prop::sample::select(vec!["(", "NOT ", "- ", "[", "ARRAY[", "CASE WHEN 1 THEN ",
                "(SELECT ", "abs(", "1 + ", "x OR "]), 1usize..3_000)
                .prop_map(|(w, n)| format!("SELECT {}1", w.repeat(n))),
        ];
        let config = proptest::test_runner::Config {
            cases: 5_000,
            failure_persistence: None,
            ..Default::default()
        };
        proptest!(config, |(sql in text)| {
            let _ = code(&sql);
        });
    }

    /// Shapes the parser used to explore exponentially (see `dialect.rs`
    /// and [`SPECULATIVE_NESTING_LIMIT`]) answer at once, 40 deep.
    #[test]
    fn nested_backtracking_shapes_answer_at_once() {
        for prefix in [
            "ARRAY[",
            "CASE WHEN 1 THEN ",
            "CASE ",
            "ARRAY[CASE WHEN ",
            "CAST(",
            "TRY_CAST(",
            "CEIL(",
            "FLOOR(",
            "EXTRACT(",
            "POSITION(",
            "SUBSTRING(",
            "OVERLAY(",
            "CONVERT(",
            "NOT ",
            "MAP {",
            "1 IN (",
            "{",
            "{fn ",
            "x NOT IN (",
            "(SELECT ",
            "abs(",
        ] {
            let sql = format!("SELECT {}1", prefix.repeat(40));
            let started = std::time::Instant::now();
            // `NOT NOT … 1` is valid; the others are unclosed.
            let answer = code(&sql);
            assert!(
                answer == "invalid" || prefix == "NOT ",
                "{prefix}: {answer}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{prefix:?} × 40 took {:?}",
                started.elapsed()
            );
        }
        // Legitimate nesting of those constructs still parses.
        assert_eq!(
            code("SELECT POSITION('a' IN POSITION('b' IN 'c')::text)"),
            "query"
        );
        assert_eq!(
            code("SELECT 1 WHERE a IN (SELECT b FROM t WHERE c IN (1, 2))"),
            "query"
        );
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(code(&sql), "invalid");
    }
}
