//! The Delta tables under one root (`<root>/<table>/`, see
//! `revstream_pipeline::store`), opened once and kept fresh.
//!
//! ```text
//!  Tables ── current: Arc<TablesSnapshot> ──▶ one DeltaTable + DataFusion provider per table, and their versions
//!     │
//!     └─ refresh (incremental: only new log entries are read) when
//!          · the in-process pipeline's commit counter moved (watch channel), or
//!          · the last check is older than `max_staleness` (other processes commit), or
//!          · `refresh()` / the background refresher asks
//! ```
//!
//! A query takes one snapshot and plans against it, so all its tables are
//! read at one set of versions, and the versions are what the result cache
//! keys on. Tables the pipeline has not created yet read as empty.
//! A failed refresh keeps the previous snapshot (a stale answer beats no
//! answer during a storage blip) and is retried on the next check.
//!
//! Given the staged tier of an in-process pipeline
//! ([`TablesOptions::staged`]), a snapshot also holds the rows staged for
//! commits its tables do not include yet, each in place of its tenant's
//! files of that table; a refresh prunes what its tables now hold.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::catalog::empty::EmptyTable;
use deltalake::{DeltaTable, DeltaTableError};
use revstream_schemas::staged::{StagedRows, StagedView};
use revstream_schemas::{TableName, TenantId};
use tokio::sync::watch;
use url::Url;

use crate::error::{QueryError, Result};
use crate::staged_tables::{StagedTable, StagedTables};
use crate::tenant_files::TenantFiles;

/// How the tables stay fresh.
#[derive(Debug, Clone)]
pub struct TablesOptions {
    /// A query refreshes the tables first when they were last checked longer
    /// ago than this. Bounds how stale an answer can be when another process
    /// commits (the distributed `query` role).
    pub max_staleness: Duration,
    /// Ticks once per pipeline commit (`Pipeline::commits()` of an
    /// in-process pipeline): the next query after a tick refreshes first, so
    /// it sees that commit.
    pub commits: Option<watch::Receiver<u64>>,
    /// The same pipeline's staged tier (`Pipeline::stage_into`): its rows
    /// are answered from while their commit runs. Needs `commits`, which
    /// tells when the tables hold them.
    pub staged: Option<Arc<StagedRows>>,
}

impl Default for TablesOptions {
    fn default() -> Self {
        Self {
            max_staleness: Duration::from_secs(1),
            commits: None,
            staged: None,
        }
    }
}

/// The version of every table (`None`: not created yet), in
/// [`TableName::ALL`] order. Part of every cache key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TableVersions([Option<u64>; 8]);

impl TableVersions {
    pub fn get(&self, table: TableName) -> Option<u64> {
        self.0[table as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (TableName, Option<u64>)> + '_ {
        TableName::ALL.into_iter().map(|t| (t, self.get(t)))
    }
}

impl fmt::Display for TableVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (t, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match v {
                Some(v) => write!(f, "{t}={v}")?,
                None => write!(f, "{t}=-")?,
            }
        }
        Ok(())
    }
}

/// Whether a refresh that waited for another one still checks storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Only if the tables still need it (a query's refresh).
    IfNeeded,
    /// Anyway (an explicit refresh).
    Always,
}

#[derive(Clone)]
struct TableEntry {
    table: DeltaTable,
    provider: Arc<dyn TableProvider>,
    /// The files by tenant; `None` if they could not be listed, and then
    /// tenants read through `provider`.
    files: Option<Arc<TenantFiles>>,
}

impl fmt::Debug for TableEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableEntry")
            .field("version", &self.table.version())
            .finish()
    }
}

/// The tables at one set of versions, and what was staged beyond them.
#[derive(Debug, Default)]
pub struct TablesSnapshot {
    entries: Arc<BTreeMap<TableName, TableEntry>>,
    staged: Option<Arc<StagedTables>>,
}

impl TablesSnapshot {
    pub fn versions(&self) -> TableVersions {
        let mut v = TableVersions::default();
        for (t, e) in self.entries.iter() {
            v.0[*t as usize] = e.table.version();
        }
        v
    }

