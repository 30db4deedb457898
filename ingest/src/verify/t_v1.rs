//! The `t=<unix>,v1=<hex>[,v1=<hex>…]` scheme of Stripe, Calendly and
//! legacy Whop v5 apps.
//!
//! Signature = lowercase hex HMAC-SHA256 over `"{t}.{raw_body}"`, keyed
//! with the UTF-8 bytes of the whole secret string (a `whsec_` prefix is
//! part of the key, not decoded). Entries other than `t` and `v1` (such as
//! Stripe's test-mode `v0`) are ignored, as the providers' own SDKs do.

use http::HeaderMap;

use super::header::{self, MAX_SIGNATURES, malformed};
use super::mac::{self, Tag};
use super::timestamp;
use super::{Verified, VerifyError};

/// A parsed `t=…,v1=…` header.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    timestamp: i64,
    signatures: Vec<Tag>,
}

/// Verifies the `t=…,v1=…` header `name`.
pub(crate) fn verify(
    name: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[impl AsRef<str>],
    now: i64,
) -> Result<Verified, VerifyError> {
    let parsed = parse(name, header::required(headers, name)?)?;
    // Sign the re-rendered number, like the providers' SDKs do, so the
    // signed string never depends on how the header spelled it.
    let t = parsed.timestamp.to_string();
    mac::any_secret_signs(
        secrets,
        utf8_key,
        &[t.as_bytes(), b".", body],
        &parsed.signatures,
    )?;
    // Only after the signature: a stale error then always means an
    // authentic request, which makes the message worth acting on.
    timestamp::check_fresh(parsed.timestamp, now)?;
    Ok(Verified {
        timestamp: parsed.timestamp,
        webhook_id: None,
    })
}

/// Signs `body` the way Stripe, Calendly and legacy Whop do and returns
/// the whole header value, `t=<timestamp>,v1=<hex>`.
///
/// Used by tests and benches to build valid requests; also handy for a
/// producer that sends this scheme.
pub fn sign_t_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let tag = mac::hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(tag))
}

/// The key is the secret's bytes as stored. An empty secret is refused:
/// HMAC would accept it, but then anyone could sign.
fn utf8_key(secret: &str) -> Result<Vec<u8>, VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::BadSecret {
            reason: "it is empty",
        });
    }
    Ok(secret.as_bytes().to_vec())
}

fn parse(name: &'static str, value: &str) -> Result<Parsed, VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut v1_seen = 0usize;
    for item in value.split(',') {
        // Items without `=` and unknown keys are ignored like other
        // schemes: providers may add entries we do not know about.
        let Some((key, val)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(malformed(name, "it has more than one t= timestamp"));
                }
                timestamp = Some(timestamp::parse_unix(name, val.trim())?);
            }
            "v1" => {
                v1_seen += 1;
                if v1_seen > MAX_SIGNATURES {
                    continue;
                }
                let mut tag = Tag::default();
                hex::decode_to_slice(val.trim(), &mut tag)
                    .map_err(|_| malformed(name, "a v1 signature is not 64 hexadecimal digits"))?;
                signatures.push(tag);
            }
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| malformed(name, "it has no t=<unix seconds> timestamp"))?;
    if signatures.is_empty() {
        return Err(malformed(
            name,
            "it has no v1= signature (other schemes such as v0 are not accepted)",
        ));
    }
    Ok(Parsed {
        timestamp,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "Stripe-Signature";
    const SIG_A: &str = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
    const SIG_B: &str = "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";

    fn tag(hex_sig: &str) -> Tag {
        let mut tag = Tag::default();
        hex::decode_to_slice(hex_sig, &mut tag).unwrap();
        tag
    }

    fn reason(value: &str) -> String {
        match parse(H, value) {
            Err(VerifyError::MalformedHeader { header: H, reason }) => reason,
            other => panic!("{value:?}: expected MalformedHeader, got {other:?}"),
        }
    }

    #[test]
    fn parses_stripe_shaped_header() {
        let value = format!("t=1492774577,v1={SIG_A},v0={SIG_B},v1={SIG_B}");
        assert_eq!(
            parse(H, &value),
            Ok(Parsed {
                timestamp: 1_492_774_577,
                signatures: vec![tag(SIG_A), tag(SIG_B)],
            })
        );
        // Order and surrounding spaces do not matter; unknown items are skipped.
        let value = format!(" v1 = {SIG_A} , junk, x=y , t = 7 ");
        assert_eq!(parse(H, &value).map(|p| p.timestamp), Ok(7));
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(reason(&format!("v1={SIG_A}")).contains("no t="));
        assert!(reason(&format!("t=abc,v1={SIG_A}")).contains("whole number"));
        assert!(reason(&format!("t=1,t=1,v1={SIG_A}")).contains("more than one"));
        assert!(reason("t=1").contains("no v1="));
        assert!(reason(&format!("t=1,v0={SIG_A}")).contains("no v1="));
        assert!(reason("t=1,v1=zz").contains("64 hexadecimal"));
        assert!(reason(&format!("t=1,v1={}", &SIG_A[..62])).contains("64 hexadecimal"));
        assert!(reason(&format!("t=1,v1={SIG_A}00")).contains("64 hexadecimal"));
    }

    #[test]
    fn reads_at_most_max_signatures() {
        let mut value = "t=1".to_owned();
        for _ in 0..MAX_SIGNATURES + 5 {
            value.push_str(&format!(",v1={SIG_A}"));
        }
        // Entries past the limit are not even decoded.
        value.push_str(",v1=not-hex");
        assert_eq!(
            parse(H, &value).map(|p| p.signatures.len()),
            Ok(MAX_SIGNATURES)
        );
    }

    #[test]
    fn empty_secret_is_unusable() {
        assert!(utf8_key("").is_err());
        assert_eq!(utf8_key("whsec_x"), Ok(b"whsec_x".to_vec()));
    }
}
