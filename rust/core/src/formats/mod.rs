//! Readers of saved model files, straight into the core's forest representation.
//!
//! Every reader is iterative (an explicit stack: any nesting depth parses without recursion)
//! and checks each declared length against the bytes present before allocating from it.

pub mod json;
pub mod lightgbm;
mod lightgbm_tree;
pub mod ubjson;
pub mod value;
pub mod xgboost;
pub mod xgboost_dump;

#[cfg(test)]
mod lightgbm_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod xgboost_dump_tests;
