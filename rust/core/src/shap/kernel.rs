//! The per-tree, per-block-of-rows kernel of path-dependent TreeSHAP by Gauss-Legendre quadrature.
//!
//! For one leaf with unique path features F, the value function is a product game
//! `v(S) = value * prod_{j in S} p_j * prod_{j in F\S} q_j` (p_j: does the row follow the path on
//! feature j, q_j: product of the path's cover ratios on feature j). Its Shapley value is
//! `value * (p_i - q_i) * int_0^1 prod_{j != i} F_j(t) dt` with `F_j(t) = (1 - t) q_j + t p_j`,
//! and its Shapley interaction index carries `(p_i - q_i)(p_j - q_j)` and the product over the
//! other features. Every integrand is a polynomial of degree < |F|, integrated exactly by the
//! `ceil(|F| / 2)`-point rule.
//!
//! Per tree and row, a depth-first walk carries the prefix product `P(t_k)` down and the sums
//! `G(t_k) = sum_{leaves below} value * P_leaf(t_k)` up. At the edge where a feature's factor
//! enters, the edge's share is `sum_k w_k * dC(t_k) * G(t_k)`, where
//! `C(t) = (p - q) / F(t)` is the feature's coefficient with the factors combined so far and
//! `dC` its change at this edge (a feature split again lower on the path telescopes: the shares
//! of its edges sum to the leaf's final coefficient at every quadrature node, so the result is the
//! exact rule applied to a polynomial). Pairs of edges on one path give the interactions.
//!
//! Rows run in lanes of `L` (one row per lane): the tree walk is the same for all lanes, only the
//! branch indicators differ, so the inner loops are straight-line SIMD code.

use super::decisions::{Splits, DIRECT};
use super::plan::{Plan, NONE};
use super::quadrature::Rule;
use crate::forest::Forest;

/// Rows per lane block.
pub const L: usize = 64;
pub type Lane = [f64; L];
const ZERO: Lane = [0.0; L];
const ONE: Lane = [1.0; L];

/// Table fields per (edge, quadrature node).
const R10: usize = 0; // prefix ratio when the feature's path so far holds and the row goes the other way
const RB: usize = 1; // ratio(row follows) - ratio(row does not follow)
const RA: usize = 2; // R10 - cover ratio (edges with an ancestor on the same feature)
const C0: usize = 3; // coefficient change when the row does not follow (weighted for values)
const CD: usize = 4; // (change if follows) - (change if not) (weighted for values)
                     // Twig nodes (see `Plan::twig`), single-output trees: with `a` the row going left,
                     // G = P * (Y0 + a * YD) and the children's share of the split feature is sum_k P (X0 + a * XD).
const X0: usize = 5;
const XD: usize = 6;
const Y0: usize = 7;
const YD: usize = 8;
pub const FIELDS: usize = 9;

