//! Margins as the libraries round them, where rounding can change a score.
//!
//! The driver sums leaf values exactly (fixed point) and rounds once. The libraries add float64
//! values one tree after another, starting from the base score (scikit-learn's gradient
//! boosting, LightGBM), or add the trees and then divide (forests), rounding at each step. The
//! two differ by a few units in the last place: harmless for the regression and log-loss
//! scorers, but two rows whose margins are that close can tie in one and not in the other, and
//! a margin that close to a class boundary can change class. ROC AUC counts ties and accuracy
//! counts classes, so for classifiers every such row gets the library's own sum, read from its
//! leaves tree by tree. When every leaf value sits on a grid coarse enough that no partial sum
//! rounds (pure leaves of a fully grown forest: counts of votes), the two agree and nothing is
//! recomputed.

use super::exact_sum::FixedValues;
use crate::forest::Forest;
use ndarray::{Array2, ArrayView1, ArrayView2};

/// How far the exact margins may be from the library's, and whether they can differ at all.
pub struct FloatOrder {
    /// Largest possible |exact margin - library margin| (generous).
    bound: f64,
    /// Every partial sum of the library is exact: nothing to settle.
    exact: bool,
    /// A score ranks the rows (ROC AUC): near ties between rows count, not only near ties
    /// between classes or with zero.
    ranking: bool,
}

impl FloatOrder {
    pub fn new(forest: &Forest, fixed: &FixedValues, ranking: bool) -> Self {
        // The finest power of two all leaf values are multiples of, if they all convert exactly.
        let mut finest = u32::MAX;
        let mut on_grid = true;
        for t in 0..forest.n_trees() {
            let width = forest.tree_width(t);
            for n in forest.tree_nodes(t).filter(|&n| forest.is_leaf(n)) {
                for (v, f) in forest
                    .node_values(n, width)
                    .iter()
                    .zip(fixed.node(n, width))
                {
                    on_grid &= fixed.to_f64(*f) == *v;
                    if *f != 0 {
                        finest = finest.min(f.trailing_zeros());
                    }
                }
            }
        }
        let largest_sum = fixed.bound();
        let base = forest
            .base_score()
            .iter()
            .fold(0.0f64, |m, b| m.max(b.abs()));
        let grid = if finest == u32::MAX {
            0.0
        } else {
            fixed.to_f64(1i64 << finest.min(62))
        };
        // No partial sum rounds when all values (and the base) are multiples of the grid and
        // the largest sum is below 2^53 grid steps.
        let base_on_grid = forest
            .base_score()
            .iter()
            .all(|&b| b == 0.0 || (grid > 0.0 && (b / grid).fract() == 0.0));
        let exact = grid == 0.0
            || (on_grid && base_on_grid && (largest_sum + base) / grid < (1u64 << 53) as f64);
        let steps = forest.n_trees() as f64 + 2.0;
        FloatOrder {
            bound: 4.0 * steps * f64::EPSILON * (largest_sum + base),
            exact,
            ranking,
        }
    }

