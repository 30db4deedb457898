//! revstream's query service: DataFusion over the per-tenant Delta tables,
//! tenant-isolated read-only SQL over HTTP, and the dashboard metrics
//! endpoint.
//!
//! ```text
//!  pipeline commit ─(watch tick | staleness check)─▶ Tables (DeltaTables kept open, refreshed incrementally)
//!                                                        │ snapshot + versions
//!  request ─▶ auth ─▶ tenant ─▶ catalog::tenant_context ─┤  (only this tenant's tables; every scan
//!                                                        │   filtered by tenant_id, pushed down + enforced)
//!                       guard (read-only statements) ─▶ DataFusion ─▶ limits (rows, memory, time, concurrency)
//!                                                        │
//!                        result cache (tenant, request, table versions) ─▶ json | ndjson | csv | arrow | parquet
//! ```
//!
//! - [`tables`]: the Delta tables under one root, kept open and fresh,
//!   with the rows an in-process pipeline has staged but not yet committed
//!   in place of the tenant's files (`staged_tables`).
//! - [`catalog`]: the per-request `SessionContext` holding only the
//!   caller's tenant-scoped tables (DESIGN.md invariant 4).
//! - [`engine`]: SQL safety and limits; runs a statement for a tenant.
//! - [`format`]: result encodings and their content types.
//! - [`metrics`]: `GET /v1/metrics`, every metric of `spec/metrics.md`.
//! - [`cache`]: the bounded result cache.
//! - [`http`]: the axum routes (`/v1/query`, `/v1/metrics`, `/v1/tables`).
//! - [`cli`]: `revstream sql`.
//! - [`telemetry`]: Prometheus metrics of the routes and the result cache.

pub mod cache;
pub mod catalog;
pub mod cli;
mod dialect;
pub mod engine;
mod error;
pub mod format;
mod guard;
pub mod http;
mod lru;
pub mod metrics;
mod staged_tables;
pub mod sync_runs;
pub mod tables;
pub mod telemetry;
mod tenant_files;

pub use cli::{CliFormat, run_sql};
pub use engine::{QueryConfig, QueryEngine, QueryOutput, SqlParams, SqlRequest};
pub use error::{QueryError, Result};
pub use format::Format;
pub use http::{QueryState, router};
pub use tables::{TableVersions, Tables, TablesOptions, TablesSnapshot};
