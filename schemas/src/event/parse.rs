//! Parsing canonical events from JSON, with errors that name the field.

use super::CanonicalEvent;
use crate::validate::{FieldError, ParseError};

impl CanonicalEvent {
    /// Parses and validates one event from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        // serde would also read a struct from a JSON array; an event is an object.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'{') {
            return Err(not_an_object());
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let event: CanonicalEvent =
            serde_path_to_error::deserialize(&mut de).map_err(shape_error)?;
        de.end().map_err(|e| {
            ParseError::Shape(FieldError::new(
                ".",
                format!("has trailing characters: {e}"),
            ))
        })?;
        event.validate()?;
        Ok(event)
    }

    /// Parses and validates one event from an already-parsed JSON value
    /// (one element of a batch array).
    pub fn from_value(value: serde_json::Value) -> Result<Self, ParseError> {
        if !value.is_object() {
            return Err(not_an_object());
        }
        let event: CanonicalEvent = serde_path_to_error::deserialize(value).map_err(shape_error)?;
        event.validate()?;
        Ok(event)
    }

    /// The wire form: compact JSON, as written to the event log.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks the rules serde cannot express: the section each type needs,
    /// non-negative amounts, discount bounds, …
    pub fn validate(&self) -> Result<(), ParseError> {
        super::rules::check(self).map_err(ParseError::Invalid)
    }
}

fn not_an_object() -> ParseError {
    ParseError::Shape(FieldError::new(".", "must be a JSON object"))
}

fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> ParseError {
    let path = e.path().to_string();
    let inner = e.inner();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return ParseError::Shape(FieldError::new(".", format!("is not valid JSON: {inner}")));
    }
    let full = inner.to_string();
    let location = format!(" at line {} column {}", inner.line(), inner.column());
    let message = full.strip_suffix(&location).unwrap_or(&full);

    let field_path = |field: &str| {
        if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let backticked = |rest: &str| rest.split('`').nth(1).map(str::to_owned);

    let error = if let Some(field) = message.strip_prefix("missing field ").and_then(backticked) {
        FieldError::new(field_path(&field), "is required")
    } else if let Some(rest) = message.strip_prefix("unknown field ") {
        // serde_path_to_error's path already ends at the unknown field.
        let expected = rest.split_once(", expected ").map(|(_, e)| e).unwrap_or("");
        FieldError::new(path, format!("is not a known field (expected {expected})"))
    } else if ["must ", "is ", "has "]
        .iter()
        .any(|p| message.starts_with(p))
    {
        FieldError::new(path, message)
    } else {
        FieldError::new(path, format!("is invalid: {message}"))
    };
    ParseError::Shape(error)
}
