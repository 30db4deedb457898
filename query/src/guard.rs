//! Read-only SQL: which statements may run.
//!
//! Checked on the parsed statement before anything is planned (an allow
//! list: queries and `EXPLAIN` of a query), and again on the plan with
//! DataFusion's `SQLOptions` (no DDL, DML or statements) as a backstop for
//! queries that plan into writes (`SELECT … INTO`).

use deltalake::datafusion::sql::parser::{DFParserBuilder, Statement};
use deltalake::datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{QueryError, Result};

/// Nesting deeper than this is refused by the parser (stack safety).
const RECURSION_LIMIT: usize = 64;

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
    let dialect = GenericDialect {};
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

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(code(&sql), "invalid");
    }
}
