//! A column seen as a piecewise-constant input: with every other column of a row fixed, each
//! tree's output is constant between consecutive split points of that column.
//!
//! The values a permuted column takes are the column's own values, so a value can be replaced by
//! its rank among the column's sorted distinct values, and every numeric split on the column by
//! the number of ranks that go left (its *cut*). Routing a permuted value through a split is then
//! one integer comparison, and all repeats of a row share the walk down each tree: they only part
//! where the tree splits on the column. The cuts are found with [`Forest::goes_left`] itself (a
//! binary search over the sorted values, checked value by value wherever the split may not be
//! monotone), so the ranks route exactly as the model does, f32 rounding and missing values
//! included. NaN gets its own rank and goes where `goes_left(n, NaN)` says. Columns with
//! categorical splits are not ranked: their values are routed directly with `goes_left`.

use crate::forest::Forest;
use ndarray::ArrayView2;

/// The rank given to NaN.
pub const NAN_RANK: u32 = u32::MAX;

/// LightGBM's zero band, where a "zero is missing" split sends values to its default side.
const ZERO_BAND: f64 = 1e-35f32 as f64;

/// Ranks of ranked columns and the cut of every split on them.
pub struct ColumnRanks {
    /// Per feature: the rank of each row's value, when the column is ranked.
    pub rank: Vec<Option<Vec<u32>>>,
    /// Per node splitting on a ranked column: ranks below the cut go left.
    pub cut: Vec<u32>,
    /// Per node splitting on a ranked column: whether NaN goes left.
    pub nan_left: Vec<bool>,
}

impl ColumnRanks {
    /// Ranks the columns in `wanted` (where splits allow it) over the rows of `x`.
    pub fn new(forest: &Forest, x: ArrayView2<f64>, wanted: &[bool]) -> Self {
        let p = forest.n_features();
        let mut nodes_of: Vec<Vec<usize>> = vec![Vec::new(); p];
        for n in 0..forest.n_nodes() {
            if !forest.is_leaf(n) && wanted[forest.feature(n)] {
                nodes_of[forest.feature(n)].push(n);
            }
        }
        let mut cut = vec![0u32; forest.n_nodes()];
        let mut nan_left = vec![false; forest.n_nodes()];
        let mut rank = Vec::with_capacity(p);
        for f in 0..p {
            if !wanted[f] || nodes_of[f].iter().any(|&n| forest.is_categorical(n)) {
                rank.push(None);
                continue;
            }
            let column: Vec<f64> = x.column(f).iter().copied().collect();
            let mut sorted: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            // -0.0 and 0.0 share a rank: every split treats them alike.
            sorted.dedup_by(|a, b| a == b);
            let has_zero_band = sorted.iter().any(|v| v.abs() <= ZERO_BAND);
            let mut ok = true;
            for &n in &nodes_of[f] {
                let c = sorted.partition_point(|&v| forest.goes_left(n, v));
                // A numeric split is monotone in the value except, for "zero is missing" splits,
                // inside the zero band; when the column has such values, check every value.
                if has_zero_band
                    && sorted
                        .iter()
                        .enumerate()
                        .any(|(k, &v)| forest.goes_left(n, v) != (k < c))
                {
                    ok = false;
                    break;
                }
                cut[n] = c as u32;
                nan_left[n] = forest.goes_left(n, f64::NAN);
            }
            if !ok || sorted.len() >= NAN_RANK as usize {
                rank.push(None);
                continue;
            }
            let ranks = column
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        NAN_RANK
                    } else {
                        sorted.partition_point(|s| s < v) as u32
                    }
                })
                .collect();
            rank.push(Some(ranks));
        }
        ColumnRanks {
            rank,
            cut,
            nan_left,
        }
    }

    /// Whether a value of rank `q` goes left at node `n` (a split on a ranked column).
    #[inline]
    pub fn goes_left(&self, n: usize, q: u32) -> bool {
        if q == NAN_RANK {
            self.nan_left[n]
        } else {
            q < self.cut[n]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParts;
    use ndarray::Array2;

    /// One tree: x0 <= 0.5 ? (x0 <= -1 ? 1 : 2) : 3, NaN goes right at the root, left below.
    fn forest(missing: u8) -> Forest {
        Forest::new(ForestParts {
            n_features: 1,
            n_outputs: 1,
            base_score: vec![0.0],
            average: false,
            less_equal: true,
            f32_inputs: false,
            tree_start: vec![0, 5],
            tree_output: vec![0],
            feature: vec![0, 0, -1, -1, -1],
            threshold: vec![0.5, -1.0, 0.0, 0.0, 0.0],
            left: vec![1, 3, -1, -1, -1],
            right: vec![2, 4, -1, -1, -1],
            default_left: vec![false, true, false, false, false],
            missing: vec![missing; 5],
            cover: vec![1.0; 5],
            values: vec![0.0, 0.0, 3.0, 1.0, 2.0],
            category_set: vec![-1; 5],
            category_offsets: vec![0],
            category_words: vec![],
            category_members_left: vec![],
            category_truncate_first: false,
        })
        .unwrap()
    }

    #[test]
    fn ranks_route_like_values() {
        for missing in [0u8, 1, 2] {
            let f = forest(missing);
            let values = [-2.0, -1.0, 0.0, -0.0, 0.5, 0.7, f64::NAN, 3.0, -1.0];
            let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
            let ranks = ColumnRanks::new(&f, x.view(), &[true]);
            let Some(r) = &ranks.rank[0] else {
                // Zero-is-missing splits over a column holding 0 are not monotone: no ranks.
                assert_eq!(missing, 2);
                continue;
            };
            for (i, &v) in values.iter().enumerate() {
                for n in [0usize, 1] {
                    assert_eq!(
                        ranks.goes_left(n, r[i]),
                        f.goes_left(n, v),
                        "missing {missing} v {v}"
                    );
                }
            }
        }
    }
}
