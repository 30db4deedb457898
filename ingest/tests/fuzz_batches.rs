//! Fuzzing the `/v1/events` batch reader and the canonical event parser it
//! calls for every row.
//!
//! - The canonical parser (`CanonicalEvent::from_json`), on every API.md
//!   example type mutated with the hostile values of `hostile/` (huge and
//!   fractional numbers, `1e400`, unicode, invalid UTF-8, deep nesting, …):
//!   no panic; `Ok` only for events that validate and survive a round trip
//!   through their wire form unchanged; `Err` names a field path and says
//!   what is wrong. 4,000 cases.
//! - The row splitter (`http::batch::split_rows`), on NDJSON and JSON-array
//!   bodies built from known rows with random blank lines, CRLFs and
//!   padding: it finds exactly those rows, in order. 2,000 cases.
//! - The whole route over real TCP (real registry, real local log on
//!   disk): random batches of good and bad rows interleaved, as NDJSON or a
//!   JSON array. Every good row is accepted and durable in the log, every
//!   bad one is reported with its index and a reason, and a batch with no
//!   good row is a 400 carrying the same list. 200 batches (each one an
//!   fsync, so this is the slow part: a few seconds).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod hostile;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hostile::{config, mutated, mutations, pointers};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use revstream_ingest::http::batch::split_rows;
use revstream_ingest::http::{IngestConfig, IngestState, ServeOptions, finish, router, serve_http};
use revstream_ingest::log::LogEnvelope;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_registry::{MasterKey, NewTenant, Registry, Role};
use revstream_schemas::{CanonicalEvent, ParseError, TenantId};
use serde_json::{Value, json};

const AT: &str = "2026-01-05T10:00:00Z";

/// One valid example of every canonical type (API.md).
fn examples() -> Vec<Value> {
    let subscription = |t: &str, status: &str| {
        json!({"id": "s", "type": t, "occurred_at": AT, "source": "stripe",
          "customer": {"id": "cus_1", "email": "Ada@Example.com", "name": "Ada"},
          "subscription": {"id": "sub_1", "status": status, "currency": "usd",
            "items": [{"price_id": "pro", "unit_amount": 4900, "quantity": 1, "interval": "month", "interval_count": 1}],
            "discount": {"percent_off": 20, "duration": "forever"},
            "cancel_at_period_end": false, "current_period_end": "2026-02-05T10:00:00Z"}})
    };
    let call = |t: &str| json!({"id": "c", "type": t, "occurred_at": AT, "call": {"id": "call_1"}});
    vec![
        json!({"id": "c1", "type": "customer.upserted", "occurred_at": AT,
               "customer": {"id": "cus_1", "email": "ada@example.com"}}),
        subscription("subscription.created", "active"),
        subscription("subscription.updated", "trialing"),
        subscription("subscription.canceled", "canceled"),
        json!({"id": "p1", "type": "payment.succeeded", "occurred_at": AT,
               "payment": {"id": "ch_1", "amount": 4900, "currency": "usd", "paid_at": AT,
                           "customer": "cus_1", "subscription_id": "sub_1"}}),
        json!({"id": "p2", "type": "payment.failed", "occurred_at": AT,
               "payment": {"id": "ch_2", "amount": 4900, "currency": "JPY", "paid_at": AT,
                           "customer": {"id": "cus_1", "email": "ada@example.com"}}}),
        json!({"id": "r1", "type": "refund.created", "occurred_at": AT,
               "refund": {"id": "re_1", "payment_id": "ch_1", "amount": 1000, "currency": "usd", "refunded_at": AT}}),
        json!({"id": "b1", "type": "call.booked", "occurred_at": AT,
               "call": {"id": "call_1", "lead": {"email": "lead@example.com", "name": "Lee"},
                        "closer": "sam", "setter": "kim", "source": "youtube", "call_type": "discovery",
                        "booked_at": AT, "scheduled_at": "2026-01-07T15:00:00Z", "rescheduled_from": "call_0"}}),
        call("call.canceled"),
        call("call.rescheduled"),
        call("call.no_show"),
        call("call.no_show_undone"),
        call("call.showed"),
        json!({"id": "o1", "type": "call.outcome", "occurred_at": AT, "call": {"id": "call_1"},
               "outcome": {"showed": true, "offer_made": true, "closed": true,
                           "cash_collected": 300000, "currency": "usd", "notes": "paid in full"}}),
        json!({"id": "t1", "type": "track", "occurred_at": AT, "name": "webinar.attended",
               "properties": {"webinar": "jan", "seats": [1, 2, {"deep": null}]}}),
    ]
}

