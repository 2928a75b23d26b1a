//! Ensemble sums that do not depend on the order of the trees.
//!
//! Every leaf value is mapped once to a fixed-point integer ([`Fixed`], scaled by a power of two
//! chosen so that no sum over the trees, nor any difference of two such sums, can overflow); sums
//! and differences of such integers are
//! exact, so a row's margin is a function of its set of leaves only. Two rows that reach the
//! same leaves get bit-identical margins whether computed directly or as a baseline plus the
//! changes of a permutation: ties between rows (which ROC AUC counts) and between classes (which
//! argmax resolves) are exactly those of the model, and an unused column's importance is exactly
//! 0. Each leaf value is rounded to a multiple of 2^-60 of the largest possible margin (the sum
//! over trees of each tree's largest leaf value), far below float64 rounding of that margin.

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::monitor::Monitor;
use crate::parallel::{for_each_chunk, items_per_chunk, pool};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

const BLOCK: usize = 256;

/// The fixed-point type of leaf values and their sums.
pub type Fixed = i64;

/// Fixed-point leaf values of a forest.
pub struct FixedValues {
    /// Values are `round(v * 2^scale)`; a sum times `back.0 * back.1` is back in float64.
    back: (f64, f64),
    /// The sum over the trees of each tree's largest |leaf value|: no sum of leaves exceeds it.
    bound: f64,
    offset: Vec<usize>,
    values: Vec<Fixed>,
}

fn pow2(e: i32) -> (f64, f64) {
    let a = e / 2;
    (2f64.powi(a), 2f64.powi(e - a))
}

impl FixedValues {
    pub fn new(forest: &Forest) -> Result<Self> {
        let mut bound = 0.0f64;
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            let mut largest = 0.0f64;
            for n in forest.tree_nodes(t) {
                if forest.is_leaf(n) {
                    for v in forest.node_values(n, width) {
                        largest = largest.max(v.abs());
                    }
                }
            }
            bound += largest;
        }
        if !bound.is_finite() {
            return Err(Error::InvalidModel("leaf values are not finite".into()));
        }
        let scale = if bound > 0.0 {
            (60 - bound.log2().ceil() as i32).clamp(-1000, 1000)
        } else {
            0
        };
        let (a, b) = pow2(scale);
        let mut offset = vec![0usize; forest.n_nodes()];
        let mut values = Vec::new();
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            for n in forest.tree_nodes(t) {
                offset[n] = values.len();
                if forest.is_leaf(n) {
                    values.extend(
                        forest
                            .node_values(n, width)
                            .iter()
                            .map(|&v| ((v * a) * b).round() as Fixed),
                    );
                } else {
                    values.extend(std::iter::repeat_n(0 as Fixed, width));
                }
            }
        }
        Ok(FixedValues {
            back: pow2(-scale),
            bound,
            offset,
            values,
        })
    }

    /// The fixed-point values of leaf `n` (`width` of them).
    #[inline]
    pub fn node(&self, n: usize, width: usize) -> &[Fixed] {
        &self.values[self.offset[n]..self.offset[n] + width]
    }

    /// Where the values of node `n` start in [`FixedValues::values`].
    #[inline]
    pub fn offset(&self, n: usize) -> usize {
        self.offset[n]
    }

    /// All fixed-point node values.
    #[inline]
    pub fn values(&self) -> &[Fixed] {
        &self.values
    }

    /// The largest possible |sum of one leaf per tree| (per output), in float64.
    #[inline]
    pub fn bound(&self) -> f64 {
        self.bound
    }

    /// A fixed-point sum back in float64.
    #[inline]
    pub fn to_f64(&self, s: Fixed) -> f64 {
        ((s as f64) * self.back.0) * self.back.1
    }
}

