//! Who is asking, and for which tenant; and the query string, strictly.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use chrono_tz::Tz;
use revstream_ingest::http::{ApiError, ApiResult};
use revstream_registry::Role;
use revstream_schemas::TenantId;

use super::QueryState;

/// The tenant a request reads: the key's, or — for the deployment admin
/// token — the one named by `?tenant=` (required, and it must exist).
pub(crate) async fn tenant(
    state: &QueryState,
    headers: &HeaderMap,
    asked: Option<&str>,
) -> ApiResult<TenantId> {
    let inner = &state.inner;
    if inner.auth.is_admin(headers) {
        let Some(asked) = asked else {
            return Err(ApiError::bad_request(
                "tenant_required",
                "the admin token reads any tenant: name one with ?tenant=ID",
            ));
        };
        let tenant = TenantId::parse(asked).map_err(|e| {
            ApiError::bad_request("invalid_tenant", format!("tenant {asked:?}: {e}"))
        })?;
        // It must exist; its timezone is cached for the route that needs it.
        timezone(state, &tenant).await?;
        return Ok(tenant);
    }
    let who = inner
        .auth
        .require_key(headers, Role::can_query, "query")
        .await?;
    if let Some(asked) = asked
        && asked != who.tenant.as_str()
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a tenant key reads only its own tenant; leave out ?tenant=",
        ));
    }
    Ok(who.tenant)
}

/// The tenant's timezone from the registry, cached; while the registry
/// cannot be reached, the last one it gave (dashboards answer from the
/// tables through a registry outage).
pub(crate) async fn timezone(state: &QueryState, tenant: &TenantId) -> ApiResult<Tz> {
    let inner = &state.inner;
    if let Some(tz) = inner.timezones.get(tenant) {
        return Ok(tz);
    }
    match inner.registry.tenant(tenant.as_str()).await {
        Ok(t) => {
            inner.timezones.insert(tenant.clone(), t.timezone);
            Ok(t.timezone)
        }
        Err(e) if e.is_unavailable() => match inner.timezones.get_stale(tenant) {
            Some(tz) => {
                tracing::warn!(%tenant, error = %e, "registry unreachable; using the cached timezone");
                Ok(tz)
            }
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The query string as name → value, refusing names not in `allowed` and
/// names given twice (a second `tenant=` must not go unnoticed).
pub(crate) fn query_params(
    raw: Option<&str>,
    allowed: &[&str],
) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(raw) = raw else {
        return Ok(out);
    };
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!(
                    "unknown query parameter {k:?}; this route takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("query parameter {k:?} is given more than once"),
            ));
        }
    }
    Ok(out)
}
