//! The set of distinct events, in the one order every entity uses.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use revstream_schemas::{CanonicalEvent, EventId, SourceName};

/// Dedupes by (source, id) and orders by (occurred_at, id, source).
///
/// Copies of one event should be identical; if they are not, the copy whose
/// wire JSON sorts first is kept, so the choice never depends on which copy
/// arrived first (invariants 2 and 3). `source` only breaks the tie between
/// two sources that used the same id at the same instant.
pub(crate) fn distinct_in_order(events: &[CanonicalEvent]) -> Vec<&CanonicalEvent> {
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
    let mut distinct: Vec<&CanonicalEvent> = by_key.into_values().collect();
    distinct
        .sort_by(|a, b| (a.occurred_at, &a.id, &a.source).cmp(&(b.occurred_at, &b.id, &b.source)));
    distinct
}
