//! revstream's pipeline: from the event log to per-tenant tables.
//!
//! ```text
//!  event log ─▶ dedupe (tenant, source, id) ─▶ per-tenant event set ─▶ derive ─▶ table rows ─▶ atomic commit (+ offsets)
//! ```
//!
//! - [`derive`]: the metric definitions of `spec/metrics.md` as a pure
//!   function of a tenant's distinct events. Order of arrival never matters:
//!   events are sorted by (occurred_at, event id) before anything is derived.

pub mod derive;
