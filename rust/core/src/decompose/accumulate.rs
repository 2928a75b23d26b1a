//! Adds the components of one block of rows, tree by tree (see [`super::leaves`] for the terms).

use super::leaves::{Coefficients, LeafTerms, TreeTerms};
use crate::forest::Forest;
use crate::interventional::columns::{Columns, WALK_ROWS};
use crate::interventional::paths::TreePaths;

/// One block's outputs: `rows` rows of `main` (`p x k`), `pairs` (`p x p x k`, only the entries
/// `[a][b]` with `a < b`, mirrored at the end; empty below order 2) and `higher` (`sets x k`).
pub struct BlockOut<'a> {
    pub main: &'a mut [f64],
    pub pairs: &'a mut [f64],
    pub higher: &'a mut [f64],
}

/// Shape of the outputs.
#[derive(Clone, Copy)]
pub struct Dims {
    pub p: usize,
    pub k: usize,
    pub sets: usize,
    pub pairs: bool,
}

#[inline]
fn sign(bits: u64) -> f64 {
    if bits.count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

#[inline]
fn add(out: &mut [f64], at: usize, c: f64, value: &[f64], output: Option<usize>) {
    match output {
        Some(o) => out[at + o] += c * value[0],
        None => {
            for (slot, v) in out[at..at + value.len()].iter_mut().zip(value) {
                *slot += c * v;
            }
        }
    }
}

/// Adds every tree's components for the rows of block `b` (`rows` of them, at most
/// [`WALK_ROWS`]); `buf` holds one tree's node patterns.
#[allow(clippy::too_many_arguments)]
pub fn add_block(
    forest: &Forest,
    columns: &Columns,
    b: usize,
    rows: usize,
    paths: &[TreePaths],
    terms: &[TreeTerms],
    dims: Dims,
    out: &mut BlockOut,
    buf: &mut [u64],
) {
    let Dims { p, k, pairs, .. } = dims;
    for tree in terms {
        if tree.leaves.is_empty() {
            continue;
        }
        let paths = &paths[tree.tree];
        paths.block_patterns(forest, columns.block(b), columns.nan(b), buf);
        for leaf in &tree.leaves {
            let l = &paths.leaves[leaf.leaf];
            let full = l.full();
            let d = leaf.features.len();
            let n0 = leaf.fails.get(0);
            let pats = &buf[l.local * WALK_ROWS..][..rows];
            if let Some(co) = &leaf.coefficients {
                add_coefficients(leaf, co, tree.output, pats, full, dims, out);
                if leaf.sets.is_empty() {
                    continue;
                }
            }
            for (i, &pat) in pats.iter().enumerate() {
                // The path features the row fails.
                let a = !pat & full;
                if leaf.coefficients.is_some() {
                    add_higher(leaf, a, i, dims, tree.output, out);
                    continue;
                }
                let main = &mut out.main[i * p * k..(i + 1) * p * k];
                for j in 0..d {
                    let bit = 1u64 << j;
                    let c = if a & bit != 0 {
                        -n0
                    } else {
                        leaf.fails.get(bit)
                    };
                    if c != 0.0 {
                        let f = leaf.features[j] as usize;
                        add(main, f * k, c, &leaf.value, tree.output);
                    }
                }
                if pairs {
                    let pw = &mut out.pairs[i * p * p * k..(i + 1) * p * p * k];
                    for j in 0..d {
                        for l2 in j + 1..d {
                            let s = (1u64 << j) | (1u64 << l2);
                            let c = sign(s & a) * leaf.fails.get(s & !a);
                            if c != 0.0 {
                                let (f, g) =
                                    (leaf.features[j] as usize, leaf.features[l2] as usize);
                                let (lo, hi) = (f.min(g), f.max(g));
                                add(pw, (lo * p + hi) * k, c, &leaf.value, tree.output);
                            }
                        }
                    }
                }
                add_higher(leaf, a, i, dims, tree.output, out);
            }
        }
    }
}

/// The terms of order 3 and more of one row (`a`: the path features it fails).
#[inline]
fn add_higher(
    leaf: &LeafTerms,
    a: u64,
    i: usize,
    dims: Dims,
    output: Option<usize>,
    out: &mut BlockOut,
) {
    if leaf.sets.is_empty() {
        return;
    }
    let (k, sets) = (dims.k, dims.sets);
    let hs = &mut out.higher[i * sets * k..(i + 1) * sets * k];
    for &(s, idx) in &leaf.sets {
        let c = sign(s & a) * leaf.fails.get(s & !a);
        if c != 0.0 {
            add(hs, idx as usize * k, c, &leaf.value, output);
        }
    }
}

/// The main and pairwise terms of a block's rows from the leaf's [`Coefficients`]: one table
/// read per term, indexed by the row's failures, no branch on the row.
fn add_coefficients(
    leaf: &LeafTerms,
    co: &Coefficients,
    output: Option<usize>,
    pats: &[u64],
    full: u64,
    dims: Dims,
    out: &mut BlockOut,
) {
    let Dims { p, k, pairs, .. } = dims;
    let (main_at, pair_at) = (&co.main_at, &co.pair_at);
    for (i, &pat) in pats.iter().enumerate() {
        let a = !pat & full;
        let main = &mut out.main[i * p * k..(i + 1) * p * k];
        match (output, co.scaled) {
            (Some(o), true) => {
                for (j, (c, &at)) in co.main.iter().zip(main_at).enumerate() {
                    main[at + o] += c[((a >> j) & 1) as usize];
                }
            }
            _ => {
                for (j, (c, &at)) in co.main.iter().zip(main_at).enumerate() {
                    add(main, at, c[((a >> j) & 1) as usize], &leaf.value, output);
                }
            }
        }
        if pairs {
            let pw = &mut out.pairs[i * p * p * k..(i + 1) * p * p * k];
            let terms = co.pairs.iter().zip(&co.pair_bits).zip(pair_at);
            match (output, co.scaled) {
                (Some(o), true) => {
                    for ((c, &(j, l)), &at) in terms {
                        let idx = (((a >> j) & 1) << 1 | ((a >> l) & 1)) as usize;
                        pw[at + o] += c[idx];
                    }
                }
                _ => {
                    for ((c, &(j, l)), &at) in terms {
                        let idx = (((a >> j) & 1) << 1 | ((a >> l) & 1)) as usize;
                        add(pw, at, c[idx], &leaf.value, output);
                    }
                }
            }
        }
    }
}

/// Copies each pair's value `[a][b]` (`a < b`) to `[b][a]`: the pairwise terms are symmetric.
pub fn mirror_pairs(row: &mut [f64], p: usize, k: usize) {
    for a in 0..p {
        for b in a + 1..p {
            for o in 0..k {
                row[(b * p + a) * k + o] = row[(a * p + b) * k + o];
            }
        }
    }
}