    /// Replaces in `margin` (rows of `x`, with `columns` taken from rows `src` when given) the
    /// margins of rows that nearly tie another row, another output, or zero, by the library's
    /// float sums.
    pub fn settle(
        &self,
        forest: &Forest,
        x: ArrayView2<f64>,
        permuted: Option<(ArrayView1<u32>, &[usize])>,
        margin: &mut Array2<f64>,
    ) {
        if self.exact || margin.nrows() == 0 {
            return;
        }
        let (n, k) = margin.dim();
        let near = 2.0 * self.bound;
        let mut mark = vec![false; n];
        let mut order: Vec<usize> = (0..n).collect();
        for o in (0..k).filter(|_| self.ranking) {
            let col = margin.column(o);
            order.sort_unstable_by(|&a, &b| col[a].total_cmp(&col[b]));
            for w in order.windows(2) {
                if col[w[1]] - col[w[0]] <= near {
                    mark[w[0]] = true;
                    mark[w[1]] = true;
                }
            }
        }
        for (i, row) in margin.rows().into_iter().enumerate() {
            // Thresholds at zero (binary rules) and the two largest outputs (argmax rules).
            let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for &m in row.iter() {
                mark[i] |= m.abs() <= near;
                if m > first {
                    second = first;
                    first = m;
                } else if m > second {
                    second = m;
                }
            }
            mark[i] |= k > 1 && first - second <= near;
        }
        let p = x.ncols();
        let mut buf = vec![0.0; p];
        let mut acc = vec![0.0; k];
        let divisor = forest.output_divisor();
        let base = forest.base_score();
        for i in (0..n).filter(|&i| mark[i]) {
            buf.iter_mut().zip(x.row(i)).for_each(|(b, v)| *b = *v);
            if let Some((src, columns)) = &permuted {
                for &c in columns.iter() {
                    buf[c] = x[[src[i] as usize, c]];
                }
            }
            for o in 0..k {
                // Gradient boosting starts from its base score; forests divide a plain sum.
                acc[o] = if divisor[o] == 1.0 { base[o] } else { 0.0 };
            }
            for t in 0..forest.n_trees() {
                let leaf = forest.leaf(t, &buf);
                let values = forest.node_values(leaf, forest.tree_width(t));
                match forest.tree_output(t) {
                    Some(o) => acc[o] += values[0],
                    None => acc.iter_mut().zip(values).for_each(|(a, v)| *a += v),
                }
            }
            for o in 0..k {
                margin[[i, o]] = if divisor[o] == 1.0 {
                    acc[o]
                } else {
                    acc[o] / divisor[o] + base[o]
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use crate::importance::exact_sum::exact_margins;
    use crate::monitor::Silent;
    use ndarray::{array, Array2};

    /// Three stumps on x0: 1 | 1, then 0 | 2^-53 twice. Summed in order from 1.0, each 2^-53
    /// rounds away (half to even); the exact sum is 1 + 2^-52.
    fn forest() -> Forest {
        let tiny = 2f64.powi(-53);
        let mut parts = ForestParts {
            n_features: 1,
            n_outputs: 1,
            base_score: vec![0.0],
            less_equal: true,
            category_offsets: vec![0],
            tree_start: vec![0],
            ..Default::default()
        };
        for (left, right) in [(1.0, 1.0), (0.0, tiny), (0.0, tiny)] {
            parts.feature.extend([0, -1, -1]);
            parts.threshold.extend([0.5, 0.0, 0.0]);
            parts.left.extend([1, -1, -1]);
            parts.right.extend([2, -1, -1]);
            parts.default_left.extend([true; 3]);
            parts.missing.extend([0; 3]);
            parts.cover.extend([1.0; 3]);
            parts.values.extend([0.0, left, right]);
            parts.category_set.extend([-1; 3]);
            parts.tree_output.push(0);
            parts.tree_start.push(parts.feature.len());
        }
        Forest::new(parts).unwrap()
    }

    #[test]
    fn near_ties_take_the_library_sum() {
        let forest = forest();
        let x: Array2<f64> = array![[1.0], [0.0], [7.0]];
        let mut margin = exact_margins(&forest, x.view(), 1, &Silent).unwrap();
        assert_eq!(margin[[0, 0]], 1.0 + 2f64.powi(-52));
        assert_eq!(margin[[1, 0]], 1.0);
        let order = FloatOrder::new(&forest, &FixedValues::new(&forest).unwrap(), true);
        assert!(!order.exact);
        order.settle(&forest, x.view(), None, &mut margin);
        // As the library sums: all three rows tie at 1.0.
        assert_eq!(margin.column(0).to_vec(), vec![1.0, 1.0, 1.0]);
        // Rows 0 and 2 moved by permuting x0 from row 1 take row 1's leaves.
        let mut margin = exact_margins(&forest, x.view(), 1, &Silent).unwrap();
        let src = array![1u32, 1, 1];
        order.settle(&forest, x.view(), Some((src.view(), &[0])), &mut margin);
        assert_eq!(margin.column(0).to_vec(), vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn vote_counts_need_no_settling() {
        let mut forest_parts = forest().parts();
        forest_parts.values = forest_parts.values.iter().map(|v| v.ceil()).collect();
        let forest = Forest::new(forest_parts).unwrap();
        let order = FloatOrder::new(&forest, &FixedValues::new(&forest).unwrap(), true);
        assert!(order.exact);
    }
}
