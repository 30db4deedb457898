//! What every provider client hands the run: pages of observed objects and
//! the cursor to resume after each one.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::error::Result;
use super::snapshot::Observed;

/// One page of a pull.
#[derive(Debug, Clone)]
pub struct Page {
    pub objects: Vec<Observed>,
    /// Where to resume after this page; `None` when the pass is complete.
    pub next: Option<String>,
}

/// A provider client walking its list endpoints from a cursor.
#[async_trait]
pub trait Puller: Send {
    /// The next page; after a page with `next == None` it is not called again.
    async fn next_page(&mut self) -> Result<Page>;
}

/// A provider timestamp: unix seconds (number or digit string) or RFC 3339.
pub(crate) fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => Utc.timestamp_opt(n.as_i64()?, 0).single(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Utc.timestamp_opt(s.parse().ok()?, 0).single()
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

/// A string field of an object, for ids and cursors.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Percent-encodes a query value (all but RFC 3986 unreserved characters).
pub(crate) fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
