//! A runtime for housekeeping, on threads at the lowest CPU priority.
//!
//! Compaction and checkpoints run beside the cycles, and on two cores they
//! compete with them: in the freshness bench a 2-second compaction of ten
//! busy partitions slowed the cycles under way by half and set the p99.
//! Housekeeping can wait; the events behind a cycle cannot. So it runs on a
//! runtime of its own whose threads (the worker and the blocking pool that
//! serves its file reads) have niceness 19: the scheduler gives it the
//! cores when the pipeline, ingest and queries leave them idle, and a
//! small share when they do not, so it still finishes under load.
//!
//! One runtime for the life of the process, not one per run: connections an
//! object store client opens on it are served by tasks of this runtime, and
//! must outlive the run that opened them.

use std::future::Future;
use std::sync::OnceLock;

use thread_priority::{
    NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    set_thread_priority_and_policy, thread_native_id,
};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Runs `work` on the housekeeping runtime; `None` when that runtime could
/// not be built (then the caller runs nothing and tries again later).
pub(super) fn spawn<F>(work: F) -> Option<JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    runtime().map(|runtime| runtime.spawn(work))
}

fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(4)
                .thread_name("revstream-housekeeping")
                .on_thread_start(lowest_priority)
                .enable_all()
                .build()
                .inspect_err(
                    |e| tracing::warn!(error = %e, "cannot start the housekeeping runtime"),
                )
                .ok()
        })
        .as_ref()
}

/// Niceness 19 for the calling thread (Linux sets it per thread).
fn lowest_priority() {
    let lowest = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
    );
    if let Err(e) = lowest {
        tracing::debug!(error = ?e, "housekeeping thread keeps its priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The housekeeping threads run at niceness 19 (read back from
    /// /proc), blocking pool included.
    #[tokio::test]
    async fn housekeeping_runs_at_the_lowest_priority() {
        fn nice_of_this_thread() -> i64 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
            // Field 19 (1-based) is the nice value; the command name in
            // field 2 may hold spaces, so count from the closing paren.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after
                .split_whitespace()
                .nth(16)
                .and_then(|n| n.parse().ok())
                .unwrap_or(i64::MIN)
        }
        let worker = spawn(async { assert_eq!(nice_of_this_thread(), 19) });
        worker.expect("runtime").await.expect("worker thread");
        let blocking = spawn(async {
            let nice = tokio::task::spawn_blocking(nice_of_this_thread).await;
            assert_eq!(nice.ok(), Some(19));
        });
        blocking.expect("runtime").await.expect("blocking thread");
        assert_eq!(nice_of_this_thread(), 0, "the caller's thread is untouched");
    }
}
