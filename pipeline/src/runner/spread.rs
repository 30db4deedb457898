//! Running a cycle's CPU work on the pipeline's own threads, spread over
//! the cores.
//!
//! Not on the async runtime: in `serve` the runtime's workers answer ingest
//! and query requests, and a worker busy deriving for hundreds of
//! milliseconds would hold up every request queued on it (moving the work
//! off the runtime halved the soak's p99 latencies).
//!
//! Not on tokio's blocking pool either, nor on a thread per cycle:
//! allocators keep per-thread heaps or caches, and memory freed by another
//! thread (a batch built here is freed after the commit, on a runtime
//! worker) goes back slowly, or never once its thread has exited. The
//! blocking pool hands work to whichever of its threads is idle, and a
//! thread per cycle is gone every time: both made the soak's RSS grow
//! faster (measured on mimalloc; see `src/main.rs` for the allocator). So
//! the work goes to one long-lived thread per core, each busy every cycle.
//!
//! ```text
//!  cycle (async) ─ jobs ─▶ revstream-cpu-0 ∥ revstream-cpu-1 … ─ results (oneshot) ─▶ cycle
//! ```

use std::cmp::Reverse;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// The pipeline's CPU threads, started on first use and kept for the life
/// of the process. `None` when not one thread could be started.
fn pool() -> Option<&'static mpsc::Sender<Job>> {
    static POOL: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for i in 0..cores() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("revstream-cpu-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for a job.
                        let next = queue
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .recv();
                        match next {
                            Ok(job) => job(),
                            Err(mpsc::RecvError) => return,
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!(error = %e, "cannot start a pipeline CPU thread"),
            }
        }
        (started > 0).then_some(jobs)
    })
    .as_ref()
}

/// Runs `f` on a pipeline CPU thread and waits for it without blocking the
/// runtime. A panic in `f` is resumed here. Falls back to tokio's blocking
/// pool when the CPU threads could not be started.
pub(super) async fn on_cpu_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let Some(jobs) = pool() else {
        return match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
    };
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may have gone (its cycle was cancelled): nothing to do.
        let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    });
    if jobs.send(job).is_err() {
        unreachable!("the pipeline CPU threads never stop while the sender lives");
    }
    match result.await {
        Ok(Ok(r)) => r,
        // A panic in the pipeline's own code is a bug: let it take the
        // pipeline down as it would have on the runtime. The log and the
        // tables still hold everything, so a restart loses nothing.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => unreachable!("a job always reports before it is dropped"),
    }
}

/// How many threads CPU work is spread over: the machine's cores.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Applies `work` to every item in up to `threads` jobs on the CPU threads
/// and returns the results in the items' order. Items are dealt biggest
/// first (by `weight`) to the least loaded thread: the work takes as long
/// as its slowest thread.
pub(super) async fn spread<T, R>(
    items: Vec<T>,
    threads: usize,
    weight: impl Fn(&T) -> usize,
    work: fn(T) -> R,
) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let threads = threads.clamp(1, items.len().max(1));
    let weights: Vec<usize> = items.iter().map(|t| weight(t).max(1)).collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| Reverse(weights[i]));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut shares: Vec<(usize, Vec<(usize, T)>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for i in order {
        let (Some(item), Some(lightest)) = (
            slots[i].take(),
            shares.iter_mut().min_by_key(|(load, _)| *load),
        ) else {
            continue;
        };
        lightest.0 += weights[i];
        lightest.1.push((i, item));
    }

    let jobs = shares
        .into_iter()
        .filter(|(_, share)| !share.is_empty())
        .map(|(_, share)| {
            on_cpu_thread(move || {
                share
                    .into_iter()
                    .map(|(i, item)| (i, work(item)))
                    .collect::<Vec<_>>()
            })
        });
    let mut done: Vec<(usize, R)> = futures::future::join_all(jobs)
        .await
        .into_iter()
        .flatten()
        .collect();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(n: u64) -> (u64, String) {
        (n * n, format!("{:?}", std::thread::current().id()))
    }

    #[tokio::test]
    async fn results_come_back_in_the_items_order_whatever_the_threads() {
        let items: Vec<u64> = (0..50).collect();
        for threads in [1, 2, 3, 64] {
            let out = spread(items.clone(), threads, |&n| (n % 7) as usize, square).await;
            let squares: Vec<u64> = out.iter().map(|(s, _)| *s).collect();
            assert_eq!(squares, items.iter().map(|n| n * n).collect::<Vec<_>>());
        }
        assert!(spread(Vec::<u64>::new(), 2, |_| 1, square).await.is_empty());
    }

    #[tokio::test]
    async fn the_work_runs_on_the_long_lived_cpu_threads() {
        let runtime_thread = format!("{:?}", std::thread::current().id());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            for (_, thread) in spread(vec![1, 2, 3], 2, |&n| n as usize, square).await {
                assert_ne!(thread, runtime_thread);
                seen.insert(thread);
            }
        }
        // Twenty calls, and no thread beyond the pool's.
        assert!(seen.len() <= cores(), "{seen:?}");
        let name = on_cpu_thread(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("revstream-cpu-")),
            "{name:?}"
        );
    }

    #[tokio::test]
    async fn a_panic_reaches_the_caller_and_the_threads_survive_it() {
        let panicked = tokio::spawn(on_cpu_thread(|| -> u32 { panic!("a bug") })).await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        assert_eq!(on_cpu_thread(|| 41 + 1).await, 42);
    }
}
