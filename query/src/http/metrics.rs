//! `GET /v1/metrics`: see [`crate::metrics`].

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use revstream_ingest::http::ApiResult;

use super::QueryState;
use super::caller::{query_params, tenant, timezone};
use crate::metrics::{MetricsParams, MetricsRequest, compute};

const PARAMS: &[&str] = &[
    "from", "to", "interval", "metrics", "group_by", "currency", "tenant",
];

pub(crate) async fn get(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut q = query_params(raw.as_deref(), PARAMS)?;
    let tenant = tenant(&state, &headers, q.get("tenant").map(String::as_str)).await?;
    let request = MetricsRequest::parse(&MetricsParams {
        from: q.remove("from"),
        to: q.remove("to"),
        interval: q.remove("interval"),
        metrics: q.remove("metrics"),
        group_by: q.remove("group_by"),
        currency: q.remove("currency"),
    })?;
    let timezone = timezone(&state, &tenant).await?;
    let answer = compute(state.engine(), &tenant, timezone, &request).await?;
    Ok(([(CONTENT_TYPE, "application/json")], answer).into_response())
}