fn describe(e: &ParseError) -> String {
    format!("{} ({})", e, e.path())
}

/// The canonical parser on mutated examples: no panic; what it accepts
/// validates and round-trips; what it refuses is explained.
#[test]
fn canonical_parser_survives_hostile_events() {
    let examples: Vec<(Value, Vec<String>)> = examples()
        .into_iter()
        .map(|v| {
            let p = pointers(&v);
            (v, p)
        })
        .collect();
    for (v, _) in &examples {
        assert!(
            CanonicalEvent::from_json(v.to_string().as_bytes()).is_ok(),
            "{v}"
        );
    }
    // Accepted and refused cases, so the mix is known to reach both arms.
    let outcomes = std::cell::Cell::new((0u32, 0u32));
    proptest!(config(4_000), |((which, edits) in (any::<prop::sample::Index>(), mutations()))| {
        let (value, ptrs) = which.get(&examples);
        let body = mutated(value, ptrs, &edits);
        let (ok, refused) = outcomes.get();
        match CanonicalEvent::from_json(&body) {
            Ok(event) => {
                outcomes.set((ok + 1, refused));
                prop_assert!(event.validate().is_ok());
                let again = CanonicalEvent::from_json(&event.to_json());
                prop_assert_eq!(
                    again.as_ref().map_err(describe),
                    Ok(&event),
                    "the wire form does not parse back: {}",
                    String::from_utf8_lossy(&event.to_json())
                );
            }
            Err(e) => {
                outcomes.set((ok, refused + 1));
                prop_assert!(!e.path().is_empty(), "no path: {}", e);
                let message = e.to_string();
                prop_assert!(!message.trim().is_empty());
            }
        }
    });
    let (ok, refused) = outcomes.get();
    // The model is strict (unknown fields, types), so most mutations fail.
    assert!(
        ok >= 100 && refused >= 1_000,
        "a lopsided mix: {ok} ok, {refused} refused"
    );
}

/// A row of a generated batch.
#[derive(Debug, Clone)]
enum Row {
    /// A valid event (the example at this index), given a fresh id.
    Good(usize),
    /// Not an event, but valid JSON (so it may sit in a JSON array).
    BadJson(String),
    /// Not even JSON (NDJSON only: an array holding it is not an array).
    NotJson(Vec<u8>),
}

fn bad_json() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("3".to_owned()),
        Just("\"evt\"".to_owned()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just(r#"{"id":"x","type":"nope","occurred_at":"2026-01-05T10:00:00Z"}"#.to_owned()),
        Just(
            r#"{"id":"x","type":"payment.succeeded","occurred_at":"2026-01-05T10:00:00Z"}"#
                .to_owned()
        ),
        Just(
            r#"{"id":"","type":"track","occurred_at":"2026-01-05T10:00:00Z","name":"n"}"#
                .to_owned()
        ),
        Just(r#"{"id":"x","type":"track","occurred_at":"yesterday","name":"n"}"#.to_owned()),
        Just(format!(
            r#"{{"id":"x","type":"refund.created","occurred_at":"{AT}","refund":{{"id":"r","payment_id":"p","amount":-5,"currency":"usd","refunded_at":"{AT}"}}}}"#
        )),
        Just(format!(
            r#"{{"id":"x","type":"refund.created","occurred_at":"{AT}","refund":{{"id":"r","payment_id":"p","amount":1e400,"currency":"usd","refunded_at":"{AT}"}}}}"#
        )),
        Just(format!(
            r#"{{"id":"x","type":"refund.created","occurred_at":"{AT}","refund":{{"id":"r","payment_id":"p","amount":1208925819614629174706176,"currency":"usd","refunded_at":"{AT}"}}}}"#
        )),
        Just(format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000))),
        Just(format!(
            r#"{{"id":"x","type":"track","occurred_at":"{AT}","name":"n","properties":{}1{}}}"#,
            "{\"a\":".repeat(300),
            "}".repeat(300)
        )),
        "[a-z0-9]{1,20}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn not_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"{\"id\": \"\xff\xfe\"}".to_vec()),
        Just(b"{\"id\":".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"{".repeat(10_000)),
        Just(b"not json at all".to_vec()),
        prop::collection::vec(any::<u8>(), 1..200).prop_map(|mut b| {
            b.retain(|c| *c != b'\n');
            b.insert(0, b'{'); // not an array, not blank
            b
        }),
    ]
}

