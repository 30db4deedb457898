//! `POST /v1/query` and `GET /v1/query`: read-only SQL over the caller's
//! tables, answered as JSON, NDJSON, CSV, an Arrow IPC stream or Parquet.
//!
//! Headers on every answer: `X-Revstream-Row-Count`,
//! `X-Revstream-Truncated` (the JSON body says it too), `X-Revstream-Cache`
//! (`hit` | `miss`).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use revstream_ingest::http::body::read_limited;
use revstream_ingest::http::{ApiError, ApiResult};
use serde::Deserialize;

use super::QueryState;
use super::caller::{query_params, tenant};
use crate::engine::{SqlParams, SqlRequest, elapsed_ms};
use crate::format::{self, Format};

const GET_PARAMS: &[&str] = &["sql", "format", "truncate", "params", "tenant"];
const POST_PARAMS: &[&str] = &["format", "truncate", "tenant"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    sql: String,
    #[serde(default)]
    params: Option<SqlParams>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    truncate: Option<bool>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

fn parse_format(s: Option<&str>) -> ApiResult<Format> {
    match s {
        None => Ok(Format::Json),
        Some(s) => Format::parse(s).ok_or_else(|| {
            invalid(format!(
                "format must be json, ndjson, csv, arrow or parquet, got {s:?}"
            ))
        }),
    }
}

fn parse_truncate(s: Option<&str>) -> ApiResult<bool> {
    match s {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(invalid(format!(
            "truncate must be true or false, got {other:?}"
        ))),
    }
}

pub(crate) async fn get(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let started = Instant::now();
    let q = query_params(raw.as_deref(), GET_PARAMS)?;
    let tenant = tenant(&state, &headers, q.get("tenant").map(String::as_str)).await?;
    let sql = q
        .get("sql")
        .ok_or_else(|| invalid("sql is required: GET /v1/query?sql=SELECT…"))?
        .clone();
    let params = q
        .get("params")
        .map(|p| {
            serde_json::from_str::<SqlParams>(p)
                .map_err(|e| invalid(format!("params must be a JSON array or object: {e}")))
        })
        .transpose()?;
    let request = SqlRequest {
        sql,
        params,
        truncate: parse_truncate(q.get("truncate").map(String::as_str))?,
    };
    let format = parse_format(q.get("format").map(String::as_str))?;
    answer(&state, &tenant, &request, format, started).await
}

pub(crate) async fn post(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let q = query_params(raw.as_deref(), POST_PARAMS)?;
    let tenant = tenant(&state, &headers, q.get("tenant").map(String::as_str)).await?;
    let bytes = read_limited(&headers, body, state.engine().config().max_body_bytes).await?;
    let body: QueryBody = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(format!(
            "the body must be JSON {{\"sql\": …, \"params\"?, \"format\"?, \"truncate\"?}}: {e}"
        ))
    })?;
    let format = match body.format.as_deref() {
        Some(f) => parse_format(Some(f))?,
        None => parse_format(q.get("format").map(String::as_str))?,
    };
    let truncate = match body.truncate {
        Some(t) => t,
        None => parse_truncate(q.get("truncate").map(String::as_str))?,
    };
    let request = SqlRequest {
        sql: body.sql,
        params: body.params,
        truncate,
    };
    answer(&state, &tenant, &request, format, started).await
}

async fn answer(
    state: &QueryState,
    tenant: &revstream_schemas::TenantId,
    request: &SqlRequest,
    format: Format,
    started: Instant,
) -> ApiResult<Response> {
    let result = state.engine().sql(tenant, request).await;
    let answer = match result {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(%tenant, error = %e, "query refused or failed");
            return Err(e.into());
        }
    };
    let output = answer.output;
    tracing::debug!(%tenant, rows = output.row_count, cached = answer.cached, "query answered");
    let mut response = Response::new(Body::from_stream(format::stream(
        output.clone(),
        format,
        elapsed_ms(started),
    )));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert("x-revstream-row-count", HeaderValue::from(output.row_count));
    h.insert(
        "x-revstream-truncated",
        HeaderValue::from_static(if output.truncated { "true" } else { "false" }),
    );
    h.insert(
        "x-revstream-cache",
        HeaderValue::from_static(if answer.cached { "hit" } else { "miss" }),
    );
    Ok(response)
}
