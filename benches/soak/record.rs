//! What the load saw, per route: latencies of the current window (swapped
//! out at each sample), refusals, failures, and the client's own count of
//! the distinct events the server accepted, checked against the pipeline
//! at the end.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Failure messages kept for the report (the count is always exact).
const KEPT_FAILURES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Webhook,
    Batch,
    Dashboard,
    Sql,
}

impl Route {
    pub(crate) const ALL: [Route; 4] = [Route::Webhook, Route::Batch, Route::Dashboard, Route::Sql];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::Webhook => "webhooks",
            Route::Batch => "batches",
            Route::Dashboard => "/v1/metrics",
            Route::Sql => "SQL",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Route::Webhook => 0,
            Route::Batch => 1,
            Route::Dashboard => 2,
            Route::Sql => 3,
        }
    }
}

/// One route over one window (or the whole run).
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteStats {
    /// Of the requests answered 2xx.
    pub(crate) latencies: Vec<Duration>,
    /// Failed: transport errors, timeouts, non-2xx other than refusals,
    /// wrong answers.
    pub(crate) failures: u64,
    /// Refused on purpose: 429 (rate limit) or 503 (query slots busy).
    pub(crate) refused: u64,
    /// Ticks not sent because every request slot of the route was busy.
    pub(crate) skipped: u64,
}

impl RouteStats {
    fn absorb(&mut self, other: &RouteStats) {
        self.latencies.extend_from_slice(&other.latencies);
        self.failures += other.failures;
        self.refused += other.refused;
        self.skipped += other.skipped;
    }
}

pub(crate) type Routes = [RouteStats; 4];

/// Retries the load sent on purpose, and how the server answered them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RetryCounts {
    pub(crate) webhooks: u64,
    /// Answered `duplicate` by ingest (the rest reached the log and were
    /// dropped by the pipeline's dedupe).
    pub(crate) webhooks_duplicate: u64,
    pub(crate) batches: u64,
    pub(crate) batch_rows: u64,
    pub(crate) batch_rows_duplicate: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    window: Mutex<Routes>,
    total: Mutex<Routes>,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    /// Distinct events in deliveries and batches answered as accepted.
    expected_events: AtomicU64,
    /// Events of deliveries and batches that failed (a timeout, a
    /// transport error): ingest may have appended them before the failure.
    in_doubt_events: AtomicU64,
    retries: Mutex<RetryCounts>,
}

impl Recorder {
    fn with_window(&self, route: Route, f: impl FnOnce(&mut RouteStats)) {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut window[route.index()]);
    }

    pub(crate) fn ok(&self, route: Route, latency: Duration) {
        self.with_window(route, |w| w.latencies.push(latency));
    }

    pub(crate) fn refused(&self, route: Route) {
        self.with_window(route, |w| w.refused += 1);
    }

    pub(crate) fn skipped(&self, route: Route) {
        self.with_window(route, |w| w.skipped += 1);
    }

    pub(crate) fn failed(&self, route: Route, message: String) {
        self.with_window(route, |w| w.failures += 1);
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < KEPT_FAILURES {
            kept.push(format!("{}: {message}", route.name()));
        }
    }

    pub(crate) fn failure_count(&self) -> u64 {
        self.failure_count.load(Ordering::Relaxed)
    }

    pub(crate) fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn accepted(&self, events: u64) {
        self.expected_events.fetch_add(events, Ordering::Relaxed);
    }

    pub(crate) fn expected_events(&self) -> u64 {
        self.expected_events.load(Ordering::Relaxed)
    }

    pub(crate) fn in_doubt(&self, events: u64) {
        self.in_doubt_events.fetch_add(events, Ordering::Relaxed);
    }

    pub(crate) fn in_doubt_events(&self) -> u64 {
        self.in_doubt_events.load(Ordering::Relaxed)
    }

    pub(crate) fn retry(&self, f: impl FnOnce(&mut RetryCounts)) {
        f(&mut self.retries.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(crate) fn retries(&self) -> RetryCounts {
        *self.retries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window so far (and a fresh one started); the run's totals keep it.
    pub(crate) fn take_window(&self) -> Routes {
        let taken = std::mem::take(&mut *self.window.lock().unwrap_or_else(|p| p.into_inner()));
        let mut total = self.total.lock().unwrap_or_else(|p| p.into_inner());
        for (t, w) in total.iter_mut().zip(taken.iter()) {
            t.absorb(w);
        }
        taken
    }

    /// Everything taken so far plus the current window.
    pub(crate) fn totals(&self) -> Routes {
        let mut total = self.total.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        for (t, w) in total.iter_mut().zip(window.iter()) {
            t.absorb(w);
        }
        total
    }
}
