//! The set of distinct events among copies.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use revstream_schemas::{CanonicalEvent, EventId, SourceName};

/// Dedupes by (source, id); [`super::derive_distinct`] does the ordering.
///
/// Copies of one event should be identical; if they are not, the copy whose
/// wire JSON sorts first is kept, so the choice never depends on which copy
/// arrived first (invariants 2 and 3).
pub(crate) fn distinct(events: &[CanonicalEvent]) -> Vec<&CanonicalEvent> {
    let mut by_key: BTreeMap<(&SourceName, &EventId), &CanonicalEvent> = BTreeMap::new();
    for event in events {
        match by_key.entry((&event.source, &event.id)) {
            Entry::Vacant(slot) => {
                slot.insert(event);
            }
            Entry::Occupied(mut slot) => {
                let kept = *slot.get();
                if kept != event && event.to_json() < kept.to_json() {
                    slot.insert(event);
                }
            }
        }
    }
    by_key.into_values().collect()
}
