//! Calendly webhooks → canonical call events.
//!
//! ```text
//! invitee.created                        ─▶ call.booked
//! invitee.canceled with rescheduled:true ─▶ call.rescheduled (the old invitee)
//! invitee.canceled                       ─▶ call.canceled
//! invitee_no_show.created                ─▶ call.no_show
//! invitee_no_show.deleted                ─▶ call.no_show_undone
//! anything else                          ─▶ ignored (name = the Calendly event, raw kept)
//! ```
//!
//! - Call id: the invitee URI. It is stable for one booking, and a
//!   reschedule creates a new invitee, so the old call is marked
//!   rescheduled and the new one is booked with `rescheduled_from` = its
//!   `old_invitee` URI.
//! - Event id: Calendly sends none, and retries the identical body, so the
//!   id is derived from it: `cal_` + hex SHA-256 of
//!   `"{event}\n{invitee uri}\n{created_at}"` (`created_at` of the envelope,
//!   rewritten as RFC 3339 UTC so that spelling cannot change it). For an
//!   unknown event the payload's `uri`, if any, stands in for the invitee.
//! - `occurred_at`: the envelope's `created_at`.
//! - Closer: the first host, `scheduled_event.event_memberships[0]`, by
//!   `user_email` (trimmed, lowercased), else `user_name`. The email is
//!   unique and does not change when a host edits their display name, so
//!   leaderboards do not split one closer in two.
//! - Setter: the answer to the first booking question that mentions
//!   "setter" (any case), else `tracking.utm_content`. Not `utm_campaign`:
//!   that usually names the marketing campaign, not a person.
//! - Source: `tracking.utm_source`; call type: `scheduled_event.name`.
//! - A no-show names its invitee as a URI string (`payload.invitee`), as an
//!   object with `uri`, or is the invitee itself (a payload with `no_show`,
//!   whose own `uri` is the invitee's); all three are accepted.

use chrono::{DateTime, Utc};
use revstream_schemas::event::{Call, Lead};
use revstream_schemas::{CanonicalEvent, EventKind, ObjectId, SourceName};
use sha2::{Digest, Sha256};

use super::whop::json::{self, Obj, field_error};
use super::{Normalized, Result};

/// Normalizes one Calendly webhook body into exactly one canonical event.
pub fn normalize(body: &[u8]) -> Result<Normalized> {
    let raw = json::parse_body(body)?;
    let event = {
        let root = Obj::root(&raw)?;
        let name = root.str("event")?;
        let occurred_at = root.time("created_at")?;
        let (kind, call) = match name {
            "invitee.created" => (EventKind::CallBooked, Some(booked(&root.obj("payload")?)?)),
            "invitee.canceled" => {
                let invitee = root.obj("payload")?;
                let kind = if invitee.opt_bool("rescheduled")?.unwrap_or(false) {
                    EventKind::CallRescheduled
                } else {
                    EventKind::CallCanceled
                };
                (kind, Some(call_ref(invitee.id("uri")?)))
            }
            "invitee_no_show.created" => (
                EventKind::CallNoShow,
                Some(call_ref(no_show_invitee(&root.obj("payload")?)?)),
            ),
            "invitee_no_show.deleted" => (
                EventKind::CallNoShowUndone,
                Some(call_ref(no_show_invitee(&root.obj("payload")?)?)),
            ),
            _ => (EventKind::Ignored, None),
        };
        let subject = match &call {
            Some(call) => call.id.as_str().to_owned(),
            // Best effort: an unknown payload's shape is not ours to demand.
            None => root
                .opt_obj("payload")
                .ok()
                .flatten()
                .and_then(|p| p.opt_str("uri").ok().flatten())
                .unwrap_or_default()
                .to_owned(),
        };
        CanonicalEvent {
            call,
            name: (kind == EventKind::Ignored).then(|| name.to_owned()),
            ..CanonicalEvent::envelope(
                json::event_id(&derive_id(name, &subject, &occurred_at), "event")?,
                kind,
                occurred_at,
                SourceName::parse("calendly").map_err(|e| field_error(".", e.to_string()))?,
            )
        }
    };
    let event = json::checked(
        CanonicalEvent {
            raw: Some(raw),
            ..event
        },
        "payload",
    )?;
    Ok(Normalized {
        provider_event_id: event.id.as_str().to_owned(),
        events: vec![event],
    })
}