/// Adds the fixed-point leaf values of every tree for each row of a block (`sums`: rows x k).
pub fn block_sums(
    forest: &Forest,
    fixed: &FixedValues,
    x: ArrayView2<f64>,
    r0: usize,
    sums: &mut [Fixed],
) {
    let k = forest.n_outputs();
    let rows = sums.len() / k;
    for t in 0..forest.n_trees() {
        let width = forest.tree_width(t);
        let output = forest.tree_output(t);
        for li in 0..rows {
            let row = x.row(r0 + li);
            let row = row.as_slice().expect("standard layout");
            let v = fixed.node(forest.leaf(t, row), width);
            match output {
                Some(o) => sums[li * k + o] += v[0],
                None => {
                    for (o, vo) in v.iter().enumerate() {
                        sums[li * k + o] += vo;
                    }
                }
            }
        }
    }
}

/// Converts a fixed-point sum of output `o` to the margin.
#[inline]
pub fn margin(forest: &Forest, fixed: &FixedValues, o: usize, s: Fixed) -> f64 {
    fixed.to_f64(s) / forest.output_divisor()[o] + forest.base_score()[o]
}

/// Margins `(n, k)` from order-free sums (equal to native prediction up to the last bit).
pub fn exact_margins(
    forest: &Forest,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Array2<f64>> {
    exact_margins_with(forest, &FixedValues::new(forest)?, x, threads, monitor)
}

/// [`exact_margins`] with the forest's fixed-point values already made.
pub fn exact_margins_with(
    forest: &Forest,
    fixed: &FixedValues,
    x: ArrayView2<f64>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<Array2<f64>> {
    forest.check_columns(x.ncols())?;
    let x = x.as_standard_layout();
    let n = x.nrows();
    let k = forest.n_outputs();
    let mut sums = vec![0 as Fixed; n * k];
    let pool = pool(threads)?;
    let xv = x.view();
    for_each_chunk(
        &pool,
        n,
        items_per_chunk(
            crate::predict::row_cost(forest) * BLOCK as f64,
            threads,
            threads,
        ) * BLOCK,
        monitor,
        |start, end| {
            sums[start * k..end * k]
                .par_chunks_mut(BLOCK * k)
                .enumerate()
                .for_each(|(b, block)| block_sums(forest, fixed, xv, start + b * BLOCK, block));
            Ok(())
        },
    )?;
    let mut out = Array2::<f64>::zeros((n, k));
    for i in 0..n {
        for o in 0..k {
            out[[i, o]] = margin(forest, fixed, o, sums[i * k + o]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use crate::monitor::Silent;
    use crate::predict::predict;

    #[test]
    fn order_free_sums_match_prediction() {
        let values = [0.1, -0.37, 1e-9, 2.5, -0.2, 0.3];
        let mut parts = ForestParts {
            n_features: 1,
            n_outputs: 1,
            base_score: vec![0.5],
            less_equal: true,
            category_offsets: vec![0],
            tree_start: vec![0],
            ..Default::default()
        };
        for (t, pair) in values.chunks(2).enumerate() {
            parts.feature.extend([0, -1, -1]);
            parts.threshold.extend([t as f64, 0.0, 0.0]);
            parts.left.extend([1, -1, -1]);
            parts.right.extend([2, -1, -1]);
            parts.default_left.extend([true; 3]);
            parts.missing.extend([0; 3]);
            parts.cover.extend([1.0; 3]);
            parts.values.extend([0.0, pair[0], pair[1]]);
            parts.category_set.extend([-1; 3]);
            parts.tree_output.push(0);
            parts.tree_start.push(parts.feature.len());
        }
        let forest = Forest::new(parts).unwrap();
        let x = Array2::from_shape_vec((4, 1), vec![-1.0, 0.5, 1.5, 9.0]).unwrap();
        let exact = exact_margins(&forest, x.view(), 1, &Silent).unwrap();
        let native = predict(&forest, x.view(), 1, &Silent).unwrap();
        for (a, b) in exact.iter().zip(native.iter()) {
            assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0));
        }
    }
}
