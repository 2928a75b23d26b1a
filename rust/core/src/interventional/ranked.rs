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
    let size = 1usize << d;
    let width = d + 1;
    // f[u * width + a] = F_a(u).
    let mut f = vec![0.0; size * width];
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
    let mut flat = vec![0.0; size * d];
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
    flat
}
