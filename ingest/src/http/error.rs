//! The error contract of every route: a status code and
//! `{"error": {"code": "snake_case", "message": "human sentence"}}`.
//! Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The `code` of an error answer, also left in the response's extensions
/// so middleware (request metrics) can count refusals by reason without
/// reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// An answer that is not a success.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", message)
        }
    }

    /// A failure that is ours, not the caller's: logged in full, reported
    /// without internals.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error while {context}; it has been logged"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        if let Some(v) = self
            .retry_after
            .and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<revstream_registry::Error> for ApiError {
    fn from(e: revstream_registry::Error) -> Self {
        use revstream_registry::Error as E;
        match &e {
            E::TenantExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "tenant_exists", e.to_string())
            }
            E::TenantNotFound(_) => ApiError::not_found("unknown_tenant", e.to_string()),
            E::SecretNotFound { .. } => ApiError::not_found("unknown_secret", e.to_string()),
            E::UnknownTimezone(_) | E::Invalid { .. } => {
                ApiError::bad_request("invalid_request", e.to_string())
            }
            // The registry database being down is a 503: retrying helps.
            E::Database(_) => {
                tracing::error!(error = %e, "registry unavailable");
                ApiError {
                    code: "registry_unavailable",
                    ..ApiError::unavailable("the tenant registry is unavailable", 5)
                }
            }
            _ => ApiError::internal("using the tenant registry", &e),
        }
    }
}

impl From<crate::log::LogError> for ApiError {
    fn from(e: crate::log::LogError) -> Self {
        match e {
            crate::log::LogError::Unavailable(_) => {
                tracing::warn!(error = %e, "append failed; answering 503");
                ApiError::unavailable(
                    "the event log is unavailable; nothing was accepted, retry later",
                    5,
                )
            }
            crate::log::LogError::Rejected(m) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "record_too_large",
                format!("the event log refused a record: {m}"),
            ),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
