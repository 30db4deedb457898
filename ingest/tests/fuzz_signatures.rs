//! Fuzzing every signature header parser with proptest: the t/v1 headers
//! of Stripe, Calendly and legacy Whop, and the three Standard Webhooks
//! headers (current Whop and the generic route).
//!
//! What must hold, for every generated input:
//! - random bytes (any byte a header value may carry) and random
//!   signature-shaped text never verify and never panic;
//! - a forged request — a valid signature with one bit flipped, a random
//!   signature, a signature over another timestamp, id or body, or made
//!   with another secret — is `NoMatchingSignature`, never accepted;
//! - a replay (an authentic signature outside the ±300 s window) is
//!   `StaleTimestamp`, and inside the window it verifies;
//! - harmless rewrites of a valid header (spacing, order, extra unknown or
//!   rotated entries) still verify, so the forgery checks above are not
//!   passing because everything fails.
//!
//! Bound: 1,000–3,000 cases per property (about 17,000 verifications in
//! all, a few seconds in a debug build). Expected signatures are computed
//! here with `hmac`/`sha2` directly, not with the crate's signers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use revstream_ingest::verify::{TOLERANCE_SECS, VerifyError, WebhookSource, verify};
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;
const T_V1_SECRET: &str = "whsec_fuzz_t_v1_secret";
/// `whsec_` + base64 of 24 bytes, as Standard Webhooks secrets are.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The t/v1 providers and the header each one reads.
const T_V1: [(WebhookSource, &str); 3] = [
    (WebhookSource::Stripe, "stripe-signature"),
    (WebhookSource::Calendly, "calendly-webhook-signature"),
    (WebhookSource::Whop, "x-whop-signature"),
];

/// Every header any scheme reads.
const HEADER_NAMES: [&str; 6] = [
    "stripe-signature",
    "calendly-webhook-signature",
    "x-whop-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Shrunk failures are printed; no regression files in the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The t/v1 tag: HMAC over `"{t}.{body}"`, keyed with the secret's bytes.
fn t_v1_tag(secret: &str, t: i64, body: &[u8]) -> [u8; 32] {
    mac(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body])
}

/// The Standard Webhooks tag: HMAC over `"{id}.{t}.{body}"`, keyed with
/// the base64 after `whsec_`.
fn standard_tag(secret: &str, id: &str, t: i64, body: &[u8]) -> [u8; 32] {
    let key = BASE64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("test secrets are base64");
    mac(
        &key,
        &[id.as_bytes(), b".", t.to_string().as_bytes(), b".", body],
    )
}

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
            HeaderValue::from_bytes(value).expect("generated values are valid header bytes"),
        );
    }
    map
}

fn standard_headers(id: &str, t: &str, signature: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", id.as_bytes()),
        ("webhook-timestamp", t.as_bytes()),
        ("webhook-signature", signature.as_bytes()),
    ])
}

/// Bytes the `http` crate accepts in a header value: visible ASCII, tab,
/// and everything from 0x80 up (obs-text, which our parser must refuse).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![4 => 0x20u8..=0x7e, 1 => 0x80u8..=0xff, 1 => Just(b'\t')],
        0..max,
    )
}

/// Text built from the pieces the parsers look for, so random input gets
/// past the first checks often.
fn signature_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("t=".to_owned()),
            Just("v1=".to_owned()),
            Just("v1,".to_owned()),
            Just("v0=".to_owned()),
            Just(",".to_owned()),
            Just(" ".to_owned()),
            Just("=".to_owned()),
            "[0-9]{1,22}",
            "[0-9a-f]{64}",
            "[0-9a-fA-F]{1,70}",
            "[A-Za-z0-9+/]{43}=",
            "[A-Za-z0-9+/=_-]{1,50}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..400)
}

fn expect_no_match(
    result: Result<revstream_ingest::verify::Verified, VerifyError>,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        result,
        Err(VerifyError::NoMatchingSignature),
        "{} was not refused as a bad signature",
        what
    );
    Ok(())
}

