//! The pipeline loop: read a batch, keep the new distinct events, derive
//! the touched tenants, commit tables and offsets together, repeat.
//!
//! ```text
//!  assign: offsets ← events table txn · state ← events of those partitions · seek
//!  cycle: batch ← log · decode · new events → state · derive(touched) · [stage] · commit(rewrites, events, offsets)
//! ```
//!
//! With a staged tier ([`Pipeline::stage_into`], as `serve` runs it) the
//! derived rows are handed to the query side of the same process before
//! the commit, so dashboards see them while the Delta commits run.
//!
//! Decoding and deriving are CPU work: they run on the pipeline's own
//! threads, one per core (`spread`, `decode`, `build`), never on the async
//! runtime that `serve`'s ingest and query requests share.
//!
//! A failed commit is retried with backoff, reading nothing new meanwhile:
//! the pipeline pauses while storage is down and resumes where it was.
//!
//! While it catches up on a backlog (a cycle reads a full batch), the
//! pipeline commits the new events and their offsets every cycle but
//! derives the touched tenants at most once per
//! [`PipelineConfig::backlog_derive_interval`]: each derivation reads all of
//! a tenant's events, so deriving on every cycle of a long backlog costs
//! the square of its length. The tenants wait in `dirty`, as after a
//! restart; the first cycle that reads less than a full batch (or a stop)
//! derives them all, so the tables end exactly as if every cycle had.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use revstream_ingest::log::LogEnvelope;
use revstream_schemas::TenantId;
use revstream_schemas::staged::StagedRows;
use tokio::sync::watch;

use crate::derive::TenantSettings;
use crate::settings::{SettingsSource, SettingsUnavailable};
use crate::source::{LogSource, SourceError, SourceRecord};
use crate::state::State;
use crate::store::{Commit, MaintenancePolicy, StoreError, TableStore};
use crate::telemetry::PipelineMetrics;

mod background;
mod build;
mod commit;
mod decode;
mod maintain;
mod spread;

use commit::CommitOutcome;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Most records read and committed in one cycle.
    pub max_batch: usize,
    /// Longest wait for the first record of a cycle.
    pub max_wait: Duration,
    /// Longest pause between commit retries while storage is down.
    pub max_backoff: Duration,
    /// While cycles read full batches (a backlog), touched tenants are
    /// derived at most this often; their metric tables lag the `events`
    /// table by up to this much until the pipeline has caught up. Zero
    /// derives on every cycle.
    pub backlog_derive_interval: Duration,
    /// Compaction and vacuum of the tables.
    pub maintenance: MaintenancePolicy,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_batch: 100_000,
            max_wait: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            backlog_derive_interval: Duration::from_secs(5),
            maintenance: MaintenancePolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stopped while waiting for tenant settings.
    #[error(transparent)]
    Settings(#[from] SettingsUnavailable),
}

/// Counters for `/metrics` and benches.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub records_read: AtomicU64,
    pub events_committed: AtomicU64,
    pub duplicates: AtomicU64,
    pub undecodable: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub last_commit_micros: AtomicU64,
    /// Time spent deriving and building batches, in all cycles.
    pub build_micros: AtomicU64,
    /// Time spent in successful commits, in all cycles.
    pub commit_micros: AtomicU64,
    /// The longest single build and commit so far: what a freshness
    /// outlier waited for.
    pub longest_build_micros: AtomicU64,
    pub longest_commit_micros: AtomicU64,
    /// Compactions that rewrote at least one partition, and failed ones.
    pub compactions: AtomicU64,
    pub compaction_failures: AtomicU64,
    /// Events held in the per-tenant state, as of the last cycle.
    pub state_events: AtomicU64,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Whether partitions were taken over in this cycle.
    pub assigned: bool,
    pub records: usize,
    pub new_events: usize,
    pub tenants: usize,
    pub committed: bool,
    /// Whether the touched tenants were derived (false on a cycle of a
    /// backlog that left them for a later one).
    pub derived: bool,
}

