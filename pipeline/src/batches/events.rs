//! The `events` table: every distinct event with its raw provider payload,
//! and where in the log it was read.

use std::borrow::Cow;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use chrono_tz::Tz;
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use super::columns::{day, int, int_opt, int32, text, text_opt, ts};

/// One event to append, with its tenant's timezone for the `day` column.
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    pub tenant: &'a TenantId,
    pub timezone: Tz,
    pub event: &'a CanonicalEvent,
    /// The event's JSON without `raw` when the caller has it already (as
    /// the log record held it); written from `event` otherwise.
    pub payload: Option<&'a str>,
    pub log_partition: i32,
    pub log_offset: i64,
}

/// What an event is about, for filtering the events table without parsing
/// payloads.
struct Summary<'a> {
    customer: Option<&'a str>,
    email: Option<&'a str>,
    object: Option<&'a str>,
    amount: Option<i64>,
    currency: Option<&'a str>,
}

fn summary(e: &CanonicalEvent) -> Summary<'_> {
    let customer = e
        .customer
        .as_ref()
        .or_else(|| e.payment.as_ref().and_then(|p| p.customer.as_ref()));
    let lead_email = || {
        e.call
            .as_ref()
            .and_then(|c| c.lead.as_ref())
            .map(|l| l.email.as_str())
    };
    let email = customer
        .and_then(|c| c.email.as_ref())
        .map(|m| m.as_str())
        .or_else(lead_email);
    let (object, amount, currency) = if let Some(s) = &e.subscription {
        (Some(s.id.as_str()), None, Some(s.currency.as_str()))
    } else if let Some(p) = &e.payment {
        (
            Some(p.id.as_str()),
            Some(p.amount),
            Some(p.currency.as_str()),
        )
    } else if let Some(r) = &e.refund {
        (
            Some(r.id.as_str()),
            Some(r.amount),
            Some(r.currency.as_str()),
        )
    } else if let Some(c) = &e.call {
        (Some(c.id.as_str()), None, None)
    } else {
        (customer.map(|c| c.id.as_str()), None, None)
    };
    Summary {
        customer: customer.map(|c| c.id.as_str()),
        email,
        object,
        amount,
        currency,
    }
}

pub fn events_batch(rows: &[EventRow<'_>]) -> Result<RecordBatch, ArrowError> {
    let summaries: Vec<_> = rows.iter().map(|r| summary(r.event)).collect();
    // The payload column holds the canonical event without `raw`, which has
    // its own column: no payload is stored twice.
    let payloads: Vec<Cow<'_, str>> = rows
        .iter()
        .map(|r| match r.payload {
            Some(json) => Cow::Borrowed(json),
            None => {
                Cow::Owned(String::from_utf8(r.event.to_json_without_raw()).unwrap_or_default())
            }
        })
        .collect();
    let raws: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.event.raw.as_ref().map(|v| v.to_string()))
        .collect();
    let r = rows.iter();
    let columns = vec![
        text(r.clone().map(|r| r.tenant.as_str())),
        text(r.clone().map(|r| r.event.source.as_str())),
        text(r.clone().map(|r| r.event.id.as_str())),
        text(r.clone().map(|r| r.event.kind.as_str())),
        ts(r.clone().map(|r| r.event.occurred_at)),
        day(r
            .clone()
            .map(|r| r.event.occurred_at.with_timezone(&r.timezone).date_naive())),
        text_opt(summaries.iter().map(|s| s.customer)),
        text_opt(summaries.iter().map(|s| s.email)),
        text_opt(summaries.iter().map(|s| s.object)),
        int_opt(summaries.iter().map(|s| s.amount)),
        text_opt(summaries.iter().map(|s| s.currency)),
        text(payloads.iter().map(|p| &**p)),
        text_opt(raws.iter().map(Option::as_deref)),
        int32(r.clone().map(|r| r.log_partition)),
        int(r.map(|r| r.log_offset)),
    ];
    RecordBatch::try_new(TableName::Events.schema(), columns)
}
