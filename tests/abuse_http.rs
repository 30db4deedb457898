//! Abuse of the ingest HTTP server on a real TCP port (the binary's own
//! `serve_http`, the real registry and the real local log): oversized
//! headers and bodies, deeply nested JSON, invalid UTF-8, huge numbers,
//! slow and silent clients, forged and replayed signatures, and a flood of
//! garbage connections. Every abuse gets a clear 4xx (or the connection is
//! dropped within a bound), nothing reaches the log that should not, and a
//! well-formed request is served normally throughout.
//!
//! Raw clients use blocking `std::net` sockets on their own threads, so
//! what they send is exactly what is written. Time bounds: the server runs
//! with a 2 s header read timeout and a 3 s request timeout; the whole file
//! takes about 15 s.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use revstream_ingest::http::{IngestConfig, ServeOptions};
use revstream_ingest::log::LogEnvelope;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::verify::{sign_standard, sign_t_v1};
use serde_json::{Value, json};
use support::server::{TenantFixture, TestServer, now};

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

struct Harness {
    server: TestServer,
    log: Arc<LocalLog>,
    tenant: TenantFixture,
    _log_dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let log_dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(log_dir.path(), 2, LocalLogOptions::default()).unwrap();
    let config = IngestConfig {
        batch_body_limit: 256 << 10,
        ..IngestConfig::default()
    };
    let server = TestServer::start_with(
        log.clone(),
        config,
        REQUEST_TIMEOUT,
        ServeOptions {
            header_read_timeout: HEADER_READ_TIMEOUT,
        },
    )
    .await;
    let tenant = server.tenant_with_secrets("acme").await;
    Harness {
        server,
        log,
        tenant,
        _log_dir: log_dir,
    }
}

