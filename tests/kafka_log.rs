//! The Kafka event log against a real broker (tansu here, anything
//! Kafka-compatible in principle): topic creation, keyed and ordered
//! delivery, rejection of oversize records, and invariant 1 across a broker
//! crash — no append answers Ok while the broker is down.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use revstream_ingest::log::kafka::{KafkaConfig, KafkaLog};
use revstream_ingest::log::{EventLog, LogEnvelope, LogError, LogRecord};
use revstream_schemas::{CanonicalEvent, TenantId};
use support::kafka::{Broker, Storage, unique_topic};

const TENANTS: [&str; 4] = ["acme", "beta-co", "gamma_3", "9delta"];

fn config(broker: &Broker, topic: &str, partitions: i32, timeout: Duration) -> KafkaConfig {
    KafkaConfig {
        topic: topic.to_owned(),
        partitions,
        message_timeout: timeout,
        ..KafkaConfig::new(broker.bootstrap.clone())
    }
}

/// A valid `track` event for `tenant`; `id` makes it recognizable when read back.
fn envelope(tenant: &str, id: &str) -> LogEnvelope {
    let json = format!(
        r#"{{"id":"{id}","type":"track","occurred_at":"2026-01-01T00:00:00Z","name":"test"}}"#
    );
    LogEnvelope {
        tenant: TenantId::parse(tenant).unwrap(),
        received_at: Utc::now(),
        event: CanonicalEvent::from_json(json.as_bytes()).unwrap(),
    }
}

/// `per_tenant` events for every tenant, interleaved the way concurrent
/// requests would interleave them; ids are `{label}-{tenant}-{seq}`.
fn batch(label: &str, per_tenant: usize) -> Vec<LogEnvelope> {
    (0..per_tenant)
        .flat_map(|seq| {
            TENANTS
                .iter()
                .map(move |t| envelope(t, &format!("{label}-{t}-{seq:04}")))
        })
        .collect()
}

fn records(envelopes: &[LogEnvelope]) -> Vec<LogRecord> {
    envelopes.iter().map(LogEnvelope::to_record).collect()
}

fn ids(envelopes: &[LogEnvelope]) -> Vec<String> {
    envelopes.iter().map(|e| e.event.id.to_string()).collect()
}

/// One record as a consumer sees it.
#[derive(Debug)]
struct Consumed {
    partition: i32,
    offset: i64,
    key: String,
    envelope: LogEnvelope,
}

/// Reads the topic from the beginning until every id in `expected` has
/// been seen and nothing more arrives for a moment, so duplicates and
/// strays are in the result too.
///
/// Not "up to the high watermark": tansu 0.6 reports the base offset of a
/// partition's last record batch + 1 as its high watermark, which stops
/// short of the end whenever a batch holds more than one record.
async fn consume_all(bootstrap: &str, topic: &str, expected: &[String]) -> Vec<Consumed> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    let expected: HashSet<String> = expected.iter().cloned().collect();
    tokio::task::spawn_blocking(move || consume_all_blocking(&bootstrap, &topic, expected))
        .await
        .unwrap()
}

fn consume_all_blocking(
    bootstrap: &str,
    topic: &str,
    mut missing: HashSet<String>,
) -> Vec<Consumed> {
    const QUIET: Duration = Duration::from_millis(1500);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_topic("kafka-log-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last_message = Instant::now();
    let mut out = Vec::new();
    while !missing.is_empty() || last_message.elapsed() < QUIET {
        if Instant::now() > deadline {
            eprintln!(
                "topic {topic}: gave up reading; {} expected records never arrived",
                missing.len()
            );
            break;
        }
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                eprintln!("consumer: {e}");
                continue;
            }
            Some(Ok(m)) => m,
        };
        last_message = Instant::now();
        let envelope = LogEnvelope::from_payload(message.payload().unwrap()).unwrap();
        missing.remove(envelope.event.id.as_str());
        out.push(Consumed {
            partition: message.partition(),
            offset: message.offset(),
            key: String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
            envelope,
        });
    }
    out
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): what the
/// Java client's default partitioner hashes keys with.
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition a Java producer picks for `key`.
fn java_partition(key: &str, partitions: usize) -> i32 {
    ((murmur2(key.as_bytes()) & 0x7fff_ffff) as usize % partitions) as i32
}

#[test]
fn murmur2_matches_kafkas_test_vectors() {
    // From Kafka's UtilsTest.testMurmur2.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58_897_971
    );
    assert_eq!(murmur2(b"abc"), 479_470_107);
}

