//! `/healthz` (the process is up) and `/readyz` (it can do its job: the
//! event log takes writes, the registry answers, and whatever else the
//! binary registered, such as the table store).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::IngestState;

/// Something `/readyz` must find working.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn readyz(State(state): State<IngestState>) -> (StatusCode, Json<Value>) {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    let mut record = |name: &str, result: Result<(), String>| {
        ready &= result.is_ok();
        checks.insert(
            name.to_owned(),
            match result {
                Ok(()) => json!("ok"),
                Err(e) => json!(e),
            },
        );
    };
    record(
        "event_log",
        state.inner.log.check().await.map_err(|e| e.to_string()),
    );
    record(
        "registry",
        state.inner.registry.ping().await.map_err(|e| e.to_string()),
    );
    for extra in &state.inner.extra_readiness {
        record(extra.name(), extra.check().await);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({"ready": ready, "checks": checks})))
}
