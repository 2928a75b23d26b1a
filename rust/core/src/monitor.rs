//! Progress reporting and interruption between chunks of work.

use crate::error::Result;

/// Called by the thread that drives a computation (never by a worker).
///
/// Returning an error stops the computation; the binding uses it to honour Ctrl-C and to draw a
/// progress bar.
pub trait Monitor {
    /// Between chunks: `done` of `total` units of work are finished.
    fn checkpoint(&self, done: usize, total: usize) -> Result<()>;

    /// While a chunk runs, every few tens of milliseconds (see [`crate::parallel::watched`]):
    /// only asks whether to stop, without reporting progress.
    fn poll(&self) -> Result<()> {
        Ok(())
    }
}

/// A monitor that never interrupts and shows nothing.
pub struct Silent;

impl Monitor for Silent {
    fn checkpoint(&self, _done: usize, _total: usize) -> Result<()> {
        Ok(())
    }
}

/// Forwards only the stop requests of another monitor, not its progress: for a step inside a
/// computation that reports its progress on its own.
pub struct PollOnly<'a>(pub &'a dyn Monitor);

impl Monitor for PollOnly<'_> {
    fn checkpoint(&self, _done: usize, _total: usize) -> Result<()> {
        self.0.poll()
    }

    fn poll(&self) -> Result<()> {
        self.0.poll()
    }
}
