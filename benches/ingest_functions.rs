//! CPU cost of the ingest path's pure functions, one call at a time.
//!
//! ```text
//!  raw body ─▶ verify (HMAC over the body) ─▶ normalize (provider JSON ─▶ CanonicalEvent)
//!                                               └─▶ LogEnvelope::to_record (JSON bytes for the log)
//!  /v1/events row ─▶ CanonicalEvent::from_json
//!  accepted ids ─▶ RecentIds (answers a provider's retry `duplicate`)
//! ```
//!
//! Bodies are the realistic fixtures of `ingest/tests/fixtures/`, read once
//! at start-up. Every benchmark reports throughput in calls per second
//! (`Elements(1)`) next to the time per call.
//!
//! Run with `cargo bench --bench ingest_functions`; it takes about a minute
//! and a half. The HTTP and event-log throughput is `benches/ingest_load.rs`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use revstream_ingest::log::LogEnvelope;
use revstream_ingest::normalize::{calendly, stripe, whop};
use revstream_ingest::recent::RecentIds;
use revstream_ingest::verify::{WebhookSource, sign_standard, sign_t_v1, verify};
use revstream_schemas::{CanonicalEvent, TenantId};

/// The clock every signature is made and checked at, so the timestamp
/// window never depends on when the bench runs.
const NOW: i64 = 1_767_225_600;
const STRIPE_SECRET: &str = "whsec_stripe_bench_secret";
/// Standard Webhooks secrets are `whsec_` + base64 of the key.
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_STANDARD_SECRETS: [&str; 2] = [
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "whsec_b2xkLW9sZC1vbGQtb2xkLXNlY3JldA==",
];
const WEBHOOK_ID: &str = "msg_2mF9qXkz7TcYbW1nLp0aR4sD";

/// The canonical `subscription.updated` of API.md, as a producer posts it.
const CANONICAL_SUBSCRIPTION: &str = r#"{"id":"evt_1","type":"subscription.updated","occurred_at":"2026-01-05T10:00:00Z","source":"stripe","customer":{"id":"cus_1","email":"Ada@Example.com","name":"Ada"},"subscription":{"id":"sub_1","status":"active","currency":"usd","items":[{"price_id":"pro","unit_amount":4900,"quantity":1,"interval":"month","interval_count":1}],"discount":{"percent_off":20,"duration":"forever"},"cancel_at_period_end":false,"current_period_end":"2026-02-05T10:00:00Z"}}"#;

fn fixture(provider: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ingest/tests/fixtures")
        .join(provider)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("static header names are valid"),
            HeaderValue::from_str(value).expect("signatures are visible ASCII"),
        );
    }
    map
}

fn stripe_headers(body: &[u8]) -> HeaderMap {
    headers(&[("Stripe-Signature", sign_t_v1(STRIPE_SECRET, NOW, body))])
}

fn standard_headers(body: &[u8]) -> HeaderMap {
    let signature = sign_standard(STANDARD_SECRET, WEBHOOK_ID, NOW, body)
        .expect("the bench secret is whsec_ + base64");
    headers(&[
        ("webhook-id", WEBHOOK_ID.to_owned()),
        ("webhook-timestamp", NOW.to_string()),
        ("webhook-signature", signature),
    ])
}

struct Bodies {
    subscription_updated: Vec<u8>,
    charge_succeeded: Vec<u8>,
    whop_membership: Vec<u8>,
    calendly_invitee: Vec<u8>,
}

impl Bodies {
    fn load() -> Self {
        Self {
            subscription_updated: fixture("stripe", "customer.subscription.updated.annual.json"),
            charge_succeeded: fixture("stripe", "charge.succeeded.json"),
            whop_membership: fixture("whop", "membership_activated.json"),
            calendly_invitee: fixture("calendly", "invitee_created.json"),
        }
    }
}

fn bench_verify(c: &mut Criterion, bodies: &Bodies) {
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));

    let body = &bodies.subscription_updated;
    let sig = stripe_headers(body);
    let secrets = [STRIPE_SECRET];
    group.bench_function("stripe_t_v1/subscription_updated_6kB", |b| {
        b.iter(|| {
            verify(WebhookSource::Stripe, &sig, black_box(body), &secrets, NOW)
                .expect("signed with this secret")
        });
    });

    let body = &bodies.whop_membership;
    let sig = standard_headers(body);
    let one = [STANDARD_SECRET];
    group.bench_function("standard/1_secret", |b| {
        b.iter(|| {
            verify(WebhookSource::Standard, &sig, black_box(body), &one, NOW)
                .expect("signed with this secret")
        });
    });
    // During a rotation the matching secret may be the last one tried.
    let three = [
        OTHER_STANDARD_SECRETS[0],
        OTHER_STANDARD_SECRETS[1],
        STANDARD_SECRET,
    ];
    group.bench_function("standard/3_secrets_match_last", |b| {
        b.iter(|| {
            verify(WebhookSource::Standard, &sig, black_box(body), &three, NOW)
                .expect("the last secret signed it")
        });
    });
    group.finish();
}

/// A normalizer under test; returns how many events the body became.
type Normalizer = fn(&[u8]) -> usize;

