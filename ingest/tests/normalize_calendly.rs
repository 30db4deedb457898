//! Calendly webhook bodies → canonical call events.
//!
//! Fixtures under `fixtures/calendly/` follow Calendly's documented v2
//! webhook payloads (`{event, created_at, created_by, payload}`), including a
//! reschedule pair linked by `old_invitee` / `new_invitee`.

use revstream_ingest::normalize::{NormalizeError, Normalized, calendly};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const OLD_INVITEE: &str =
    "https://api.calendly.com/scheduled_events/EVT1A2B3C4D5E6F7/invitees/INV1C7QW2ERT4YU6";
const NEW_INVITEE: &str =
    "https://api.calendly.com/scheduled_events/EVT2G8H9J0K1L2M3/invitees/INV2P4QR6ST8UV0W";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/calendly/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("JSON serializes")
}

/// The documented id derivation, recomputed independently.
fn expected_id(event: &str, invitee: &str, created_at: &str) -> String {
    let digest = Sha256::digest(format!("{event}\n{invitee}\n{created_at}"));
    format!("cal_{}", hex::encode(digest))
}

/// The one event a body gives, as canonical JSON without `raw`, after
/// checking the invariants every normalized event has.
fn single(body: &[u8], normalized: Normalized) -> Value {
    assert_eq!(normalized.events.len(), 1, "{normalized:?}");
    let event = &normalized.events[0];
    event.validate().expect("normalized events are valid");
    assert_eq!(normalized.provider_event_id, event.id.as_str());
    let body: Value = serde_json::from_slice(body).expect("body is JSON");
    assert_eq!(event.raw.as_ref(), Some(&body), "raw must be the body");
    let mut json = serde_json::to_value(event).expect("events serialize");
    if let Some(fields) = json.as_object_mut() {
        fields.remove("raw");
    }
    json
}

fn event_of(body: &[u8]) -> Value {
    single(body, calendly::normalize(body).expect("body normalizes"))
}

fn event(name: &str) -> Value {
    event_of(&fixture(name))
}

