//! Webhook signature verification through the public API, per provider.
//!
//! Expected t/v1 signatures are computed here with `hmac` + `sha2` + `hex`
//! directly, not with the crate's `sign_t_v1`, so a bug shared by signer
//! and verifier cannot hide. Standard Webhooks is pinned by the spec's
//! reference test vector.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use revstream_ingest::verify::{
    TOLERANCE_SECS, Verified, VerifyError, WebhookSource, sign_standard, sign_t_v1, verify,
};
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
const SECRET: &str = "whsec_test_secret_for_t_v1";
const OTHER_SECRET: &str = "whsec_some_other_secret";

/// The scheme of the spec's test vector.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: i64 = 1_614_265_330;
const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// Providers using the t/v1 scheme, with the header each one sends.
const T_V1: [(WebhookSource, &str); 3] = [
    (WebhookSource::Stripe, "stripe-signature"),
    (WebhookSource::Calendly, "calendly-webhook-signature"),
    (WebhookSource::Whop, "x-whop-signature"),
];

/// Lowercase hex HMAC-SHA256 over `"{t}.{body}"`, keyed with the UTF-8
/// secret, computed independently of the crate.
fn expected_hex(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

fn one_header(name: &str, value: &str) -> HeaderMap {
    headers(&[(name, value)])
}

fn standard_headers(id: &str, ts: i64, signature: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", signature),
    ])
}

/// A valid Standard Webhooks secret of our own (the vector's is reused
/// where the exact bytes matter).
fn standard_secret(seed: u8) -> String {
    format!("whsec_{}", BASE64.encode([seed; 24]))
}

fn t_v1_ok(ts: i64) -> Result<Verified, VerifyError> {
    Ok(Verified {
        timestamp: ts,
        webhook_id: None,
    })
}

fn malformed_reason(result: Result<Verified, VerifyError>, header: &str) -> String {
    match result {
        Err(VerifyError::MalformedHeader { header: h, reason }) => {
            assert!(h.eq_ignore_ascii_case(header), "expected {header}, got {h}");
            reason
        }
        other => panic!("expected MalformedHeader for {header}, got {other:?}"),
    }
}

// ---- Standard Webhooks test vector -------------------------------------

#[test]
fn spec_test_vector_verifies() {
    let h = standard_headers(VECTOR_ID, VECTOR_TS, VECTOR_SIG);
    for source in [WebhookSource::Standard, WebhookSource::Whop] {
        assert_eq!(
            verify(source, &h, VECTOR_BODY, &[VECTOR_SECRET], VECTOR_TS),
            Ok(Verified {
                timestamp: VECTOR_TS,
                webhook_id: Some(VECTOR_ID.to_owned()),
            }),
            "{source}"
        );
    }
}

#[test]
fn sign_standard_reproduces_the_test_vector() {
    assert_eq!(
        sign_standard(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY).as_deref(),
        Ok(VECTOR_SIG)
    );
}

#[test]
fn test_vector_fails_when_any_signed_part_changes() {
    let ok = |id: &str, ts: i64, body: &[u8]| {
        verify(
            WebhookSource::Standard,
            &standard_headers(id, ts, VECTOR_SIG),
            body,
            &[VECTOR_SECRET],
            VECTOR_TS,
        )
    };
    let nope = Err(VerifyError::NoMatchingSignature);
    assert_eq!(
        ok("msg_p5jXN8AQM9LWM0D4loKWxJeK", VECTOR_TS, VECTOR_BODY),
        nope
    );
    assert_eq!(ok(VECTOR_ID, VECTOR_TS + 1, VECTOR_BODY), nope);
    assert_eq!(ok(VECTOR_ID, VECTOR_TS, br#"{"test": 2432232315}"#), nope);
}

// ---- t/v1: Stripe, Calendly, legacy Whop -------------------------------

#[test]
fn t_v1_valid_signature_verifies_for_each_provider() {
    for (source, name) in T_V1 {
        let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
        assert_eq!(
            verify(source, &one_header(name, &value), BODY, &[SECRET], NOW),
            t_v1_ok(NOW),
            "{source}"
        );
    }
}

#[test]
fn sign_t_v1_matches_the_independent_computation() {
    assert_eq!(
        sign_t_v1(SECRET, NOW, BODY),
        format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY))
    );
}

