//! Interactions: exact data-based partial dependence and Friedman's H statistics.

// Index loops over outputs read more clearly than zipped iterators in these kernels.
#![allow(clippy::needless_range_loop)]

pub mod cell_table;
pub mod cells;
pub mod hstats;
pub mod leaves;
pub mod moments;
pub mod pairs;
pub mod partial_dependence;
pub mod partitioned;
pub mod plan_codec;

pub use hstats::{hstats, HStats, HStatsOptions};
pub use partial_dependence::partial_dependence;
pub use partitioned::{merge as merge_partials, Partial, Plan};
