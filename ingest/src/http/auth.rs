//! Who is calling: the deployment's admin token, or a tenant's API key.
//! Shared by every role's routes (ingest, query) so keys are checked — and
//! cached — one way.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use revstream_registry::{KeyIdentity, Registry, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ApiResult};
use super::ttl_cache::TtlCache;

/// Authentication for HTTP routes.
#[derive(Debug)]
pub struct Auth {
    registry: Registry,
    admin_token: String,
    /// Verified keys by SHA-256, so plaintext keys do not linger in memory.
    keys: TtlCache<[u8; 32], KeyIdentity>,
}

/// The token after `Bearer `, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Auth {
    /// `cache_ttl`: how long a verified key is trusted without asking the
    /// registry again (a revocation elsewhere takes effect within it).
    /// `stale_if_unavailable`: how much longer it is trusted while the
    /// registry cannot be reached.
    pub fn new(
        registry: Registry,
        admin_token: String,
        cache_ttl: Duration,
        stale_if_unavailable: Duration,
    ) -> Self {
        Self {
            registry,
            admin_token,
            keys: TtlCache::new(cache_ttl, stale_if_unavailable, 100_000),
        }
    }

    /// Whether the request carries the deployment admin token (constant time).
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|t| bool::from(t.as_bytes().ct_eq(self.admin_token.as_bytes())))
    }

    /// Admin routes: the deployment admin token.
    pub fn require_admin(&self, headers: &HeaderMap) -> ApiResult<()> {
        if bearer(headers).is_none() {
            return Err(ApiError::unauthorized(
                "unauthorized",
                "send the admin token as `Authorization: Bearer <token>`",
            ));
        }
        if self.is_admin(headers) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "unauthorized",
                "the admin token is not valid",
            ))
        }
    }

    /// A tenant key with a role that passes `allowed`; 401 for no or bad key,
    /// 403 for a key whose role may not do this.
    pub async fn require_key(
        &self,
        headers: &HeaderMap,
        allowed: fn(Role) -> bool,
        what: &str,
    ) -> ApiResult<KeyIdentity> {
        let key = bearer(headers).ok_or_else(|| {
            ApiError::unauthorized(
                "unauthorized",
                "send an API key as `Authorization: Bearer rsk_…`",
            )
        })?;
        let identity = self.verify_cached(key).await?;
        if !allowed(identity.role) {
            return Err(ApiError::forbidden(format!(
                "a key with role {} may not {what}",
                identity.role.as_str()
            )));
        }
        Ok(identity)
    }

    async fn verify_cached(&self, key: &str) -> ApiResult<KeyIdentity> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(identity) = self.keys.get(&digest) {
            return Ok(identity);
        }
        let verified = match self.registry.verify_key(key).await {
            Err(e) if e.is_unavailable() => {
                // The registry is down: a key it vouched for recently still
                // passes, so dashboards and producers ride the outage out.
                if let Some(identity) = self.keys.get_stale(&digest) {
                    tracing::warn!(error = %e, "registry unreachable; using the cached verification of a key");
                    return Ok(identity);
                }
                return Err(e.into());
            }
            verified => verified?,
        };
        match verified {
            Some(identity) => {
                self.keys.insert(digest, identity.clone());
                Ok(identity)
            }
            None => Err(ApiError::unauthorized(
                "unauthorized",
                "the API key is not valid",
            )),
        }
    }
}
