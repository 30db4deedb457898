//! Path-tracking reads over a parsed Stripe payload.
//!
//! Stripe objects are large and version-dependent, so the normalizer reads
//! the few fields it needs from a `serde_json::Value` instead of mirroring
//! every object in structs. Each read goes through a [`Node`], which carries
//! the JSON path it was reached by; a missing or wrong-typed field becomes a
//! [`NormalizeError::Field`] naming exactly where it is
//! (`data.object.items.data[0].price.recurring.interval`).

use chrono::{DateTime, Utc};
use revstream_schemas::{Currency, Email, ObjectId};
use serde_json::{Map, Value};

use crate::normalize::{NormalizeError, Result};

/// A place in the payload: the value found there (if any) and its path.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    /// `None` when the field is absent; JSON `null` is kept as a value and
    /// treated like absent by the `opt_*` readers.
    value: Option<&'a Value>,
    path: String,
}

impl<'a> Node<'a> {
    /// The document root (path `.`).
    pub(crate) fn root(value: &'a Value) -> Self {
        Node {
            value: Some(value),
            path: String::new(),
        }
    }

    /// The path as shown in errors: `.` for the root.
    pub(crate) fn path(&self) -> &str {
        if self.path.is_empty() {
            "."
        } else {
            &self.path
        }
    }

    /// A field of this node. Reading a field of a non-object yields an
    /// absent node; callers that care check [`Node::object`] first.
    pub(crate) fn get(&self, key: &str) -> Node<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Node {
            value: self.value.and_then(|v| v.get(key)),
            path,
        }
    }

    pub(crate) fn error(&self, problem: impl Into<String>) -> NormalizeError {
        NormalizeError::Field {
            path: self.path().to_owned(),
            problem: problem.into(),
        }
    }

    /// The value, unless absent or `null`.
    pub(crate) fn present(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    pub(crate) fn is_null(&self) -> bool {
        self.present().is_none()
    }

    fn required(&self) -> Result<&'a Value> {
        self.present().ok_or_else(|| self.error("is required"))
    }

    fn wrong_type(&self, expected: &str, got: &Value) -> NormalizeError {
        self.error(format!("must be {expected}, got {}", describe(got)))
    }

    pub(crate) fn object(&self) -> Result<&'a Map<String, Value>> {
        let v = self.required()?;
        v.as_object().ok_or_else(|| self.wrong_type("an object", v))
    }

    pub(crate) fn str(&self) -> Result<&'a str> {
        let v = self.required()?;
        v.as_str().ok_or_else(|| self.wrong_type("a string", v))
    }

    pub(crate) fn opt_str(&self) -> Result<Option<&'a str>> {
        if self.is_null() {
            return Ok(None);
        }
        self.str().map(Some)
    }

    pub(crate) fn i64(&self) -> Result<i64> {
        let v = self.required()?;
        v.as_i64().ok_or_else(|| self.wrong_type("an integer", v))
    }

    pub(crate) fn opt_number(&self) -> Result<Option<&'a serde_json::Number>> {
        match self.present() {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(other) => Err(self.wrong_type("a number", other)),
        }
    }

    /// An amount in minor units: an integer ≥ 0 (Stripe never sends
    /// negative amounts on the objects read here).
    pub(crate) fn amount(&self) -> Result<i64> {
        let a = self.i64()?;
        if a < 0 {
            return Err(self.error(format!("must be ≥ 0, got {a}")));
        }
        Ok(a)
    }

    pub(crate) fn opt_amount(&self) -> Result<Option<i64>> {
        if self.is_null() {
            return Ok(None);
        }
        self.amount().map(Some)
    }

    /// A boolean that Stripe always sends but whose absence has an obvious
    /// meaning (`cancel_at_period_end` missing → not canceling).
    pub(crate) fn bool_or(&self, default: bool) -> Result<bool> {
        match self.present() {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.wrong_type("a boolean", v)),
        }
    }

    /// The elements of an array, each with its `[i]` path.
    pub(crate) fn array(&self) -> Result<Vec<Node<'a>>> {
        let v = self.required()?;
        let items = v.as_array().ok_or_else(|| self.wrong_type("an array", v))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value: Some(value),
                path: format!("{}[{i}]", self.path()),
            })
            .collect())
    }

    pub(crate) fn opt_array(&self) -> Result<Vec<Node<'a>>> {
        if self.is_null() {
            return Ok(Vec::new());
        }
        self.array()
    }

    /// A Unix timestamp in seconds, Stripe's only time format.
    pub(crate) fn timestamp(&self) -> Result<DateTime<Utc>> {
        let secs = self.i64()?;
        DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| self.error(format!("is not a valid Unix timestamp: {secs}")))
    }

    pub(crate) fn opt_timestamp(&self) -> Result<Option<DateTime<Utc>>> {
        if self.is_null() {
            return Ok(None);
        }
        self.timestamp().map(Some)
    }

    pub(crate) fn object_id(&self) -> Result<ObjectId> {
        let s = self.str()?;
        ObjectId::parse(s).map_err(|e| self.error(e.to_string()))
    }

    /// An id that Stripe may expand: `"cus_1"` or `{"id": "cus_1", …}`.
    /// Webhooks send the bare id; sync pulls and API responses may expand.
    pub(crate) fn expandable_id(&self) -> Result<ObjectId> {
        match self.required()? {
            Value::Object(_) => self.get("id").object_id(),
            Value::String(_) => self.object_id(),
            other => Err(self.wrong_type("an id string or an expanded object", other)),
        }
    }

    pub(crate) fn opt_expandable_id(&self) -> Result<Option<ObjectId>> {
        if self.is_null() {
            return Ok(None);
        }
        self.expandable_id().map(Some)
    }

    pub(crate) fn currency(&self) -> Result<Currency> {
        let s = self.str()?;
        Currency::parse(s).map_err(|e| self.error(e.to_string()))
    }

    pub(crate) fn opt_currency(&self) -> Result<Option<Currency>> {
        if self.is_null() {
            return Ok(None);
        }
        self.currency().map(Some)
    }

    /// An optional email; an empty string counts as absent (Stripe sends
    /// `""` from some dashboard flows).
    pub(crate) fn opt_email(&self) -> Result<Option<Email>> {
        match self.opt_str()? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => Email::parse(s)
                .map(Some)
                .map_err(|e| self.error(e.to_string())),
        }
    }
}

