//! Tenants: the unit of isolation, with the settings metrics depend on.

use std::str::FromStr;

use chrono_tz::Tz;
use revstream_schemas::TenantId;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Error, Registry, Result, now_ms};

/// When a cancellation stops counting as MRR (spec/metrics.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnRecognition {
    /// MRR stays until the subscription actually ends.
    #[default]
    AtPeriodEnd,
    /// MRR drops when the cancellation is requested.
    AtRequest,
}

impl ChurnRecognition {
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnRecognition::AtPeriodEnd => "at_period_end",
            ChurnRecognition::AtRequest => "at_request",
        }
    }
}

impl FromStr for ChurnRecognition {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "at_period_end" => Ok(ChurnRecognition::AtPeriodEnd),
            "at_request" => Ok(ChurnRecognition::AtRequest),
            other => Err(Error::Invalid {
                field: "churn_recognition",
                problem: format!("must be at_period_end or at_request, got {other:?}"),
            }),
        }
    }
}

/// What a caller supplies to create a tenant; unset fields take defaults
/// (name = id, timezone UTC, churn at period end).
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub churn_recognition: Option<ChurnRecognition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// IANA zone in which the tenant's days start and end.
    #[serde(serialize_with = "serialize_tz")]
    pub timezone: Tz,
    pub churn_recognition: ChurnRecognition,
    pub created_at_ms: i64,
}

fn serialize_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

const MAX_NAME: usize = 200;

impl Registry {
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Tenant> {
        let timezone = match new.timezone.as_deref() {
            None => Tz::UTC,
            Some(name) => {
                Tz::from_str(name).map_err(|_| Error::UnknownTimezone(name.to_owned()))?
            }
        };
        let name = new.name.unwrap_or_else(|| new.id.to_string());
        if name.trim().is_empty() || name.len() > MAX_NAME {
            return Err(Error::Invalid {
                field: "name",
                problem: format!("must be 1 to {MAX_NAME} characters"),
            });
        }
        let tenant = Tenant {
            id: new.id,
            name,
            timezone,
            churn_recognition: new.churn_recognition.unwrap_or_default(),
            created_at_ms: now_ms(),
        };
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, name, timezone, churn_recognition, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.name)
        .bind(tenant.timezone.name())
        .bind(tenant.churn_recognition.as_str())
        .bind(tenant.created_at_ms)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(tenant),
            // The primary key is the only constraint a valid insert can break.
            Err(e) if self.tenant(tenant.id.as_str()).await.is_ok() => {
                tracing::debug!(error = %e, tenant = %tenant.id, "duplicate tenant");
                Err(Error::TenantExists(tenant.id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant with this id, or [`Error::TenantNotFound`].
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        let row = sqlx::query(
            "SELECT id, name, timezone, churn_recognition, created_at_ms FROM tenants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::TenantNotFound(id.to_owned()))?;
        tenant_from_row(&row)
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(
            "SELECT id, name, timezone, churn_recognition, created_at_ms FROM tenants ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Fails with [`Error::TenantNotFound`] unless the tenant exists.
    pub(crate) async fn require_tenant(&self, id: &TenantId) -> Result<()> {
        self.tenant(id.as_str()).await.map(|_| ())
    }
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    let id: String = row.try_get("id")?;
    let tz: String = row.try_get("timezone")?;
    let churn: String = row.try_get("churn_recognition")?;
    Ok(Tenant {
        id: TenantId::parse(&id).map_err(|e| Error::Invalid {
            field: "tenant id",
            problem: e.to_string(),
        })?,
        name: row.try_get("name")?,
        timezone: Tz::from_str(&tz).map_err(|_| Error::UnknownTimezone(tz.clone()))?,
        churn_recognition: churn.parse()?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}
