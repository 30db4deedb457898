//! Sync bookkeeping (issue #8): the record of every sync run, the cursor an
//! interrupted pull resumes from, the ledger of provider objects earlier
//! pulls saw, and optional schedules.
//!
//! ```text
//!  run starts ─▶ sync_runs(status running)
//!  each page durable in the log ─▶ one transaction: sync_objects upserts + sync_cursors
//!  full pass done ─▶ objects of older passes marked deleted (soft), cursor cleared
//!  run ends ─▶ sync_runs(status, counts, error, finished)
//! ```
//!
//! The ledger is what "ours" means to a sync: the state hash of each object
//! as last emitted. Keys are `<kind>:<provider id>` (`subscription:sub_1`).

use std::collections::HashMap;

use revstream_schemas::TenantId;
use serde::Serialize;
use sqlx::Row;

use crate::{Error, Registry, Result, now_ms};

/// Sources a sync can read: the three pull providers and two file formats.
pub const SYNC_SOURCES: [&str; 5] = ["stripe", "whop", "calendly", "csv", "ndjson"];

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Running,
    Succeeded,
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Running => "running",
            SyncStatus::Succeeded => "succeeded",
            SyncStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "running" => Ok(SyncStatus::Running),
            "succeeded" => Ok(SyncStatus::Succeeded),
            "failed" => Ok(SyncStatus::Failed),
            other => Err(Error::Invalid {
                field: "sync_runs.status",
                problem: format!("unknown value {other:?}"),
            }),
        }
    }
}

/// What a run did to the records it read. `seen` = created + updated +
/// unchanged + failed; `deleted` counts ledger objects a full pass no
/// longer found (soft deletes, never churn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    pub seen: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub failed: i64,
}

/// One sync run as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRun {
    pub id: String,
    pub tenant: TenantId,
    pub source: String,
    /// `pull` or `file`.
    pub mode: String,
    pub status: SyncStatus,
    pub counts: SyncCounts,
    pub error: Option<String>,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// A saved position of an unfinished full pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCursor {
    /// The id of the run that started the pass.
    pub sweep: String,
    pub cursor: String,
}

/// A periodic pull of one (tenant, source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncSchedule {
    pub tenant: TenantId,
    pub source: String,
    pub every_minutes: i64,
    pub last_run_ms: Option<i64>,
}

fn check_source(source: &str) -> Result<()> {
    if SYNC_SOURCES.contains(&source) {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: "source",
            problem: format!("must be one of {}; got {source:?}", SYNC_SOURCES.join(", ")),
        })
    }
}

impl Registry {
    /// Records a new run as `running` and returns it.
    pub async fn start_sync_run(
        &self,
        tenant: &TenantId,
        source: &str,
        mode: &str,
    ) -> Result<SyncRun> {
        check_source(source)?;
        self.require_tenant(tenant).await?;
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| Error::MasterKey(format!("no randomness: {e}")))?;
        let run = SyncRun {
            id: format!("sync_{}", hex::encode(bytes)),
            tenant: tenant.clone(),
            source: source.to_owned(),
            mode: mode.to_owned(),
            status: SyncStatus::Running,
            counts: SyncCounts::default(),
            error: None,
            started_at_ms: now_ms(),
            finished_at_ms: None,
        };
        sqlx::query(
            "INSERT INTO sync_runs (id, tenant_id, source, mode, status, records_seen, created, \
             updated, unchanged, deleted, failed, error, started_at_ms, finished_at_ms) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0, 0, 0, NULL, $6, NULL)",
        )
        .bind(&run.id)
        .bind(tenant.as_str())
        .bind(source)
        .bind(mode)
        .bind(run.status.as_str())
        .bind(run.started_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(run)
    }

