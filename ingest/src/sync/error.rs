//! Why a sync could not do its work. Each variant says whose fault it is:
//! the operator's (credential, file), the provider's (unreachable, bad
//! pages) or ours (log, registry).

use crate::log::LogError;

/// Everything a sync run can fail at. The message is what the sync run
/// records and the CLI prints, so each one names what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "no {provider} credential is stored for tenant {tenant}: set one with \
         PUT /v1/admin/tenants/{tenant}/credentials/{provider}"
    )]
    NoCredential {
        provider: &'static str,
        tenant: String,
    },
    #[error(
        "{provider} rejected the tenant's credential (HTTP {status} at {url}): store a valid \
         API key with PUT /v1/admin/tenants/{{tenant}}/credentials/{provider}"
    )]
    Unauthorized {
        provider: &'static str,
        status: u16,
        url: String,
    },
    #[error("{provider} is unreachable at {url} after {attempts} attempts: {detail}")]
    Unreachable {
        provider: &'static str,
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error("{provider} answered HTTP {status} at {url} after {attempts} attempts: {body}")]
    Http {
        provider: &'static str,
        status: u16,
        url: String,
        attempts: u32,
        body: String,
    },
    #[error("{provider} sent a page that is not its documented list format ({url}): {problem}")]
    BadPage {
        provider: &'static str,
        url: String,
        problem: String,
    },
    /// A bad input file: `at` names the line and the column (or field).
    #[error("{file}: {at}: {problem}")]
    File {
        file: String,
        at: String,
        problem: String,
    },
    #[error("cannot read {file}: {detail}")]
    Io { file: String, detail: String },
    #[error("invalid sync request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("tenant registry: {0}")]
    Registry(#[from] revstream_registry::Error),
}

impl SyncError {
    /// Whether the caller or the operator must fix something (a 4xx), as
    /// opposed to the provider, the log or the registry (a 5xx).
    pub fn is_caller_error(&self) -> bool {
        match self {
            SyncError::NoCredential { .. }
            | SyncError::File { .. }
            | SyncError::Io { .. }
            | SyncError::Invalid(_) => true,
            SyncError::Registry(e) => e.is_caller_error(),
            _ => false,
        }
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
