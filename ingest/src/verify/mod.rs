//! Webhook signature verification (spec/webhooks.md).
