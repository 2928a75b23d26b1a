//! A leaf's SHAP-value table from one ranked zeta transform of its background histogram.
//!
//! For a row pattern `s` with `k = |s|` bits (`b = d - k`), the table needs
//! `pos_j(s) = sum_{q ⊆ s, j ∈ q} h[q] c_A(|q|, b)` for `j ∈ s` and
//! `neg(s) = sum_{q ⊆ s} h[q] c_B(|q|, b)` (see [`super::aggregate`]). With the ranked subset sums
//! `F_a(u) = sum_{q ⊆ u, |q| = a} h[q]`, both are short sums over `a`:
//! `pos_j(s) = sum_a c_A(a, b) (F_a(s) - F_a(s \ j))` and `neg(s) = sum_a c_B(a, b) F_a(s)`.
//! The transform costs `2^(d-1) d (d + 1)` additions, in contiguous runs of `d + 1` (the ranks of
//! one `u` are stored together); each pattern then costs `O(k^2)`, without a branch per subset
//! as enumerating the subsets of every pattern (`O(3^d)`) has. Every entry is computed from the
//! transform on its own, so building only some entries gives those entries bit for bit.

use super::weights::Weights;

/// The flat table (`2^d` patterns x `d` coefficients, see [`super::aggregate::LeafData::Flat`])
/// of the histogram `h` (`2^d` entries), only for the patterns in `only` (a bit set) when
/// given; the other entries stay zero.
pub fn flat_ranked(h: &[f64], d: usize, weights: &Weights, only: Option<&[u64]>) -> Vec<f64> {
    let mut flat = vec![0.0; (1usize << d) * d];
    flat_ranked_into(h, d, weights, only, &mut Vec::new(), &mut flat);
    flat
}

/// [`flat_ranked`] into `flat` (`2^d x d` zeros), with `scratch` for the transform (reused
/// between leaves, so that a tree's leaves allocate nothing).
pub fn flat_ranked_into(
    h: &[f64],
    d: usize,
    weights: &Weights,
    only: Option<&[u64]>,
    scratch: &mut Vec<f64>,
    flat: &mut [f64],
) {
    scratch.clear();
    scratch.resize((1usize << d) * (d + 1), 0.0);
    // Shallow leaves (the common case) with the sizes known to the compiler: unrolled,
    // vectorised loops over the ranks.
    match d {
        1 => fixed::<1, 2>(h, weights, only, scratch, flat),
        2 => fixed::<2, 3>(h, weights, only, scratch, flat),
        3 => fixed::<3, 4>(h, weights, only, scratch, flat),
        4 => fixed::<4, 5>(h, weights, only, scratch, flat),
        5 => fixed::<5, 6>(h, weights, only, scratch, flat),
        6 => fixed::<6, 7>(h, weights, only, scratch, flat),
        7 => fixed::<7, 8>(h, weights, only, scratch, flat),
        8 => fixed::<8, 9>(h, weights, only, scratch, flat),
        _ => any_depth(h, d, weights, only, scratch, flat),
    }
}

