//! Cash: `charge.succeeded` → `payment.succeeded`, and `invoice.paid` as
//! linkage onto the same payment.
//!
//! Stripe reports one card payment twice: as the Charge and as the Invoice
//! it settles. The pipeline keys payments by (source, payment id), so both
//! events use the charge id as the payment id: the charge brings the money
//! and the invoice adds which subscription and invoice it paid, and the
//! money is counted once (spec/metrics.md, Cash).

use revstream_schemas::event::{Customer, Payment};
use revstream_schemas::{CanonicalEvent, EventKind};

use super::Envelope;
use crate::normalize::Result;

/// `charge.succeeded`: the charge's amount, paid at the charge's creation.
pub(crate) fn charge_succeeded(env: &Envelope<'_>) -> Result<CanonicalEvent> {
    let ch = &env.object;
    // The address the payer typed at checkout is the one sales calls were
    // booked with, so it is preferred for attribution over the receipt's.
    let email = match ch.get("billing_details").get("email").opt_email()? {
        Some(e) => Some(e),
        None => ch.get("receipt_email").opt_email()?,
    };
    // Guest charges have no Stripe customer; the canonical customer needs
    // an id, so such a payment carries none (its email stays in `raw`).
    let customer = ch.get("customer").opt_expandable_id()?.map(|id| Customer {
        id,
        email,
        name: None,
    });
    let payment = Payment {
        id: ch.get("id").object_id()?,
        amount: ch.get("amount").amount()?,
        currency: ch.get("currency").currency()?,
        paid_at: ch.get("created").timestamp()?,
        customer,
        subscription_id: None,
        // Present up to API 2025-03-31 (`invoice` was removed from charges
        // then); newer invoices are linked by `invoice.paid` when it can be.
        invoice_id: ch.get("invoice").opt_expandable_id()?,
    };
    let mut e = env.event(None, EventKind::PaymentSucceeded)?;
    e.payment = Some(payment);
    env.finish(e)
}

/// `invoice.paid`: linkage, not cash. The payment id is the invoice's
/// `charge`, the same id `charge.succeeded` used.
///
/// Since API 2025-03-31 invoices no longer name their charge (payments are
/// listed under `payments`, which webhooks do not expand, or reachable only
/// through `payment_intent`). Reporting the invoice under its own id would
/// count the money twice, so such an invoice — and one settled without a
/// charge at all (credit balance, paid out of band, zero total) — becomes an
/// `ignored` event; the charge event still carries the cash.
pub(crate) fn invoice_paid(env: &Envelope<'_>) -> Result<CanonicalEvent> {
    let inv = &env.object;
    let Some(charge_id) = inv.get("charge").opt_expandable_id()? else {
        return env.ignored(Some(
            "invoice names no charge (API 2025-03-31+ or paid without one); \
             the charge.succeeded event carries the cash",
        ));
    };
    let paid_at = match inv
        .get("status_transitions")
        .get("paid_at")
        .opt_timestamp()?
    {
        Some(t) => t,
        None => inv.get("created").timestamp()?,
    };
    // Older versions name the subscription at the top; newer ones under
    // `parent.subscription_details`.
    let subscription_id = match inv.get("subscription").opt_expandable_id()? {
        Some(id) => Some(id),
        None => inv
            .get("parent")
            .get("subscription_details")
            .get("subscription")
            .opt_expandable_id()?,
    };
    let customer = match inv.get("customer").opt_expandable_id()? {
        None => None,
        Some(id) => Some(Customer {
            id,
            email: inv.get("customer_email").opt_email()?,
            name: inv
                .get("customer_name")
                .opt_str()?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }),
    };
    let payment = Payment {
        id: charge_id,
        amount: inv.get("amount_paid").amount()?,
        currency: inv.get("currency").currency()?,
        paid_at,
        customer,
        subscription_id,
        invoice_id: Some(inv.get("id").object_id()?),
    };
    let mut e = env.event(None, EventKind::PaymentSucceeded)?;
    e.payment = Some(payment);
    env.finish(e)
}