/// Asserts that every id in `expected` was consumed exactly once.
fn assert_exactly_once(consumed: &[Consumed], expected: &[String]) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for c in consumed {
        *seen.entry(c.envelope.event.id.as_str()).or_default() += 1;
    }
    for id in expected {
        assert_eq!(
            seen.get(id.as_str()).copied(),
            Some(1),
            "event {id} must be in the log exactly once"
        );
    }
}

#[tokio::test]
async fn connect_creates_the_topic_with_the_configured_partitions() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let topic = unique_topic("kafka-log-create");
    let log = KafkaLog::connect(config(&broker, &topic, 5, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(log.partitions(), 5);
    assert_eq!(
        log.describe(),
        format!("kafka {} topic {topic} (5 partitions)", broker.bootstrap)
    );

    // What the cluster says, asked independently of the log.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 5);

    // Connecting again finds the topic and keeps its partition count.
    let again = KafkaLog::connect(config(&broker, &topic, 3, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(again.partitions(), 5);
    assert!(again.check().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_once_keyed_by_tenant_in_order() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let topic = unique_topic("kafka-log-order");
    let partitions = 8;
    let log = std::sync::Arc::new(
        KafkaLog::connect(config(&broker, &topic, partitions, Duration::from_secs(10)))
            .await
            .unwrap(),
    );
    log.check().await.unwrap();

    // One large batch, then concurrent appends sharing the producer.
    let first = batch("first", 50);
    log.append(records(&first)).await.unwrap();
    let concurrent: Vec<Vec<LogEnvelope>> =
        (0..4).map(|i| batch(&format!("conc{i}"), 10)).collect();
    let tasks: Vec<_> = concurrent
        .iter()
        .map(|b| {
            let (log, records) = (log.clone(), records(b));
            tokio::spawn(async move { log.append(records).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(
        log.append(Vec::new()).await.is_ok(),
        "an empty batch is trivially durable"
    );

    let mut expected = ids(&first);
    expected.extend(concurrent.iter().flat_map(|b| ids(b)));
    let consumed = consume_all(&broker.bootstrap, &topic, &expected).await;
    assert_eq!(
        consumed.len(),
        expected.len(),
        "the log holds exactly what was appended"
    );
    assert_exactly_once(&consumed, &expected);

    let mut partition_of: BTreeMap<&str, HashSet<i32>> = BTreeMap::new();
    for c in &consumed {
        assert_eq!(c.key, c.envelope.tenant.to_string(), "key = tenant");
        assert_eq!(
            c.partition,
            java_partition(&c.key, partitions as usize),
            "Java-compatible partition for {}",
            c.key
        );
        partition_of
            .entry(c.envelope.tenant.as_str())
            .or_default()
            .insert(c.partition);
    }
    for (tenant, ps) in &partition_of {
        assert_eq!(ps.len(), 1, "tenant {tenant} spread over partitions {ps:?}");
    }
    assert_eq!(partition_of.len(), TENANTS.len());

    // Within the first batch, each tenant's records are in append order.
    for tenant in TENANTS {
        let mut in_log: Vec<&Consumed> = consumed
            .iter()
            .filter(|c| c.key == tenant && c.envelope.event.id.as_str().starts_with("first-"))
            .collect();
        in_log.sort_by_key(|c| c.offset);
        let in_log: Vec<&str> = in_log
            .iter()
            .map(|c| c.envelope.event.id.as_str())
            .collect();
        let appended: Vec<String> = first
            .iter()
            .filter(|e| e.tenant.as_str() == tenant)
            .map(|e| e.event.id.to_string())
            .collect();
        assert_eq!(in_log, appended, "order of tenant {tenant}");
    }
}

#[tokio::test]
async fn an_oversize_record_is_rejected_and_small_ones_still_go_through() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let topic = unique_topic("kafka-log-size");
    let mut config = config(&broker, &topic, 2, Duration::from_secs(10));
    config
        .extra
        .push(("message.max.bytes".to_owned(), "2000".to_owned()));
    let log = KafkaLog::connect(config).await.unwrap();

    // A valid event, just too large for this log: a long `name`.
    let big = |id: &str| {
        let mut e = envelope("acme", id);
        e.event.name = Some("x".repeat(4_000));
        e.to_record()
    };
    let alone = big("big-alone");
    let size = alone.payload.len();
    let err = log
        .append(vec![alone])
        .await
        .expect_err("4 kB > message.max.bytes");
    let LogError::Rejected(message) = &err else {
        panic!("expected Rejected, got {err:?}")
    };
    assert!(
        message.contains("tenant acme") && message.contains(&format!("{size} bytes")),
        "{message}"
    );

    // In a batch, the oversize record fails the whole append, and the
    // records after it are not sent at all.
    let mixed_envelopes = batch("mixed", 1);
    let mut mixed = records(&mixed_envelopes);
    mixed.insert(2, big("big-in-batch"));
    let err = log
        .append(mixed)
        .await
        .expect_err("the batch holds an oversize record");
    assert!(
        matches!(err, LogError::Rejected(ref m) if m.contains("record 2 of 5")),
        "{err:?}"
    );

    let small = batch("small", 2);
    log.append(records(&small)).await.unwrap();
    let consumed = consume_all(&broker.bootstrap, &topic, &ids(&small)).await;
    assert_exactly_once(&consumed, &ids(&small));
    let unsent: Vec<String> = ids(&mixed_envelopes[2..]);
    for c in &consumed {
        let id = c.envelope.event.id.as_str();
        assert!(
            !id.starts_with("big-"),
            "oversize record {id} reached the log"
        );
        assert!(
            !unsent.iter().any(|u| u == id),
            "{id} came after the rejected record yet was sent"
        );
    }
}

#[tokio::test]
async fn check_is_ok_against_a_live_broker() {
    let Some(broker) = Broker::shared() else {
        return;
    };
    let topic = unique_topic("kafka-log-check");
    let log = KafkaLog::connect(config(&broker, &topic, 1, Duration::from_secs(10)))
        .await
        .unwrap();
    log.check().await.unwrap();
}

/// Invariant 1 across a crash: while the broker is gone every append fails
/// with `Unavailable` within the message timeout, none says Ok; after a
/// restart appends succeed again and their records can be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_while_the_broker_is_down_and_recover_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let Some(mut broker) = Broker::spawn_own(Storage::Sqlite(data.path().to_owned())) else {
        return;
    };
    let topic = unique_topic("kafka-log-down");
    let timeout = Duration::from_secs(3);
    let log = std::sync::Arc::new(
        KafkaLog::connect(config(&broker, &topic, 4, timeout))
            .await
            .unwrap(),
    );

    let before = batch("before", 10);
    log.append(records(&before)).await.unwrap();

    broker.kill();
    let killed = Instant::now();
    // Several appends at once, as concurrent requests would make them.
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (log, records) = (log.clone(), records(&batch(&format!("down{i}"), 3)));
            tokio::spawn(async move {
                let started = Instant::now();
                (log.append(records).await, started.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (result, took) = task.await.unwrap();
        match result {
            Err(LogError::Unavailable(message)) => {
                eprintln!("down: failed after {took:?}: {message}")
            }
            other => panic!("append while the broker is down answered {other:?}"),
        }
        // librdkafka's timeout, its ~1 s timeout scan and our grace.
        assert!(
            took < timeout + Duration::from_secs(3),
            "append took {took:?} to fail"
        );
    }
    // Still failing after the first timeouts: nothing got "stuck Ok".
    let result = log.append(records(&batch("down-again", 1))).await;
    assert!(
        matches!(result, Err(LogError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        log.check().await.is_err(),
        "check must fail while the broker is down"
    );
    eprintln!("down: broker dead for {:?}", killed.elapsed());

    broker.restart();
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(30);
    let mut attempt = 0;
    let after = loop {
        let candidate = batch(&format!("after{attempt}"), 5);
        match log.append(records(&candidate)).await {
            Ok(()) => break candidate,
            Err(LogError::Unavailable(message)) if Instant::now() < deadline => {
                eprintln!(
                    "restart: attempt {attempt} failed after {:?}: {message}",
                    restarted.elapsed()
                );
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("appends did not recover within 30 s of the restart: {e}"),
        }
    };
    eprintln!(
        "restart: appends recovered {:?} after the restart ({attempt} failed attempts)",
        restarted.elapsed()
    );
    log.check().await.unwrap();

    let mut expected = ids(&before);
    expected.extend(ids(&after));
    let consumed = consume_all(&broker.bootstrap, &topic, &expected).await;
    assert_exactly_once(&consumed, &ids(&before));
    assert_exactly_once(&consumed, &ids(&after));
}
