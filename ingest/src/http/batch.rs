//! Splitting a `/v1/events` body into rows: the elements of a JSON array,
//! or the non-blank lines of NDJSON.
//!
//! Only a body that cannot even be split is refused as a whole; each row is
//! then parsed on its own (`CanonicalEvent::from_json`), so one bad row
//! never costs the good ones. Public so the reader can be fuzzed directly.

use serde_json::value::RawValue;

use super::error::{ApiError, ApiResult};

/// The rows of a batch, borrowed from `body`, in order.
///
/// A body whose first non-blank byte is `[` is a JSON array and must parse
/// as one (its elements are not interpreted here, and however deeply they
/// nest, skipping them is iterative in serde_json, so it cannot overflow
/// the stack). Anything else is NDJSON: blank lines are not rows.
pub fn split_rows(body: &[u8]) -> ApiResult<Vec<&[u8]>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let elements: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("the body starts with '[' but is not a JSON array: {e}"),
            )
        })?;
        return Ok(elements
            .into_iter()
            .map(|raw| raw.get().as_bytes())
            .collect());
    }
    Ok(body
        .split(|&b| b == b'\n')
        .map(|line| line.trim_ascii())
        .filter(|line| !line.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::split_rows;

    #[test]
    fn arrays_and_ndjson_split_into_rows() {
        let rows = split_rows(br#" [{"a":1}, {"b":[1,2]}, 3] "#).unwrap();
        assert_eq!(rows, [&br#"{"a":1}"#[..], br#"{"b":[1,2]}"#, b"3"]);
        let rows = split_rows(b"{\"a\":1}\r\n\n  \n{\"b\":2}\nnot json").unwrap();
        assert_eq!(rows, [&b"{\"a\":1}"[..], b"{\"b\":2}", b"not json"]);
        assert!(split_rows(b"[{\"a\":1},").is_err());
        assert!(split_rows(b"").unwrap().is_empty());
    }

    #[test]
    fn deeply_nested_elements_are_rows_not_a_stack_overflow() {
        let depth = 100_000;
        let body = format!("[{}{}]", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(split_rows(body.as_bytes()).unwrap().len(), 1);
        let unclosed = format!("[{}", "[".repeat(depth));
        assert!(split_rows(unclosed.as_bytes()).is_err());
    }
}
