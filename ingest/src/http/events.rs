//! `POST /v1/events`: a JSON array or NDJSON of canonical events from a
//! producer. Each row is validated on its own; good rows are appended even
//! when others are rejected, and the answer names every rejected row.

use std::collections::HashSet;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use revstream_registry::Role;
use revstream_schemas::CanonicalEvent;
use serde::Serialize;
use serde_json::json;

use super::IngestState;
use super::batch::split_rows;
use super::body::read_limited;
use super::error::{ApiError, ApiResult, ErrorCode};
use super::webhooks::rate_limited;
use crate::telemetry::Route;

#[derive(Debug, Serialize)]
pub(crate) struct Rejected {
    /// 0-based position among the rows (blank NDJSON lines are not rows).
    index: usize,
    error: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct BatchAnswer {
    accepted: usize,
    duplicates: usize,
    rejected: Vec<Rejected>,
}

pub(crate) async fn receive(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let answer = accept(&state, headers, body).await;
    if let Err(e) = &answer {
        state.metrics().rejected(Route::Events, "api", e.code);
    }
    answer
}

async fn accept(state: &IngestState, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let who = state
        .inner
        .auth
        .require_key(&headers, Role::can_ingest, "send events")
        .await?;
    let config = &state.inner.config;
    let body = read_limited(&headers, body, config.batch_body_limit).await?;
    let rows = split_rows(&body)?;
    if rows.len() > config.batch_max_events {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "a batch may hold at most {} events, got {}; split it",
                config.batch_max_events,
                rows.len()
            ),
        ));
    }
    state
        .inner
        .limiter
        .try_take(who.tenant.as_str(), rows.len() as f64)
        .map_err(rate_limited)?;

    let mut answer = BatchAnswer {
        accepted: 0,
        duplicates: 0,
        rejected: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut fresh = Vec::with_capacity(rows.len());
    let recent = &state.inner.recent;
    for (index, row) in rows.into_iter().enumerate() {
        match CanonicalEvent::from_json(row) {
            Err(e) => answer.rejected.push(Rejected {
                index,
                error: e.to_string(),
            }),
            Ok(event) => {
                let new_here = seen.insert((event.source.clone(), event.id.clone()));
                if !new_here
                    || recent.contains(
                        who.tenant.as_str(),
                        event.source.as_str(),
                        event.id.as_str(),
                    )
                {
                    answer.duplicates += 1;
                } else {
                    fresh.push(event);
                }
            }
        }
    }

    if !fresh.is_empty() {
        let fresh: Vec<&CanonicalEvent> = fresh.iter().collect();
        state
            .append_durably(Route::Events, &who.tenant, &fresh)
            .await?;
        answer.accepted = fresh.len();
    }

    let metrics = state.metrics();
    metrics.events(Route::Events, "duplicate", answer.duplicates);
    metrics.events(Route::Events, "invalid", answer.rejected.len());
    if answer.accepted == 0 && answer.duplicates == 0 {
        metrics.rejected(Route::Events, "api", "no_valid_events");
        // Nothing could be accepted: 400, with the per-row reasons beside
        // the usual error object.
        let message = match answer.rejected.first() {
            Some(first) => format!(
                "no event could be accepted; {} rejected (first: row {}: {})",
                answer.rejected.len(),
                first.index,
                first.error
            ),
            None => "the batch holds no events".to_owned(),
        };
        let body = json!({
            "error": {"code": "no_valid_events", "message": message},
            "accepted": 0, "duplicates": 0, "rejected": answer.rejected,
        });
        let mut response = (StatusCode::BAD_REQUEST, Json(body)).into_response();
        response
            .extensions_mut()
            .insert(ErrorCode("no_valid_events"));
        return Ok(response);
    }
    let status = if answer.accepted > 0 {
        "accepted"
    } else {
        "duplicate"
    };
    metrics.answered(Route::Events, "api", status);
    Ok(Json(answer).into_response())
}
