//! The query service's one error type, and how each variant answers over
//! HTTP. Variants say who caused the failure: the caller (bad or forbidden
//! SQL, limits), the storage (retry later) or us (logged, not leaked).

use std::time::Duration;

use axum::http::StatusCode;
use deltalake::datafusion::error::DataFusionError;
use revstream_ingest::http::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// A statement that is not a read-only query (DDL, DML, COPY, SET, …).
    #[error("{0}")]
    Forbidden(String),
    /// The SQL does not parse or plan; the planner's message.
    #[error("{0}")]
    InvalidSql(String),
    /// The query planned but failed while running because of its data or
    /// expressions (a bad cast, division by zero, …).
    #[error("{0}")]
    QueryFailed(String),
    /// A request parameter is wrong (params, format, metrics arguments, …).
    #[error("{0}")]
    InvalidRequest(String),
    /// Named metrics that do not exist.
    #[error("unknown metric(s): {}; see spec/metrics.md for the names", .0.join(", "))]
    UnknownMetric(Vec<String>),
    /// Money metrics asked for a tenant with several currencies.
    #[error("this tenant has amounts in {}; add currency= with one of them (amounts are never summed across currencies)", .0.join(", "))]
    CurrencyRequired(Vec<String>),
    #[error("the SQL text is {size} bytes, over the limit of {limit} bytes")]
    SqlTooLarge { size: usize, limit: usize },
    #[error(
        "the result has more than {limit} rows; add a LIMIT or aggregate, or send \"truncate\": true for the first {limit} rows"
    )]
    ResultTooLarge { limit: usize },
    #[error(
        "the query needed more memory than its limit of {limit_mib} MiB; filter or aggregate more ({detail})"
    )]
    MemoryLimit { limit_mib: usize, detail: String },
    #[error("the query ran longer than {} s and was stopped", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("too many queries are running; retry shortly")]
    Busy,
    /// The tables could not be read (storage outage): retrying helps.
    #[error("the tables are unavailable right now; retry later")]
    Storage(String),
    /// A bug or an unexpected failure on our side; the detail is logged.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

impl QueryError {
    /// Classifies a DataFusion error raised while planning (`planning`) or
    /// running a query. `redact` removes storage locations from messages.
    pub(crate) fn from_datafusion(
        e: &DataFusionError,
        planning: bool,
        memory_limit: usize,
        redact: &dyn Fn(&str) -> String,
    ) -> QueryError {
        let root = e.find_root();
        let message = redact(&root.strip_backtrace());
        match root {
            DataFusionError::ResourcesExhausted(_) => QueryError::MemoryLimit {
                limit_mib: memory_limit >> 20,
                detail: message,
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Diagnostic(..)
            | DataFusionError::Collection(_)
            | DataFusionError::Configuration(_) => QueryError::InvalidSql(message),
            DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => {
                if planning {
                    QueryError::InvalidSql(message)
                } else {
                    QueryError::QueryFailed(message)
                }
            }
            // The Parquet reader evaluating the caller's predicate (a cast
            // that fails on the data, say) wraps the Arrow error: that is
            // the query's fault, and retrying will not help.
            DataFusionError::ParquetError(_) | DataFusionError::External(_)
                if caused_by_compute(root) =>
            {
                if planning {
                    QueryError::InvalidSql(message)
                } else {
                    QueryError::QueryFailed(message)
                }
            }
            // External: delta-rs reading the log or a file (a file vacuumed
            // under a running query, a storage outage) — a retry helps.
            DataFusionError::ObjectStore(_)
            | DataFusionError::IoError(_)
            | DataFusionError::ParquetError(_)
            | DataFusionError::External(_) => QueryError::Storage(message),
            _ => QueryError::Internal(message),
        }
    }
}

/// Whether an Arrow compute error (a cast, an overflow, a division by zero,
/// a bad argument) is somewhere in `e`'s chain of causes.
fn caused_by_compute(e: &DataFusionError) -> bool {
    use arrow::error::ArrowError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(
            ArrowError::CastError(_)
            | ArrowError::ComputeError(_)
            | ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::InvalidArgumentError(_)
            | ArrowError::ParseError(_),
        ) = c.downcast_ref::<ArrowError>()
        {
            return true;
        }
        cause = c.source();
    }
    false
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let message = e.to_string();
        match e {
            QueryError::Forbidden(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden_statement", message)
            }
            QueryError::InvalidSql(_) => ApiError::bad_request("invalid_sql", message),
            QueryError::QueryFailed(_) => ApiError::bad_request("query_failed", message),
            QueryError::InvalidRequest(_) => ApiError::bad_request("invalid_request", message),
            QueryError::UnknownMetric(_) => ApiError::bad_request("unknown_metric", message),
            QueryError::CurrencyRequired(_) => ApiError::bad_request("currency_required", message),
            QueryError::SqlTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "sql_too_large", message)
            }
            QueryError::ResultTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "result_too_large", message)
            }
            QueryError::MemoryLimit { .. } => ApiError::bad_request("memory_limit", message),
            QueryError::Timeout(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "query_timeout", message)
            }
            QueryError::Busy => ApiError {
                code: "busy",
                ..ApiError::unavailable(message, 1)
            },
            QueryError::Storage(detail) => {
                tracing::warn!(error = %detail, "tables unavailable");
                ApiError {
                    code: "tables_unavailable",
                    ..ApiError::unavailable(message, 5)
                }
            }
            QueryError::Internal(detail) => ApiError::internal("running the query", &detail),
        }
    }
}
