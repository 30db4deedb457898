//! Webhook signing secrets per tenant and source, sealed at rest. Several
//! may be active at once so a tenant can rotate without dropping webhooks:
//! add the new secret, switch the provider, then delete the old one.

use revstream_schemas::TenantId;
use serde::Serialize;
use sqlx::Row;

use crate::{Error, Registry, Result, now_ms};

/// Sources that sign webhooks.
pub const WEBHOOK_SOURCES: [&str; 4] = ["stripe", "whop", "calendly", "standard"];

/// A stored secret without its value, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    pub n: i64,
    pub created_at_ms: i64,
}

fn check_source(source: &str) -> Result<()> {
    if WEBHOOK_SOURCES.contains(&source) {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: "source",
            problem: format!("must be one of stripe, whop, calendly, standard; got {source:?}"),
        })
    }
}

/// Binds a ciphertext to its row: it will not open on another tenant or source.
fn context(tenant: &TenantId, source: &str) -> String {
    format!("webhook_secret/{tenant}/{source}")
}

/// How often to retry numbering a new secret when a concurrent insert took
/// the same number.
const INSERT_ATTEMPTS: usize = 5;

impl Registry {
    /// Adds a secret; earlier ones stay valid. Returns its number.
    pub async fn add_webhook_secret(
        &self,
        tenant: &TenantId,
        source: &str,
        secret: &str,
    ) -> Result<i64> {
        check_source(source)?;
        if secret.is_empty() || secret.len() > 1024 {
            return Err(Error::Invalid {
                field: "secret",
                problem: "must be 1 to 1024 bytes".into(),
            });
        }
        self.require_tenant(tenant).await?;
        let sealed = self
            .master
            .seal(secret.as_bytes(), &context(tenant, source))?;
        let mut last_error = None;
        for _ in 0..INSERT_ATTEMPTS {
            let n: i64 = sqlx::query(
                "SELECT COALESCE(MAX(n), 0) + 1 AS next FROM webhook_secrets \
                 WHERE tenant_id = $1 AND source = $2",
            )
            .bind(tenant.as_str())
            .bind(source)
            .fetch_one(&self.pool)
            .await?
            .try_get("next")?;
            let inserted = sqlx::query(
                "INSERT INTO webhook_secrets (tenant_id, source, n, sealed, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(n)
            .bind(&sealed)
            .bind(now_ms())
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return Ok(n),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.map_or(
            Error::Invalid {
                field: "secret",
                problem: "could not be numbered".into(),
            },
            Error::from,
        ))
    }

    /// Every active secret for (tenant, source), decrypted, oldest first.
    pub async fn webhook_secrets(&self, tenant: &TenantId, source: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT sealed FROM webhook_secrets WHERE tenant_id = $1 AND source = $2 ORDER BY n",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        let ctx = context(tenant, source);
        rows.iter()
            .map(|row| {
                let sealed: String = row.try_get("sealed")?;
                let plain = self.master.open(&sealed, &ctx)?;
                String::from_utf8(plain).map_err(|_| Error::Decrypt)
            })
            .collect()
    }

    /// Numbers and ages of the active secrets, without their values.
    pub async fn list_webhook_secrets(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<Vec<SecretInfo>> {
        let rows = sqlx::query(
            "SELECT n, created_at_ms FROM webhook_secrets \
             WHERE tenant_id = $1 AND source = $2 ORDER BY n",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecretInfo {
                    n: row.try_get("n")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    /// Removes secret `n`; webhooks signed with it stop verifying.
    pub async fn delete_webhook_secret(
        &self,
        tenant: &TenantId,
        source: &str,
        n: i64,
    ) -> Result<()> {
        check_source(source)?;
        let done = sqlx::query(
            "DELETE FROM webhook_secrets WHERE tenant_id = $1 AND source = $2 AND n = $3",
        )
        .bind(tenant.as_str())
        .bind(source)
        .bind(n)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::SecretNotFound {
                tenant: tenant.to_string(),
                source_name: source.to_owned(),
                n,
            });
        }
        Ok(())
    }

    /// The raw stored form of the secrets, for tests that check encryption
    /// at rest.
    #[doc(hidden)]
    pub async fn sealed_webhook_secrets(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT sealed FROM webhook_secrets WHERE tenant_id = $1 AND source = $2")
                .bind(tenant.as_str())
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("sealed")?)).collect()
    }
}
