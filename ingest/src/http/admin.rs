//! Tenant administration with the deployment's admin token: tenants, API
//! keys, webhook secrets (rotation) and provider credentials.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use revstream_registry::{ChurnRecognition, NewTenant, Role, SecretInfo, Tenant, WEBHOOK_SOURCES};
use revstream_schemas::TenantId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::IngestState;
use super::error::{ApiError, ApiResult};
use super::json::read_json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    id: String,
    name: Option<String>,
    timezone: Option<String>,
    churn_recognition: Option<ChurnRecognition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddSecret {
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetCredential {
    credential: String,
}

pub(super) fn tenant_id(raw: &str) -> ApiResult<TenantId> {
    TenantId::parse(raw)
        .map_err(|e| ApiError::bad_request("invalid_tenant_id", format!("tenant id {e}")))
}

/// The source name as the `'static` spelling the caches key on.
fn webhook_source(raw: &str) -> ApiResult<&'static str> {
    WEBHOOK_SOURCES
        .into_iter()
        .find(|s| *s == raw)
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_source",
                format!("unknown source {raw:?}: use stripe, whop, calendly or standard"),
            )
        })
}

pub(crate) async fn create_tenant(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    state.inner.auth.require_admin(&headers)?;
    let req: CreateTenant = read_json(&headers, body).await?;
    let tenant = state
        .registry()
        .create_tenant(NewTenant {
            id: tenant_id(&req.id)?,
            name: req.name,
            timezone: req.timezone,
            churn_recognition: req.churn_recognition,
        })
        .await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant)))
}

pub(crate) async fn list_tenants(
    State(state): State<IngestState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    state.inner.auth.require_admin(&headers)?;
    let tenants = state.registry().tenants().await?;
    Ok(Json(json!({ "tenants": tenants })))
}

pub(crate) async fn create_key(
    State(state): State<IngestState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let req: CreateKey = read_json(&headers, body).await?;
    let key = state.registry().create_key(&tenant, req.role).await?;
    tracing::info!(%tenant, key_id = %key.key_id, role = key.role.as_str(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": key.key, "key_id": key.key_id, "role": key.role, "tenant": key.tenant})),
    ))
}

pub(crate) async fn add_secret(
    State(state): State<IngestState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let source = webhook_source(&source)?;
    let req: AddSecret = read_json(&headers, body).await?;
    let n = state
        .registry()
        .add_webhook_secret(&tenant, source, &req.secret)
        .await?;
    state
        .inner
        .secrets
        .invalidate(&(tenant.to_string(), source));
    tracing::info!(%tenant, source, n, "webhook secret added");
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_secrets(
    State(state): State<IngestState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let source = webhook_source(&source)?;
    state.registry().tenant(tenant.as_str()).await?;
    let secrets: Vec<SecretInfo> = state
        .registry()
        .list_webhook_secrets(&tenant, source)
        .await?;
    Ok(Json(json!({ "secrets": secrets })))
}

pub(crate) async fn delete_secret(
    State(state): State<IngestState>,
    Path((tenant, source, n)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let source = webhook_source(&source)?;
    let n: i64 = n.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            format!("secret number must be an integer, got {n:?}"),
        )
    })?;
    state
        .registry()
        .delete_webhook_secret(&tenant, source, n)
        .await?;
    state
        .inner
        .secrets
        .invalidate(&(tenant.to_string(), source));
    tracing::info!(%tenant, source, n, "webhook secret removed");
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn set_credential(
    State(state): State<IngestState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let req: SetCredential = read_json(&headers, body).await?;
    state
        .registry()
        .set_credential(&tenant, &source, &req.credential)
        .await?;
    tracing::info!(%tenant, source, "provider credential set");
    Ok(StatusCode::NO_CONTENT)
}