/// Fills `tab` with the per-edge tables of tree `t`: `tab[((i * FIELDS) + field) * m + k]` for
/// position `i` relative to the tree's first position. `weighted`: fold the quadrature weights
/// into the coefficient changes (SHAP values); interactions keep them apart.
pub fn tree_tables(
    forest: &Forest,
    plan: &Plan,
    t: usize,
    rule: &Rule,
    weighted: bool,
    tab: &mut Vec<f64>,
) {
    let (a, b) = (plan.tree_start[t], plan.tree_start[t + 1]);
    let m = rule.nodes.len();
    tab.clear();
    tab.resize((b - a) * FIELDS * m, 0.0);
    let coef1 = |q: f64, t: f64| (1.0 - q) / ((1.0 - t) * q + t);
    let coef0 = |q: f64, t: f64| if q > 0.0 { -1.0 / (1.0 - t) } else { 0.0 };
    for i in a + 1..b {
        let qc = plan.q[i];
        let qs = plan.q_same[i];
        let r = plan.ratio[i];
        let base = (i - a) * FIELDS * m;
        for k in 0..m {
            let tk = rule.nodes[k];
            let wk = if weighted { rule.weights[k] } else { 1.0 };
            let fs1 = (1.0 - tk) * qs + tk;
            let r11 = ((1.0 - tk) * qc + tk) / fs1;
            let r10 = (1.0 - tk) * qc / fs1;
            let cs = if plan.same[i] == NONE {
                0.0
            } else {
                coef1(qs, tk)
            };
            let c11 = coef1(qc, tk) - cs;
            let c10 = coef0(qc, tk) - cs;
            tab[base + R10 * m + k] = r10;
            tab[base + RB * m + k] = r11 - r10;
            tab[base + RA * m + k] = r10 - r;
            tab[base + C0 * m + k] = wk * c10;
            tab[base + CD * m + k] = wk * (c11 - c10);
        }
    }
    if forest.tree_width(t) != 1 {
        return;
    }
    let scale = forest.tree_weight(t);
    for i in a..b {
        if !plan.twig[i] {
            continue;
        }
        let (base, bl, br) = (
            (i - a) * FIELDS * m,
            (i + 1 - a) * FIELDS * m,
            (i + 2 - a) * FIELDS * m,
        );
        let vl = forest.node_values(plan.node[i + 1] as usize, 1)[0] * scale;
        let vr = forest.node_values(plan.node[i + 2] as usize, 1)[0] * scale;
        for k in 0..m {
            // Children's coefficient changes with the quadrature weight in.
            let w = if weighted { 1.0 } else { rule.weights[k] };
            let (l10, r10) = (tab[bl + R10 * m + k], tab[br + R10 * m + k]);
            let (l11, r11) = (l10 + tab[bl + RB * m + k], r10 + tab[br + RB * m + k]);
            let (lc0, rc0) = (w * tab[bl + C0 * m + k], w * tab[br + C0 * m + k]);
            let (lc1, rc1) = (
                lc0 + w * tab[bl + CD * m + k],
                rc0 + w * tab[br + CD * m + k],
            );
            let x1 = vl * lc1 * l11 + vr * rc0 * r10;
            let y1 = vl * l11 + vr * r10;
            let x0 = vl * lc0 * l10 + vr * rc1 * r11;
            let y0 = vl * l10 + vr * r11;
            tab[base + X0 * m + k] = x0;
            tab[base + XD * m + k] = x1 - x0;
            tab[base + Y0 * m + k] = y0;
            tab[base + YD * m + k] = y1 - y0;
        }
    }
}

/// Scratch space of one worker, sized for the deepest tree.
pub struct Work {
    p: Vec<Lane>,
    g: Vec<Lane>,
    dc: Vec<Lane>,
    h: Vec<Lane>,
    left: Vec<Lane>,
    along: Vec<Lane>,
    /// G at this depth has not been written yet (the first child stores instead of adding).
    fresh: Vec<bool>,
    pos: Vec<usize>,
    /// Interactions: the coefficient changes of the path's edges summed per distinct feature
    /// (one slot per feature, in order of first appearance), so that closing an edge costs the
    /// path's distinct features, not its depth.
    slot_of: Vec<u32>,
    slot_feature: Vec<u32>,
    slot_sum: Vec<Lane>,
    /// Per depth: the slot's sum before this edge was added, and whether the edge opened it.
    saved: Vec<Lane>,
    opened: Vec<bool>,
    /// Whether interactions use the per-feature sums (deep trees) or pair each edge with every
    /// ancestor edge directly (cheaper for ordinary depths).
    grouped: bool,
}

/// Deeper trees pair edges through per-feature sums (always in the unit tests, which check
/// both ways against brute force: the Python tests see the direct way on ordinary trees).
#[cfg(not(test))]
const GROUP_DEPTH: usize = 64;
#[cfg(test)]
const GROUP_DEPTH: usize = 0;

impl Work {
    pub fn new(max_depth: usize, max_points: usize, width: usize) -> Work {
        Work::with_slots(max_depth, max_points, width, 0, false)
    }

