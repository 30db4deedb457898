//! Signed timestamps: parsing and the ±[`TOLERANCE_SECS`] freshness window.

use super::header::malformed;
use super::{TOLERANCE_SECS, VerifyError};

/// Parses Unix seconds written as plain ASCII digits.
///
/// Signs, spaces and fractions are rejected rather than tolerated: the
/// value is re-rendered into the signed string, so only one spelling of a
/// number should ever be accepted.
pub(crate) fn parse_unix(header: &'static str, text: &str) -> Result<i64, VerifyError> {
    if text.is_empty() {
        return Err(malformed(header, "the timestamp is empty"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            header,
            "the timestamp is not a whole number of Unix seconds",
        ));
    }
    text.parse()
        .map_err(|_| malformed(header, "the timestamp is too large"))
}

/// Accepts `timestamp` when it is at most [`TOLERANCE_SECS`] from `now`.
pub(crate) fn check_fresh(timestamp: i64, now: i64) -> Result<(), VerifyError> {
    // `abs_diff` cannot overflow, whatever the two values are.
    if timestamp.abs_diff(now) > TOLERANCE_SECS.unsigned_abs() {
        return Err(VerifyError::StaleTimestamp {
            timestamp,
            now,
            tolerance_secs: TOLERANCE_SECS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digits_only() {
        assert_eq!(parse_unix("h", "1614265330"), Ok(1_614_265_330));
        assert_eq!(parse_unix("h", "0"), Ok(0));
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            " 1",
            "1e9",
            "abc",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_unix("h", bad),
                    Err(VerifyError::MalformedHeader { header: "h", .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn window_is_inclusive_both_ways_and_overflow_safe() {
        let now = 1_700_000_000;
        assert!(check_fresh(now - 300, now).is_ok());
        assert!(check_fresh(now + 300, now).is_ok());
        assert!(check_fresh(now - 301, now).is_err());
        assert!(check_fresh(now + 301, now).is_err());
        assert!(check_fresh(i64::MAX, i64::MIN).is_err());
        assert!(check_fresh(i64::MIN, i64::MAX).is_err());
    }
}
