//! Attribution of payments to sales calls (spec/metrics.md, "Cash").
//!
//! A payment belongs to the most recent call with the same lead email
//! (emails are normalized: trimmed, lowercased) whose `scheduled_at` ≤
//! `paid_at`, and inherits its call id, closer, setter and source. Only calls
//! whose status is `scheduled` qualify: a canceled call never took place and
//! a rescheduled one was replaced by the call that did. Ties on
//! `scheduled_at` go to the greatest call id. Because derive is a function of
//! the whole event set, a call that arrives late restates the attribution.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use revstream_schemas::Email;

use super::rows::{CallRow, CallStatus, PaymentRow};

/// Fills `call_id`, `closer`, `setter` and `lead_source` of every payment.
pub(crate) fn attribute(payments: &mut [PaymentRow], calls: &[CallRow]) {
    // Per lead email, the qualifying calls sorted by (scheduled_at, call id).
    let mut by_email: BTreeMap<&Email, Vec<(DateTime<Utc>, &CallRow)>> = BTreeMap::new();
    for call in calls {
        if call.status != CallStatus::Scheduled {
            continue;
        }
        if let (Some(email), Some(at)) = (&call.lead_email, call.scheduled_at) {
            by_email.entry(email).or_default().push((at, call));
        }
    }
    for list in by_email.values_mut() {
        list.sort_by(|a, b| (a.0, &a.1.call_id).cmp(&(b.0, &b.1.call_id)));
    }

    for payment in payments {
        let call = payment
            .email
            .as_ref()
            .and_then(|email| by_email.get(email))
            .and_then(|list| {
                let eligible = list.partition_point(|(at, _)| *at <= payment.paid_at);
                eligible
                    .checked_sub(1)
                    .and_then(|i| list.get(i))
                    .map(|(_, c)| *c)
            });
        payment.call_id = call.map(|c| c.call_id.clone());
        payment.closer = call.and_then(|c| c.closer.clone());
        payment.setter = call.and_then(|c| c.setter.clone());
        payment.lead_source = call.and_then(|c| c.lead_source.clone());
    }
}
