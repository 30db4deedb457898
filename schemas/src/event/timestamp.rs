//! RFC 3339 timestamps with an error message a producer can act on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

fn parse<E: serde::de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            E::custom(format!(
                "must be an RFC 3339 timestamp like 2026-01-05T10:00:00Z, got {s:?}"
            ))
        })
}

fn write<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

pub(crate) mod required {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        write(t, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)
            .map_err(|e| D::Error::custom(format!("must be an RFC 3339 string: {e}")))?;
        parse(&s)
    }
}

pub(crate) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => write(t, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)
            .map_err(|e| D::Error::custom(format!("must be an RFC 3339 string: {e}")))?;
        s.as_deref().map(parse).transpose()
    }
}