    /// Scratch for interactions over `n_features` features (per-feature sums of the path).
    pub fn with_slots(
        max_depth: usize,
        max_points: usize,
        width: usize,
        n_features: usize,
        inter: bool,
    ) -> Work {
        let d = max_depth + 1;
        let m = max_points.max(1);
        let grouped = inter && max_depth > GROUP_DEPTH;
        let (dm, slots) = if grouped {
            (d * m, n_features.min(d) * m)
        } else {
            (0, 0)
        };
        Work {
            p: vec![ZERO; d * m],
            g: vec![ZERO; d * width * m],
            // Allocated for SHAP values too: it keeps `p` and `g` at the offsets the kernel was
            // tuned with (without it, values ran about 25% slower on W1-like models).
            dc: vec![ZERO; d * m],
            h: vec![ZERO; m],
            left: vec![ZERO; d],
            along: vec![ZERO; d],
            fresh: vec![false; d],
            pos: vec![0; d],
            slot_of: vec![NONE; if grouped { n_features } else { 0 }],
            slot_feature: Vec::new(),
            slot_sum: vec![ZERO; slots],
            saved: vec![ZERO; dm],
            opened: vec![false; if grouped { d } else { 0 }],
            grouped,
        }
    }

    /// Interactions: adds the coefficient change of the edge at depth `d` (feature `f`) to its
    /// feature's slot.
    #[inline(always)]
    fn add_to_slot(&mut self, d: usize, f: usize, m: usize) {
        let dc = &self.dc[d * m..(d + 1) * m];
        let s = self.slot_of[f];
        if s == NONE {
            let s = self.slot_feature.len();
            self.slot_of[f] = s as u32;
            self.slot_feature.push(f as u32);
            self.slot_sum[s * m..(s + 1) * m].copy_from_slice(dc);
            self.opened[d] = true;
        } else {
            let s = s as usize;
            let sum = &mut self.slot_sum[s * m..(s + 1) * m];
            self.saved[d * m..(d + 1) * m].copy_from_slice(sum);
            for (acc, v) in sum.iter_mut().zip(dc) {
                for l in 0..L {
                    acc[l] += v[l];
                }
            }
            self.opened[d] = false;
        }
    }

    /// Takes the edge at depth `d` (feature `f`) off its slot again.
    #[inline(always)]
    fn remove_from_slot(&mut self, d: usize, f: usize, m: usize) {
        if self.opened[d] {
            self.slot_feature.pop();
            self.slot_of[f] = NONE;
        } else {
            let s = self.slot_of[f] as usize;
            self.slot_sum[s * m..(s + 1) * m].copy_from_slice(&self.saved[d * m..(d + 1) * m]);
        }
    }
}

/// One tree, one block of rows.
pub struct TreeJob<'a> {
    pub forest: &'a Forest,
    pub plan: &'a Plan,
    pub t: usize,
    pub rule: &'a Rule,
    pub tab: &'a [f64],
    /// Output index of each of the tree's `width` values.
    pub outputs: &'a [usize],
    /// Number of model outputs (accumulator stride).
    pub n_outputs: usize,
    pub n_features: usize,
    pub splits: &'a Splits,
}

/// Per block of rows: for each feature, the first rank sent left per lane (see
/// [`Splits::first_left`]) and whether some lane holds an unusual value.
pub struct BlockCuts {
    pub cut: Vec<Lane>,
    pub unusual: Vec<bool>,
}

impl BlockCuts {
    pub fn new(forest: &Forest, splits: &Splits, rows: &[&[f64]; L]) -> BlockCuts {
        let p = forest.n_features();
        let mut cut = vec![ZERO; p];
        let mut unusual = vec![false; p];
        for f in 0..p {
            for l in 0..L {
                let x = rows[l][f];
                if Splits::unusual(x) {
                    unusual[f] = true;
                } else {
                    cut[f][l] = splits.first_left(forest, f, x) as f64;
                }
            }
        }
        BlockCuts { cut, unusual }
    }
}

/// The edge into the node at depth `e` (position `i`): does each row follow it, and does each
/// row follow the path so far on the same feature (all ones when the feature is new).
#[inline(always)]
fn edge_bits(plan: &Plan, work: &Work, i: usize, e: usize) -> (Lane, Option<Lane>) {
    let lm = &work.left[e - 1];
    let a: Lane = if plan.is_left[i] {
        *lm
    } else {
        std::array::from_fn(|l| 1.0 - lm[l])
    };
    let same = plan.same[i];
    let ps = (same != NONE).then(|| work.along[same as usize]);
    (a, ps)
}

/// `a * b + c`, fused when the kernel is compiled for a CPU with FMA (never a software fma).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn points<const MC: usize>(job: &TreeJob) -> usize {
    if MC == 0 {
        job.rule.nodes.len()
    } else {
        MC
    }
}

