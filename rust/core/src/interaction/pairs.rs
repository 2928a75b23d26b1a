//! The pure pairwise and three-way interaction parts of partial dependence, at every row.
//!
//! Up to a constant, `PD_jk - PD_j - PD_k` is a sum over the leaves whose path tests both `j`
//! and `k` only (the other leaves cancel). It is piecewise constant on the grid spanned by those
//! leaves' condition boundaries, so it is built once on that grid (rectangles added with a 2-D
//! difference table) and read at each row's cell; when that grid would be larger than the data,
//! the leaves are summed at each row directly. Three-way parts are summed at each row.

use super::cells::Cells;
use super::leaves::FailMasses;

/// What a later stage needs of a leaf whose path tests at least two pairwise features.
#[derive(Debug, Clone)]
pub struct LeafRecord {
    pub value: Vec<f64>,
    pub feats: Vec<u32>,
    pub runs: Vec<Vec<(u32, u32)>>,
    pub masses: FailMasses,
}

impl LeafRecord {
    fn position(&self, feature: usize) -> u16 {
        self.feats
            .iter()
            .position(|&f| f as usize == feature)
            .expect("indexed leaves test the feature") as u16
    }
}

#[inline]
fn member(runs: &[(u32, u32)], c: u32) -> bool {
    // Runs are sorted and disjoint.
    let i = runs.partition_point(|r| r.1 <= c);
    i < runs.len() && runs[i].0 <= c
}

/// Rows sorted by their cell of one feature, so that the rows in a run of cells are a range.
#[derive(Debug, Clone)]
pub struct RowIndex {
    /// Row ids in increasing cell order.
    pub order: Vec<u32>,
    /// `order[start[c]..start[c + 1]]` are the rows in cell `c`.
    pub start: Vec<u32>,
}

impl RowIndex {
    pub fn new(cells: &Cells) -> RowIndex {
        let mut start = vec![0u32; cells.n + 1];
        for &c in &cells.of_row {
            start[c as usize + 1] += 1;
        }
        for c in 0..cells.n {
            start[c + 1] += start[c];
        }
        let mut next = start.clone();
        let mut order = vec![0u32; cells.of_row.len()];
        for (i, &c) in cells.of_row.iter().enumerate() {
            order[next[c as usize] as usize] = i as u32;
            next[c as usize] += 1;
        }
        RowIndex { order, start }
    }

    /// Number of rows in the runs.
    fn count(&self, runs: &[(u32, u32)]) -> usize {
        runs.iter()
            .map(|&(a, b)| (self.start[b as usize] - self.start[a as usize]) as usize)
            .sum()
    }

    /// Rows in the runs.
    fn rows<'a>(&'a self, runs: &'a [(u32, u32)]) -> impl Iterator<Item = u32> + 'a {
        runs.iter().flat_map(move |&(a, b)| {
            self.order[self.start[a as usize] as usize..self.start[b as usize] as usize]
                .iter()
                .copied()
        })
    }
}

/// One feature of a pair or triple: its cells, its row index, and each leaf's runs on it.
pub struct Axis<'a> {
    pub feature: usize,
    pub cells: &'a Cells,
    pub index: &'a RowIndex,
}

/// Adds `value * coef` to every row in the box `runs[0] x runs[1] x ...` (one run list per
/// axis), enumerating the rows of the axis whose runs hold fewest rows.
fn add_box(
    g: &mut [f64],
    ko: usize,
    axes: &[&Axis],
    runs: &[&[(u32, u32)]],
    value: &[f64],
    coef: f64,
) {
    if coef == 0.0 {
        return;
    }
    let counts: Vec<usize> = axes
        .iter()
        .zip(runs)
        .map(|(a, r)| a.index.count(r))
        .collect();
    let best = (0..axes.len()).min_by_key(|&d| counts[d]).expect("an axis");
    for i in axes[best].index.rows(runs[best]) {
        let inside =
            (0..axes.len()).all(|d| d == best || member(runs[d], axes[d].cells.of_row[i as usize]));
        if inside {
            for o in 0..ko {
                g[i as usize * ko + o] += value[o] * coef;
            }
        }
    }
}

/// Adds `value * coef(leaf)` to every row whose cell of `axis` lies in the leaf's runs, through a
/// difference table over cells.
fn add_lines<'b>(
    g: &mut [f64],
    ko: usize,
    axis: &Axis,
    items: impl Iterator<Item = (&'b [(u32, u32)], &'b [f64], f64)>,
) {
    let mut diff = vec![0.0; (axis.cells.n + 1) * ko];
    for (runs, value, coef) in items {
        for &(s, e) in runs {
            for o in 0..ko {
                diff[s as usize * ko + o] += value[o] * coef;
                diff[e as usize * ko + o] -= value[o] * coef;
            }
        }
    }
    for c in 1..=axis.cells.n {
        for o in 0..ko {
            diff[c * ko + o] += diff[(c - 1) * ko + o];
        }
    }
    for (i, &c) in axis.cells.of_row.iter().enumerate() {
        for o in 0..ko {
            g[i * ko + o] += diff[c as usize * ko + o];
        }
    }
}

