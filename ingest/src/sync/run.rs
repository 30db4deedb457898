//! Running a sync: start a run record, walk pages or read a file, append
//! each page's events durably, then record the ledger and the cursor, and
//! finish the run with its counts or its error.
//!
//! Order per page (what makes a pull resumable and idempotent):
//! 1. reconcile the page's objects against the ledger (→ events, hashes);
//! 2. append the events and wait until the log says they are durable;
//! 3. in one registry transaction, record the hashes and the next cursor.
//!
//! A crash between 2 and 3 re-reads the page on resume and emits the same
//! ids, which the pipeline dedupes.

use std::collections::HashMap;
use std::sync::Arc;

use revstream_registry::{Registry, SyncCounts, SyncRun, SyncStatus};
use revstream_schemas::{CanonicalEvent, TenantId};

use super::calendly::CalendlyPull;
use super::error::{Result, SyncError};
use super::fetch::{Fetcher, RetryPolicy};
use super::page::Puller;
use super::snapshot::{Observed, Outcome, Provider, reconcile};
use super::stripe::StripePull;
use super::whop::WhopPull;
use crate::log::{EventLog, LogEnvelope};

/// Events appended in one log batch by file imports.
pub(crate) const APPEND_CHUNK: usize = 1000;
/// How many record errors a run's error message lists.
const ERRORS_SHOWN: usize = 5;

/// Where a sync writes its events and records its runs, for one tenant.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    pub registry: Registry,
    pub log: Arc<dyn EventLog>,
    pub tenant: TenantId,
}

/// Told after every page, for progress bars. Pages of a file import are
/// chunks of records.
pub trait Progress: Send + Sync {
    fn update(&self, pages: u64, counts: &SyncCounts);
}

/// No progress reporting.
#[derive(Debug, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _pages: u64, _counts: &SyncCounts) {}
}

/// Collects a file import's events and appends them in chunks of
/// [`APPEND_CHUNK`], counting them as created and reporting each chunk.
#[derive(Debug, Default)]
pub(crate) struct ChunkedAppend {
    batch: Vec<CanonicalEvent>,
    chunks: u64,
}

impl ChunkedAppend {
    pub(crate) async fn push(
        &mut self,
        event: CanonicalEvent,
        target: &SyncTarget,
        counts: &mut SyncCounts,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.batch.push(event);
        if self.batch.len() >= APPEND_CHUNK {
            self.flush(target, counts, progress).await?;
        }
        Ok(())
    }

    /// Appends what is left.
    pub(crate) async fn finish(
        mut self,
        target: &SyncTarget,
        counts: &mut SyncCounts,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.flush(target, counts, progress).await
    }

    async fn flush(
        &mut self,
        target: &SyncTarget,
        counts: &mut SyncCounts,
        progress: &dyn Progress,
    ) -> Result<()> {
        counts.created += self.batch.len() as i64;
        target.append(std::mem::take(&mut self.batch)).await?;
        self.chunks += 1;
        progress.update(self.chunks, counts);
        Ok(())
    }
}

/// How to reach a provider.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Overrides the provider's production API (tests, proxies).
    pub base_url: Option<String>,
    pub retry: RetryPolicy,
}

/// Record errors of a run: counted, and the first few kept for its message.
#[derive(Debug, Default)]
pub(crate) struct RecordErrors {
    shown: Vec<String>,
}

impl RecordErrors {
    pub(crate) fn push(&mut self, counts: &mut SyncCounts, message: String) {
        counts.failed += 1;
        if self.shown.len() < ERRORS_SHOWN {
            self.shown.push(message);
        }
    }

    fn summary(&self, counts: &SyncCounts) -> Option<String> {
        (counts.failed > 0).then(|| {
            format!(
                "{} record(s) failed; first: {}",
                counts.failed,
                self.shown.join("; ")
            )
        })
    }
}

impl SyncTarget {
    /// Records a new run of `source` (`pull` or `file`).
    pub async fn start(&self, source: &str, mode: &str) -> Result<SyncRun> {
        Ok(self
            .registry
            .start_sync_run(&self.tenant, source, mode)
            .await?)
    }

    /// Appends events of this tenant and returns once they are durable.
    pub(crate) async fn append(&self, events: Vec<CanonicalEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let received_at = chrono::Utc::now();
        let records = events
            .into_iter()
            .map(|event| {
                LogEnvelope {
                    tenant: self.tenant.clone(),
                    received_at,
                    event,
                }
                .to_record()
            })
            .collect();
        self.log.append(records).await?;
        Ok(())
    }

