//! Why a webhook was not accepted.
//!
//! Every message is a complete sentence the HTTP layer can return as-is in
//! a 401 body: it tells the sender what to fix without revealing secrets or
//! echoing the (possibly huge, possibly hostile) header value back.

/// A webhook failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("The {header} header is missing.")]
    MissingHeader { header: &'static str },

    /// A header is present but cannot be read as the scheme requires.
    #[error("The {header} header is malformed: {reason}.")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },

    /// The signature is valid but the signed timestamp is too far from now.
    #[error(
        "The webhook timestamp {timestamp} is outside the ±{tolerance_secs} s tolerance \
         around the server time {now}; send a fresh delivery and check the sender's clock."
    )]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        tolerance_secs: i64,
    },

    /// The header is well formed but no signature in it was made with any
    /// configured secret (wrong secret, or a tampered body or timestamp).
    #[error("No signature in the request matches a webhook secret configured for this source.")]
    NoMatchingSignature,

    /// A configured secret cannot be used, and no usable secret matched.
    /// This is the operator's fault, not the sender's.
    #[error("A webhook secret configured for this source cannot be used: {reason}.")]
    BadSecret { reason: &'static str },
}

impl VerifyError {
    /// True when the fault is in our stored configuration rather than in
    /// the request, so the HTTP layer should answer 500 and log it instead
    /// of telling the sender 401.
    pub fn is_config_error(&self) -> bool {
        matches!(self, Self::BadSecret { .. })
    }
}
