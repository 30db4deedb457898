//! Validated identifiers. Each one is checked once, where it enters the
//! system, so that code further in can use it as a path segment, a Kafka key
//! or a SQL literal without re-checking.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Implements the string plumbing shared by every identifier newtype:
/// `as_str`, `Display`, `FromStr`, and serde as a string checked by
/// `parse`.
///
/// Serde reads and writes the `str` directly. Its `try_from = "String"` /
/// `into = "String"` shortcuts allocated a `String` for every id read and
/// cloned one for every id written: a few ids per event, on every event
/// the pipeline decodes and writes to the `events` table.
///
/// The ids an event carries (event, object and source ids, emails) hold an
/// `Arc<str>`: the pipeline's derivation copies them into several places
/// per entity (map keys, rows, MRR timelines) every cycle, so a copy is a
/// reference count, not an allocation (criterion: deriving a busy tenant
/// from its held events −30 %), and a held event's ids are 16 bytes, not 24.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                String::from(&*v.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Checked;
                impl serde::de::Visitor<'_> for Checked {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        $name::parse(s).map_err(E::custom)
                    }
                }
                d.deserialize_str(Checked)
            }
        }
    };
}

/// Why a string is not a valid identifier; the message follows the field
/// path ("tenant must be lowercase …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(String);

/// A tenant: the unit of isolation. Lowercase ASCII letters, digits, `-` and
/// `_`, starting with a letter or digit, at most 64 characters — safe as a
/// directory name, a Kafka key and a SQL literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);
string_newtype!(TenantId);

impl TenantId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(IdError(format!(
                "must be 1 to {} characters long, got {}",
                Self::MAX_LEN,
                s.len()
            )));
        }
        let first_ok = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !first_ok || !rest_ok {
            return Err(IdError(format!(
                "must be lowercase letters, digits, '-' or '_', starting with a letter or digit: {s:?}"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

/// An event's idempotency key within (tenant, source): any printable string
/// of 1 to 255 bytes, as providers and producers choose it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Arc<str>);
string_newtype!(EventId);

impl EventId {
    pub const MAX_LEN: usize = EXTERNAL_ID_MAX_LEN;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_external_id(s).map(|()| Self(Arc::from(s)))
    }
}

/// The id a provider or producer gave an object: a customer, subscription,
/// payment, refund or call. Same rules as [`EventId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(Arc<str>);
string_newtype!(ObjectId);

impl ObjectId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check_external_id(s).map(|()| Self(Arc::from(s)))
    }
}

const EXTERNAL_ID_MAX_LEN: usize = 255;

/// Ids chosen outside revstream: any printable string of 1 to 255 bytes.
fn check_external_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() || s.len() > EXTERNAL_ID_MAX_LEN {
        return Err(IdError(format!(
            "must be 1 to {EXTERNAL_ID_MAX_LEN} bytes long, got {}",
            s.len()
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(IdError("must not contain control characters".into()));
    }
    Ok(())
}

/// Where an event came from: `stripe`, `whop`, `calendly`, `api`, `csv`, …
/// Part of the dedupe key, so the same id from two sources is two events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceName(Arc<str>);
string_newtype!(SourceName);

impl SourceName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(IdError(format!(
                "must be 1 to {} lowercase letters, digits or '_', starting with a letter: {s:?}",
                Self::MAX_LEN
            )))
        }
    }

    /// The default source of events posted to `/v1/events`.
    pub fn api() -> Self {
        Self(Arc::from("api"))
    }
}

/// An email address normalized for matching: trimmed and lowercased. Used
/// to join customers across sources and to attribute payments to calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(Arc<str>);
string_newtype!(Email);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let trimmed = s.trim();
        // Most addresses arrive lowercase ASCII already: no copy for those.
        let normalized: std::borrow::Cow<'_, str> =
            if trimmed.is_ascii() && !trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
                trimmed.into()
            } else {
                trimmed.to_lowercase().into()
            };
        let valid_shape = match normalized.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            }
            None => false,
        };
        if !valid_shape
            || normalized.len() > Self::MAX_LEN
            || normalized.chars().any(char::is_whitespace)
        {
            return Err(IdError(format!(
                "must be an email address like name@example.com: {s:?}"
            )));
        }
        Ok(Self(Arc::from(&*normalized)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_path_safe() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("acme-co_2").is_ok());
        assert!(TenantId::parse("9lives").is_ok());
        for bad in ["", "Acme", "../etc", "a/b", "-lead", "a b", "a.b", "é"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
        assert!(TenantId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let e = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a@b@c", "a da@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn event_ids_reject_control_characters_and_overlong() {
        assert!(EventId::parse("evt_1").is_ok());
        assert!(EventId::parse("a\nb").is_err());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn identifiers_round_trip_through_serde() {
        let t: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"acme\"");
        let err = serde_json::from_str::<TenantId>("\"ACME\"").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
        // Escaped text (decoded into an owned string) is checked the same.
        let id: EventId = serde_json::from_str("\"evt\\u005f1\"").unwrap();
        assert_eq!(id.as_str(), "evt_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"evt_1\"");
        let err = serde_json::from_str::<ObjectId>("\"a\\u0007b\"").unwrap_err();
        assert!(err.to_string().contains("control"), "{err}");
        let email: Email = serde_json::from_str("\" Ann@Example.COM \"").unwrap();
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"ann@example.com\""
        );
        let email: Email = serde_json::from_str("\"ÉLODIE@example.com\"").unwrap();
        assert_eq!(email.as_str(), "élodie@example.com");
        assert!(serde_json::from_str::<SourceName>("1").is_err());
    }
}