/// Random values in random subsets of every header, for every source:
/// never a panic, never a success, and every error a sentence.
#[test]
fn random_header_values_never_verify() {
    let strategy = (
        prop_oneof![
            header_bytes(300),
            signature_like().prop_map(String::into_bytes)
        ],
        prop::collection::vec(any::<bool>(), HEADER_NAMES.len()),
        body(),
    );
    proptest!(config(3_000), |((value, present, body) in strategy)| {
        let pairs: Vec<(&str, &[u8])> = HEADER_NAMES
            .iter()
            .zip(&present)
            .filter(|(_, on)| **on)
            .map(|(name, _)| (*name, value.as_slice()))
            .collect();
        let h = headers(&pairs);
        for source in WebhookSource::ALL {
            let result = verify(source, &h, &body, &[T_V1_SECRET, STANDARD_SECRET], NOW);
            let err = match result {
                Ok(v) => return Err(TestCaseError::fail(format!("{source} accepted {value:?}: {v:?}"))),
                Err(e) => e,
            };
            let message = err.to_string();
            prop_assert!(message.ends_with('.') && message.len() < 400, "{}", message);
        }
    });
}

/// How a t/v1 request is forged from a valid one.
#[derive(Debug, Clone)]
enum TV1Forgery {
    /// Flip one bit of the valid signature.
    FlipBit(usize),
    /// A signature that was never computed.
    RandomTag([u8; 32]),
    /// The signature of the real timestamp, sent with another one.
    OtherTimestamp(i64),
    /// The signature of the real body, sent with another body.
    OtherBody(Vec<u8>),
    /// Signed with a secret that is not the tenant's.
    OtherSecret(String),
}

fn t_v1_forgery() -> impl Strategy<Value = TV1Forgery> {
    prop_oneof![
        (0usize..256).prop_map(TV1Forgery::FlipBit),
        any::<[u8; 32]>().prop_map(TV1Forgery::RandomTag),
        (-TOLERANCE_SECS..=TOLERANCE_SECS)
            .prop_filter("a change", |d| *d != 0)
            .prop_map(TV1Forgery::OtherTimestamp),
        body().prop_map(TV1Forgery::OtherBody),
        "[ -~]{1,40}".prop_map(TV1Forgery::OtherSecret),
    ]
}

#[test]
fn forged_t_v1_signatures_never_verify() {
    let strategy = (
        0..T_V1.len(),
        body(),
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        t_v1_forgery(),
    );
    proptest!(config(3_000), |((which, body, skew, forgery) in strategy)| {
        let (source, name) = T_V1[which];
        let t = NOW + skew;
        let mut sent_t = t;
        let mut sent_body = body.clone();
        let mut tag = t_v1_tag(T_V1_SECRET, t, &body);
        match &forgery {
            TV1Forgery::FlipBit(bit) => tag[bit / 8] ^= 1 << (bit % 8),
            TV1Forgery::RandomTag(random) => tag = *random,
            TV1Forgery::OtherTimestamp(d) => sent_t = t + d,
            TV1Forgery::OtherBody(other) => {
                prop_assume!(*other != body);
                sent_body = other.clone();
            }
            TV1Forgery::OtherSecret(secret) => {
                prop_assume!(secret != T_V1_SECRET);
                tag = t_v1_tag(secret, t, &body);
            }
        }
        let value = format!("t={sent_t},v1={}", hex::encode(tag));
        let h = headers(&[(name, value.as_bytes())]);
        expect_no_match(
            verify(source, &h, &sent_body, &[T_V1_SECRET], NOW),
            &format!("{source} {forgery:?}"),
        )?;
    });
}

/// An authentic t/v1 signature: accepted inside the window, `StaleTimestamp`
/// outside it, whichever direction and however far.
#[test]
fn t_v1_replays_outside_the_window_are_stale() {
    let skews = prop_oneof![
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        (TOLERANCE_SECS + 1)..=NOW,
        -NOW..=-(TOLERANCE_SECS + 1),
    ];
    proptest!(config(1_500), |((which, body, skew) in (0..T_V1.len(), body(), skews))| {
        let (source, name) = T_V1[which];
        let t = NOW - skew;
        let value = format!("t={t},v1={}", hex::encode(t_v1_tag(T_V1_SECRET, t, &body)));
        let h = headers(&[(name, value.as_bytes())]);
        let result = verify(source, &h, &body, &[T_V1_SECRET], NOW);
        if skew.abs() <= TOLERANCE_SECS {
            prop_assert_eq!(result.map(|v| v.timestamp), Ok(t));
        } else {
            let stale = matches!(result, Err(VerifyError::StaleTimestamp { timestamp, .. }) if timestamp == t);
            prop_assert!(stale, "skew {}", skew);
        }
    });
}

