//! Shapley weights of the single-leaf game, and the coefficients of its values and interactions.
//!
//! For a pair (x, z) and one leaf, let A be the leaf's path features that only x satisfies and B
//! those only z satisfies (every other path feature must be satisfied by both, or the leaf is never
//! reached). The game is `v(S) = value * [A ⊆ S and B ∩ S = ∅]`, and with `a = |A|`, `b = |B|`:
//!
//! - Shapley value of `i ∈ A`: `value * (a-1)! b! / (a+b)!`; of `i ∈ B`: `-value * a! (b-1)! / (a+b)!`.
//! - Shapley interaction index of `i, j ∈ A`: `(a-2)! b! / (a+b-1)!`; of `i ∈ A, j ∈ B`:
//!   `-(a-1)! (b-1)! / (a+b-1)!`; of `i, j ∈ B`: `a! (b-2)! / (a+b-1)!` (times `value`).
//!
//! All of them are `w(s, t) = s! t! / (s+t+1)!` at shifted arguments.

use crate::error::Result;
use crate::forest::Forest;

/// `w[s][t] = s! t! / (s + t + 1)!` for `s, t <= max`.
#[derive(Debug, Clone)]
pub struct Weights {
    size: usize,
    w: Vec<f64>,
}

impl Weights {
    /// The table for every single-leaf game of `forest`: sized by the most distinct features on
    /// one path (never by depth, which may be far larger), refused when it would not fit.
    pub fn for_forest(forest: &Forest) -> Result<Self> {
        let max = super::paths::max_path_features(forest).max(2) + 2;
        let size = max.saturating_add(1);
        crate::memory::ensure_fits(
            &format!("the Shapley weight table for paths of up to {max} distinct features"),
            crate::memory::bytes_of::<f64>(&[size, size]),
            "use a model whose paths test fewer distinct features, or \
             feature_perturbation=\"tree_path_dependent\"",
        )?;
        Ok(Weights::new(max))
    }

    pub fn new(max: usize) -> Self {
        let size = max + 1;
        let mut w = vec![0.0; size * size];
        for t in 0..size {
            w[t] = 1.0 / (t as f64 + 1.0);
            for s in 1..size {
                // w(s, t) = w(s-1, t) * s / (s + t + 1)
                w[s * size + t] = w[(s - 1) * size + t] * s as f64 / (s + t + 1) as f64;
            }
        }
        Weights { size, w }
    }

    #[inline]
    pub fn w(&self, s: usize, t: usize) -> f64 {
        self.w[s * self.size + t]
    }

    /// Coefficient of the Shapley value of a feature in A.
    #[inline]
    pub fn in_a(&self, a: usize, b: usize) -> f64 {
        if a >= 1 {
            self.w(a - 1, b)
        } else {
            0.0
        }
    }

    /// Magnitude of the (negative) Shapley value of a feature in B.
    #[inline]
    pub fn in_b(&self, a: usize, b: usize) -> f64 {
        if b >= 1 {
            self.w(a, b - 1)
        } else {
            0.0
        }
    }

    /// Interaction index of two features in A.
    #[inline]
    pub fn aa(&self, a: usize, b: usize) -> f64 {
        if a >= 2 {
            self.w(a - 2, b)
        } else {
            0.0
        }
    }

    /// Magnitude of the (negative) interaction index of a feature in A with one in B.
    #[inline]
    pub fn ab(&self, a: usize, b: usize) -> f64 {
        if a >= 1 && b >= 1 {
            self.w(a - 1, b - 1)
        } else {
            0.0
        }
    }

    /// Interaction index of two features in B.
    #[inline]
    pub fn bb(&self, a: usize, b: usize) -> f64 {
        if b >= 2 {
            self.w(a, b - 2)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(n: usize) -> f64 {
        (1..=n).map(|k| k as f64).product()
    }

    #[test]
    fn matches_factorials() {
        let w = Weights::new(12);
        for s in 0..=12 {
            for t in 0..=12 {
                let expected = fact(s) * fact(t) / fact(s + t + 1);
                assert!((w.w(s, t) - expected).abs() <= 1e-15 * expected.max(1e-300));
            }
        }
    }
}
