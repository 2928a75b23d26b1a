//! Rows transposed in blocks, so that a tree's nodes are decided for several rows at once.
//!
//! [`super::paths::TreePaths::block_patterns`] walks a tree node by node for [`WALK_ROWS`] rows:
//! at each node it reads the split feature's values of all those rows, contiguous here, and
//! compares them with the threshold in one vectorisable loop, instead of one row at a time.

use crate::error::Result;
use crate::forest::Forest;
use ndarray::ArrayView2;

/// Rows per block.
pub const WALK_ROWS: usize = 16;

/// Rows prepared as the model compares them ([`Forest::prepare_row`]) and transposed per block:
/// feature `f` of row `b * WALK_ROWS + i` is at `(b * p + f) * WALK_ROWS + i`. The last block is
/// padded with NaN rows (walked, never read).
pub struct Columns {
    data: Vec<f64>,
    /// Per block and feature: whether a value is NaN (the decision then needs the default).
    nan: Vec<bool>,
    rows: usize,
    p: usize,
}

impl Columns {
    pub fn new(forest: &Forest, x: &ArrayView2<f64>) -> Result<Columns> {
        let (rows, p) = x.dim();
        let blocks = rows.div_ceil(WALK_ROWS);
        let mut data = crate::memory::filled_vec(
            blocks.saturating_mul(p).saturating_mul(WALK_ROWS),
            f64::NAN,
            "the rows transposed in blocks",
            "explain fewer rows at a time, or use a smaller background",
        )?;
        let mut nan = vec![false; blocks * p];
        let mut prepared = vec![0.0; p];
        for (r, row) in x.rows().into_iter().enumerate() {
            match row.as_slice() {
                Some(src) => forest.prepare_row(src, &mut prepared),
                None => forest.prepare_row(&row.to_vec(), &mut prepared),
            }
            let (b, i) = (r / WALK_ROWS, r % WALK_ROWS);
            for (f, &v) in prepared.iter().enumerate() {
                data[(b * p + f) * WALK_ROWS + i] = v;
                nan[b * p + f] |= v.is_nan();
            }
        }
        Ok(Columns { data, nan, rows, p })
    }

    /// Number of rows (without padding).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Block `b`: `p` runs of [`WALK_ROWS`] values, one per feature.
    #[inline]
    pub fn block(&self, b: usize) -> &[f64] {
        &self.data[b * self.p * WALK_ROWS..(b + 1) * self.p * WALK_ROWS]
    }

    /// Block `b`: per feature, whether one of its rows has a NaN there (the padding rows of the
    /// last block do not count: their decisions are never read).
    #[inline]
    pub fn nan(&self, b: usize) -> &[bool] {
        &self.nan[b * self.p..(b + 1) * self.p]
    }
}
