//! HMAC-SHA256 and the "does any secret sign any signature?" loop shared
//! by both schemes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::VerifyError;

/// An HMAC-SHA256 output. Signatures are decoded into this fixed size
/// while parsing, so a wrong length is a parse error, never a short compare.
pub(crate) type Tag = [u8; 32];

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
///
/// Taking the parts separately lets callers sign `"{t}.{body}"` without
/// copying a possibly large body into a new buffer.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Tag {
    // HMAC hashes keys longer than a block and pads shorter ones, so every
    // key length is valid and this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `expected` equals any candidate, in constant time per candidate
/// and without stopping at the first match, so timing reveals neither
/// which byte differed nor which signature matched.
fn matches_any(expected: &Tag, candidates: &[Tag]) -> bool {
    candidates
        .iter()
        .fold(Choice::from(0), |found, candidate| {
            found | expected.ct_eq(candidate)
        })
        .into()
}

/// Succeeds when some secret, turned into a key by `key_of`, signs
/// `parts` with one of the `candidates`.
///
/// A secret that `key_of` rejects is skipped so that one broken entry does
/// not block a rotation; its error is returned only if nothing matched,
/// because then it is the likeliest explanation.
pub(crate) fn any_secret_signs<S: AsRef<str>>(
    secrets: &[S],
    key_of: impl Fn(&str) -> Result<Vec<u8>, VerifyError>,
    parts: &[&[u8]],
    candidates: &[Tag],
) -> Result<(), VerifyError> {
    let mut unusable = None;
    for secret in secrets {
        match key_of(secret.as_ref()) {
            Ok(key) => {
                if matches_any(&hmac_sha256(&key, parts), candidates) {
                    return Ok(());
                }
            }
            Err(err) => {
                unusable.get_or_insert(err);
            }
        }
    }
    Err(unusable.unwrap_or(VerifyError::NoMatchingSignature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(
            hmac_sha256(b"k", &[b"1.", b"body"]),
            hmac_sha256(b"k", &[b"1.body"])
        );
        assert_ne!(
            hmac_sha256(b"k", &[b"1.body"]),
            hmac_sha256(b"K", &[b"1.body"])
        );
    }

    #[test]
    fn any_secret_reports_unusable_only_when_nothing_matches() {
        let good = hmac_sha256(b"good", &[b"m"]);
        let key_of = |s: &str| {
            if s == "broken" {
                Err(VerifyError::BadSecret { reason: "test" })
            } else {
                Ok(s.as_bytes().to_vec())
            }
        };
        assert_eq!(
            any_secret_signs(&["broken", "good"], key_of, &[b"m"], &[good]),
            Ok(())
        );
        assert_eq!(
            any_secret_signs(&["broken", "other"], key_of, &[b"m"], &[good]),
            Err(VerifyError::BadSecret { reason: "test" })
        );
        assert_eq!(
            any_secret_signs(&["other"], key_of, &[b"m"], &[good]),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            any_secret_signs::<&str>(&[], key_of, &[b"m"], &[good]),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}
