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

/// `G_jk` at every row (shape `n x k`, row-major): the part of `PD_jk` not explained by
/// `PD_j + PD_k`, up to a constant.
#[allow(clippy::too_many_arguments)]
pub fn pair_part(
    leaves: &[LeafRecord],
    ids: &[u32],
    j: usize,
    k: usize,
    cj: &Cells,
    ck: &Cells,
    n_outputs: usize,
    w_total: f64,
) -> Vec<f64> {
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
    let direct_cost = n.saturating_mul(ids.len());
    if grid_cells.saturating_mul(2) <= direct_cost && grid_cells.saturating_mul(ko) <= 1 << 25 {
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
        for (&id, coef) in ids.iter().zip(&coefs) {
            let leaf = &leaves[id as usize];
            let rj = &leaf.runs[leaf.position(j) as usize];
            let rk = &leaf.runs[leaf.position(k) as usize];
            let table = [0.0, coef[2], coef[1], coef[0] + coef[1] + coef[2]];
            for i in 0..n {
                let pat =
                    (member(rj, cj.of_row[i]) as usize) << 1 | member(rk, ck.of_row[i]) as usize;
                let c = table[pat];
                if c != 0.0 {
                    for o in 0..ko {
                        g[i * ko + o] += leaf.value[o] * c;
                    }
                }
            }
        }
    }
    g
}

/// `G_jkl` at every row (shape `n x k`): the three-way part of `PD_jkl`, up to a constant.
pub fn triple_part(
    leaves: &[LeafRecord],
    ids: &[u32],
    f: [usize; 3],
    cells: [&Cells; 3],
    n_outputs: usize,
    w_total: f64,
) -> Vec<f64> {
    let n = cells[0].of_row.len();
    let ko = n_outputs;
    let mut g = vec![0.0; n * ko];
    for &id in ids {
        let leaf = &leaves[id as usize];
        let p = [
            leaf.position(f[0]),
            leaf.position(f[1]),
            leaf.position(f[2]),
        ];
        let m = &leaf.masses;
        // Weight of the rows whose fails are exactly the subset U (bit b: feature f[b]).
        let exact = |u: usize| -> f64 {
            let sel: Vec<u16> = (0..3).filter(|b| u >> b & 1 == 1).map(|b| p[b]).collect();
            match sel.len() {
                0 => m.m0,
                1 => m.m1[sel[0] as usize],
                2 => m.pair(sel[0], sel[1]),
                _ => m.triple([sel[0], sel[1], sel[2]]),
            }
        };
        // share(T) = weight of rows failing nothing outside T = sum over U subset of T.
        let share = |t: usize| -> f64 {
            (0..8usize).filter(|u| u & !t == 0).map(exact).sum::<f64>() / w_total
        };
        // Coefficient for each membership pattern P: sum over nonempty T within P of
        // (-1)^(3-|T|) share(T).
        let mut table = [0.0; 8];
        for (pat, slot) in table.iter_mut().enumerate() {
            let mut acc = 0.0;
            for t in 1..8usize {
                if t & !pat == 0 {
                    let sign = if (3 - t.count_ones()) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                    acc += sign * share(t);
                }
            }
            *slot = acc;
        }
        let r = [
            &leaf.runs[p[0] as usize],
            &leaf.runs[p[1] as usize],
            &leaf.runs[p[2] as usize],
        ];
        for i in 0..n {
            let mut pat = 0;
            for b in 0..3 {
                if member(r[b], cells[b].of_row[i]) {
                    pat |= 1 << b;
                }
            }
            let c = table[pat];
            if c != 0.0 {
                for o in 0..ko {
                    g[i * ko + o] += leaf.value[o] * c;
                }
            }
        }
    }
    g
}