/// `G_jk` at every row (shape `n x k`, row-major): the part of `PD_jk` not explained by
/// `PD_j + PD_k`, up to a constant.
#[allow(clippy::too_many_arguments)]
pub fn pair_part(
    leaves: &[LeafRecord],
    ids: &[u32],
    aj: &Axis,
    ak: &Axis,
    n_outputs: usize,
    w_total: f64,
) -> Vec<f64> {
    let (j, k) = (aj.feature, ak.feature);
    let (cj, ck) = (aj.cells, ak.cells);
    let n = cj.of_row.len();
    let ko = n_outputs;
    let mut g = vec![0.0; n * ko];
    if ids.is_empty() {
        return g;
    }
    // Per leaf: [share without j and k, -share without j, -share without k].
    let coefs: Vec<[f64; 3]> = ids
        .iter()
        .map(|&id| {
            let leaf = &leaves[id as usize];
            let (pj, pk) = (leaf.position(j), leaf.position(k));
            let m = &leaf.masses;
            let sj = (m.m0 + m.m1[pj as usize]) / w_total;
            let sk = (m.m0 + m.m1[pk as usize]) / w_total;
            let sjk = (m.m0 + m.m1[pj as usize] + m.m1[pk as usize] + m.pair(pj, pk)) / w_total;
            [sjk, -sj, -sk]
        })
        .collect();
    let bounds = |feature: usize, n_cells: usize| -> Vec<u32> {
        let mut b: Vec<u32> = vec![0, n_cells as u32];
        for &id in ids {
            let leaf = &leaves[id as usize];
            for &(s, e) in &leaf.runs[leaf.position(feature) as usize] {
                b.push(s);
                b.push(e);
            }
        }
        b.sort_unstable();
        b.dedup();
        b
    };
    let bj = bounds(j, cj.n);
    let bk = bounds(k, ck.n);
    let (nj, nk) = (bj.len() - 1, bk.len() - 1);
    let grid_cells = nj.saturating_mul(nk);
    // Enumerating each leaf's box costs about the rows in its narrower side.
    let box_cost: usize = ids
        .iter()
        .map(|&id| {
            let leaf = &leaves[id as usize];
            let cj_rows = aj.index.count(&leaf.runs[leaf.position(j) as usize]);
            let ck_rows = ak.index.count(&leaf.runs[leaf.position(k) as usize]);
            cj_rows.min(ck_rows) + 4
        })
        .sum();
    if grid_cells <= box_cost.saturating_mul(2) && grid_cells.saturating_mul(ko) <= 1 << 25 {
        // Grid over coarse cells; diff has one extra row and column.
        let idx = |b: &[u32], c: u32| b.binary_search(&c).expect("a boundary");
        let mut diff = vec![0.0; (nj + 1) * (nk + 1) * ko];
        let mut dj = vec![0.0; (nj + 1) * ko];
        let mut dk = vec![0.0; (nk + 1) * ko];
        for (&id, coef) in ids.iter().zip(&coefs) {
            let leaf = &leaves[id as usize];
            let rj = &leaf.runs[leaf.position(j) as usize];
            let rk = &leaf.runs[leaf.position(k) as usize];
            for &(s, e) in rj {
                let (a0, a1) = (idx(&bj, s), idx(&bj, e));
                for o in 0..ko {
                    let v = leaf.value[o] * coef[1];
                    dj[a0 * ko + o] += v;
                    dj[a1 * ko + o] -= v;
                }
                for &(s2, e2) in rk {
                    let (b0, b1) = (idx(&bk, s2), idx(&bk, e2));
                    for o in 0..ko {
                        let v = leaf.value[o] * coef[0];
                        diff[(a0 * (nk + 1) + b0) * ko + o] += v;
                        diff[(a0 * (nk + 1) + b1) * ko + o] -= v;
                        diff[(a1 * (nk + 1) + b0) * ko + o] -= v;
                        diff[(a1 * (nk + 1) + b1) * ko + o] += v;
                    }
                }
            }
            for &(s2, e2) in rk {
                let (b0, b1) = (idx(&bk, s2), idx(&bk, e2));
                for o in 0..ko {
                    let v = leaf.value[o] * coef[2];
                    dk[b0 * ko + o] += v;
                    dk[b1 * ko + o] -= v;
                }
            }
        }
        // Prefix sums: along k within each row of j, then along j.
        for a in 0..=nj {
            for b in 1..=nk {
                for o in 0..ko {
                    diff[(a * (nk + 1) + b) * ko + o] += diff[(a * (nk + 1) + b - 1) * ko + o];
                }
            }
        }
        for a in 1..=nj {
            for b in 0..=nk {
                for o in 0..ko {
                    diff[(a * (nk + 1) + b) * ko + o] += diff[((a - 1) * (nk + 1) + b) * ko + o];
                }
            }
        }
        for a in 1..=nj {
            for o in 0..ko {
                dj[a * ko + o] += dj[(a - 1) * ko + o];
            }
        }
        for b in 1..=nk {
            for o in 0..ko {
                dk[b * ko + o] += dk[(b - 1) * ko + o];
            }
        }
        let coarse = |b: &[u32], n_cells: usize| -> Vec<u32> {
            let mut out = vec![0u32; n_cells];
            let mut q = 0usize;
            for (c, slot) in out.iter_mut().enumerate() {
                while b[q + 1] as usize <= c {
                    q += 1;
                }
                *slot = q as u32;
            }
            out
        };
        let mj = coarse(&bj, cj.n);
        let mk = coarse(&bk, ck.n);
        for i in 0..n {
            let a = mj[cj.of_row[i] as usize] as usize;
            let b = mk[ck.of_row[i] as usize] as usize;
            for o in 0..ko {
                g[i * ko + o] = diff[(a * (nk + 1) + b) * ko + o] + dj[a * ko + o] + dk[b * ko + o];
            }
        }
    } else {
        let runs_of = |id: u32, feature: usize| -> &[(u32, u32)] {
            let leaf = &leaves[id as usize];
            &leaf.runs[leaf.position(feature) as usize]
        };
        add_lines(
            &mut g,
            ko,
            aj,
            ids.iter()
                .zip(&coefs)
                .map(|(&id, c)| (runs_of(id, j), &leaves[id as usize].value[..], c[1])),
        );
        add_lines(
            &mut g,
            ko,
            ak,
            ids.iter()
                .zip(&coefs)
                .map(|(&id, c)| (runs_of(id, k), &leaves[id as usize].value[..], c[2])),
        );
        for (&id, coef) in ids.iter().zip(&coefs) {
            let leaf = &leaves[id as usize];
            add_box(
                &mut g,
                ko,
                &[aj, ak],
                &[runs_of(id, j), runs_of(id, k)],
                &leaf.value,
                coef[0],
            );
        }
    }
    g
}

