//! Progress reporting and interruption between chunks of work.

use crate::error::Result;

/// Called by the thread that drives a computation (never by a worker) between chunks.
///
/// Returning an error stops the computation; the binding uses it to honour Ctrl-C and to draw a
/// progress bar.
pub trait Monitor {
    fn checkpoint(&self, done: usize, total: usize) -> Result<()>;
}

/// A monitor that never interrupts and shows nothing.
pub struct Silent;

impl Monitor for Silent {
    fn checkpoint(&self, _done: usize, _total: usize) -> Result<()> {
        Ok(())
    }
}
