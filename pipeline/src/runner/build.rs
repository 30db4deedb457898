//! Building a cycle's commit: derive the touched tenants and turn their
//! rows and the new events into Arrow batches.
//!
//! This is the pipeline's main CPU work (hundreds of milliseconds for a
//! few busy tenants). It runs on the pipeline's CPU threads (see `spread`):
//! the touched tenants are dealt out to one thread per core, and the
//! `events` batch is built beside them.
//!
//! ```text
//!  tenants to fold again ─▶ their stored events read back (async, retried)
//!  touched tenants' states ─ moved out ─▶ CPU threads: derive ∥ derive ∥ events batch ─▶ states moved back
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use super::Fresh;
use super::spread::{cores, on_cpu_thread, spread};
use crate::batches::{EventRow, derived_batches_of, events_batch};
use crate::derive::TenantSettings;
use crate::state::{State, TenantState};
use crate::store::{StoreError, TableRewrite, TableStore};

/// One tenant to derive, with its state moved out of the pipeline's map.
struct TenantJob {
    tenant: TenantId,
    state: TenantState,
    settings: TenantSettings,
    /// Events dated after this are not folded into the kept state.
    now: DateTime<Utc>,
    /// The tenant's stored events, when it must be folded again from its
    /// first event.
    history: Option<Vec<CanonicalEvent>>,
}

/// What deriving one tenant gave: its state back, and the batches of the
/// tables whose rows changed.
struct TenantDone {
    tenant: TenantId,
    state: TenantState,
    changed: Result<Vec<(TableName, RecordBatch)>, StoreError>,
    /// Whether all of the tenant's events were folded again.
    refolded: bool,
}

/// A cycle's rows, ready to commit.
pub(super) struct Built {
    /// Per table, the tenants whose partition is replaced (in tenant order).
    pub rewrites: Vec<TableRewrite>,
    /// The new rows of `events`.
    pub events: Vec<RecordBatch>,
    /// The cycle's new events, handed back (their `received_at` is needed
    /// once the commit lands).
    pub fresh: Vec<Fresh>,
    /// Tenants derived, and how many of them were folded from their first
    /// event rather than from their new events.
    pub derivations: u64,
    pub refolds: u64,
}

/// Derives every touched tenant that has settings and builds the batches,
/// on the CPU threads. The states go back into `state`, also when a
/// batch cannot be built. Not cancel-safe: the states are away while the
/// future runs, so dropping it early loses them (the run loop always lets
/// a cycle finish).
pub(super) async fn build(
    state: &mut State,
    touched: &BTreeSet<TenantId>,
    settings: HashMap<TenantId, TenantSettings>,
    fresh: Vec<Fresh>,
    history: &HistoryReader<'_>,
) -> Result<Built, StoreError> {
    let now = Utc::now();
    // Read before any state moves out, so a stop while storage is down
    // loses nothing.
    let mut histories = HashMap::new();
    for tenant in touched {
        if let (Some(s), Some(held)) = (settings.get(tenant), state.tenants.get(tenant))
            && held.needs_history(s)
        {
            histories.insert(tenant.clone(), history.read(tenant).await?);
        }
    }
    let jobs: Vec<TenantJob> = touched
        .iter()
        .filter_map(|tenant| {
            let settings = *settings.get(tenant)?;
            let state = state.tenants.remove(tenant)?;
            Some(TenantJob {
                tenant: tenant.clone(),
                state,
                settings,
                now,
                history: histories.remove(tenant),
            })
        })
        .collect();
    // The events batch needs no state: it is built beside the tenants.
    let events = on_cpu_thread(move || {
        let batches = new_events(&fresh, &settings);
        (batches, fresh)
    });
    let derived = spread(jobs, cores(), weight, derive_one);
    let ((events, fresh), done) = futures::join!(events, derived);

    let mut rewrites: BTreeMap<TableName, TableRewrite> = BTreeMap::new();
    let mut failed = None;
    let derivations = done.len() as u64;
    let mut refolds = 0;
    for TenantDone {
        tenant,
        state: mut tenant_state,
        changed,
        refolded,
    } in done
    {
        refolds += u64::from(refolded);
        match changed {
            Ok(batches) => {
                for (table, batch) in batches {
                    let rewrite = rewrites.entry(table).or_insert_with(|| TableRewrite {
                        table,
                        tenants: Vec::new(),
                        batches: Vec::new(),
                    });
                    rewrite.tenants.push(tenant.clone());
                    if batch.num_rows() > 0 {
                        rewrite.batches.push(batch);
                    }
                }
            }
            Err(error) => {
                // Its fingerprints already say "written": forget them, so
                // whatever derives this tenant next rewrites every table.
                tenant_state.invalidate();
                failed.get_or_insert(error);
            }
        }
        state.tenants.insert(tenant, tenant_state);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let events = events.map_err(|source| StoreError::Arrow {
        table: TableName::Events,
        source,
    })?;
    Ok(Built {
        rewrites: rewrites.into_values().collect(),
        events,
        fresh,
        derivations,
        refolds,
    })
}

/// A job's share of the work: its rows grow with its events, and a tenant
/// folded again reads all of them.
fn weight(job: &TenantJob) -> usize {
    job.state.len() + job.history.as_ref().map_or(0, Vec::len)
}

fn derive_one(mut job: TenantJob) -> TenantDone {
    let refolds = job.state.refolds();
    let changed = match job
        .state
        .derive_changes(&job.settings, job.now, job.history)
    {
        Ok((_, changed)) if changed.is_empty() => Ok(Vec::new()),
        Ok((derived, changed)) => {
            derived_batches_of(&job.tenant, &derived, &changed).map_err(|source| {
                StoreError::Arrow {
                    table: TableName::MetricsDaily,
                    source,
                }
            })
        }
        // `build` reads the history of every tenant that needs it.
        Err(e) => Err(StoreError::Read {
            table: TableName::Events,
            message: e.to_string(),
        }),
    };
    TenantDone {
        refolded: job.state.refolds() > refolds,
        tenant: job.tenant,
        state: job.state,
        changed,
    }
}

/// Reads a tenant's stored events back from the `events` table, retrying
/// with backoff while storage fails: a pipeline that cannot read them
/// pauses (reading nothing new) instead of stopping. Gives up only when
/// asked to stop.
pub(super) struct HistoryReader<'a> {
    pub store: &'a TableStore,
    pub stop: &'a AtomicBool,
    pub max_backoff: Duration,
}

