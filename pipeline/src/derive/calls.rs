//! Sales calls: each attribute set by the latest event that sets it.
//!
//! ```text
//! call.booked            ─▶ status scheduled, booking attributes; with
//!                           rescheduled_from: the old call → rescheduled
//! call.canceled          ─▶ status canceled
//! call.rescheduled       ─▶ status rescheduled
//! call.no_show           ─▶ attendance no_show
//! call.no_show_undone    ─▶ attendance unknown
//! call.showed            ─▶ attendance showed
//! call.outcome           ─▶ attendance showed | no_show, offer_made, closed, cash
//! ```
//!
//! A call is keyed by its id alone, tenant-wide (spec: "a call (tenant, call
//! id)"), so that a post-call form sent by another producer still reaches
//! the call a scheduler booked. Booking attributes come only from
//! `call.booked` events, per attribute the latest booking that carries it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use revstream_schemas::event::Call;
use revstream_schemas::{Currency, Email, EventKind, ObjectId, SourceName};

use super::CompactEvent;
use super::rows::{Attendance, CallRow, CallStatus};
use super::{TenantSettings, local_day};

/// Call rows sorted by call id.
pub(crate) fn derive(settings: &TenantSettings, events: &[&CompactEvent]) -> Vec<CallRow> {
    let mut calls: BTreeMap<ObjectId, CallState> = BTreeMap::new();
    for event in events {
        let Some(call) = call_event(event) else {
            continue;
        };
        let state = calls
            .entry(call.id.clone())
            .or_insert_with(|| CallState::new(event));
        state.updated_at = event.occurred_at;
        match event.kind {
            EventKind::CallBooked => state.book(event, call),
            EventKind::CallCanceled => state.status = Some(CallStatus::Canceled),
            EventKind::CallRescheduled => state.status = Some(CallStatus::Rescheduled),
            EventKind::CallNoShow => state.attendance = Attendance::NoShow,
            EventKind::CallNoShowUndone => state.attendance = Attendance::Unknown,
            EventKind::CallShowed => state.attendance = Attendance::Showed,
            EventKind::CallOutcome => {
                if let Some(outcome) = &event.outcome {
                    state.attendance = if outcome.showed {
                        Attendance::Showed
                    } else {
                        Attendance::NoShow
                    };
                    state.offer_made = outcome.offer_made;
                    state.closed = outcome.closed;
                    if outcome.cash_collected.is_some() {
                        state.cash_collected = outcome.cash_collected;
                        state.currency = outcome.currency;
                    }
                }
            }
            _ => {}
        }
        // A booking that replaces another call is also an event of the old
        // call: it marks it rescheduled, like `call.rescheduled` would.
        if event.kind == EventKind::CallBooked
            && let Some(old) = call
                .rescheduled_from
                .as_ref()
                .filter(|old| **old != call.id)
        {
            let old_state = calls
                .entry(old.clone())
                .or_insert_with(|| CallState::new(event));
            old_state.status = Some(CallStatus::Rescheduled);
            old_state.updated_at = event.occurred_at;
        }
    }
    calls
        .into_iter()
        .map(|(id, state)| state.into_row(settings, id))
        .collect()
}

fn call_event(event: &CompactEvent) -> Option<&Call> {
    match event.kind {
        EventKind::CallBooked
        | EventKind::CallCanceled
        | EventKind::CallRescheduled
        | EventKind::CallNoShow
        | EventKind::CallNoShowUndone
        | EventKind::CallShowed
        | EventKind::CallOutcome => event.call.as_deref(),
        _ => None,
    }
}

struct CallState {
    first_source: SourceName,
    booking_source: Option<SourceName>,
    /// `None` until an event sets it; a call known only from, say, its
    /// outcome is reported `scheduled`.
    status: Option<CallStatus>,
    attendance: Attendance,
    offer_made: bool,
    closed: bool,
    booked_at: Option<DateTime<Utc>>,
    scheduled_at: Option<DateTime<Utc>>,
    closer: Option<String>,
    setter: Option<String>,
    lead_source: Option<String>,
    call_type: Option<String>,
    lead_email: Option<Email>,
    lead_name: Option<String>,
    rescheduled_from: Option<ObjectId>,
    cash_collected: Option<i64>,
    currency: Option<Currency>,
    updated_at: DateTime<Utc>,
}

impl CallState {
    fn new(first: &CompactEvent) -> Self {
        CallState {
            first_source: first.source.clone(),
            booking_source: None,
            status: None,
            attendance: Attendance::Unknown,
            offer_made: false,
            closed: false,
            booked_at: None,
            scheduled_at: None,
            closer: None,
            setter: None,
            lead_source: None,
            call_type: None,
            lead_email: None,
            lead_name: None,
            rescheduled_from: None,
            cash_collected: None,
            currency: None,
            updated_at: first.occurred_at,
        }
    }

    fn book(&mut self, event: &CompactEvent, call: &Call) {
        fn set<T: Clone>(slot: &mut Option<T>, value: Option<&T>) {
            if let Some(v) = value {
                *slot = Some(v.clone());
            }
        }
        self.status = Some(CallStatus::Scheduled);
        self.booking_source = Some(event.source.clone());
        self.booked_at = Some(call.booked_at.unwrap_or(event.occurred_at));
        set(&mut self.scheduled_at, call.scheduled_at.as_ref());
        set(&mut self.closer, call.closer.as_ref());
        set(&mut self.setter, call.setter.as_ref());
        set(&mut self.lead_source, call.source.as_ref());
        set(&mut self.call_type, call.call_type.as_ref());
        if let Some(lead) = &call.lead {
            self.lead_email = Some(lead.email.clone());
            set(&mut self.lead_name, lead.name.as_ref());
        }
        set(&mut self.rescheduled_from, call.rescheduled_from.as_ref());
    }

    fn into_row(self, settings: &TenantSettings, call_id: ObjectId) -> CallRow {
        CallRow {
            call_id,
            source: self.booking_source.unwrap_or(self.first_source),
            status: self.status.unwrap_or(CallStatus::Scheduled),
            attendance: self.attendance,
            offer_made: self.offer_made,
            closed: self.closed,
            booked_at: self.booked_at,
            scheduled_at: self.scheduled_at,
            scheduled_day: self.scheduled_at.map(|t| local_day(settings.timezone, t)),
            closer: self.closer,
            setter: self.setter,
            lead_source: self.lead_source,
            call_type: self.call_type,
            lead_email: self.lead_email,
            lead_name: self.lead_name,
            rescheduled_from: self.rescheduled_from,
            cash_collected: self.cash_collected,
            currency: self.currency,
            updated_at: self.updated_at,
        }
    }
}