    /// An identity of what `tenant` reads in `tables`: equal fingerprints
    /// (of one process) read equal rows. Each table adds its files of the
    /// tenant, or its version where they are not listed (then any commit
    /// of the table changes it), or nothing yet where it does not exist.
    pub fn tenant_fingerprint(&self, tenant: &TenantId, tables: &[TableName]) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        for table in tables {
            table.hash(&mut hasher);
            if let Some(staged) = self.staged_table(*table, tenant) {
                3u8.hash(&mut hasher);
                staged.id.hash(&mut hasher);
                continue;
            }
            match self.entries.get(table) {
                None => 0u8.hash(&mut hasher),
                Some(TableEntry {
                    files: Some(files), ..
                }) => {
                    1u8.hash(&mut hasher);
                    files.hash_tenant(tenant, &mut hasher);
                }
                Some(entry) => {
                    2u8.hash(&mut hasher);
                    entry.table.version().hash(&mut hasher);
                }
            }
        }
        hasher.finish()
    }

    /// The bytes of `tenant`'s files in every table; tables whose files are
    /// not listed count as large (`u64::MAX`).
    pub fn tenant_bytes(&self, tenant: &TenantId) -> u64 {
        self.entries.iter().fold(0u64, |sum, (table, entry)| {
            match (self.staged_table(*table, tenant), &entry.files) {
                (Some(staged), _) => sum.saturating_add(staged.bytes),
                (None, Some(files)) => sum.saturating_add(files.tenant_bytes(tenant)),
                (None, None) => u64::MAX,
            }
        })
    }

    fn staged_table(&self, table: TableName, tenant: &TenantId) -> Option<&StagedTable> {
        self.staged.as_ref()?.get(table, tenant)
    }

    /// This snapshot's tables with `view`'s staged partitions in place of
    /// the tenants' files.
    fn with_staged(&self, view: &StagedView) -> TablesSnapshot {
        TablesSnapshot {
            entries: self.entries.clone(),
            staged: Some(Arc::new(StagedTables::new(view, |t| {
                self.provider(t).schema()
            }))),
        }
    }

    /// The raw (not tenant-scoped) DataFusion provider of a table; an empty
    /// table with the documented schema until the pipeline creates it.
    /// Only [`crate::catalog`] hands it out, wrapped in the tenant filter.
    pub(crate) fn provider(&self, table: TableName) -> Arc<dyn TableProvider> {
        match self.entries.get(&table) {
            Some(e) => e.provider.clone(),
            None => Arc::new(EmptyTable::new(table.schema())),
        }
    }

    /// A provider of `tenant`'s rows of a table, planned over that tenant's
    /// files only (see [`crate::tenant_files`]); it may also return other
    /// tenants' rows, so callers filter by tenant on top.
    pub(crate) fn tenant_provider(
        &self,
        table: TableName,
        tenant: &TenantId,
    ) -> Arc<dyn TableProvider> {
        if let Some(staged) = self.staged_table(table, tenant) {
            return staged.provider.clone();
        }
        match self.entries.get(&table) {
            Some(TableEntry {
                files: Some(files), ..
            }) => files.provider(tenant),
            _ => self.provider(table),
        }
    }
}

/// The shared, always-fresh view of the tables. Cheap to share (`Arc`).
pub struct Tables {
    root: Url,
    max_staleness: Duration,
    commits: Option<watch::Receiver<u64>>,
    current: RwLock<Arc<TablesSnapshot>>,
    /// The commit counter value the current snapshot includes.
    seen_commit: AtomicU64,
    last_check: Mutex<Instant>,
    refreshing: tokio::sync::Mutex<()>,
    staged: Option<Arc<StagedRows>>,
    /// The last snapshot with staged rows, and the view and tables it was
    /// made of: queries share it until either changes.
    with_staged: Mutex<Option<StagedSnapshot>>,
    /// Storage locations to remove from error messages, longest first.
    redactions: Vec<String>,
}

impl fmt::Debug for Tables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tables")
            .field("versions", &self.versions().to_string())
            .field("max_staleness", &self.max_staleness)
            .finish()
    }
}

impl Tables {
    /// Opens every table under `root` (`file:///dir/` or an object store
    /// URL; `revstream_pipeline::table_root` builds it from a path). Tables
    /// that do not exist yet read as empty until they appear.
    pub async fn open(root: Url, options: TablesOptions) -> Result<Tables> {
        let root = with_trailing_slash(root)?;
        let mut entries = BTreeMap::new();
        let opened = futures::future::join_all(TableName::ALL.map(|t| open_table(&root, t))).await;
        for (t, entry) in TableName::ALL.into_iter().zip(opened) {
            if let Some(e) = entry? {
                entries.insert(t, e);
            }
        }
        let seen = options.commits.as_ref().map_or(0, |rx| *rx.borrow());
        let redactions = redactions(&root);
        Ok(Tables {
            root,
            max_staleness: options.max_staleness,
            commits: options.commits,
            current: RwLock::new(Arc::new(TablesSnapshot {
                entries: Arc::new(entries),
                staged: None,
            })),
            seen_commit: AtomicU64::new(seen),
            last_check: Mutex::new(Instant::now()),
            refreshing: tokio::sync::Mutex::new(()),
            staged: options.staged,
            with_staged: Mutex::new(None),
            redactions,
        })
    }

