//! A bounded result cache keyed by (tenant, normalized request, the
//! tenant's files).
//!
//! The identity of every file the tenant reads is part of the key
//! ([`crate::tables::TablesSnapshot::tenant_fingerprint`]), so an entry is
//! never stale: a pipeline commit that rewrites the tenant's rows names new
//! files and the next request misses, while another tenant's commit leaves
//! the entry valid. Entries of old files are never read again and age out. Bounded by
//! total bytes and entry count, least recently used evicted first. Results
//! of queries with non-deterministic functions (`now()`, `random()`) are
//! not stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use revstream_schemas::TenantId;

use crate::engine::QueryOutput;
use crate::lru::Lru;

/// What a cached answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    Sql,
    Metrics,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub tenant: TenantId,
    pub kind: CacheKind,
    /// The request in a canonical text form (see the callers).
    pub request: String,
    /// The tenant's files in every table.
    pub files: u64,
}

#[derive(Debug, Clone)]
pub enum Cached {
    Sql(Arc<QueryOutput>),
    /// The JSON text of a `/v1/metrics` answer.
    Metrics(axum::body::Bytes),
}

/// Hit and miss counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

pub struct ResultCache {
    max_bytes: usize,
    max_entries: usize,
    inner: Mutex<Lru<CacheKey, Cached>>,
    stats: CacheStats,
}

impl std::fmt::Debug for ResultCache {
    // Not the cached rows: they are tenants' data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lru = self.lock();
        f.debug_struct("ResultCache")
            .field("entries", &lru.len())
            .field("bytes", &lru.bytes())
            .field("max_bytes", &self.max_bytes)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl ResultCache {
    /// `max_bytes` 0 disables the cache.
    pub fn new(max_bytes: usize, max_entries: usize) -> Self {
        Self {
            max_bytes,
            max_entries,
            inner: Mutex::new(Lru::default()),
            stats: CacheStats::default(),
        }
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    pub fn get(&self, key: &CacheKey) -> Option<Cached> {
        let mut lru = self.lock();
        let found = lru.get(key);
        let counter = if found.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a value of about `bytes` bytes. Values over an eighth of the
    /// budget are not stored, so one answer cannot flush the cache.
    pub fn insert(&self, key: CacheKey, value: Cached, bytes: usize) {
        if self.max_bytes == 0 || self.max_entries == 0 || bytes > self.max_bytes / 8 {
            return;
        }
        let mut lru = self.lock();
        lru.remove(&key);
        while lru.bytes() + bytes > self.max_bytes || lru.len() >= self.max_entries {
            if lru.evict_oldest().is_none() {
                break;
            }
        }
        lru.insert(key, value, bytes);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// About how many bytes the cached answers take.
    pub fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<CacheKey, Cached>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(request: &str) -> CacheKey {
        CacheKey {
            tenant: TenantId::parse("acme").unwrap(),
            kind: CacheKind::Metrics,
            request: request.to_owned(),
            files: 0,
        }
    }

    fn value() -> Cached {
        Cached::Metrics(axum::body::Bytes::from_static(b"{}"))
    }

    #[test]
    fn bounded_by_bytes_and_entries_lru_first() {
        let cache = ResultCache::new(800, 3);
        cache.insert(key("a"), value(), 100);
        cache.insert(key("b"), value(), 100);
        cache.insert(key("c"), value(), 100);
        assert!(cache.get(&key("a")).is_some()); // a is now the most recent
        cache.insert(key("d"), value(), 100);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&key("b")).is_none(), "b was least recently used");
        assert!(cache.get(&key("a")).is_some());
        // Too large for the budget: not stored.
        cache.insert(key("e"), value(), 101);
        assert!(cache.get(&key("e")).is_none());
        // Bytes bound: 100 each, budget 800 → ok; replace keeps the count.
        cache.insert(key("a"), value(), 50);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.stats().hits.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn zero_budget_disables() {
        let cache = ResultCache::new(0, 10);
        cache.insert(key("a"), value(), 1);
        assert!(cache.is_empty());
    }
}
