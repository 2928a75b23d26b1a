//! treelens core: exact explanations of tree ensembles.
//!
//! Pure Rust, no Python: the binding crate converts arrays and errors, this crate does the work.

pub mod ale;
pub mod bytes;
pub mod decompose;
pub mod error;
pub mod forest;
pub mod formats;
pub mod importance;
pub mod interaction;
pub mod interventional;
pub mod memory;
pub mod monitor;
pub mod parallel;
pub mod predict;
pub mod shap;
pub mod simd;

#[cfg(test)]
mod forest_tests;
#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
pub use forest::{Forest, ForestParts};
pub use monitor::{Monitor, Silent};
