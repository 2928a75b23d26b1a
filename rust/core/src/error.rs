//! Errors the core returns; the binding maps each variant to one Python exception class.

use thiserror::Error;

/// Everything that can go wrong inside the core. No core function panics on bad input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// The caller's data is unusable (shape, values, options).
    #[error("{0}")]
    InvalidInput(String),
    /// The model's arrays are inconsistent (a corrupt or mis-read model).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The requested output would not fit in memory; says how much it needs and what to do instead.
    #[error("{what} would need {needed_bytes} bytes ({:.1} GiB); {alternative}", *needed_bytes as f64 / (1u64 << 30) as f64)]
    TooLarge {
        what: String,
        needed_bytes: u64,
        alternative: String,
    },
    /// The computation was stopped between two chunks (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A broken internal invariant, caught at the boundary instead of crashing the caller.
    #[error("internal error in treelens (please report it): {0}")]
    Internal(String),
}

/// Runs `work`, turning a panic (a broken invariant) into [`Error::Internal`] so that it never
/// unwinds into the caller's runtime.
pub fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::Internal(message))
    })
}

pub type Result<T> = std::result::Result<T, Error>;
