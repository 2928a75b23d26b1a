//! Interventional (background-data) TreeSHAP: SHAP values and SHAP interaction values of the game
//! `v(S) = f(x_S, z_notS)`, averaged over background rows z with optional weights.
//!
//! - Raw output ([`shap_values`], [`interaction_values`]): time linear in rows + background
//!   ([`linear`]): the background is aggregated per leaf once, and each explained row costs one
//!   pass over every tree's nodes plus `O(d)` lookups per leaf for SHAP values (`O(d^2)` for
//!   interactions), `d` being the leaf's number of distinct path features. For few rows
//!   ([`few_rows`]) the trees are split between threads rather than the rows. Leaves with many path
//!   features keep the background's distinct patterns instead of a table (a row then costs one
//!   test per distinct pattern); trees with a path of more than 64 distinct features are walked
//!   per (row, background row) pair.
//! - Transformed outputs ([`transformed_values`]): shap's per-pair rescaling, `O(rows x background)`.

pub mod aggregate;
pub mod columns;
mod few_rows;
pub mod linear;
pub mod pairs;
pub mod paths;
mod pattern_hash;
pub mod pattern_list;
pub mod ranked;
pub mod sink;
pub mod transformed;
pub mod weights;

#[cfg(test)]
mod tests;

pub use pattern_hash::PatternHash;
pub use transformed::Transform;

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::memory::bytes_of;
use crate::monitor::Monitor;
use crate::parallel::pool;
use ndarray::{Array, ArrayD, ArrayView1, ArrayView2, IxDyn};

/// Background rows in standard layout with weights normalised to sum to 1.
pub struct Background<'a> {
    pub data: ndarray::CowArray<'a, f64, ndarray::Ix2>,
    pub weights: Vec<f64>,
}

impl<'a> Background<'a> {
    /// Checks the background: at least one row, the model's columns, weights (if any) one per
    /// row, finite, non-negative and not all zero.
    pub fn new(
        forest: &Forest,
        data: ArrayView2<'a, f64>,
        weights: Option<ArrayView1<f64>>,
    ) -> Result<Self> {
        if data.nrows() == 0 {
            return Err(Error::InvalidInput(
                "the background data has no rows; pass at least one row".into(),
            ));
        }
        if data.ncols() != forest.n_features() {
            return Err(Error::InvalidInput(format!(
                "the background data has {} columns, but the model was trained on {} features",
                data.ncols(),
                forest.n_features()
            )));
        }
        let w: Vec<f64> = match weights {
            None => vec![1.0; data.nrows()],
            Some(w) => {
                if w.len() != data.nrows() {
                    return Err(Error::InvalidInput(format!(
                        "data_weights has {} entries for {} background rows",
                        w.len(),
                        data.nrows()
                    )));
                }
                if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
                    return Err(Error::InvalidInput(
                        "data_weights must be finite and non-negative".into(),
                    ));
                }
                w.to_vec()
            }
        };
        let total: f64 = w.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return Err(Error::InvalidInput(
                "data_weights sum to zero (or overflow); at least one background row needs a \
                 positive weight"
                    .into(),
            ));
        }
        Ok(Background {
            data: if data.is_standard_layout() {
                ndarray::CowArray::from(data)
            } else {
                ndarray::CowArray::from(data.as_standard_layout().into_owned())
            },
            weights: w.iter().map(|v| v / total).collect(),
        })
    }

    pub fn rows(&self) -> usize {
        self.data.nrows()
    }
}

/// Allocates the zeroed output, refusing up front what would not fit in the memory budget.
fn allocate(shape: &[usize], what: &str, alternative: &str) -> Result<Vec<f64>> {
    let bytes = crate::memory::bytes_of::<f64>(shape);
    crate::memory::ensure_fits(what, bytes, alternative)?;
    crate::memory::filled_vec((bytes / 8) as usize, 0.0, what, alternative)
}

/// The largest tree's node count.
fn max_tree_nodes(forest: &Forest) -> usize {
    (0..forest.n_trees())
        .map(|t| forest.tree_nodes(t).len())
        .max()
        .unwrap_or(0)
}

/// Refuses work whose output plus working memory would not fit in the budget: `fixed` bytes
/// once, `per_thread` bytes for each of `threads` threads.
fn check_work(what: &str, output: u64, fixed: u64, per_thread: u64, threads: usize) -> Result<()> {
    crate::memory::ensure_fits(
        &format!(
            "{what} with their working memory ({} threads, {} each)",
            threads,
            crate::memory::human_bytes(per_thread)
        ),
        output
            .saturating_add(fixed)
            .saturating_add(per_thread.saturating_mul(threads as u64)),
        "explain fewer rows at a time, use a smaller background or fewer threads (n_jobs)",
    )
}

fn shaped(v: Vec<f64>, shape: &[usize]) -> ArrayD<f64> {
    Array::from_shape_vec(IxDyn(shape), v).expect("shape matches allocation")
}