impl HistoryReader<'_> {
    async fn read(&self, tenant: &TenantId) -> Result<Vec<CanonicalEvent>, StoreError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.load_tenant_events(tenant).await {
                Ok(events) => return Ok(events),
                Err(e) if self.stop.load(Ordering::Relaxed) => return Err(e),
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "reading a tenant's stored events failed; pausing");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }
}

/// The `events` rows of the cycle's new events.
fn new_events(
    fresh: &[Fresh],
    settings: &HashMap<TenantId, TenantSettings>,
) -> Result<Vec<RecordBatch>, ArrowError> {
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<EventRow<'_>> = fresh
        .iter()
        .map(|f| EventRow {
            tenant: &f.tenant,
            timezone: settings
                .get(&f.tenant)
                .map_or(chrono_tz::UTC, |s| s.timezone),
            event: &f.event,
            log_partition: f.partition as i32,
            log_offset: f.offset as i64,
        })
        .collect();
    Ok(vec![events_batch(&rows)?])
}

#[cfg(test)]
mod tests {
    use revstream_schemas::CanonicalEvent;

    use super::*;

    fn payment(n: usize) -> CanonicalEvent {
        let json = format!(
            r#"{{"id":"evt_{n}","type":"payment.succeeded","occurred_at":"2026-01-{day:02}T10:00:00Z",
            "source":"stripe","customer":{{"id":"cus_{n}","email":"c{n}@b.co"}},
            "payment":{{"id":"ch_{n}","amount":{amount},"currency":"usd","paid_at":"2026-01-{day:02}T10:00:00Z"}}}}"#,
            day = 1 + n % 28,
            amount = 100 + n,
        );
        match CanonicalEvent::from_json(json.as_bytes()) {
            Ok(e) => e,
            Err(e) => panic!("invalid test event {json}: {e}"),
        }
    }

    /// Five tenants of different sizes, so the threads get unequal shares.
    fn jobs() -> Vec<TenantJob> {
        (0..5)
            .map(|t| {
                let mut state = TenantState::default();
                for n in 0..(1 + t * 7) {
                    state.insert(&payment(n));
                }
                TenantJob {
                    tenant: TenantId::parse(&format!("t{t}")).unwrap_or_else(|e| panic!("{e}")),
                    state,
                    settings: TenantSettings::default(),
                    now: Utc::now(),
                    history: None,
                }
            })
            .collect()
    }

    /// Per tenant: its id, how many events it holds, and (table, rows) of
    /// each batch to write.
    type Summary = Vec<(String, usize, Vec<(TableName, usize)>)>;

    fn summary(done: &[TenantDone]) -> Summary {
        done.iter()
            .map(|d| {
                let batches = match &d.changed {
                    Ok(b) => b.iter().map(|(t, b)| (*t, b.num_rows())).collect(),
                    Err(e) => panic!("{e}"),
                };
                (d.tenant.as_str().to_owned(), d.state.len(), batches)
            })
            .collect()
    }

    async fn derive_all(jobs: Vec<TenantJob>, threads: usize) -> Vec<TenantDone> {
        spread(jobs, threads, weight, derive_one).await
    }

    #[tokio::test]
    async fn threads_change_neither_the_rows_nor_their_order() {
        let alone = summary(&derive_all(jobs(), 1).await);
        for threads in [2, 3, 8] {
            assert_eq!(
                summary(&derive_all(jobs(), threads).await),
                alone,
                "{threads} threads"
            );
        }
        let tenants: Vec<&str> = alone.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(tenants, ["t0", "t1", "t2", "t3", "t4"]);
        // Every tenant's first derive writes all seven tables, with one
        // payment row per event.
        for (_, events, batches) in &alone {
            assert_eq!(batches.len(), 7);
            assert!(batches.contains(&(TableName::Payments, *events)));
        }
    }

    #[tokio::test]
    async fn a_second_derive_of_the_same_events_changes_nothing() {
        let first = derive_all(jobs(), 2).await;
        let again: Vec<TenantJob> = first
            .into_iter()
            .map(|d| TenantJob {
                tenant: d.tenant,
                state: d.state,
                settings: TenantSettings::default(),
                now: Utc::now(),
                history: None,
            })
            .collect();
        for (_, _, batches) in summary(&derive_all(again, 2).await) {
            assert!(batches.is_empty(), "{batches:?}");
        }
    }
}
