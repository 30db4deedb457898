//! revstream's pipeline: from the event log to per-tenant tables.
//!
//! ```text
//!  event log ─▶ source ─▶ dedupe (tenant, source, id) ─▶ per-tenant event set ─▶ derive ─▶ Arrow ─▶ Delta commit (+ offsets)
//! ```
//!
//! Exactly-once, order-independent results come from one design choice:
//! every derived table is a pure function ([`derive`]) of a tenant's set of
//! distinct events. Redelivery adds nothing to a set; a late event changes
//! the set, and the tenant's rows are derived again and rewritten. Offsets
//! are committed inside the `events` table's Delta commits, and state is
//! rebuilt from that table on start, so a crash at any point replays into
//! the same tables.
//!
//! - [`derive`]: the metric definitions of `spec/metrics.md`.
//! - [`batches`]: derived rows → Arrow record batches.
//! - [`store`]: the Delta tables, commits carrying offsets, reload on start.
//! - [`source`]: reading the log (embedded local log; Kafka).
//! - [`state`]: per-tenant event sets and change fingerprints.
//! - [`runner`]: the loop.
//! - [`telemetry`]: its Prometheus metrics (counters, commit latency,
//!   freshness, consumer lag).

pub mod batches;
pub mod derive;
pub mod runner;
pub mod settings;
pub mod source;
pub mod state;
pub mod store;
pub mod telemetry;

pub use runner::{CycleReport, Pipeline, PipelineConfig, PipelineError, PipelineStats};
pub use store::{CompactionReport, MaintenancePolicy, TableStore, table_root};
