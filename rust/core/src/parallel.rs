//! Thread pools sized by `n_jobs`, and chunked loops that report to a [`Monitor`].

use crate::error::{Error, Result};
use crate::monitor::Monitor;

/// Number of threads for `n_jobs`: `None` or 0 means all cores, negative counts back from them
/// (-1 all, -2 all but one), as in scikit-learn.
pub fn thread_count(n_jobs: Option<i64>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let n = match n_jobs {
        None | Some(0) => cores,
        Some(n) if n < 0 => (cores + 1 + n).max(1),
        Some(n) => n,
    };
    n.max(1) as usize
}

/// A rayon pool with `threads` workers.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot start {threads} threads: {e}")))
}

/// Runs `work(start, end)` over `0..total` in chunks of `chunk` items inside `pool`, calling the
/// monitor between chunks from the calling thread so that Ctrl-C stops the work promptly.
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
    let chunk = chunk.max(1);
    let mut start = 0;
    monitor.checkpoint(0, total)?;
    while start < total {
        let end = (start + chunk).min(total);
        pool.install(|| work(start, end))?;
        start = end;
        monitor.checkpoint(start, total)?;
    }
    Ok(())
}
