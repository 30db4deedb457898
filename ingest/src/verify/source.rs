//! Which provider a webhook claims to come from: the `{source}` path
//! segment of `POST /v1/webhooks/{source}/{tenant}`.

use std::fmt;

/// A webhook provider, which decides the signature scheme and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookSource {
    /// `Stripe-Signature: t=…,v1=…`.
    Stripe,
    /// Standard Webhooks, or legacy `x-whop-signature: t=…,v1=…`.
    Whop,
    /// `Calendly-Webhook-Signature: t=…,v1=…`.
    Calendly,
    /// Standard Webhooks, for any producer that implements the spec.
    Standard,
}

impl WebhookSource {
    /// Every source, for routing tables and tests.
    pub const ALL: [Self; 4] = [Self::Stripe, Self::Whop, Self::Calendly, Self::Standard];

    /// Parses the lowercase path segment; anything else is not a source.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == s)
    }

    /// The lowercase path segment, also used in logs and stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Whop => "whop",
            Self::Calendly => "calendly",
            Self::Standard => "standard",
        }
    }
}

impl fmt::Display for WebhookSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for source in WebhookSource::ALL {
            assert_eq!(WebhookSource::parse(source.as_str()), Some(source));
            assert_eq!(source.to_string(), source.as_str());
        }
        assert_eq!(WebhookSource::parse("Stripe"), None);
        assert_eq!(WebhookSource::parse("paypal"), None);
        assert_eq!(WebhookSource::parse(""), None);
    }
}
