//! API keys: random, shown once, stored as a SHA-256 hash, each with one
//! role in one tenant.
//!
//! A key reads `rsk_<key id>_<secret>`. The key id (12 hex characters) finds
//! the row without scanning; the secret (32 random bytes) is what makes the
//! key unguessable, so a fast hash is enough — there is no password to brute
//! force.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use revstream_schemas::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::{Error, Registry, Result, now_ms};

const PREFIX: &str = "rsk_";
const KEY_ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in its tenant: settings, keys, secrets, ingest and query.
    Admin,
    /// Ad-hoc SQL and dashboards.
    Analyst,
    /// Dashboards.
    Viewer,
    /// Sending events, nothing else.
    Ingest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::Ingest => "ingest",
        }
    }

    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Admin | Role::Ingest)
    }

    pub fn can_query(self) -> bool {
        matches!(self, Role::Admin | Role::Analyst | Role::Viewer)
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            "ingest" => Ok(Role::Ingest),
            other => Err(Error::Invalid {
                field: "role",
                problem: format!("must be admin, analyst, viewer or ingest, got {other:?}"),
            }),
        }
    }
}

/// A freshly created key. `key` is the only copy of the secret: show it
/// once and drop it.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub key: String,
    pub key_id: String,
    pub tenant: TenantId,
    pub role: Role,
}

/// Who a verified key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    pub key_id: String,
    pub tenant: TenantId,
    pub role: Role,
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::MasterKey(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// Splits `rsk_<id>_<secret>` into its key id; `None` for anything else.
fn key_id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 2 * KEY_ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty()).then_some(id)
}

impl Registry {
    pub async fn create_key(&self, tenant: &TenantId, role: Role) -> Result<ApiKey> {
        self.require_tenant(tenant).await?;
        let key_id = hex::encode(random_bytes::<KEY_ID_BYTES>()?);
        let secret = URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>()?);
        let key = format!("{PREFIX}{key_id}_{secret}");
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant_id, role, key_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key_id)
        .bind(tenant.as_str())
        .bind(role.as_str())
        .bind(hash_key(&key))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(ApiKey {
            key,
            key_id,
            tenant: tenant.clone(),
            role,
        })
    }

    /// The identity behind a presented key, or `None` when the key is
    /// malformed, unknown, wrong or revoked — callers answer 401 alike, so
    /// a probe learns nothing about which part was wrong.
    pub async fn verify_key(&self, presented: &str) -> Result<Option<KeyIdentity>> {
        let Some(key_id) = key_id_of(presented) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT tenant_id, role, key_hash FROM api_keys \
             WHERE key_id = $1 AND revoked_at_ms IS NULL",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: String = row.try_get("key_hash")?;
        let presented_hash = hash_key(presented);
        if !bool::from(stored.as_bytes().ct_eq(presented_hash.as_bytes())) {
            return Ok(None);
        }
        let tenant: String = row.try_get("tenant_id")?;
        let role: String = row.try_get("role")?;
        Ok(Some(KeyIdentity {
            key_id: key_id.to_owned(),
            tenant: TenantId::parse(&tenant).map_err(|e| Error::Invalid {
                field: "tenant id",
                problem: e.to_string(),
            })?,
            role: role.parse()?,
        }))
    }

    /// Revokes a key; later verifications fail. Returns whether it existed.
    pub async fn revoke_key(&self, tenant: &TenantId, key_id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE key_id = $2 AND tenant_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(key_id)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_found_only_in_well_formed_keys() {
        assert_eq!(key_id_of("rsk_0123456789ab_secret"), Some("0123456789ab"));
        assert_eq!(key_id_of("rsk_0123456789ab_"), None);
        assert_eq!(key_id_of("rsk_xyz_secret"), None);
        assert_eq!(key_id_of("Bearer rsk_0123456789ab_s"), None);
        assert_eq!(key_id_of(""), None);
    }
}