/// `cal_` + hex SHA-256 of `"{event}\n{subject}\n{created_at}"`; the
/// newlines keep `("a", "bc")` and `("ab", "c")` apart.
fn derive_id(event: &str, subject: &str, created_at: &DateTime<Utc>) -> String {
    let mut hash = Sha256::new();
    hash.update(event.as_bytes());
    hash.update(b"\n");
    hash.update(subject.as_bytes());
    hash.update(b"\n");
    hash.update(json::stable_time(created_at).as_bytes());
    format!("cal_{}", hex::encode(hash.finalize()))
}

/// A call named by id alone, as every call event but `call.booked` is.
fn call_ref(id: ObjectId) -> Call {
    Call {
        id,
        lead: None,
        closer: None,
        setter: None,
        source: None,
        call_type: None,
        booked_at: None,
        scheduled_at: None,
        rescheduled_from: None,
    }
}

fn booked(invitee: &Obj<'_>) -> Result<Call> {
    let scheduled = invitee.obj("scheduled_event")?;
    let tracking = invitee.opt_obj("tracking")?;
    let utm = |key: &str| -> Result<Option<String>> {
        match &tracking {
            Some(t) => Ok(t.opt_str(key)?.map(str::to_owned)),
            None => Ok(None),
        }
    };
    let email = invitee
        .opt_email("email")?
        .ok_or_else(|| invitee.error("email", "is required"))?;
    let setter = match setter_answer(invitee)? {
        Some(setter) => Some(setter),
        None => utm("utm_content")?,
    };
    Ok(Call {
        id: invitee.id("uri")?,
        lead: Some(Lead {
            email,
            name: invitee.opt_str("name")?.map(str::to_owned),
        }),
        closer: closer(&scheduled)?,
        setter,
        source: utm("utm_source")?,
        call_type: scheduled.opt_str("name")?.map(str::to_owned),
        booked_at: Some(invitee.time("created_at")?),
        scheduled_at: Some(scheduled.time("start_time")?),
        rescheduled_from: invitee.opt_id("old_invitee")?,
    })
}

/// The first host: by email when Calendly gives one, else by name.
fn closer(scheduled: &Obj<'_>) -> Result<Option<String>> {
    let hosts = scheduled.objects("event_memberships")?;
    let Some(host) = hosts.first() else {
        return Ok(None);
    };
    if let Some(email) = host.opt_str("user_email")? {
        return Ok(Some(email.to_lowercase()));
    }
    Ok(host.opt_str("user_name")?.map(str::to_owned))
}

/// The answer to the first booking question that asks for the setter.
fn setter_answer(invitee: &Obj<'_>) -> Result<Option<String>> {
    for qa in invitee.objects("questions_and_answers")? {
        let asks_for_setter = qa
            .opt_str("question")?
            .is_some_and(|q| q.to_lowercase().contains("setter"));
        if asks_for_setter && let Some(answer) = qa.opt_str("answer")? {
            return Ok(Some(answer.to_owned()));
        }
    }
    Ok(None)
}

/// The invitee a no-show is about (see the module docs for the forms).
fn no_show_invitee(payload: &Obj<'_>) -> Result<ObjectId> {
    if let Some(id) = payload.reference("invitee", "uri")? {
        return Ok(id);
    }
    if payload.has("no_show") {
        return payload.id("uri");
    }
    Err(payload.error(
        "invitee",
        "is required: the invitee's URI, or an object with `uri`",
    ))
}