    /// The snapshot a query should use: refreshed first when a commit was
    /// signalled or the last check is too old, with what is staged beyond
    /// it.
    pub async fn snapshot(self: &Arc<Self>) -> Arc<TablesSnapshot> {
        if self.needs_refresh() {
            self.refresh_to_the_end(Refresh::IfNeeded).await;
        }
        let Some(staged) = &self.staged else {
            return self.current();
        };
        // Taken together under the lock a refresh swaps the tables and
        // prunes under: staged rows are pruned only once the tables taken
        // here hold them.
        let (tables, view) = {
            let current = self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (current.clone(), staged.view())
        };
        let mut last = self
            .with_staged
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if view.is_empty() {
            // Nothing staged beyond the tables: let the last snapshot with
            // staged rows go (it holds an older set of tables and rows).
            *last = None;
            return tables;
        }
        if let Some(last) = last.as_ref()
            && Arc::ptr_eq(&last.tables, &tables)
            && Arc::ptr_eq(&last.view, &view)
        {
            return last.snapshot.clone();
        }
        let snapshot = Arc::new(tables.with_staged(&view));
        *last = Some(StagedSnapshot {
            tables,
            view,
            snapshot: snapshot.clone(),
        });
        snapshot
    }

    /// Checks storage for new versions now.
    pub async fn refresh(self: &Arc<Self>) {
        self.refresh_to_the_end(Refresh::Always).await;
    }

    /// Refreshes on a task of its own, one refresh at a time, and waits for
    /// it.
    ///
    /// Not in the caller's future, because delta-rs builds each table's new
    /// snapshot on a blocking thread that goes on when the future awaiting
    /// it is dropped. A query cancelled mid-refresh (its timeout fired, its
    /// client went away) used to leave those builds running and release
    /// the lock, so the next query started another refresh beside them.
    /// The builds wait for file reads that need blocking threads of their
    /// own, and once orphaned builds held every blocking thread, no refresh
    /// ever finished again: every later query hung. As a task, a refresh
    /// always runs to its end under the lock, whoever stopped waiting.
    async fn refresh_to_the_end(self: &Arc<Self>, when: Refresh) {
        let tables = Arc::clone(self);
        let refresh = tokio::spawn(async move {
            let _guard = tables.refreshing.lock().await;
            // Another query may have refreshed while this one waited.
            if when == Refresh::Always || tables.needs_refresh() {
                tables.refresh_locked().await;
            }
        });
        if let Err(e) = refresh.await {
            tracing::warn!(error = %e, "refreshing the tables ended abnormally; serving the versions held");
        }
    }

    /// The versions of the current snapshot (no refresh).
    pub fn versions(&self) -> TableVersions {
        self.current().versions()
    }

    /// Refreshes every `every` in the background (for roles whose pipeline
    /// runs elsewhere), so queries rarely pay for a check. Stops when the
    /// last `Arc<Tables>` is dropped.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(tables) = weak.upgrade() else {
                    return;
                };
                tables.refresh().await;
            }
        })
    }

    /// Whether storage answers: the latest version of every open table can
    /// be read. For `/readyz`.
    pub async fn check(&self) -> std::result::Result<(), String> {
        let current = self.current();
        let checks = current.entries.iter().map(|(t, e)| async move {
            e.table
                .get_latest_version()
                .await
                .map_err(|err| format!("{t}: {}", self.redact(&err.to_string())))
        });
        let failed: Vec<String> = futures::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(std::result::Result::err)
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Removes storage locations from a message meant for a caller.
    pub fn redact(&self, message: &str) -> String {
        let mut out = message.to_owned();
        for r in &self.redactions {
            out = out.replace(r.as_str(), "<tables>/");
        }
        out
    }

    fn current(&self) -> Arc<TablesSnapshot> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn needs_refresh(&self) -> bool {
        if let Some(rx) = &self.commits
            && *rx.borrow() != self.seen_commit.load(Ordering::Acquire)
        {
            return true;
        }
        self.last_check
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .elapsed()
            >= self.max_staleness
    }

    async fn refresh_locked(&self) {
        // Read the counter before looking at storage: a commit that lands
        // during the refresh ticks again and triggers the next one.
        let observed = self.commits.as_ref().map(|rx| *rx.borrow());
        let old = self.current();
        let refreshed = futures::future::join_all(
            TableName::ALL.map(|t| refresh_table(&self.root, t, old.entries.get(&t))),
        )
        .await;
        let mut entries = BTreeMap::new();
        let mut failed = false;
        for (t, result) in TableName::ALL.into_iter().zip(refreshed) {
            match result {
                Ok(Some(e)) => {
                    entries.insert(t, e);
                }
                Ok(None) => {}
                Err(e) => {
                    failed = true;
                    tracing::warn!(table = %t, error = %e, "refreshing a table failed; serving the previous version");
                    if let Some(prev) = old.entries.get(&t) {
                        entries.insert(t, prev.clone());
                    }
                }
            }
        }
        {
            let mut current = self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *current = Arc::new(TablesSnapshot {
                entries: Arc::new(entries),
                staged: None,
            });
            if let (Some(seen), false) = (observed, failed) {
                self.seen_commit.store(seen, Ordering::Release);
                if let Some(staged) = &self.staged {
                    staged.prune(seen);
                }
            }
        }
        *self
            .last_check
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }
}