fn bench_normalize(c: &mut Criterion, bodies: &Bodies) {
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(1));
    let cases: [(&str, &[u8], Normalizer); 4] = [
        (
            "stripe/subscription_updated",
            &bodies.subscription_updated,
            |b| {
                stripe::normalize(b)
                    .map(|n| n.events.len())
                    .expect("fixture normalizes")
            },
        ),
        ("stripe/charge_succeeded", &bodies.charge_succeeded, |b| {
            stripe::normalize(b)
                .map(|n| n.events.len())
                .expect("fixture normalizes")
        }),
        ("whop/membership_activated", &bodies.whop_membership, |b| {
            whop::normalize(b, None)
                .map(|n| n.events.len())
                .expect("fixture normalizes")
        }),
        ("calendly/invitee_created", &bodies.calendly_invitee, |b| {
            calendly::normalize(b)
                .map(|n| n.events.len())
                .expect("fixture normalizes")
        }),
    ];
    for (name, body, run) in cases {
        group.bench_function(name, |b| b.iter(|| run(black_box(body))));
    }
    group.finish();
}

fn bench_canonical(c: &mut Criterion) {
    let mut group = c.benchmark_group("canonical");
    group.throughput(Throughput::Elements(1));
    let row = CANONICAL_SUBSCRIPTION.as_bytes();
    group.bench_function("from_json/subscription_updated", |b| {
        b.iter(|| CanonicalEvent::from_json(black_box(row)).expect("the API.md example is valid"));
    });
    let envelope = LogEnvelope {
        tenant: TenantId::parse("acme").expect("valid tenant id"),
        received_at: DateTime::<Utc>::from_timestamp(NOW, 0).expect("in range"),
        event: CanonicalEvent::from_json(row).expect("the API.md example is valid"),
    };
    group.bench_function("log_envelope_to_record/subscription_updated", |b| {
        b.iter(|| black_box(&envelope).to_record());
    });
    group.finish();
}

/// What the webhook handler does per request besides I/O: check the
/// signature, normalize, serialize the log record.
fn bench_hot_path(c: &mut Criterion, bodies: &Bodies) {
    let mut group = c.benchmark_group("webhook_hot_path");
    group.throughput(Throughput::Elements(1));
    let secrets = [STRIPE_SECRET];
    let tenant = TenantId::parse("acme").expect("valid tenant id");
    let received_at = DateTime::<Utc>::from_timestamp(NOW, 0).expect("in range");
    for (name, body) in [
        ("stripe/subscription_updated", &bodies.subscription_updated),
        ("stripe/charge_succeeded", &bodies.charge_succeeded),
    ] {
        let sig = stripe_headers(body);
        group.bench_function(format!("verify_normalize/{name}"), |b| {
            b.iter(|| {
                let body = black_box(body);
                verify(WebhookSource::Stripe, &sig, body, &secrets, NOW).expect("signed");
                stripe::normalize(body).expect("fixture normalizes")
            });
        });
        group.bench_function(format!("verify_normalize_to_record/{name}"), |b| {
            b.iter(|| {
                let body = black_box(body);
                verify(WebhookSource::Stripe, &sig, body, &secrets, NOW).expect("signed");
                let normalized = stripe::normalize(body).expect("fixture normalizes");
                normalized
                    .events
                    .into_iter()
                    .map(|event| {
                        LogEnvelope {
                            tenant: tenant.clone(),
                            received_at,
                            event,
                        }
                        .to_record()
                    })
                    .collect::<Vec<_>>()
            });
        });
    }
    group.finish();
}

/// Remembering a batch of 50 accepted ids and asking about a retried one,
/// in a set already holding 100,000 (a busy process): the ids as keyed
/// 128-bit digests, as shipped, next to the ids' text in a `HashSet` (the
/// shape before, the reference).
fn bench_recent_ids(c: &mut Criterion) {
    const HELD: usize = 100_000;
    const BATCH: usize = 50;
    let ids: Vec<String> = (0..HELD + 100 * BATCH)
        .map(|i| format!("evt_1Nv{i:019}"))
        .collect();
    let (held, fresh) = ids.split_at(HELD);
    let key = |id: &str| ["tenant_acme", "stripe", id].join("\0").into_boxed_str();
    let mut group = c.benchmark_group("recent_ids");
    group.throughput(Throughput::Elements(BATCH as u64));

    let recent = RecentIds::new(1_000_000);
    recent.insert_all(held.iter().map(|id| ("tenant_acme", "stripe", id.as_str())));
    let mut batches = fresh.chunks(BATCH).cycle();
    group.bench_function("insert_50_and_lookup/digests", |b| {
        b.iter(|| {
            let batch = batches.next().unwrap_or_default();
            recent.insert_all(
                batch
                    .iter()
                    .map(|id| ("tenant_acme", "stripe", id.as_str())),
            );
            black_box(recent.contains("tenant_acme", "stripe", &held[7]))
        });
    });

    let mut reference: std::collections::HashSet<Box<str>> =
        held.iter().map(|id| key(id)).collect();
    let mut batches = fresh.chunks(BATCH).cycle();
    group.bench_function("insert_50_and_lookup/text_keys_reference", |b| {
        b.iter(|| {
            let batch = batches.next().unwrap_or_default();
            reference.extend(batch.iter().map(|id| key(id)));
            black_box(reference.contains(&key(&held[7])))
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let bodies = Bodies::load();
    bench_recent_ids(c);
    bench_verify(c, &bodies);
    bench_normalize(c, &bodies);
    bench_canonical(c);
    bench_hot_path(c, &bodies);
}

criterion_group! {
    name = ingest_functions;
    // Short runs: the whole file finishes in well under two minutes on
    // two cores, and medians of these microsecond functions are stable.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(ingest_functions);
