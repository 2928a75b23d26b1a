//! A core monitor that honours Ctrl-C and feeds an optional Python progress callback.

use pyo3::prelude::*;
use std::sync::Mutex;
use treelens_core::{Error, Monitor};

/// Runs on the thread that called into Rust (Python's main thread for an interactive session),
/// between chunks, with the GIL taken back only for the moment of the check.
pub struct PythonMonitor {
    progress: Option<Py<PyAny>>,
    /// The Python exception that stopped the work, re-raised as is once the core returns.
    pub raised: Mutex<Option<PyErr>>,
}

impl PythonMonitor {
    pub fn new(progress: Option<Py<PyAny>>) -> Self {
        PythonMonitor {
            progress,
            raised: Mutex::new(None),
        }
    }

    /// Converts a core result, giving back the Python exception that interrupted it if any.
    pub fn finish<T>(&self, result: treelens_core::Result<T>) -> PyResult<T> {
        match result {
            Ok(v) => Ok(v),
            Err(Error::Interrupted) => Err(self
                .raised
                .lock()
                .ok()
                .and_then(|mut r| r.take())
                .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"))),
            Err(e) => Err(crate::errors::CoreError(e).into()),
        }
    }
}

impl PythonMonitor {
    /// Keeps the Python exception to re-raise and tells the core to stop.
    fn stop(&self, e: PyErr) -> Error {
        if let Ok(mut r) = self.raised.lock() {
            *r = Some(e);
        }
        Error::Interrupted
    }
}

impl Monitor for PythonMonitor {
    fn checkpoint(&self, done: usize, total: usize) -> treelens_core::Result<()> {
        Python::attach(|py| {
            let mut result = py.check_signals();
            if result.is_ok() {
                if let Some(cb) = &self.progress {
                    result = cb.call1(py, (done, total)).map(|_| ());
                }
            }
            result.map_err(|e| self.stop(e))
        })
    }

    fn poll(&self) -> treelens_core::Result<()> {
        Python::attach(|py| py.check_signals().map_err(|e| self.stop(e)))
    }
}

/// Runs one core computation for Python: `n_jobs` threads, the GIL released, Ctrl-C and the
/// progress callback honoured between chunks, and any panic turned into an error by the guard.
pub fn run_core<T, F>(
    py: Python<'_>,
    n_jobs: Option<i64>,
    progress: Option<Py<PyAny>>,
    work: F,
) -> PyResult<T>
where
    T: Send,
    F: FnOnce(usize, &dyn Monitor) -> treelens_core::Result<T> + Send,
{
    let monitor = PythonMonitor::new(progress);
    let threads = treelens_core::parallel::thread_count(n_jobs);
    let result = py.detach(|| treelens_core::error::guarded(|| work(threads, &monitor)));
    monitor.finish(result)
}
