//! `POST /v1/webhooks/{source}/{tenant}`: verify the signature over the raw
//! body, normalize, append durably, then answer.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use revstream_schemas::{CanonicalEvent, EventKind, TenantId};
use serde::Serialize;

use super::IngestState;
use super::body::read_limited;
use super::error::{ApiError, ApiResult};
use crate::normalize::{self, NormalizeError, Normalized};
use crate::telemetry::Route;
use crate::verify::{self, VerifyError, WebhookSource};

#[derive(Debug, Serialize)]
pub(crate) struct WebhookAnswer {
    status: &'static str,
    event_id: String,
}

pub(crate) async fn receive(
    State(state): State<IngestState>,
    Path((source, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<WebhookAnswer>> {
    // The label is the parsed provider, never the caller's text: the number
    // of series stays bounded whatever paths are sent.
    let label = WebhookSource::parse(&source).map_or("unknown", WebhookSource::as_str);
    let answer = verify_and_append(&state, &source, &tenant, &headers, body).await;
    let metrics = state.metrics();
    match &answer {
        Ok(Json(a)) => metrics.answered(Route::Webhooks, label, a.status),
        Err(e) => metrics.rejected(Route::Webhooks, label, e.code),
    }
    answer
}

async fn verify_and_append(
    state: &IngestState,
    source: &str,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Json<WebhookAnswer>> {
    let source = WebhookSource::parse(source).ok_or_else(|| {
        ApiError::not_found(
            "unknown_source",
            format!("unknown webhook source {source:?}: use stripe, whop, calendly or standard"),
        )
    })?;
    // An invalid id cannot name a tenant: same answer as an unknown one.
    let tenant = TenantId::parse(tenant).map_err(|_| {
        ApiError::not_found(
            "unknown_tenant",
            format!("tenant {tenant:?} does not exist"),
        )
    })?;
    let secrets = secrets_for(state, &tenant, source).await?;
    let body = read_limited(headers, body, state.inner.config.webhook_body_limit).await?;

    let verified = verify::verify(source, headers, &body, &secrets, Utc::now().timestamp())
        .map_err(signature_error)?;
    // Rate-limit only signed requests, so forged floods cannot spend a
    // tenant's budget.
    state
        .inner
        .limiter
        .try_take(tenant.as_str(), 1.0)
        .map_err(rate_limited)?;

    let normalized = normalize_body(source, &body, verified.webhook_id.as_deref())?;
    let status = append(state, &tenant, &normalized.events).await?;
    Ok(Json(WebhookAnswer {
        status,
        event_id: normalized.provider_event_id,
    }))
}

/// The tenant's active secrets for the source, or 404 saying which is missing.
async fn secrets_for(
    state: &IngestState,
    tenant: &TenantId,
    source: WebhookSource,
) -> ApiResult<Arc<Vec<String>>> {
    let key = (tenant.to_string(), source.as_str());
    if let Some(secrets) = state.inner.secrets.get(&key) {
        return Ok(secrets);
    }
    let secrets = match lookup_secrets(state, tenant, source).await {
        Err(e) if e.is_unavailable() => {
            // The registry is down: the secrets it gave recently still
            // verify, and the event log (not the registry) makes an event
            // durable, so the webhook is taken rather than refused.
            if let Some(secrets) = state.inner.secrets.get_stale(&key) {
                tracing::warn!(%tenant, source = source.as_str(), error = %e, "registry unreachable; verifying with cached webhook secrets");
                return Ok(secrets);
            }
            return Err(e.into());
        }
        looked_up => looked_up?,
    };
    if secrets.is_empty() {
        return Err(ApiError::not_found(
            "no_secret",
            format!(
                "tenant {tenant} has no {} webhook secret; set one with PUT /v1/admin/tenants/{tenant}/secrets/{}",
                source.as_str(),
                source.as_str()
            ),
        ));
    }
    let secrets = Arc::new(secrets);
    state.inner.secrets.insert(key, secrets.clone());
    Ok(secrets)
}

async fn lookup_secrets(
    state: &IngestState,
    tenant: &TenantId,
    source: WebhookSource,
) -> Result<Vec<String>, revstream_registry::Error> {
    let registry = state.registry();
    registry.tenant(tenant.as_str()).await?;
    registry.webhook_secrets(tenant, source.as_str()).await
}

fn signature_error(e: VerifyError) -> ApiError {
    if e.is_config_error() {
        tracing::error!(error = %e, "a stored webhook secret is unusable");
    }
    let code = match e {
        VerifyError::MissingHeader { .. } => "missing_signature",
        VerifyError::StaleTimestamp { .. } => "stale_timestamp",
        _ => "invalid_signature",
    };
    ApiError::unauthorized(code, e.to_string())
}

pub(crate) fn rate_limited(retry_after: u64) -> ApiError {
    ApiError {
        retry_after: Some(retry_after),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this tenant's ingest rate limit is exhausted; retry in {retry_after} s"),
        )
    }
}

fn normalize_body(
    source: WebhookSource,
    body: &[u8],
    webhook_id: Option<&str>,
) -> ApiResult<Normalized> {
    let result = match source {
        WebhookSource::Stripe => normalize::stripe::normalize(body),
        WebhookSource::Whop => normalize::whop::normalize(body, webhook_id),
        WebhookSource::Calendly => normalize::calendly::normalize(body),
        WebhookSource::Standard => standard_event(body, webhook_id),
    };
    result.map_err(|e| ApiError::bad_request("invalid_payload", e.to_string()))
}

/// The generic route carries one canonical event, signed per Standard Webhooks.
fn standard_event(body: &[u8], webhook_id: Option<&str>) -> normalize::Result<Normalized> {
    let event = CanonicalEvent::from_json(body).map_err(|e| NormalizeError::Field {
        path: e.path().to_owned(),
        problem: e.to_string(),
    })?;
    Ok(Normalized {
        provider_event_id: webhook_id.map_or_else(|| event.id.to_string(), str::to_owned),
        events: vec![event],
    })
}

/// Appends what is new and says what happened: `duplicate` when every event
/// was already appended, `ignored` when the provider event means nothing to
/// the metrics (kept for audit all the same), else `accepted`.
async fn append(
    state: &IngestState,
    tenant: &TenantId,
    events: &[CanonicalEvent],
) -> ApiResult<&'static str> {
    let recent = &state.inner.recent;
    let fresh: Vec<&CanonicalEvent> = events
        .iter()
        .filter(|e| !recent.contains(tenant.as_str(), e.source.as_str(), e.id.as_str()))
        .collect();
    let metrics = state.metrics();
    if fresh.is_empty() && !events.is_empty() {
        metrics.events(Route::Webhooks, "duplicate", events.len());
        return Ok("duplicate");
    }
    state
        .append_durably(Route::Webhooks, tenant, &fresh)
        .await?;
    metrics.events(Route::Webhooks, "duplicate", events.len() - fresh.len());
    let all_ignored = events.iter().all(|e| e.kind == EventKind::Ignored);
    Ok(if all_ignored { "ignored" } else { "accepted" })
}