/// Closes the node at depth `e >= 1`: its subtree's sums G are complete. Adds the share of the
/// edge into it (and its pairs with the ancestor edges) and passes G up to the parent.
#[inline(always)]
fn close<const INTER: bool, const MC: usize, const FMA: bool>(
    job: &TreeJob,
    e: usize,
    work: &mut Work,
    values: &mut [Lane],
    inter: &mut [Lane],
) {
    let m = points::<MC>(job);
    let plan = job.plan;
    let width = job.outputs.len();
    let k_out = job.n_outputs;
    let a0 = plan.tree_start[job.t];
    let i = work.pos[e];
    let f = plan.feature[i] as usize;
    let tb = (i - a0) * FIELDS * m;
    let tab = &job.tab[tb..tb + FIELDS * m];
    let bits = (!INTER).then(|| edge_bits(plan, work, i, e));
    let fresh = work.fresh[e - 1];
    for (o, &out) in job.outputs.iter().enumerate() {
        let ge = (e * width + o) * m;
        let gp = ((e - 1) * width + o) * m;
        let (gpar, gcur) = work.g.split_at_mut(ge);
        let gcur = &gcur[..m];
        let gpar = &mut gpar[gp..gp + m];
        if INTER {
            let wts = &job.rule.weights[..m];
            let dce = &work.dc[e * m..(e + 1) * m];
            let h = &mut work.h[..m];
            let mut s = ZERO;
            for k in 0..m {
                for l in 0..L {
                    h[k][l] = wts[k] * dce[k][l] * gcur[k][l];
                    s[l] += h[k][l];
                }
            }
            let v = &mut values[f * k_out + out];
            for l in 0..L {
                v[l] += s[l];
            }
            let p_feat = job.n_features;
            if work.grouped {
                // The ancestor edges grouped by feature: their coefficient changes are summed
                // per feature (see `Work::add_to_slot`); the edge's own feature is skipped.
                for (s, &fu) in work.slot_feature.iter().enumerate() {
                    let fu = fu as usize;
                    if fu == f {
                        continue;
                    }
                    let dcu = &work.slot_sum[s * m..(s + 1) * m];
                    let mut x = ZERO;
                    for k in 0..m {
                        for l in 0..L {
                            x[l] = madd::<FMA>(dcu[k][l], h[k][l], x[l]);
                        }
                    }
                    let a = &mut inter[(fu * p_feat + f) * k_out + out];
                    for l in 0..L {
                        a[l] += 0.5 * x[l];
                    }
                    let b = &mut inter[(f * p_feat + fu) * k_out + out];
                    for l in 0..L {
                        b[l] += 0.5 * x[l];
                    }
                }
            } else {
                for u in 1..e {
                    let fu = plan.feature[work.pos[u]] as usize;
                    if fu == f {
                        continue;
                    }
                    let dcu = &work.dc[u * m..(u + 1) * m];
                    let mut x = ZERO;
                    for k in 0..m {
                        for l in 0..L {
                            x[l] = madd::<FMA>(dcu[k][l], h[k][l], x[l]);
                        }
                    }
                    let a = &mut inter[(fu * p_feat + f) * k_out + out];
                    for l in 0..L {
                        a[l] += 0.5 * x[l];
                    }
                    let b = &mut inter[(f * p_feat + fu) * k_out + out];
                    for l in 0..L {
                        b[l] += 0.5 * x[l];
                    }
                }
            }
        } else {
            let c0 = &tab[C0 * m..C0 * m + m];
            let cd = &tab[CD * m..CD * m + m];
            let mut s1 = ZERO;
            let mut s2 = ZERO;
            for k in 0..m {
                for l in 0..L {
                    s1[l] = madd::<FMA>(c0[k], gcur[k][l], s1[l]);
                    s2[l] = madd::<FMA>(cd[k], gcur[k][l], s2[l]);
                }
            }
            let v = &mut values[f * k_out + out];
            let (fo, ps) = bits.as_ref().expect("values mode");
            match ps {
                None => {
                    for l in 0..L {
                        v[l] += madd::<FMA>(fo[l], s2[l], s1[l]);
                    }
                }
                Some(al) => {
                    for l in 0..L {
                        v[l] = madd::<FMA>(al[l], madd::<FMA>(fo[l], s2[l], s1[l]), v[l]);
                    }
                }
            }
        }
        if fresh {
            gpar.copy_from_slice(gcur);
        } else {
            for k in 0..m {
                for l in 0..L {
                    gpar[k][l] += gcur[k][l];
                }
            }
        }
    }
    work.fresh[e - 1] = false;
    if INTER && work.grouped {
        work.remove_from_slot(e, f, m);
    }
}

