//! Opening the registry database and bringing its schema up to date.

use std::path::Path;
use std::sync::Once;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::{Error, MasterKey, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Longest wait for a pooled connection before a lookup fails.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A handle to the registry. Cheap to clone; every role shares one.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(crate) pool: AnyPool,
    pub(crate) master: MasterKey,
}

impl Registry {
    /// Connects to `sqlite://PATH` or `postgres://…` and applies migrations.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let sqlite = url.starts_with("sqlite:");
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !sqlite && !postgres {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        }
        let pool = AnyPoolOptions::new()
            // SQLite serializes writers anyway; a few readers are plenty.
            .max_connections(if sqlite { 4 } else { 10 })
            // While the database is down a lookup fails within this, and
            // the caller answers 503 (or uses what it has cached) instead
            // of holding the request for sqlx's default 30 s.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, master })
    }

    /// The embedded default: `registry.db` (SQLite) inside the data dir.
    pub async fn open_in_data_dir(data_dir: &Path, master: MasterKey) -> Result<Self> {
        Self::open(&sqlite_url(&data_dir.join("registry.db")), master).await
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://` URL for a file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}
