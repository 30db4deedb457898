//! Webhook signature verification (spec/webhooks.md).
//!
//! ```text
//!  source ─▶ header(s) ─▶ parse (bounded) ─▶ per secret: HMAC-SHA256, constant-time
//!            compare with every signature ─▶ timestamp within ±300 s ─▶ Verified
//! ```
//!
//! Two schemes cover every provider:
//! - `t_v1`: `t=<unix>,v1=<hex>` (Stripe, Calendly, legacy Whop v5 apps);
//! - `standard`: Standard Webhooks (current Whop, the generic signed route).
//!
//! Both verify over the raw body bytes, accept a header with several
//! signatures (the provider rotating its secret) and several stored secrets
//! (the tenant rotating theirs), and only then check the timestamp, so a
//! [`VerifyError::StaleTimestamp`] always describes an authentic request
//! that arrived too late or too early (a replay or a skewed clock).
//!
//! Nothing here panics on request input: every header is length-capped,
//! must be visible ASCII and appear once, and the number of signatures
//! looked at is bounded, so a hostile sender cannot make us do much work.

mod error;
mod header;
mod mac;
mod source;
mod standard;
mod t_v1;
mod timestamp;

pub use error::VerifyError;
pub use source::WebhookSource;
pub use standard::sign_standard;
pub use t_v1::sign_t_v1;

/// How far a signed timestamp may be from the server clock, in either
/// direction. Too old suggests a replay; too far ahead, a forged or skewed
/// clock that would otherwise stretch the replay window.
pub const TOLERANCE_SECS: i64 = 300;

/// Header names of the provider-specific `t=…,v1=…` schemes.
const STRIPE_HEADER: &str = "Stripe-Signature";
const CALENDLY_HEADER: &str = "Calendly-Webhook-Signature";
const WHOP_LEGACY_HEADER: &str = "x-whop-signature";

/// What a successful verification proves about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed Unix timestamp (seconds), within [`TOLERANCE_SECS`] of now.
    pub timestamp: i64,
    /// The Standard Webhooks `webhook-id` when that scheme was used: it is
    /// covered by the signature, so it is safe to dedupe on.
    pub webhook_id: Option<String>,
}

/// Verifies a webhook delivery from `source` against the tenant's secrets.
///
/// `body` must be the raw request bytes, before any JSON parsing.
/// `secrets` are all the tenant's active secrets for this source; any one
/// of them signing any one signature in the header is enough. With no
/// secrets the answer is [`VerifyError::NoMatchingSignature`] (the HTTP
/// layer answers 404 before calling us in that case). `now_unix` is passed
/// in rather than read so tests and replays use a fixed clock.
pub fn verify(
    source: WebhookSource,
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[impl AsRef<str>],
    now_unix: i64,
) -> Result<Verified, VerifyError> {
    match source {
        WebhookSource::Stripe => t_v1::verify(STRIPE_HEADER, headers, body, secrets, now_unix),
        WebhookSource::Calendly => t_v1::verify(CALENDLY_HEADER, headers, body, secrets, now_unix),
        // Whop moved to Standard Webhooks; older v5 apps still send the
        // legacy header. The presence of `webhook-signature` decides, so a
        // request cannot downgrade itself to legacy by also sending the old
        // header.
        WebhookSource::Whop if headers.contains_key(standard::SIGNATURE_HEADER) => {
            standard::verify(headers, body, secrets, now_unix)
        }
        WebhookSource::Whop if headers.contains_key(WHOP_LEGACY_HEADER) => {
            t_v1::verify(WHOP_LEGACY_HEADER, headers, body, secrets, now_unix)
        }
        WebhookSource::Whop => Err(VerifyError::MissingHeader {
            header: "webhook-signature (or legacy x-whop-signature)",
        }),
        WebhookSource::Standard => standard::verify(headers, body, secrets, now_unix),
    }
}
