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
    /// The model is well formed but uses something treelens does not explain (a linear tree, an
    /// unknown objective).
    #[error("{0}")]
    Unsupported(String),
    /// The requested work would not fit in memory: how much it needs, the budget it was checked
    /// against and where that budget comes from, and what to do instead.
    #[error("{}", too_large_message(what, *needed_bytes, *budget_bytes, budget_source, alternative))]
    TooLarge {
        what: String,
        needed_bytes: u64,
        /// The bytes the process could still allocate (None: the allocator refused).
        budget_bytes: Option<u64>,
        budget_source: String,
        alternative: String,
    },
    /// The computation was stopped between two chunks (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// A broken internal invariant, caught at the boundary instead of crashing the caller.
    #[error("internal error in treelens (please report it): {0}")]
    Internal(String),
}

fn too_large_message(
    what: &str,
    needed: u64,
    budget: Option<u64>,
    source: &str,
    alternative: &str,
) -> String {
    let human = crate::memory::human_bytes;
    let limit = match budget {
        Some(b) => format!("more than the budget of {} ({source})", human(b)),
        None => source.to_string(),
    };
    let way_out = if alternative.is_empty() {
        String::new()
    } else {
        format!("; {alternative}")
    };
    format!("{what} would need {}, {limit}{way_out}", human(needed))
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