    /// Ends `run` with `result` and the record errors, and writes it.
    pub(crate) async fn finish(
        &self,
        mut run: SyncRun,
        result: Result<()>,
        errors: &RecordErrors,
    ) -> SyncRun {
        let record_errors = errors.summary(&run.counts);
        match result {
            Ok(()) if record_errors.is_none() => run.status = SyncStatus::Succeeded,
            Ok(()) => {
                run.status = SyncStatus::Failed;
                run.error = record_errors;
            }
            Err(e) => {
                run.status = SyncStatus::Failed;
                run.error = Some(match record_errors {
                    Some(r) => format!("{e}; {r}"),
                    None => e.to_string(),
                });
            }
        }
        if let Err(e) = self.registry.update_sync_run(&mut run).await {
            tracing::error!(run = %run.id, error = %e, "could not record the end of a sync run");
        }
        tracing::info!(
            tenant = %run.tenant, source = %run.source, run = %run.id, status = run.status.as_str(),
            seen = run.counts.seen, created = run.counts.created, updated = run.counts.updated,
            failed = run.counts.failed, deleted = run.counts.deleted, "sync run finished"
        );
        run
    }

    /// Reconciles `objects`, appends their events durably, and returns the
    /// ledger entries to record (the ledger in memory is updated too).
    pub(crate) async fn apply(
        &self,
        provider: Provider,
        objects: &[Observed],
        ledger: &mut HashMap<String, String>,
        counts: &mut SyncCounts,
        errors: &mut RecordErrors,
    ) -> Result<Vec<(String, String)>> {
        let mut events = Vec::new();
        let mut entries = Vec::new();
        for o in objects {
            counts.seen += 1;
            match reconcile(provider, o, ledger) {
                Ok((outcome, hash)) => {
                    match outcome {
                        Outcome::Created(e) => {
                            counts.created += 1;
                            events.extend(e);
                        }
                        Outcome::Updated(e) => {
                            counts.updated += 1;
                            events.extend(e);
                        }
                        Outcome::Unchanged => counts.unchanged += 1,
                    }
                    entries.push((o.key.clone(), hash));
                }
                Err(message) => errors.push(counts, message),
            }
        }
        self.append(events).await?;
        for (k, h) in &entries {
            ledger.insert(k.clone(), h.clone());
        }
        Ok(entries)
    }
}

/// Runs a pull of `provider` for `run` (from [`SyncTarget::start`]) to
/// the end and returns the finished run: `succeeded`, or `failed` with the
/// error (bad credential, unreachable provider, …) recorded on it.
pub async fn run_pull(
    target: &SyncTarget,
    provider: Provider,
    options: &PullOptions,
    mut run: SyncRun,
    progress: &dyn Progress,
) -> SyncRun {
    let mut errors = RecordErrors::default();
    let result = pull_pages(target, provider, options, &mut run, &mut errors, progress).await;
    target.finish(run, result, &errors).await
}

async fn pull_pages(
    target: &SyncTarget,
    provider: Provider,
    options: &PullOptions,
    run: &mut SyncRun,
    errors: &mut RecordErrors,
    progress: &dyn Progress,
) -> Result<()> {
    let source = provider.as_str();
    let tenant = &target.tenant;
    let credential = target
        .registry
        .credential(tenant, source)
        .await?
        .ok_or_else(|| SyncError::NoCredential {
            provider: source,
            tenant: tenant.to_string(),
        })?;
    let base_url = options
        .base_url
        .as_deref()
        .unwrap_or(provider.default_base_url());
    let fetcher = Fetcher::new(source, base_url, credential, options.retry)?;
    let saved = target.registry.sync_cursor(tenant, source).await?;
    let (sweep, cursor) = match saved {
        Some(s) => {
            tracing::info!(%tenant, source, cursor = %s.cursor, "resuming a sync pass");
            (s.sweep, Some(s.cursor))
        }
        None => (run.id.clone(), None),
    };
    // One snapshot time per pass, so a resumed pass dates its corrections
    // like the pass it continues.
    let snapshot_at = chrono::Utc::now();
    let mut puller: Box<dyn Puller> = match provider {
        Provider::Stripe => Box::new(StripePull::new(fetcher, snapshot_at, cursor.as_deref())?),
        Provider::Whop => Box::new(WhopPull::new(fetcher, snapshot_at, cursor.as_deref())?),
        Provider::Calendly => Box::new(CalendlyPull::new(fetcher, cursor.as_deref())),
    };
    let mut ledger = target.registry.sync_objects(tenant, source).await?;
    let mut pages = 0;
    loop {
        let page = puller.next_page().await?;
        let entries = target
            .apply(
                provider,
                &page.objects,
                &mut ledger,
                &mut run.counts,
                errors,
            )
            .await?;
        target
            .registry
            .save_sync_page(tenant, source, &sweep, &entries, Some(page.next.as_deref()))
            .await?;
        pages += 1;
        progress.update(pages, &run.counts);
        target.registry.update_sync_run(run).await?;
        if page.next.is_none() {
            break;
        }
    }
    // A complete pass: what it no longer found is gone at the provider.
    // Soft delete only — nothing is emitted, so no churn is invented. Not
    // after record errors: an object that failed was not missing.
    if run.counts.failed > 0 {
        return Ok(());
    }
    run.counts.deleted = target
        .registry
        .mark_unseen_deleted(tenant, source, &sweep)
        .await?;
    Ok(())
}
