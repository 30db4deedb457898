//! Who is calling: the deployment's admin token, or a tenant's API key.

use axum::http::{HeaderMap, header};
use revstream_registry::{KeyIdentity, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::IngestState;
use super::error::{ApiError, ApiResult};

/// The token after `Bearer `, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Admin routes: the deployment admin token, compared in constant time.
pub(crate) fn require_admin(state: &IngestState, headers: &HeaderMap) -> ApiResult<()> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        )
    })?;
    let expected = state.inner.admin_token.as_bytes();
    if bool::from(token.as_bytes().ct_eq(expected)) {
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
pub(crate) async fn require_key(
    state: &IngestState,
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
    let identity = verify_cached(state, key).await?;
    if !allowed(identity.role) {
        return Err(ApiError::forbidden(format!(
            "a key with role {} may not {what}",
            identity.role.as_str()
        )));
    }
    Ok(identity)
}

async fn verify_cached(state: &IngestState, key: &str) -> ApiResult<KeyIdentity> {
    // Cache by hash so plaintext keys do not linger in memory.
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    if let Some(identity) = state.inner.keys.get(&digest) {
        return Ok(identity);
    }
    match state.inner.registry.verify_key(key).await? {
        Some(identity) => {
            state.inner.keys.insert(digest, identity.clone());
            Ok(identity)
        }
        None => Err(ApiError::unauthorized(
            "unauthorized",
            "the API key is not valid",
        )),
    }
}