fn rows(ndjson: bool) -> impl Strategy<Value = Vec<Row>> {
    let examples = examples().len();
    let row = if ndjson {
        prop_oneof![
            3 => (0..examples).prop_map(Row::Good),
            2 => bad_json().prop_map(Row::BadJson),
            1 => not_json().prop_map(Row::NotJson),
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => (0..examples).prop_map(Row::Good),
            2 => bad_json().prop_map(Row::BadJson),
        ]
        .boxed()
    };
    prop::collection::vec(row, 0..30)
}

/// The bytes of each row, good rows getting ids unique across the test.
fn row_bytes(rows: &[Row], next_id: &AtomicUsize) -> (Vec<Vec<u8>>, Vec<Option<String>>) {
    let examples = examples();
    let mut bytes = Vec::new();
    let mut ids = Vec::new();
    for row in rows {
        match row {
            Row::Good(i) => {
                let id = format!("fz_{}", next_id.fetch_add(1, Ordering::Relaxed));
                let mut v = examples[*i].clone();
                v["id"] = json!(id);
                bytes.push(v.to_string().into_bytes());
                ids.push(Some(id));
            }
            Row::BadJson(s) => {
                bytes.push(s.clone().into_bytes());
                ids.push(None);
            }
            Row::NotJson(b) => {
                bytes.push(b.clone());
                ids.push(None);
            }
        }
    }
    (bytes, ids)
}