#[test]
fn t_v1_header_from_another_provider_is_not_accepted() {
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    let h = one_header("stripe-signature", &value);
    assert_eq!(
        verify(WebhookSource::Calendly, &h, BODY, &[SECRET], NOW),
        Err(VerifyError::MissingHeader {
            header: "Calendly-Webhook-Signature"
        })
    );
}

#[test]
fn wrong_secret_is_rejected() {
    for (source, name) in T_V1 {
        let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
        assert_eq!(
            verify(
                source,
                &one_header(name, &value),
                BODY,
                &[OTHER_SECRET],
                NOW
            ),
            Err(VerifyError::NoMatchingSignature),
            "{source}"
        );
    }
    let sig = sign_standard(&standard_secret(1), "msg_1", NOW, BODY).expect("valid secret");
    assert_eq!(
        verify(
            WebhookSource::Standard,
            &standard_headers("msg_1", NOW, &sig),
            BODY,
            &[standard_secret(2)],
            NOW
        ),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn secret_prefix_is_part_of_the_t_v1_key() {
    // Stripe keys with the whole string; stripping `whsec_` must not match.
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    let h = one_header("stripe-signature", &value);
    let stripped = SECRET.trim_start_matches("whsec_");
    assert_eq!(
        verify(WebhookSource::Stripe, &h, BODY, &[stripped], NOW),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn body_tampered_by_one_byte_is_rejected() {
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 0x01;
    for (source, name) in T_V1 {
        let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
        let h = one_header(name, &value);
        assert_eq!(
            verify(source, &h, BODY, &[SECRET], NOW),
            t_v1_ok(NOW),
            "{source} control"
        );
        assert_eq!(
            verify(source, &h, &tampered, &[SECRET], NOW),
            Err(VerifyError::NoMatchingSignature),
            "{source}"
        );
    }
    let secret = standard_secret(3);
    let sig = sign_standard(&secret, "msg_1", NOW, BODY).expect("valid secret");
    let h = standard_headers("msg_1", NOW, &sig);
    assert!(verify(WebhookSource::Standard, &h, BODY, &[&secret], NOW).is_ok());
    assert_eq!(
        verify(WebhookSource::Standard, &h, &tampered, &[&secret], NOW),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn non_utf8_body_is_signed_as_raw_bytes() {
    let body = b"\xff\xfe\x00binary";
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, body));
    let h = one_header("stripe-signature", &value);
    assert_eq!(
        verify(WebhookSource::Stripe, &h, body, &[SECRET], NOW),
        t_v1_ok(NOW)
    );
}

#[test]
fn any_of_several_signatures_in_one_header_may_match() {
    // The provider is rotating: the first signature uses a secret we no
    // longer (or do not yet) hold, the second uses ours.
    for (source, name) in T_V1 {
        let value = format!(
            "t={NOW},v1={},v0={},v1={}",
            expected_hex(OTHER_SECRET, NOW, BODY),
            expected_hex(SECRET, NOW, BODY),
            expected_hex(SECRET, NOW, BODY),
        );
        assert_eq!(
            verify(source, &one_header(name, &value), BODY, &[SECRET], NOW),
            t_v1_ok(NOW),
            "{source}"
        );
        // Control: without the second v1 the same header fails (the v0
        // entry with the right HMAC must not count).
        let first_only = value.rsplit_once(",v1=").expect("two v1").0;
        assert_eq!(
            verify(source, &one_header(name, first_only), BODY, &[SECRET], NOW),
            Err(VerifyError::NoMatchingSignature),
            "{source} control"
        );
    }

    let ours = standard_secret(4);
    let theirs = standard_secret(5);
    let sig_a = sign_standard(&theirs, "msg_2", NOW, BODY).expect("valid secret");
    let sig_b = sign_standard(&ours, "msg_2", NOW, BODY).expect("valid secret");
    for (value, expect_ok) in [
        (format!("{sig_a} {sig_b}"), true),
        (format!("{sig_a} v1a,{}", &sig_b[3..]), false),
    ] {
        let result = verify(
            WebhookSource::Standard,
            &standard_headers("msg_2", NOW, &value),
            BODY,
            &[&ours],
            NOW,
        );
        assert_eq!(result.is_ok(), expect_ok, "{value}: {result:?}");
    }
}

#[test]
fn old_secret_still_matches_during_rotation() {
    for (source, name) in T_V1 {
        let value = format!("t={NOW},v1={}", expected_hex(OTHER_SECRET, NOW, BODY));
        let h = one_header(name, &value);
        assert_eq!(
            verify(source, &h, BODY, &[SECRET, OTHER_SECRET], NOW),
            t_v1_ok(NOW),
            "{source}"
        );
        assert_eq!(
            verify(source, &h, BODY, &[SECRET], NOW),
            Err(VerifyError::NoMatchingSignature),
            "{source} control"
        );
    }

    let new = standard_secret(6);
    let old = standard_secret(7);
    let sig = sign_standard(&old, "msg_3", NOW, BODY).expect("valid secret");
    let h = standard_headers("msg_3", NOW, &sig);
    assert!(verify(WebhookSource::Standard, &h, BODY, &[&new, &old], NOW).is_ok());
    assert_eq!(
        verify(WebhookSource::Standard, &h, BODY, &[&new], NOW),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn no_secrets_means_no_match() {
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    let none: &[&str] = &[];
    assert_eq!(
        verify(
            WebhookSource::Stripe,
            &one_header("stripe-signature", &value),
            BODY,
            none,
            NOW
        ),
        Err(VerifyError::NoMatchingSignature)
    );
}

// ---- timestamp tolerance -------------------------------------------------

#[test]
fn tolerance_is_300_seconds_both_ways() {
    assert_eq!(TOLERANCE_SECS, 300);
    let secret = standard_secret(8);
    for offset in [-301_i64, -300, -299, 0, 299, 300, 301] {
        let ts = NOW + offset;
        let expected_stale = offset.abs() > 300;
        let check = |result: Result<Verified, VerifyError>, what: &str| {
            if expected_stale {
                assert_eq!(
                    result,
                    Err(VerifyError::StaleTimestamp {
                        timestamp: ts,
                        now: NOW,
                        tolerance_secs: 300
                    }),
                    "{what} offset {offset}"
                );
            } else {
                assert_eq!(
                    result.map(|v| v.timestamp),
                    Ok(ts),
                    "{what} offset {offset}"
                );
            }
        };
        for (source, name) in T_V1 {
            let value = format!("t={ts},v1={}", expected_hex(SECRET, ts, BODY));
            let h = one_header(name, &value);
            check(verify(source, &h, BODY, &[SECRET], NOW), source.as_str());
        }
        let sig = sign_standard(&secret, "msg_4", ts, BODY).expect("valid secret");
        let h = standard_headers("msg_4", ts, &sig);
        check(
            verify(WebhookSource::Standard, &h, BODY, &[&secret], NOW),
            "standard",
        );
    }
}

#[test]
fn stale_message_names_the_tolerance() {
    let ts = NOW - 301;
    let value = format!("t={ts},v1={}", expected_hex(SECRET, ts, BODY));
    let err = verify(
        WebhookSource::Stripe,
        &one_header("stripe-signature", &value),
        BODY,
        &[SECRET],
        NOW,
    )
    .expect_err("stale");
    let message = err.to_string();
    assert!(
        message.contains("outside the ±300 s tolerance"),
        "{message}"
    );
    assert!(message.contains(&ts.to_string()), "{message}");
}

#[test]
fn stale_and_forged_reports_the_signature_not_the_clock() {
    // A replayed request with a bad signature must not learn anything
    // about our clock: the signature is checked first.
    let ts = NOW - 10_000;
    let value = format!("t={ts},v1={}", expected_hex(OTHER_SECRET, ts, BODY));
    assert_eq!(
        verify(
            WebhookSource::Stripe,
            &one_header("stripe-signature", &value),
            BODY,
            &[SECRET],
            NOW
        ),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn timestamp_outside_the_header_is_bound_by_the_signature() {
    // Moving `t` forward to dodge the tolerance breaks the signature.
    let old = NOW - 1_000;
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, old, BODY));
    assert_eq!(
        verify(
            WebhookSource::Stripe,
            &one_header("stripe-signature", &value),
            BODY,
            &[SECRET],
            NOW
        ),
        Err(VerifyError::NoMatchingSignature)
    );
}

// ---- missing and malformed headers ----------------------------------------

#[test]
fn missing_headers_are_named() {
    let empty = HeaderMap::new();
    let cases = [
        (WebhookSource::Stripe, "Stripe-Signature"),
        (WebhookSource::Calendly, "Calendly-Webhook-Signature"),
        (
            WebhookSource::Whop,
            "webhook-signature (or legacy x-whop-signature)",
        ),
        (WebhookSource::Standard, "webhook-id"),
    ];
    for (source, header) in cases {
        assert_eq!(
            verify(source, &empty, BODY, &[SECRET], NOW),
            Err(VerifyError::MissingHeader { header }),
            "{source}"
        );
    }

    let sig = sign_standard(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY).expect("valid");
    let full = standard_headers(VECTOR_ID, VECTOR_TS, &sig);
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = full.clone();
        h.remove(header);
        // Whop without `webhook-signature` falls back to the legacy header,
        // so only the generic route is asked about each one.
        assert_eq!(
            verify(
                WebhookSource::Standard,
                &h,
                VECTOR_BODY,
                &[VECTOR_SECRET],
                VECTOR_TS
            ),
            Err(VerifyError::MissingHeader { header }),
        );
    }
}

#[test]
fn malformed_t_v1_headers_are_explained() {
    let good = expected_hex(SECRET, NOW, BODY);
    let cases = [
        (format!("v1={good}"), "no t="),
        (format!("t=soon,v1={good}"), "whole number"),
        (format!("t=-5,v1={good}"), "whole number"),
        (format!("t=,v1={good}"), "empty"),
        (format!("t={NOW}"), "no v1="),
        (format!("t={NOW},v0={good}"), "no v1="),
        (
            format!("t={NOW},v1={}", good.replace('a', "g")),
            "64 hexadecimal",
        ),
        (format!("t={NOW},v1={}", &good[..63]), "64 hexadecimal"),
        (format!("t={NOW},v1={good}ab"), "64 hexadecimal"),
        (format!("t={NOW},t={NOW},v1={good}"), "more than one"),
        ("garbage".to_owned(), "no t="),
    ];
    assert!(good.contains('a'), "the bad-hex case must change something");
    for (source, name) in T_V1 {
        for (value, expected) in &cases {
            let reason = malformed_reason(
                verify(source, &one_header(name, value), BODY, &[SECRET], NOW),
                name,
            );
            assert!(reason.contains(expected), "{value:?}: {reason}");
        }
    }
}

#[test]
fn malformed_standard_headers_are_explained() {
    let sig = sign_standard(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY).expect("valid");
    let ts = VECTOR_TS.to_string();
    let cases: [(&str, &str, &str, &str, &str); 7] = [
        (VECTOR_ID, "soon", &sig, "webhook-timestamp", "whole number"),
        (
            VECTOR_ID,
            "1614265330.5",
            &sig,
            "webhook-timestamp",
            "whole number",
        ),
        (
            VECTOR_ID,
            &ts,
            "v1,not*base64*at*all*but*forty*four*chars**",
            "webhook-signature",
            "32-byte",
        ),
        (VECTOR_ID, &ts, "v1,AAAA", "webhook-signature", "32-byte"),
        (
            VECTOR_ID,
            &ts,
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "webhook-signature",
            "no v1",
        ),
        (
            VECTOR_ID,
            &ts,
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "webhook-signature",
            "<version>,<signature>",
        ),
        (" ", &ts, &sig, "webhook-id", "empty"),
    ];
    for (id, ts, sig, header, expected) in cases {
        let h = headers(&[
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ]);
        for source in [WebhookSource::Standard, WebhookSource::Whop] {
            let reason = malformed_reason(
                verify(source, &h, VECTOR_BODY, &[VECTOR_SECRET], VECTOR_TS),
                header,
            );
            assert!(reason.contains(expected), "{source} {sig:?}: {reason}");
        }
    }
}

#[test]
fn unusable_standard_secret_is_a_config_error() {
    let bad = "whsec_this is not base64!";
    assert!(matches!(
        sign_standard(bad, VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        Err(VerifyError::BadSecret { .. })
    ));
    let h = standard_headers(VECTOR_ID, VECTOR_TS, VECTOR_SIG);
    let err = verify(WebhookSource::Standard, &h, VECTOR_BODY, &[bad], VECTOR_TS)
        .expect_err("bad secret");
    assert!(matches!(err, VerifyError::BadSecret { .. }), "{err:?}");
    assert!(err.is_config_error());
    assert!(!VerifyError::NoMatchingSignature.is_config_error());
    // A broken entry does not block a usable one during rotation.
    assert!(
        verify(
            WebhookSource::Standard,
            &h,
            VECTOR_BODY,
            &[bad, VECTOR_SECRET],
            VECTOR_TS
        )
        .is_ok()
    );
}

#[test]
fn empty_t_v1_secret_is_never_used() {
    let value = format!("t={NOW},v1={}", expected_hex("", NOW, BODY));
    assert!(matches!(
        verify(
            WebhookSource::Stripe,
            &one_header("stripe-signature", &value),
            BODY,
            &[""],
            NOW
        ),
        Err(VerifyError::BadSecret { .. })
    ));
}

// ---- Whop: which scheme ----------------------------------------------------

#[test]
fn whop_uses_standard_webhooks_when_its_headers_are_present() {
    let secret = standard_secret(9);
    let sig = sign_standard(&secret, "msg_whop", NOW, BODY).expect("valid secret");
    let mut h = standard_headers("msg_whop", NOW, &sig);
    assert_eq!(
        verify(WebhookSource::Whop, &h, BODY, &[&secret], NOW),
        Ok(Verified {
            timestamp: NOW,
            webhook_id: Some("msg_whop".to_owned()),
        })
    );
    // A legacy header alongside, even a valid one, does not change the
    // choice: a broken standard signature is not rescued by it.
    let legacy = format!("t={NOW},v1={}", expected_hex(&secret, NOW, BODY));
    h.insert(
        "x-whop-signature",
        HeaderValue::from_str(&legacy).expect("ascii"),
    );
    assert!(verify(WebhookSource::Whop, &h, BODY, &[&secret], NOW).is_ok());
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&sign_standard(&secret, "msg_other", NOW, BODY).expect("valid"))
            .expect("ascii"),
    );
    assert_eq!(
        verify(WebhookSource::Whop, &h, BODY, &[&secret], NOW),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn whop_falls_back_to_the_legacy_header() {
    let value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    let h = one_header("x-whop-signature", &value);
    assert_eq!(
        verify(WebhookSource::Whop, &h, BODY, &[SECRET], NOW),
        t_v1_ok(NOW)
    );
    // The generic route never reads the legacy header.
    assert_eq!(
        verify(WebhookSource::Standard, &h, BODY, &[SECRET], NOW),
        Err(VerifyError::MissingHeader {
            header: "webhook-id"
        })
    );
}

// ---- hostile input ---------------------------------------------------------

#[test]
fn non_utf8_header_value_is_malformed() {
    let mut value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY)).into_bytes();
    value.extend_from_slice(b",x=\xc3\x28\xff");
    for (source, name) in T_V1 {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(&value).expect("obs-text is a valid header value"),
        );
        let reason = malformed_reason(verify(source, &h, BODY, &[SECRET], NOW), name);
        assert!(reason.contains("ASCII"), "{reason}");
    }
    let mut h = standard_headers(VECTOR_ID, VECTOR_TS, VECTOR_SIG);
    h.insert(
        "webhook-id",
        HeaderValue::from_bytes("msg_é".as_bytes()).expect("obs-text"),
    );
    malformed_reason(
        verify(
            WebhookSource::Standard,
            &h,
            VECTOR_BODY,
            &[VECTOR_SECRET],
            VECTOR_TS,
        ),
        "webhook-id",
    );
}

#[test]
fn ten_kilobyte_header_is_rejected_without_parsing() {
    // A valid signature first, then padding: only the length can reject it.
    let mut value = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    while value.len() < 10 * 1024 {
        value.push_str(",x=padding");
    }
    for (source, name) in T_V1 {
        let reason = malformed_reason(
            verify(source, &one_header(name, &value), BODY, &[SECRET], NOW),
            name,
        );
        assert!(reason.contains("more than the 4096 allowed"), "{reason}");
    }
    let mut sigs = VECTOR_SIG.to_owned();
    while sigs.len() < 10 * 1024 {
        sigs.push_str(" v1a,padding");
    }
    let h = standard_headers(VECTOR_ID, VECTOR_TS, &sigs);
    let reason = malformed_reason(
        verify(
            WebhookSource::Standard,
            &h,
            VECTOR_BODY,
            &[VECTOR_SECRET],
            VECTOR_TS,
        ),
        "webhook-signature",
    );
    assert!(reason.contains("4096"), "{reason}");
}

#[test]
fn only_the_first_16_signatures_are_considered() {
    let wrong = expected_hex(OTHER_SECRET, NOW, BODY);
    let right = expected_hex(SECRET, NOW, BODY);
    for (position, expect_ok) in [(16, true), (17, false)] {
        let mut value = format!("t={NOW}");
        for _ in 1..position {
            value.push_str(&format!(",v1={wrong}"));
        }
        value.push_str(&format!(",v1={right}"));
        let result = verify(
            WebhookSource::Stripe,
            &one_header("stripe-signature", &value),
            BODY,
            &[SECRET],
            NOW,
        );
        assert_eq!(result.is_ok(), expect_ok, "position {position}: {result:?}");
    }

    let right = sign_standard(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY).expect("valid");
    let wrong =
        sign_standard(&standard_secret(10), VECTOR_ID, VECTOR_TS, VECTOR_BODY).expect("valid");
    for (position, expect_ok) in [(16, true), (17, false)] {
        let mut entries = vec![wrong.as_str(); position - 1];
        entries.push(&right);
        let h = standard_headers(VECTOR_ID, VECTOR_TS, &entries.join(" "));
        let result = verify(
            WebhookSource::Standard,
            &h,
            VECTOR_BODY,
            &[VECTOR_SECRET],
            VECTOR_TS,
        );
        assert_eq!(result.is_ok(), expect_ok, "position {position}: {result:?}");
    }
}

#[test]
fn repeated_signature_header_is_ambiguous() {
    let good = format!("t={NOW},v1={}", expected_hex(SECRET, NOW, BODY));
    let h = headers(&[("stripe-signature", &good), ("stripe-signature", &good)]);
    let reason = malformed_reason(
        verify(WebhookSource::Stripe, &h, BODY, &[SECRET], NOW),
        "stripe-signature",
    );
    assert!(reason.contains("more than once"), "{reason}");
}

#[test]
fn garbage_never_panics_and_never_verifies() {
    // Deterministic pseudo-random header values of many lengths and byte
    // mixes, fed to every source and every header it reads.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"t=v1,0123456789abcdef ABCDEF+/=_-.\t\x80\xff";
    let names = [
        "stripe-signature",
        "calendly-webhook-signature",
        "x-whop-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ];
    let mut checked = 0;
    for round in 0..2_000 {
        let len = usize::try_from(next() % 200).expect("small") + round % 3 * 2_000;
        let value: Vec<u8> = (0..len)
            .map(|_| alphabet[usize::try_from(next()).expect("u64 fits") % alphabet.len()])
            .collect();
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            continue; // `http` refuses some values; nothing to test then.
        };
        let mut h = HeaderMap::new();
        for name in names {
            if next() % 2 == 0 {
                h.insert(HeaderName::from_static(name), value.clone());
            }
        }
        for source in WebhookSource::ALL {
            let result = verify(source, &h, BODY, &[SECRET, VECTOR_SECRET], NOW);
            assert!(result.is_err(), "{source} accepted {value:?}");
            checked += 1;
        }
    }
    assert!(checked > 1_000, "only {checked} cases ran");
}

#[test]
fn error_messages_are_sentences() {
    let errors = [
        VerifyError::MissingHeader {
            header: "Stripe-Signature",
        },
        VerifyError::MalformedHeader {
            header: "Stripe-Signature",
            reason: "it has no t=<unix seconds> timestamp".to_owned(),
        },
        VerifyError::StaleTimestamp {
            timestamp: 1,
            now: 1_000,
            tolerance_secs: 300,
        },
        VerifyError::NoMatchingSignature,
        VerifyError::BadSecret {
            reason: "it is empty",
        },
    ];
    for err in errors {
        let message = err.to_string();
        assert!(
            message.starts_with(|c: char| c.is_ascii_uppercase()),
            "{message}"
        );
        assert!(message.ends_with('.'), "{message}");
        assert!(!message.contains(".."), "{message}");
    }
}
