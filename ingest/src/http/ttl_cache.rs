//! A small map whose entries expire, for registry lookups on the hot path
//! (API keys, webhook secrets). Changes made elsewhere become visible within
//! one TTL; changes made through this process invalidate at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            // Expired entries go first; if all are fresh, start over rather
            // than grow without bound (a miss only costs a lookup).
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub(crate) fn invalidate(&self, key: &K) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let c = TtlCache::new(Duration::from_millis(50), 10);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.invalidate(&"a");
        assert_eq!(c.get(&"a"), None);
        c.insert("b", 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"b"), None);
    }

    #[test]
    fn size_is_bounded() {
        let c = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            c.insert(i, i);
        }
        assert!(c.entries.lock().unwrap().len() <= 3);
        assert_eq!(c.get(&9), Some(9));
    }
}
