//! Reading the Kafka topic as one member of a consumer group. Several
//! pipeline processes share the partitions; the group hands a partition to a
//! new owner when one leaves.
//!
//! Positions: the tables are the truth. Group offsets are committed only
//! after the tables committed the same positions, so they can lag but never
//! lead; a new owner starts at the group offset and drops what the tables
//! already have (it loaded that partition's events first). A member that
//! must rewind a partition it is consuming (another writer committed it)
//! seeks to the tables' position.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::{LogSource, SourceBatch, SourceError, SourceRecord};

/// Longest wait for librdkafka to apply a seek.
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub brokers: String,
    pub topic: String,
    /// Consumer group shared by all pipeline processes of one deployment.
    pub group_id: String,
    /// Extra librdkafka settings.
    pub extra: Vec<(String, String)>,
}

/// How often librdkafka reports statistics (the lag metric's resolution),
/// unless `extra` sets `statistics.interval.ms`.
pub const STATS_INTERVAL_MS: u32 = 5_000;

/// Ownership changes seen by librdkafka's rebalance callbacks, drained by
/// `next_batch` in order.
#[derive(Debug, Default)]
struct Changes {
    assigned: Vec<u32>,
    revoked: Vec<u32>,
}

struct GroupContext {
    topic: String,
    changes: Arc<Mutex<Changes>>,
    /// Records behind the high watermark per partition, from the latest
    /// statistics.
    lag: Arc<Mutex<HashMap<u32, u64>>>,
}

impl GroupContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<u32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .filter_map(|e| u32::try_from(e.partition()).ok())
            .collect()
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        // -1 means unknown (no fetch or no committed offset yet); the
        // internal "unassigned" partition is -1 too.
        let lag: HashMap<u32, u64> = topic
            .partitions
            .values()
            .filter_map(|p| {
                Some((
                    u32::try_from(p.partition).ok()?,
                    u64::try_from(p.consumer_lag).ok()?,
                ))
            })
            .collect();
        *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = lag;
    }
}

impl ConsumerContext for GroupContext {
    // Revocations are recorded before the partitions go, assignments after
    // they arrive: `next_batch` returns each change before any record that
    // depends on it.
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts = self.partitions(tpl);
            let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
            c.assigned.retain(|p| !parts.contains(p));
            c.revoked.extend(parts);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = self.partitions(tpl);
                let mut c = self.changes.lock().unwrap_or_else(|p| p.into_inner());
                c.revoked.retain(|p| !parts.contains(p));
                c.assigned.extend(parts);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }
}

pub struct KafkaSource {
    consumer: StreamConsumer<GroupContext>,
    config: KafkaSourceConfig,
    partition_count: u32,
    changes: Arc<Mutex<Changes>>,
    lag: Arc<Mutex<HashMap<u32, u64>>>,
    /// The partitions reported as assigned and not since revoked.
    owned: BTreeSet<u32>,
    /// Owned partitions that delivered records since they were assigned.
    consuming: BTreeSet<u32>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topic", &self.config.topic)
            .field("group", &self.config.group_id)
            .finish()
    }
}

impl KafkaSource {
    /// Joins the group and subscribes to the topic (which must exist:
    /// ingest creates it).
    pub async fn connect(config: KafkaSourceConfig) -> Result<Self, SourceError> {
        let changes = Arc::new(Mutex::new(Changes::default()));
        let lag = Arc::new(Mutex::new(HashMap::new()));
        let context = GroupContext {
            topic: config.topic.clone(),
            changes: changes.clone(),
            lag: lag.clone(),
        };
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // Also the rebalance timeout: how long the group waits for a
            // member to rejoin before it goes on without it. Kafka's
            // default (5 minutes) would stall every partition of the group
            // that long after one member dies; a cycle (read, derive,
            // commit) is far shorter than this.
            .set("max.poll.interval.ms", "30000")
            .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
        for (k, v) in &config.extra {
            client.set(k, v);
        }
        let consumer: StreamConsumer<GroupContext> = client
            .create_with_context(context)
            .map_err(|e| SourceError(format!("creating the Kafka consumer: {e}")))?;
        let topic = config.topic.clone();
        // Metadata calls block; keep them off the async workers.
        let (consumer, count) = tokio::task::spawn_blocking(move || {
            let meta = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .map_err(|e| SourceError(format!("reading metadata of topic {topic}: {e}")))?;
            let count = meta
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .map_or(0, |t| t.partitions().len());
            if count == 0 {
                return Err(SourceError(format!(
                    "topic {topic} has no partitions (does it exist? ingest creates it)"
                )));
            }
            consumer
                .subscribe(&[topic.as_str()])
                .map_err(|e| SourceError(format!("subscribing to {topic}: {e}")))?;
            Ok((consumer, count as u32))
        })
        .await
        .map_err(|e| SourceError(e.to_string()))??;
        Ok(Self {
            consumer,
            config,
            partition_count: count,
            changes,
            lag,
            owned: BTreeSet::new(),
            consuming: BTreeSet::new(),
        })
    }

