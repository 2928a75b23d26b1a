//! Permutation importance: scikit-learn's `permutation_importance`, computed natively.
//!
//! - [`column_function`]: a column as a piecewise-constant input (ranks and cuts), so that the
//!   repeats of a row share one walk and part only at splits on the permuted column.
//! - [`exact_sum`]: order-free fixed-point sums of leaf values, so that ties are the model's.
//! - [`float_order`]: for classifiers, the libraries' own float sums where rounding could
//!   change a tie or a class.
//! - [`leaf_table`]: per tree and block of rows, the leaf each row reaches from every node, so
//!   that a repeat leaving a row's path finds its leaf by one lookup.
//! - [`tree_paths`]: the tabled trees in compact form, with per-leaf ancestor lists and path
//!   steps (the ranks that leave the path at each split).
//! - [`routing`]: the repeats of a block of rows routed through the forest;
//!   [`single_column`], its fast path for units of one ranked column through tabled trees, and
//!   [`single_column_simd`], that path with AVX-512 or AVX2 for trees with one or two values per leaf.
//! - [`metrics`]: scikit-learn's scorers (r2, errors, accuracy, balanced accuracy, log loss,
//!   ROC AUC) on native margins, with sample weights.
//! - [`permutation`]: the driver, parallel over blocks of rows, then over (column, repeat).

pub mod column_function;
pub mod exact_sum;
pub mod float_order;
pub mod leaf_table;
pub mod metrics;
pub mod permutation;
pub mod routing;
pub mod single_column;
#[cfg(target_arch = "x86_64")]
pub mod single_column_simd;
pub mod tree_paths;

pub use metrics::{ClassRule, Link, Metric, Target, Task};
pub use permutation::{baseline_scores, permutation_scores, Permutations};
