//! Per-tenant settings the metrics depend on (timezone, churn recognition),
//! read from the tenant registry and cached.

use std::collections::HashMap;

use revstream_registry::{ChurnRecognition, Registry};
use revstream_schemas::TenantId;
use tokio::sync::Mutex;

use crate::derive::{ChurnSetting, TenantSettings};

/// Where settings come from. Tests can use [`FixedSettings`].
#[async_trait::async_trait]
pub trait SettingsSource: Send + Sync {
    /// A tenant's settings; an error when they cannot be known right now
    /// (the registry is down). The pipeline then waits rather than derive
    /// with guessed settings: rows derived in the wrong timezone would
    /// stay wrong until the tenant's next event.
    async fn settings(&self, tenant: &TenantId) -> Result<TenantSettings, SettingsUnavailable>;
}

/// The settings source cannot answer now; asking again later may.
#[derive(Debug, thiserror::Error)]
#[error("tenant settings unavailable: {0}")]
pub struct SettingsUnavailable(pub String);

/// The same settings for every tenant.
#[derive(Debug, Clone, Default)]
pub struct FixedSettings(pub TenantSettings);

#[async_trait::async_trait]
impl SettingsSource for FixedSettings {
    async fn settings(&self, _: &TenantId) -> Result<TenantSettings, SettingsUnavailable> {
        Ok(self.0)
    }
}

/// Settings from the registry, cached for the life of the process: a
/// timezone change is rare and applies from the next restart (documented).
#[derive(Debug)]
pub struct RegistrySettings {
    registry: Registry,
    cache: Mutex<HashMap<TenantId, TenantSettings>>,
}

impl RegistrySettings {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl SettingsSource for RegistrySettings {
    async fn settings(&self, tenant: &TenantId) -> Result<TenantSettings, SettingsUnavailable> {
        if let Some(s) = self.cache.lock().await.get(tenant) {
            return Ok(*s);
        }
        let settings = match self.registry.tenant(tenant.as_str()).await {
            Ok(t) => TenantSettings {
                timezone: t.timezone,
                churn: match t.churn_recognition {
                    ChurnRecognition::AtPeriodEnd => ChurnSetting::AtPeriodEnd,
                    ChurnRecognition::AtRequest => ChurnSetting::AtRequest,
                },
            },
            // Events of a tenant the registry does not know (never created,
            // or deleted) still count, in UTC with default churn. Cached, so
            // this is said once per tenant, not once per cycle.
            Err(revstream_registry::Error::TenantNotFound(_)) => {
                tracing::warn!(%tenant, "tenant not in the registry; its metrics use UTC and default churn");
                TenantSettings::default()
            }
            // An outage (or a broken registry): nothing to guess with.
            Err(e) => return Err(SettingsUnavailable(format!("tenant {tenant}: {e}"))),
        };
        self.cache.lock().await.insert(tenant.clone(), settings);
        Ok(settings)
    }
}
