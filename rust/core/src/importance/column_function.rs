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

use crate::error::Result;
use crate::forest::Forest;
use crate::parallel::Cancel;
use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

/// The rank given to NaN.
pub const NAN_RANK: u32 = u32::MAX;

/// LightGBM's zero band, where a "zero is missing" split sends values to its default side.
const ZERO_BAND: f64 = 1e-35f32 as f64;

/// Bit of [`Node::feature`]: the split's column is not ranked (route values with `goes_left`).
const UNRANKED: u32 = 1 << 31;
/// Bit of [`Node::feature`]: NaN goes left.
const NAN_LEFT: u32 = 1 << 30;
const FEATURE_MASK: u32 = NAN_LEFT - 1;

/// One node of the routing table, 16 bytes. A leaf has `left == 0` (a child never is node 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Node {
    pub feature: u32,
    pub left: u32,
    pub right: u32,
    /// Internal nodes: ranks below the cut go left. Leaves: where their values start in the
    /// leaf value table (see [`ColumnRanks::set_leaf_offsets`]).
    pub cut: u32,
}

impl Node {
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.left == 0
    }
    #[inline]
    pub fn feature(&self) -> usize {
        (self.feature & FEATURE_MASK) as usize
    }
    #[inline]
    pub fn ranked(&self) -> bool {
        self.feature & UNRANKED == 0
    }
    /// Whether a value of rank `q` goes left (a split on a ranked column), without branches.
    #[inline(always)]
    pub fn rank_goes_left(&self, q: u32) -> bool {
        let nan_left = self.feature & NAN_LEFT != 0;
        (q < self.cut) | (nan_left & (q == NAN_RANK))
    }

    /// `(s, c)` such that a value of rank `q` goes left when `q.wrapping_add(s) < c`: NaN's rank
    /// (`u32::MAX`) wraps to 0 when NaN goes left. One comparison, for vectorised routing.
    #[inline(always)]
    pub fn shifted_cut(&self) -> (u32, u32) {
        let s = (self.feature & NAN_LEFT != 0) as u32;
        (s, self.cut + s)
    }

    /// The child a value of rank `q` goes to, without branches.
    #[inline(always)]
    pub fn rank_child(&self, q: u32) -> usize {
        let mask = 0u32.wrapping_sub(self.rank_goes_left(q) as u32);
        (self.right ^ ((self.left ^ self.right) & mask)) as usize
    }
}

/// The forest as a compact routing table over the rows of one data set, with every column that
/// allows it ranked (row-major ranks, `NAN_RANK` for NaN).
pub struct ColumnRanks {
    pub nodes: Vec<Node>,
    /// `(m, p)` row-major ranks; unused entries of unranked columns are 0.
    pub rank: Vec<u32>,
    pub ranked: Vec<bool>,
    pub n_features: usize,
}

