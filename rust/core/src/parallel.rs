//! Thread pools sized by `n_jobs`, and chunked loops that report to a [`Monitor`].

use crate::error::{Error, Result};
use crate::monitor::Monitor;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_capped() {
        assert_eq!(thread_count(Some(i64::MAX)), max_threads());
        assert_eq!(thread_count(Some(i64::MIN)), 1);
        assert_eq!(thread_count(Some(1)), 1);
        assert_eq!(thread_count(None), cores());
    }
}