    /// Writes a run's status, counts and error; a run no longer running is
    /// stamped finished now (in the database and in `run`).
    pub async fn update_sync_run(&self, run: &mut SyncRun) -> Result<()> {
        let finished = (run.status != SyncStatus::Running).then(now_ms);
        run.finished_at_ms = finished;
        let c = run.counts;
        sqlx::query(
            "UPDATE sync_runs SET status = $1, records_seen = $2, created = $3, updated = $4, \
             unchanged = $5, deleted = $6, failed = $7, error = $8, finished_at_ms = $9 \
             WHERE id = $10",
        )
        .bind(run.status.as_str())
        .bind(c.seen)
        .bind(c.created)
        .bind(c.updated)
        .bind(c.unchanged)
        .bind(c.deleted)
        .bind(c.failed)
        .bind(run.error.as_deref())
        .bind(finished)
        .bind(&run.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A tenant's runs, newest first.
    pub async fn sync_runs(&self, tenant: &TenantId) -> Result<Vec<SyncRun>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, source, mode, status, records_seen, created, updated, \
             unchanged, deleted, failed, error, started_at_ms, finished_at_ms \
             FROM sync_runs WHERE tenant_id = $1 ORDER BY started_at_ms DESC, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SyncRun {
                    id: row.try_get("id")?,
                    tenant: tenant.clone(),
                    source: row.try_get("source")?,
                    mode: row.try_get("mode")?,
                    status: SyncStatus::parse(&row.try_get::<String, _>("status")?)?,
                    counts: SyncCounts {
                        seen: row.try_get("records_seen")?,
                        created: row.try_get("created")?,
                        updated: row.try_get("updated")?,
                        unchanged: row.try_get("unchanged")?,
                        deleted: row.try_get("deleted")?,
                        failed: row.try_get("failed")?,
                    },
                    error: row.try_get("error")?,
                    started_at_ms: row.try_get("started_at_ms")?,
                    finished_at_ms: row.try_get("finished_at_ms")?,
                })
            })
            .collect()
    }

    /// The cursor of an unfinished pass, if any.
    pub async fn sync_cursor(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<Option<SavedCursor>> {
        let row = sqlx::query(
            "SELECT sweep, cursor FROM sync_cursors WHERE tenant_id = $1 AND source = $2",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SavedCursor {
                sweep: r.try_get("sweep")?,
                cursor: r.try_get("cursor")?,
            })
        })
        .transpose()
    }

    /// The ledger of a (tenant, source): object key → state hash.
    pub async fn sync_objects(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT object_key, state_hash FROM sync_objects WHERE tenant_id = $1 AND source = $2",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("object_key")?, r.try_get("state_hash")?)))
            .collect()
    }

    /// After a page is durable in the log: records what it held (object key,
    /// state hash) as seen by pass `sweep`, and saves the cursor to resume
    /// from (`Some(None)`: the pass is complete; `None`: leave the cursor
    /// alone, as file imports do), in one transaction, so a crash leaves
    /// either both or neither.
    pub async fn save_sync_page(
        &self,
        tenant: &TenantId,
        source: &str,
        sweep: &str,
        objects: &[(String, String)],
        cursor: Option<Option<&str>>,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for (key, hash) in objects {
            sqlx::query(
                "DELETE FROM sync_objects WHERE tenant_id = $1 AND source = $2 AND object_key = $3",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO sync_objects (tenant_id, source, object_key, state_hash, sweep, \
                 seen_at_ms, deleted_at_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(key)
            .bind(hash)
            .bind(sweep)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if cursor.is_some() {
            sqlx::query("DELETE FROM sync_cursors WHERE tenant_id = $1 AND source = $2")
                .bind(tenant.as_str())
                .bind(source)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(Some(cursor)) = cursor {
            sqlx::query(
                "INSERT INTO sync_cursors (tenant_id, source, sweep, cursor, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(sweep)
            .bind(cursor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// At the end of a complete pass: every live ledger object that pass
    /// `sweep` did not see is marked deleted. Returns how many.
    pub async fn mark_unseen_deleted(
        &self,
        tenant: &TenantId,
        source: &str,
        sweep: &str,
    ) -> Result<i64> {
        let done = sqlx::query(
            "UPDATE sync_objects SET deleted_at_ms = $1 WHERE tenant_id = $2 AND source = $3 \
             AND sweep <> $4 AND deleted_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(tenant.as_str())
        .bind(source)
        .bind(sweep)
        .execute(&self.pool)
        .await?;
        Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
    }

    /// Ledger keys marked deleted, for audits and tests.
    pub async fn deleted_sync_objects(
        &self,
        tenant: &TenantId,
        source: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT object_key FROM sync_objects WHERE tenant_id = $1 AND source = $2 \
             AND deleted_at_ms IS NOT NULL ORDER BY object_key",
        )
        .bind(tenant.as_str())
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("object_key")?)).collect()
    }

    /// Sets (`Some`) or removes (`None`) the periodic pull of a source.
    pub async fn set_sync_schedule(
        &self,
        tenant: &TenantId,
        source: &str,
        every_minutes: Option<i64>,
    ) -> Result<()> {
        if !["stripe", "whop", "calendly"].contains(&source) {
            return Err(Error::Invalid {
                field: "source",
                problem: format!(
                    "only pulls can be scheduled (stripe, whop, calendly); got {source:?}"
                ),
            });
        }
        if let Some(n) = every_minutes
            && !(1..=527_040).contains(&n)
        {
            return Err(Error::Invalid {
                field: "every_minutes",
                problem: format!("must be 1 to 527040 (a year), got {n}"),
            });
        }
        self.require_tenant(tenant).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sync_schedules WHERE tenant_id = $1 AND source = $2")
            .bind(tenant.as_str())
            .bind(source)
            .execute(&mut *tx)
            .await?;
        if let Some(n) = every_minutes {
            sqlx::query(
                "INSERT INTO sync_schedules (tenant_id, source, every_minutes, last_run_ms) \
                 VALUES ($1, $2, $3, NULL)",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every schedule of the deployment.
    pub async fn sync_schedules(&self) -> Result<Vec<SyncSchedule>> {
        let rows = sqlx::query(
            "SELECT tenant_id, source, every_minutes, last_run_ms FROM sync_schedules \
             ORDER BY tenant_id, source",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let tenant: String = r.try_get("tenant_id")?;
                Ok(SyncSchedule {
                    tenant: TenantId::parse(&tenant).map_err(|e| Error::Invalid {
                        field: "tenant id",
                        problem: e.to_string(),
                    })?,
                    source: r.try_get("source")?,
                    every_minutes: r.try_get("every_minutes")?,
                    last_run_ms: r.try_get("last_run_ms")?,
                })
            })
            .collect()
    }

    /// Claims a due schedule: sets its last run to `now_ms` only if it is
    /// still `last_run_ms`, so two ingest nodes never start the same pull.
    pub async fn claim_sync_schedule(&self, schedule: &SyncSchedule, now_ms: i64) -> Result<bool> {
        let done = match schedule.last_run_ms {
            Some(last) => {
                sqlx::query(
                    "UPDATE sync_schedules SET last_run_ms = $1 WHERE tenant_id = $2 \
                     AND source = $3 AND last_run_ms = $4",
                )
                .bind(now_ms)
                .bind(schedule.tenant.as_str())
                .bind(&schedule.source)
                .bind(last)
                .execute(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE sync_schedules SET last_run_ms = $1 WHERE tenant_id = $2 \
                     AND source = $3 AND last_run_ms IS NULL",
                )
                .bind(now_ms)
                .bind(schedule.tenant.as_str())
                .bind(&schedule.source)
                .execute(&self.pool)
                .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }
}