/// A snapshot with staged rows and what it was made of.
struct StagedSnapshot {
    tables: Arc<TablesSnapshot>,
    view: Arc<StagedView>,
    snapshot: Arc<TablesSnapshot>,
}

fn with_trailing_slash(root: Url) -> Result<Url> {
    if root.path().ends_with('/') {
        return Ok(root);
    }
    Url::parse(&format!("{root}/"))
        .map_err(|e| QueryError::InvalidRequest(format!("table root {root}: {e}")))
}

fn table_url(root: &Url, table: TableName) -> Result<Url> {
    root.join(&format!("{}/", table.as_str()))
        .map_err(|e| QueryError::Internal(format!("table location of {table}: {e}")))
}

/// Every spelling of the root that may show up in an error message.
fn redactions(root: &Url) -> Vec<String> {
    let mut out = vec![root.to_string()];
    if let Ok(path) = root.to_file_path() {
        let path = path.to_string_lossy().into_owned();
        let with_slash = if path.ends_with('/') {
            path.clone()
        } else {
            format!("{path}/")
        };
        out.push(with_slash.trim_start_matches('/').to_owned());
        out.push(with_slash);
    } else {
        // Object stores name objects by their key, without the bucket URL.
        out.push(root.path().trim_start_matches('/').to_owned());
    }
    out.retain(|s| s.len() > 1);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

fn missing(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::NotATable(_) | DeltaTableError::InvalidTableLocation(_)
    )
}

async fn open_table(root: &Url, table: TableName) -> Result<Option<TableEntry>> {
    let url = table_url(root, table)?;
    // A local table the pipeline has not created yet (delta-rs reports a
    // missing directory as a kernel error, not as "not a table").
    if let Ok(dir) = url.to_file_path()
        && !dir.join("_delta_log").is_dir()
    {
        return Ok(None);
    }
    let opened = match DeltaTable::try_from_url(url).await {
        Ok(t) => t,
        Err(e) if missing(&e) => return Ok(None),
        Err(e) => return Err(QueryError::Storage(format!("opening {table}: {e}"))),
    };
    if opened.version().is_none() {
        return Ok(None);
    }
    entry(table, opened).await.map(Some)
}

async fn refresh_table(
    root: &Url,
    table: TableName,
    old: Option<&TableEntry>,
) -> Result<Option<TableEntry>> {
    let Some(old) = old else {
        return open_table(root, table).await;
    };
    let mut updated = old.table.clone();
    updated
        .update_incremental(None)
        .await
        .map_err(|e| QueryError::Storage(format!("refreshing {table}: {e}")))?;
    if updated.version() == old.table.version() {
        return Ok(Some(old.clone()));
    }
    entry(table, updated).await.map(Some)
}

async fn entry(table: TableName, opened: DeltaTable) -> Result<TableEntry> {
    let provider = opened
        .table_provider()
        .await
        .map_err(|e| QueryError::Storage(format!("reading {table}: {e}")))?;
    let files = match TenantFiles::index(&opened, provider.schema()) {
        Ok(files) => Some(Arc::new(files)),
        Err(e) => {
            tracing::warn!(%table, error = %e, "cannot group the files by tenant; tenants read through the Delta provider");
            None
        }
    };
    Ok(TableEntry {
        table: opened,
        provider,
        files,
    })
}

#[async_trait::async_trait]
impl revstream_ingest::http::ReadinessCheck for Tables {
    fn name(&self) -> &'static str {
        "tables"
    }

    async fn check(&self) -> std::result::Result<(), String> {
        Tables::check(self).await
    }
}