/// SHAP values only: a leaf at depth `d >= 1` is opened and closed at once (its G is its value
/// times the prefix product), without going through the stack.
#[inline(always)]
fn leaf_values<const MC: usize, const FMA: bool>(
    job: &TreeJob,
    d: usize,
    nd: usize,
    work: &mut Work,
    values: &mut [Lane],
) {
    let m = points::<MC>(job);
    let plan = job.plan;
    let width = job.outputs.len();
    let k_out = job.n_outputs;
    let a0 = plan.tree_start[job.t];
    let i = work.pos[d];
    let f = plan.feature[i] as usize;
    let tb = (i - a0) * FIELDS * m;
    let tab = &job.tab[tb..tb + FIELDS * m];
    let c0 = &tab[C0 * m..C0 * m + m];
    let cd = &tab[CD * m..CD * m + m];
    let scale = job.forest.tree_weight(job.t);
    let vals = job.forest.node_values(nd, width);
    let (fo, ps) = edge_bits(plan, work, i, d);
    let fresh = work.fresh[d - 1];
    work.fresh[d - 1] = false;
    let (gpar_all, _) = work.g.split_at_mut(d * width * m);
    let pd = &work.p[d * m..(d + 1) * m];
    for (o, (&out, &v)) in job.outputs.iter().zip(vals).enumerate() {
        let v = v * scale;
        let gp = ((d - 1) * width + o) * m;
        let gpar = &mut gpar_all[gp..gp + m];
        let mut s1 = ZERO;
        let mut s2 = ZERO;
        for k in 0..m {
            for l in 0..L {
                let g = v * pd[k][l];
                s1[l] = madd::<FMA>(c0[k], g, s1[l]);
                s2[l] = madd::<FMA>(cd[k], g, s2[l]);
                gpar[k][l] = if fresh { g } else { gpar[k][l] + g };
            }
        }
        let acc = &mut values[f * k_out + out];
        match ps {
            None => {
                for l in 0..L {
                    acc[l] += madd::<FMA>(fo[l], s2[l], s1[l]);
                }
            }
            Some(al) => {
                for l in 0..L {
                    acc[l] = madd::<FMA>(al[l], madd::<FMA>(fo[l], s2[l], s1[l]), acc[l]);
                }
            }
        }
    }
}

