//! `metrics_daily`: additive counters per tenant-local day and currency,
//! summed from the other derived rows.
//!
//! ```text
//! movements ─▶ (movement day, currency): new/expansion/contraction/churned/reactivation_mrr, customer counts
//! payments  ─▶ (paid day, currency):     cash_collected, payments_count   (succeeded only)
//! refunds   ─▶ (refunded day, currency): refunds, refunds_count
//! calls     ─▶ (scheduled day, None):    showed, no_shows, pending, offers, closed (status scheduled),
//!                                        canceled_calls, rescheduled_calls
//!              (booked day, None):       booked_calls (any status)
//! ```
//!
//! A row exists only for a (day, currency) where something was counted.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use revstream_schemas::Currency;

use super::rows::{
    Attendance, CallRow, CallStatus, DailyRow, MovementKind, MovementRow, PaymentRow,
    PaymentStatus, RefundRow,
};
use super::{TenantSettings, local_day};

/// The inputs of the daily table.
pub(crate) struct Sources<'a> {
    pub(crate) movements: &'a [MovementRow],
    pub(crate) payments: &'a [PaymentRow],
    pub(crate) refunds: &'a [RefundRow],
    pub(crate) calls: &'a [CallRow],
}

/// Daily rows sorted by (day, currency), call rows (`None`) first in a day.
pub(crate) fn derive(settings: &TenantSettings, from: &Sources<'_>) -> Vec<DailyRow> {
    let mut days = Days::default();

    for m in from.movements {
        let row = days.row(m.day, Some(m.currency));
        let magnitude = m.amount.saturating_abs();
        match m.movement {
            MovementKind::New => {
                add(&mut row.new_mrr, magnitude);
                add(&mut row.new_customers, 1);
            }
            MovementKind::Expansion => add(&mut row.expansion_mrr, magnitude),
            MovementKind::Contraction => add(&mut row.contraction_mrr, magnitude),
            MovementKind::Churn => {
                add(&mut row.churned_mrr, magnitude);
                add(&mut row.churned_customers, 1);
            }
            MovementKind::Reactivation => {
                add(&mut row.reactivation_mrr, magnitude);
                add(&mut row.reactivated_customers, 1);
            }
        }
    }

    for p in from.payments {
        if p.status == PaymentStatus::Succeeded {
            let row = days.row(p.paid_day, Some(p.currency));
            add(&mut row.cash_collected, p.amount);
            add(&mut row.payments_count, 1);
        }
    }

    for r in from.refunds {
        let row = days.row(r.refunded_day, Some(r.currency));
        add(&mut row.refunds, r.amount);
        add(&mut row.refunds_count, 1);
    }

    for call in from.calls {
        if let Some(booked_at) = call.booked_at {
            add(
                &mut days
                    .row(local_day(settings.timezone, booked_at), None)
                    .booked_calls,
                1,
            );
        }
        let Some(day) = call.scheduled_day else {
            continue;
        };
        let row = days.row(day, None);
        match call.status {
            CallStatus::Canceled => add(&mut row.canceled_calls, 1),
            CallStatus::Rescheduled => add(&mut row.rescheduled_calls, 1),
            CallStatus::Scheduled => match call.attendance {
                Attendance::Unknown => add(&mut row.pending, 1),
                Attendance::NoShow => add(&mut row.no_shows, 1),
                Attendance::Showed => {
                    add(&mut row.showed, 1);
                    if call.offer_made {
                        add(&mut row.offers, 1);
                    }
                    if call.closed {
                        add(&mut row.closed, 1);
                    }
                }
            },
        }
    }

    days.0.into_values().collect()
}

#[derive(Default)]
struct Days(BTreeMap<(NaiveDate, Option<Currency>), DailyRow>);

impl Days {
    fn row(&mut self, day: NaiveDate, currency: Option<Currency>) -> &mut DailyRow {
        self.0
            .entry((day, currency))
            .or_insert_with(|| DailyRow::new(day, currency))
    }
}

fn add(counter: &mut i64, amount: i64) {
    *counter = counter.saturating_add(amount);
}
