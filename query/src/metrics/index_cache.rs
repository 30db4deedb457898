//! The `/v1/metrics` indexes held in memory: keyed by tenant, the identity
//! of the tenant's files and what the index is of, bounded by bytes (least
//! recently used out first), built once however many requests ask at the
//! same moment.
//!
//! The key is the tenant's own files, not the tables' versions: a commit
//! of another tenant leaves this tenant's files, and so its index, as they
//! were. A commit that rewrote this tenant's partition names new files, so
//! the next request misses and builds from what is committed; an index is
//! never stale. The new index replaces the tenant's older one of the same
//! shape at once: under the soak's load (8 tenants each committing several
//! times a second, 15 dashboard requests a second) about 2 MB/s of indexes
//! are rebuilt, so versions no request asks again would fill the budget
//! within a minute, long before least-recently-used eviction reached them
//! (an estimate from the soak's rates; the index bytes were not sampled).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use revstream_schemas::TenantId;
use tokio::sync::OnceCell;

use chrono_tz::Tz;

use super::GroupBy;
use super::group_index::GroupIndex;
use super::index::SeriesIndex;
use crate::lru::Lru;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct IndexKey {
    pub(crate) tenant: TenantId,
    /// [`crate::tables::TablesSnapshot::tenant_fingerprint`] of the tables
    /// the index reads.
    pub(crate) files: u64,
    pub(crate) shape: Shape,
}

/// What an index is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Series,
    /// Booked days are local dates, so a grouped index is per timezone.
    Groups(GroupBy, Tz),
}

/// An index of either shape.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MetricsIndex {
    Series(SeriesIndex),
    Groups(GroupIndex),
}

impl MetricsIndex {
    fn bytes(&self) -> usize {
        match self {
            MetricsIndex::Series(i) => i.bytes(),
            MetricsIndex::Groups(i) => i.bytes(),
        }
    }
}

/// Bounded, single-flight store of [`MetricsIndex`]es.
pub struct IndexCache {
    max_bytes: usize,
    inner: Mutex<Held>,
    builds: AtomicU64,
}

#[derive(Default)]
struct Held {
    ready: Lru<IndexKey, Arc<MetricsIndex>>,
    /// The key of the index held for each (tenant, shape): a newer one
    /// replaces it, since a request never asks an older version again
    /// (queries under way hold what they read).
    latest: HashMap<(TenantId, Shape), IndexKey>,
    /// Builds under way: later askers wait on the same cell.
    building: HashMap<IndexKey, Arc<OnceCell<Arc<MetricsIndex>>>>,
    /// Indexes found too large to hold (over an eighth of the budget), by
    /// tenant and shape: their requests query instead of building an index
    /// each time. A tenant's data only grows, so this is not undone.
    oversized: HashSet<(TenantId, Shape)>,
}

/// Builds under way above which abandoned ones are cleared.
const MAX_BUILDING: usize = 1_000;

