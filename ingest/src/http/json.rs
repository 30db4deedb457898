//! Small JSON request bodies (admin routes), parsed with our error format.

use axum::body::Body;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::body::read_limited;
use super::error::{ApiError, ApiResult};

/// Admin bodies are a few fields; anything larger is a mistake.
const ADMIN_BODY_LIMIT: usize = 64 * 1024;

pub(crate) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    let bytes = read_limited(headers, body, ADMIN_BODY_LIMIT).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("request body: {e}")))
}