    fn take_changes(&self) -> Changes {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait::async_trait]
impl LogSource for KafkaSource {
    fn log_id(&self) -> String {
        format!("kafka/{}", self.config.topic)
    }

    fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// Rewinds partitions this member is already consuming (after another
    /// writer committed them, see the runner's fence). A fresh assignment
    /// is left where the group offsets put it: they never lead the tables,
    /// and re-read records are dropped as duplicates. (On tansu 0.6 with
    /// memory storage, resuming in the middle of a stored record batch,
    /// from a seek or a committed group offset, never returns the rest of
    /// that batch: its fetch starts at the first batch whose base offset is
    /// at or after the requested one. Its SQLite storage fetches per
    /// record; the rebalance tests use it.)
    fn seek(&mut self, partitions: &[u32], positions: &HashMap<u32, i64>) {
        for &p in partitions.iter().filter(|p| self.consuming.contains(p)) {
            let Ok(partition) = i32::try_from(p) else {
                continue;
            };
            let offset = positions
                .get(&p)
                .map_or(Offset::Beginning, |&next| Offset::Offset(next));
            // Only fails for a partition no longer assigned to us; the
            // revocation arrives with the next batch.
            if let Err(e) = self
                .consumer
                .seek(&self.config.topic, partition, offset, SEEK_TIMEOUT)
            {
                tracing::warn!(partition = p, error = %e, "rewinding to the tables' position failed");
            }
        }
    }

    /// Ownership changes are reported with the batch; the pipeline applies
    /// them (loading state of new partitions, dropping revoked records)
    /// before it looks at any record.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<SourceBatch, SourceError> {
        let mut batch = SourceBatch::default();
        let deadline = tokio::time::Instant::now() + wait;
        while batch.records.len() < max {
            let message = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consumer error");
                    break;
                }
                Ok(Ok(m)) => m,
            };
            let (Ok(partition), Ok(offset)) = (
                u32::try_from(message.partition()),
                u64::try_from(message.offset()),
            ) else {
                continue;
            };
            self.consuming.insert(partition);
            batch.records.push(SourceRecord {
                partition,
                offset,
                payload: message.payload().unwrap_or_default().to_vec(),
            });
        }
        let changes = self.take_changes();
        for p in changes.revoked.iter().chain(&changes.assigned) {
            self.owned.remove(p);
            self.consuming.remove(p);
        }
        self.owned.extend(changes.assigned.iter().copied());
        batch.assigned.extend(changes.assigned);
        batch.revoked.extend(changes.revoked);
        Ok(batch)
    }

    fn lag(&self) -> Vec<(u32, u64)> {
        let lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        self.owned
            .iter()
            .filter_map(|p| Some((*p, *lag.get(p)?)))
            .collect()
    }

    async fn committed(&mut self, positions: &[(u32, i64)]) {
        let mut tpl = TopicPartitionList::new();
        for &(p, next) in positions {
            let Ok(partition) = i32::try_from(p) else {
                continue;
            };
            if tpl
                .add_partition_offset(&self.config.topic, partition, Offset::Offset(next))
                .is_err()
            {
                return;
            }
        }
        // Async: the tables hold the truth; a lost group commit only means
        // re-reading records that are then dropped as duplicates.
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "group offset commit failed (harmless)");
        }
    }
}