impl ColumnRanks {
    /// Ranks the columns of `x` and cuts every split on them; stops with
    /// [`crate::Error::Interrupted`] soon after `cancel` is raised (sorting a column of many
    /// rows takes seconds, so the sort itself checks it).
    pub fn new(forest: &Forest, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Self> {
        let p = forest.n_features();
        let m = x.nrows();
        let mut nodes_of: Vec<Vec<usize>> = vec![Vec::new(); p];
        let mut nodes = vec![Node::default(); forest.n_nodes()];
        for (n, node) in nodes.iter_mut().enumerate() {
            if !forest.is_leaf(n) {
                nodes_of[forest.feature(n)].push(n);
                node.feature = forest.feature(n) as u32 | UNRANKED;
                node.left = forest.left(n) as u32;
                node.right = forest.right(n) as u32;
            }
        }
        // Columns in parallel (in the caller's thread pool), then gathered in order.
        let columns: Vec<Option<RankedColumn>> = (0..p)
            .into_par_iter()
            .map(|f| rank_column(forest, x, f, &nodes_of[f], cancel))
            .collect::<Result<_>>()?;
        let mut rank = vec![0u32; m * p];
        let mut ranked = vec![false; p];
        for (f, column) in columns.into_iter().enumerate() {
            cancel.check()?;
            let Some(column) = column else { continue };
            for (n, c, nan_left) in column.cuts {
                nodes[n].cut = c;
                nodes[n].feature = f as u32 | if nan_left { NAN_LEFT } else { 0 };
            }
            ranked[f] = true;
            for (i, q) in column.ranks.into_iter().enumerate() {
                rank[i * p + f] = q;
            }
        }
        Ok(ColumnRanks {
            nodes,
            rank,
            ranked,
            n_features: p,
        })
    }

    /// Stores in each leaf where its values start in a value table (`offset(n)`); false (and
    /// nothing stored) when an offset does not fit in 32 bits.
    pub fn set_leaf_offsets(&mut self, offset: impl Fn(usize) -> usize) -> bool {
        let leaves: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].is_leaf())
            .collect();
        if leaves.iter().any(|&n| offset(n) > u32::MAX as usize) {
            return false;
        }
        for n in leaves {
            self.nodes[n].cut = offset(n) as u32;
        }
        true
    }

    /// The ranks of row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.rank[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Whether row `i` (values `x_row`, ranks `rank_row`) goes left at node `n`.
    #[inline]
    pub fn goes_left(&self, forest: &Forest, n: usize, rank_row: &[u32], x_row: &[f64]) -> bool {
        let node = &self.nodes[n];
        let f = node.feature();
        if node.ranked() {
            node.rank_goes_left(rank_row[f])
        } else {
            forest.goes_left(n, x_row[f])
        }
    }

    /// The child of internal node `n` that row (values `x_row`, ranks `rank_row`) goes to.
    #[inline(always)]
    pub fn child(&self, forest: &Forest, n: usize, rank_row: &[u32], x_row: &[f64]) -> usize {
        let node = &self.nodes[n];
        let f = node.feature();
        if node.ranked() {
            node.rank_child(rank_row[f])
        } else if forest.goes_left(n, x_row[f]) {
            node.left as usize
        } else {
            node.right as usize
        }
    }
}

/// A ranked column: per split on it, (node, cut, whether NaN goes left); per row, its rank.
struct RankedColumn {
    cuts: Vec<(usize, u32, bool)>,
    ranks: Vec<u32>,
}

/// Ranks column `f` of `x` and cuts its splits `nodes`, or None when the column cannot be
/// ranked (a categorical split, too many distinct values, a split that is not monotone).
fn rank_column(
    forest: &Forest,
    x: ArrayView2<f64>,
    f: usize,
    nodes: &[usize],
    cancel: &Cancel,
) -> Result<Option<RankedColumn>> {
    cancel.check()?;
    if nodes.is_empty() {
        // No split tells its values apart: one rank for all of them.
        return Ok(Some(RankedColumn {
            cuts: Vec::new(),
            ranks: vec![0; x.nrows()],
        }));
    }
    if nodes.iter().any(|&n| forest.is_categorical(n)) || f as u32 >= FEATURE_MASK {
        return Ok(None);
    }
    // Rows in the order of their values (NaN last), then ranks in one pass.
    let column = x.column(f);
    let order = sorted_rows(column, cancel)?;
    let mut sorted: Vec<f64> = Vec::new();
    let mut ranks = vec![NAN_RANK; x.nrows()];
    for &i in &order {
        let v = column[i as usize];
        if v.is_nan() {
            continue;
        }
        // -0.0 and 0.0 share a rank: every split treats them alike.
        if sorted.last() != Some(&v) {
            sorted.push(v);
        }
        ranks[i as usize] = (sorted.len() - 1) as u32;
    }
    if sorted.len() >= NAN_RANK as usize {
        return Ok(None);
    }
    let has_zero_band = sorted.iter().any(|v| v.abs() <= ZERO_BAND);
    let mut cuts = Vec::with_capacity(nodes.len());
    for &n in nodes {
        let c = sorted.partition_point(|&v| forest.goes_left(n, v));
        // A numeric split is monotone in the value except, for "zero is missing" splits,
        // inside the zero band; when the column has such values, check every value.
        if has_zero_band
            && sorted
                .iter()
                .enumerate()
                .any(|(k, &v)| forest.goes_left(n, v) != (k < c))
        {
            return Ok(None);
        }
        cuts.push((n, c as u32, forest.goes_left(n, f64::NAN)));
    }
    Ok(Some(RankedColumn { cuts, ranks }))
}

