//! Event ids this process has recently appended, so a provider retry can be
//! answered `duplicate` without writing it again.
//!
//! Best effort by design: it is per process and bounded. The pipeline's
//! dedupe on (tenant, source, event id) is the authority; this only saves
//! log space and tells the sender what happened. An id is remembered only
//! after its append was durable, so answering `duplicate` never loses data.
//!
//! Each (tenant, source, id) is held as a 128-bit keyed SipHash rather than
//! as its text: 16 bytes in the table instead of a pointer to a boxed
//! string of 40 to 200, so the million ids remembered by default cost
//! about 36 MiB at most (two tables of 2²⁰ slots of 17 bytes) instead of
//! about 100 (the soak test saw this set grow with every event until the
//! bound). A false `duplicate` would drop an event, so the digest is wide
//! and keyed with per-process random keys: two different ids collide with
//! probability about 2⁻¹²⁸ per pair, and a sender who does not know the
//! keys cannot aim for a collision.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use foldhash::fast::FixedState;
use siphasher::sip128::{Hasher128, SipHasher13};

/// Two generations of ids: when the young one fills up, the old one is
/// dropped. Memory stays bounded, lookups stay O(1), and an id is
/// remembered for at least `capacity / 2` later insertions.
#[derive(Debug)]
pub struct RecentIds {
    /// (young, old)
    generations: Mutex<(IdSet, IdSet)>,
    half_capacity: usize,
    keys: (u64, u64),
}

/// Digests are already uniform, so the set's own hash can be the cheapest.
type IdSet = HashSet<u128, FixedState>;

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        // std's RandomState is seeded from the OS once per process.
        let seed = RandomState::new();
        Self {
            generations: Mutex::new((IdSet::default(), IdSet::default())),
            half_capacity: (capacity / 2).max(1),
            keys: (seed.hash_one(0u8), seed.hash_one(1u8)),
        }
    }

    fn digest(&self, tenant: &str, source: &str, id: &str) -> u128 {
        let mut h = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        // NUL cannot occur in tenant ids or sources, so the input is
        // unambiguous.
        for part in [tenant, "\0", source, "\0", id] {
            h.write(part.as_bytes());
        }
        h.finish128().as_u128()
    }

    pub fn contains(&self, tenant: &str, source: &str, id: &str) -> bool {
        let k = self.digest(tenant, source, id);
        let g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        g.0.contains(&k) || g.1.contains(&k)
    }

    /// Remembers ids whose append is durable.
    pub fn insert_all<'a>(&self, ids: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) {
        // Digest outside the lock: ingest handlers share this set.
        let digests: Vec<u128> = ids
            .into_iter()
            .map(|(tenant, source, id)| self.digest(tenant, source, id))
            .collect();
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        for k in digests {
            if g.0.len() >= self.half_capacity {
                let young = std::mem::take(&mut g.0);
                g.1 = young;
            }
            g.0.insert(k);
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
        // The separators keep the parts apart.
        assert!(!r.contains("acmes", "tripe", "evt_1"));
        assert!(!r.contains("acme", "stripe", "evt_"));
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

    #[test]
    fn a_hundred_thousand_distinct_ids_never_collide() {
        let r = RecentIds::new(1_000_000);
        let ids: Vec<String> = (0..100_000).map(|i| format!("evt_{i}")).collect();
        r.insert_all(ids.iter().map(|id| ("t", "stripe", id.as_str())));
        let g = r.generations.lock().unwrap();
        assert_eq!(g.0.len(), ids.len(), "every id has its own digest");
        drop(g);
        assert!(!r.contains("t", "stripe", "evt_100000"));
    }

    #[test]
    fn digests_differ_between_instances() {
        // Keys are per instance (per process in practice), so a sender
        // cannot precompute colliding ids.
        let (a, b) = (RecentIds::new(10), RecentIds::new(10));
        assert_ne!(a.digest("t", "s", "e"), b.digest("t", "s", "e"));
    }
}