fn field_error(body: &[u8]) -> (String, String) {
    match calendly::normalize(body) {
        Err(NormalizeError::Field { path, problem }) => (path, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn invitee_created_is_a_booked_call() {
    let invitee =
        "https://api.calendly.com/scheduled_events/EVT1A2B3C4D5E6F7/invitees/INV1C7QW2ERT4YU6";
    assert_eq!(
        event("invitee_created.json"),
        json!({
            "id": expected_id("invitee.created", invitee, "2025-03-10T14:02:11Z"),
            "type": "call.booked",
            "occurred_at": "2025-03-10T14:02:11Z",
            "source": "calendly",
            "call": {
                "id": invitee,
                "lead": {"email": "lee.lead@example.com", "name": "Lee Lead"},
                "closer": "ann.closer@acme.io",
                // The booking question wins over utm_content ("maria").
                "setter": "Jordan Reyes",
                "source": "youtube",
                "call_type": "Strategy Call",
                "booked_at": "2025-03-10T14:02:10.482311Z",
                "scheduled_at": "2025-03-12T17:00:00Z"
            }
        })
    );
}

#[test]
fn a_reschedule_marks_the_old_call_and_books_the_new_one() {
    let canceled = event("invitee_canceled_rescheduled.json");
    assert_eq!(
        canceled,
        json!({
            "id": expected_id("invitee.canceled", OLD_INVITEE, "2025-03-11T09:30:05Z"),
            "type": "call.rescheduled",
            "occurred_at": "2025-03-11T09:30:05Z",
            "source": "calendly",
            "call": {"id": OLD_INVITEE}
        })
    );
    let booked = event("invitee_created_rescheduled.json");
    assert_eq!(
        booked,
        json!({
            "id": expected_id("invitee.created", NEW_INVITEE, "2025-03-11T09:30:05Z"),
            "type": "call.booked",
            "occurred_at": "2025-03-11T09:30:05Z",
            "source": "calendly",
            "call": {
                "id": NEW_INVITEE,
                "lead": {"email": "lee.lead@example.com", "name": "Lee Lead"},
                "closer": "ann.closer@acme.io",
                // No setter question here: utm_content names the setter.
                "setter": "maria",
                "source": "youtube",
                "call_type": "Strategy Call",
                "booked_at": "2025-03-11T09:30:03.998Z",
                "scheduled_at": "2025-03-13T15:00:00Z",
                "rescheduled_from": OLD_INVITEE
            }
        })
    );
    // Sent in the same second, the pair still has two ids.
    assert_ne!(canceled["id"], booked["id"]);
}

#[test]
fn a_plain_cancellation_is_a_canceled_call() {
    let invitee =
        "https://api.calendly.com/scheduled_events/EVT3D5F7H9K1M3P5/invitees/INV3X5Y7Z9A1B3C5";
    assert_eq!(
        event("invitee_canceled.json"),
        json!({
            "id": expected_id("invitee.canceled", invitee, "2025-03-14T20:11:42Z"),
            "type": "call.canceled",
            "occurred_at": "2025-03-14T20:11:42Z",
            "source": "calendly",
            "call": {"id": invitee}
        })
    );
    // A payload without `rescheduled` is a plain cancellation too.
    let body = edited("invitee_canceled.json", |v| {
        v["payload"].as_object_mut().unwrap().remove("rescheduled");
    });
    assert_eq!(event_of(&body)["type"], "call.canceled");
}

/// Rewrites a no-show body's `payload.invitee` as a bare URI.
fn invitee_as_uri(v: &mut Value) {
    let uri = v["payload"]["invitee"]["uri"].clone();
    v["payload"]["invitee"] = uri;
}

/// Rewrites a no-show body's `payload.invitee` as an object with `uri`.
fn invitee_as_object(v: &mut Value) {
    let uri = v["payload"]["invitee"].clone();
    v["payload"]["invitee"] = json!({"uri": uri, "email": "lee.lead@example.com"});
}

#[test]
fn no_show_created_names_the_invitee_by_uri_or_object() {
    let expected = json!({
        "id": expected_id("invitee_no_show.created", NEW_INVITEE, "2025-03-13T15:20:00Z"),
        "type": "call.no_show",
        "occurred_at": "2025-03-13T15:20:00Z",
        "source": "calendly",
        "call": {"id": NEW_INVITEE}
    });
    assert_eq!(event("invitee_no_show_created.json"), expected);
    let body = edited("invitee_no_show_created.json", invitee_as_object);
    assert_eq!(event_of(&body), expected);
}

#[test]
fn no_show_deleted_names_the_invitee_by_object_or_uri() {
    let expected = json!({
        "id": expected_id("invitee_no_show.deleted", NEW_INVITEE, "2025-03-13T16:02:30Z"),
        "type": "call.no_show_undone",
        "occurred_at": "2025-03-13T16:02:30Z",
        "source": "calendly",
        "call": {"id": NEW_INVITEE}
    });
    assert_eq!(event("invitee_no_show_deleted.json"), expected);
    let body = edited("invitee_no_show_deleted.json", invitee_as_uri);
    assert_eq!(event_of(&body), expected);
}

#[test]
fn a_no_show_payload_may_be_the_invitee_itself() {
    let body = json!({
        "created_at": "2025-03-13T15:20:00Z",
        "created_by": "https://api.calendly.com/users/HOSTANN2QZ3LX5BD",
        "event": "invitee_no_show.created",
        "payload": {
            "uri": NEW_INVITEE,
            "email": "lee.lead@example.com",
            "name": "Lee Lead",
            "no_show": {"uri": "https://api.calendly.com/invitee_no_shows/NOSHOW5T6Y7U8I9O",
                        "created_at": "2025-03-13T15:19:59.812345Z"}
        }
    });
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(event_of(&body)["call"], json!({"id": NEW_INVITEE}));
}

#[test]
fn closer_falls_back_to_the_host_name_and_may_be_absent() {
    let body = edited("invitee_created.json", |v| {
        let host = &mut v["payload"]["scheduled_event"]["event_memberships"][0];
        host.as_object_mut().unwrap().remove("user_email");
    });
    assert_eq!(event_of(&body)["call"]["closer"], "Ann Closer");
    let body = edited("invitee_created.json", |v| {
        v["payload"]["scheduled_event"]["event_memberships"] = json!([]);
    });
    assert!(event_of(&body)["call"].get("closer").is_none());
}

#[test]
fn without_a_setter_question_or_utm_content_there_is_no_setter() {
    let body = edited("invitee_created.json", |v| {
        v["payload"]["questions_and_answers"] = json!([]);
        v["payload"]["tracking"]["utm_content"] = json!("");
        v["payload"]["tracking"]["utm_source"] = Value::Null;
    });
    let call = &event_of(&body)["call"];
    assert!(call.get("setter").is_none(), "{call}");
    assert!(call.get("source").is_none(), "{call}");
}

#[test]
fn unknown_events_are_ignored_with_the_raw_body_kept() {
    assert_eq!(
        event("routing_form_submission_created.json"),
        json!({
            "id": expected_id(
                "routing_form_submission.created",
                "https://api.calendly.com/routing_form_submissions/RFS1Z2X3C4V5B6N7",
                "2025-03-10T14:01:58Z"
            ),
            "type": "ignored",
            "occurred_at": "2025-03-10T14:01:58Z",
            "source": "calendly",
            "name": "routing_form_submission.created"
        })
    );
}

#[test]
fn ids_are_stable_for_retries_and_distinct_per_delivery() {
    let first = event("invitee_no_show_created.json");
    assert_eq!(event("invitee_no_show_created.json")["id"], first["id"]);
    // The same instant spelled differently is the same delivery.
    let respelled = edited("invitee_no_show_created.json", |v| {
        v["created_at"] = json!("2025-03-13T15:20:00Z");
    });
    assert_eq!(event_of(&respelled)["id"], first["id"]);
    // Marking the same invitee a no-show again later is a new event.
    let again = edited("invitee_no_show_created.json", |v| {
        v["created_at"] = json!("2025-03-13T16:30:00.000000Z");
    });
    assert_ne!(event_of(&again)["id"], first["id"]);
}

#[test]
fn non_json_bodies_are_rejected() {
    assert!(matches!(
        calendly::normalize(b"event=invitee.created"),
        Err(NormalizeError::NotJson(_))
    ));
}

#[test]
fn missing_or_wrongly_typed_fields_name_the_path() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str, &str); 10] = [
        (
            "invitee_created.json",
            |v| {
                v["payload"]["scheduled_event"]
                    .as_object_mut()
                    .unwrap()
                    .remove("start_time");
            },
            "payload.scheduled_event.start_time",
            "is required",
        ),
        (
            "invitee_created.json",
            |v| v["payload"]["scheduled_event"]["start_time"] = json!("tomorrow at noon"),
            "payload.scheduled_event.start_time",
            "must be an RFC 3339 timestamp like 2026-01-05T10:00:00Z, got \"tomorrow at noon\"",
        ),
        (
            "invitee_created.json",
            |v| v["payload"]["email"] = json!("lee at example"),
            "payload.email",
            "must be an email address like name@example.com: \"lee at example\"",
        ),
        (
            "invitee_created.json",
            |v| {
                v["payload"]
                    .as_object_mut()
                    .unwrap()
                    .remove("scheduled_event");
            },
            "payload.scheduled_event",
            "is required",
        ),
        (
            "invitee_created.json",
            |v| v["payload"]["scheduled_event"]["event_memberships"] = json!(["ann"]),
            "payload.scheduled_event.event_memberships[0]",
            "must be an object, got a string",
        ),
        (
            "invitee_created.json",
            |v| v["payload"]["tracking"] = json!("youtube"),
            "payload.tracking",
            "must be an object, got a string",
        ),
        (
            "invitee_canceled.json",
            |v| {
                v["payload"].as_object_mut().unwrap().remove("uri");
            },
            "payload.uri",
            "is required",
        ),
        (
            "invitee_canceled.json",
            |v| v["payload"]["rescheduled"] = json!("yes"),
            "payload.rescheduled",
            "must be a boolean, got a string",
        ),
        (
            "invitee_no_show_created.json",
            |v| v["payload"]["invitee"] = json!(42),
            "payload.invitee",
            "must be an id string or an object with `uri`, got a number",
        ),
        (
            "invitee_no_show_created.json",
            |v| {
                v["payload"].as_object_mut().unwrap().remove("invitee");
            },
            "payload.invitee",
            "is required: the invitee's URI, or an object with `uri`",
        ),
    ];
    for (name, edit, path, problem) in cases {
        let body = edited(name, edit);
        assert_eq!(
            field_error(&body),
            (path.to_owned(), problem.to_owned()),
            "{name} → {path}"
        );
    }
}

#[test]
fn envelope_problems_name_the_envelope_field() {
    let body = edited("invitee_canceled.json", |v| {
        v.as_object_mut().unwrap().remove("created_at");
    });
    assert_eq!(
        field_error(&body),
        ("created_at".to_owned(), "is required".to_owned())
    );
    let body = edited("invitee_canceled.json", |v| v["event"] = json!(7));
    assert_eq!(
        field_error(&body),
        (
            "event".to_owned(),
            "must be a string, got a number".to_owned()
        )
    );
    let body = edited("invitee_no_show_deleted.json", |v| {
        v["payload"]["invitee"]["uri"] = Value::Null;
    });
    assert_eq!(field_error(&body).0, "payload.invitee.uri");
}
