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
use super::body::read_limited;
use super::error::{ApiError, ApiResult};
use super::webhooks::rate_limited;

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
        state.append_durably(&who.tenant, &fresh).await?;
        answer.accepted = fresh.len();
    }

    if answer.accepted == 0 && answer.duplicates == 0 {
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
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    Ok(Json(answer).into_response())
}

/// The rows of a batch: the elements of a JSON array, or the non-blank
/// lines of NDJSON. Only a body that is not even splittable into rows is
/// refused as a whole.
fn split_rows(body: &[u8]) -> ApiResult<Vec<&[u8]>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let elements: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(
                    "invalid_json",
                    format!("the body starts with '[' but is not a JSON array: {e}"),
                )
            })?;
        return Ok(elements
            .into_iter()
            .map(|raw| raw.get().as_bytes())
            .collect());
    }
    Ok(body
        .split(|&b| b == b'\n')
        .map(|line| line.trim_ascii())
        .filter(|line| !line.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::split_rows;

    #[test]
    fn arrays_and_ndjson_split_into_rows() {
        let rows = split_rows(br#" [{"a":1}, {"b":[1,2]}, 3] "#).unwrap();
        assert_eq!(rows, [&br#"{"a":1}"#[..], br#"{"b":[1,2]}"#, b"3"]);
        let rows = split_rows(b"{\"a\":1}\r\n\n  \n{\"b\":2}\nnot json").unwrap();
        assert_eq!(rows, [&b"{\"a\":1}"[..], b"{\"b\":2}", b"not json"]);
        assert!(split_rows(b"[{\"a\":1},").is_err());
        assert!(split_rows(b"").unwrap().is_empty());
    }
}