/// Rewrites that change nothing signed: the valid signature still verifies.
#[test]
fn harmless_t_v1_rewrites_still_verify() {
    let strategy = (
        0..T_V1.len(),
        body(),
        prop::collection::vec(any::<[u8; 32]>(), 0..6),
        prop::collection::vec("[a-z0-9]{1,3}=[ -+\\--~]{0,20}", 0..4),
        any::<prop::sample::Index>(),
        "[ ]{0,3}",
        any::<bool>(),
    );
    proptest!(config(1_000), |((which, body, rotated, unknown, at, pad, upper) in strategy)| {
        let (source, name) = T_V1[which];
        let good = hex::encode(t_v1_tag(T_V1_SECRET, NOW, &body));
        let good = if upper { good.to_ascii_uppercase() } else { good };
        // Other signatures (a provider mid-rotation) and unknown entries
        // around the real one, in any order, with spaces around items.
        let mut items: Vec<String> = rotated.iter().map(|r| format!("v1={}", hex::encode(r))).collect();
        items.extend(unknown.iter().filter(|u| !u.starts_with("t=") && !u.starts_with("v1=")).cloned());
        items.insert(at.index(items.len() + 1), format!("v1={good}"));
        items.insert(0, format!("t={NOW}"));
        let value = items
            .iter()
            .map(|i| format!("{pad}{i}{pad}"))
            .collect::<Vec<_>>()
            .join(",");
        let h = headers(&[(name, value.as_bytes())]);
        let result = verify(source, &h, &body, &[T_V1_SECRET], NOW);
        prop_assert_eq!(result.map(|v| v.timestamp), Ok(NOW), "{}", value);
    });
}

/// How a Standard Webhooks request is forged from a valid one.
#[derive(Debug, Clone)]
enum StandardForgery {
    FlipBit(usize),
    RandomTag([u8; 32]),
    OtherTimestamp(i64),
    OtherId(String),
    OtherBody(Vec<u8>),
    /// Signed with another (valid) key.
    OtherKey([u8; 24]),
}

fn standard_forgery() -> impl Strategy<Value = StandardForgery> {
    prop_oneof![
        (0usize..256).prop_map(StandardForgery::FlipBit),
        any::<[u8; 32]>().prop_map(StandardForgery::RandomTag),
        (-TOLERANCE_SECS..=TOLERANCE_SECS)
            .prop_filter("a change", |d| *d != 0)
            .prop_map(StandardForgery::OtherTimestamp),
        "[!-~]{1,40}".prop_map(StandardForgery::OtherId),
        body().prop_map(StandardForgery::OtherBody),
        any::<[u8; 24]>().prop_map(StandardForgery::OtherKey),
    ]
}

#[test]
fn forged_standard_signatures_never_verify() {
    let sources = prop_oneof![Just(WebhookSource::Standard), Just(WebhookSource::Whop)];
    let strategy = (
        sources,
        "msg_[A-Za-z0-9]{1,30}",
        body(),
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        standard_forgery(),
    );
    proptest!(config(3_000), |((source, id, body, skew, forgery) in strategy)| {
        let t = NOW + skew;
        let (mut sent_id, mut sent_t, mut sent_body) = (id.clone(), t, body.clone());
        let mut tag = standard_tag(STANDARD_SECRET, &id, t, &body);
        match &forgery {
            StandardForgery::FlipBit(bit) => tag[bit / 8] ^= 1 << (bit % 8),
            StandardForgery::RandomTag(random) => tag = *random,
            StandardForgery::OtherTimestamp(d) => sent_t = t + d,
            StandardForgery::OtherId(other) => {
                prop_assume!(*other != id);
                sent_id = other.clone();
            }
            StandardForgery::OtherBody(other) => {
                prop_assume!(*other != body);
                sent_body = other.clone();
            }
            StandardForgery::OtherKey(key) => {
                let secret = format!("whsec_{}", BASE64.encode(key));
                prop_assume!(secret != STANDARD_SECRET);
                tag = standard_tag(&secret, &id, t, &body);
            }
        }
        let h = standard_headers(
            &sent_id,
            &sent_t.to_string(),
            &format!("v1,{}", BASE64.encode(tag)),
        );
        expect_no_match(
            verify(source, &h, &sent_body, &[STANDARD_SECRET], NOW),
            &format!("{source} {forgery:?}"),
        )?;
    });
}