/// A leaf's runs on one axis, its value, and a coefficient.
type Line<'a> = (&'a [(u32, u32)], &'a [f64], f64);

/// `G_jkl` at every row (shape `n x k`): the three-way part of `PD_jkl`, up to a constant.
///
/// Per leaf, `sum over nonempty T of (-1)^(3-|T|) share(F minus T) [x passes T]`: the
/// one-feature terms go through difference tables over cells, the two- and three-feature terms
/// add to the rows inside their boxes.
pub fn triple_part(
    leaves: &[LeafRecord],
    ids: &[u32],
    axes: [&Axis; 3],
    n_outputs: usize,
    w_total: f64,
) -> Vec<f64> {
    let n = axes[0].cells.of_row.len();
    let ko = n_outputs;
    let mut g = vec![0.0; n * ko];
    let mut lines: [Vec<Line>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for &id in ids {
        let leaf = &leaves[id as usize];
        let p = [
            leaf.position(axes[0].feature),
            leaf.position(axes[1].feature),
            leaf.position(axes[2].feature),
        ];
        let m = &leaf.masses;
        // Weight of the rows whose fails are exactly the subset U (bit b: axis b).
        let exact = |u: usize| -> f64 {
            let sel: Vec<u16> = (0..3).filter(|b| u >> b & 1 == 1).map(|b| p[b]).collect();
            match sel.len() {
                0 => m.m0,
                1 => m.m1[sel[0] as usize],
                2 => m.pair(sel[0], sel[1]),
                _ => m.triple([sel[0], sel[1], sel[2]]),
            }
        };
        // share(T) = weight of the rows failing nothing outside T = sum over U within T.
        let share = |t: usize| -> f64 {
            (0..8usize).filter(|u| u & !t == 0).map(exact).sum::<f64>() / w_total
        };
        let r = [
            &leaf.runs[p[0] as usize][..],
            &leaf.runs[p[1] as usize][..],
            &leaf.runs[p[2] as usize][..],
        ];
        for b in 0..3 {
            lines[b].push((r[b], &leaf.value[..], share(1 << b)));
        }
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            add_box(
                &mut g,
                ko,
                &[axes[a], axes[b]],
                &[r[a], r[b]],
                &leaf.value,
                -share((1 << a) | (1 << b)),
            );
        }
        add_box(&mut g, ko, &axes, &r, &leaf.value, share(7));
    }
    for (b, items) in lines.into_iter().enumerate() {
        add_lines(&mut g, ko, axes[b], items.into_iter());
    }
    g
}
