//! Thread pools sized by `n_jobs`, and work that the calling thread watches for interruption.
//!
//! The calling thread never computes: while the pool works on a chunk, it polls the
//! [`Monitor`] every [`POLL`] (Ctrl-C), and on a stop request raises the [`Cancel`] flag that
//! long single tasks check between their own steps. Chunks are sized by work (see
//! [`items_per_chunk`]), so that an unchecked chunk still ends within a fraction of a second.

use crate::error::{Error, Result};
use crate::monitor::Monitor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the calling thread asks the monitor whether to stop while a chunk runs.
pub const POLL: Duration = Duration::from_millis(25);

/// Elementary steps (a node visited by one row, say) that one thread does per chunk: about a
/// tenth of a second of work (steps that miss the cache count more, see their cost models).
pub const STEPS_PER_THREAD_CHUNK: f64 = (1u64 << 26) as f64;

/// Most threads per core: results are the same for any thread count, and more threads than
/// this only cost memory (a stack and buffers each).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The most threads a computation starts: [`MAX_THREADS_PER_CORE`] per available core.
pub fn max_threads() -> usize {
    cores() * MAX_THREADS_PER_CORE
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Number of threads for `n_jobs`: `None` or 0 means all cores, negative counts back from them
/// (-1 all, -2 all but one), as in scikit-learn; capped at [`max_threads`].
pub fn thread_count(n_jobs: Option<i64>) -> usize {
    let cores = cores() as i64;
    let n = match n_jobs {
        None | Some(0) => cores,
        Some(n) if n < 0 => cores.saturating_add(1).saturating_add(n).max(1),
        Some(n) => n,
    };
    (n.max(1) as usize).min(max_threads())
}

/// A rayon pool with `threads` workers.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot start {threads} threads: {e}")))
}

/// Raised when the computation must stop; long tasks check it between steps of their own and
/// return early (their partial results are discarded).
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    pub fn new() -> Self {
        Cancel(AtomicBool::new(false))
    }

    /// Whether a stop was requested.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once a stop was requested.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Requests the stop (the watcher does, on the monitor's request; tests directly).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How many items of `cost` elementary steps each make one chunk for `threads` threads: at
/// least `min_items` (and at least 1), otherwise about [`STEPS_PER_THREAD_CHUNK`] per thread.
pub fn items_per_chunk(cost: f64, threads: usize, min_items: usize) -> usize {
    let budget = STEPS_PER_THREAD_CHUNK * threads.max(1) as f64;
    let items = (budget / cost.max(1.0)).floor();
    (items.min(usize::MAX as f64 / 2.0) as usize)
        .max(min_items)
        .max(1)
}

/// Sets the flag and wakes the watching thread when dropped, also when the work panics.
struct Finished<'a> {
    done: &'a AtomicBool,
    caller: std::thread::Thread,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        self.caller.unpark();
    }
}

/// Runs `work` in `pool` while the calling thread polls `monitor` every [`POLL`]; a stop
/// request raises the [`Cancel`] flag `work` receives, waits for `work` to return, and returns
/// the monitor's error.
pub fn watched<T, F>(pool: &rayon::ThreadPool, monitor: &dyn Monitor, work: F) -> Result<T>
where
    T: Send,
    F: FnOnce(&Cancel) -> Result<T> + Send,
{
    let cancel = Cancel::new();
    if rayon::current_thread_index().is_some() {
        // Already on a worker (a nested call): run in place; the outer call watches.
        return work(&cancel);
    }
    let done = AtomicBool::new(false);
    let mut result: Option<Result<T>> = None;
    let mut stop: Result<()> = Ok(());
    {
        let (cancel, done, result, stop) = (&cancel, &done, &mut result, &mut stop);
        let caller = std::thread::current();
        pool.in_place_scope(move |scope| {
            scope.spawn(move |_| {
                let _finished = Finished { done, caller };
                *result = Some(work(cancel));
            });
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(POLL);
                if stop.is_ok() && !done.load(Ordering::Acquire) {
                    if let Err(e) = monitor.poll() {
                        cancel.raise();
                        *stop = Err(e);
                    }
                }
            }
        });
    }
    stop?;
    result.unwrap_or(Err(Error::Internal("a task ended without a result".into())))
}

/// Runs `work(start, end, cancel)` over `0..total` in chunks of `chunk` items inside `pool`,
/// calling the monitor between chunks (and polling it during each) from the calling thread so
/// that Ctrl-C stops the work promptly.
pub fn for_each_chunk_cancellable<F>(
    pool: &rayon::ThreadPool,
    total: usize,
    chunk: usize,
    monitor: &dyn Monitor,
    mut work: F,
) -> Result<()>
where
    F: FnMut(usize, usize, &Cancel) -> Result<()> + Send,
{
    let chunk = chunk.max(1);
    let mut start = 0;
    monitor.checkpoint(0, total)?;
    while start < total {
        let end = (start + chunk).min(total);
        watched(pool, monitor, |cancel| work(start, end, cancel))?;
        start = end;
        monitor.checkpoint(start, total)?;
    }
    Ok(())
}

/// [`for_each_chunk_cancellable`] for work that never checks the flag (chunks sized by work).
pub fn for_each_chunk<F>(
    pool: &rayon::ThreadPool,
    total: usize,
    chunk: usize,
    monitor: &dyn Monitor,
    mut work: F,
) -> Result<()>
where
    F: FnMut(usize, usize) -> Result<()> + Send,
{
    for_each_chunk_cancellable(pool, total, chunk, monitor, |start, end, _| {
        work(start, end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Stops at the `after`-th poll.
    struct StopAfter {
        polls: AtomicUsize,
        after: usize,
    }

    impl Monitor for StopAfter {
        fn checkpoint(&self, _done: usize, _total: usize) -> Result<()> {
            Ok(())
        }
        fn poll(&self) -> Result<()> {
            if self.polls.fetch_add(1, Ordering::Relaxed) + 1 >= self.after {
                Err(Error::Interrupted)
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_poll_during_a_long_task_cancels_it() {
        let pool = pool(2).unwrap();
        let monitor = StopAfter {
            polls: AtomicUsize::new(0),
            after: 2,
        };
        let started = std::time::Instant::now();
        let result: Result<()> = watched(&pool, &monitor, |cancel| {
            // Would run for a minute without the flag.
            while started.elapsed() < Duration::from_secs(60) {
                cancel.check()?;
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        });
        assert_eq!(result, Err(Error::Interrupted));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn results_and_panics_come_back() {
        let pool = pool(1).unwrap();
        let monitor = crate::monitor::Silent;
        assert_eq!(watched(&pool, &monitor, |_| Ok(7)), Ok(7));
        let caught = crate::error::guarded(|| {
            watched(&pool, &monitor, |_| -> Result<()> { panic!("broken") })
        });
        assert!(matches!(caught, Err(Error::Internal(_))));
    }

    #[test]
    fn chunk_sizes_follow_work() {
        assert_eq!(items_per_chunk(1e30, 4, 1), 1);
        assert_eq!(items_per_chunk(1e30, 4, 8), 8);
        assert!(items_per_chunk(10.0, 1, 1) > 1_000_000);
    }

    #[test]
    fn thread_counts_are_capped() {
        assert_eq!(thread_count(Some(i64::MAX)), max_threads());
        assert_eq!(thread_count(Some(i64::MIN)), 1);
        assert_eq!(thread_count(Some(1)), 1);
        assert_eq!(thread_count(None), cores());
    }
}
