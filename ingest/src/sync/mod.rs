//! Sync and backfill: provider pulls and file imports become snapshot
//! events in the same log as webhooks (issue #8).
//!
//! ```text
//!  Stripe / Whop / Calendly list APIs ──pages──┐ (backoff on 429/5xx, resumable cursor)
//!  provider page files, NDJSON, CSV ───────────┼─▶ observe ─▶ reconcile (ledger) ─▶ event log ─▶ pipeline
//!                                              │                  │                 (durable first)
//!                                              └──────────────────┴─▶ registry: sync_runs, sync_objects, sync_cursors
//! ```
//!
//! - [`fetch`]: GET with the tenant's stored credential, backoff, clear errors.
//! - [`stripe`], [`whop`], [`calendly`]: the list walkers; each listed object
//!   is wrapped in its provider's webhook body and normalized by the webhook
//!   code ([`crate::normalize`]), so pulls and webhooks agree.
//! - [`snapshot`]: deterministic ids and reconciliation against the ledger
//!   (what earlier syncs saw): new objects land at their own times,
//!   changed state becomes a correction at the snapshot time, unchanged
//!   objects emit nothing.
//! - [`files`], [`csv`]: imports; [`run`]: the run loop; [`schedule`]:
//!   periodic pulls.
//!
//! Why this is idempotent: every emitted id is a function of the object and
//! its state, so running a sync twice appends ids the pipeline has seen and
//! dedupes (DESIGN.md invariant 2). Why it never invents churn: an object
//! missing from a complete pass is only marked deleted in the ledger and
//! counted on the run (`deleted`); no event is emitted for it, because a
//! list can miss an object for reasons that are not a cancellation
//! (retention, permissions, a deleted test object).
//!
//! Limitation, by design of what ingest can see: "ours" is the ledger of
//! earlier syncs, not the derived tables. A first sync of an object that
//! webhooks already told a longer story about places its current state at
//! the object's creation; later syncs correct at the snapshot time.

pub mod calendly;
pub mod csv;
mod error;
pub mod fetch;
pub mod files;
pub mod page;
pub mod run;
pub mod schedule;
pub mod snapshot;
pub mod stripe;
pub mod whop;

pub use csv::{CsvMapping, import_csv};
pub use error::{Result, SyncError};
pub use fetch::RetryPolicy;
pub use files::{import_ndjson, import_pages};
pub use run::{NoProgress, Progress, PullOptions, SyncTarget, run_pull};
pub use snapshot::Provider;
