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

use super::plan::{Plan, NONE};
use super::quadrature::Rule;
use crate::forest::Forest;

/// Rows per lane block.
pub const L: usize = 8;
pub type Lane = [f64; L];
const ZERO: Lane = [0.0; L];
const ONE: Lane = [1.0; L];

/// Table fields per (edge, quadrature node).
const R10: usize = 0; // prefix ratio when the feature's path so far holds and the row goes the other way
const RB: usize = 1; // ratio(row follows) - ratio(row does not follow)
const RA: usize = 2; // R10 - cover ratio (edges with an ancestor on the same feature)
const C10W: usize = 3; // weighted coefficient change when the row does not follow
const CDW: usize = 4; // weighted (change if follows - change if not)
const C10: usize = 5; // the same, unweighted (interactions)
const CD: usize = 6;
pub const FIELDS: usize = 7;

/// Fills `tab` with the per-edge tables of tree `t`: `tab[((i * FIELDS) + field) * m + k]` for
/// position `i` relative to the tree's first position.
pub fn tree_tables(plan: &Plan, t: usize, rule: &Rule, tab: &mut Vec<f64>) {
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
            let wk = rule.weights[k];
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
            tab[base + C10W * m + k] = wk * c10;
            tab[base + CDW * m + k] = wk * (c11 - c10);
            tab[base + C10 * m + k] = c10;
            tab[base + CD * m + k] = c11 - c10;
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
    follow: Vec<Lane>,
    along: Vec<Lane>,
    held: Vec<Lane>,
    pos: Vec<usize>,
}

