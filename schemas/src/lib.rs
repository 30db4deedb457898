//! The shared vocabulary of revstream: what an event is, what a tenant is,
//! how money is represented, and what the tables look like.
//!
//! ```text
//!  provider JSON ─▶ ingest normalizer ─┐
//!  producer JSON ──────────────────────┼─▶ CanonicalEvent ─▶ event log ─▶ pipeline ─▶ tables
//!  sync snapshots ─────────────────────┘   (validated)                    (Arrow schemas here)
//! ```
//!
//! Everything here is pure data and validation: no I/O, no clocks, no
//! randomness (the one shared structure, [`staged`], is a map in memory). Every crate that touches events or tables depends on it, so
//! that a field means the same thing at the front door and in SQL.
//!
//! - [`ids`]: validated newtypes ([`TenantId`], [`EventId`], [`SourceName`], [`Email`]).
//! - [`money`]: [`Currency`] with its ISO 4217 minor-unit exponent and exact
//!   decimal → minor-unit conversion.
//! - [`event`]: the canonical event model of `API.md` and its parser
//!   ([`CanonicalEvent::from_json`]) whose errors name the field.
//! - [`tables`]: the names and Arrow schemas of every table.
//! - [`staged`]: derived rows an in-process pipeline hands the query side
//!   before they are committed (held in memory, never written).

pub mod event;
pub mod ids;
pub mod money;
pub mod staged;
pub mod tables;
mod validate;

pub use event::{CanonicalEvent, EventKind};
pub use ids::{Email, EventId, ObjectId, SourceName, TenantId};
pub use money::{Currency, Money};
pub use tables::TableName;
pub use validate::{FieldError, ParseError};
