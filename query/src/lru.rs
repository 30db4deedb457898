//! Least-recently-used bookkeeping by bytes, shared by the result cache
//! and the metrics indexes. It holds and orders; each cache decides what
//! to evict and when (its budget, its entry bound, its own side tables).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Last use → key; the first is the least recently used.
    order: BTreeMap<u64, K>,
    clock: u64,
    bytes: usize,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: usize,
    used: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
            bytes: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// The value of `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let now = self.clock;
        let entry = self.entries.get_mut(key)?;
        let before = std::mem::replace(&mut entry.used, now);
        let value = entry.value.clone();
        self.order.remove(&before);
        self.order.insert(now, key.clone());
        Some(value)
    }

    /// Holds `value` as the most recently used, replacing what `key` held.
    pub(crate) fn insert(&mut self, key: K, value: V, bytes: usize) {
        self.remove(&key);
        self.clock += 1;
        let used = self.clock;
        self.order.insert(used, key.clone());
        self.bytes += bytes;
        self.entries.insert(key, Entry { value, bytes, used });
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.used);
            self.bytes -= e.bytes;
        }
    }

    /// Drops the least recently used entry and names it.
    pub(crate) fn evict_oldest(&mut self) -> Option<K> {
        let (_, key) = self.order.pop_first()?;
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.bytes;
        }
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}