impl Harness {
    async fn logged_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in 0..self.log.partitions() {
            for r in self.log.read(p, 0, usize::MAX).await.unwrap() {
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

    async fn post_events(&self, body: Vec<u8>) -> reqwest::Response {
        self.server
            .http
            .post(self.server.url("/v1/events"))
            .bearer_auth(&self.tenant.ingest_key)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_stripe(&self, signature: &str, body: Vec<u8>) -> reqwest::Response {
        self.server
            .http
            .post(self.server.url("/v1/webhooks/stripe/acme"))
            .header("Stripe-Signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_standard(&self, id: &str, ts: i64, body: Vec<u8>) -> reqwest::Response {
        let sig = sign_standard(&self.tenant.secrets.standard, id, ts, &body).unwrap();
        self.server
            .http
            .post(self.server.url("/v1/webhooks/standard/acme"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A well-formed signed webhook, answered 200 within a second.
    async fn assert_serves_normally(&self, id: &str) {
        let started = Instant::now();
        let body = stripe_event(id);
        let sig = sign_t_v1(&self.tenant.secrets.stripe, now(), &body);
        let resp = self.post_stripe(&sig, body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a normal request took {:?}",
            started.elapsed()
        );
    }
}

fn stripe_event(id: &str) -> Vec<u8> {
    json!({
        "id": id, "object": "event", "type": "customer.created", "created": 1767225600,
        "data": {"object": {"id": "cus_1", "object": "customer", "email": "ada@example.com"}}
    })
    .to_string()
    .into_bytes()
}

/// Status code and error code of a JSON error answer; fails on anything
/// that is not our error format.
async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({status}, {e}): {text}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && !message.is_empty() && message.len() < 2_000,
        "not a clear error ({status}): {text}"
    );
    (status, code)
}

/// Sends `request` on a raw connection and reads until the server closes
/// it (or `limit` passes); returns what came back and how long it took.
fn raw_exchange(addr: SocketAddr, request: Vec<u8>, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // The server may answer and close before it has read everything; the
    // writer then fails, which is fine.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        if started.elapsed() > limit {
            break;
        }
    }
    drop(stream);
    let _ = sender.join();
    (answer, started.elapsed())
}

fn status_line(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_too_many_headers_are_refused_quickly() {
    let h = harness().await;
    let addr = h.server.addr;
    let big = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "q".repeat(1 << 20)
    );
    for (what, request) in [
        ("1 MB header", big),
        ("500 headers", many),
        ("1 MB URI", long_uri),
    ] {
        let (answer, took) = tokio::task::spawn_blocking(move || {
            raw_exchange(addr, request.into_bytes(), Duration::from_secs(10))
        })
        .await
        .unwrap();
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
        // hyper answers 431 (or 414/400) and closes; a reset while we were
        // still writing is also a refusal, as long as it came fast.
        let line = status_line(&answer);
        assert!(
            answer.is_empty()
                || line.contains(" 431 ")
                || line.contains(" 414 ")
                || line.contains(" 400 "),
            "{what}: {line}"
        );
    }
    h.assert_serves_normally("evt_after_headers").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_413_in_our_format() {
    let h = harness().await;
    // Declared too large: refused before reading.
    let (status, code) = error_of(h.post_events(vec![b' '; 300 << 10]).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    // Chunked, without a length: refused once the limit is crossed.
    let mut request = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        h.tenant.ingest_key
    )
    .into_bytes();
    for _ in 0..64 {
        request.extend_from_slice(format!("{:x}\r\n", 8 << 10).as_bytes());
        request.extend(vec![b'\n'; 8 << 10]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let addr = h.server.addr;
    let (answer, _) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, request, Duration::from_secs(10)))
            .await
            .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(status_line(&answer).contains(" 413 "), "{text}");
    assert!(text.contains("\"body_too_large\""), "{text}");
    // A webhook over 1 MiB, validly signed: still 413.
    let mut body = stripe_event("evt_big");
    body.extend(vec![b' '; 1 << 20]);
    let sig = sign_t_v1(&h.tenant.secrets.stripe, now(), &body);
    let (status, code) = error_of(h.post_stripe(&sig, body).await).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    assert!(h.logged_ids().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let h = harness().await;
    let n = 100_000;
    // An array body that never closes: not an array.
    let (status, code) = error_of(h.post_events("[".repeat(n).into_bytes()).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    // A closed one: one row, which is not an event.
    let closed = format!("[{}{}]", "[".repeat(n), "]".repeat(n));
    let resp = h.post_events(closed.into_bytes()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["rejected"][0]["index"], 0, "{body}");
    // NDJSON: a deep row beside a good one; the good one is kept.
    let deep = format!(
        "{{\"id\":\"d\",\"type\":\"track\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"name\":\"n\",\"properties\":{}1{}}}",
        // 20,000 deep keeps the body under this harness's 256 KiB limit.
        "{\"a\":".repeat(n / 5),
        "}".repeat(n / 5)
    );
    let good =
        r#"{"id":"nested_ok","type":"track","occurred_at":"2026-01-05T10:00:00Z","name":"n"}"#;
    let resp = h
        .post_events(format!("{deep}\n{good}\n").into_bytes())
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"][0]["index"], 0, "{body}");
    // A validly signed webhook of each scheme whose body nests 100k deep.
    let nested = format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let sig = sign_t_v1(&h.tenant.secrets.stripe, now(), &nested);
    let (status, code) = error_of(h.post_stripe(&sig, nested.clone()).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    let (status, code) = error_of(h.post_standard("msg_nested", now(), nested).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    assert_eq!(h.logged_ids().await, ["nested_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_is_a_400_and_good_rows_survive() {
    let h = harness().await;
    let (status, code) = error_of(h.post_events(b"\xff\xfe\xfd\n\xc3\x28".to_vec()).await).await;
    assert_eq!((status, code.as_str()), (400, "no_valid_events"));
    // Invalid UTF-8 inside one row's string; the next row is fine.
    let mut body = b"{\"id\":\"u\xff\",\"type\":\"track\",\"occurred_at\":\"2026-01-05T10:00:00Z\",\"name\":\"n\"}\n".to_vec();
    body.extend_from_slice(
        br#"{"id":"utf8_ok","type":"track","occurred_at":"2026-01-05T10:00:00Z","name":"caf\u00e9"}"#,
    );
    let resp = h.post_events(body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["rejected"][0]["index"], 0, "{answer}");
    // A signed webhook whose body is not UTF-8: authentic, but not JSON.
    let body = b"{\"id\": \"evt_\xff\"}".to_vec();
    let sig = sign_t_v1(&h.tenant.secrets.stripe, now(), &body);
    let (status, code) = error_of(h.post_stripe(&sig, body.clone()).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    let (status, code) = error_of(h.post_standard("msg_utf8", now(), body).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    // Invalid UTF-8 in a signature header: a 401, not a 500.
    let resp = h
        .server
        .http
        .post(h.server.url("/v1/webhooks/stripe/acme"))
        .header(
            "Stripe-Signature",
            reqwest::header::HeaderValue::from_bytes(b"t=1,v1=\xff\xfe").unwrap(),
        )
        .body(stripe_event("evt_hdr"))
        .send()
        .await
        .unwrap();
    let (status, code) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));
    assert_eq!(h.logged_ids().await, ["utf8_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_numbers_are_rejected_with_their_row() {
    let h = harness().await;
    let payment = |id: &str, amount: &str| {
        format!(
            r#"{{"id":"{id}","type":"payment.succeeded","occurred_at":"2026-01-05T10:00:00Z","payment":{{"id":"ch_{id}","amount":{amount},"currency":"usd","paid_at":"2026-01-05T10:00:00Z","customer":"cus_1"}}}}"#
        )
    };
    let rows = [
        payment("n0", "1e400"),
        payment("n1", "1208925819614629174706176"), // 2^80
        payment("n2", "9223372036854775808"),       // i64::MAX + 1
        payment("n3", "-1"),
        payment("n4", "12.5"),
        payment("n5", "-1e400"),
        payment("n_ok", "4900"),
    ];
    let resp = h.post_events(rows.join("\n").into_bytes()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    let rejected: Vec<u64> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, [0, 1, 2, 3, 4, 5], "{answer}");
    for r in answer["rejected"].as_array().unwrap() {
        let reason = r["error"].as_str().unwrap();
        assert!(
            reason.contains("amount") || reason.contains("number"),
            "{reason}"
        );
    }
    // Signed provider payloads with huge amounts and timestamps.
    for (i, (field, value)) in [
        ("created", "1e400"),
        ("created", "99999999999999999999"),
        ("created", "-9223372036854775808"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(
            r#"{{"id":"evt_huge{i}","object":"event","type":"customer.created","{field}":{value},"data":{{"object":{{"id":"cus_1","object":"customer"}}}}}}"#
        )
        .into_bytes();
        let sig = sign_t_v1(&h.tenant.secrets.stripe, now(), &body);
        let (status, code) = error_of(h.post_stripe(&sig, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_payload"),
            "{field}={value}"
        );
    }
    let charge = |amount: &str| {
        format!(
            r#"{{"id":"evt_c{}","object":"event","type":"charge.succeeded","created":1767225600,"data":{{"object":{{"id":"ch_1","object":"charge","amount":{amount},"currency":"usd","status":"succeeded","created":1767225600,"customer":"cus_1"}}}}}}"#,
            amount.len()
        )
        .into_bytes()
    };
    for amount in ["1208925819614629174706176", "1e400", "-5"] {
        let body = charge(amount);
        let sig = sign_t_v1(&h.tenant.secrets.stripe, now(), &body);
        let (status, code) = error_of(h.post_stripe(&sig, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_payload"),
            "{amount}"
        );
    }
    assert_eq!(h.logged_ids().await, ["n_ok"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_replayed_signatures_are_401_and_append_nothing() {
    let h = harness().await;
    let secret = h.tenant.secrets.stripe.clone();
    let body = stripe_event("evt_sig");
    let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
        (
            "wrong secret",
            sign_t_v1("whsec_not_the_tenants", now(), &body),
            body.clone(),
            "invalid_signature",
        ),
        (
            "body changed after signing",
            sign_t_v1(&secret, now(), &body),
            stripe_event("evt_sig2"),
            "invalid_signature",
        ),
        (
            "timestamp changed after signing",
            sign_t_v1(&secret, now(), &body).replacen("t=", "t=1", 1),
            body.clone(),
            "invalid_signature",
        ),
        (
            "replayed an hour later",
            sign_t_v1(&secret, now() - 3_600, &body),
            body.clone(),
            "stale_timestamp",
        ),
        (
            "signed in the future",
            sign_t_v1(&secret, now() + 3_600, &body),
            body.clone(),
            "stale_timestamp",
        ),
        (
            "signature of zeros",
            format!("t={},v1={}", now(), "0".repeat(64)),
            body.clone(),
            "invalid_signature",
        ),
        (
            "v0 only",
            sign_t_v1(&secret, now(), &body).replace("v1=", "v0="),
            body.clone(),
            "invalid_signature",
        ),
    ];
    for (what, signature, body, want) in cases {
        let (status, code) = error_of(h.post_stripe(&signature, body).await).await;
        assert_eq!((status, code.as_str()), (401, want), "{what}");
    }
    // Standard Webhooks: a replay outside the window, and a forged id.
    let body =
        json!({"id": "std_1", "type": "track", "occurred_at": "2026-01-05T10:00:00Z", "name": "n"})
            .to_string()
            .into_bytes();
    let (status, code) =
        error_of(h.post_standard("msg_old", now() - 301, body.clone()).await).await;
    assert_eq!((status, code.as_str()), (401, "stale_timestamp"));
    let sig = sign_standard(&h.tenant.secrets.standard, "msg_a", now(), &body).unwrap();
    let resp = h
        .server
        .http
        .post(h.server.url("/v1/webhooks/standard/acme"))
        .header("webhook-id", "msg_b")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (401, "invalid_signature".to_owned()));
    assert!(
        h.logged_ids().await.is_empty(),
        "a forged request was appended"
    );
    // A replay inside the window is authentic: accepted once, then a
    // duplicate, never appended twice.
    let body = stripe_event("evt_once");
    let sig = sign_t_v1(&secret, now(), &body);
    let first: Value = h
        .post_stripe(&sig, body.clone())
        .await
        .json()
        .await
        .unwrap();
    let again: Value = h.post_stripe(&sig, body).await.json().await.unwrap();
    assert_eq!(first["status"], "accepted");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(h.logged_ids().await, ["evt_once"]);
}

/// A client that sends its headers one byte per second is dropped after
/// the header read timeout, and so is one that sends nothing; meanwhile
/// other clients are served normally.
#[tokio::test(flavor = "multi_thread")]
async fn slow_and_silent_clients_are_dropped_while_others_are_served() {
    let h = harness().await;
    let addr = h.server.addr;
    let trickle = |pause: Duration| {
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let request = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]";
            let mut buf = [0u8; 1024];
            for byte in request {
                if stream.write_all(&[*byte]).is_err() {
                    return started.elapsed();
                }
                let step = Instant::now();
                while step.elapsed() < pause {
                    match stream.read(&mut buf) {
                        // Closed (or answered 408 and closed): dropped.
                        Ok(0) => return started.elapsed(),
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return started.elapsed(),
                    }
                }
                if started.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
            Duration::MAX
        })
    };
    let silent = || {
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            started.elapsed()
        })
    };
    let slow: Vec<_> = (0..20).map(|_| trickle(Duration::from_secs(1))).collect();
    let quiet: Vec<_> = (0..20).map(|_| silent()).collect();
    // While they hang on, normal requests go through.
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.assert_serves_normally(&format!("evt_during_{i}")).await;
    }
    let bound = HEADER_READ_TIMEOUT + Duration::from_secs(2);
    for t in slow.into_iter().chain(quiet) {
        let took = tokio::task::spawn_blocking(move || t.join().unwrap())
            .await
            .unwrap();
        assert!(took <= bound, "a slow client was held for {took:?}");
        assert!(
            took >= HEADER_READ_TIMEOUT - Duration::from_millis(500),
            "dropped too early: {took:?}"
        );
    }
    h.assert_serves_normally("evt_after_slow").await;
}

/// Headers in time but a body that trickles: the request timeout answers
/// 408 in our format.
#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_body_gets_408() {
    let h = harness().await;
    let addr = h.server.addr;
    let key = h.tenant.ingest_key.clone();
    let (answer, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while started.elapsed() < Duration::from_secs(15) {
            let _ = stream.write_all(b" ");
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) if !answer.is_empty() => break,
                Err(_) => {}
            }
        }
        (answer, started.elapsed())
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(status_line(&answer).contains(" 408 "), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    assert!(took < REQUEST_TIMEOUT + Duration::from_secs(3), "{took:?}");
}

/// Hundreds of connections sending garbage (TLS hellos, bad request lines,
/// random bytes, nothing at all) do not block a well-formed request, and
/// each garbage connection is closed by the server.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_connections_do_not_block_a_good_request() {
    let h = harness().await;
    let addr = h.server.addr;
    let garbage: Vec<Vec<u8>> = vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
        b"POST /v1/events HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"POST /v1/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
        b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(),
        Vec::new(),
    ];
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let bytes = garbage[i % garbage.len()].clone();
            std::thread::spawn(move || {
                raw_exchange(addr, bytes, HEADER_READ_TIMEOUT + Duration::from_secs(5))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.assert_serves_normally("evt_during_flood").await;
    let mut answered_4xx = 0;
    for t in flood {
        let (answer, took) = tokio::task::spawn_blocking(move || t.join().unwrap())
            .await
            .unwrap();
        assert!(
            took <= HEADER_READ_TIMEOUT + Duration::from_secs(3),
            "a garbage connection stayed open {took:?}: {}",
            status_line(&answer)
        );
        let line = status_line(&answer);
        if !answer.is_empty() {
            assert!(line.starts_with("HTTP/1.1 4"), "{line}");
            answered_4xx += 1;
        }
    }
    assert!(answered_4xx >= 100, "only {answered_4xx} got a 4xx");
    h.assert_serves_normally("evt_after_flood").await;
    assert_eq!(
        h.logged_ids().await.len(),
        2,
        "garbage reached the log: {:?}",
        h.logged_ids().await
    );
}
