//! Event ids this process has recently appended, so a provider retry can be
//! answered `duplicate` without writing it again.
//!
//! Best effort by design: it is per process and bounded. The pipeline's
//! dedupe on (tenant, source, event id) is the authority; this only saves
//! log space and tells the sender what happened. An id is remembered only
//! after its append was durable, so answering `duplicate` never loses data.

use std::collections::HashSet;
use std::sync::Mutex;

/// Two generations of ids: when the young one fills up, the old one is
/// dropped. Memory stays bounded, lookups stay O(1), and an id is
/// remembered for at least `capacity / 2` later insertions.
#[derive(Debug)]
pub struct RecentIds {
    /// (young, old)
    generations: Mutex<(IdSet, IdSet)>,
    half_capacity: usize,
}

type IdSet = HashSet<Box<str>>;

fn key(tenant: &str, source: &str, id: &str) -> Box<str> {
    // NUL cannot occur in tenant ids or sources, so the key is unambiguous.
    [tenant, source, id].join("\0").into_boxed_str()
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: Mutex::new((HashSet::new(), HashSet::new())),
            half_capacity: (capacity / 2).max(1),
        }
    }

    pub fn contains(&self, tenant: &str, source: &str, id: &str) -> bool {
        let k = key(tenant, source, id);
        let g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        g.0.contains(&k) || g.1.contains(&k)
    }

    /// Remembers ids whose append is durable.
    pub fn insert_all<'a>(&self, ids: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) {
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        for (tenant, source, id) in ids {
            if g.0.len() >= self.half_capacity {
                let young = std::mem::take(&mut g.0);
                g.1 = young;
            }
            g.0.insert(key(tenant, source, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_ids_per_tenant_and_source() {
        let r = RecentIds::new(100);
        r.insert_all([("acme", "stripe", "evt_1")]);
        assert!(r.contains("acme", "stripe", "evt_1"));
        assert!(!r.contains("acme", "whop", "evt_1"));
        assert!(!r.contains("beta", "stripe", "evt_1"));
    }

    #[test]
    fn memory_is_bounded_and_recent_ids_survive_rotation() {
        let r = RecentIds::new(10);
        let ids: Vec<String> = (0..100).map(|i| format!("e{i}")).collect();
        for id in &ids {
            r.insert_all([("t", "s", id.as_str())]);
        }
        let g = r.generations.lock().unwrap();
        assert!(g.0.len() + g.1.len() <= 10);
        drop(g);
        // The last half-capacity ids are always remembered.
        for id in &ids[95..] {
            assert!(r.contains("t", "s", id), "{id}");
        }
        assert!(!r.contains("t", "s", "e0"));
    }
}