#[test]
fn standard_replays_outside_the_window_are_stale() {
    let skews = prop_oneof![
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        (TOLERANCE_SECS + 1)..=NOW,
        -NOW..=-(TOLERANCE_SECS + 1),
    ];
    proptest!(config(1_500), |((id, body, skew) in ("msg_[A-Za-z0-9]{1,30}", body(), skews))| {
        let t = NOW - skew;
        let tag = standard_tag(STANDARD_SECRET, &id, t, &body);
        let h = standard_headers(&id, &t.to_string(), &format!("v1,{}", BASE64.encode(tag)));
        let result = verify(WebhookSource::Standard, &h, &body, &[STANDARD_SECRET], NOW);
        if skew.abs() <= TOLERANCE_SECS {
            prop_assert_eq!(result.map(|v| v.webhook_id), Ok(Some(id)));
        } else {
            let stale = matches!(result, Err(VerifyError::StaleTimestamp { timestamp, .. }) if timestamp == t);
            prop_assert!(stale, "skew {}", skew);
        }
    });
}

#[test]
fn harmless_standard_rewrites_still_verify() {
    let strategy = (
        "msg_[A-Za-z0-9]{1,30}",
        body(),
        prop::collection::vec(any::<[u8; 32]>(), 0..6),
        prop::collection::vec("v1a,[A-Za-z0-9+/=]{1,40}", 0..4),
        any::<prop::sample::Index>(),
        "[ ]{1,3}",
    );
    proptest!(config(1_000), |((id, body, rotated, other_versions, at, gap) in strategy)| {
        let good = format!("v1,{}", BASE64.encode(standard_tag(STANDARD_SECRET, &id, NOW, &body)));
        let mut entries: Vec<String> = rotated.iter().map(|r| format!("v1,{}", BASE64.encode(r))).collect();
        entries.extend(other_versions);
        // The verifier reads at most 16 entries; keep the real one among them.
        entries.truncate(15);
        entries.insert(at.index(entries.len() + 1), good);
        let value = entries.join(&gap);
        let h = standard_headers(&id, &NOW.to_string(), &value);
        let result = verify(WebhookSource::Standard, &h, &body, &[STANDARD_SECRET], NOW);
        prop_assert_eq!(result.map(|v| v.webhook_id), Ok(Some(id)), "{}", value);
    });
}

/// A valid legacy Whop signature does not help a request that also sends a
/// forged Standard Webhooks signature: the newer scheme decides.
#[test]
fn whop_cannot_be_downgraded_to_the_legacy_header() {
    let strategy = (body(), "msg_[A-Za-z0-9]{1,30}", any::<[u8; 32]>());
    proptest!(config(1_000), |((body, id, forged) in strategy)| {
        let legacy = format!("t={NOW},v1={}", hex::encode(t_v1_tag(STANDARD_SECRET, NOW, &body)));
        let forged = format!("v1,{}", BASE64.encode(forged));
        let t = NOW.to_string();
        let h = headers(&[
            ("x-whop-signature", legacy.as_bytes()),
            ("webhook-id", id.as_bytes()),
            ("webhook-timestamp", t.as_bytes()),
            ("webhook-signature", forged.as_bytes()),
        ]);
        expect_no_match(
            verify(WebhookSource::Whop, &h, &body, &[STANDARD_SECRET], NOW),
            "a legacy signature beside a forged standard one",
        )?;
    });
}
