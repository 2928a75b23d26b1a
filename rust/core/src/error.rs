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
}

pub type Result<T> = std::result::Result<T, Error>;
