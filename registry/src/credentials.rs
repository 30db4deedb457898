//! Provider API credentials (a Stripe restricted key, a Whop API key, a
//! Calendly token) used by sync pulls; sealed at rest like webhook secrets.
//! One per tenant and source: setting it again replaces it.

use revstream_schemas::TenantId;
use sqlx::Row;

use crate::{Error, Registry, Result, now_ms};

fn context(tenant: &TenantId, source: &str) -> String {
    format!("provider_credential/{tenant}/{source}")
}

impl Registry {
    pub async fn set_credential(
        &self,
        tenant: &TenantId,
        source: &str,
        credential: &str,
    ) -> Result<()> {
        if !["stripe", "whop", "calendly"].contains(&source) {
            return Err(Error::Invalid {
                field: "source",
                problem: format!("must be stripe, whop or calendly; got {source:?}"),
            });
        }
        if credential.is_empty() || credential.len() > 4096 {
            return Err(Error::Invalid {
                field: "credential",
                problem: "must be 1 to 4096 bytes".into(),
            });
        }
        self.require_tenant(tenant).await?;
        let sealed = self
            .master
            .seal(credential.as_bytes(), &context(tenant, source))?;
        // Upsert without dialect-specific syntax: replace inside a transaction.
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM provider_credentials WHERE tenant_id = $1 AND source = $2")
            .bind(tenant.as_str())
            .bind(source)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO provider_credentials (tenant_id, source, sealed, updated_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(source)
        .bind(&sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn credential(&self, tenant: &TenantId, source: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT sealed FROM provider_credentials WHERE tenant_id = $1 AND source = $2",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("sealed")?;
        let plain = self.master.open(&sealed, &context(tenant, source))?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| Error::Decrypt)
    }
}
