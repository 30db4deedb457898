//! Standard Webhooks (<https://www.standardwebhooks.com>), used by current
//! Whop webhooks and the generic signed route.
//!
//! Headers `webhook-id`, `webhook-timestamp` and `webhook-signature:
//! v1,<base64> [v1,<base64> …]`; signature = base64 HMAC-SHA256 over
//! `"{id}.{timestamp}.{raw_body}"`, keyed with the base64-decoded secret
//! after its `whsec_` prefix. Non-`v1` entries (such as asymmetric `v1a`)
//! are ignored, as the reference libraries do.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;

use super::header::{self, MAX_SIGNATURES, malformed};
use super::mac::{self, Tag};
use super::timestamp;
use super::{Verified, VerifyError};

pub(crate) const ID_HEADER: &str = "webhook-id";
pub(crate) const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub(crate) const SIGNATURE_HEADER: &str = "webhook-signature";

/// Prefix of Standard Webhooks secrets; optional, as in the reference
/// libraries, so a bare base64 key works too.
const SECRET_PREFIX: &str = "whsec_";

/// Verifies the three Standard Webhooks headers.
pub(crate) fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[impl AsRef<str>],
    now: i64,
) -> Result<Verified, VerifyError> {
    let id = header::required(headers, ID_HEADER)?;
    let ts = timestamp::parse_unix(
        TIMESTAMP_HEADER,
        header::required(headers, TIMESTAMP_HEADER)?,
    )?;
    let signatures = parse_signatures(header::required(headers, SIGNATURE_HEADER)?)?;
    let t = ts.to_string();
    mac::any_secret_signs(
        secrets,
        decode_secret,
        &[id.as_bytes(), b".", t.as_bytes(), b".", body],
        &signatures,
    )?;
    // Checked after the signature, as in the t/v1 scheme, so a stale error
    // always describes an authentic request.
    timestamp::check_fresh(ts, now)?;
    Ok(Verified {
        timestamp: ts,
        webhook_id: Some(id.to_owned()),
    })
}

/// Signs a Standard Webhooks message and returns one `webhook-signature`
/// entry, `v1,<base64>`.
///
/// Used by tests and benches to build valid requests; also handy for a
/// producer that sends Standard Webhooks. Fails only when `secret` is not
/// `whsec_` followed by base64.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = decode_secret(secret)?;
    let t = timestamp.to_string();
    let tag = mac::hmac_sha256(&key, &[id.as_bytes(), b".", t.as_bytes(), b".", body]);
    Ok(format!("v1,{}", BASE64.encode(tag)))
}

/// The HMAC key inside a `whsec_<base64>` secret.
fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = BASE64.decode(encoded).map_err(|_| VerifyError::BadSecret {
        reason: "it is not `whsec_` followed by standard base64",
    })?;
    if key.is_empty() {
        // An empty key would let anyone sign.
        return Err(VerifyError::BadSecret {
            reason: "its key is empty",
        });
    }
    Ok(key)
}

/// The decoded `v1` signatures of a `webhook-signature` value.
fn parse_signatures(value: &str) -> Result<Vec<Tag>, VerifyError> {
    let mut signatures = Vec::new();
    for entry in value
        .split(' ')
        .filter(|e| !e.is_empty())
        .take(MAX_SIGNATURES)
    {
        let (version, encoded) = entry.split_once(',').ok_or_else(|| {
            malformed(
                SIGNATURE_HEADER,
                "an entry is not of the form <version>,<signature>",
            )
        })?;
        if version != "v1" {
            continue;
        }
        signatures.push(decode_tag(encoded)?);
    }
    if signatures.is_empty() {
        return Err(malformed(
            SIGNATURE_HEADER,
            format!("it has no v1,<base64> signature among its first {MAX_SIGNATURES} entries"),
        ));
    }
    Ok(signatures)
}

fn decode_tag(encoded: &str) -> Result<Tag, VerifyError> {
    let bad = || {
        malformed(
            SIGNATURE_HEADER,
            "a v1 signature is not the base64 of a 32-byte HMAC-SHA256",
        )
    };
    // 32 bytes are exactly 44 base64 characters with padding; checking the
    // length first keeps hostile input from being decoded at all.
    if encoded.len() != 44 {
        return Err(bad());
    }
    let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
    Tag::try_from(bytes.as_slice()).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn reason(value: &str) -> String {
        match parse_signatures(value) {
            Err(VerifyError::MalformedHeader { reason, .. }) => reason,
            other => panic!("{value:?}: expected MalformedHeader, got {other:?}"),
        }
    }

    #[test]
    fn keeps_v1_entries_only() {
        let value = format!("v1a,abc  v1,{SIG} v2,xyz");
        assert_eq!(parse_signatures(&value).map(|s| s.len()), Ok(1));
        assert!(reason("v1a,abc").contains("no v1"));
        assert!(reason("v1").contains("<version>,<signature>"));
        assert!(reason("v1,!!!!").contains("32-byte"));
        assert!(reason(&format!("v1,{}", &SIG[..40])).contains("32-byte"));
        // Right length, wrong alphabet (URL-safe characters).
        assert!(reason(&format!("v1,{}", SIG.replace('+', "-"))).contains("32-byte"));
    }

    #[test]
    fn reads_at_most_max_signatures() {
        let mut value = vec!["v0,x"; MAX_SIGNATURES];
        let tail = format!("v1,{SIG}");
        value.push(&tail);
        assert!(reason(&value.join(" ")).contains("first 16"));
    }

    #[test]
    fn secrets_need_base64_and_a_key() {
        assert_eq!(decode_secret("whsec_AQID").map(|k| k.len()), Ok(3));
        assert_eq!(decode_secret("AQID").map(|k| k.len()), Ok(3));
        assert!(decode_secret("whsec_not base64!").is_err());
        assert!(decode_secret("whsec_").is_err());
        assert!(decode_secret("").is_err());
    }
}
