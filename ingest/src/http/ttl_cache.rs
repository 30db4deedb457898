//! A small map whose entries expire, for registry lookups on the hot path
//! (API keys, webhook secrets). Changes made elsewhere become visible within
//! one TTL; changes made through this process invalidate at once.
//!
//! An expired entry is kept a while longer (`stale_for`) for one use only:
//! when the registry cannot be reached, the last answer it gave stands in
//! (stale-if-error), so a database outage does not turn away webhooks that
//! the event log could take.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    stale_for: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, stale_for: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            stale_for,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// The entry even if expired, as long as it is within `stale_for` of
    /// expiring: for when the source of truth cannot be asked.
    pub fn get_stale(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl + self.stale_for)
            .map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            // Entries past their stale window go first; if all are younger,
            // start over rather than grow without bound (a miss only costs
            // a lookup).
            let keep = self.ttl + self.stale_for;
            entries.retain(|_, (at, _)| at.elapsed() < keep);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn invalidate(&self, key: &K) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let c = TtlCache::new(Duration::from_millis(50), Duration::ZERO, 10);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.invalidate(&"a");
        assert_eq!(c.get(&"a"), None);
        c.insert("b", 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"b"), None);
        assert_eq!(c.get_stale(&"b"), None);
    }

    #[test]
    fn expired_entries_stay_available_as_stale_for_a_while() {
        let c = TtlCache::new(Duration::from_millis(20), Duration::from_millis(200), 10);
        c.insert("a", 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"a"), None, "expired: a fresh lookup is due");
        assert_eq!(
            c.get_stale(&"a"),
            Some(1),
            "still usable if the lookup fails"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(c.get_stale(&"a"), None, "past the stale window");
    }

    #[test]
    fn size_is_bounded() {
        let c = TtlCache::new(Duration::from_secs(60), Duration::ZERO, 3);
        for i in 0..10 {
            c.insert(i, i);
        }
        assert!(c.entries.lock().unwrap().len() <= 3);
        assert_eq!(c.get(&9), Some(9));
    }
}
