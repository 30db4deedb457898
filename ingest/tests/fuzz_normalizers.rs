//! Fuzzing every provider normalizer (Stripe, Whop, Calendly) with
//! structure-aware mutations of the real fixture payloads in
//! `tests/fixtures/<provider>/`.
//!
//! Each case takes one fixture and applies one to four mutations at random
//! places in its JSON tree: a value replaced by one of another type (huge,
//! negative and fractional numbers, numbers past `i64`/`u64`, `1e400`,
//! strings of digits, odd dates and currencies, unicode, control
//! characters, 10 KB strings, empty or deeply nested arrays and objects,
//! null), a key removed, or raw bytes spliced into the text (lone
//! surrogates, invalid UTF-8, 200-deep nesting). The normalizer must answer
//! without panicking, the same way twice (it is a pure function), and:
//! - `Ok`: at least one event, each passing the canonical model's
//!   validation, with a non-empty provider event id;
//! - `Err`: a message naming what is wrong (a JSON path for field errors).
//!
//! The existing sweep in `normalize_stripe.rs` replaces every Stripe value
//! with five fixed values; this one reaches all three providers, combines
//! mutations and uses far more hostile values.
//!
//! Bound: 3,000 cases per provider (a few seconds in a debug build).

use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use revstream_ingest::normalize::{NormalizeError, Normalized, calendly, stripe, whop};
use serde_json::Value;

mod hostile;

use hostile::{Hostile, config, find, mutate, mutated, mutations, pointers};

const CASES: u32 = 3_000;

/// A fixture and the JSON pointer of every node in it.
#[derive(Debug, Clone)]
struct Fixture {
    name: String,
    value: Value,
    pointers: Vec<String>,
}

fn fixtures(provider: &str) -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(provider);
    let mut out: Vec<Fixture> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("readable dir").path();
            let value: Value = serde_json::from_slice(&std::fs::read(&path).expect("readable"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Fixture {
                pointers: pointers(&value),
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                value,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 5, "{provider}: only {} fixtures", out.len());
    out
}

/// What every answer must look like, `Ok` or `Err`.
fn check(
    body: &[u8],
    first: &Result<Normalized, NormalizeError>,
    second: &Result<Normalized, NormalizeError>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(first, second, "not deterministic");
    match first {
        Ok(normalized) => {
            prop_assert!(!normalized.events.is_empty(), "no events");
            prop_assert!(
                !normalized.provider_event_id.is_empty(),
                "no provider event id"
            );
            for event in &normalized.events {
                if let Err(e) = event.validate() {
                    return Err(TestCaseError::fail(format!(
                        "an invalid event came out ({e}): {event:?}"
                    )));
                }
            }
        }
        Err(NormalizeError::NotJson(message)) => {
            prop_assert!(!message.is_empty());
            prop_assert!(
                serde_json::from_slice::<Value>(body).is_err(),
                "valid JSON called not JSON: {}",
                message
            );
        }
        Err(NormalizeError::Field { path, problem }) => {
            prop_assert!(!path.is_empty() && !problem.is_empty(), "{:?}", first);
        }
    }
    Ok(())
}

fn fuzz(provider: &str, normalize: impl Fn(&[u8]) -> Result<Normalized, NormalizeError>) {
    let fixtures = fixtures(provider);
    // [Ok, NotJson, Field]: the mix must reach past the JSON parser.
    let outcomes = Cell::new([0u32; 3]);
    proptest!(config(CASES), |((which, edits) in (any::<prop::sample::Index>(), mutations()))| {
        let fixture = which.get(&fixtures);
        let body = mutated(&fixture.value, &fixture.pointers, &edits);
        let first = normalize(&body);
        let second = normalize(&body);
        check(&body, &first, &second).map_err(|e| {
            TestCaseError::fail(format!(
                "{provider}/{}: {e}\nbody: {}",
                fixture.name,
                String::from_utf8_lossy(&body[..body.len().min(2_000)])
            ))
        })?;
        let mut counts = outcomes.get();
        counts[match first {
            Ok(_) => 0,
            Err(NormalizeError::NotJson(_)) => 1,
            Err(NormalizeError::Field { .. }) => 2,
        }] += 1;
        outcomes.set(counts);
    });
    let [ok, not_json, field] = outcomes.get();
    assert!(
        ok >= CASES / 10 && field >= CASES / 10 && not_json >= CASES / 50,
        "{provider}: a lopsided mix: {ok} ok, {not_json} not JSON, {field} field errors"
    );
}

#[test]
fn stripe_survives_hostile_payloads() {
    fuzz("stripe", stripe::normalize);
}

#[test]
fn calendly_survives_hostile_payloads() {
    fuzz("calendly", calendly::normalize);
}

#[test]
fn whop_survives_hostile_payloads() {
    // Half the cases carry a `webhook-id` (Standard Webhooks deliveries),
    // which stands in for a missing envelope id.
    fuzz("whop", |body| whop::normalize(body, None));
    let fixtures = fixtures("whop");
    proptest!(config(CASES), |((which, edits) in (any::<prop::sample::Index>(), mutations()), id in "[ -~]{0,40}")| {
        let fixture = which.get(&fixtures);
        let body = mutated(&fixture.value, &fixture.pointers, &edits);
        let first = whop::normalize(&body, Some(&id));
        let second = whop::normalize(&body, Some(&id));
        check(&body, &first, &second)?;
    });
}

/// The raw splices above must really reach the normalizers: a body with
/// `1e400` in it is refused as JSON, not silently skipped.
#[test]
fn raw_splices_land_in_the_body() {
    let fixture = &fixtures("stripe")[0];
    let body = mutate(&fixture.value, &[("/id", Hostile::Raw(b"1e400".to_vec()))]);
    assert!(
        find(&body, b"\"id\":1e400").is_some(),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(matches!(
        stripe::normalize(&body),
        Err(NormalizeError::NotJson(_))
    ));
}