/// A short description of a JSON value for "must be X, got Y" messages.
fn describe(v: &Value) -> String {
    const MAX: usize = 40;
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => {
            // Cut on a char boundary so a long multi-byte value cannot panic.
            let cut: String = s.chars().take(MAX).collect();
            let ellipsis = if cut.len() < s.len() { "…" } else { "" };
            format!("a string ({cut:?}{ellipsis})")
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_fields_and_indexes() {
        let v: Value = serde_json::from_str(
            r#"{"data":{"items":[{"q":"2"}]},"s":"ééééééééééééééééééééééééééééééééééééééééééééé"}"#,
        )
        .unwrap();
        let root = Node::root(&v);
        assert_eq!(root.path(), ".");
        let items = root.get("data").get("items").array().unwrap();
        let err = items[0].get("q").i64().unwrap_err();
        assert_eq!(
            err,
            NormalizeError::Field {
                path: "data.items[0].q".into(),
                problem: "must be an integer, got a string (\"2\")".into()
            }
        );
        let err = root.get("data").get("missing").str().unwrap_err();
        assert_eq!(err.to_string(), "data.missing is required");
        let err = root.get("s").i64().unwrap_err();
        assert!(err.to_string().ends_with("…)"), "{err}");
    }

    #[test]
    fn expandable_ids_accept_both_forms() {
        let v: Value = serde_json::from_str(r#"{"a":"cus_1","b":{"id":"cus_2"},"c":7}"#).unwrap();
        let root = Node::root(&v);
        assert_eq!(root.get("a").expandable_id().unwrap().as_str(), "cus_1");
        assert_eq!(root.get("b").expandable_id().unwrap().as_str(), "cus_2");
        assert!(root.get("c").expandable_id().is_err());
        assert_eq!(root.get("d").opt_expandable_id().unwrap(), None);
    }
}
