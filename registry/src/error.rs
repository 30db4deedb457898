//! Registry errors: each says whose fault it is (caller or database).

/// Everything the registry can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    #[error("tenant {0:?} does not exist")]
    TenantNotFound(String),
    #[error("unknown timezone {0:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"")]
    UnknownTimezone(String),
    /// A value supplied by the caller breaks a rule.
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("secret #{n} for source {source_name:?} of tenant {tenant:?} does not exist")]
    SecretNotFound {
        tenant: String,
        source_name: String,
        n: i64,
    },
    #[error("master key: {0}")]
    MasterKey(String),
    /// A stored ciphertext does not open under the master key: the key was
    /// changed, or the row was tampered with.
    #[error(
        "a stored secret cannot be decrypted with this master key (was REVSTREAM_MASTER_KEY changed?)"
    )]
    Decrypt,
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// Whether the caller caused this (a 4xx), as opposed to the database or
    /// the deployment (a 5xx).
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            Error::TenantExists(_)
                | Error::TenantNotFound(_)
                | Error::UnknownTimezone(_)
                | Error::Invalid { .. }
                | Error::SecretNotFound { .. }
        )
    }
}

impl Error {
    /// Whether the database could not be reached (down, restarting, a
    /// network cut) as opposed to refusing what was asked: worth waiting
    /// for and retrying.
    pub fn is_unavailable(&self) -> bool {
        let sql = match self {
            Error::Database(e) => e,
            Error::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
            _ => return false,
        };
        matches!(
            sql,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
