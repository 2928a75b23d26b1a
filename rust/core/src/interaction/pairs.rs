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
#[derive(Debug, Clone, PartialEq)]
pub struct LeafRecord {
    /// The leaf's node index in the forest.
    pub node: usize,
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

/// Lets the unit tests force the grid (`Some(true)`) or the sweep (`Some(false)`).
pub mod test_mode {
    use std::sync::atomic::{AtomicU8, Ordering};

    static MODE: AtomicU8 = AtomicU8::new(0);

    pub fn force(mode: Option<bool>) {
        MODE.store(
            match mode {
                None => 0,
                Some(true) => 1,
                Some(false) => 2,
            },
            Ordering::Relaxed,
        );
    }

    pub(crate) fn forced() -> Option<bool> {
        match MODE.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
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

/// A leaf's runs on the two features of a pair.
type RunPair<'a> = (&'a [(u32, u32)], &'a [(u32, u32)]);

/// A rectangle of cells `[a0, a1) x [b0, b1)`, a value per output, and a coefficient.
type Rect<'a> = (u32, u32, u32, u32, &'a [f64], f64);

/// Adds each rectangle's `value * coef` to the rows inside it: a sweep over the cells of `aj`
/// (rows in cell order) with a Fenwick tree over the cells of `ak` holding, per output, the sum
/// of the rectangles open at the sweep position; `O((rectangles + rows) log cells)`.
fn add_rectangles(g: &mut [f64], ko: usize, aj: &Axis, ak: &Axis, rects: &[Rect]) {
    let nk = ak.cells.n;
    // Events: (position along j, rectangle, sign).
    let mut events: Vec<(u32, u32, bool)> = Vec::with_capacity(rects.len() * 2);
    for (r, rect) in rects.iter().enumerate() {
        if rect.5 != 0.0 && rect.0 < rect.1 && rect.2 < rect.3 {
            events.push((rect.0, r as u32, true));
            events.push((rect.1, r as u32, false));
        }
    }
    if events.is_empty() {
        return;
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut tree = vec![0.0; (nk + 1) * ko];
    let update = |tree: &mut [f64], at: usize, value: &[f64], coef: f64| {
        let mut x = at + 1;
        while x <= nk {
            for o in 0..ko {
                tree[x * ko + o] += value[o] * coef;
            }
            x += x & x.wrapping_neg();
        }
    };
    let mut e = 0;
    let mut acc = vec![0.0; ko];
    for c in 0..aj.cells.n {
        while e < events.len() && events[e].0 as usize <= c {
            let (_, r, open) = events[e];
            let rect = &rects[r as usize];
            let coef = if open { rect.5 } else { -rect.5 };
            update(&mut tree, rect.2 as usize, rect.4, coef);
            if (rect.3 as usize) < nk {
                update(&mut tree, rect.3 as usize, rect.4, -coef);
            }
            e += 1;
        }
        let rows = &aj.index.order[aj.index.start[c] as usize..aj.index.start[c + 1] as usize];
        for &i in rows {
            acc.iter_mut().for_each(|v| *v = 0.0);
            let mut x = ak.cells.of_row[i as usize] as usize + 1;
            while x > 0 {
                for o in 0..ko {
                    acc[o] += tree[x * ko + o];
                }
                x &= x - 1;
            }
            for o in 0..ko {
                g[i as usize * ko + o] += acc[o];
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
    // Per leaf: the runs on j and k, and [share without j and k, -share without j,
    // -share without k].
    let mut runs: Vec<RunPair> = Vec::with_capacity(ids.len());
    let coefs: Vec<[f64; 3]> = ids
        .iter()
        .map(|&id| {
            let leaf = &leaves[id as usize];
            let (pj, pk) = (leaf.position(j), leaf.position(k));
            runs.push((&leaf.runs[pj as usize], &leaf.runs[pk as usize]));
            let m = &leaf.masses;
            let sj = (m.m0 + m.m1[pj as usize]) / w_total;
            let sk = (m.m0 + m.m1[pk as usize]) / w_total;
            let sjk = (m.m0 + m.m1[pj as usize] + m.m1[pk as usize] + m.pair(pj, pk)) / w_total;
            [sjk, -sj, -sk]
        })
        .collect();
    // The sweep costs about (rows + rectangles) log(cells); the grid, its size, which is at
    // most (2 leaves + 1)^2 coarse cells.
    let log = (usize::BITS - ck.n.leading_zeros()) as usize + 1;
    let sweep_cost = (n + 2 * ids.len()).saturating_mul(log);
    let side = 2 * ids.len() + 1;
    let grid_bound = cj.n.min(side).saturating_mul(ck.n.min(side));
    let use_grid = match test_mode::forced() {
        Some(grid) => grid,
        None => grid_bound <= sweep_cost && grid_bound.saturating_mul(ko) <= 1 << 25,
    };
    if use_grid {
        let bounds = |n_cells: usize, side: fn(&RunPair) -> usize| {
            let mut b: Vec<u32> = vec![0, n_cells as u32];
            for r in &runs {
                let list = if side(r) == 0 { r.0 } else { r.1 };
                for &(s, e) in list {
                    b.push(s);
                    b.push(e);
                }
            }
            b.sort_unstable();
            b.dedup();
            b
        };
        let bj = bounds(cj.n, |_| 0);
        let bk = bounds(ck.n, |_| 1);
        let (nj, nk) = (bj.len() - 1, bk.len() - 1);
        // Grid over coarse cells; diff has one extra row and column.
        let idx = |b: &[u32], c: u32| b.binary_search(&c).expect("a boundary");
        let mut diff = vec![0.0; (nj + 1) * (nk + 1) * ko];
        let mut dj = vec![0.0; (nj + 1) * ko];
        let mut dk = vec![0.0; (nk + 1) * ko];
        for ((&id, coef), &(rj, rk)) in ids.iter().zip(&coefs).zip(&runs) {
            let leaf = &leaves[id as usize];
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
        let value = |id: u32| &leaves[id as usize].value[..];
        let items = || ids.iter().zip(&coefs).zip(&runs);
        add_lines(
            &mut g,
            ko,
            aj,
            items().map(|((&id, c), r)| (r.0, value(id), c[1])),
        );
        add_lines(
            &mut g,
            ko,
            ak,
            items().map(|((&id, c), r)| (r.1, value(id), c[2])),
        );
        let mut rects: Vec<Rect> = Vec::new();
        for ((&id, coef), &(rj, rk)) in items() {
            for &(a0, a1) in rj {
                for &(b0, b1) in rk {
                    rects.push((a0, a1, b0, b1, value(id), coef[0]));
                }
            }
        }
        add_rectangles(&mut g, ko, aj, ak, &rects);
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
    let mut rects: [Vec<Rect>; 3] = [Vec::new(), Vec::new(), Vec::new()];
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
        for (slot, (a, b)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
            let coef = -share((1 << a) | (1 << b));
            for &(a0, a1) in r[a] {
                for &(b0, b1) in r[b] {
                    rects[slot].push((a0, a1, b0, b1, &leaf.value[..], coef));
                }
            }
        }
        add_box(&mut g, ko, &axes, &r, &leaf.value, share(7));
    }
    for (slot, (a, b)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
        add_rectangles(&mut g, ko, axes[a], axes[b], &rects[slot]);
    }
    for (b, items) in lines.into_iter().enumerate() {
        add_lines(&mut g, ko, axes[b], items.into_iter());
    }
    g
}
