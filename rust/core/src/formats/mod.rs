//! Readers of model files written by tree libraries, straight into a [`crate::Forest`].

pub mod lightgbm;
mod lightgbm_tree;

#[cfg(test)]
mod lightgbm_tests;