/// Whitespace the NDJSON reader must skip: blank lines, CRLFs, padding.
fn ndjson_body(rows: &[Vec<u8>], noise: &[(bool, bool, u8)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (row, (blank_before, crlf, pad)) in rows.iter().zip(noise.iter().cycle()) {
        if *blank_before {
            body.extend_from_slice(b"   \n\n");
        }
        body.extend(std::iter::repeat_n(b' ', usize::from(*pad % 4)));
        body.extend_from_slice(row);
        body.extend(std::iter::repeat_n(b'\t', usize::from(*pad / 64)));
        body.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
    }
    body
}

fn array_body(rows: &[Vec<u8>], noise: &[(bool, bool, u8)]) -> Vec<u8> {
    let mut body = b" [".to_vec();
    for (i, (row, (newline, _, pad))) in rows.iter().zip(noise.iter().cycle()).enumerate() {
        if i > 0 {
            body.push(b',');
        }
        if *newline {
            body.extend_from_slice(b"\r\n");
        }
        body.extend(std::iter::repeat_n(b' ', usize::from(*pad % 4)));
        body.extend_from_slice(row);
    }
    body.extend_from_slice(b"]\n");
    body
}

fn noise() -> impl Strategy<Value = Vec<(bool, bool, u8)>> {
    prop::collection::vec(any::<(bool, bool, u8)>(), 1..8)
}

#[test]
fn split_rows_finds_exactly_the_rows() {
    let next_id = AtomicUsize::new(0);
    let strategy = any::<bool>().prop_flat_map(|ndjson| (Just(ndjson), rows(ndjson), noise()));
    proptest!(config(2_000), |((ndjson, generated, noise) in strategy)| {
        let (rows, _) = row_bytes(&generated, &next_id);
        // NDJSON whose first row opens with `[` reads as a JSON array (the
        // documented rule); such bodies are the array cases' business.
        prop_assume!(!ndjson || rows.first().is_none_or(|r| r.trim_ascii().first() != Some(&b'[')));
        let body = if ndjson { ndjson_body(&rows, &noise) } else { array_body(&rows, &noise) };
        let split = split_rows(&body).map_err(|e| TestCaseError::fail(e.message))?;
        let expected: Vec<&[u8]> = rows.iter().map(|r| r.trim_ascii()).collect();
        prop_assert_eq!(split, expected);
    });
}

/// A batch body that is neither an array nor lines of anything still never
/// panics the splitter, and an array-looking body that is not one is a
/// clear `invalid_json`.
#[test]
fn split_rows_never_panics_on_random_bytes() {
    proptest!(config(2_000), |(body in prop::collection::vec(any::<u8>(), 0..2_000))| {
        match split_rows(&body) {
            Ok(rows) => prop_assert!(rows.iter().all(|r| !r.is_empty() && !r.contains(&b'\n'))),
            Err(e) => {
                prop_assert_eq!(e.status.as_u16(), 400);
                prop_assert_eq!(e.code, "invalid_json");
            }
        }
    });
}

struct Server {
    base: String,
    key: String,
    log: Arc<LocalLog>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn start() -> Server {
    let log_dir = tempfile::tempdir().unwrap();
    let registry_dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(log_dir.path(), 2, LocalLogOptions::default()).unwrap();
    let registry = Registry::open_in_data_dir(registry_dir.path(), MasterKey::generate().unwrap())
        .await
        .unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    registry
        .create_tenant(NewTenant {
            id: tenant.clone(),
            name: None,
            timezone: None,
            churn_recognition: None,
        })
        .await
        .unwrap();
    let key = registry
        .create_key(&tenant, Role::Ingest)
        .await
        .unwrap()
        .key;
    let state = IngestState::new(
        registry,
        log.clone(),
        "fuzz-admin-token-0123456789".to_owned(),
        IngestConfig::default(),
    );
    let app = finish(router(state), Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_http(
        listener,
        app,
        ServeOptions::default(),
        std::future::pending(),
    ));
    Server {
        base,
        key,
        log,
        _dirs: (log_dir, registry_dir),
    }
}

async fn logged_ids(log: &LocalLog) -> Vec<String> {
    let mut out = Vec::new();
    for p in 0..log.partitions() {
        for r in log.read(p, 0, usize::MAX).await.unwrap() {
            out.push(
                LogEnvelope::from_payload(&r.payload)
                    .unwrap()
                    .event
                    .id
                    .to_string(),
            );
        }
    }
    out
}

/// Good rows are never dropped because of bad ones, and every bad one is
/// named by its index, over the real route.
#[test]
fn batches_keep_good_rows_and_name_bad_ones() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(start());
    let http = reqwest::Client::new();
    let next_id = AtomicUsize::new(0);
    // The runner takes a `Fn`; the ids accepted so far live in a cell.
    let sent_good = RefCell::new(BTreeSet::new());
    let strategy = any::<bool>().prop_flat_map(|ndjson| (Just(ndjson), rows(ndjson), noise()));
    proptest!(config(200), |((ndjson, generated, noise) in strategy)| {
        let (rows, ids) = row_bytes(&generated, &next_id);
        // NDJSON whose first row opens with `[` reads as a JSON array (the
        // documented rule); such bodies are the array cases' business.
        prop_assume!(!ndjson || rows.first().is_none_or(|r| r.trim_ascii().first() != Some(&b'[')));
        let body = if ndjson { ndjson_body(&rows, &noise) } else { array_body(&rows, &noise) };
        let (status, answer) = rt.block_on(async {
            let resp = http
                .post(format!("{}/v1/events", server.base))
                .bearer_auth(&server.key)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        });
        let good: Vec<&String> = ids.iter().flatten().collect();
        let bad: Vec<usize> = ids
            .iter()
            .enumerate()
            .filter(|(_, id)| id.is_none())
            .map(|(i, _)| i)
            .collect();
        if good.is_empty() {
            prop_assert_eq!(status, 400, "{}", answer);
            prop_assert_eq!(&answer["error"]["code"], "no_valid_events");
        } else {
            prop_assert_eq!(status, 200, "{}", answer);
            prop_assert_eq!(&answer["accepted"], &json!(good.len()));
            prop_assert_eq!(&answer["duplicates"], &json!(0));
        }
        let rejected = answer["rejected"].as_array().cloned().unwrap_or_default();
        let indices: Vec<usize> = rejected
            .iter()
            .map(|r| usize::try_from(r["index"].as_u64().unwrap_or(u64::MAX)).unwrap_or(usize::MAX))
            .collect();
        prop_assert_eq!(indices, bad, "{}", answer);
        for r in &rejected {
            let reason = r["error"].as_str().unwrap_or_default();
            prop_assert!(!reason.is_empty() && reason.len() < 2_000, "{}", r);
        }
        sent_good.borrow_mut().extend(good.into_iter().cloned());
    });
    // Everything accepted is in the log, once, and nothing else is.
    let logged = rt.block_on(logged_ids(&server.log));
    let unique: BTreeSet<String> = logged.iter().cloned().collect();
    assert_eq!(unique.len(), logged.len(), "an event was appended twice");
    let sent_good = sent_good.into_inner();
    assert_eq!(unique, sent_good);
    assert!(
        sent_good.len() > 500,
        "only {} good rows were sent",
        sent_good.len()
    );
}