impl Work {
    pub fn new(max_depth: usize, max_points: usize, width: usize) -> Work {
        let d = max_depth + 1;
        let m = max_points.max(1);
        Work {
            p: vec![ZERO; d * m],
            g: vec![ZERO; d * width * m],
            dc: vec![ZERO; d * m],
            h: vec![ZERO; m],
            left: vec![ZERO; d],
            follow: vec![ZERO; d],
            along: vec![ZERO; d],
            held: vec![ZERO; d],
            pos: vec![0; d],
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
}

#[inline(always)]
fn fma(acc: &mut Lane, a: &Lane, b: &Lane) {
    for l in 0..L {
        acc[l] += a[l] * b[l];
    }
}

/// Adds the tree's SHAP values (and, with `INTER`, its interaction values, halved, both orders)
/// for the rows in `rows` to `values[f * n_outputs + o]` and `inter[(i * p + j) * n_outputs + o]`.
#[inline(always)]
pub fn tree_block<const INTER: bool>(
    job: &TreeJob,
    rows: &[&[f64]; L],
    work: &mut Work,
    values: &mut [Lane],
    inter: &mut [Lane],
) {
    let forest = job.forest;
    let plan = job.plan;
    let m = job.rule.nodes.len();
    let width = job.outputs.len();
    let k_out = job.n_outputs;
    let p_feat = job.n_features;
    let (a0, b0) = (plan.tree_start[job.t], plan.tree_start[job.t + 1]);
    let scale = forest.tree_weight(job.t);
    let wts = &job.rule.weights;
    let Work {
        p,
        g,
        dc,
        h,
        left,
        follow,
        along,
        held,
        pos,
    } = work;

    let gi = |d: usize, o: usize| (d * width + o) * m;

    // Closes the node at depth e >= 1: its subtree's G is complete.
    #[allow(clippy::too_many_arguments)]
    let close = |e: usize,
                 pos: &[usize],
                 follow: &[Lane],
                 held: &[Lane],
                 g: &mut [Lane],
                 values: &mut [Lane],
                 inter: &mut [Lane],
                 dc: &[Lane],
                 h: &mut [Lane]| {
        let i = pos[e];
        let f = plan.feature[i] as usize;
        let tb = (i - a0) * FIELDS * m;
        for (o, &out) in job.outputs.iter().enumerate() {
            let ge = gi(e, o);
            if INTER {
                let mut s = ZERO;
                for k in 0..m {
                    let gk = &g[ge + k];
                    let dk = &dc[e * m + k];
                    for l in 0..L {
                        h[k][l] = wts[k] * dk[l] * gk[l];
                        s[l] += h[k][l];
                    }
                }
                let v = &mut values[f * k_out + out];
                for l in 0..L {
                    v[l] += s[l];
                }
                for u in 1..e {
                    let fu = plan.feature[pos[u]] as usize;
                    if fu == f {
                        continue;
                    }
                    let mut x = ZERO;
                    for k in 0..m {
                        fma(&mut x, &dc[u * m + k], &h[k]);
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
                let mut s1 = ZERO;
                let mut s2 = ZERO;
                for k in 0..m {
                    let gk = g[ge + k];
                    let c10 = job.tab[tb + C10W * m + k];
                    let cd = job.tab[tb + CDW * m + k];
                    for l in 0..L {
                        s1[l] += c10 * gk[l];
                        s2[l] += cd * gk[l];
                    }
                }
                let v = &mut values[f * k_out + out];
                let (fo, al) = (&follow[e], &held[e]);
                for l in 0..L {
                    v[l] += al[l] * (s1[l] + fo[l] * s2[l]);
                }
            }
            let gp = gi(e - 1, o);
            for k in 0..m {
                let src = g[ge + k];
                let dst = &mut g[gp + k];
                for l in 0..L {
                    dst[l] += src[l];
                }
            }
        }
    };

    let mut top = 0usize;
    for i in a0..b0 {
        let d = plan.depth[i] as usize;
        if i > a0 {
            while top >= d {
                close(top, pos, follow, held, g, values, inter, dc, h);
                top -= 1;
            }
        }
        pos[d] = i;
        if d == 0 {
            p[..m].fill(ONE);
        } else {
            let tb = (i - a0) * FIELDS * m;
            let lm = left[d - 1];
            let a: Lane = if plan.is_left[i] {
                lm
            } else {
                std::array::from_fn(|l| 1.0 - lm[l])
            };
            let same = plan.same[i];
            let ps: Lane = if same == NONE {
                ONE
            } else {
                along[same as usize]
            };
            follow[d] = a;
            held[d] = ps;
            for l in 0..L {
                along[d][l] = ps[l] * a[l];
            }
            let (pp, pc) = p.split_at_mut(d * m);
            let pp = &pp[(d - 1) * m..];
            if same == NONE {
                for k in 0..m {
                    let r10 = job.tab[tb + R10 * m + k];
                    let rb = job.tab[tb + RB * m + k];
                    for l in 0..L {
                        pc[k][l] = pp[k][l] * (r10 + a[l] * rb);
                    }
                }
            } else {
                let r = plan.ratio[i];
                for k in 0..m {
                    let ra = job.tab[tb + RA * m + k];
                    let rb = job.tab[tb + RB * m + k];
                    for l in 0..L {
                        pc[k][l] = pp[k][l] * (r + ps[l] * (ra + a[l] * rb));
                    }
                }
            }
            if INTER {
                for k in 0..m {
                    let c10 = job.tab[tb + C10 * m + k];
                    let cd = job.tab[tb + CD * m + k];
                    for l in 0..L {
                        dc[d * m + k][l] = ps[l] * (c10 + a[l] * cd);
                    }
                }
            }
        }
        let nd = plan.node[i] as usize;
        if forest.is_leaf(nd) {
            let vals = forest.node_values(nd, width);
            for (o, &v) in vals.iter().enumerate() {
                let v = v * scale;
                let ge = gi(d, o);
                for k in 0..m {
                    let pk = p[d * m + k];
                    for l in 0..L {
                        g[ge + k][l] = v * pk[l];
                    }
                }
            }
        } else {
            for o in 0..width {
                let ge = gi(d, o);
                g[ge..ge + m].fill(ZERO);
            }
            let f = forest.feature(nd);
            left[d] = std::array::from_fn(|l| {
                if forest.goes_left(nd, rows[l][f]) {
                    1.0
                } else {
                    0.0
                }
            });
        }
        top = d;
    }
    while top >= 1 {
        close(top, pos, follow, held, g, values, inter, dc, h);
        top -= 1;
    }
}