/// Interventional SHAP values of the raw margin, shape `(n, p, k)`.
///
/// `values[i, j, o]` is the weighted mean over background rows z of feature j's exact Shapley
/// value in the game `v(S) = margin_o(x_S, z_notS)`. Time `O((rows + background) x nodes + rows x
/// sum over leaves of d)` for trees of moderate depth; memory: the output plus the per-leaf
/// aggregates of a group of trees (about 2 MiB at once, more for one larger tree).
pub fn shap_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    background: ArrayView2<f64>,
    weights: Option<ArrayView1<f64>>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<ArrayD<f64>> {
    raw(
        forest,
        x,
        background,
        weights,
        false,
        linear::Strategy::Auto,
        linear::Split::Auto,
        threads,
        monitor,
    )
}

/// Interventional SHAP interaction values of the raw margin, shape `(n, p, p, k)`, in shap's
/// convention (off-diagonal: half the Shapley interaction index; diagonal: `phi_i - sum_{j != i}`
/// of row i's off-diagonal entries), weighted mean over the background.
pub fn interaction_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    background: ArrayView2<f64>,
    weights: Option<ArrayView1<f64>>,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<ArrayD<f64>> {
    raw(
        forest,
        x,
        background,
        weights,
        true,
        linear::Strategy::Auto,
        linear::Split::Auto,
        threads,
        monitor,
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn raw(
    forest: &Forest,
    x: ArrayView2<f64>,
    background: ArrayView2<f64>,
    weights: Option<ArrayView1<f64>>,
    interactions: bool,
    strategy: linear::Strategy,
    split: linear::Split,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<ArrayD<f64>> {
    forest.check_columns(x.ncols())?;
    let bg = Background::new(forest, background, weights)?;
    let (n, p, k) = (x.nrows(), forest.n_features(), forest.n_outputs());
    let (shape, what) = output_shape(n, p, k, interactions, "");
    // Per thread, a block's leaf patterns (u32 for table leaves, u64 for the others) and one
    // tree's node patterns (the background's aggregates are checked once they are sized, see
    // `linear::raw`).
    let largest = max_tree_nodes(forest);
    let busy = threads.min(n.max(1));
    let block = (n / (threads * 4).max(1)).clamp(16, linear::MAX_BLOCK);
    check_work(
        &what,
        bytes_of::<f64>(&shape),
        0,
        bytes_of::<u64>(&[block, largest]).saturating_add(bytes_of::<u64>(&[largest])),
        busy,
    )?;
    let mut out = allocate(&shape, &what, "explain fewer rows at a time")?;
    let x = x.as_standard_layout();
    let pool = pool(threads)?;
    linear::raw(
        forest,
        &x.view(),
        &bg,
        interactions,
        strategy,
        split,
        &mut out,
        &pool,
        monitor,
    )?;
    Ok(shaped(out, &shape))
}

/// Interventional SHAP values (or interactions) of `g(margin)` as shap defines them for
/// `model_output="probability"` / `"log_loss"`; shape `(n, p, k_out)` or `(n, p, p, k_out)`.
///
/// Time `O(rows x background x reachable nodes)`: the per-pair rescaling forbids aggregation.
#[allow(clippy::too_many_arguments)]
pub fn transformed_values(
    forest: &Forest,
    x: ArrayView2<f64>,
    background: ArrayView2<f64>,
    weights: Option<ArrayView1<f64>>,
    transform: &Transform,
    interactions: bool,
    threads: usize,
    monitor: &dyn Monitor,
) -> Result<ArrayD<f64>> {
    forest.check_columns(x.ncols())?;
    let bg = Background::new(forest, background, weights)?;
    transformed::check(transform, forest, x.nrows())?;
    let (n, p, k) = (x.nrows(), forest.n_features(), transform.n_outputs(forest));
    let (shape, what) = output_shape(n, p, k, interactions, " of the transformed output");
    // Once: both margins, the background's decisions (capped) and leaves; per thread: one
    // row's raw values, leaves and decisions.
    let (m, trees, words) = (bg.rows(), forest.n_trees(), forest.n_nodes() / 64 + 1);
    let k_raw = forest.n_outputs();
    let fixed = bytes_of::<f64>(&[n + m, k_raw])
        .saturating_add(bytes_of::<u64>(&[m, words]).min(256 << 20))
        .saturating_add(bytes_of::<usize>(&[m, trees]));
    let raw_row = if interactions {
        p * p * k_raw
    } else {
        p * k_raw
    };
    let per_thread = bytes_of::<f64>(&[raw_row + trees + words]);
    check_work(
        &what,
        bytes_of::<f64>(&shape),
        fixed,
        per_thread,
        threads.min(n.max(1)),
    )?;
    let mut out = allocate(&shape, &what, "explain fewer rows at a time")?;
    let x = x.as_standard_layout();
    let pool = pool(threads)?;
    transformed::values(
        forest,
        &x.view(),
        &bg,
        transform,
        interactions,
        &mut out,
        &pool,
        monitor,
    )?;
    Ok(shaped(out, &shape))
}

/// The output's shape, `(n, p, k)` or `(n, p, p, k)`, and how a size error names it.
fn output_shape(
    n: usize,
    p: usize,
    k: usize,
    interactions: bool,
    of: &str,
) -> (Vec<usize>, String) {
    let shape = if interactions {
        vec![n, p, p, k]
    } else {
        vec![n, p, k]
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let what = format!(
        "the interventional SHAP {}values{of} ({} float64)",
        if interactions { "interaction " } else { "" },
        dims.join(" x ")
    );
    (shape, what)
}
