//! `GET /v1/tables`: the tables and columns the caller can query.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use revstream_ingest::http::ApiResult;
use serde_json::{Value, json};

use super::QueryState;
use super::caller::{query_params, tenant};
use crate::catalog::{CATALOG, SCHEMA};

pub(crate) async fn get(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = query_params(raw.as_deref(), &["tenant"])?;
    let tenant = tenant(&state, &headers, q.get("tenant").map(String::as_str)).await?;
    let tables = state.engine().table_schemas().await;
    let tables: Vec<Value> = tables
        .into_iter()
        .map(|(name, schema)| {
            let columns: Vec<Value> = schema
                .fields()
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name(),
                        "type": f.data_type().to_string(),
                        "nullable": f.is_nullable(),
                    })
                })
                .collect();
            json!({"name": name.as_str(), "columns": columns})
        })
        .collect();
    Ok(Json(json!({
        "tenant": tenant.as_str(),
        "catalog": CATALOG,
        "schema": SCHEMA,
        "tables": tables,
    })))
}
