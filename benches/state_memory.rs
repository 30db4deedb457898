//! Heap bytes per event the pipeline holds in its state, next to what the
//! same events cost as they arrive (`CanonicalEvent`s in a `Vec` plus a set
//! of their (source, id) keys: the state's shape before it was compacted).
//!
//! The pipeline keeps every distinct event of the tenants it owns for as
//! long as it runs, so this figure times the event count is the floor of
//! its memory. Counted exactly, by `stats_alloc`'s instrumented system
//! allocator; the events are the realistic stream of `common/generator.rs`.
//!
//! Run with `cargo bench --bench state_memory` (a few seconds).

// The table on stdout is the bench's output.
#![allow(clippy::print_stdout)]

#[path = "common/generator.rs"]
mod generator;

use std::alloc::System;
use std::collections::HashSet;

use revstream_pipeline::state::TenantState;
use revstream_schemas::{CanonicalEvent, EventId, SourceName};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use generator::{StreamSpec, tenant_events};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes held by what `build` returns.
fn held_by<T>(build: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(ALLOCATOR);
    let value = build();
    let change = region.change();
    let live = change.bytes_allocated as isize - change.bytes_deallocated as isize
        + change.bytes_reallocated;
    (value, live.max(0) as usize)
}

fn main() {
    let sizes = [1_000, 20_000, 100_000];
    println!(
        "| events of one tenant | before: Vec<CanonicalEvent> + key set, B/event | state (compact), B/event | ratio |"
    );
    println!("|---:|---:|---:|---:|");
    for size in sizes {
        let events: Vec<CanonicalEvent> = tenant_events(&StreamSpec::new(size, 365, 7), 0)
            .expect("the generator is valid")
            .into_iter()
            .map(|mut e| {
                e.raw = None;
                e
            })
            .collect();
        let n = events.len();

        let (reference, before_bytes) = held_by(|| {
            let mut keys: HashSet<(SourceName, EventId)> = HashSet::new();
            let mut held = Vec::new();
            for e in events.iter().cloned() {
                if keys.insert((e.source.clone(), e.id.clone())) {
                    held.push(e);
                }
            }
            (held, keys)
        });
        drop(reference);

        let (state, state_bytes) = held_by(|| {
            let mut state = TenantState::default();
            for e in &events {
                state.insert(e);
            }
            state
        });
        assert_eq!(state.len(), n, "the generator's events are distinct");
        drop(state);

        let per = |bytes: usize| bytes as f64 / n as f64;
        println!(
            "| {n} | {:.0} | {:.0} | {:.2} |",
            per(before_bytes),
            per(state_bytes),
            per(state_bytes) / per(before_bytes)
        );
    }
}
