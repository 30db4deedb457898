//! Invariant 1 over HTTP on the real broker: while Kafka is down, ingest
//! answers 503 with Retry-After and never 2xx; after the broker returns,
//! ingest resumes and what it acknowledged is in the topic.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use revstream_ingest::http::IngestConfig;
use revstream_ingest::log::kafka::{KafkaConfig, KafkaLog};
use revstream_ingest::verify::sign_t_v1;
use serde_json::json;
use support::kafka::{Broker, Storage, unique_topic};
use support::server::{TestServer, now};

fn stripe_event(id: &str) -> Vec<u8> {
    json!({"id": id, "object": "event", "type": "customer.created", "created": 1767225600,
           "data": {"object": {"id": format!("cus_{id}"), "object": "customer", "email": "a@example.com"}}})
    .to_string()
    .into_bytes()
}

async fn send(server: &TestServer, secret: &str, id: &str) -> reqwest::Response {
    let body = stripe_event(id);
    server
        .http
        .post(server.url("/v1/webhooks/stripe/acme"))
        .header("Stripe-Signature", sign_t_v1(secret, now(), &body))
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_answers_503_never_2xx_and_ingest_resumes() {
    let data = tempfile::tempdir().unwrap();
    let Some(mut broker) = Broker::spawn_own(Storage::Sqlite(data.path().to_owned())) else {
        return;
    };
    let mut config = KafkaConfig::new(broker.bootstrap.clone());
    config.topic = unique_topic("ingest-outage");
    config.partitions = 2;
    config.message_timeout = Duration::from_secs(3);
    let log = Arc::new(KafkaLog::connect(config).await.unwrap());
    let server = Arc::new(TestServer::start(log, IngestConfig::default()).await);
    let t = server.tenant_with_secrets("acme").await;
    let secret = t.secrets.stripe.clone();

    assert_eq!(
        send(&server, &secret, "evt_before").await.status(),
        StatusCode::OK
    );

    broker.kill();
    // Concurrent deliveries during the outage: each must be refused.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (server, secret) = (server.clone(), secret.clone());
            tokio::spawn(async move {
                let resp = send(&server, &secret, &format!("evt_down_{i}")).await;
                let retry_after = resp.headers().get("retry-after").is_some();
                (resp.status(), retry_after)
            })
        })
        .collect();
    for task in tasks {
        let (status, retry_after) = task.await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "no 2xx while the broker is down"
        );
        assert!(retry_after, "503 carries Retry-After");
    }
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    broker.restart();
    // Providers retry; within a bounded time the same delivery succeeds.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = send(&server, &secret, "evt_down_0").await.status();
        if status == StatusCode::OK || Instant::now() > deadline {
            break status;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "only 503 until the broker is back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        status,
        StatusCode::OK,
        "ingest resumed after the broker returned"
    );
    assert_eq!(
        send(&server, &secret, "evt_after").await.status(),
        StatusCode::OK
    );
}
