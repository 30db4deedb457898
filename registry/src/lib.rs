//! The tenant registry: who the tenants are and what they may do.
//!
//! ```text
//!  CLI (tenants/keys/secrets) ──┐
//!  admin HTTP routes ───────────┼─▶ Registry ─▶ sqlx ─▶ SQLite file (serve) | PostgreSQL (scale-out)
//!  ingest / query auth ─────────┘       │
//!                                       └─ secrets sealed with AES-256-GCM under the master key
//! ```
//!
//! One schema serves both databases (TEXT and BIGINT only), so every role
//! reads the same rows whichever database an operator picks. Webhook secrets
//! and provider credentials are encrypted at rest ([`MasterKey`]); API keys
//! are stored only as hashes and shown once.

mod admin_token;
mod connect;
mod credentials;
mod crypto;
mod error;
mod keys;
mod secrets;
mod sync;
mod tenants;

pub use admin_token::{ADMIN_TOKEN_FILE, AdminToken};
pub use connect::{Registry, sqlite_url};
pub use crypto::MasterKey;
pub use error::{Error, Result};
pub use keys::{ApiKey, KeyIdentity, Role};
pub use secrets::{SecretInfo, WEBHOOK_SOURCES};
pub use sync::{SYNC_SOURCES, SavedCursor, SyncCounts, SyncRun, SyncSchedule, SyncStatus};
pub use tenants::{ChurnRecognition, NewTenant, Tenant};

/// Milliseconds since the Unix epoch, the registry's time format.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
