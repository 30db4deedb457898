//! Payments and refunds: one payment per (source, payment id), one refund
//! per (source, refund id), however many events report them.
//!
//! ```text
//! payment.succeeded / payment.failed ─▶ merge per (source, payment id):
//!     status, amount, currency, paid_at  ← the latest event
//!     customer, email, subscription_id, invoice_id ← the latest non-null
//! refund.created ─▶ per (source, refund id), the latest event's values
//!     ─▶ Σ into the payment's refunded_amount (same currency only)
//! ```
//!
//! Stripe's `invoice.paid` and `charge.succeeded` both arrive as
//! `payment.succeeded` with the charge id: merged here, the money counts once
//! and the invoice's subscription and invoice ids survive on the row.

use std::collections::BTreeMap;

use revstream_schemas::{EventKind, ObjectId, SourceName};

use super::CompactEvent;
use super::customers::Customers;
use super::rows::{PaymentRow, PaymentStatus, RefundRow};
use super::{TenantSettings, local_day};

/// Payment rows sorted by (source, payment id), without attribution, and
/// refund rows sorted by (source, refund id).
pub(crate) fn derive(
    settings: &TenantSettings,
    events: &[&CompactEvent],
    customers: &Customers,
) -> (Vec<PaymentRow>, Vec<RefundRow>) {
    let mut payments: BTreeMap<(SourceName, ObjectId), PaymentRow> = BTreeMap::new();
    let mut refunds: BTreeMap<(SourceName, ObjectId), RefundRow> = BTreeMap::new();

    for event in events {
        match event.kind {
            EventKind::PaymentSucceeded | EventKind::PaymentFailed => {
                let Some(p) = &event.payment else { continue };
                let status = if event.kind == EventKind::PaymentSucceeded {
                    PaymentStatus::Succeeded
                } else {
                    PaymentStatus::Failed
                };
                let row = payments
                    .entry((event.source.clone(), p.id.clone()))
                    .or_insert_with(|| PaymentRow {
                        source: event.source.clone(),
                        payment_id: p.id.clone(),
                        status,
                        amount: p.amount,
                        refunded_amount: 0,
                        currency: p.currency,
                        paid_at: p.paid_at,
                        paid_day: local_day(settings.timezone, p.paid_at),
                        customer_id: None,
                        email: None,
                        subscription_id: None,
                        invoice_id: None,
                        call_id: None,
                        closer: None,
                        setter: None,
                        lead_source: None,
                    });
                row.status = status;
                row.amount = p.amount;
                row.currency = p.currency;
                row.paid_at = p.paid_at;
                row.paid_day = local_day(settings.timezone, p.paid_at);
                if let Some(customer) = p.customer.as_ref().or(event.customer.as_deref()) {
                    row.customer_id = Some(customer.id.clone());
                    if customer.email.is_some() {
                        row.email.clone_from(&customer.email);
                    }
                }
                if p.subscription_id.is_some() {
                    row.subscription_id.clone_from(&p.subscription_id);
                }
                if p.invoice_id.is_some() {
                    row.invoice_id.clone_from(&p.invoice_id);
                }
            }
            EventKind::RefundCreated => {
                let Some(r) = &event.refund else { continue };
                refunds.insert(
                    (event.source.clone(), r.id.clone()),
                    RefundRow {
                        source: event.source.clone(),
                        refund_id: r.id.clone(),
                        payment_id: r.payment_id.clone(),
                        amount: r.amount,
                        currency: r.currency,
                        refunded_at: r.refunded_at,
                        refunded_day: local_day(settings.timezone, r.refunded_at),
                    },
                );
            }
            _ => {}
        }
    }

    for row in payments.values_mut() {
        if row.email.is_none()
            && let Some(customer_id) = &row.customer_id
        {
            row.email = customers.email(&row.source, customer_id).cloned();
        }
    }
    for refund in refunds.values() {
        let key = (refund.source.clone(), refund.payment_id.clone());
        if let Some(payment) = payments.get_mut(&key) {
            // Never add across currencies (invariant 6): a refund reported in
            // another currency still counts in `metrics_daily.refunds` under
            // its own currency, but not in this payment's total.
            if payment.currency == refund.currency {
                payment.refunded_amount = payment.refunded_amount.saturating_add(refund.amount);
            }
        }
    }
    (
        payments.into_values().collect(),
        refunds.into_values().collect(),
    )
}