/// Rows sorted in one run before the runs are merged: a run, and a merge step of this many
/// rows, take a few milliseconds, so that a stop request is seen between them.
const SORT_RUN: usize = 1 << 16;

/// The rows of `column` in the order of their values ([`f64::total_cmp`]: NaN after every
/// number): sorted in runs that are then merged, checking `cancel` every [`SORT_RUN`] rows.
fn sorted_rows(column: ArrayView1<f64>, cancel: &Cancel) -> Result<Vec<u32>> {
    // Each value as an integer in the order of `total_cmp` (read once, contiguous).
    let keys: Vec<i64> = column
        .iter()
        .map(|v| {
            let b = v.to_bits() as i64;
            b ^ (((b >> 63) as u64) >> 1) as i64
        })
        .collect();
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    for run in order.chunks_mut(SORT_RUN) {
        cancel.check()?;
        run.sort_unstable_by_key(|&i| keys[i as usize]);
    }
    // Bottom-up merges of neighbouring runs.
    let mut spare = vec![0u32; order.len()];
    let mut width = SORT_RUN;
    while width < order.len() {
        for (pair, out) in order.chunks(2 * width).zip(spare.chunks_mut(2 * width)) {
            let (a, b) = pair.split_at(width.min(pair.len()));
            let (mut i, mut j) = (0, 0);
            for (k, slot) in out.iter_mut().enumerate() {
                if k % SORT_RUN == 0 {
                    cancel.check()?;
                }
                let take_a =
                    j == b.len() || (i < a.len() && keys[a[i] as usize] <= keys[b[j] as usize]);
                if take_a {
                    *slot = a[i];
                    i += 1;
                } else {
                    *slot = b[j];
                    j += 1;
                }
            }
        }
        std::mem::swap(&mut order, &mut spare);
        width *= 2;
    }
    Ok(order)
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
    fn rows_sort_in_runs_as_in_one_sort() {
        // Several runs and an odd one out, ties, both zeros, infinities and NaNs of both signs.
        let m = 2 * SORT_RUN + SORT_RUN / 3;
        let mut state = 11u64;
        let special = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
        ];
        let values: Vec<f64> = (0..m)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                if i % 97 == 0 {
                    special[(state >> 40) as usize % special.len()]
                } else {
                    ((state >> 33) % 5000) as f64 / 7.0 - 300.0
                }
            })
            .collect();
        let column = ndarray::ArrayView1::from(&values);
        let got = sorted_rows(column, &Cancel::new()).unwrap();
        let mut want: Vec<u32> = (0..m as u32).collect();
        want.sort_by(|&a, &b| values[a as usize].total_cmp(&values[b as usize]));
        let bits = |order: &[u32]| -> Vec<u64> {
            order
                .iter()
                .map(|&i| values[i as usize].to_bits())
                .collect()
        };
        assert_eq!(bits(&got), bits(&want));
        let mut seen = got.clone();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(i, &r)| r as usize == i));
    }

    #[test]
    fn a_raised_cancel_stops_the_ranking() {
        let cancel = Cancel::new();
        cancel.raise();
        let x = Array2::<f64>::zeros((10, 1));
        assert!(matches!(
            ColumnRanks::new(&forest(0), x.view(), &cancel),
            Err(crate::Error::Interrupted)
        ));
    }

    #[test]
    fn ranks_route_like_values() {
        for missing in [0u8, 1, 2] {
            let f = forest(missing);
            let values = [-2.0, -1.0, 0.0, -0.0, 0.5, 0.7, f64::NAN, 3.0, -1.0];
            let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
            let ranks = ColumnRanks::new(&f, x.view(), &Cancel::new()).unwrap();
            if !ranks.ranked[0] {
                // Zero-is-missing splits over a column holding 0 are not monotone: no ranks.
                assert_eq!(missing, 2);
            }
            for (i, &v) in values.iter().enumerate() {
                for n in [0usize, 1] {
                    let row = [v];
                    assert_eq!(
                        ranks.goes_left(&f, n, ranks.row(i), &row),
                        f.goes_left(n, v),
                        "missing {missing} v {v}"
                    );
                }
            }
        }
    }
}
