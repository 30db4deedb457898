//! Reading provider JSON with errors that name the path.
//!
//! Provider payloads are read field by field from a `serde_json::Value`
//! rather than through derived structs: the payloads are large, mostly
//! irrelevant, vary between API generations (a field may be an id string in
//! one and an object in the next), and every error must name the JSON path
//! the sender can fix (`data.plan.renewal_price has more than 0 decimals …`).
//!
//! Used by the Whop and Calendly normalizers. It lives in a `whop_*` file
//! only because those are the files this normalizer owns; nothing in it is
//! Whop-specific, and it can move to `normalize/json.rs` as is.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use revstream_schemas::{CanonicalEvent, Email, EventId, ObjectId};
use serde_json::{Map, Value};

use crate::normalize::{NormalizeError, Result};

/// Parses a webhook body; anything that is not JSON is the sender's fault.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| NormalizeError::NotJson(e.to_string()))
}

pub(crate) fn field_error(path: impl Into<String>, problem: impl Into<String>) -> NormalizeError {
    NormalizeError::Field {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Runs the canonical model's own rules on a normalized event. A failure
/// means the provider sent values revstream cannot represent (a negative
/// amount, say), so it is reported against the provider payload at `path`.
pub(crate) fn checked(event: CanonicalEvent, path: &str) -> Result<CanonicalEvent> {
    match event.validate() {
        Ok(()) => Ok(event),
        Err(e) => Err(field_error(
            path,
            format!("does not give a valid canonical event: {e}"),
        )),
    }
}

/// An event id built by a normalizer; the only way it can be invalid is a
/// provider id too long to embed, which is reported at `path`.
pub(crate) fn event_id(id: &str, path: &str) -> Result<EventId> {
    EventId::parse(id).map_err(|e| field_error(path, format!("cannot form an event id: {e}")))
}

/// A timestamp in the one spelling used inside derived ids, so that two
/// spellings of the same instant derive the same id.
pub(crate) fn stable_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What kind of JSON value this is, for "must be a string, got number".
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object and the path that leads to it from the document root.
#[derive(Debug, Clone)]
pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// The document itself, which must be an object.
    pub(crate) fn root(value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: String::new(),
                map,
            }),
            other => Err(field_error(
                ".",
                format!("must be a JSON object, got {}", kind(other)),
            )),
        }
    }

    /// This object's own path (`.` for the root).
    pub(crate) fn path(&self) -> &str {
        if self.path.is_empty() {
            "."
        } else {
            &self.path
        }
    }

    /// The path of a field of this object.
    pub(crate) fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn error(&self, key: &str, problem: impl Into<String>) -> NormalizeError {
        field_error(self.child(key), problem)
    }

    /// A field's value; `null` counts as absent, as providers use both.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>> {
        self.opt_obj(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                path: self.child(key),
                map,
            })),
            Some(other) => Err(self.error(key, format!("must be an object, got {}", kind(other)))),
        }
    }

    /// The objects of an array field (absent = empty), each with its
    /// indexed path (`scheduled_event.event_memberships[0]`).
    pub(crate) fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(key, format!("must be an array, got {}", kind(other))));
            }
        };
        let base = self.child(key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Obj {
                    path: format!("{base}[{i}]"),
                    map,
                }),
                other => Err(field_error(
                    format!("{base}[{i}]"),
                    format!("must be an object, got {}", kind(other)),
                )),
            })
            .collect()
    }

    /// A required, non-blank string, trimmed.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str> {
        self.opt_str(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// An optional string, trimmed; blank counts as absent because providers
    /// send `""` for "not set" (Calendly's empty UTM fields).
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                Ok((!s.is_empty()).then_some(s))
            }
            Some(other) => Err(self.error(key, format!("must be a string, got {}", kind(other)))),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(key, format!("must be a boolean, got {}", kind(other)))),
        }
    }

    /// A non-negative integer, as a JSON number or a string of digits.
    pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        let bad = |got: &str| self.error(key, format!("must be a whole number ≥ 0, got {got}"));
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(&n.to_string())),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| bad(&format!("{s:?}"))),
            Some(other) => Err(bad(kind(other))),
        }
    }

    pub(crate) fn id(&self, key: &str) -> Result<ObjectId> {
        let s = self.str(key)?;
        ObjectId::parse(s).map_err(|e| self.error(key, e.to_string()))
    }

    pub(crate) fn opt_id(&self, key: &str) -> Result<Option<ObjectId>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => ObjectId::parse(s)
                .map(Some)
                .map_err(|e| self.error(key, e.to_string())),
        }
    }

    /// A reference to another object, sent either as its id string or as
    /// the object itself (whose id is in `id_key`): Whop's `membership` is
    /// `"mem_…"` in v5 and `{"id": "mem_…"}` now; Calendly names a no-show's
    /// invitee by URI or by object.
    pub(crate) fn reference(&self, key: &str, id_key: &str) -> Result<Option<ObjectId>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(_)) => self.opt_id(key),
            Some(Value::Object(_)) => self.obj(key)?.id(id_key).map(Some),
            Some(other) => Err(self.error(
                key,
                format!(
                    "must be an id string or an object with `{id_key}`, got {}",
                    kind(other)
                ),
            )),
        }
    }

    pub(crate) fn opt_email(&self, key: &str) -> Result<Option<Email>> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => Email::parse(s)
                .map(Some)
                .map_err(|e| self.error(key, e.to_string())),
        }
    }

    pub(crate) fn time(&self, key: &str) -> Result<DateTime<Utc>> {
        self.opt_time(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// A timestamp as an RFC 3339 string (what current APIs send) or as
    /// unix seconds, number or digit string (what Whop's v5 sent).
    pub(crate) fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let unix = |secs: i64| {
            Utc.timestamp_opt(secs, 0)
                .single()
                .ok_or_else(|| self.error(key, format!("is not a valid unix timestamp: {secs}")))
        };
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(secs) => unix(secs).map(Some),
                None => Err(self.error(key, format!("must be whole unix seconds, got {n}"))),
            },
            Some(Value::String(s)) => {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    let secs = s.parse().map_err(|_| {
                        self.error(key, format!("is not a valid unix timestamp: {s}"))
                    })?;
                    return unix(secs).map(Some);
                }
                DateTime::parse_from_rfc3339(s)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| {
                        self.error(
                            key,
                            format!(
                                "must be an RFC 3339 timestamp like 2026-01-05T10:00:00Z, got {s:?}"
                            ),
                        )
                    })
            }
            Some(other) => Err(self.error(
                key,
                format!(
                    "must be an RFC 3339 timestamp or unix seconds, got {}",
                    kind(other)
                ),
            )),
        }
    }

    /// The first of `keys` that holds a timestamp.
    pub(crate) fn first_time(&self, keys: &[&'static str]) -> Result<Option<DateTime<Utc>>> {
        for key in keys {
            if let Some(t) = self.opt_time(key)? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_full_path() {
        let v: Value = serde_json::json!({
            "data": {"plan": {"id": 7}, "items": [{"a": 1}, 2], "at": "yesterday"}
        });
        let root = Obj::root(&v).unwrap();
        let data = root.obj("data").unwrap();
        let plan = data.obj("plan").unwrap();
        let err = plan.id("id").unwrap_err();
        assert_eq!(
            err,
            field_error("data.plan.id", "must be a string, got a number")
        );
        let err = data.objects("items").unwrap_err();
        assert_eq!(
            err,
            field_error("data.items[1]", "must be an object, got a number")
        );
        assert!(data.time("at").is_err());
        assert_eq!(
            data.str("missing").unwrap_err(),
            field_error("data.missing", "is required")
        );
        assert_eq!(root.path(), ".");
        assert_eq!(plan.path(), "data.plan");
    }

    #[test]
    fn timestamps_accept_rfc3339_and_unix_seconds() {
        let v: Value = serde_json::json!({
            "a": "2024-01-01T00:00:00.000Z", "b": 1704067200, "c": "1704067200", "d": null
        });
        let root = Obj::root(&v).unwrap();
        let a = root.time("a").unwrap();
        assert_eq!(root.time("b").unwrap(), a);
        assert_eq!(root.time("c").unwrap(), a);
        assert_eq!(root.opt_time("d").unwrap(), None);
        assert_eq!(stable_time(&a), "2024-01-01T00:00:00Z");
    }
}