pub struct Pipeline<S: LogSource> {
    source: S,
    store: Arc<TableStore>,
    settings: Arc<dyn SettingsSource>,
    config: PipelineConfig,
    state: State,
    /// The log partition each tenant's events come from (keyed by tenant).
    partition_of: HashMap<TenantId, u32>,
    /// Tenants to derive on the next cycle even without new events: after a
    /// restart, or a backlog cycle that left them, the derived tables may
    /// lag the events table.
    dirty: BTreeSet<TenantId>,
    /// When touched tenants were last derived (or the pipeline started).
    last_derived: Instant,
    /// `received_at` of committed events whose tenants are not derived yet:
    /// they count as visible (freshness) once their metrics are.
    not_yet_visible: Vec<chrono::DateTime<chrono::Utc>>,
    stats: Arc<PipelineStats>,
    metrics: PipelineMetrics,
    committed: watch::Sender<u64>,
    /// Next offset to read per owned partition as the tables hold it
    /// (absent: nothing committed yet). A commit that finds the tables
    /// elsewhere knows another writer took the partition.
    positions: HashMap<u32, i64>,
    /// When compaction and vacuum last ran (`None`: not yet).
    last_compaction: Option<Instant>,
    last_vacuum: Option<Instant>,
    /// The maintenance task (compaction, checkpoints) running beside the
    /// cycles, if one was started.
    maintenance_task: Option<tokio::task::JoinHandle<()>>,
    /// Where derived rows are shown to an in-process query side before
    /// their commit lands (see [`Pipeline::stage_into`]).
    staged: Option<Arc<StagedRows>>,
    /// The commit (counter value) whose rows are staged and not yet landed.
    staged_commit: Option<u64>,
}

impl<S: LogSource> std::fmt::Debug for Pipeline<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("log", &self.source.log_id())
            .field("tenants", &self.state.tenants.len())
            .finish()
    }
}

/// One new event of this cycle (its tenant, event and `received_at`, as
/// decoded), with where the events table says it was read.
struct Fresh {
    envelope: Box<LogEnvelope>,
    /// The event's JSON for the `payload` column, when the record's text
    /// can be stored as is.
    event_json: Option<Box<str>>,
    partition: u32,
    offset: u64,
}

impl<S: LogSource> Pipeline<S> {
    /// A pipeline over `source`. State is loaded per partition as the source
    /// reports ownership (all of them at once for the local log; whatever the
    /// consumer group assigns for Kafka).
    pub fn new(
        source: S,
        store: Arc<TableStore>,
        settings: Arc<dyn SettingsSource>,
        config: PipelineConfig,
    ) -> Self {
        let stats = Arc::new(PipelineStats::default());
        Self {
            source,
            store,
            settings,
            config,
            state: State::default(),
            partition_of: HashMap::new(),
            dirty: BTreeSet::new(),
            last_derived: Instant::now(),
            not_yet_visible: Vec::new(),
            stats: stats.clone(),
            metrics: PipelineMetrics::new(stats),
            committed: watch::channel(0).0,
            positions: HashMap::new(),
            last_compaction: None,
            last_vacuum: None,
            maintenance_task: None,
            staged: None,
            staged_commit: None,
        }
    }

    /// Stages each cycle's derived rows in `tier` before committing them,
    /// so that a query side in this process (given the same tier and
    /// [`Pipeline::commits`]) answers from them while the commit runs.
    /// Rows of a commit that fails are withdrawn until it lands.
    pub fn stage_into(&mut self, tier: Arc<StagedRows>) {
        self.staged = Some(tier);
    }

