//! Building a cycle's commit: derive the touched tenants and turn their
//! rows and the new events into Arrow batches.
//!
//! This is the pipeline's main CPU work (hundreds of milliseconds for a
//! few busy tenants). It runs on the pipeline's CPU threads (see `spread`):
//! the touched tenants are dealt out to one thread per core, and the
//! `events` batches are built beside them, one per slice of the new events.
//!
//! ```text
//!  touched tenants' states ─ moved out ─▶ CPU threads: derive ∥ derive ∥ events slice ∥ events slice ─▶ states moved back
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use chrono_tz::Tz;
use revstream_schemas::{TableName, TenantId};

use super::Fresh;
use super::spread::{cores, spread};
use crate::batches::{EventRow, derived_batches_of, events_batch};
use crate::derive::TenantSettings;
use crate::state::{State, TenantState};
use crate::store::{StoreError, TableRewrite};

/// One tenant to derive, with its state moved out of the pipeline's map.
struct TenantJob {
    tenant: TenantId,
    state: TenantState,
    settings: TenantSettings,
}

/// What deriving one tenant gave: its state back, and the batches of the
/// tables whose rows changed.
struct TenantDone {
    tenant: TenantId,
    state: TenantState,
    changed: Result<Vec<(TableName, RecordBatch)>, ArrowError>,
}

/// A cycle's rows, ready to commit.
pub(super) struct Built {
    /// Per table, the tenants whose partition is replaced (in tenant order).
    pub rewrites: Vec<TableRewrite>,
    /// The new rows of `events`.
    pub events: Vec<RecordBatch>,
    /// The same derived rows per (table, tenant), for the staged tier: a
    /// batch of no rows stands for an emptied partition.
    pub staged: Vec<(TableName, TenantId, RecordBatch)>,
    /// The cycle's new events, handed back (their `received_at` is needed
    /// once the commit lands).
    pub fresh: Vec<Fresh>,
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
) -> Result<Built, StoreError> {
    let jobs: Vec<TenantJob> = touched
        .iter()
        .filter_map(|tenant| {
            let settings = *settings.get(tenant)?;
            let state = state.tenants.remove(tenant)?;
            Some(TenantJob {
                tenant: tenant.clone(),
                state,
                settings,
            })
        })
        .collect();
    // The events batches need no state: they are built beside the
    // tenants, in slices, so a cycle that derives nothing (a backlog) still
    // encodes its events on every core.
    let timezones: Arc<HashMap<TenantId, Tz>> = Arc::new(
        settings
            .into_iter()
            .map(|(tenant, s)| (tenant, s.timezone))
            .collect(),
    );
    let events_jobs: Vec<EventsJob> = slices(fresh, cores())
        .into_iter()
        .map(|fresh| EventsJob {
            fresh,
            timezones: timezones.clone(),
        })
        .collect();
    let events = spread(events_jobs, cores(), |job| job.fresh.len(), events_one);
    let derived = spread(jobs, cores(), |job| job.state.len(), derive_one);
    let (events_done, done) = futures::join!(events, derived);
    let mut events = Ok(Vec::with_capacity(events_done.len()));
    let mut fresh = Vec::new();
    for (batch, slice) in events_done {
        match (&mut events, batch) {
            (Ok(batches), Ok(Some(batch))) => batches.push(batch),
            (Ok(_), Err(e)) => events = Err(e),
            _ => {}
        }
        fresh.extend(slice);
    }

    let mut rewrites: BTreeMap<TableName, TableRewrite> = BTreeMap::new();
    let mut staged = Vec::new();
    let mut failed = None;
    for TenantDone {
        tenant,
        state: mut tenant_state,
        changed,
    } in done
    {
        match changed {
            Ok(batches) => {
                for (table, batch) in batches {
                    let rewrite = rewrites.entry(table).or_insert_with(|| TableRewrite {
                        table,
                        tenants: Vec::new(),
                        batches: Vec::new(),
                    });
                    rewrite.tenants.push(tenant.clone());
                    // A clone shares the columns: no rows are copied.
                    staged.push((table, tenant.clone(), batch.clone()));
                    if batch.num_rows() > 0 {
                        rewrite.batches.push(batch);
                    }
                }
            }
            Err(source) => {
                // Its fingerprints already say "written": forget them, so
                // whatever derives this tenant next rewrites every table.
                tenant_state.invalidate();
                failed.get_or_insert(StoreError::Arrow {
                    table: TableName::MetricsDaily,
                    source,
                });
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
        staged,
        fresh,
    })
}

fn derive_one(mut job: TenantJob) -> TenantDone {
    let (derived, changed) = job.state.derive_changes(&job.settings);
    let changed = if changed.is_empty() {
        Ok(Vec::new())
    } else {
        derived_batches_of(&job.tenant, &derived, &changed)
    };
    TenantDone {
        tenant: job.tenant,
        state: job.state,
        changed,
    }
}

/// A slice of the cycle's new events to encode as one `events` batch, with
/// every tenant's timezone (for the `day` column).
struct EventsJob {
    fresh: Vec<Fresh>,
    timezones: Arc<HashMap<TenantId, Tz>>,
}

/// Below this many events a cycle's `events` rows are one batch: a slice
/// is worth a job of its own only when it is big.
const EVENTS_SLICE_MIN: usize = 5_000;

/// `fresh` cut into up to `count` slices of about equal length, in order.
fn slices<T>(mut fresh: Vec<T>, count: usize) -> Vec<Vec<T>> {
    let count = count.clamp(1, (fresh.len() / EVENTS_SLICE_MIN).max(1));
    let len = fresh.len().div_ceil(count);
    let mut out = Vec::with_capacity(count);
    while fresh.len() > len {
        let rest = fresh.split_off(len);
        out.push(std::mem::replace(&mut fresh, rest));
    }
    out.push(fresh);
    out
}

/// The `events` rows of one slice (none for an empty slice), and the slice
/// handed back.
fn events_one(job: EventsJob) -> (Result<Option<RecordBatch>, ArrowError>, Vec<Fresh>) {
    if job.fresh.is_empty() {
        return (Ok(None), job.fresh);
    }
    let rows: Vec<EventRow<'_>> = job
        .fresh
        .iter()
        .map(|f| EventRow {
            tenant: &f.envelope.tenant,
            timezone: job
                .timezones
                .get(&f.envelope.tenant)
                .copied()
                .unwrap_or(chrono_tz::UTC),
            event: &f.envelope.event,
            payload: f.event_json.as_deref(),
            log_partition: f.partition as i32,
            log_offset: f.offset as i64,
        })
        .collect();
    let batch = events_batch(&rows).map(Some);
    drop(rows);
    (batch, job.fresh)
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
        spread(jobs, threads, |job| job.state.len(), derive_one).await
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

    #[test]
    fn slices_keep_every_event_in_order() {
        for (len, count, expected) in [
            (0, 2, 1),
            (4_999, 2, 1),
            (10_000, 2, 2),
            (10_001, 2, 2),
            (100_000, 2, 2),
            (100_000, 3, 3),
            (12_000, 8, 2),
        ] {
            let cut = slices((0..len).collect::<Vec<usize>>(), count);
            assert_eq!(cut.len(), expected, "{len} events, {count} cores");
            assert!(cut.iter().all(|s| s.len() <= len.div_ceil(expected)));
            let joined: Vec<usize> = cut.into_iter().flatten().collect();
            assert_eq!(joined, (0..len).collect::<Vec<_>>());
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
            })
            .collect();
        for (_, _, batches) in summary(&derive_all(again, 2).await) {
            assert!(batches.is_empty(), "{batches:?}");
        }
    }
}
