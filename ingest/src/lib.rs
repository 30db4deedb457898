//! revstream's front door.
//!
//! ```text
//!  POST /v1/webhooks/{source}/{tenant} ─▶ verify (signature, ±300 s) ─▶ normalize ─┐
//!  POST /v1/events (JSON array | NDJSON) ─▶ per-row validation ─────────────────────┼─▶ event log ─▶ 2xx
//!                                                                  (only after the append is durable)
//! ```
//!
//! - [`verify`]: one signature scheme per provider, constant-time, several
//!   signatures per header and several secrets per tenant.
//! - [`normalize`]: provider payloads → [`revstream_schemas::CanonicalEvent`]s.
//! - [`log`]: the event log trait, its envelope, Kafka and the local log.
//! - [`http`]: the axum routes, their limits and the JSON error contract.
//! - [`recent`]: recently appended ids, to answer `duplicate`.
//! - [`sync`]: provider pulls and file imports as snapshot events (backfill).
//! - [`telemetry`]: the Prometheus metrics of the routes and the log.

pub mod http;
pub mod log;
pub mod normalize;
pub mod recent;
pub mod sync;
pub mod telemetry;
pub mod verify;