/// Most (tenant, shape) pairs remembered as too large; past it the set
/// starts over (a rebuild each tells again).
const MAX_OVERSIZED: usize = 10_000;

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lru = self.lock();
        f.debug_struct("IndexCache")
            .field("indexes", &lru.ready.len())
            .field("bytes", &lru.ready.bytes())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl IndexCache {
    /// `max_bytes` 0 disables it: [`IndexCache::enabled`] is false.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Held::default()),
            builds: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// Indexes held and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.ready.len(), lru.ready.bytes())
    }

    /// Indexes built (successfully or not) since start.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// Whether indexes of this tenant and shape are too large to hold:
    /// then requests query rather than build one each.
    pub(crate) fn oversized(&self, key: &IndexKey) -> bool {
        self.lock()
            .oversized
            .contains(&(key.tenant.clone(), key.shape))
    }

    /// The index of `key`, built by `build` unless held or being built. A
    /// failed build is not kept: the next request tries again.
    pub(crate) async fn get_or_build<E, F, Fut>(
        &self,
        key: IndexKey,
        build: F,
    ) -> Result<Arc<MetricsIndex>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<MetricsIndex, E>>,
    {
        let cell = {
            let mut lru = self.lock();
            if let Some(index) = lru.ready.get(&key) {
                return Ok(index);
            }
            if lru.building.len() >= MAX_BUILDING {
                // Cells left by builds whose askers all went away (a
                // request timed out or its client left): no one holds them.
                lru.building.retain(|_, cell| Arc::strong_count(cell) > 1);
            }
            lru.building.entry(key.clone()).or_default().clone()
        };
        let built = cell
            .get_or_try_init(|| async {
                self.builds.fetch_add(1, Ordering::Relaxed);
                build().await.map(Arc::new)
            })
            .await
            .cloned();
        let mut lru = self.lock();
        if lru
            .building
            .get(&key)
            .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            lru.building.remove(&key);
            if let Ok(index) = &built {
                let bytes = index.bytes();
                if bytes > self.max_bytes / 8 {
                    if lru.oversized.len() >= MAX_OVERSIZED {
                        lru.oversized.clear();
                    }
                    lru.oversized.insert((key.tenant, key.shape));
                } else {
                    lru.insert(key, index.clone(), bytes, self.max_bytes);
                }
            }
        }
        built
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Held {
    /// Holds `index` (at most an eighth of the budget, so that one tenant
    /// cannot flush every other), evicting the least recently used.
    fn insert(&mut self, key: IndexKey, index: Arc<MetricsIndex>, bytes: usize, max_bytes: usize) {
        if let Some(replaced) = self
            .latest
            .insert((key.tenant.clone(), key.shape), key.clone())
            .filter(|old| *old != key)
        {
            self.ready.remove(&replaced);
        }
        while self.ready.bytes() + bytes > max_bytes {
            let Some(evicted) = self.ready.evict_oldest() else {
                break;
            };
            let slot = (evicted.tenant.clone(), evicted.shape);
            if self.latest.get(&slot) == Some(&evicted) {
                self.latest.remove(&slot);
            }
        }
        self.ready.insert(key, index, bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn key(tenant: &str, files: u64) -> IndexKey {
        IndexKey {
            tenant: TenantId::parse(tenant).unwrap(),
            files,
            shape: Shape::Series,
        }
    }

    fn empty() -> MetricsIndex {
        MetricsIndex::Series(SeriesIndex::default())
    }

    #[tokio::test]
    async fn concurrent_askers_share_one_build() {
        let cache = Arc::new(IndexCache::new(1 << 20));
        let builds = Arc::new(AtomicUsize::new(0));
        let askers = (0..16).map(|_| {
            let (cache, builds) = (cache.clone(), builds.clone());
            tokio::spawn(async move {
                cache
                    .get_or_build(key("acme", 1), || async {
                        builds.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, ()>(empty())
                    })
                    .await
            })
        });
        for asker in futures::future::join_all(askers).await {
            assert!(asker.unwrap().is_ok());
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(cache.builds(), 1);
        assert_eq!(cache.usage().0, 1);
    }

    #[tokio::test]
    async fn a_failed_build_is_retried_and_new_files_miss() {
        let cache = IndexCache::new(1 << 20);
        let failed = cache
            .get_or_build(key("acme", 1), || async { Err("storage down") })
            .await;
        assert_eq!(failed.unwrap_err(), "storage down");
        assert_eq!(cache.usage().0, 0, "a failure is not held");
        let ok = cache
            .get_or_build(key("acme", 1), || async { Ok::<_, ()>(empty()) })
            .await;
        assert!(ok.is_ok());
        let rebuilt = AtomicUsize::new(0);
        for files in [1, 1, 2] {
            let _ = cache
                .get_or_build(key("acme", files), || async {
                    rebuilt.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(empty())
                })
                .await;
        }
        assert_eq!(
            rebuilt.load(Ordering::SeqCst),
            1,
            "only the new files build"
        );
    }

    #[tokio::test]
    async fn an_index_too_large_to_hold_is_remembered_by_tenant_and_shape() {
        let cache = IndexCache::new(8 * empty().bytes() - 8);
        assert!(!cache.oversized(&key("acme", 1)));
        let built = cache
            .get_or_build(key("acme", 1), || async { Ok::<_, ()>(empty()) })
            .await;
        assert!(built.is_ok(), "the asker still gets what was built");
        assert_eq!(cache.usage(), (0, 0), "not held");
        assert!(cache.oversized(&key("acme", 2)), "whatever the files");
        assert!(!cache.oversized(&key("beta", 1)));
    }

    #[tokio::test]
    async fn a_newer_version_replaces_the_held_one() {
        let cache = IndexCache::new(1 << 20);
        for files in [1, 2, 3] {
            let _ = cache
                .get_or_build(key("acme", files), || async { Ok::<_, ()>(empty()) })
                .await;
        }
        let _ = cache
            .get_or_build(key("beta", 1), || async { Ok::<_, ()>(empty()) })
            .await;
        assert_eq!(
            cache.usage(),
            (2, 2 * empty().bytes()),
            "acme's latest and beta's"
        );
        let rebuilt = AtomicUsize::new(0);
        for files in [3, 2] {
            let _ = cache
                .get_or_build(key("acme", files), || async {
                    rebuilt.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(empty())
                })
                .await;
        }
        assert_eq!(rebuilt.load(Ordering::SeqCst), 1, "3 held, 2 dropped");
        assert_eq!(cache.usage().0, 2);
    }

    #[tokio::test]
    async fn bounded_by_bytes_least_recently_used_out() {
        let one = empty().bytes();
        let cache = IndexCache::new(one * 8 * 2);
        // An eighth of the budget is 2 indexes' worth: hold at most 16.
        for t in 0..40 {
            let _ = cache
                .get_or_build(key(&format!("t{t}"), 0), || async { Ok::<_, ()>(empty()) })
                .await;
        }
        let (held, bytes) = cache.usage();
        assert_eq!(held, 16);
        assert!(bytes <= one * 16);
        let calls = AtomicUsize::new(0);
        let _ = cache
            .get_or_build(key("t0", 0), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(empty())
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the oldest was evicted");
    }
}
