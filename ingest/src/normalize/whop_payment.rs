//! Whop payments and refunds → canonical payments and refunds.
//!
//! - Payment amount: `total` now, `final_amount` in v5 (each generation
//!   falls back to the other's field). Currency: the payment's `currency`.
//! - `paid_at`: for a success the first of `paid_at`, `created_at`; for a
//!   failure `last_payment_attempt` first (a failed payment has no
//!   `paid_at`); else the delivery's own time.
//! - `subscription_id`: the membership, an id string (v5) or `{id}`.
//! - Refund: `amount` in the refund's `currency` (else the payment's),
//!   `refunded_at` = the refund's `created_at` (else `provider_created_at`,
//!   else the delivery time), so every event about one refund agrees on it.
//!   The payment is `payment` (id or object) or `payment_id`.

use chrono::{DateTime, Utc};
use revstream_schemas::EventKind;
use revstream_schemas::event::{Customer, Payment, Refund};
use serde_json::Value;

use super::Generation;
use super::json::Obj;
use crate::normalize::Result;

pub(super) fn payment(
    data: &Obj<'_>,
    kind: EventKind,
    generation: Generation,
    delivered_at: DateTime<Utc>,
) -> Result<Payment> {
    let id = data.id("id")?;
    let currency =
        super::currency(data, "currency")?.ok_or_else(|| data.error("currency", "is required"))?;
    let [preferred, fallback] = match generation {
        Generation::Current => ["total", "final_amount"],
        Generation::LegacyV5 => ["final_amount", "total"],
    };
    let amount_key = if !data.has(preferred) && data.has(fallback) {
        fallback
    } else {
        preferred
    };
    let time_keys: &[&'static str] = if kind == EventKind::PaymentFailed {
        &["last_payment_attempt", "paid_at", "created_at"]
    } else {
        &["paid_at", "created_at"]
    };
    Ok(Payment {
        id,
        amount: super::amount(data, amount_key, currency)?,
        currency,
        paid_at: data.first_time(time_keys)?.unwrap_or(delivered_at),
        customer: super::customer(data)?,
        subscription_id: data.reference("membership", "id")?,
        invoice_id: None,
    })
}

pub(super) fn refund(
    data: &Obj<'_>,
    delivered_at: DateTime<Utc>,
) -> Result<(Refund, Option<Customer>)> {
    let id = data.id("id")?;
    let payment = match data.get("payment") {
        Some(Value::Object(_)) => data.opt_obj("payment")?,
        _ => None,
    };
    let payment_id = match data.reference("payment", "id")? {
        Some(id) => id,
        None => data
            .opt_id("payment_id")?
            .ok_or_else(|| data.error("payment", "is required (or payment_id)"))?,
    };
    let currency = match super::currency(data, "currency")? {
        Some(c) => c,
        None => match &payment {
            Some(p) => super::currency(p, "currency")?,
            None => None,
        }
        .ok_or_else(|| data.error("currency", "is required"))?,
    };
    let refund = Refund {
        id,
        payment_id,
        amount: super::amount(data, "amount", currency)?,
        currency,
        refunded_at: data
            .first_time(&["created_at", "provider_created_at"])?
            .unwrap_or(delivered_at),
    };
    let customer = match &payment {
        Some(p) => super::customer(p)?,
        None => super::customer(data)?,
    };
    Ok((refund, customer))
}
