//! Where the tenant registry lives, shared by every command that uses it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use revstream_registry::{MasterKey, Registry};

use crate::shutdown::shutdown_signal;

/// `--data-dir` and `--database-url`, flattened into each command.
#[derive(Debug, Clone, Args)]
pub(crate) struct RegistryArgs {
    /// Directory for embedded state: the SQLite registry, the local event
    /// log, tables, the master key and the admin token.
    #[arg(long, env = "REVSTREAM_DATA_DIR", default_value = "./revstream-data")]
    pub(crate) data_dir: PathBuf,

    /// Registry database: postgres://… for scale-out deployments. Without it,
    /// SQLite in the data dir.
    #[arg(long, env = "REVSTREAM_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

impl RegistryArgs {
    /// Opens the registry, creating the data dir and master key on first use.
    pub(crate) async fn open(&self) -> anyhow::Result<Registry> {
        ensure_dir(&self.data_dir)?;
        let env_key = std::env::var("REVSTREAM_MASTER_KEY").ok();
        let master = MasterKey::load_or_create(env_key.as_deref(), &self.data_dir)
            .context("loading the master key (REVSTREAM_MASTER_KEY or <data-dir>/master.key)")?;
        let registry = match &self.database_url {
            Some(url) => Registry::open(url, master).await,
            None => Registry::open_in_data_dir(&self.data_dir, master).await,
        };
        registry.with_context(|| format!("opening the registry at {}", self.describe()))
    }

    /// Like [`open`](Self::open), for the long-running roles: while the
    /// registry database cannot be reached (a deployment whose database
    /// starts after it, or restarts) it waits and retries, saying so, until
    /// the database answers or the process is asked to stop. Any other
    /// failure (a bad URL, a wrong master key) ends the start at once.
    pub(crate) async fn open_waiting(&self) -> anyhow::Result<Registry> {
        let mut backoff = Duration::from_millis(250);
        let waiting = async {
            loop {
                match self.open().await {
                    Ok(registry) => return Ok(registry),
                    Err(e) if unavailable(&e) => {
                        tracing::warn!(registry = %self.describe(), error = %e, retry_in_ms = backoff.as_millis() as u64, "registry unreachable; waiting for it");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_WAIT_BACKOFF);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        tokio::select! {
            opened = waiting => opened,
            () = shutdown_signal() => anyhow::bail!("stopped while waiting for the registry at {}", self.describe()),
        }
    }

    /// The deployment admin token: REVSTREAM_ADMIN_TOKEN, else generated
    /// into the data dir on first start.
    pub(crate) fn admin_token(&self) -> anyhow::Result<revstream_registry::AdminToken> {
        let env = std::env::var("REVSTREAM_ADMIN_TOKEN").ok();
        revstream_registry::AdminToken::load_or_create(env.as_deref(), &self.data_dir)
            .context("loading the admin token (REVSTREAM_ADMIN_TOKEN or <data-dir>/admin-token)")
    }

    /// Where the registry is, for messages (never prints credentials).
    pub(crate) fn describe(&self) -> String {
        match &self.database_url {
            Some(url) => redact_url(url),
            None => self.data_dir.join("registry.db").display().to_string(),
        }
    }
}

/// Longest pause between attempts to reach the registry at start.
const MAX_WAIT_BACKOFF: Duration = Duration::from_secs(5);

fn unavailable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<revstream_registry::Error>()
        .is_some_and(revstream_registry::Error::is_unavailable)
}

pub(crate) fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))
}

/// `postgres://user:pw@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/rev"),
            "postgres://app:***@db:5432/rev"
        );
        assert_eq!(redact_url("postgres://app@db/rev"), "postgres://app@db/rev");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
