//! Reading a signature header defensively.
//!
//! Headers are attacker-controlled: they may repeat, be huge, or carry
//! bytes that are not text. Each check here turns that into a
//! [`VerifyError`] before any parsing or HMAC work happens.

use http::HeaderMap;

use super::VerifyError;

/// Longest header value we look at. Real signature headers are well under
/// 1 KB even with a few rotated signatures.
pub(crate) const MAX_HEADER_BYTES: usize = 4096;

/// Most signature entries read from one header; the rest are ignored so
/// the work per request stays bounded.
pub(crate) const MAX_SIGNATURES: usize = 16;

/// The one value of header `name` as trimmed, non-empty ASCII text.
///
/// A repeated header is rejected rather than picking one copy: proxies
/// disagree on which copy wins, and an ambiguous signature is no signature.
pub(crate) fn required<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or(VerifyError::MissingHeader { header: name })?;
    if values.next().is_some() {
        return Err(malformed(
            name,
            "it appears more than once; send it exactly once",
        ));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(malformed(
            name,
            format!(
                "it is {} bytes long, more than the {MAX_HEADER_BYTES} allowed",
                value.len()
            ),
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| malformed(name, "it contains bytes that are not visible ASCII"))?
        .trim();
    if text.is_empty() {
        return Err(malformed(name, "it is empty"));
    }
    Ok(text)
}

/// Shorthand for [`VerifyError::MalformedHeader`].
pub(crate) fn malformed(header: &'static str, reason: impl Into<String>) -> VerifyError {
    VerifyError::MalformedHeader {
        header,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn reason(err: VerifyError) -> String {
        match err {
            VerifyError::MalformedHeader { reason, .. } => reason,
            other => panic!("expected MalformedHeader, got {other:?}"),
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_trims() {
        let mut headers = HeaderMap::new();
        headers.insert("x-sig", HeaderValue::from_static(" abc "));
        assert_eq!(required(&headers, "X-Sig"), Ok("abc"));
    }

    #[test]
    fn rejects_missing_repeated_long_binary_and_empty() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            required(&headers, "x-sig"),
            Err(VerifyError::MissingHeader { header: "x-sig" })
        );

        headers.append("x-sig", HeaderValue::from_static("a"));
        headers.append("x-sig", HeaderValue::from_static("b"));
        assert!(reason(required(&headers, "x-sig").unwrap_err()).contains("more than once"));

        let at_limit = "a".repeat(MAX_HEADER_BYTES);
        headers.insert("x-sig", HeaderValue::from_str(&at_limit).unwrap());
        assert_eq!(required(&headers, "x-sig"), Ok(at_limit.as_str()));
        let over = "a".repeat(MAX_HEADER_BYTES + 1);
        headers.insert("x-sig", HeaderValue::from_str(&over).unwrap());
        assert!(reason(required(&headers, "x-sig").unwrap_err()).contains("4096"));

        headers.insert("x-sig", HeaderValue::from_bytes(b"t=1,\xff").unwrap());
        assert!(reason(required(&headers, "x-sig").unwrap_err()).contains("ASCII"));

        headers.insert("x-sig", HeaderValue::from_static("   "));
        assert!(reason(required(&headers, "x-sig").unwrap_err()).contains("empty"));
    }
}