/// Adds the tree's SHAP values (and, with `INTER`, its interaction values, halved, both orders)
/// for the rows in `rows` to `values[f * n_outputs + o]` and `inter[(i * p + j) * n_outputs + o]`.
/// `MC` is the number of quadrature points when known at compile time (0: read it from the rule).
#[inline(always)]
pub fn tree_block<const INTER: bool, const MC: usize, const FMA: bool>(
    job: &TreeJob,
    rows: &[&[f64]; L],
    cuts: &BlockCuts,
    work: &mut Work,
    values: &mut [Lane],
    inter: &mut [Lane],
) {
    let forest = job.forest;
    let plan = job.plan;
    let m = points::<MC>(job);
    let width = job.outputs.len();
    let (a0, b0) = (plan.tree_start[job.t], plan.tree_start[job.t + 1]);
    let scale = forest.tree_weight(job.t);

    let mut top = 0usize;
    let mut next = a0;
    while next < b0 {
        let i = next;
        next += 1;
        let d = plan.depth[i] as usize;
        if i > a0 {
            while top >= d {
                close::<INTER, MC, FMA>(job, top, work, values, inter);
                top -= 1;
            }
        }
        work.pos[d] = i;
        if d == 0 {
            work.p[..m].fill(ONE);
        } else {
            let tb = (i - a0) * FIELDS * m;
            let tab = &job.tab[tb..tb + FIELDS * m];
            let lm = work.left[d - 1];
            let a: Lane = if plan.is_left[i] {
                lm
            } else {
                std::array::from_fn(|l| 1.0 - lm[l])
            };
            let same = plan.same[i];
            let ps: Lane = if same == NONE {
                ONE
            } else {
                work.along[same as usize]
            };
            if plan.referenced[i] {
                for l in 0..L {
                    work.along[d][l] = ps[l] * a[l];
                }
            }
            let (pp, pc) = work.p.split_at_mut(d * m);
            let pp = &pp[(d - 1) * m..d * m];
            let pc = &mut pc[..m];
            let rb = &tab[RB * m..RB * m + m];
            if same == NONE {
                let r10 = &tab[R10 * m..R10 * m + m];
                for k in 0..m {
                    for l in 0..L {
                        pc[k][l] = pp[k][l] * madd::<FMA>(a[l], rb[k], r10[k]);
                    }
                }
            } else {
                let r = plan.ratio[i];
                let ra = &tab[RA * m..RA * m + m];
                for k in 0..m {
                    for l in 0..L {
                        pc[k][l] =
                            pp[k][l] * madd::<FMA>(ps[l], madd::<FMA>(a[l], rb[k], ra[k]), r);
                    }
                }
            }
            if INTER {
                let c0 = &tab[C0 * m..C0 * m + m];
                let cd = &tab[CD * m..CD * m + m];
                let dc = &mut work.dc[d * m..(d + 1) * m];
                for k in 0..m {
                    for l in 0..L {
                        dc[k][l] = ps[l] * madd::<FMA>(a[l], cd[k], c0[k]);
                    }
                }
                if work.grouped {
                    work.add_to_slot(d, plan.feature[i] as usize, m);
                }
            }
        }
        let nd = plan.node[i] as usize;
        if !INTER && d > 0 && forest.is_leaf(nd) {
            leaf_values::<MC, FMA>(job, d, nd, work, values);
            top = d - 1;
            continue;
        }
        if forest.is_leaf(nd) {
            let vals = forest.node_values(nd, width);
            let pd = &work.p[d * m..(d + 1) * m];
            for (o, &v) in vals.iter().enumerate() {
                let v = v * scale;
                let ge = (d * width + o) * m;
                let g = &mut work.g[ge..ge + m];
                for k in 0..m {
                    for l in 0..L {
                        g[k][l] = v * pd[k][l];
                    }
                }
            }
        } else {
            let f = forest.feature(nd);
            let lm = &mut work.left[d];
            let rank = job.splits.rank[nd];
            if rank == DIRECT || cuts.unusual[f] {
                for l in 0..L {
                    lm[l] = if forest.goes_left(nd, rows[l][f]) {
                        1.0
                    } else {
                        0.0
                    };
                }
            } else {
                let r = rank as f64;
                let c = &cuts.cut[f];
                for l in 0..L {
                    lm[l] = if r >= c[l] { 1.0 } else { 0.0 };
                }
            }
            let ge = d * width * m;
            if !INTER && width == 1 && plan.twig[i] {
                // The node and its two leaves at once (see `X0`).
                let tb = (i - a0) * FIELDS * m;
                let tab = &job.tab[tb..tb + FIELDS * m];
                let (x0, xd) = (&tab[X0 * m..X0 * m + m], &tab[XD * m..XD * m + m]);
                let (y0, yd) = (&tab[Y0 * m..Y0 * m + m], &tab[YD * m..YD * m + m]);
                let a = work.left[d];
                let pd = &work.p[d * m..(d + 1) * m];
                let g = &mut work.g[ge..ge + m];
                let mut s = ZERO;
                for k in 0..m {
                    for l in 0..L {
                        g[k][l] = pd[k][l] * (y0[k] + a[l] * yd[k]);
                        s[l] += pd[k][l] * (x0[k] + a[l] * xd[k]);
                    }
                }
                let acc = &mut values[f * job.n_outputs + job.outputs[0]];
                for l in 0..L {
                    acc[l] += s[l];
                }
                next = i + 3;
                top = d;
                continue;
            }
            work.fresh[d] = true;
        }
        top = d;
    }
    while top >= 1 {
        close::<INTER, MC, FMA>(job, top, work, values, inter);
        top -= 1;
    }
}