/// [`flat_ranked`] for `D` path features, `W = D + 1` ranks; every sum runs over all `W` ranks
/// (the terms beyond the pattern's size are zero).
fn fixed<const D: usize, const W: usize>(
    h: &[f64],
    weights: &Weights,
    only: Option<&[u64]>,
    f: &mut [f64],
    flat: &mut [f64],
) {
    debug_assert_eq!(W, D + 1);
    let size = 1usize << D;
    // f[u * W + a] = F_a(u).
    for (q, &w) in h.iter().enumerate().take(size) {
        f[q * W + (q as u64).count_ones() as usize] = w;
    }
    for j in 0..D {
        let bit = 1usize << j;
        for base in (0..size).step_by(2 * bit) {
            let (lower, upper) = f[base * W..(base + 2 * bit) * W].split_at_mut(bit * W);
            for (dst, src) in upper.chunks_exact_mut(W).zip(lower.chunks_exact(W)) {
                let dst: &mut [f64; W] = dst.try_into().expect("W ranks");
                let src: &[f64; W] = src.try_into().expect("W ranks");
                for a in 0..W {
                    dst[a] += src[a];
                }
            }
        }
    }
    // By b = D - |s|: the coefficients of each rank.
    let mut c_a = [[0.0f64; W]; W];
    let mut c_b = [[0.0f64; W]; W];
    for b in 0..W {
        for a in 0..W - b {
            c_a[b][a] = weights.in_a(a, b);
            c_b[b][a] = weights.in_b(a, b);
        }
    }
    // Per u: g = sum_a c_A(a, D - |u|) F_a(u), the same with b = D - |u| - 1 (for the
    // patterns with one more bit, `up`), and neg = sum_a c_B(a, D - |u|) F_a(u). Then
    // pos_j(s) = g(s) - up(s \ j): the terms with q ⊆ s \ j cancel. Independent sums per u,
    // so that they overlap (a sum over the ranks is a chain of dependent additions).
    let mut g = vec![[0.0f64; 3]; size];
    for (u, gu) in g.iter_mut().enumerate() {
        let b = D - (u as u64).count_ones() as usize;
        let fu: &[f64; W] = f[u * W..(u + 1) * W].try_into().expect("W ranks");
        let up = b.saturating_sub(1);
        let (mut own, mut above, mut neg) = (0.0, 0.0, 0.0);
        for a in 0..W {
            own += c_a[b][a] * fu[a];
            above += c_a[up][a] * fu[a];
            neg += c_b[b][a] * fu[a];
        }
        *gu = [own, above, neg];
    }
    for (s, entry) in flat.chunks_exact_mut(D).enumerate().take(size) {
        if only.is_some_and(|bits| bits[s / 64] >> (s % 64) & 1 == 0) {
            continue;
        }
        let [own, _, neg] = g[s];
        for (j, slot) in entry.iter_mut().enumerate() {
            let bit = 1usize << j;
            *slot = if s & bit != 0 {
                own - g[s ^ bit][1]
            } else {
                -neg
            };
        }
    }
}

/// [`flat_ranked`] for any number of path features.
fn any_depth(
    h: &[f64],
    d: usize,
    weights: &Weights,
    only: Option<&[u64]>,
    f: &mut [f64],
    flat: &mut [f64],
) {
    let size = 1usize << d;
    let width = d + 1;
    // f[u * width + a] = F_a(u).
    for (q, &w) in h.iter().enumerate().take(size) {
        f[q * width + (q as u64).count_ones() as usize] = w;
    }
    for j in 0..d {
        let bit = 1usize << j;
        for base in (0..size).step_by(2 * bit) {
            let (lower, upper) =
                f[base * width..(base + 2 * bit) * width].split_at_mut(bit * width);
            for (dst, src) in upper.iter_mut().zip(lower.iter()) {
                *dst += *src;
            }
        }
    }
    // coef[b * width + a] = (c_A(a, b), c_B(a, b)).
    let coef: Vec<(f64, f64)> = (0..width * width)
        .map(|i| {
            let (b, a) = (i / width, i % width);
            if a + b <= d {
                (weights.in_a(a, b), weights.in_b(a, b))
            } else {
                (0.0, 0.0)
            }
        })
        .collect();
    for s in 0..size {
        if only.is_some_and(|bits| bits[s / 64] >> (s % 64) & 1 == 0) {
            continue;
        }
        let k = (s as u64).count_ones() as usize;
        let c = &coef[(d - k) * width..(d - k) * width + k + 1];
        let fs = &f[s * width..s * width + k + 1];
        let neg: f64 = c.iter().zip(fs).map(|(c, v)| c.1 * v).sum();
        let entry = &mut flat[s * d..(s + 1) * d];
        for (j, slot) in entry.iter_mut().enumerate() {
            let bit = 1usize << j;
            *slot = if s & bit != 0 {
                let u = s ^ bit;
                let fu = &f[u * width..u * width + k + 1];
                // F_a(u) = 0 for a = k (u has k - 1 bits): the difference is F_k(s) there.
                c.iter()
                    .zip(fs.iter().zip(fu))
                    .skip(1)
                    .map(|(c, (vs, vu))| c.0 * (vs - vu))
                    .sum()
            } else {
                -neg
            };
        }
    }
}
