//! A query cancelled while it refreshes the tables (its timeout fired, its
//! client went away) must not leave the refresh's blocking work behind.
//!
//! delta-rs builds each table's new snapshot on a blocking thread, and that
//! build waits for its file reads, which need blocking threads of their
//! own. When a cancelled query dropped its refresh, the builds went on
//! orphaned, the next query started another refresh beside them, and once
//! the orphans held every blocking thread no read could run: every later
//! query hung (seen in a slow soak run: 32 builds on a 32-thread pool).

use std::time::Duration;

use revstream_query::TablesOptions;
use revstream_schemas::TableName;

use crate::support::standard_fixture;

/// A pool a single refresh fits in (one build per table, and as many
/// threads again for their reads) but two at once may not.
const BLOCKING_THREADS: usize = 16;

#[test]
fn queries_cancelled_mid_refresh_leave_no_refresh_behind() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let f = standard_fixture().await;
        // Every query refreshes first.
        let tables = f
            .tables(TablesOptions {
                max_staleness: Duration::ZERO,
                commits: None,
                staged: None,
            })
            .await;
        let mut cancelled = 0;
        for _ in 0..200 {
            // Gone a moment after its refresh began, as a timed-out query is.
            let query = tokio::time::timeout(Duration::from_millis(1), tables.snapshot());
            if query.await.is_err() {
                cancelled += 1;
            }
        }
        assert!(cancelled > 0, "no query was cancelled mid-refresh");
        let next = tokio::time::timeout(Duration::from_secs(60), tables.snapshot()).await;
        assert!(
            next.is_ok(),
            "after {cancelled} cancelled queries the next refresh hangs: blocking pool exhausted"
        );
        assert!(next.unwrap().versions().get(TableName::Payments).is_some());
    });
}