    /// Takes over partitions: their committed positions and the state of
    /// their tenants, read back from the events table.
    async fn assign(&mut self, partitions: &[u32]) -> Result<(), PipelineError> {
        // What the previous owner committed must be seen, or its last
        // events would be missing from the state rebuilt here.
        self.store.refresh().await?;
        let offsets = self
            .store
            .committed_offsets(self.source.partition_count())
            .await?;
        let positions: HashMap<u32, i64> = offsets
            .into_iter()
            .filter(|(p, _)| partitions.contains(p))
            .collect();
        self.source.seek(partitions, &positions);
        for p in partitions {
            match positions.get(p) {
                Some(&next) => self.positions.insert(*p, next),
                None => self.positions.remove(p),
            };
        }
        let stored = self.store.load_events(partitions).await?;
        let loaded = stored.len();
        for e in stored {
            self.partition_of.insert(e.tenant.clone(), e.log_partition);
            self.dirty.insert(e.tenant.clone());
            self.state.insert(&e.tenant, &e.event);
        }
        tracing::info!(
            log = %self.source.log_id(),
            ?partitions,
            ?positions,
            events = loaded,
            "partitions assigned; state restored"
        );
        Ok(())
    }

    /// Gives partitions up: their tenants' state goes (the next owner
    /// rebuilds it from the tables).
    fn revoke(&mut self, partitions: &[u32]) {
        let gone: Vec<TenantId> = self
            .partition_of
            .iter()
            .filter(|(_, p)| partitions.contains(p))
            .map(|(t, _)| t.clone())
            .collect();
        for t in &gone {
            self.partition_of.remove(t);
            self.state.tenants.remove(t);
            self.dirty.remove(t);
        }
        for p in partitions {
            self.positions.remove(p);
        }
        tracing::info!(?partitions, tenants = gone.len(), "partitions revoked");
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// The Prometheus view of this pipeline, to register for `/metrics`.
    pub fn metrics(&self) -> PipelineMetrics {
        self.metrics.clone()
    }

    /// Ticks once per successful commit; the query side uses it to know
    /// when tables changed.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Cycles until `stop` is set. A cycle in progress finishes (its commit
    /// lands) before the loop returns: shutdown never leaves half a cycle,
    /// and tenants a backlog left underived are derived before it returns.
    pub async fn run(mut self, stop: Arc<AtomicBool>) -> Result<(), PipelineError> {
        while !stop.load(Ordering::Relaxed) {
            self.cycle(&stop).await?;
        }
        self.derive_dirty(&stop).await?;
        self.finish_maintenance().await;
        tracing::info!("pipeline stopped");
        Ok(())
    }

    /// Derives and commits the tenants left for later (reading nothing), so
    /// the metric tables catch up with the `events` table.
    pub async fn derive_dirty(&mut self, stop: &AtomicBool) -> Result<CycleReport, PipelineError> {
        if self.dirty.is_empty() {
            return Ok(CycleReport::default());
        }
        self.process(Vec::new(), false, stop).await
    }

    /// Whether this cycle derives its touched tenants: always, unless it
    /// read a full batch (a backlog) within the interval of the last one.
    fn derives_now(&self, read: usize) -> bool {
        read < self.config.max_batch
            || self.last_derived.elapsed() >= self.config.backlog_derive_interval
    }

    /// Reads one batch and commits what it changed.
    pub async fn cycle(&mut self, stop: &AtomicBool) -> Result<CycleReport, PipelineError> {
        // Here everything read so far is committed: lag is from the tables.
        self.metrics.set_lag(&self.source.lag());
        let batch = self
            .source
            .next_batch(self.config.max_batch, self.config.max_wait)
            .await?;
        if !batch.revoked.is_empty() {
            self.revoke(&batch.revoked);
        }
        if !batch.assigned.is_empty() {
            self.assign(&batch.assigned).await?;
        }
        let records: Vec<_> = batch
            .records
            .into_iter()
            .filter(|r| !batch.revoked.contains(&r.partition))
            .collect();
        let assigned = !batch.assigned.is_empty();
        self.process(records, assigned, stop).await
    }

    /// Takes a cycle's records into the state, derives (or leaves for
    /// later) the touched tenants and commits.
    async fn process(
        &mut self,
        records: Vec<SourceRecord>,
        assigned: bool,
        stop: &AtomicBool,
    ) -> Result<CycleReport, PipelineError> {
        if records.is_empty() && self.dirty.is_empty() {
            return Ok(CycleReport {
                assigned,
                ..CycleReport::default()
            });
        }
        let read = records.len();
        self.stats
            .records_read
            .fetch_add(read as u64, Ordering::Relaxed);

        let mut offsets: BTreeMap<u32, i64> = BTreeMap::new();
        let mut fresh = Vec::new();
        let mut touched: BTreeSet<TenantId> = std::mem::take(&mut self.dirty);
        for record in decode::decode(records).await {
            let next = i64::try_from(record.offset + 1).unwrap_or(i64::MAX);
            offsets
                .entry(record.partition)
                .and_modify(|o| *o = (*o).max(next))
                .or_insert(next);
            let envelope = match record.envelope {
                Ok(e) => e,
                Err(e) => {
                    // Ingest writes only validated envelopes; this is damage
                    // or a foreign producer. Skip it loudly, keep going.
                    self.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(partition = record.partition, offset = record.offset, error = %e, "undecodable log record skipped");
                    continue;
                }
            };
            // A tenant's records come from one partition, so these copy its
            // id once per tenant and cycle, not once per record.
            if self.partition_of.get(&envelope.tenant) != Some(&record.partition) {
                self.partition_of
                    .insert(envelope.tenant.clone(), record.partition);
            }
            if self.state.insert(&envelope.tenant, &envelope.event) {
                if !touched.contains(&envelope.tenant) {
                    touched.insert(envelope.tenant.clone());
                }
                fresh.push(Fresh {
                    envelope,
                    event_json: record.event_json,
                    partition: record.partition,
                    offset: record.offset,
                });
            } else {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }

        let settings = self.settings_of(&touched, stop).await?;
        let derived = self.derives_now(read);
        let started = Instant::now();
        let none_now = BTreeSet::new();
        let to_derive = if derived {
            self.last_derived = started;
            &touched
        } else {
            // Left for a later cycle; in `dirty` before the commit, so a
            // takeover of their partitions during it drops them with the
            // rest of their state.
            self.dirty.clone_from(&touched);
            &none_now
        };
        // Tenants derived without a record of their partition in this cycle
        // (left by a backlog, or just reloaded) have no offset in the
        // commit to fence them: a writer that lost their partition would
        // overwrite the owner's rows with what it holds. So their
        // partitions' positions are committed too, unchanged.
        let Some(fence) = self.fence_quiet(to_derive, &offsets).await else {
            tracing::warn!(
                "another pipeline committed partitions of tenants waiting to be derived; reloading them from the tables"
            );
            self.invalidate(&touched);
            let mut all: BTreeSet<u32> = offsets.keys().copied().collect();
            all.extend(
                touched
                    .iter()
                    .filter_map(|t| self.partition_of.get(t).copied()),
            );
            let all: Vec<u32> = all.into_iter().collect();
            return self.start_over(&all, read).await;
        };
        let built = build::build(&mut self.state, to_derive, settings, fresh).await?;
        let built_in = started.elapsed();
        self.metrics.build_took(built_in);
        self.stats
            .state_events
            .store(self.state.events() as u64, Ordering::Relaxed);
        let fresh = built.fresh;
        if let Some(tier) = &self.staged
            && !built.staged.is_empty()
        {
            // Counted when the commit lands; the query side prunes these
            // once its tables include that commit.
            let commit = *self.committed.borrow() + 1;
            tier.stage(commit, built.staged);
            self.staged_commit = Some(commit);
        }
        // What this cycle read; the fence's unchanged positions are only
        // for the tables.
        let positions: Vec<(u32, i64)> = offsets.into_iter().collect();
        let commit = Commit {
            rewrites: built.rewrites,
            events: built.events,
            offsets: positions.iter().copied().chain(fence).collect(),
            events_committed: false,
        };
        let outcome = self.commit_with_retry(commit, &touched, stop).await?;
        tracing::debug!(
            records = read,
            tenants = touched.len(),
            derived,
            build_ms = built_in.as_millis() as u64,
            commit_ms = (started.elapsed() - built_in).as_millis() as u64,
            "cycle committed"
        );
        if let CommitOutcome::Lost(partitions) = outcome {
            return self.start_over(&partitions, read).await;
        }
        // Counted before anything else awaits: the commit is already
        // visible to queries, and a scrape should not lag further behind.
        let received = fresh.iter().map(|f| f.envelope.received_at);
        if derived {
            let waited = std::mem::take(&mut self.not_yet_visible);
            self.metrics
                .visible(waited.into_iter().chain(received), chrono::Utc::now());
        } else {
            self.not_yet_visible.extend(received);
        }
        self.stats
            .events_committed
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        self.source.committed(&positions).await;
        self.maintain_if_due().await;
        Ok(CycleReport {
            assigned,
            records: read,
            new_events: fresh.len(),
            tenants: touched.len(),
            committed: true,
            derived,
        })
    }

    /// Another writer committed these partitions: forgets this cycle for
    /// them and starts over from what the tables hold (their state
    /// reloaded, reading resumed at the tables' positions).
    async fn start_over(
        &mut self,
        partitions: &[u32],
        read: usize,
    ) -> Result<CycleReport, PipelineError> {
        self.revoke(partitions);
        self.assign(partitions).await?;
        Ok(CycleReport {
            assigned: true,
            records: read,
            ..CycleReport::default()
        })
    }

    /// The positions of the partitions whose tenants this cycle derives
    /// without having read a record of them, to commit unchanged: a commit
    /// of the partition by another writer since then fails this one (Delta
    /// checks `txn` ids of concurrent commits). `None` when the tables
    /// already hold another writer's position for one of them; committing
    /// ours would move its offset back. When the positions cannot be read
    /// (storage is down) the cycle goes unfenced, as before the fence
    /// existed: its commit waits for storage like any other.
    async fn fence_quiet(
        &self,
        derived: &BTreeSet<TenantId>,
        read: &BTreeMap<u32, i64>,
    ) -> Option<Vec<(u32, i64)>> {
        let quiet: BTreeSet<u32> = derived
            .iter()
            .filter_map(|t| self.partition_of.get(t).copied())
            .filter(|p| !read.contains_key(p))
            .collect();
        if quiet.is_empty() {
            return Some(Vec::new());
        }
        let held = match self
            .store
            .committed_offsets(self.source.partition_count())
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read committed positions; this cycle's derivation goes unfenced");
                return Some(Vec::new());
            }
        };
        let mut fence = Vec::with_capacity(quiet.len());
        for p in quiet {
            let ours = self.positions.get(&p).copied();
            if held.get(&p).copied() != ours {
                return None;
            }
            // Nothing committed yet: no position to hold the partition by.
            if let Some(next) = ours {
                fence.push((p, next));
            }
        }
        Some(fence)
    }

    /// The settings of every touched tenant. While some cannot be had (the
    /// registry is down) the pipeline pauses here, reading nothing new, and
    /// resumes when they can: deriving with guessed settings would commit
    /// rows that stay wrong. Returns an error only when asked to stop.
    async fn settings_of(
        &self,
        touched: &BTreeSet<TenantId>,
        stop: &AtomicBool,
    ) -> Result<HashMap<TenantId, TenantSettings>, PipelineError> {
        let mut known = HashMap::with_capacity(touched.len());
        let mut backoff = Duration::from_millis(100);
        for tenant in touched {
            loop {
                match self.settings.settings(tenant).await {
                    Ok(settings) => {
                        known.insert(tenant.clone(), settings);
                        break;
                    }
                    Err(e) if stop.load(Ordering::Relaxed) => return Err(e.into()),
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "tenant settings unavailable; pausing");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.config.max_backoff);
                    }
                }
            }
        }
        Ok(known)
    }
}
